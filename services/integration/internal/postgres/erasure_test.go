package postgres_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rapportcrm/rapport/services/integration/internal/delivery"
	"github.com/rapportcrm/rapport/services/integration/internal/rule"
	"github.com/rapportcrm/rapport/services/integration/internal/webhook"
)

func TestErasureBlanksCopiesAndCancelsDeliveries(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	w, _ := f.subscribe(t, "https://hooks.example.com/", "*")
	rules := rule.New(f.store.Rules(), nil, true)
	if _, err := rules.Create(t.Context(), f.admin, rule.Rule{DisplayName: "note", EventTypes: []string{"customer.updated"}, Enabled: true, RateLimit: 100,
		Actions: []rule.Action{{Kind: rule.SendNotification, RecipientPrincipalID: "agent", TitleTemplate: "{{event.resource}} changed"}}}, ""); err != nil {
		t.Fatalf("Create rule = %v", err)
	}
	sent := f.event("customer.updated", "customers/c1")
	f.ingest(t, sent)
	pendingSub := f.event("customer.updated", "customers/c1/addresses/a1")
	f.ingest(t, pendingSub)
	other := f.event("customer.updated", "customers/c10")
	f.ingest(t, other)
	// The first was delivered already; the second still waits.
	if _, err := f.db.Owner.Exec(t.Context(), `UPDATE webhook_deliveries SET state = 2 WHERE event_id = $1`, sent.ID); err != nil {
		t.Fatal(err)
	}
	erased := f.event(webhook.CustomerErasedType, "customers/c1")
	erased.Body = `{"subject":"customers/c1"}`
	f.ingest(t, erased)
	for range 2 { // idempotent: a replay, then a second erasure event, change nothing more
		f.ingest(t, erased)
		again := f.event(webhook.CustomerErasedType, "customers/c1")
		f.ingest(t, again)
	}

	var blank, kept int
	if err := f.db.Owner.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE body = ''), count(*) FILTER (WHERE body <> '') FROM webhook_events`).Scan(&blank, &kept); err != nil {
		t.Fatal(err)
	}
	if blank != 2 || kept != 4 { // c10 and the three erasure tombstones keep theirs
		t.Fatalf("event bodies: %d blank, %d kept; want 2 and 4", blank, kept)
	}
	gone := f.delivery(t, w, webhook.DeliveryErased)
	if len(gone) != 2 {
		t.Fatalf("erased deliveries = %d, want 2", len(gone))
	}
	for _, d := range gone {
		full, err := f.svc.Delivery(t.Context(), f.admin, w.ID, d.ID)
		if err != nil || full.RequestBody != "" {
			t.Fatalf("Delivery(erased) = %q, %v; want a blank body", full.RequestBody, err)
		}
		if _, err := f.svc.Redeliver(t.Context(), f.admin, w.ID, d.ID); !errors.Is(err, webhook.ErrDeliveryErased) {
			t.Fatalf("Redeliver(erased) = %v, want ErrDeliveryErased", err)
		}
	}
	var titles []string
	rows, err := f.db.Owner.Query(t.Context(), `SELECT title FROM notifications ORDER BY create_time`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		titles = append(titles, s)
	}
	if len(titles) != 3 || titles[0] != "" || titles[1] != "" || titles[2] != "customers/c10 changed" {
		t.Fatalf("notification titles = %q, want the two of c1 blank", titles)
	}
	var records int
	if err := f.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE type = $1`, webhook.EventCustomerErased).Scan(&records); err != nil {
		t.Fatal(err)
	}
	if records != 1 {
		t.Fatalf("erasure events = %d, want 1 (the later ones found nothing left)", records)
	}
	// Nothing of the erased customer is claimed any more.
	f.elapse(t)
	jobs, err := f.store.Claim(t.Context(), f.tenant, 20, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if j.EventID == sent.ID || j.EventID == pendingSub.ID {
			t.Fatalf("claimed erased delivery of event %s", j.EventID)
		}
	}
}

func TestBreakerProbeThroughLoopbackReceiver(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	var healthy atomic.Bool
	var calls, whileOpen atomic.Int32
	var opened atomic.Int64
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		if at := opened.Load(); at != 0 && time.Now().UnixNano() < at {
			whileOpen.Add(1)
		}
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(receiver.Close)
	w, _ := f.subscribe(t, receiver.URL, "*")
	for i := range 10 {
		f.ingest(t, f.event("customer.updated", "customers/"+string(rune('a'+i))))
	}
	f.run(t, delivery.Config{Workers: 4, Retry: webhook.RetryPolicy{Budget: 100, MinBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond},
		Breaker: webhook.BreakerPolicy{Threshold: 3, Cooldown: 300 * time.Millisecond, MaxCooldown: time.Second}})
	until(t, "the breaker to open", func() bool {
		got, err := f.svc.Get(t.Context(), f.admin, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		state, next := got.Breaker(time.Now())
		if state == webhook.BreakerOpen {
			opened.Store(next.Add(-20 * time.Millisecond).UnixNano())
			return true
		}
		return false
	})
	before := calls.Load()
	// Failed probes reopen it: each cool-down lets through one request.
	time.Sleep(900 * time.Millisecond)
	if probes := calls.Load() - before; probes < 1 || probes > 3 {
		t.Fatalf("%d requests while open or half-open for 0.9 s, want one probe per cool-down (1 to 3)", probes)
	}
	if n := whileOpen.Load(); n > 4 { // requests already in flight when it opened
		t.Fatalf("%d requests arrived while the breaker was open", n)
	}
	healthy.Store(true)
	until(t, "every delivery after recovery", func() bool { return len(f.delivery(t, w, webhook.DeliverySucceeded)) == 10 })
	got, err := f.svc.Get(t.Context(), f.admin, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if state, next := got.Breaker(time.Now()); state != webhook.BreakerClosed || !next.IsZero() {
		t.Fatalf("breaker after recovery = %v, %v; want closed", state, next)
	}
}
