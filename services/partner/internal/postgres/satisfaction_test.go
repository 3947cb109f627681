package postgres_test

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/partner/internal/postgres"
	"github.com/rapportcrm/rapport/services/partner/internal/satisfaction"
)

// TestSatisfactionProjection checks the projection's writes: each event's
// change lands with its checkpoint, replays (even concurrent ones) change
// nothing, a CSAT answer takes its ticket's customer, and one tenant's
// projection is invisible to another.
func TestSatisfactionProjection(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	store := postgres.New(db.App)
	proj := store.Satisfaction()
	tenant, other := uuid.New(), uuid.New()
	partnerID, customer, ticket := uuid.New(), uuid.New(), uuid.New()
	at := time.Date(2027, 5, 3, 10, 0, 0, 0, time.UTC)
	link := satisfaction.Link{CustomerID: customer, PartnerID: partnerID, LinkTime: at.Add(-time.Hour)}
	answer := satisfaction.Answer{Kind: satisfaction.KindCSAT, Key: "s1", TicketID: ticket, Score: 2, AnswerTime: at}
	steps := []struct {
		source, cursor string
		change         satisfaction.Change
	}{
		{"customer", "c1", satisfaction.Change{Linked: &link}},
		{"ticket", "t1", satisfaction.Change{Ticket: &satisfaction.Ticket{TicketID: ticket, CustomerID: customer}}},
		{"ticket", "t2", satisfaction.Change{Answer: &answer}},
		// An answer of a ticket the projection never saw has no customer: dropped.
		{"ticket", "t3", satisfaction.Change{Answer: &satisfaction.Answer{Kind: satisfaction.KindCSAT, Key: "s2", TicketID: uuid.New(), Score: 5, AnswerTime: at}}},
		{"ticket", "t4", satisfaction.Change{}},
	}
	for _, st := range steps {
		// Four followers applying the same event at once (a restart
		// overlapping the old process) leave one row.
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() { errs[i] = proj.Apply(t.Context(), tenant, st.source, st.cursor, st.change) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("Apply(%s %s) = %v", st.source, st.cursor, err)
			}
		}
	}
	for source, want := range map[string]string{"customer": "c1", "ticket": "t4", "pipeline": ""} {
		if got, err := proj.Checkpoint(t.Context(), tenant, source); got != want || err != nil {
			t.Errorf("Checkpoint(%s) = %q, %v; want %q", source, got, err, want)
		}
	}
	if got, err := proj.Checkpoint(t.Context(), other, "ticket"); got != "" || err != nil {
		t.Errorf("other tenant's Checkpoint(ticket) = %q, %v; want none", got, err)
	}
	scorecards := store.Scorecards()
	figures := func(tenant uuid.UUID) satisfaction.Figures {
		t.Helper()
		caller := auth.Caller{TenantID: tenant.String(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAnalyst}}
		f, err := scorecards.HelpDesk(auth.WithCaller(t.Context(), caller), caller, partnerID, at.AddDate(0, 0, -1), at.AddDate(0, 0, 1))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	if got := figures(tenant); got != (satisfaction.Figures{CSATSum: 2, CSATCount: 1}) {
		t.Errorf("HelpDesk = %+v, want one answer of 2", got)
	}
	// The customer answers again: the answer is replaced, not added.
	again := answer
	again.Score, again.AnswerTime = 4, at.Add(time.Minute)
	if err := proj.Apply(t.Context(), tenant, "ticket", "t5", satisfaction.Change{Answer: &again}); err != nil {
		t.Fatal(err)
	}
	if got := figures(tenant); got != (satisfaction.Figures{CSATSum: 4, CSATCount: 1}) {
		t.Errorf("HelpDesk after a new answer = %+v, want the one answer of 4", got)
	}
	// Unlinking before the answer takes it away from the partner; a replay
	// of the unlink (with a later time) keeps the first time.
	for _, when := range []time.Time{at.Add(-time.Minute), at.Add(time.Hour)} {
		if err := proj.Apply(t.Context(), tenant, "customer", "c2", satisfaction.Change{Unlinked: &satisfaction.Unlink{Link: link, UnlinkTime: when}}); err != nil {
			t.Fatal(err)
		}
	}
	if got := figures(tenant); got != (satisfaction.Figures{}) {
		t.Errorf("HelpDesk after the unlink = %+v, want none", got)
	}
	if got := figures(other); got != (satisfaction.Figures{}) {
		t.Errorf("other tenant's HelpDesk = %+v, want none", got)
	}
}
