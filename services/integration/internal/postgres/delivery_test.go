package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/integration/internal/delivery"
	"github.com/rapportcrm/rapport/services/integration/internal/postgres"
	"github.com/rapportcrm/rapport/services/integration/internal/webhook"
)

// fixture is one tenant's store on a private database.
type fixture struct {
	db     *pgtest.DB
	store  *postgres.Store
	svc    *webhook.Service
	tenant uuid.UUID
	admin  auth.Caller
}

func newFixture(t testing.TB, allowPrivate bool) *fixture {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	store := postgres.New(db.App)
	f := &fixture{db: db, store: store, svc: webhook.New(store, webhook.Config{}), tenant: uuid.New()}
	f.admin = auth.Caller{TenantID: f.tenant.String(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAdmin}}
	if allowPrivate {
		operator := auth.Caller{TenantID: uuid.NewString(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAdmin}, Operator: true}
		if _, err := f.svc.SetPolicy(t.Context(), operator, webhook.Policy{TenantID: f.tenant, AllowPrivateTargets: true}); err != nil {
			t.Fatalf("SetPolicy = %v", err)
		}
	}
	return f
}

func (f *fixture) subscribe(t testing.TB, url string, types ...string) (webhook.Webhook, string) {
	t.Helper()
	w, secret, err := f.svc.Create(t.Context(), f.admin, webhook.Webhook{DisplayName: "hook", TargetURL: url, EventTypes: types}, "")
	if err != nil {
		t.Fatalf("Create webhook = %v", err)
	}
	return w, secret
}

// event makes an event of f's tenant about resource.
func (f *fixture) event(typ, resource string) delivery.Event {
	id := uuid.Must(uuid.NewV7())
	return delivery.Event{ID: id, TenantID: f.tenant, Source: "customer", Cursor: "1." + id.String()[:4], Type: typ,
		Resource: resource, PrincipalID: "p1", Time: time.Now(), Body: fmt.Sprintf(`{"id":%q,"subject":%q}`, id, resource)}
}

func (f *fixture) ingest(t testing.TB, e delivery.Event) int {
	t.Helper()
	n, err := f.store.Ingest(t.Context(), e)
	if err != nil {
		t.Fatalf("Ingest = %v", err)
	}
	return n
}

