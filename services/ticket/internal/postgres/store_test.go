package postgres_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/ticket/internal/postgres"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

func newStore(t *testing.T) (*postgres.Store, *pgtest.DB) {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	return postgres.New(db.App), db
}

func agent() auth.Caller {
	return auth.Caller{TenantID: uuid.NewString(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleSupportAgent}}
}

func newTicket(customer uuid.UUID, s ticket.Status, p ticket.Priority, ch ticket.Channel) ticket.Ticket {
	return ticket.Ticket{ID: uuid.Must(uuid.NewV7()), CustomerID: customer, Subject: "Broken widget", Status: s, Priority: p, Channel: ch}
}

// ignoreServerFields drops what the database assigns.
var ignoreServerFields = cmpopts.IgnoreFields(ticket.Ticket{}, "CreateTime", "UpdateTime", "Revision")

func count(t *testing.T, db *pgtest.DB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Owner.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestCreateGet(t *testing.T) {
	t.Parallel()
	described := newTicket(uuid.New(), ticket.StatusOpen, ticket.PriorityUrgent, ticket.ChannelPhone)
	described.Description = "  It rattles.\n\nThen it stops.  "
	tests := []struct {
		name string
		in   ticket.Ticket
	}{
		{"no description", newTicket(uuid.New(), ticket.StatusNew, ticket.PriorityMedium, ticket.ChannelWeb)},
		{"with description", described},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, db := newStore(t)
			c := agent()
			saved, err := s.Create(t.Context(), c, tt.in, "")
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if diff := cmp.Diff(tt.in, saved, ignoreServerFields, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Create returned (-want +got):\n%s", diff)
			}
			if saved.Revision != 1 || saved.CreateTime.IsZero() {
				t.Errorf("Create = revision %d, create_time %v; want 1 and a time", saved.Revision, saved.CreateTime)
			}
			got, err := s.Get(t.Context(), c, tt.in.ID)
			if err != nil {
				t.Fatalf("Get(%s): %v", tt.in.ID, err)
			}
			if diff := cmp.Diff(saved, got); diff != "" {
				t.Errorf("Get(%s) (-created +got):\n%s", tt.in.ID, diff)
			}
			if n := count(t, db, "SELECT count(*) FROM outbox WHERE type = 'ticket.created' AND resource = $1", saved.Resource()); n != 1 {
				t.Errorf("outbox events for %s = %d, want 1", saved.Resource(), n)
			}
		})
	}
}

