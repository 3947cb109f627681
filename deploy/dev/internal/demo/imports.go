package demo

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The files the customer import reads.
const (
	retailFile = "online-retail/online_retail.csv.gz"
	telcoFile  = "telco-customer-churn/WA_Fn-UseC_-Telco-Customer-Churn.csv"
)

// Request ids naming the import jobs: a repeated run resumes or returns
// the same job instead of importing again.
const (
	retailRequestID = "demo-online-retail-customers"
	telcoRequestID  = "demo-telco-subscribers"
)

// ImportOptions configure an import of the customer data sets through the
// public import API (POST /v1/importJobs:upload).
type ImportOptions struct {
	// BaseURL is the REST edge. Required.
	BaseURL string
	// APIKey is sent as a bearer token; it must be an admin's or a sales
	// manager's. Required.
	APIKey string
	// DataDir holds online-retail/ and telco-customer-churn/. Required.
	DataDir string
	// RetailLimit caps the Online Retail customers imported (lowest
	// CustomerIDs first); 0 imports all.
	RetailLimit int
	// TelcoLimit caps the Telco subscribers imported (file order); 0 imports all.
	TelcoLimit int
	// Client makes the calls; nil means a client with a 10-minute timeout.
	Client *http.Client
}

// JobCounts are an import job's figures as the API reports them.
type JobCounts struct {
	JobID      string `json:"jobId"`
	State      string `json:"state"`
	RowsRead   int64  `json:"rowsRead,string"`
	Created    int64  `json:"created,string"`
	Updated    int64  `json:"updated,string"`
	Unchanged  int64  `json:"unchanged,string"`
	Failed     int64  `json:"failed,string"`
	Duplicates int64  `json:"duplicates,string"`
}

// ImportStats reports an import and the data quirks met on the way.
type ImportStats struct {
	// RetailCustomers is the number of distinct CustomerIDs imported.
	RetailCustomers int
	// GuestLines counts invoice lines without a CustomerID: guest
	// checkouts, which belong to no customer and are left out.
	GuestLines int
	// MultiCountry counts customers whose lines name two or more countries;
	// each gets the country of most of its lines (the earliest on a tie).
	MultiCountry int
	// NoCountry counts customers whose country has no ISO code
	// ("Unspecified", "European Community", "Channel Islands"): they are
	// imported without one.
	NoCountry int
	Retail    JobCounts
	// Subscribers is the number of Telco subscribers imported.
	Subscribers int
	// BlankTotalCharges counts subscribers whose TotalCharges is blank (new
	// subscribers, tenure 0): they are imported without total_charges.
	BlankTotalCharges int
	Telco             JobCounts
	Elapsed           time.Duration
}

// retailCountries maps the data set's country names to ISO 3166-1 codes; ""
// marks names that are no single country.
var retailCountries = map[string]string{
	"Australia": "AU", "Austria": "AT", "Bahrain": "BH", "Belgium": "BE", "Brazil": "BR", "Canada": "CA",
	"Channel Islands": "", "Cyprus": "CY", "Czech Republic": "CZ", "Denmark": "DK", "EIRE": "IE",
	"European Community": "", "Finland": "FI", "France": "FR", "Germany": "DE", "Greece": "GR", "Hong Kong": "HK",
	"Iceland": "IS", "Israel": "IL", "Italy": "IT", "Japan": "JP", "Lebanon": "LB", "Lithuania": "LT", "Malta": "MT",
	"Netherlands": "NL", "Norway": "NO", "Poland": "PL", "Portugal": "PT", "RSA": "ZA", "Saudi Arabia": "SA",
	"Singapore": "SG", "Spain": "ES", "Sweden": "SE", "Switzerland": "CH", "USA": "US", "United Arab Emirates": "AE",
	"United Kingdom": "GB", "Unspecified": "",
}

// retailCustomer is one CustomerID of the Online Retail transactions.
type retailCustomer struct {
	id      string
	country string // ISO code, "" when none
}

// retailData is what the Online Retail file yields.
type retailData struct {
	customers                           []retailCustomer
	guestLines, multiCountry, noCountry int
}

