package grpcapi_test

import (
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
)

func mask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

// slaEnv is a tenant with a round-the-clock catch-all policy (first
// response 1h, resolution 4h, warnings at 50 %, escalation to level 2) and
// a VIP policy with a 10-minute first response.
func slaEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	cal := e.calendar(t, roundTheClock()).GetCalendarId()
	e.policy(t, ticketv1SlaPolicy{CalendarId: cal}.build())
	e.policy(t, ticketv1SlaPolicy{CalendarId: cal, Tier: "VIP", FirstResponse: 10 * time.Minute, Resolution: 4 * time.Hour}.build())
	return e
}

func at(t *testing.T, tk *ticketv1.Ticket) time.Time { return tk.GetCreateTime().AsTime() }

func TestSLADueTimes(t *testing.T) {
	t.Parallel()
	e := slaEnv(t)
	agent := e.as(t, e.tenant, auth.RoleSupportAgent)
	tests := []struct {
		name             string
		tier             string
		priority         ticketv1.Priority
		wantFR, wantWarn time.Duration
	}{
		{"catch-all", "", ticketv1.Priority_PRIORITY_LOW, time.Hour, 30 * time.Minute},
		{"VIP", "VIP", ticketv1.Priority_PRIORITY_URGENT, 10 * time.Minute, 5 * time.Minute},
		{"unknown tier falls back", "B", ticketv1.Priority_PRIORITY_HIGH, time.Hour, 30 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := e.widget()
			in.CustomerTier, in.Priority = tt.tier, tt.priority
			tk := e.create(t, agent, in)
			sla := tk.GetSla()
			if sla == nil {
				t.Fatal("no SLA on the ticket")
			}
			if got := sla.GetFirstResponseDueTime().AsTime().Sub(at(t, tk)); got != tt.wantFR {
				t.Errorf("first response due after %v, want %v", got, tt.wantFR)
			}
			if got := sla.GetFirstResponseWarningTime().AsTime().Sub(at(t, tk)); got != tt.wantWarn {
				t.Errorf("first response warning after %v, want %v", got, tt.wantWarn)
			}
			if got := sla.GetResolutionDueTime().AsTime().Sub(at(t, tk)); got != 4*time.Hour {
				t.Errorf("resolution due after %v, want 4h", got)
			}
		})
	}
	t.Run("no policy", func(t *testing.T) {
		t.Parallel()
		other := e.as(t, e.other, auth.RoleSupportAgent)
		if tk := e.create(t, other, e.widget()); tk.GetSla() != nil {
			t.Fatalf("a tenant without policies got an SLA: %v", tk.GetSla())
		}
	})
}

// Office hours in London: due times skip nights and weekends.
func TestSLAOfficeHours(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cal := e.calendar(t, officeHours()).GetCalendarId()
	e.policy(t, ticketv1SlaPolicy{CalendarId: cal, Resolution: 8 * time.Hour, FirstResponse: -1}.build())
	tk := e.create(t, e.as(t, e.tenant, auth.RoleSupportAgent), e.widget())
	due := tk.GetSla().GetResolutionDueTime().AsTime()
	london, _ := time.LoadLocation("Europe/London")
	local := due.In(london)
	if local.Weekday() == time.Saturday || local.Weekday() == time.Sunday || local.Hour() < 9 || local.Hour()*60+local.Minute() > 17*60 {
		t.Fatalf("resolution due %v, want within office hours", local)
	}
	if tk.GetSla().GetFirstResponseDueTime() != nil {
		t.Fatalf("first response due %v, want none for a policy without that target", tk.GetSla().GetFirstResponseDueTime())
	}
}

// Waiting on the customer stops the clock; the due times move by the time
// it stood still.
func TestSLAPause(t *testing.T) {
	t.Parallel()
	e := slaEnv(t)
	agent := e.as(t, e.tenant, auth.RoleSupportAgent)
	tk := e.create(t, agent, e.widget())
	paused, err := e.transition(agent, tk.GetTicketId(), ticketv1.Status_STATUS_PENDING_CUSTOMER, "")
	if err != nil || !paused.GetSla().GetPaused() {
		t.Fatalf("pending customer = %v, %v; want a paused clock", paused.GetSla(), err)
	}
	// An hour passes while the customer looks for the receipt.
	if _, err := e.db.Owner.Exec(t.Context(), "UPDATE tickets SET sla_paused_since = sla_paused_since - interval '1 hour' WHERE ticket_id = $1", tk.GetTicketId()); err != nil {
		t.Fatal(err)
	}
	resumed, err := e.transition(agent, tk.GetTicketId(), ticketv1.Status_STATUS_OPEN, "")
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	sla := resumed.GetSla()
	p := sla.GetPausedDuration().AsDuration()
	if sla.GetPaused() || p < time.Hour || p > time.Hour+time.Minute {
		t.Fatalf("after resume: paused %v for %v, want running after about an hour", sla.GetPaused(), p)
	}
	if got, want := sla.GetFirstResponseDueTime().AsTime(), at(t, tk).Add(time.Hour+p); !got.Equal(want) {
		t.Fatalf("first response due %v, want %v (moved by the pause)", got, want)
	}
	if got, want := sla.GetResolutionDueTime().AsTime(), at(t, tk).Add(4*time.Hour+p); !got.Equal(want) {
		t.Fatalf("resolution due %v, want %v", got, want)
	}
}

