package grpcapi_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
)

// reason returns the ErrorInfo reason of err's status.
func reason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// officeHours is Monday to Friday, 09:00–17:00 in London.
func officeHours() *ticketv1.BusinessCalendar {
	c := &ticketv1.BusinessCalendar{DisplayName: "London office", TimeZone: "Europe/London", Holidays: []string{"2024-12-25"}}
	for d := ticketv1.Weekday_WEEKDAY_MONDAY; d <= ticketv1.Weekday_WEEKDAY_FRIDAY; d++ {
		c.WorkingHours = append(c.WorkingHours, &ticketv1.WorkingInterval{Weekday: d, StartMinute: 9 * 60, EndMinute: 17 * 60})
	}
	return c
}

// roundTheClock works every minute in UTC, so business time is real time.
func roundTheClock() *ticketv1.BusinessCalendar {
	c := &ticketv1.BusinessCalendar{DisplayName: "24/7", TimeZone: "UTC"}
	for d := ticketv1.Weekday_WEEKDAY_MONDAY; d <= ticketv1.Weekday_WEEKDAY_SUNDAY; d++ {
		c.WorkingHours = append(c.WorkingHours, &ticketv1.WorkingInterval{Weekday: d, StartMinute: 0, EndMinute: 1440})
	}
	return c
}

func (e *env) calendar(t *testing.T, c *ticketv1.BusinessCalendar) *ticketv1.BusinessCalendar {
	t.Helper()
	resp, err := e.client.CreateBusinessCalendar(e.admin(t), &ticketv1.CreateBusinessCalendarRequest{BusinessCalendar: c})
	if err != nil {
		t.Fatalf("CreateBusinessCalendar: %v", err)
	}
	return resp.GetBusinessCalendar()
}

func (e *env) policy(t *testing.T, p *ticketv1.SlaPolicy) *ticketv1.SlaPolicy {
	t.Helper()
	resp, err := e.client.CreateSlaPolicy(e.admin(t), &ticketv1.CreateSlaPolicyRequest{SlaPolicy: p})
	if err != nil {
		t.Fatalf("CreateSlaPolicy: %v", err)
	}
	return resp.GetSlaPolicy()
}

func (e *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	// Cleanups count too, after the test's context has ended.
	if err := e.db.Owner.QueryRow(context.WithoutCancel(t.Context()), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestCalendarInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	with := func(f func(c *ticketv1.BusinessCalendar)) *ticketv1.BusinessCalendar {
		c := officeHours()
		f(c)
		return c
	}
	tests := []struct {
		name  string
		in    *ticketv1.BusinessCalendar
		field string
	}{
		{"overlapping intervals", with(func(c *ticketv1.BusinessCalendar) {
			c.WorkingHours = append(c.WorkingHours, &ticketv1.WorkingInterval{Weekday: ticketv1.Weekday_WEEKDAY_MONDAY, StartMinute: 16 * 60, EndMinute: 18 * 60})
		}), "business_calendar.working_hours[5]"},
		{"unknown zone", with(func(c *ticketv1.BusinessCalendar) { c.TimeZone = "Europe/Atlantis" }), "business_calendar.time_zone"},
		{"no zone", with(func(c *ticketv1.BusinessCalendar) { c.TimeZone = "" }), "business_calendar.time_zone"},
		{"no hours", with(func(c *ticketv1.BusinessCalendar) { c.WorkingHours = nil }), "business_calendar.working_hours"},
		{"end before start", with(func(c *ticketv1.BusinessCalendar) { c.WorkingHours[0].EndMinute = 8 * 60 }), "business_calendar.working_hours[0]"},
		{"past midnight", with(func(c *ticketv1.BusinessCalendar) { c.WorkingHours[0].EndMinute = 1500 }), "business_calendar.working_hours[0]"},
		{"no weekday", with(func(c *ticketv1.BusinessCalendar) { c.WorkingHours[0].Weekday = 0 }), "business_calendar.working_hours[0].weekday"},
		{"bad holiday", with(func(c *ticketv1.BusinessCalendar) { c.Holidays = []string{"25/12/2024"} }), "business_calendar.holidays[0]"},
		{"no name", with(func(c *ticketv1.BusinessCalendar) { c.DisplayName = " " }), "business_calendar.display_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.client.CreateBusinessCalendar(e.admin(t), &ticketv1.CreateBusinessCalendarRequest{BusinessCalendar: tt.in})
			if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.field] {
				t.Fatalf("CreateBusinessCalendar error = %v, want InvalidArgument on %s", err, tt.field)
			}
		})
	}
	t.Cleanup(func() {
		if n := e.count(t, "SELECT count(*) FROM business_calendars"); n != 0 {
			t.Errorf("%d calendars written by invalid requests", n)
		}
	})
}

func TestCalendarCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.admin(t)
	c := e.calendar(t, officeHours())
	if got, err := e.client.GetBusinessCalendar(e.as(t, e.tenant, auth.RoleAnalyst), &ticketv1.GetBusinessCalendarRequest{CalendarId: c.GetCalendarId()}); err != nil || len(got.GetBusinessCalendar().GetWorkingHours()) != 5 || got.GetBusinessCalendar().GetHolidays()[0] != "2024-12-25" {
		t.Fatalf("GetBusinessCalendar = %v, %v; want the five office days and Christmas", got, err)
	}
	c.DisplayName = "London"
	c.WorkingHours = append(c.WorkingHours, &ticketv1.WorkingInterval{Weekday: ticketv1.Weekday_WEEKDAY_SUNDAY, StartMinute: 600, EndMinute: 720})
	up, err := e.client.UpdateBusinessCalendar(admin, &ticketv1.UpdateBusinessCalendarRequest{BusinessCalendar: c, UpdateMask: mask("display_name", "working_hours")})
	if err != nil || up.GetBusinessCalendar().GetDisplayName() != "London" || len(up.GetBusinessCalendar().GetWorkingHours()) != 6 || up.GetBusinessCalendar().GetEtag() != "2" {
		t.Fatalf("UpdateBusinessCalendar = %v, %v", up, err)
	}
	if _, err := e.client.UpdateBusinessCalendar(admin, &ticketv1.UpdateBusinessCalendarRequest{BusinessCalendar: c, UpdateMask: mask("display_name")}); status.Code(err) != codes.Aborted {
		t.Fatalf("UpdateBusinessCalendar with a stale etag = %v, want Aborted", err)
	}
	list, err := e.client.ListBusinessCalendars(admin, &ticketv1.ListBusinessCalendarsRequest{})
	if err != nil || len(list.GetBusinessCalendars()) != 1 {
		t.Fatalf("ListBusinessCalendars = %v, %v; want one", list, err)
	}
	// In use by a policy: refused, and kept.
	p := e.policy(t, ticketv1SlaPolicy{CalendarId: c.GetCalendarId()}.build())
	_, err = e.client.DeleteBusinessCalendar(admin, &ticketv1.DeleteBusinessCalendarRequest{CalendarId: c.GetCalendarId()})
	if status.Code(err) != codes.FailedPrecondition || reason(err) != "BUSINESS_CALENDAR_IN_USE" {
		t.Fatalf("DeleteBusinessCalendar in use = %v, want FailedPrecondition BUSINESS_CALENDAR_IN_USE", err)
	}
	if _, err := e.client.DeleteSlaPolicy(admin, &ticketv1.DeleteSlaPolicyRequest{SlaPolicyId: p.GetSlaPolicyId()}); err != nil {
		t.Fatalf("DeleteSlaPolicy: %v", err)
	}
	if _, err := e.client.DeleteBusinessCalendar(admin, &ticketv1.DeleteBusinessCalendarRequest{CalendarId: c.GetCalendarId()}); err != nil {
		t.Fatalf("DeleteBusinessCalendar: %v", err)
	}
	if _, err := e.client.GetBusinessCalendar(admin, &ticketv1.GetBusinessCalendarRequest{CalendarId: c.GetCalendarId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetBusinessCalendar after delete = %v, want NotFound", err)
	}
	if n := e.count(t, "SELECT count(*) FROM outbox WHERE type LIKE 'business_calendar.%'"); n != 3 {
		t.Fatalf("%d calendar events, want created, updated, deleted", n)
	}
}

// ticketv1SlaPolicy builds policies with defaults for the fields a test
// does not care about.
type ticketv1SlaPolicy struct {
	CalendarId    string
	Tier          string
	Priority      ticketv1.Priority
	FirstResponse time.Duration
	Resolution    time.Duration
}

