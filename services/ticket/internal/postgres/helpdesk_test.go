package postgres_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

func admin(tenant string) auth.Caller {
	return auth.Caller{TenantID: tenant, PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAdmin}}
}

// TestHelpdeskTablesIsolated writes a queue, member, routed ticket,
// assignment, message and survey in one tenant and checks that another
// tenant reaches none of them, while the rows exist.
func TestHelpdeskTablesIsolated(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	mine := admin(uuid.NewString())
	theirs := admin(uuid.NewString())
	q, err := s.CreateQueue(t.Context(), mine, ticket.Queue{ID: uuid.Must(uuid.NewV7()), DisplayName: "Q", Strategy: ticket.StrategyRoundRobin}, "q-1")
	if err != nil {
		t.Fatal(err)
	}
	agentID := uuid.New()
	if _, err := s.SetMember(t.Context(), mine, ticket.Member{QueueID: q.ID, PrincipalID: agentID, Capacity: 5}); err != nil {
		t.Fatal(err)
	}
	tk := newTicket(uuid.New(), ticket.StatusNew, ticket.PriorityMedium, ticket.ChannelWeb)
	tk.QueueID = q.ID
	route := func(t *ticket.Ticket, r ticket.Routing) (ticket.Assignment, error) {
		t.AssigneeID = r.Candidates[0].PrincipalID
		return ticket.Assignment{ID: uuid.Must(uuid.NewV7()), TicketID: t.ID, QueueID: q.ID, AssigneeID: t.AssigneeID,
			Reason: ticket.AssignCreated, PrincipalID: mine.PrincipalID, CreateTime: time.Now()}, nil
	}
	saved, err := s.CreateRouted(t.Context(), mine, tk, "", route)
	if err != nil || saved.AssigneeID != agentID {
		t.Fatalf("CreateRouted = %v, %v; want assignee %s", saved.AssigneeID, err, agentID)
	}
	msg := ticket.Message{ID: uuid.Must(uuid.NewV7()), TicketID: saved.ID, Visibility: ticket.VisibilityInternal,
		AuthorKind: ticket.AuthorAgent, AuthorID: mine.PrincipalID, Body: "note", Attachments: []ticket.Attachment{}, CreateTime: time.Now()}
	if _, err := s.AddMessage(t.Context(), mine, msg, "m-1", func(*ticket.Ticket) (string, error) { return "", nil }); err != nil {
		t.Fatal(err)
	}

	if _, err := s.Queue(t.Context(), theirs, q.ID); !errors.Is(err, ticket.ErrQueueNotFound) {
		t.Errorf("Queue as another tenant = %v, want ErrQueueNotFound", err)
	}
	if _, _, err := s.ListMembers(t.Context(), theirs, q.ID, 10, ""); !errors.Is(err, ticket.ErrQueueNotFound) {
		t.Errorf("ListMembers as another tenant = %v, want ErrQueueNotFound", err)
	}
	if _, _, err := s.Messages(t.Context(), theirs, saved.ID, false, 10, ""); !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("Messages as another tenant = %v, want ErrNotFound", err)
	}
	if _, _, err := s.Assignments(t.Context(), theirs, saved.ID, 10, ""); !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("Assignments as another tenant = %v, want ErrNotFound", err)
	}
	_, err = s.AddMessage(t.Context(), theirs, msg, "", func(*ticket.Ticket) (string, error) { return "", nil })
	if !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("AddMessage as another tenant = %v, want ErrNotFound", err)
	}
	for table, want := range map[string]int{"queues": 1, "queue_members": 1, "ticket_assignments": 1, "ticket_messages": 1} {
		if n := count(t, db, "SELECT count(*) FROM "+table); n != want {
			t.Errorf("owner sees %d rows in %s, want %d", n, table, want)
		}
		var visible int
		if err := db.App.QueryRow(t.Context(), "SELECT count(*) FROM "+table).Scan(&visible); err != nil || visible != 0 {
			t.Errorf("service role without a tenant sees %d rows of %s (%v), want 0", visible, table, err)
		}
	}
	// Membership repeats replace the member; the message's request id makes a retry a no-op.
	if _, err := s.SetMember(t.Context(), mine, ticket.Member{QueueID: q.ID, PrincipalID: agentID, Capacity: 7}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddMessage(t.Context(), mine, ticket.Message{ID: uuid.Must(uuid.NewV7()), TicketID: saved.ID, Visibility: ticket.VisibilityPublic,
		AuthorKind: ticket.AuthorAgent, AuthorID: mine.PrincipalID, Body: "again", Attachments: []ticket.Attachment{}, CreateTime: time.Now()},
		"m-1", func(*ticket.Ticket) (string, error) { return "", nil }); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "SELECT count(*) FROM ticket_messages"); n != 1 {
		t.Errorf("messages after a retried request id = %d, want 1", n)
	}
	if n := count(t, db, "SELECT capacity FROM queue_members"); n != 7 {
		t.Errorf("capacity after SetMember again = %d, want 7", n)
	}
}
