package finance

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		minor int64
		bps   int32
		want  int64
	}{
		{10_000, 1000, 1000},
		{5_001, 500, 250},   // 250.05
		{5_010, 500, 251},   // 250.5 rounds away from zero
		{-5_010, 500, -251}, // and so do negatives
		{1, 10000, 1},
		{0, 700, 0},
	}
	for _, tt := range tests {
		if got := rate(tt.minor, tt.bps); got != tt.want {
			t.Errorf("rate(%d, %d) = %d, want %d", tt.minor, tt.bps, got, tt.want)
		}
	}
}

func TestBestRule(t *testing.T) {
	t.Parallel()
	d := func(s string) time.Time { v, _ := time.Parse(time.DateOnly, s); return v }
	product := uuid.NewString()
	anyRule := Rule{ID: uuid.Must(uuid.NewV7()), Kind: KindCommission, ValidFrom: d("2027-01-01"), DisplayName: "any"}
	tier := Rule{ID: uuid.Must(uuid.NewV7()), Kind: KindCommission, Tier: "gold", ValidFrom: d("2027-01-01"), DisplayName: "tier"}
	prod := Rule{ID: uuid.Must(uuid.NewV7()), Kind: KindCommission, ProductID: product, ValidFrom: d("2027-01-01"), ValidUntil: d("2027-02-01"), DisplayName: "product"}
	both := Rule{ID: uuid.Must(uuid.NewV7()), Kind: KindCommission, Tier: "gold", ProductID: product, ValidFrom: d("2027-01-10"), DisplayName: "both"}
	rules := []Rule{both, prod, tier, anyRule}
	tests := []struct {
		tier, product, day string
		want               string
	}{
		{"gold", product, "2027-01-15", "both"},
		{"gold", product, "2027-01-05", "product"},
		{"silver", product, "2027-01-05", "product"},
		{"gold", "", "2027-01-05", "tier"},
		{"silver", product, "2027-03-01", "any"},
		{"silver", "", "2026-12-31", ""},
	}
	for _, tt := range tests {
		got, ok := bestRule(rules, KindCommission, tt.tier, tt.product, d(tt.day))
		if (tt.want == "") == ok || (ok && got.DisplayName != tt.want) {
			t.Errorf("bestRule(%s, %q, %s) = %q, %v, want %q", tt.tier, tt.product, tt.day, got.DisplayName, ok, tt.want)
		}
	}
	if _, ok := bestRule(rules, KindRebate, "gold", product, d("2027-01-15")); ok {
		t.Error("a rebate fitted commission rules")
	}
}