func (p ticketv1SlaPolicy) build() *ticketv1.SlaPolicy {
	m := &ticketv1.SlaPolicy{DisplayName: "Standard", CalendarId: p.CalendarId, CustomerTier: p.Tier, Priority: p.Priority,
		WarningPercent: 50, EscalationLevel: 2}
	if p.FirstResponse == 0 && p.Resolution == 0 {
		p.FirstResponse, p.Resolution = time.Hour, 4*time.Hour
	}
	if p.FirstResponse > 0 {
		m.FirstResponseTarget = durationpb.New(p.FirstResponse)
	}
	if p.Resolution > 0 {
		m.ResolutionTarget = durationpb.New(p.Resolution)
	}
	return m
}

func TestPolicyInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cal := e.calendar(t, officeHours()).GetCalendarId()
	e.policy(t, ticketv1SlaPolicy{CalendarId: cal, Tier: "VIP"}.build())
	with := func(f func(p *ticketv1.SlaPolicy)) *ticketv1.SlaPolicy {
		p := ticketv1SlaPolicy{CalendarId: cal}.build()
		f(p)
		return p
	}
	tests := []struct {
		name   string
		in     *ticketv1.SlaPolicy
		code   codes.Code
		fields []string
	}{
		{"no targets", with(func(p *ticketv1.SlaPolicy) { p.FirstResponseTarget, p.ResolutionTarget = nil, nil }),
			codes.InvalidArgument, []string{"sla_policy.first_response_target", "sla_policy.resolution_target"}},
		{"negative target", with(func(p *ticketv1.SlaPolicy) { p.ResolutionTarget = durationpb.New(-time.Hour) }),
			codes.InvalidArgument, []string{"sla_policy.resolution_target"}},
		{"no calendar", with(func(p *ticketv1.SlaPolicy) { p.CalendarId = "" }), codes.InvalidArgument, []string{"sla_policy.calendar_id"}},
		{"unknown calendar", with(func(p *ticketv1.SlaPolicy) { p.CalendarId = uuid.NewString() }), codes.InvalidArgument, []string{"sla_policy.calendar_id"}},
		{"warning over 99", with(func(p *ticketv1.SlaPolicy) { p.WarningPercent = 120 }), codes.InvalidArgument, []string{"sla_policy.warning_percent"}},
		{"escalation too high", with(func(p *ticketv1.SlaPolicy) { p.EscalationLevel = 11 }), codes.InvalidArgument, []string{"sla_policy.escalation_level"}},
		{"same priority and tier", with(func(p *ticketv1.SlaPolicy) { p.CustomerTier = "VIP" }), codes.AlreadyExists, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.client.CreateSlaPolicy(e.admin(t), &ticketv1.CreateSlaPolicyRequest{SlaPolicy: tt.in})
			if status.Code(err) != tt.code {
				t.Fatalf("CreateSlaPolicy error = %v, want %v", err, tt.code)
			}
			for _, f := range tt.fields {
				if !grpctest.Violations(err)[f] {
					t.Errorf("CreateSlaPolicy error = %v, want a violation on %s", err, f)
				}
			}
		})
	}
	t.Cleanup(func() {
		if n := e.count(t, "SELECT count(*) FROM sla_policies"); n != 1 {
			t.Errorf("%d policies stored, want only the valid one", n)
		}
	})
}

func TestConfigAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cal := e.calendar(t, officeHours())
	tests := []struct {
		name string
		call func(ctx context.Context) error
		ctx  context.Context
		want codes.Code
	}{
		{"agent creates a calendar", func(ctx context.Context) error {
			_, err := e.client.CreateBusinessCalendar(ctx, &ticketv1.CreateBusinessCalendarRequest{BusinessCalendar: officeHours()})
			return err
		}, e.as(t, e.tenant, auth.RoleSupportAgent), codes.PermissionDenied},
		{"agent creates a policy", func(ctx context.Context) error {
			_, err := e.client.CreateSlaPolicy(ctx, &ticketv1.CreateSlaPolicyRequest{SlaPolicy: ticketv1SlaPolicy{CalendarId: cal.GetCalendarId()}.build()})
			return err
		}, e.as(t, e.tenant, auth.RoleSupportAgent), codes.PermissionDenied},
		{"analyst changes settings", func(ctx context.Context) error {
			_, err := e.client.UpdateTicketSettings(ctx, &ticketv1.UpdateTicketSettingsRequest{Settings: &ticketv1.TicketSettings{ReopenWindow: durationpb.New(time.Hour)}, UpdateMask: mask("reopen_window")})
			return err
		}, e.as(t, e.tenant, auth.RoleAnalyst), codes.PermissionDenied},
		{"partner reads a calendar", func(ctx context.Context) error {
			_, err := e.client.GetBusinessCalendar(ctx, &ticketv1.GetBusinessCalendarRequest{CalendarId: cal.GetCalendarId()})
			return err
		}, e.as(t, e.tenant, auth.RolePartnerUser), codes.PermissionDenied},
		{"another tenant's calendar", func(ctx context.Context) error {
			_, err := e.client.GetBusinessCalendar(ctx, &ticketv1.GetBusinessCalendarRequest{CalendarId: cal.GetCalendarId()})
			return err
		}, e.as(t, e.other, auth.RoleAdmin), codes.NotFound},
		{"another tenant deletes it", func(ctx context.Context) error {
			_, err := e.client.DeleteBusinessCalendar(ctx, &ticketv1.DeleteBusinessCalendarRequest{CalendarId: cal.GetCalendarId()})
			return err
		}, e.as(t, e.other, auth.RoleAdmin), codes.NotFound},
		{"agent reads settings", func(ctx context.Context) error {
			_, err := e.client.GetTicketSettings(ctx, &ticketv1.GetTicketSettingsRequest{})
			return err
		}, e.as(t, e.tenant, auth.RoleSupportAgent), codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.call(tt.ctx); status.Code(err) != tt.want {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
		})
	}
}

