package edge

import (
	"net/http/httptest"
	"testing"
)

func TestRouteOfHidesIDs(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"/v1/customers":        "/v1/customers",
		"/v1/customers:search": "/v1/customers:search",
		"/v1/customers/0190a0f0-0000-7000-8000-000000000001":                   "/v1/customers/{id}",
		"/v1/customers/0190a0f0-0000-7000-8000-000000000001:undelete":          "/v1/customers/{id}:undelete",
		"/v1/analytics/customers/0190a0f0-0000-7000-8000-000000000001/summary": "/v1/analytics/customers/{id}/summary",
		"/v1/webForms/wf_ABCDEFGHIJKLMNOPQRSTUVWXYZ:submit":                    "/v1/webForms/{form_key}:submit",
	}
	for path, want := range tests {
		if got := routeOf(httptest.NewRequest("GET", path, nil)); got != want {
			t.Errorf("routeOf(%s) = %s, want %s", path, got, want)
		}
	}
}

func TestWebFormSubmitIsPublic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, path string
		want         bool
	}{
		{"POST", "/v1/webForms/wf_KEY:submit", true},
		{"GET", "/v1/webForms/wf_KEY:submit", false},
		{"POST", "/v1/webForms", false},
		{"POST", "/v1/webForms/wf_KEY", false},
		{"POST", "/v1/webForms/x/leads:submit", false},
		{"POST", "/v1/leads", false},
	}
	for _, tt := range tests {
		if got := webFormSubmit(httptest.NewRequest(tt.method, tt.path, nil)); got != tt.want {
			t.Errorf("webFormSubmit(%s %s) = %t, want %t", tt.method, tt.path, got, tt.want)
		}
	}
}
