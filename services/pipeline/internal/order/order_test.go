package order

import (
	"math/big"
	"testing"
)

func TestConvert(t *testing.T) {
	t.Parallel()
	rat := func(s string) *big.Rat {
		r, _ := new(big.Rat).SetString(s)
		return r
	}
	tests := []struct {
		name     string
		amount   int64
		from, to string
		rate     string
		want     int64
		wantOK   bool
	}{
		{"pounds to euros", 10000, "GBP", "EUR", "1.1642", 11642, true},
		{"half a cent rounds away from zero", 1, "GBP", "EUR", "1.5", 2, true},
		{"negative half rounds away from zero", -1, "GBP", "EUR", "1.5", -2, true},
		{"to a currency without minor unit", 12345, "USD", "JPY", "150.25", 18548, true},
		{"from a currency without minor unit", 1000, "JPY", "USD", "0.0066", 660, true},
		{"inverse rate", 100, "EUR", "GBP", "0.858958", 86, true},
		{"too large", 1 << 62, "JPY", "KWD", "1000", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := Convert(tt.amount, tt.from, tt.to, rat(tt.rate))
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Convert(%d %s→%s at %s) = %d, %t; want %d, %t", tt.amount, tt.from, tt.to, tt.rate, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