func (e *env) transition(ctx context.Context, id string, to ticketv1.Status, note string) (*ticketv1.Ticket, error) {
	resp, err := e.client.TransitionTicket(ctx, &ticketv1.TransitionTicketRequest{TicketId: id, Status: to, Note: note})
	return resp.GetTicket(), err
}

func TestTransitions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	agent := e.as(t, e.tenant, auth.RoleSupportAgent)
	tk := e.create(t, agent, e.widget())
	id := tk.GetTicketId()

	steps := []struct {
		to     ticketv1.Status
		note   string
		code   codes.Code
		reason string
		field  string
	}{
		{to: ticketv1.Status_STATUS_CLOSED, code: codes.FailedPrecondition, reason: "TRANSITION_NOT_ALLOWED"},
		{to: ticketv1.Status_STATUS_RESOLVED, code: codes.InvalidArgument, field: "note"},
		{to: ticketv1.Status_STATUS_UNSPECIFIED, code: codes.InvalidArgument, field: "status"},
		{to: ticketv1.Status_STATUS_OPEN},
		{to: ticketv1.Status_STATUS_OPEN, code: codes.FailedPrecondition, reason: "TRANSITION_NOT_ALLOWED"},
		{to: ticketv1.Status_STATUS_PENDING_CUSTOMER, note: "asked for the serial number"},
		{to: ticketv1.Status_STATUS_OPEN},
		{to: ticketv1.Status_STATUS_RESOLVED, note: "replaced the widget"},
		{to: ticketv1.Status_STATUS_CLOSED},
		{to: ticketv1.Status_STATUS_OPEN, code: codes.FailedPrecondition, reason: "TRANSITION_NOT_ALLOWED"},
		{to: ticketv1.Status_STATUS_REOPENED, note: "rattles again"},
		{to: ticketv1.Status_STATUS_RESOLVED, note: "tightened the screw"},
	}
	for i, s := range steps {
		got, err := e.transition(agent, id, s.to, s.note)
		if status.Code(err) != s.code || (s.reason != "" && reason(err) != s.reason) || (s.field != "" && !grpctest.Violations(err)[s.field]) {
			t.Fatalf("step %d: TransitionTicket(%v) error = %v, want %v %s%s", i, s.to, err, s.code, s.reason, s.field)
		}
		if err == nil && got.GetStatus() != s.to {
			t.Fatalf("step %d: status = %v, want %v", i, got.GetStatus(), s.to)
		}
	}
	got, err := e.client.GetTicket(agent, &ticketv1.GetTicketRequest{TicketId: id})
	if err != nil || got.GetTicket().GetResolutionNote() != "tightened the screw" || got.GetTicket().GetResolveTime() == nil || got.GetTicket().GetCloseTime() != nil {
		t.Fatalf("GetTicket = %v, %v; want the last resolution and no close time", got, err)
	}

	// The log lists the successful moves, oldest first, a page at a time.
	var log []*ticketv1.TicketTransition
	token := ""
	for {
		page, err := e.client.ListTicketTransitions(e.as(t, e.tenant, auth.RoleAnalyst), &ticketv1.ListTicketTransitionsRequest{TicketId: id, PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatalf("ListTicketTransitions: %v", err)
		}
		log = append(log, page.GetTransitions()...)
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	want := []ticketv1.Status{ticketv1.Status_STATUS_OPEN, ticketv1.Status_STATUS_PENDING_CUSTOMER, ticketv1.Status_STATUS_OPEN,
		ticketv1.Status_STATUS_RESOLVED, ticketv1.Status_STATUS_CLOSED, ticketv1.Status_STATUS_REOPENED, ticketv1.Status_STATUS_RESOLVED}
	if len(log) != len(want) {
		t.Fatalf("log has %d entries, want %d", len(log), len(want))
	}
	from := ticketv1.Status_STATUS_NEW
	for i, tr := range log {
		if tr.GetFromStatus() != from || tr.GetToStatus() != want[i] {
			t.Fatalf("log[%d] = %v → %v, want %v → %v", i, tr.GetFromStatus(), tr.GetToStatus(), from, want[i])
		}
		from = want[i]
	}
	if n := e.count(t, "SELECT count(*) FROM outbox WHERE type = 'ticket.transitioned' AND payload_type = 'rapport.ticket.v1.Ticket'"); n != len(want) {
		t.Fatalf("%d ticket.transitioned events with Ticket payloads, want %d", n, len(want))
	}
	if _, err := e.client.ListTicketTransitions(e.as(t, e.other, auth.RoleAdmin), &ticketv1.ListTicketTransitionsRequest{TicketId: id}); status.Code(err) != codes.NotFound {
		t.Fatalf("ListTicketTransitions of another tenant = %v, want NotFound", err)
	}
}

func TestTransitionRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	agent := e.as(t, e.tenant, auth.RoleSupportAgent)
	resolved := func(t *testing.T) string {
		id := e.create(t, agent, e.widget()).GetTicketId()
		if _, err := e.transition(agent, id, ticketv1.Status_STATUS_RESOLVED, "fixed"); err != nil {
			t.Fatalf("resolve: %v", err)
		}
		return id
	}
	t.Run("reopen after the window", func(t *testing.T) {
		t.Parallel()
		id := resolved(t)
		if _, err := e.db.Owner.Exec(t.Context(), "UPDATE tickets SET resolve_time = now() - interval '8 days' WHERE ticket_id = $1", id); err != nil {
			t.Fatal(err)
		}
		_, err := e.transition(agent, id, ticketv1.Status_STATUS_REOPENED, "")
		if status.Code(err) != codes.FailedPrecondition || reason(err) != "REOPEN_WINDOW_PASSED" {
			t.Fatalf("reopen after 8 days = %v, want FailedPrecondition REOPEN_WINDOW_PASSED", err)
		}
		got, _ := e.client.GetTicket(agent, &ticketv1.GetTicketRequest{TicketId: id})
		if got.GetTicket().GetStatus() != ticketv1.Status_STATUS_RESOLVED || e.count(t, "SELECT count(*) FROM ticket_transitions WHERE ticket_id = $1", id) != 1 {
			t.Fatalf("a refused reopen changed the ticket: %v", got)
		}
	})
	t.Run("the tenant's window", func(t *testing.T) {
		t.Parallel()
		id := resolved(t)
		if _, err := e.db.Owner.Exec(t.Context(), "UPDATE tickets SET resolve_time = now() - interval '8 days' WHERE ticket_id = $1", id); err != nil {
			t.Fatal(err)
		}
		other := e.as(t, e.other, auth.RoleAdmin)
		if _, err := e.client.UpdateTicketSettings(other, &ticketv1.UpdateTicketSettingsRequest{Settings: &ticketv1.TicketSettings{ReopenWindow: durationpb.New(30 * 24 * time.Hour)}, UpdateMask: mask("reopen_window")}); err != nil {
			t.Fatalf("UpdateTicketSettings: %v", err)
		}
		// Another tenant's longer window changes nothing here.
		if _, err := e.transition(agent, id, ticketv1.Status_STATUS_REOPENED, ""); status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("reopen = %v, want FailedPrecondition", err)
		}
	})
	t.Run("stale etag", func(t *testing.T) {
		t.Parallel()
		tk := e.create(t, agent, e.widget())
		_, err := e.client.TransitionTicket(agent, &ticketv1.TransitionTicketRequest{TicketId: tk.GetTicketId(), Status: ticketv1.Status_STATUS_OPEN, Etag: "7"})
		if status.Code(err) != codes.Aborted {
			t.Fatalf("TransitionTicket with a stale etag = %v, want Aborted", err)
		}
	})
	t.Run("repeated request", func(t *testing.T) {
		t.Parallel()
		tk := e.create(t, agent, e.widget())
		req := &ticketv1.TransitionTicketRequest{TicketId: tk.GetTicketId(), Status: ticketv1.Status_STATUS_RESOLVED, Note: "done", RequestId: "r-1"}
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() { _, errs[i] = e.client.TransitionTicket(agent, req) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("TransitionTicket repeat: %v", err)
			}
		}
		if n := e.count(t, "SELECT count(*) FROM ticket_transitions WHERE ticket_id = $1", tk.GetTicketId()); n != 1 {
			t.Fatalf("%d transitions logged for one request_id, want 1", n)
		}
	})
	t.Run("created closed", func(t *testing.T) {
		t.Parallel()
		in := e.widget()
		in.Status = ticketv1.Status_STATUS_CLOSED
		_, err := e.client.CreateTicket(agent, &ticketv1.CreateTicketRequest{Ticket: in})
		if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)["ticket.status"] {
			t.Fatalf("CreateTicket closed = %v, want InvalidArgument on ticket.status", err)
		}
	})
	t.Run("analyst", func(t *testing.T) {
		t.Parallel()
		tk := e.create(t, agent, e.widget())
		if _, err := e.transition(e.as(t, e.tenant, auth.RoleAnalyst), tk.GetTicketId(), ticketv1.Status_STATUS_OPEN, ""); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("analyst transition = %v, want PermissionDenied", err)
		}
	})
	t.Run("another tenant", func(t *testing.T) {
		t.Parallel()
		tk := e.create(t, agent, e.widget())
		if _, err := e.transition(e.as(t, e.other, auth.RoleAdmin), tk.GetTicketId(), ticketv1.Status_STATUS_OPEN, ""); status.Code(err) != codes.NotFound {
			t.Fatalf("other tenant's transition = %v, want NotFound", err)
		}
	})
}

