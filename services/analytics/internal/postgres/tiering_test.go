package postgres_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/services/analytics/internal/tiering"
)

// TestTierSuggestionQueue checks that only changed suggestions are queued,
// that an outcome is recorded for the run that made the suggestion only,
// and that tenants do not see each other's queue.
func TestTierSuggestionQueue(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := t.Context()
	tenant, other, ada := uuid.New(), uuid.New(), uuid.New()
	now := time.Now().UTC().Truncate(time.Microsecond)
	queue := func(tier string) tiering.Run {
		t.Helper()
		run := tiering.Run{ID: uuid.Must(uuid.NewV7()), CurrencyCode: "GBP", Scored: 1}
		n, err := s.QueueSuggestions(ctx, tenant, "", run, []tiering.Suggestion{{CustomerID: ada, Tier: tier, Reason: "r", RunID: run.ID}}, now)
		if err != nil {
			t.Fatalf("QueueSuggestions(%s): %v", tier, err)
		}
		run.Queued = n
		return run
	}
	first := queue("A")
	if again := queue("A"); first.Queued != 1 || again.Queued != 0 {
		t.Fatalf("queued %d then %d for the same tier, want 1 then 0", first.Queued, again.Queued)
	}
	second := queue("B")
	if second.Queued != 1 {
		t.Fatalf("queued %d for a changed tier, want 1", second.Queued)
	}
	// The first run's delivery outcome arrives late: it must not settle the second run's suggestion.
	if err := s.SettleSuggestion(ctx, tenant, tiering.Suggestion{CustomerID: ada, RunID: first.ID, State: tiering.StateDelivered}); err != nil {
		t.Fatalf("SettleSuggestion(first run): %v", err)
	}
	due, err := s.DueSuggestions(ctx, tenant, now, 10)
	if err != nil || len(due) != 1 || due[0].RunID != second.ID || due[0].Tier != "B" || due[0].State != tiering.StatePending {
		t.Fatalf("DueSuggestions = %+v, %v; want the second run's B, pending", due, err)
	}
	if due, err := s.DueSuggestions(ctx, tenant, now.Add(-time.Second), 10); err != nil || len(due) != 0 {
		t.Fatalf("DueSuggestions before due = %+v, %v; want none", due, err)
	}
	if err := s.SettleSuggestion(ctx, tenant, tiering.Suggestion{CustomerID: ada, RunID: second.ID, State: tiering.StateDelivered}); err != nil {
		t.Fatalf("SettleSuggestion(second run): %v", err)
	}
	if due, err := s.DueSuggestions(ctx, tenant, now, 10); err != nil || len(due) != 0 {
		t.Fatalf("DueSuggestions after delivery = %+v, %v; want none", due, err)
	}
	if got, _, err := s.Suggestions(ctx, other, tiering.StateUnspecified, "", 10); err != nil || len(got) != 0 {
		t.Fatalf("other tenant's Suggestions = %+v, %v; want none", got, err)
	}
}

// TestTierSettingsConcurrency saves settings from one revision at once:
// exactly one save wins, the others fail with ErrEtagMismatch.
func TestTierSettingsConcurrency(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	tenant := uuid.New()
	var wg sync.WaitGroup
	results := make([]error, 4)
	for i := range results {
		wg.Go(func() {
			in := tiering.DefaultSettings()
			in.Thresholds.B = int32(4 + i)
			_, results[i] = s.SaveTierSettings(t.Context(), tenant, "", in, time.Now())
		})
	}
	wg.Wait()
	won := 0
	for _, err := range results {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, tiering.ErrEtagMismatch):
			t.Fatalf("SaveTierSettings: %v, want nil or ErrEtagMismatch", err)
		}
	}
	got, err := s.TierSettings(t.Context(), tenant)
	if won != 1 || err != nil || got.Revision != 1 {
		t.Fatalf("%d saves won, settings %+v, %v; want one win at revision 1", won, got, err)
	}
}