// readRetail derives one customer per CustomerID from the invoice lines.
func readRetail(dir string, limit int) (retailData, error) {
	f, err := os.Open(filepath.Join(dir, retailFile))
	if err != nil {
		return retailData{}, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return retailData{}, fmt.Errorf("%s: %w", retailFile, err)
	}
	r := csv.NewReader(gz)
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return retailData{}, fmt.Errorf("%s: %w", retailFile, err)
	}
	idCol, countryCol := slices.Index(header, "CustomerID"), slices.Index(header, "Country")
	if idCol < 0 || countryCol < 0 {
		return retailData{}, fmt.Errorf("%s: no CustomerID or Country column", retailFile)
	}
	type tally struct {
		lines map[string]int
		first string
	}
	var d retailData
	seen := map[string]*tally{}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return retailData{}, fmt.Errorf("%s: %w", retailFile, err)
		}
		id := strings.TrimSuffix(strings.TrimSpace(rec[idCol]), ".0")
		if id == "" {
			d.guestLines++
			continue
		}
		country := strings.TrimSpace(rec[countryCol])
		if _, ok := retailCountries[country]; !ok {
			return retailData{}, fmt.Errorf("%s line %d: unknown country %q", retailFile, line, country)
		}
		t := seen[id]
		if t == nil {
			t = &tally{lines: map[string]int{}, first: country}
			seen[id] = t
		}
		t.lines[country]++
	}
	for id, t := range seen {
		best := t.first
		for c, n := range t.lines {
			if n > t.lines[best] {
				best = c
			}
		}
		if len(t.lines) > 1 {
			d.multiCountry++
		}
		d.customers = append(d.customers, retailCustomer{id: id, country: retailCountries[best]})
	}
	slices.SortFunc(d.customers, func(a, b retailCustomer) int { return cmp.Compare(numeric(a.id), numeric(b.id)) })
	if limit > 0 && len(d.customers) > limit {
		d.customers = d.customers[:limit]
	}
	for _, c := range d.customers {
		if c.country == "" {
			d.noCountry++
		}
	}
	return d, nil
}

func numeric(id string) int {
	n, _ := strconv.Atoi(id)
	return n
}

// subscriber is one Telco churn subscriber.
type subscriber struct {
	id, contract, tenure, monthly, total, internet, payment string
	churned                                                 bool
}

// readTelco reads the subscribers; TotalCharges stays text, blank for new
// subscribers.
func readTelco(dir string, limit int) ([]subscriber, error) {
	t, err := readTable(dir, telcoFile, "customerID", "Contract", "tenure", "MonthlyCharges", "TotalCharges", "Churn", "InternetService", "PaymentMethod")
	if err != nil {
		return nil, err
	}
	var out []subscriber
	for i, row := range t.rows {
		if limit > 0 && len(out) == limit {
			break
		}
		s := subscriber{id: t.get(row, "customerID"), contract: t.get(row, "Contract"), tenure: t.get(row, "tenure"),
			monthly: t.get(row, "MonthlyCharges"), total: strings.TrimSpace(t.get(row, "TotalCharges")),
			internet: t.get(row, "InternetService"), payment: t.get(row, "PaymentMethod")}
		switch t.get(row, "Churn") {
		case "Yes":
			s.churned = true
		case "No":
		default:
			return nil, t.rowError(i+1, "Churn is neither Yes nor No")
		}
		out = append(out, s)
	}
	return out, nil
}

// telcoAttributes are the custom attributes the subscribers carry, defined
// through the API before the import.
var telcoAttributes = []map[string]any{
	{"key": "contract", "type": "CUSTOM_ATTRIBUTE_TYPE_ENUM", "displayName": "Contract", "allowedValues": []string{"Month-to-month", "One year", "Two year"}},
	{"key": "tenure_months", "type": "CUSTOM_ATTRIBUTE_TYPE_NUMBER", "displayName": "Tenure (months)"},
	{"key": "monthly_charges", "type": "CUSTOM_ATTRIBUTE_TYPE_NUMBER", "displayName": "Monthly charges (USD)"},
	{"key": "total_charges", "type": "CUSTOM_ATTRIBUTE_TYPE_NUMBER", "displayName": "Total charges (USD)"},
	{"key": "churned", "type": "CUSTOM_ATTRIBUTE_TYPE_BOOL", "displayName": "Churned (as labelled in the data set)"},
	{"key": "internet_service", "type": "CUSTOM_ATTRIBUTE_TYPE_STRING", "displayName": "Internet service"},
	{"key": "payment_method", "type": "CUSTOM_ATTRIBUTE_TYPE_STRING", "displayName": "Payment method"},
}

