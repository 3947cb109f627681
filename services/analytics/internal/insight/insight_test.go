package insight_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/services/analytics/internal/insight"
)

func TestScore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		worse, n int
		want     int32
	}{{0, 0, 0}, {0, 1, 1}, {0, 10, 1}, {1, 10, 1}, {2, 10, 2}, {5, 10, 3}, {9, 10, 5}, {4, 5, 5}, {1, 2, 3}}
	for _, tt := range tests {
		if got := insight.Score(tt.worse, tt.n); got != tt.want {
			t.Errorf("Score(%d, %d) = %d, want %d", tt.worse, tt.n, got, tt.want)
		}
	}
}

// TestComputeTies gives equal values equal scores, and leaves a customer
// with only older purchases unscored while keeping its lifetime figures.
func TestComputeTies(t *testing.T) {
	t.Parallel()
	end := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := insight.Window{Start: end.AddDate(0, -1, 0), End: end}
	day := func(n int) time.Time { return end.AddDate(0, 0, -n) }
	a, b, c, old := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	stats := []insight.PurchaseStats{
		{CustomerID: a, Frequency: 2, Monetary: 100, LastPurchase: day(3), LifetimeRevenue: 100, LifetimePurchases: 2, FirstPurchaseEver: day(10), LastPurchaseEver: day(3)},
		{CustomerID: b, Frequency: 2, Monetary: 100, LastPurchase: day(3), LifetimeRevenue: 100, LifetimePurchases: 2, FirstPurchaseEver: day(10), LastPurchaseEver: day(3)},
		{CustomerID: c, Frequency: 1, Monetary: 50, LastPurchase: day(20), LifetimeRevenue: 50, LifetimePurchases: 1, FirstPurchaseEver: day(20), LastPurchaseEver: day(20)},
		{CustomerID: old, LifetimeRevenue: 900, LifetimePurchases: 3, FirstPurchaseEver: day(400), LastPurchaseEver: day(100)},
	}
	vs := insight.Compute(stats, "EUR", w)
	got := map[uuid.UUID][3]int32{}
	for _, v := range vs {
		got[v.CustomerID] = [3]int32{v.RecencyScore, v.FrequencyScore, v.MonetaryScore}
	}
	// n = 3 scored: a and b each have one worse (c): 1 + floor(5/3) = 2.
	want := map[uuid.UUID][3]int32{a: {2, 2, 2}, b: {2, 2, 2}, c: {1, 1, 1}, old: {0, 0, 0}}
	if !cmp.Equal(got, want) {
		t.Fatalf("scores = %v, want %v", got, want)
	}
	o := vs[3]
	// 900 over 400 days is 821.25 a year; silent 100 days with a mean gap of
	// 133.3: 821.25 × exp(−0.75).
	if o.Scored || o.AnnualRevenue != 821 || o.PredictedValue != 388 || o.SuggestedTier != "" {
		t.Fatalf("older customer = %+v", o)
	}
}

func TestRankOffers(t *testing.T) {
	t.Parallel()
	p1, p2, p3 := uuid.New(), uuid.New(), uuid.New()
	base := []insight.OfferCandidate{
		{ProductID: p1, TogetherOrders: 5, BasketOrders: 10},
		{ProductID: p2, TogetherOrders: 4, BasketOrders: 10, SegmentBuyers: 2, SegmentSize: 4},
		{ProductID: p3, SegmentBuyers: 1, SegmentSize: 4, TierBuyers: 1, TierSize: 2},
	}
	ids := func(o insight.Offers) []uuid.UUID {
		var out []uuid.UUID
		for _, x := range o.Offers {
			out = append(out, x.ProductID)
		}
		return out
	}
	tests := []struct {
		name  string
		facts insight.OfferFacts
		limit int
		want  []uuid.UUID
	}{
		// p1: 0.3; p2: 0.24 + 0.125 = 0.365; p3: 0.0625 + 0.075 = 0.1375.
		{"by score", insight.OfferFacts{Candidates: base}, 5, []uuid.UUID{p2, p1, p3}},
		{"limited", insight.OfferFacts{Candidates: base}, 1, []uuid.UUID{p2}},
		{"rejected by the customer", insight.OfferFacts{Candidates: base, Rejected: []uuid.UUID{p2}}, 5, []uuid.UUID{p1, p3}},
		// p2 rejected twice elsewhere: 0.365 × 2 × 1/4 = 0.1825 < 0.3; p1 accepted once: 0.3 × 2 × 2/3 = 0.4.
		{"feedback of others", insight.OfferFacts{Candidates: []insight.OfferCandidate{
			{ProductID: p1, TogetherOrders: 5, BasketOrders: 10, Accepted: 1},
			{ProductID: p2, TogetherOrders: 4, BasketOrders: 10, SegmentBuyers: 2, SegmentSize: 4, Rejected: 2}}}, 5, []uuid.UUID{p1, p2}},
		{"open complaint", insight.OfferFacts{Candidates: base, OpenTickets: 1}, 5, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := insight.RankOffers(tt.facts, tt.limit)
			if !cmp.Equal(ids(got), tt.want) {
				t.Fatalf("RankOffers = %v, want %v", ids(got), tt.want)
			}
			if tt.facts.OpenTickets > 0 && got.Suppressed != insight.SuppressionOpenComplaint {
				t.Fatalf("RankOffers with an open ticket: suppression %v", got.Suppressed)
			}
		})
	}
}
