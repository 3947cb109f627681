package demo

import (
	"encoding/csv"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestReadRetail(t *testing.T) {
	t.Parallel()
	d, err := readRetail(dataDir(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	// Figures of the published data set: 4,372 customers, 135,080 guest
	// lines, 8 customers buying from two countries.
	if len(d.customers) != 4372 || d.guestLines != 135080 || d.multiCountry != 8 {
		t.Fatalf("readRetail = %d customers, %d guest lines, %d in two countries; want 4372, 135080, 8", len(d.customers), d.guestLines, d.multiCountry)
	}
	seen := map[string]bool{}
	for _, c := range d.customers {
		if seen[c.id] || c.id == "" || strings.Contains(c.id, ".") {
			t.Fatalf("customer id %q repeated or malformed", c.id)
		}
		seen[c.id] = true
	}
	if d.customers[0].id != "12346" || d.customers[0].country != "GB" {
		t.Errorf("first customer = %+v, want 12346 in GB", d.customers[0])
	}
	limited, err := readRetail(dataDir(t), 10)
	if err != nil || len(limited.customers) != 10 || limited.customers[9] != d.customers[9] {
		t.Fatalf("readRetail(limit 10) = %v, %v; want the 10 lowest ids", limited.customers, err)
	}
}

func TestReadTelco(t *testing.T) {
	t.Parallel()
	subs, err := readTelco(dataDir(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	blank, churned := 0, 0
	for _, s := range subs {
		if s.total == "" {
			blank++
			if s.tenure != "0" {
				t.Errorf("subscriber %s has blank TotalCharges with tenure %s", s.id, s.tenure)
			}
		}
		if s.churned {
			churned++
		}
	}
	if len(subs) != 7043 || blank != 11 || churned != 1869 {
		t.Fatalf("readTelco = %d subscribers, %d blank totals, %d churned; want 7043, 11, 1869", len(subs), blank, churned)
	}
}

// TestImportUploads runs Import against a stand-in edge and checks what it
// sends: every attribute defined (an existing one is fine), then both data
// sets as CSV uploads in upsert mode under fixed request ids.
func TestImportUploads(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var defined []string
	uploads := map[string][][]string{}
	edge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer k" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/v1/customAttributeDefinitions":
			defined = append(defined, string(body))
			if strings.Contains(string(body), `"contract"`) {
				w.WriteHeader(http.StatusConflict)
				_, _ = w.Write([]byte(`{"code":6,"message":"exists"}`))
				return
			}
			_, _ = w.Write([]byte(`{}`))
		case "/v1/importJobs:upload":
			q := r.URL.Query()
			if q.Get("mode") != "upsert" || r.Header.Get("Content-Type") != "text/csv" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			uploads[q.Get("request_id")] = rows
			_, _ = w.Write([]byte(`{"job":{"jobId":"j","state":"IMPORT_JOB_STATE_SUCCEEDED","rowsRead":"3","created":"3"}}`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer edge.Close()
	st, err := Import(t.Context(), ImportOptions{BaseURL: edge.URL, APIKey: "k", DataDir: dataDir(t), RetailLimit: 3, TelcoLimit: 3})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if len(defined) != len(telcoAttributes) || st.Retail.Created != 3 || st.Telco.RowsRead != 3 || st.RetailCustomers != 3 || st.Subscribers != 3 {
		t.Fatalf("Import = %+v with %d definitions, want all %d defined and both jobs reported", st, len(defined), len(telcoAttributes))
	}
	retail := uploads[retailRequestID]
	if len(retail) != 4 || strings.Join(retail[1], ",") != "retail-12346,person,Online Retail customer 12346,GB,online-retail,customer" {
		t.Errorf("retail upload = %v", retail)
	}
	telco := uploads[telcoRequestID]
	if len(telco) != 4 || strings.Join(telco[1], ",") != "7590-VHVEG,person,Telco subscriber 7590-VHVEG,telco,customer,Month-to-month,1,29.85,29.85,false,DSL,Electronic check" {
		t.Errorf("telco upload = %v", telco)
	}
	if _, err := Import(t.Context(), ImportOptions{BaseURL: edge.URL, APIKey: "wrong", DataDir: dataDir(t), RetailLimit: 1, TelcoLimit: 1}); err == nil {
		t.Error("Import with a refused key succeeded")
	}
}