// run delivers until the test ends.
func (f *fixture) run(t testing.TB, cfg delivery.Config) {
	t.Helper()
	if cfg.Workers == 0 {
		cfg.Workers = 4
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	cfg.Poll, cfg.Lease = 20*time.Millisecond, cfg.Timeout+3*time.Second
	if cfg.Retry.Budget == 0 {
		cfg.Retry = webhook.RetryPolicy{Budget: 5, MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond}
	}
	if cfg.Breaker.Threshold == 0 {
		cfg.Breaker = webhook.BreakerPolicy{Threshold: 100, Cooldown: time.Second}
	}
	d, err := delivery.New(f.store, cfg, slog.New(slog.DiscardHandler), metricnoop.NewMeterProvider().Meter(""), tracenoop.NewTracerProvider().Tracer(""))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// until polls cond for up to 10 s.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// elapse makes every pending delivery due now, as if leases and retry
// waits had run out.
func (f *fixture) elapse(t *testing.T) {
	t.Helper()
	if _, err := f.db.Owner.Exec(t.Context(), `UPDATE webhook_heads SET next_attempt_time = now(), lease_until = NULL;
UPDATE webhook_deliveries SET next_attempt_time = now() WHERE state = 1`); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) delivery(t *testing.T, w webhook.Webhook, state webhook.DeliveryState) []webhook.Delivery {
	t.Helper()
	page, err := f.svc.Deliveries(t.Context(), f.admin, w.ID, webhook.ListQuery{Filter: fmt.Sprintf("state = %s", map[webhook.DeliveryState]string{
		webhook.DeliveryPending: "WEBHOOK_DELIVERY_STATE_PENDING", webhook.DeliverySucceeded: "WEBHOOK_DELIVERY_STATE_SUCCEEDED",
		webhook.DeliveryDeadLettered: "WEBHOOK_DELIVERY_STATE_DEAD_LETTERED", webhook.DeliveryErased: "WEBHOOK_DELIVERY_STATE_ERASED"}[state])})
	if err != nil {
		t.Fatalf("Deliveries = %v", err)
	}
	return page.Deliveries
}

func TestSignedDeliveryOnceAndInOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	var mu sync.Mutex
	var got []string
	var secret string
	fails := atomic.Int32{}
	fails.Store(2)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if err := webhook.Verify(secret, r.Header, body, time.Now(), time.Minute); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		// The first deliveries fail: order must hold across the retries.
		if fails.Add(-1) >= 0 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		got = append(got, string(body))
	}))
	defer receiver.Close()
	w, s := f.subscribe(t, receiver.URL, "customer.*")
	mu.Lock()
	secret = s
	mu.Unlock()
	other, _ := f.subscribe(t, receiver.URL, "ticket.created")
	var events []delivery.Event
	for i := range 5 {
		e := f.event("customer.updated", "customers/a")
		e.Body = fmt.Sprintf(`{"n":%d}`, i)
		events = append(events, e)
		if n := f.ingest(t, e); n != 1 {
			t.Fatalf("Ingest(event %d) created %d deliveries, want 1 (the ticket subscription does not match)", i, n)
		}
	}
	// A replayed event (a reconnect, another replica) creates nothing.
	if n := f.ingest(t, events[2]); n != 0 {
		t.Fatalf("Ingest(replayed) created %d deliveries, want 0", n)
	}
	f.run(t, delivery.Config{})
	until(t, "five deliveries", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 5 })
	for i, body := range got {
		if want := fmt.Sprintf(`{"n":%d}`, i); body != want {
			t.Fatalf("delivery %d = %s, want %s: order per resource broken (%v)", i, body, want, got)
		}
	}
	until(t, "all succeeded", func() bool { return len(f.delivery(t, w, webhook.DeliverySucceeded)) == 5 })
	first := f.delivery(t, w, webhook.DeliverySucceeded)[4]
	d, err := f.svc.Delivery(t.Context(), f.admin, w.ID, first.ID)
	if err != nil || len(d.Attempts) != 3 || d.Attempts[0].ResponseCode != 500 || d.Attempts[2].ResponseCode != 200 || d.RequestBody != `{"n":0}` {
		t.Fatalf("Delivery(first) = %+v, %v; want three attempts, two 500s then 200, and its body", d, err)
	}
	if len(f.delivery(t, other, webhook.DeliveryPending)) != 0 {
		t.Fatal("the non-matching subscription got deliveries")
	}
}

