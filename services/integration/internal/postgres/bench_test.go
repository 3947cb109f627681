package postgres_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/services/integration/internal/delivery"
	"github.com/rapportcrm/rapport/services/integration/internal/rule"
)

// BenchmarkWebhookDelivery offers events at 1 000 a second (RAPPORT_BENCH_EVENTS
// of them, default 5 000, over RAPPORT_BENCH_RESOURCES resources, default
// 100) to one subscription whose
// receiver is a local httptest server, with 16 workers, and reports the
// delivered rate and the latency from the commit that took each event in
// to its arrival at the receiver. It prints figures and asserts nothing on
// time. Like a database in service, the measured one has statistics: a
// warm-up of 2 000 events goes through first and is analysed (the
// planner's choices without them are measured with RAPPORT_BENCH_COLD=1).
// Run: go test -run '^$' -bench WebhookDelivery -benchtime 1x ./services/integration/internal/postgres/
func BenchmarkWebhookDelivery(b *testing.B) {
	total := 5000
	if v, err := strconv.Atoi(os.Getenv("RAPPORT_BENCH_EVENTS")); err == nil && v > 0 {
		total = v
	}
	n := 4
	if v, err := strconv.Atoi(os.Getenv("RAPPORT_BENCH_PRODUCERS")); err == nil && v > 0 {
		n = v
	}
	cold := os.Getenv("RAPPORT_BENCH_COLD") == "1"
	resources := 100
	if v, err := strconv.Atoi(os.Getenv("RAPPORT_BENCH_RESOURCES")); err == nil && v > 0 {
		resources = v
	}
	for range b.N {
		f := newFixture(b, true)
		var mu sync.Mutex
		committed := map[uuid.UUID]time.Time{}
		arrived := map[uuid.UUID]time.Time{}
		var want int
		done := make(chan struct{})
		receiver := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			var ce struct{ ID uuid.UUID }
			_ = json.NewDecoder(r.Body).Decode(&ce)
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			if _, seen := arrived[ce.ID]; !seen {
				arrived[ce.ID] = now
				if len(arrived) == want {
					close(done)
				}
			}
		}))
		f.subscribe(b, receiver.URL, "*")
		f.run(b, delivery.Config{Workers: 16})
		// offer sends count events from n producers sharing 1 000 a second
		// (one taking events in serially cannot offer that here) and waits
		// until all have arrived.
		offer := func(count int) (offered, elapsed time.Duration) {
			mu.Lock()
			clear(committed)
			clear(arrived)
			want, done = count, make(chan struct{})
			finished := done
			mu.Unlock()
			start := time.Now()
			var producers sync.WaitGroup
			for p := range n {
				producers.Go(func() {
					tick := time.NewTicker(time.Duration(n) * time.Millisecond)
					defer tick.Stop()
					for i := p; i < count; i += n {
						<-tick.C
						e := f.event("customer.updated", fmt.Sprintf("customers/%d", i%resources))
						e.Body = fmt.Sprintf(`{"id":%q}`, e.ID)
						f.ingest(b, e)
						mu.Lock()
						committed[e.ID] = time.Now()
						mu.Unlock()
					}
				})
			}
			producers.Wait()
			offered = time.Since(start)
			<-finished
			return offered, time.Since(start)
		}
		if !cold {
			offer(2000)
			if _, err := f.db.Owner.Exec(b.Context(), `ANALYZE`); err != nil {
				b.Fatal(err)
			}
		}
		offered, elapsed := offer(total)
		receiver.Close()
		var lat []time.Duration
		mu.Lock()
		for id, at := range arrived {
			lat = append(lat, max(0, at.Sub(committed[id])))
		}
		mu.Unlock()
		slices.Sort(lat)
		pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
		b.ReportMetric(float64(total)/offered.Seconds(), "offered/s")
		b.ReportMetric(float64(total)/elapsed.Seconds(), "delivered/s")
		b.ReportMetric(float64(pct(0.5).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-ms")
		b.Logf("%d events offered over %s, all delivered after %s; commit-to-delivery p50 %s, p99 %s, max %s",
			total, offered.Round(time.Millisecond), elapsed.Round(time.Millisecond), pct(0.5), pct(0.99), lat[len(lat)-1])
	}
}

// BenchmarkRuleEvaluation takes events in (RAPPORT_BENCH_EVENTS, default
// 2 000) with 1 000 enabled rules over 50 event types, 20 rules to a type
// with a filter on the resource that half of them pass; each match sends a
// notification. It reports events taken in a second and rule matches a
// second, one producer, and asserts nothing on time.
// Run: go test -run '^$' -bench RuleEvaluation -benchtime 1x ./services/integration/internal/postgres/
func BenchmarkRuleEvaluation(b *testing.B) {
	total := 2000
	if v, err := strconv.Atoi(os.Getenv("RAPPORT_BENCH_EVENTS")); err == nil && v > 0 {
		total = v
	}
	for range b.N {
		f := newFixture(b, false)
		rules := rule.New(f.store.Rules(), nil, true)
		for i := range 1000 {
			filter := `resource = "customers/*"`
			if i%2 == 1 {
				filter = `resource = "tickets/*"`
			}
			_, err := rules.Create(b.Context(), f.admin, rule.Rule{DisplayName: fmt.Sprintf("rule %d", i),
				EventTypes: []string{fmt.Sprintf("customer.type%d", i%50)}, Filter: filter, Enabled: true, RateLimit: 10000,
				Actions: []rule.Action{{Kind: rule.SendNotification, RecipientPrincipalID: "p", TitleTemplate: "{{event.type}}"}}}, "")
			if err != nil {
				b.Fatal(err)
			}
		}
		start := time.Now()
		for i := range total {
			f.ingest(b, f.event(fmt.Sprintf("customer.type%d", i%50), fmt.Sprintf("customers/%d", i)))
		}
		elapsed := time.Since(start)
		var runs int
		if err := f.db.Owner.QueryRow(b.Context(), `SELECT count(*) FROM rule_executions`).Scan(&runs); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(total)/elapsed.Seconds(), "events/s")
		b.ReportMetric(float64(runs)/elapsed.Seconds(), "executions/s")
		b.Logf("%d events against 1 000 rules in %s: %d executions", total, elapsed.Round(time.Millisecond), runs)
	}
}