func eventCounts(t *testing.T, e *env, id string) map[string]int {
	t.Helper()
	rows, err := e.db.Owner.Query(t.Context(), "SELECT type, count(*) FROM outbox WHERE resource = 'tickets/' || $1 GROUP BY type", id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var typ string
		var n int
		if err := rows.Scan(&typ, &n); err != nil {
			t.Fatal(err)
		}
		out[typ] = n
	}
	return out
}

// The service was down while everything fell due: the first sweep after
// the restart raises each warning and breach once, and escalates.
func TestWatcherAfterRestart(t *testing.T) {
	t.Parallel()
	e := slaEnv(t)
	agent := e.as(t, e.tenant, auth.RoleSupportAgent)
	late := e.create(t, agent, e.widget())
	answered := e.create(t, agent, e.widget())
	if _, err := e.client.RecordFirstResponse(agent, &ticketv1.RecordFirstResponseRequest{TicketId: answered.GetTicketId()}); err != nil {
		t.Fatalf("RecordFirstResponse: %v", err)
	}
	waiting := e.create(t, agent, e.widget())
	if _, err := e.transition(agent, waiting.GetTicketId(), ticketv1.Status_STATUS_PENDING_CUSTOMER, ""); err != nil {
		t.Fatal(err)
	}

	// Only the warning of the first response is due after 40 minutes.
	if fired, _, err := e.svc.Sweep(t.Context(), at(t, late).Add(40*time.Minute)); err != nil || fired != 1 {
		t.Fatalf("Sweep at 40m = %d, %v; want 1 ticket", fired, err)
	}
	restart := at(t, late).Add(5 * time.Hour)
	if _, _, err := e.svc.Sweep(t.Context(), restart); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if fired, seen, err := e.svc.Sweep(t.Context(), restart); err != nil || fired != 0 || seen != 0 {
		t.Fatalf("second Sweep = %d fired of %d, %v; want nothing left", fired, seen, err)
	}
	want := map[string]map[string]int{
		late.GetTicketId():     {"ticket.created": 1, "ticket.sla.warning": 2, "ticket.sla.breached": 2, "ticket.escalated": 2},
		answered.GetTicketId(): {"ticket.created": 1, "ticket.first_responded": 1, "ticket.sla.warning": 1, "ticket.sla.breached": 1, "ticket.escalated": 1},
		waiting.GetTicketId():  {"ticket.created": 1, "ticket.transitioned": 1},
	}
	for id, w := range want {
		got := eventCounts(t, e, id)
		for typ, n := range w {
			if got[typ] != n {
				t.Errorf("ticket %s: %d %s events, want %d (all: %v)", id, got[typ], typ, n, got)
			}
		}
	}
	got, err := e.client.GetTicket(agent, &ticketv1.GetTicketRequest{TicketId: late.GetTicketId()})
	if err != nil {
		t.Fatal(err)
	}
	sla := got.GetTicket().GetSla()
	if got.GetTicket().GetEscalationLevel() != 2 || sla.GetFirstResponseBreachedTime() == nil || sla.GetResolutionBreachedTime() == nil ||
		!sla.GetFirstResponseWarnedTime().AsTime().Equal(at(t, late).Add(40*time.Minute)) {
		t.Fatalf("late ticket = %v; want escalation 2, both breaches marked, the warning from the first sweep", got.GetTicket())
	}
	if n := e.count(t, "SELECT count(*) FROM outbox WHERE type LIKE 'ticket.%' AND payload_type <> 'rapport.ticket.v1.Ticket'"); n != 0 {
		t.Fatalf("%d ticket events without a Ticket payload", n)
	}
}

// Replicas sweeping at once raise each event once, for every tenant.
func TestWatcherReplicas(t *testing.T) {
	t.Parallel()
	e := slaEnv(t)
	var ids []string
	var latest time.Time
	for _, tenant := range []string{e.tenant, e.other} {
		if tenant == e.other {
			admin := e.as(t, e.other, auth.RoleAdmin)
			resp, err := e.client.CreateBusinessCalendar(admin, &ticketv1.CreateBusinessCalendarRequest{BusinessCalendar: roundTheClock()})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.client.CreateSlaPolicy(admin, &ticketv1.CreateSlaPolicyRequest{SlaPolicy: ticketv1SlaPolicy{CalendarId: resp.GetBusinessCalendar().GetCalendarId()}.build()}); err != nil {
				t.Fatal(err)
			}
		}
		for range 5 {
			tk := e.create(t, e.as(t, tenant, auth.RoleSupportAgent), e.widget())
			ids = append(ids, tk.GetTicketId())
			latest = at(t, tk)
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, _, err := e.svc.Sweep(t.Context(), latest.Add(2*time.Hour)); err != nil {
				t.Errorf("Sweep: %v", err)
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		got := eventCounts(t, e, id)
		// Both first-response events and the resolution warning.
		if got["ticket.sla.warning"] != 2 || got["ticket.sla.breached"] != 1 || got["ticket.escalated"] != 1 {
			t.Errorf("ticket %s events = %v, want 2 warnings, 1 breach, 1 escalation", id, got)
		}
	}
}
