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
	}
	for path, want := range tests {
		if got := routeOf(httptest.NewRequest("GET", path, nil)); got != want {
			t.Errorf("routeOf(%s) = %s, want %s", path, got, want)
		}
	}
}