func TestDeadLetterAndRedeliver(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	healthy := atomic.Bool{}
	hits := atomic.Int32{}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer receiver.Close()
	w, _ := f.subscribe(t, receiver.URL, "*")
	f.ingest(t, f.event("customer.created", "customers/b"))
	f.run(t, delivery.Config{Retry: webhook.RetryPolicy{Budget: 3, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}})
	until(t, "a dead letter", func() bool { return len(f.delivery(t, w, webhook.DeliveryDeadLettered)) == 1 })
	if n := hits.Load(); n != 3 {
		t.Fatalf("attempts before the dead letter = %d, want the budget of 3", n)
	}
	var events int
	if err := f.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE type = 'webhook.delivery.dead_lettered'`).Scan(&events); err != nil || events != 1 {
		t.Fatalf("dead-letter events = %d, %v; want 1", events, err)
	}
	dead := f.delivery(t, w, webhook.DeliveryDeadLettered)[0]
	healthy.Store(true)
	again, err := f.svc.Redeliver(t.Context(), f.admin, w.ID, dead.ID)
	if err != nil || again.State != webhook.DeliveryPending || again.ID != dead.ID {
		t.Fatalf("Redeliver = %+v, %v; want the same delivery pending", again, err)
	}
	until(t, "the redelivery", func() bool { return len(f.delivery(t, w, webhook.DeliverySucceeded)) == 1 })
	if _, err := f.svc.Redeliver(t.Context(), f.admin, w.ID, uuid.New()); err == nil {
		t.Fatal("Redeliver(unknown) = nil, want not found")
	}
	n, err := f.svc.RedeliverRange(t.Context(), f.admin, w.ID, time.Now().Add(-time.Hour), time.Now().Add(time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("RedeliverRange = %d, %v; want the one finished delivery", n, err)
	}
	until(t, "the range redelivery", func() bool { return hits.Load() == 5 })
}

func TestGoneDisablesAndResumeDelivers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	gone := atomic.Bool{}
	gone.Store(true)
	delivered := atomic.Int32{}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if gone.Load() {
			w.WriteHeader(http.StatusGone)
			return
		}
		delivered.Add(1)
	}))
	defer receiver.Close()
	w, _ := f.subscribe(t, receiver.URL, "*")
	f.ingest(t, f.event("customer.created", "customers/c"))
	f.ingest(t, f.event("customer.created", "customers/d"))
	f.run(t, delivery.Config{Workers: 1})
	until(t, "the webhook disabled", func() bool {
		got, err := f.svc.Get(t.Context(), f.admin, w.ID)
		return err == nil && got.State == webhook.StateDisabled && got.StateReason != ""
	})
	time.Sleep(100 * time.Millisecond)
	if n := len(f.delivery(t, w, webhook.DeliveryPending)); n != 2 {
		t.Fatalf("pending deliveries of the disabled webhook = %d, want 2: nothing lost", n)
	}
	gone.Store(false)
	if _, err := f.svc.Update(t.Context(), f.admin, webhook.Webhook{ID: w.ID, State: webhook.StateActive}, []string{"state"}, ""); err != nil {
		t.Fatalf("resume = %v", err)
	}
	until(t, "both delivered after the resume", func() bool { return delivered.Load() == 2 })
}

func TestSlowEndpointHoldsNoOtherBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	defer close(release)
	fast := atomic.Int32{}
	healthy := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { fast.Add(1) }))
	defer healthy.Close()
	f.subscribe(t, slow.URL, "*")
	f.subscribe(t, healthy.URL, "*")
	for i := range 10 {
		f.ingest(t, f.event("customer.created", fmt.Sprintf("customers/%d", i)))
	}
	// Two workers, ten slow deliveries: the timeout frees each worker the
	// slow endpoint takes, and the breaker soon stops claiming for it.
	f.run(t, delivery.Config{Workers: 2, Timeout: 200 * time.Millisecond,
		Breaker: webhook.BreakerPolicy{Threshold: 2, Cooldown: time.Minute}})
	until(t, "the healthy endpoint's ten deliveries", func() bool { return fast.Load() == 10 })
}

func TestConnectTimeAddressCheck(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	hits := atomic.Int32{}
	receiver := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer receiver.Close()
	// The name passes the configuration check; only the dialer sees it
	// resolve to loopback once the operator's allowance is withdrawn.
	w, _ := f.subscribe(t, strings.Replace(receiver.URL, "127.0.0.1", "localhost", 1), "*")
	operator := auth.Caller{TenantID: uuid.NewString(), PrincipalID: "op", Roles: []auth.Role{auth.RoleAdmin}, Operator: true}
	if _, err := f.svc.SetPolicy(t.Context(), operator, webhook.Policy{TenantID: f.tenant}); err != nil {
		t.Fatal(err)
	}
	f.ingest(t, f.event("customer.created", "customers/e"))
	f.run(t, delivery.Config{})
	until(t, "a refused attempt", func() bool {
		p := f.delivery(t, w, webhook.DeliveryPending)
		return len(p) == 1 && p[0].AttemptCount > 0 && p[0].LastError != ""
	})
	p := f.delivery(t, w, webhook.DeliveryPending)[0]
	if hits.Load() != 0 || p.LastError != delivery.ErrForbiddenAddress.Error() {
		t.Fatalf("delivery to loopback without allowance = %d hits, error %q; want refused at connect time", hits.Load(), p.LastError)
	}
}

func TestBreakerAndConcurrentClaims(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	f.subscribe(t, "http://127.0.0.1:9/never", "*")
	for i := range 20 {
		f.ingest(t, f.event("customer.created", fmt.Sprintf("customers/%d", i)))
	}
	// Two workers claim at once: SKIP LOCKED gives each delivery to one.
	var mu sync.Mutex
	seen := map[uuid.UUID]int{}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			jobs, err := f.store.Claim(context.Background(), f.tenant, 15, time.Minute)
			if err != nil {
				t.Errorf("Claim = %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, j := range jobs {
				seen[j.DeliveryID]++
			}
		})
	}
	wg.Wait()
	if len(seen) != 20 {
		t.Fatalf("claimed %d distinct deliveries, want all 20", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("delivery %s claimed %d times", id, n)
		}
	}
	// A failure at threshold 1 opens the endpoint's breaker: none of its
	// deliveries are claimed while it is open, even when due.
	jobs, err := f.store.Claim(t.Context(), f.tenant, 1, time.Minute)
	if err != nil || len(jobs) != 0 {
		t.Fatalf("Claim(all leased) = %v, %v; want none", jobs, err)
	}
	f.elapse(t)
	jobs, err = f.store.Claim(t.Context(), f.tenant, 1, time.Minute)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("Claim(due) = %v, %v; want one", jobs, err)
	}
	err = f.store.Finish(t.Context(), jobs[0], delivery.Result{RequestTime: time.Now(), Error: "connection refused"}, webhook.Retry, 0,
		webhook.BreakerPolicy{Threshold: 1, Cooldown: time.Hour})
	if err != nil {
		t.Fatalf("Finish = %v", err)
	}
	if jobs, err = f.store.Claim(t.Context(), f.tenant, 20, time.Minute); err != nil || len(jobs) != 0 {
		t.Fatalf("Claim(breaker open) = %d jobs, %v; want none", len(jobs), err)
	}
	if _, err := f.db.Owner.Exec(t.Context(), `UPDATE endpoint_breakers SET open_until = now()`); err != nil {
		t.Fatal(err)
	}
	// After the cool-down the breaker is half-open: one probe goes out,
	// the other due deliveries stay, and no second claim gets a probe.
	probe, err := f.store.Claim(t.Context(), f.tenant, 20, time.Minute)
	if err != nil || len(probe) != 1 || !probe[0].Probe {
		t.Fatalf("Claim(half-open) = %v, %v; want one probe", probe, err)
	}
	if jobs, err = f.store.Claim(t.Context(), f.tenant, 20, time.Minute); err != nil || len(jobs) != 0 {
		t.Fatalf("Claim(probe under way) = %d jobs, %v; want none", len(jobs), err)
	}
	// A failed probe opens the breaker again, for twice the cool-down.
	err = f.store.Finish(t.Context(), probe[0], delivery.Result{RequestTime: time.Now(), ResponseCode: 503}, webhook.Retry, 0,
		webhook.BreakerPolicy{Threshold: 1, Cooldown: time.Hour, MaxCooldown: 24 * time.Hour})
	if err != nil {
		t.Fatalf("Finish(failed probe) = %v", err)
	}
	var cooldown float64
	var trips int
	if err := f.db.Owner.QueryRow(t.Context(), `SELECT extract(epoch FROM open_until - now()), trips FROM endpoint_breakers`).Scan(&cooldown, &trips); err != nil {
		t.Fatal(err)
	}
	if cooldown < 7000 || cooldown > 7200 || trips != 2 {
		t.Fatalf("after a failed probe: open for %.0f s, trips %d; want about 7200 s and 2", cooldown, trips)
	}
	if _, err := f.db.Owner.Exec(t.Context(), `UPDATE endpoint_breakers SET open_until = now()`); err != nil {
		t.Fatal(err)
	}
	f.elapse(t)
	if probe, err = f.store.Claim(t.Context(), f.tenant, 20, time.Minute); err != nil || len(probe) != 1 {
		t.Fatalf("Claim(half-open again) = %v, %v; want one probe", probe, err)
	}
	err = f.store.Finish(t.Context(), probe[0], delivery.Result{RequestTime: time.Now(), ResponseCode: 200}, webhook.Delivered, 0,
		webhook.BreakerPolicy{Threshold: 1, Cooldown: time.Hour})
	if err != nil {
		t.Fatalf("Finish(probe delivered) = %v", err)
	}
	// Its success closes the breaker: every other delivery is claimed.
	if jobs, err = f.store.Claim(t.Context(), f.tenant, 20, time.Minute); err != nil || len(jobs) != 19 {
		t.Fatalf("Claim(breaker closed) = %d jobs, %v; want 19", len(jobs), err)
	}
}

func TestTenantIsolationOfDeliveries(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	w, _ := f.subscribe(t, "https://hooks.example.com/", "*")
	f.ingest(t, f.event("customer.created", "customers/x"))
	d := f.delivery(t, w, webhook.DeliveryPending)
	if len(d) != 1 {
		t.Fatalf("pending = %d, want 1", len(d))
	}
	stranger := auth.Caller{TenantID: uuid.NewString(), PrincipalID: "s", Roles: []auth.Role{auth.RoleAdmin}}
	if _, err := f.svc.Delivery(t.Context(), stranger, w.ID, d[0].ID); err == nil {
		t.Fatal("Delivery(another tenant) = nil, want not found")
	}
	if _, err := f.svc.Redeliver(t.Context(), stranger, w.ID, d[0].ID); err == nil {
		t.Fatal("Redeliver(another tenant) = nil, want not found")
	}
	if jobs, err := f.store.Claim(t.Context(), uuid.MustParse(stranger.TenantID), 10, time.Minute); err != nil || len(jobs) != 0 {
		t.Fatalf("Claim(another tenant) = %v, %v; want none", jobs, err)
	}
}

func TestRedeliveryGoesAheadOfNewerPending(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	w, _ := f.subscribe(t, "http://127.0.0.1:9/never", "*")
	first := f.event("customer.updated", "customers/r")
	f.ingest(t, first)
	claimOne := func(what string) delivery.Job {
		t.Helper()
		jobs, err := f.store.Claim(t.Context(), f.tenant, 10, time.Minute)
		if err != nil || len(jobs) != 1 {
			t.Fatalf("Claim(%s) = %v, %v; want exactly one", what, jobs, err)
		}
		return jobs[0]
	}
	settle := func(j delivery.Job) {
		t.Helper()
		err := f.store.Finish(t.Context(), j, delivery.Result{RequestTime: time.Now(), ResponseCode: 200}, webhook.Delivered, 0, webhook.BreakerPolicy{Threshold: 5, Cooldown: time.Minute})
		if err != nil {
			t.Fatalf("Finish = %v", err)
		}
	}
	j := claimOne("first")
	settle(j)
	second := f.event("customer.updated", "customers/r")
	f.ingest(t, second)
	if _, err := f.svc.Redeliver(t.Context(), f.admin, w.ID, j.DeliveryID); err != nil {
		t.Fatalf("Redeliver = %v", err)
	}
	// The redelivered, older delivery is its resource's head now; the
	// newer one waits behind it.
	if j := claimOne("after the redelivery"); j.EventID != first.ID {
		t.Fatalf("claimed event %s first, want the redelivered %s", j.EventID, first.ID)
	} else {
		settle(j)
	}
	if j := claimOne("the newer one"); j.EventID != second.ID {
		t.Fatalf("claimed event %s, want %s", j.EventID, second.ID)
	} else {
		settle(j)
	}
	var heads int
	if err := f.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM webhook_heads`).Scan(&heads); err != nil || heads != 0 {
		t.Fatalf("queue heads left = %d, %v; want none once every delivery settled", heads, err)
	}
}