func TestCreateIdempotent(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	c := agent()
	first, err := s.Create(t.Context(), c, newTicket(uuid.New(), ticket.StatusNew, ticket.PriorityLow, ticket.ChannelEmail), "req-1")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	again, err := s.Create(t.Context(), c, newTicket(uuid.New(), ticket.StatusOpen, ticket.PriorityHigh, ticket.ChannelChat), "req-1")
	if err != nil {
		t.Fatalf("Create repeat: %v", err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Fatalf("repeated request_id (-first +repeat):\n%s", diff)
	}
	byReq, err := s.ByRequestID(t.Context(), c, "req-1")
	if err != nil || byReq.ID != first.ID {
		t.Fatalf("ByRequestID(req-1) = %v, %v; want %s", byReq.ID, err, first.ID)
	}
	if _, err := s.ByRequestID(t.Context(), c, "req-2"); !errors.Is(err, ticket.ErrNotFound) {
		t.Fatalf("ByRequestID(req-2) error = %v, want ErrNotFound", err)
	}
	// The same request_id in another tenant is another request.
	other, err := s.Create(t.Context(), agent(), newTicket(uuid.New(), ticket.StatusNew, ticket.PriorityLow, ticket.ChannelEmail), "req-1")
	if err != nil || other.ID == first.ID {
		t.Fatalf("Create(req-1) in another tenant = %v, %v; want a new ticket", other.ID, err)
	}
	rows := count(t, db, "SELECT count(*) FROM tickets")
	events := count(t, db, "SELECT count(*) FROM outbox")
	audits := count(t, db, "SELECT count(*) FROM audit_log")
	if rows != 2 || events != 2 || audits != 2 {
		t.Fatalf("after a repeated create: %d rows, %d events, %d audit rows; want 2 each", rows, events, audits)
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	c := agent()
	acme, globex := uuid.New(), uuid.New()
	seed := []ticket.Ticket{
		newTicket(acme, ticket.StatusNew, ticket.PriorityMedium, ticket.ChannelWeb),
		newTicket(globex, ticket.StatusOpen, ticket.PriorityHigh, ticket.ChannelPhone),
		newTicket(acme, ticket.StatusOpen, ticket.PriorityUrgent, ticket.ChannelWeb),
		newTicket(globex, ticket.StatusClosed, ticket.PriorityHigh, ticket.ChannelEmail),
		newTicket(acme, ticket.StatusOpen, ticket.PriorityLow, ticket.ChannelChat),
	}
	var created []ticket.Ticket // oldest first
	for _, tk := range seed {
		saved, err := s.Create(t.Context(), c, tk, "")
		if err != nil {
			t.Fatal(err)
		}
		created = append(created, saved)
	}
	newestFirst := func(pick ...int) []uuid.UUID {
		var out []uuid.UUID
		for i := len(created) - 1; i >= 0; i-- {
			for _, p := range pick {
				if p == i {
					out = append(out, created[i].ID)
				}
			}
		}
		return out
	}
	tests := []struct {
		name   string
		filter string
		want   []uuid.UUID
	}{
		{"all", "", newestFirst(0, 1, 2, 3, 4)},
		{"customer", `customer_id = "` + globex.String() + `"`, newestFirst(1, 3)},
		{"status", `status = STATUS_OPEN`, newestFirst(1, 2, 4)},
		{"priority", `priority = "PRIORITY_HIGH"`, newestFirst(1, 3)},
		{"channel", `channel = CHANNEL_WEB`, newestFirst(0, 2)},
		{"not closed for a customer", `status != STATUS_CLOSED AND customer_id = "` + globex.String() + `"`, newestFirst(1)},
		{"either channel", `channel = CHANNEL_CHAT OR channel = CHANNEL_EMAIL`, newestFirst(3, 4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []uuid.UUID
			token := ""
			for pages := 0; ; pages++ {
				if pages > len(created) {
					t.Fatalf("List(%q) does not end", tt.filter)
				}
				page, err := s.List(t.Context(), c, ticket.ListQuery{PageSize: 2, PageToken: token, Filter: tt.filter})
				if err != nil {
					t.Fatalf("List(%q): %v", tt.filter, err)
				}
				for _, tk := range page.Tickets {
					got = append(got, tk.ID)
				}
				if token = page.NextPageToken; token == "" {
					break
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("List(%q) ids (-want +got):\n%s", tt.filter, diff)
			}
		})
	}

	first, err := s.List(t.Context(), c, ticket.ListQuery{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name      string
		q         ticket.ListQuery
		wantField string
	}{
		{"unknown field", ticket.ListQuery{PageSize: 1, Filter: `subject = "x"`}, "filter"},
		{"value of another enum", ticket.ListQuery{PageSize: 1, Filter: `status = PRIORITY_HIGH`}, "filter"},
		{"bad uuid", ticket.ListQuery{PageSize: 1, Filter: `customer_id = "nope"`}, "filter"},
		{"garbage token", ticket.ListQuery{PageSize: 1, PageToken: "garbage"}, "page_token"},
		{"token of another filter", ticket.ListQuery{PageSize: 1, PageToken: first.NextPageToken, Filter: `status = STATUS_OPEN`}, "page_token"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := s.List(t.Context(), c, tt.q)
			var verr *validation.Error
			if !errors.As(err, &verr) || len(verr.Violations) != 1 || verr.Violations[0].Field != tt.wantField {
				t.Fatalf("List(%+v) error = %v, want a violation on %s", tt.q, err, tt.wantField)
			}
		})
	}
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	mine, theirs := agent(), agent()
	tk, err := s.Create(t.Context(), mine, newTicket(uuid.New(), ticket.StatusNew, ticket.PriorityMedium, ticket.ChannelWeb), "req-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(t.Context(), theirs, tk.ID); !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("Get(%s) as another tenant error = %v, want ErrNotFound", tk.ID, err)
	}
	if _, err := s.ByRequestID(t.Context(), theirs, "req-1"); !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("ByRequestID(req-1) as another tenant error = %v, want ErrNotFound", err)
	}
	page, err := s.List(t.Context(), theirs, ticket.ListQuery{PageSize: 10})
	if err != nil || len(page.Tickets) != 0 {
		t.Errorf("List as another tenant = %d rows, %v; want none", len(page.Tickets), err)
	}
	// The row is there: RLS, not a missing row, hides it.
	if n := count(t, db, "SELECT count(*) FROM tickets WHERE ticket_id = $1", tk.ID); n != 1 {
		t.Errorf("owner sees %d rows of %s, want 1", n, tk.ID)
	}
	// Even a query that names the tenant explicitly is filtered for the service role.
	var visible int
	if err := db.App.QueryRow(t.Context(), "SELECT count(*) FROM tickets WHERE tenant_id = $1", mine.TenantID).Scan(&visible); err != nil || visible != 0 {
		t.Errorf("service role without a tenant setting sees %d rows (%v), want 0", visible, err)
	}
}
