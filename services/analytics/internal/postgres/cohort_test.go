package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

// TestCohortRetention checks the definition on a few customers whose
// cohorts are worked out by hand in the comments.
func TestCohortRetention(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	tenant := uuid.New()
	cust := &stream{tenant: tenant, source: "customer"}
	pipe := &stream{tenant: tenant, source: "pipeline"}
	at := func(s string) time.Time { return day(t, s) }
	order := func(c uuid.UUID, kind analytics.OrderKind, status analytics.OrderStatus, when time.Time) analytics.Event {
		e, _ := pipe.order(c, kind, status, 1000, 0)
		e.Fact.Order.OrderTime = when
		return e
	}
	sale := func(c uuid.UUID, when string) analytics.Event {
		return order(c, analytics.OrderKindSale, analytics.OrderStatusPlaced, at(when))
	}
	profile := func(c uuid.UUID, country string) analytics.Event {
		return cust.fact("customer.created", analytics.Fact{Profile: &analytics.CustomerProfile{ID: c, CountryCode: country}}, 0)
	}
	a, b, c, d, e := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
	apply(t, s,
		profile(a, "GB"), profile(b, "FR"), profile(c, "GB"),
		// a: January cohort; buys again in February (twice: counts once) and April.
		sale(a, "2026-01-05"), sale(a, "2026-02-01"), sale(a, "2026-02-20"), sale(a, "2026-04-30"),
		// b: January cohort; a return and a cancelled sale in February are no purchases; buys in March.
		sale(b, "2026-01-31"), order(b, analytics.OrderKindReturn, analytics.OrderStatusPlaced, at("2026-02-03")),
		order(b, analytics.OrderKindSale, analytics.OrderStatusCancelled, at("2026-02-04")), sale(b, "2026-03-01"),
		// c: February cohort; buys again in March.
		sale(c, "2026-02-10"), sale(c, "2026-03-10"),
		// d: first bought in December, before the range: no cohort of the range, however often it buys in it.
		sale(d, "2025-12-20"), sale(d, "2026-01-10"), sale(d, "2026-02-10"),
		// e: first purchase after the range's end: in no cohort.
		sale(e, "2026-05-02"),
		// A guest order belongs to no customer.
		sale(uuid.Nil, "2026-01-07"),
	)
	// Another tenant's customers never count here.
	po := &stream{tenant: uuid.New(), source: "pipeline"}
	x, _ := po.order(uuid.New(), analytics.OrderKindSale, analytics.OrderStatusPlaced, 1, 0)
	x.Fact.Order.OrderTime = at("2026-01-10")
	apply(t, s, x)

	q := analytics.CohortQuery{Start: date(t, "2026-01-01"), End: date(t, "2026-05-01"), Months: 4}
	got, err := s.CohortRetention(t.Context(), tenant, q)
	if err != nil {
		t.Fatal(err)
	}
	// The store counts every month asked for; the domain trims those not
	// yet observed (see TestCohortRetentionTrimsUnobservedMonths).
	want := []analytics.Cohort{
		{Month: "2026-01", Customers: 2, Retained: []int64{1, 1, 1, 0}}, // Feb: a; Mar: b; Apr: a
		{Month: "2026-02", Customers: 1, Retained: []int64{1, 0, 0, 0}}, // Mar: c
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("CohortRetention (-want +got):\n%s", diff)
	}
	q.Filter = `country_code = "GB"`
	got, err = s.CohortRetention(t.Context(), tenant, q)
	want = []analytics.Cohort{
		{Month: "2026-01", Customers: 1, Retained: []int64{1, 0, 1, 0}},
		{Month: "2026-02", Customers: 1, Retained: []int64{1, 0, 0, 0}},
	}
	if err != nil || !cmp.Equal(want, got) {
		t.Fatalf("CohortRetention(GB) = %+v, %v; want %+v", got, err, want)
	}
	q.Filter = `office = "x"`
	if _, err := s.CohortRetention(t.Context(), tenant, q); err == nil {
		t.Fatalf("CohortRetention(unknown filter field) succeeded")
	}
}

// TestCohortRetentionAgainstOnlineRetail loads the Online Retail invoices
// of a slice of customers and checks the whole cohort matrix against one
// computed here from the file.
func TestCohortRetentionAgainstOnlineRetail(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	tenant := uuid.New()
	invoices := retailSlice(t, 13500)
	pipe := &stream{tenant: tenant, source: "pipeline"}
	for _, inv := range invoices {
		kind := analytics.OrderKindSale
		if inv.ret {
			kind = analytics.OrderKindReturn
		}
		o := &analytics.Order{ID: retailID("order", inv.number), CustomerID: retailID("customer", inv.customer), Number: inv.number,
			Kind: kind, Status: analytics.OrderStatusPlaced, Value: analytics.Money{CurrencyCode: "GBP", AmountMinor: inv.value}, OrderTime: inv.at}
		apply(t, s, pipe.fact("order.created", analytics.Fact{Order: o}, 0))
	}
	const months = 12
	start, end := time.Date(2010, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2011, 12, 10, 0, 0, 0, 0, time.UTC)
	got, err := s.CohortRetention(t.Context(), tenant, analytics.CohortQuery{Start: start, End: end, Months: months})
	if err != nil {
		t.Fatal(err)
	}

	// The same matrix from the invoices: a customer's purchase months as
	// an index counted from January 2000, its first purchase's month its
	// cohort; returns are no purchases.
	monthIndex := func(at time.Time) int { u := at.UTC(); return (u.Year()-2000)*12 + int(u.Month()) - 1 }
	first := map[string]time.Time{}
	bought := map[string]map[int]bool{}
	for _, inv := range invoices {
		if inv.ret || !inv.at.Before(end) {
			continue
		}
		if f, ok := first[inv.customer]; !ok || inv.at.Before(f) {
			first[inv.customer] = inv.at
		}
		if bought[inv.customer] == nil {
			bought[inv.customer] = map[int]bool{}
		}
		bought[inv.customer][monthIndex(inv.at)] = true
	}
	size := map[int]int64{}
	retained := map[int][]int64{}
	for cust, f := range first {
		if f.Before(start) {
			continue
		}
		cm := monthIndex(f)
		size[cm]++
		if retained[cm] == nil {
			retained[cm] = make([]int64, months)
		}
		for k := 1; k <= months; k++ {
			if bought[cust][cm+k] {
				retained[cm][k-1]++
			}
		}
	}
	var want []analytics.Cohort
	for cm := monthIndex(start); cm <= monthIndex(end); cm++ {
		if size[cm] == 0 {
			continue
		}
		want = append(want, analytics.Cohort{Month: fmt.Sprintf("%04d-%02d", 2000+cm/12, cm%12+1), Customers: size[cm], Retained: retained[cm]})
	}
	if len(want) < 12 {
		t.Fatalf("only %d cohorts in the slice; the test needs a year of them", len(want))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("cohort matrix (-want from the file +got):\n%s", diff)
	}
	t.Logf("Online Retail slice: %d invoices; cohort 2010-12 of %d customers retained %v", len(invoices), want[0].Customers, want[0].Retained)
}