// TestOrderHoldsWhileEventsArriveDuringDelivery takes events in while
// workers settle earlier ones of the same resources, which is when a
// queue's head passes from a settled delivery to one committed a moment
// ago: every delivery must arrive, once, in order.
func TestOrderHoldsWhileEventsArriveDuringDelivery(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	const resources, perResource = 6, 100
	var mu sync.Mutex
	got := map[string][]int{}
	arrived := 0
	receiver := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		var body struct {
			R string
			N int
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		defer mu.Unlock()
		got[body.R] = append(got[body.R], body.N)
		arrived++
	}))
	defer receiver.Close()
	f.subscribe(t, receiver.URL, "*")
	f.run(t, delivery.Config{Workers: 6})
	var producers sync.WaitGroup
	for r := range resources {
		producers.Go(func() {
			name := fmt.Sprintf("customers/%d", r)
			for n := range perResource {
				// Paced so that delivery keeps up and queues often run
				// empty, when the hand-over is most delicate.
				time.Sleep(15 * time.Millisecond)
				e := f.event("customer.updated", name)
				e.Body = fmt.Sprintf(`{"r":%q,"n":%d}`, name, n)
				f.ingest(t, e)
			}
		})
	}
	producers.Wait()
	until(t, "every delivery", func() bool { mu.Lock(); defer mu.Unlock(); return arrived >= resources*perResource })
	mu.Lock()
	defer mu.Unlock()
	for name, ns := range got {
		for i, n := range ns {
			if n != i {
				t.Fatalf("%s: delivery %d carried event %d (%d arrived): order per resource broken or a delivery repeated", name, i, n, len(ns))
			}
		}
	}
	var heads int
	if err := f.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM webhook_heads`).Scan(&heads); err != nil || heads != 0 {
		t.Fatalf("queue heads left = %d, %v; want none", heads, err)
	}
}
