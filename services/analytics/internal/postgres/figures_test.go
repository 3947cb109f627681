package postgres_test

import (
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
	"github.com/rapportcrm/rapport/services/analytics/internal/postgres"
)

// sharedData is the folder of public data sets beside the checkout.
var sharedData = filepath.Join("..", "..", "..", "..", "..", "shared", "data")

// readCSV reads a shared data set's file into maps keyed by header, keeping at most limit records.
func readCSV(t *testing.T, path string, limit int) []map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(sharedData, path))
	if err != nil {
		t.Fatalf("the shared data set is missing: %v", err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, r := range recs[1:min(len(recs), limit+1)] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func date(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatalf("date %q: %v", s, err)
	}
	return d
}

func figures(t *testing.T, s *postgres.Store, tenant uuid.UUID, q analytics.FigureQuery) map[string]analytics.FigureRow {
	t.Helper()
	rows, err := s.Figures(t.Context(), tenant, q, analytics.MaxRows)
	if err != nil {
		t.Fatalf("Figures(metric %d): %v", q.Metric, err)
	}
	out := map[string]analytics.FigureRow{}
	for _, r := range rows {
		key := r.CurrencyCode
		for _, k := range r.Keys {
			key += "|" + k
		}
		out[key] = r
	}
	return out
}

// approx compares figures to 1e-9, relative.
var approx = cmpopts.EquateApprox(1e-9, 1e-9)

// TestSalesFiguresMatchTheCRMData loads opportunities of the CRM Sales
// Opportunities data set as pipeline events and checks win rate, cycle time
// and won amount per agent against values computed from the CSV here.
func TestSalesFiguresMatchTheCRMData(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	tenant := uuid.New()
	pipeline := &stream{tenant: tenant, source: "pipeline"}
	type tally struct {
		won, lost int
		days      float64
		amount    int64
	}
	want := map[string]*tally{}
	var events []analytics.Event
	for _, r := range readCSV(t, "crm-sales-opportunities/sales_pipeline.csv", 1500) {
		agent, stage := r["sales_agent"], r["deal_stage"]
		facts := analytics.SalesFacts{OwnerID: agent, ProductIDs: []string{r["product"]}, StageID: stage, StageKind: analytics.StageKindOpen,
			EngageDate: r["engage_date"], CreateTime: t0}
		if r["engage_date"] != "" {
			facts.CreateTime = date(t, r["engage_date"])
		}
		value, _ := strconv.ParseInt(r["close_value"], 10, 64)
		if stage == "Won" || stage == "Lost" {
			facts.CloseTime = date(t, r["close_date"])
			if want[agent] == nil {
				want[agent] = &tally{}
			}
			w := want[agent]
			if stage == "Won" {
				facts.StageKind = analytics.StageKindWon
				w.won++
				w.days += facts.CloseTime.Sub(date(t, r["engage_date"])).Hours() / 24
				w.amount += value * 100
			} else {
				facts.StageKind = analytics.StageKindLost
				w.lost++
			}
		}
		e := pipeline.next("opportunity.updated", 0)
		e.Opportunity = &analytics.Opportunity{ID: uuid.NewSHA1(tenant, []byte(r["opportunity_id"])), CustomerID: uuid.New(),
			Amount: analytics.Money{CurrencyCode: "USD", AmountMinor: value * 100}, Sales: facts}
		events = append(events, e)
	}
	apply(t, s, events...)
	if len(want) < 10 {
		t.Fatalf("the slice has %d agents with closed deals; want a real sample", len(want))
	}
	in := analytics.FigureQuery{GroupBy: []analytics.Dimension{analytics.DimensionOwner},
		Start: date(t, "2016-01-01"), End: date(t, "2019-01-01")}
	in.Metric = analytics.MetricWinRate
	winRate := figures(t, s, tenant, in)
	in.Metric = analytics.MetricCycleTimeDays
	cycle := figures(t, s, tenant, in)
	in.Metric = analytics.MetricWonAmount
	won := figures(t, s, tenant, in)
	for agent, w := range want {
		if diff := cmp.Diff(analytics.FigureRow{Keys: []string{agent}, Value: float64(w.won) / float64(w.won+w.lost), Count: int64(w.won + w.lost)},
			winRate["|"+agent], approx); diff != "" {
			t.Errorf("win rate of %s (-want +got):\n%s", agent, diff)
		}
		if w.won == 0 {
			continue
		}
		if diff := cmp.Diff(analytics.FigureRow{Keys: []string{agent}, Value: w.days / float64(w.won), Count: int64(w.won)},
			cycle["|"+agent], approx); diff != "" {
			t.Errorf("cycle time of %s (-want +got):\n%s", agent, diff)
		}
		if diff := cmp.Diff(analytics.FigureRow{Keys: []string{agent}, CurrencyCode: "USD", Value: float64(w.amount), Count: int64(w.won)},
			won["USD|"+agent], approx); diff != "" {
			t.Errorf("won amount of %s (-want +got):\n%s", agent, diff)
		}
	}
	if len(winRate) != len(want) {
		t.Errorf("win rate has %d agents, want %d", len(winRate), len(want))
	}
	// Another tenant sees none of it.
	if other := figures(t, s, uuid.New(), in); len(other) != 0 {
		t.Errorf("another tenant's won amounts = %v, want none", other)
	}
}

// percentile is PostgreSQL's percentile_cont: linear interpolation between
// the closest ranks of the sorted values.
func percentile(values []float64, p float64) float64 {
	v := slices.Sorted(slices.Values(values))
	pos := p * float64(len(v)-1)
	lo := math.Floor(pos)
	if int(lo)+1 >= len(v) {
		return v[len(v)-1]
	}
	return v[int(lo)] + (pos-lo)*(v[int(lo)+1]-v[int(lo)])
}

// TestServiceFiguresMatchTheTicketData loads tickets of the Customer Support
// Ticket data set and checks response and resolution percentiles and CSAT
// per channel against values computed from the CSV here. The data has no
// creation time (its two "time" columns are timestamps on one day), so every
// ticket is taken as created at that day's midnight, UTC.
func TestServiceFiguresMatchTheTicketData(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	tenant := uuid.New()
	feed := &stream{tenant: tenant, source: "ticket"}
	channels := map[string]int16{"Phone": 1, "Email": 2, "Chat": 4, "Social media": 5}
	names := map[string]string{"Phone": "CHANNEL_PHONE", "Email": "CHANNEL_EMAIL", "Chat": "CHANNEL_CHAT", "Social media": "CHANNEL_SOCIAL"}
	created := date(t, "2023-06-01")
	stamp := func(v string) time.Time {
		if v == "" {
			return time.Time{}
		}
		ts, err := time.Parse(time.DateTime, v)
		if err != nil {
			t.Fatalf("time %q: %v", v, err)
		}
		return ts
	}
	firstResponse, resolution, csat := map[string][]float64{}, map[string][]float64{}, map[string][]float64{}
	var events []analytics.Event
	for _, r := range readCSV(t, "customer-support-tickets/customer_support_tickets.csv", 2500) {
		ch := r["Ticket Channel"]
		f := analytics.ServiceFacts{Channel: channels[ch], CreateTime: created,
			FirstResponseTime: stamp(r["First Response Time"]), ResolveTime: stamp(r["Time to Resolution"])}
		if !f.FirstResponseTime.IsZero() {
			firstResponse[ch] = append(firstResponse[ch], f.FirstResponseTime.Sub(created).Hours())
		}
		if !f.ResolveTime.IsZero() {
			resolution[ch] = append(resolution[ch], f.ResolveTime.Sub(created).Hours())
		}
		id, _ := strconv.Atoi(r["Ticket ID"])
		ticket := uuid.NewSHA1(tenant, []byte(r["Ticket ID"]))
		e := feed.next("ticket.updated", time.Duration(id)*time.Second)
		e.Ticket = &analytics.Ticket{ID: ticket, CustomerID: uuid.New(), Status: analytics.TicketStatusOpen, Service: f}
		events = append(events, e)
		if score, err := strconv.ParseFloat(r["Customer Satisfaction Rating"], 64); err == nil {
			csat[ch] = append(csat[ch], score)
			a := feed.next("csat_survey.answered", time.Duration(id)*time.Second)
			a.Satisfaction = &analytics.Satisfaction{Kind: analytics.SatisfactionCSAT, Key: r["Ticket ID"], Score: int16(score),
				TicketID: ticket, AnswerTime: f.ResolveTime}
			events = append(events, a)
		}
	}
	apply(t, s, events...)
	for _, p := range []int32{50, 90} {
		q := analytics.FigureQuery{Metric: analytics.MetricFirstResponseHours, GroupBy: []analytics.Dimension{analytics.DimensionChannel},
			Start: date(t, "2023-05-01"), End: date(t, "2023-07-01"), Percentile: p}
		gotFirst := figures(t, s, tenant, q)
		q.Metric = analytics.MetricResolutionHours
		gotResolution := figures(t, s, tenant, q)
		for ch, name := range names {
			want := analytics.FigureRow{Keys: []string{name}, Value: percentile(firstResponse[ch], float64(p)/100), Count: int64(len(firstResponse[ch]))}
			if diff := cmp.Diff(want, gotFirst["|"+name], approx); diff != "" {
				t.Errorf("p%d first response on %s (-want +got):\n%s", p, ch, diff)
			}
			want = analytics.FigureRow{Keys: []string{name}, Value: percentile(resolution[ch], float64(p)/100), Count: int64(len(resolution[ch]))}
			if diff := cmp.Diff(want, gotResolution["|"+name], approx); diff != "" {
				t.Errorf("p%d resolution on %s (-want +got):\n%s", p, ch, diff)
			}
		}
	}
	gotCSAT := figures(t, s, tenant, analytics.FigureQuery{Metric: analytics.MetricCSATAverage,
		GroupBy: []analytics.Dimension{analytics.DimensionChannel}, Start: date(t, "2023-05-01"), End: date(t, "2023-07-01")})
	for ch, name := range names {
		sum := 0.0
		for _, v := range csat[ch] {
			sum += v
		}
		want := analytics.FigureRow{Keys: []string{name}, Value: sum / float64(len(csat[ch])), Count: int64(len(csat[ch]))}
		if diff := cmp.Diff(want, gotCSAT["|"+name], approx); diff != "" {
			t.Errorf("CSAT on %s (-want +got):\n%s", ch, diff)
		}
	}
}
