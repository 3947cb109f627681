package postgres_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

// TestApplyBatch applies a batch holding an event applied before and one
// repeated within it: each changes the read model once, the checkpoint
// counts the new ones and moves to the last new one, and a batch mixing
// sources is refused whole.
func TestApplyBatch(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	tenant, ada := uuid.New(), uuid.New()
	pipe := &stream{tenant: tenant, source: "pipeline"}
	opp := uuid.New()
	first := pipe.opportunity(opp, ada, analytics.StageProspecting, "EUR", 100, time.Minute)
	apply(t, s, first)
	second := pipe.opportunity(opp, ada, analytics.StageProposal, "EUR", 200, 2*time.Minute)
	third := pipe.opportunity(uuid.New(), ada, analytics.StageProspecting, "EUR", 50, 3*time.Minute)
	n, err := s.ApplyBatch(t.Context(), []analytics.Event{first, second, second, third})
	if err != nil || n != 2 {
		t.Fatalf("ApplyBatch = %d, %v; want 2 new", n, err)
	}
	feed, err := s.Feed(t.Context(), tenant, "pipeline")
	if err != nil || feed.Cursor != third.Cursor || feed.AppliedEvents != 3 {
		t.Fatalf("Feed = %+v, %v; want cursor %s after 3 applied events", feed, err, third.Cursor)
	}
	sum, err := s.Summary(t.Context(), tenant, ada)
	if err != nil || sum.OpenOpportunities != 2 || len(sum.OpenAmounts) != 1 || sum.OpenAmounts[0].AmountMinor != 250 {
		t.Fatalf("Summary = %+v, %v; want 2 open opportunities worth 250", sum, err)
	}
	if n, err := s.ApplyBatch(t.Context(), []analytics.Event{first, second, third}); err != nil || n != 0 {
		t.Fatalf("ApplyBatch(replayed) = %d, %v; want 0", n, err)
	}
	mixed := (&stream{tenant: tenant, source: "ticket"}).next("ticket.created", 4*time.Minute)
	if n, err := s.ApplyBatch(t.Context(), []analytics.Event{pipe.next("opportunity.deleted", 5*time.Minute), mixed}); err == nil || n != 0 {
		t.Fatalf("ApplyBatch(two sources) = %d, %v; want an error", n, err)
	}
}