func TestUpdateTicket(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	agent := e.as(t, e.tenant, auth.RoleSupportAgent)
	tk := e.create(t, agent, e.widget())
	order := uuid.NewString()
	in := &ticketv1.Ticket{TicketId: tk.GetTicketId(), Etag: tk.GetEtag(), Type: ticketv1.TicketType_TICKET_TYPE_RETURN,
		OrderId: order, Tags: []string{"warranty", " warranty "}, Attributes: map[string]string{"serial": "W-1"}, Status: ticketv1.Status_STATUS_CLOSED}
	resp, err := e.client.UpdateTicket(agent, &ticketv1.UpdateTicketRequest{Ticket: in, UpdateMask: mask("type", "order_id", "tags", "attributes", "status")})
	if err != nil {
		t.Fatalf("UpdateTicket: %v", err)
	}
	got := resp.GetTicket()
	if got.GetType() != ticketv1.TicketType_TICKET_TYPE_RETURN || got.GetOrderId() != order || len(got.GetTags()) != 1 ||
		got.GetAttributes()["serial"] != "W-1" || got.GetStatus() != ticketv1.Status_STATUS_NEW || got.GetEtag() != "2" {
		t.Fatalf("UpdateTicket = %v; want the type, order, one tag, the attribute, and the status untouched", got)
	}
	if _, err := e.client.UpdateTicket(agent, &ticketv1.UpdateTicketRequest{Ticket: in, UpdateMask: mask("type")}); status.Code(err) != codes.Aborted {
		t.Fatalf("UpdateTicket with a stale etag = %v, want Aborted", err)
	}
	bad := &ticketv1.Ticket{TicketId: tk.GetTicketId(), ProductId: "widget"}
	_, err = e.client.UpdateTicket(agent, &ticketv1.UpdateTicketRequest{Ticket: bad, UpdateMask: mask("product_id")})
	if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)["ticket.product_id"] {
		t.Fatalf("UpdateTicket bad product = %v, want InvalidArgument on ticket.product_id", err)
	}
	bad = &ticketv1.Ticket{TicketId: tk.GetTicketId(), Tags: []string{"ok", ""}}
	_, err = e.client.UpdateTicket(agent, &ticketv1.UpdateTicketRequest{Ticket: bad, UpdateMask: mask("tags")})
	if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)["ticket.tags[1]"] {
		t.Fatalf("UpdateTicket empty tag = %v, want InvalidArgument on ticket.tags[1]", err)
	}
}
