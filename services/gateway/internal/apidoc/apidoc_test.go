package apidoc

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReferenceListsEveryOperation(t *testing.T) {
	t.Parallel()
	secs, err := sections()
	if err != nil {
		t.Fatalf("sections() error = %v", err)
	}
	total := 0
	for _, s := range secs {
		total += len(s.Endpoints)
	}
	rec := httptest.NewRecorder()
	Reference(rec, httptest.NewRequest("GET", "/docs", nil))
	body := rec.Body.String()
	if rec.Code != 200 || strings.Count(body, `class="ep"`) != total {
		t.Fatalf("Reference rendered %d endpoints (status %d), want %d", strings.Count(body, `class="ep"`), rec.Code, total)
	}
	for _, path := range []string{"/v1/customers", "/v1/opportunities", "/v1/tickets", "/v1/partners", "/v1/analytics/customers/{customerId}/summary"} {
		if !strings.Contains(body, "<code>"+path+"</code>") {
			t.Errorf("reference lacks %s", path)
		}
	}
}
