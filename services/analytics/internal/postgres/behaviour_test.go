package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

func visit(anon string, customer uuid.UUID, kind analytics.BehaviourKind, target string, at time.Duration) analytics.BehaviourEvent {
	e := analytics.BehaviourEvent{ID: uuid.New(), AnonymousID: anon, CustomerID: customer, Kind: kind, Target: target, OccurTime: t0.Add(at)}
	if kind == analytics.BehaviourDwell {
		e.Dwell = 30 * time.Second
	}
	return e
}

func TestBehaviourStitchingAndIdempotency(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	tenant, ada, bob := uuid.New(), uuid.New(), uuid.New()
	customers := &stream{tenant: tenant, source: "customer"}
	apply(t, s, customers.customer(ada, false, 0), customers.customer(bob, false, 0))
	h := time.Hour
	first := []analytics.BehaviourEvent{
		visit("browser-1", uuid.Nil, analytics.BehaviourPageView, "/pricing", 0),
		visit("browser-1", uuid.Nil, analytics.BehaviourDwell, "/pricing", 1*time.Minute),
		visit("browser-1", uuid.Nil, analytics.BehaviourClick, "buy", 2*time.Minute),
		visit("phone-1", uuid.Nil, analytics.BehaviourScreenView, "home", 25*h),
	}
	res, err := s.IngestBehaviour(t.Context(), tenant, "tracker", first)
	if err != nil || res != (analytics.IngestResult{Created: 4}) {
		t.Fatalf("IngestBehaviour(anonymous) = %+v, %v; want 4 created", res, err)
	}
	// Anonymous events alone belong to nobody yet.
	if b, err := s.CustomerBehaviour(t.Context(), tenant, ada); err != nil || b.PageViews != 0 {
		t.Fatalf("CustomerBehaviour(before stitching) = %+v, %v; want nothing", b, err)
	}
	// A login names Ada on both devices; a replay of the first batch changes nothing.
	second := append([]analytics.BehaviourEvent{
		visit("browser-1", ada, analytics.BehaviourPageView, "/account", 3*time.Minute),
		visit("phone-1", ada, analytics.BehaviourScreenView, "home", 26*h),
	}, first...)
	res, err = s.IngestBehaviour(t.Context(), tenant, "tracker", second)
	if err != nil || res != (analytics.IngestResult{Created: 2, Duplicates: 4, Stitched: 2}) {
		t.Fatalf("IngestBehaviour(login + replay) = %+v, %v; want 2 created, 4 duplicates, 2 stitched", res, err)
	}
	got, err := s.CustomerBehaviour(t.Context(), tenant, ada)
	if err != nil {
		t.Fatal(err)
	}
	want := analytics.CustomerBehaviour{CustomerID: ada, PageViews: 2, ScreenViews: 2, Clicks: 1, TotalDwell: 30 * time.Second,
		Devices: 2, ActiveDays: 2, FirstSeen: t0, LastSeen: t0.Add(26 * h),
		TopTargets: []analytics.TargetCount{{Target: "home", Count: 2}, {Target: "/account", Count: 1}, {Target: "/pricing", Count: 1}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("CustomerBehaviour(ada) (-want +got):\n%s", diff)
	}
	// Bob logs in later on the shared browser: its unnamed events move to him,
	// the event naming Ada stays hers; an older event naming Ada does not move it back.
	if _, err := s.IngestBehaviour(t.Context(), tenant, "tracker", []analytics.BehaviourEvent{
		visit("browser-1", bob, analytics.BehaviourPageView, "/bob", 2*h),
		visit("browser-1", ada, analytics.BehaviourClick, "late", 4*time.Minute),
	}); err != nil {
		t.Fatal(err)
	}
	if b, err := s.CustomerBehaviour(t.Context(), tenant, bob); err != nil || b.PageViews != 2 || b.Clicks != 1 || b.Devices != 1 {
		t.Fatalf("CustomerBehaviour(bob) = %+v, %v; want the browser's unnamed events and his own", b, err)
	}
	if b, err := s.CustomerBehaviour(t.Context(), tenant, ada); err != nil || b.PageViews != 1 || b.Clicks != 1 || b.ScreenViews != 2 {
		t.Fatalf("CustomerBehaviour(ada after bob) = %+v, %v; want her named events and the phone", b, err)
	}
	var events, audits int
	if err := db.Owner.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM outbox WHERE type = 'behaviour_events.ingested'),
		(SELECT count(*) FROM audit_log WHERE resource = 'behaviourEvents')`).Scan(&events, &audits); err != nil || events != 3 || audits != 3 {
		t.Fatalf("ingest events, audit rows = %d, %d (%v); want 3 each", events, audits, err)
	}
}

func TestBehaviourRejectsUnknownCustomers(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	tenant, other, ada, stranger, gone := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
	apply(t, s, (&stream{tenant: tenant, source: "customer"}).customer(ada, false, 0),
		(&stream{tenant: tenant, source: "customer"}).customer(gone, true, 0),
		(&stream{tenant: other, source: "customer"}).customer(stranger, false, 0))
	for _, tt := range []struct {
		name     string
		customer uuid.UUID
	}{
		{"another tenant's customer", stranger},
		{"deleted customer", gone},
		{"never seen", uuid.New()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := s.IngestBehaviour(t.Context(), tenant, "tracker", []analytics.BehaviourEvent{
				visit("b", ada, analytics.BehaviourPageView, "/", 0), visit("b", tt.customer, analytics.BehaviourPageView, "/", 0)})
			var unknown *analytics.UnknownCustomersError
			if !errors.As(err, &unknown) || len(unknown.IDs) != 1 || unknown.IDs[0] != tt.customer {
				t.Fatalf("IngestBehaviour = %v, want the customer reported unknown", err)
			}
		})
	}
	t.Cleanup(func() {
		var n int
		// t.Context has ended by cleanup time.
		if err := db.Owner.QueryRow(context.Background(), "SELECT count(*) FROM behaviour_event").Scan(&n); err != nil || n != 0 {
			t.Errorf("stored events after rejected batches = %d (%v), want 0", n, err)
		}
	})
	if _, err := s.CustomerBehaviour(t.Context(), other, ada); !errors.Is(err, analytics.ErrCustomerNotFound) {
		t.Fatalf("CustomerBehaviour(another tenant's customer) = %v, want ErrCustomerNotFound", err)
	}
}

func TestBehaviourConcurrentReplays(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	tenant, ada := uuid.New(), uuid.New()
	apply(t, s, (&stream{tenant: tenant, source: "customer"}).customer(ada, false, 0))
	var batch []analytics.BehaviourEvent
	for i := range 50 {
		batch = append(batch, visit(string(rune('a'+i%5)), ada, analytics.BehaviourPageView, "/", time.Duration(i)*time.Second))
	}
	var wg sync.WaitGroup
	results := make([]analytics.IngestResult, 4)
	errs := make([]error, 4)
	for i := range results {
		wg.Go(func() { results[i], errs[i] = s.IngestBehaviour(t.Context(), tenant, "tracker", batch) })
	}
	wg.Wait()
	created := 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("IngestBehaviour #%d: %v", i, errs[i])
		}
		created += r.Created
	}
	if created != len(batch) {
		t.Fatalf("events created across concurrent replays = %d, want %d", created, len(batch))
	}
	if b, err := s.CustomerBehaviour(t.Context(), tenant, ada); err != nil || b.PageViews != int64(len(batch)) || b.Devices != 5 {
		t.Fatalf("CustomerBehaviour = %+v, %v; want every event once", b, err)
	}
}