func csvText(rows [][]string) ([]byte, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.WriteAll(rows); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func retailCSV(customers []retailCustomer) ([]byte, error) {
	rows := [][]string{{"external_id", "kind", "display_name", "country_code", "source_channel", "lifecycle_stage"}}
	for _, c := range customers {
		rows = append(rows, []string{"retail-" + c.id, "person", "Online Retail customer " + c.id, c.country, "online-retail", "customer"})
	}
	return csvText(rows)
}

func telcoCSV(subs []subscriber) ([]byte, error) {
	rows := [][]string{{"external_id", "kind", "display_name", "source_channel", "lifecycle_stage", "attr.contract",
		"attr.tenure_months", "attr.monthly_charges", "attr.total_charges", "attr.churned", "attr.internet_service", "attr.payment_method"}}
	for _, s := range subs {
		stage := "customer"
		if s.churned {
			stage = "churned"
		}
		rows = append(rows, []string{s.id, "person", "Telco subscriber " + s.id, "telco", stage, s.contract, s.tenure, s.monthly,
			s.total, strconv.FormatBool(s.churned), s.internet, s.payment})
	}
	return csvText(rows)
}

// Import derives the Online Retail customers and reads the Telco
// subscribers, defines the subscribers' custom attributes, and imports both
// through the REST CSV upload in upsert mode on external_id. Running it
// again changes nothing: the jobs' request ids return the finished jobs.
func Import(ctx context.Context, o ImportOptions) (ImportStats, error) {
	start := time.Now()
	if o.BaseURL == "" || o.APIKey == "" || o.DataDir == "" {
		return ImportStats{}, errors.New("demo import: BaseURL, APIKey and DataDir are required")
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Minute}
	}
	retail, err := readRetail(o.DataDir, o.RetailLimit)
	if err != nil {
		return ImportStats{}, err
	}
	subs, err := readTelco(o.DataDir, o.TelcoLimit)
	if err != nil {
		return ImportStats{}, err
	}
	st := ImportStats{RetailCustomers: len(retail.customers), GuestLines: retail.guestLines, MultiCountry: retail.multiCountry,
		NoCountry: retail.noCountry, Subscribers: len(subs)}
	for _, s := range subs {
		if s.total == "" {
			st.BlankTotalCharges++
		}
	}
	c := &client{http: o.Client, baseURL: o.BaseURL, auth: "Bearer " + o.APIKey}
	for _, def := range telcoAttributes {
		if err := c.define(ctx, def); err != nil {
			return st, err
		}
	}
	body, err := retailCSV(retail.customers)
	if err != nil {
		return st, err
	}
	if st.Retail, err = c.upload(ctx, retailRequestID, body); err != nil {
		return st, err
	}
	if body, err = telcoCSV(subs); err != nil {
		return st, err
	}
	st.Telco, err = c.upload(ctx, telcoRequestID, body)
	st.Elapsed = time.Since(start)
	return st, err
}

// define creates a custom attribute definition; one that exists already
// (a repeated run) is fine.
func (c *client) define(ctx context.Context, def map[string]any) error {
	body, err := json.Marshal(def)
	if err != nil {
		return err
	}
	_, status, err := c.send(ctx, http.MethodPost, "/v1/customAttributeDefinitions", "application/json", body)
	if status == http.StatusConflict {
		return nil
	}
	if err != nil {
		return fmt.Errorf("define custom attribute %s: %w", def["key"], err)
	}
	return nil
}

// upload posts CSV text to the import API and returns the finished job. A
// retry is safe: the request id names the job, whose staged rows are skipped.
func (c *client) upload(ctx context.Context, requestID string, text []byte) (JobCounts, error) {
	path := "/v1/importJobs:upload?" + url.Values{"format": {"csv"}, "mode": {"upsert"}, "request_id": {requestID}}.Encode()
	for attempt := 1; ; attempt++ {
		payload, _, err := c.send(ctx, http.MethodPost, path, "text/csv", text)
		var he *httpError
		if err == nil {
			var resp struct {
				Job JobCounts `json:"job"`
			}
			if err := json.Unmarshal(payload, &resp); err != nil {
				return JobCounts{}, fmt.Errorf("import %s: the answer is not a job: %w", requestID, err)
			}
			return resp.Job, nil
		}
		if errors.As(err, &he) && !he.temporary() || attempt == maxAttempts || ctx.Err() != nil {
			return JobCounts{}, fmt.Errorf("import %s: %w", requestID, err)
		}
		select {
		case <-time.After(backoff(attempt, err)):
		case <-ctx.Done():
			return JobCounts{}, fmt.Errorf("import %s: %w", requestID, ctx.Err())
		}
	}
}

// send makes one call and returns the body of a successful answer.
func (c *client) send(ctx context.Context, method, path, contentType string, body []byte) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.baseURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Content-Type", contentType)
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, 0, err
	}
	defer resp.Body.Close()
	payload, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, resp.StatusCode, responseError(resp.StatusCode, resp.Header.Get("Retry-After"), payload)
	}
	return payload, resp.StatusCode, nil
}
