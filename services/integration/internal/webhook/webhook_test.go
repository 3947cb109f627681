package webhook

import (
	"errors"
	"net/http"
	"net/netip"
	"testing"
	"time"
)

func TestBlocked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true}, {"10.1.2.3", true}, {"172.16.0.1", true}, {"192.168.1.1", true},
		{"169.254.169.254", true}, {"100.64.0.1", true}, {"0.0.0.0", true}, {"::1", true},
		{"fe80::1", true}, {"fd00::1", true}, {"::ffff:127.0.0.1", true}, {"224.0.0.1", true},
		{"93.184.216.34", false}, {"2606:4700::1111", false},
	}
	for _, tt := range tests {
		if got := Blocked(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Blocked(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

func TestCheckTarget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url                   string
		requireHTTPS, private bool
		ok                    bool
	}{
		{"https://hooks.example.com/x", true, false, true},
		{"http://hooks.example.com/x", true, false, false},
		{"http://hooks.example.com/x", false, false, true},
		{"https://127.0.0.1/x", true, false, false},
		{"https://127.0.0.1/x", true, true, true},
		{"https://localhost:8443/x", true, false, false},
		{"https://[::1]/x", true, false, false},
		{"https://169.254.169.254/latest", true, false, false},
		{"https://user:pw@hooks.example.com/", true, false, false},
		{"ftp://hooks.example.com/", false, false, false},
		{"/relative", false, false, false},
		{"", false, false, false},
	}
	for _, tt := range tests {
		_, err := checkTarget(tt.url, tt.requireHTTPS, tt.private)
		if (err == nil) != tt.ok {
			t.Errorf("checkTarget(%q, https=%v, private=%v) error = %v, want ok %v", tt.url, tt.requireHTTPS, tt.private, err, tt.ok)
		}
	}
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	secret := NewSecret()
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"1"}`)
	h := http.Header{}
	h.Set(HeaderID, "d1")
	h.Set(HeaderTimestamp, "1800000000")
	h.Set(HeaderSignature, Sign(secret, "d1", now.Unix(), body))
	tests := []struct {
		name    string
		secret  string
		body    []byte
		now     time.Time
		wantErr error
	}{
		{"valid", secret, body, now, nil},
		{"tampered body", secret, []byte(`{"id":"2"}`), now, ErrBadSignature},
		{"other secret", NewSecret(), body, now, ErrBadSignature},
		{"replayed late", secret, body, now.Add(10 * time.Minute), ErrStale},
	}
	for _, tt := range tests {
		if err := Verify(tt.secret, h, tt.body, tt.now, 5*time.Minute); !errors.Is(err, tt.wantErr) {
			t.Errorf("Verify(%s) = %v, want %v", tt.name, err, tt.wantErr)
		}
	}
}

func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{Budget: 3, MinBackoff: time.Second, MaxBackoff: 8 * time.Second}
	for attempt, ceiling := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 30: 8 * time.Second} {
		for range 20 {
			if d := p.Backoff(attempt); d < ceiling/2 || d > ceiling {
				t.Fatalf("Backoff(%d) = %s, want within [%s, %s]", attempt, d, ceiling/2, ceiling)
			}
		}
	}
	tests := []struct {
		code, used int
		want       Outcome
	}{
		{200, 1, Delivered}, {204, 3, Delivered}, {500, 1, Retry}, {0, 2, Retry},
		{500, 3, DeadLetter}, {410, 1, Gone}, {301, 1, Retry},
	}
	for _, tt := range tests {
		if got := p.Decide(tt.code, tt.used); got != tt.want {
			t.Errorf("Decide(%d, %d) = %v, want %v", tt.code, tt.used, got, tt.want)
		}
	}
}

func TestMatchesAndTypes(t *testing.T) {
	t.Parallel()
	if !Matches([]string{"customer.*"}, "customer.created") || Matches([]string{"customer.*"}, "customers.created") ||
		!Matches([]string{"*"}, "ticket.updated") || Matches([]string{"ticket.created"}, "ticket.updated") {
		t.Fatal("Matches disagrees with exact, prefix and wildcard types")
	}
	for typ, want := range map[string]bool{"customer.created": true, "customer.*": true, "*": true, "Customer.created": false, "customer.": false, "*.created": false} {
		if got := ValidType(typ); got != want {
			t.Errorf("ValidType(%q) = %v, want %v", typ, got, want)
		}
	}
}

func TestBreakerState(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	for _, tc := range []struct {
		name        string
		open, probe *time.Time
		want        BreakerState
		next        time.Time
	}{
		{"never failed", nil, nil, BreakerClosed, time.Time{}},
		{"cooling down", at(time.Minute), nil, BreakerOpen, now.Add(time.Minute)},
		{"probe due", at(-time.Second), nil, BreakerHalfOpen, now},
		{"probe lease ran out", at(-time.Minute), at(-time.Second), BreakerHalfOpen, now},
		{"probe under way", at(-time.Minute), at(30 * time.Second), BreakerHalfOpen, now.Add(30 * time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			state, next := Webhook{BreakerOpenUntil: tc.open, ProbeUntil: tc.probe}.Breaker(now)
			if state != tc.want || !next.Equal(tc.next) {
				t.Fatalf("Breaker = %v, %v; want %v, %v", state, next, tc.want, tc.next)
			}
		})
	}
}
