package tiering

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/services/analytics/internal/insight"
)

// TestDefaultThresholds keeps the defaults equal to the tier the 360 view shows.
func TestDefaultThresholds(t *testing.T) {
	t.Parallel()
	for r := int32(0); r <= 5; r++ {
		for f := int32(1); f <= 5; f++ {
			for m := int32(1); m <= 5; m++ {
				if got, want := DefaultThresholds.Tier(r, f, m), insight.SuggestTier(r, f, m); got != want {
					t.Fatalf("DefaultThresholds.Tier(%d, %d, %d) = %q, want insight's %q", r, f, m, got, want)
				}
			}
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		attempts int32
		want     time.Duration
	}{{1, MinRetry}, {2, 2 * MinRetry}, {3, 4 * MinRetry}, {8, MaxRetry}, {100, MaxRetry}}
	for _, tt := range tests {
		if got := backoff(tt.attempts); got != tt.want {
			t.Errorf("backoff(%d) = %v, want %v", tt.attempts, got, tt.want)
		}
	}
}

// TestRequestID is stable per customer and run, distinct across runs, and
// within the customer service's 64 characters.
func TestRequestID(t *testing.T) {
	t.Parallel()
	c, r1, r2 := uuid.New(), uuid.New(), uuid.New()
	a, b := Suggestion{CustomerID: c, RunID: r1}.RequestID(), Suggestion{CustomerID: c, RunID: r1}.RequestID()
	if a != b || a == (Suggestion{CustomerID: c, RunID: r2}.RequestID()) || len(a) > 64 {
		t.Fatalf("RequestID = %q, %q; want stable per run, distinct across runs, at most 64 characters", a, b)
	}
}
