package postgres_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

// Finding due tickets is a range scan of the partial due-time index, not a
// scan of the table, however many tickets there are.
func TestDueTicketsUsesIndex(t *testing.T) {
	t.Parallel()
	_, db := newStore(t)
	conn, err := db.Owner.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	// The table is tiny here; forbid the sequential scan the planner
	// would rightly prefer (and the bitmap scan, which loses the order), to
	// see whether the index serves the query in order.
	if _, err := conn.Exec(t.Context(), "SET enable_seqscan = off; SET enable_bitmapscan = off"); err != nil {
		t.Fatal(err)
	}
	// The query the watcher's function runs, with its parameters numbered.
	var body string
	if err := conn.QueryRow(t.Context(), "SELECT prosrc FROM pg_proc WHERE proname = 'sla_due_tickets'").Scan(&body); err != nil {
		t.Fatal(err)
	}
	query := strings.NewReplacer("<= due", "<= $1", "LIMIT lim", "LIMIT $2").Replace(body)
	var plan string
	rows, err := conn.Query(t.Context(), "EXPLAIN "+query, time.Now(), 500)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan += line + "\n"
	}
	if !strings.Contains(plan, "Index Scan using tickets_sla_next_due") || strings.Contains(plan, "Sort") {
		t.Fatalf("plan of the due-ticket query:\n%s\nwant an ordered range scan of tickets_sla_next_due", plan)
	}
}

// The watcher sees every tenant's due tickets, and only due ones; a ticket
// already fired is not fired again.
func TestDueTicketsAcrossTenants(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	due := []uuid.UUID{}
	for _, c := range []struct {
		next time.Time
		due  bool
	}{{now.Add(-time.Hour), true}, {now.Add(-time.Minute), true}, {now.Add(time.Hour), false}} {
		caller := agent()
		tk := newTicket(uuid.New(), ticket.StatusNew, ticket.PriorityHigh, ticket.ChannelWeb)
		if _, err := s.Create(t.Context(), caller, tk, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Owner.Exec(t.Context(), "UPDATE tickets SET sla_next_due = $2 WHERE ticket_id = $1", tk.ID, c.next); err != nil {
			t.Fatal(err)
		}
		if c.due {
			due = append(due, tk.ID)
		}
	}
	refs, err := s.DueTickets(t.Context(), now, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 2 || refs[0].TicketID != due[0] || refs[1].TicketID != due[1] || refs[0].TenantID == refs[1].TenantID {
		t.Fatalf("DueTickets = %v, want the two due tickets of two tenants, earliest first", refs)
	}
	calls := 0
	fire := func(tk *ticket.Ticket) []string {
		calls++
		tk.SLA.NextDue = nil
		return []string{ticket.EventSLABreached}
	}
	if ok, err := s.Fire(t.Context(), refs[0], now, fire); err != nil || !ok {
		t.Fatalf("Fire = %v, %v; want fired", ok, err)
	}
	if ok, err := s.Fire(t.Context(), refs[0], now, fire); err != nil || ok || calls != 1 {
		t.Fatalf("second Fire = %v, %v after %d calls; want nothing to fire", ok, err, calls)
	}
	// A caller of another tenant cannot fire it: the ref carries the tenant.
	wrong := ticket.Ref{TenantID: uuid.NewString(), TicketID: refs[1].TicketID}
	if ok, err := s.Fire(t.Context(), wrong, now, fire); err != nil || ok {
		t.Fatalf("Fire under the wrong tenant = %v, %v; want nothing", ok, err)
	}
	if n := count(t, db, "SELECT count(*) FROM outbox WHERE type = $1", ticket.EventSLABreached); n != 1 {
		t.Fatalf("%d breach events, want 1", n)
	}
	// Without the watcher setting, RLS hides every tenant's tickets.
	if n := count(t, db, "SELECT count(*) FROM tickets"); n != 3 {
		t.Fatalf("owner sees %d tickets, want 3", n)
	}
}

// SweepDue keeps taking batches until every due ticket is raised, once:
// more than a batch fell due, as after an outage.
func TestSweepDueDrainsEveryBatch(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	late := ticket.SweepBatch + 20
	// Open tickets of two tenants with a running clock: the first late ones
	// an hour past their first-response target, one more not yet due.
	if _, err := db.Owner.Exec(t.Context(), `
INSERT INTO tickets (tenant_id, ticket_id, customer_id, subject, priority, status, channel, create_time, update_time,
    sla_policy_id, sla_first_response_target, first_response_due_time, sla_next_due)
SELECT CASE WHEN i % 2 = 0 THEN $1::uuid ELSE $2::uuid END, gen_random_uuid(), gen_random_uuid(), 'late', 2, 2, 1,
    $3::timestamptz - interval '5 hours', $3::timestamptz - interval '5 hours', gen_random_uuid(), 14400000000,
    CASE WHEN i < $4 THEN $3::timestamptz - interval '1 hour' ELSE $3::timestamptz + interval '3 hours' END,
    CASE WHEN i < $4 THEN $3::timestamptz - interval '1 hour' ELSE $3::timestamptz + interval '3 hours' END
FROM generate_series(0, $4) AS i`, uuid.New(), uuid.New(), now, late); err != nil {
		t.Fatal(err)
	}
	svc := ticket.New(s, nil, nil, nil)
	fired, err := svc.SweepDue(t.Context(), now)
	if err != nil || fired != late {
		t.Fatalf("SweepDue = %d, %v; want %d tickets raised", fired, err, late)
	}
	if n := count(t, db, "SELECT count(*) FROM outbox WHERE type = $1", ticket.EventSLABreached); n != late {
		t.Fatalf("%d breach events, want %d", n, late)
	}
	if n := count(t, db, "SELECT count(*) FROM tickets WHERE sla_next_due <= $1", now); n != 0 {
		t.Fatalf("%d tickets still due, want none", n)
	}
	if again, err := svc.SweepDue(t.Context(), now); err != nil || again != 0 {
		t.Fatalf("second SweepDue = %d, %v; want nothing to raise", again, err)
	}
}
