package rules_test

import (
	"math"
	"testing"

	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/rules"
)

func TestBps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		part, whole, want int64
	}{
		{50000, 100000, 5000},
		{1, 3, 3333},
		{-10000, 10000, -10000},
		{7, 0, 0},
		{math.MaxInt64, 1, math.MaxInt64},
		{math.MaxInt64 / 2, math.MaxInt64, 4999},
	}
	for _, tt := range tests {
		if got := rules.Bps(tt.part, tt.whole); got != tt.want {
			t.Errorf("Bps(%d, %d) = %d, want %d", tt.part, tt.whole, got, tt.want)
		}
	}
}

func TestTimeZoneAndPeriod(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, zone, start, end string
		want                   []string
	}{
		{name: "valid", zone: "Europe/Berlin", start: "2026-01-01", end: "2026-01-31"},
		{name: "defaults to UTC", start: "2026-01-01", end: "2026-01-01"},
		{name: "local is not a zone", zone: "Local", start: "2026-01-01", end: "2026-01-02", want: []string{"z"}},
		{name: "unknown zone and reversed", zone: "Nowhere/Else", start: "2026-02-01", end: "2026-01-01", want: []string{"z", "e"}},
		{name: "missing and malformed", start: "2026-02-30", want: []string{"s", "e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := &validation.Error{}
			zone := rules.TimeZone(tt.zone, "z", v)
			rules.Period(tt.start, tt.end, "s", "e", v)
			got := map[string]bool{}
			for _, x := range v.Violations {
				got[x.Field] = true
			}
			if len(got) != len(tt.want) {
				t.Fatalf("violations = %v, want %v", v.Violations, tt.want)
			}
			for _, f := range tt.want {
				if !got[f] {
					t.Errorf("violations = %v, want one on %s", v.Violations, f)
				}
			}
			if tt.zone == "" && zone != "UTC" {
				t.Errorf("TimeZone(\"\") = %q, want UTC", zone)
			}
		})
	}
}
