package grpcapi_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/services/ticket/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

// serveHelpdesk serves the env's service again with the survey methods
// public, as main does.
func serveHelpdesk(t *testing.T, e *env) ticketv1.TicketServiceClient {
	t.Helper()
	conn := grpctest.Serve(t, e.tokens.Authenticator(nil), func(srv *grpcserver.Server) {
		ticketv1.RegisterTicketServiceServer(srv, grpcapi.New(e.svc, e.db.App, 20*time.Millisecond))
	}, grpcapi.GetCsatSurveyMethod, grpcapi.AnswerCsatSurveyMethod)
	return ticketv1.NewTicketServiceClient(conn)
}

// principal returns a context for a given principal of tenant.
func (e *env) principal(t *testing.T, tenant, id, partner string, roles ...auth.Role) context.Context {
	t.Helper()
	now := time.Now()
	tok, err := e.tokens.Sign(auth.Caller{TenantID: tenant, PrincipalID: id, PartnerID: partner, Roles: roles}, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return grpctest.Bearer(t.Context(), tok)
}

func (e *env) queue(t *testing.T, q *ticketv1.Queue, members ...*ticketv1.QueueMember) string {
	t.Helper()
	resp, err := e.client.CreateQueue(e.admin(t), &ticketv1.CreateQueueRequest{Queue: q})
	if err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	id := resp.GetQueue().GetQueueId()
	for _, m := range members {
		if _, err := e.client.SetQueueMember(e.admin(t), &ticketv1.SetQueueMemberRequest{QueueId: id, Member: m}); err != nil {
			t.Fatalf("SetQueueMember: %v", err)
		}
	}
	return id
}

func wantCode(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	if status.Code(err) != want {
		t.Fatalf("%s error = %v, want %v", what, err, want)
	}
}

func TestQueueConfigValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name      string
		ctx       context.Context
		queue     *ticketv1.Queue
		wantCode  codes.Code
		wantField string
	}{
		{"ok", e.admin(t), &ticketv1.Queue{DisplayName: "Billing"}, codes.OK, ""},
		{"no name", e.admin(t), &ticketv1.Queue{}, codes.InvalidArgument, "queue.display_name"},
		{"bad strategy", e.admin(t), &ticketv1.Queue{DisplayName: "x", Strategy: 9}, codes.InvalidArgument, "queue.strategy"},
		{"unknown calendar", e.admin(t), &ticketv1.Queue{DisplayName: "x", CalendarId: uuid.NewString()}, codes.InvalidArgument, "queue.calendar_id"},
		{"unknown escalation queue", e.admin(t), &ticketv1.Queue{DisplayName: "x", EscalationQueueId: uuid.NewString()}, codes.InvalidArgument, "queue.escalation_queue_id"},
		{"agent may not", e.as(t, e.tenant, auth.RoleSupportAgent), &ticketv1.Queue{DisplayName: "x"}, codes.PermissionDenied, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.client.CreateQueue(tt.ctx, &ticketv1.CreateQueueRequest{Queue: tt.queue})
			wantCode(t, "CreateQueue", err, tt.wantCode)
			if tt.wantField != "" && !grpctest.Violations(err)[tt.wantField] {
				t.Fatalf("CreateQueue violations = %v, want %s", grpctest.Violations(err), tt.wantField)
			}
		})
	}
	q := e.queue(t, &ticketv1.Queue{DisplayName: "Members"})
	for name, m := range map[string]*ticketv1.QueueMember{
		"member.principal_id": {},
		"member.capacity":     {PrincipalId: uuid.NewString(), Capacity: -1},
		"member.level":        {PrincipalId: uuid.NewString(), Level: 11},
		"member.skills[0]":    {PrincipalId: uuid.NewString(), Skills: []string{" "}},
	} {
		_, err := e.client.SetQueueMember(e.admin(t), &ticketv1.SetQueueMemberRequest{QueueId: q, Member: m})
		if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[name] {
			t.Errorf("SetQueueMember(%v) = %v, want a violation on %s", m, err, name)
		}
	}
	_, err := e.client.SetQueueMember(e.as(t, e.other, auth.RoleAdmin), &ticketv1.SetQueueMemberRequest{QueueId: q, Member: &ticketv1.QueueMember{PrincipalId: uuid.NewString()}})
	wantCode(t, "SetQueueMember in another tenant", err, codes.NotFound)
}

func TestAssignmentStrategies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b, c := uuid.NewString(), uuid.NewString(), uuid.NewString()
	// c works only on a weekday three days from now: never available today.
	away := time.Now().Add(72 * time.Hour).Weekday()
	day := ticketv1.Weekday(away)
	if away == time.Sunday {
		day = ticketv1.Weekday_WEEKDAY_SUNDAY
	}
	cal, err := e.client.CreateBusinessCalendar(e.admin(t), &ticketv1.CreateBusinessCalendarRequest{BusinessCalendar: &ticketv1.BusinessCalendar{
		DisplayName: "Away", TimeZone: "UTC",
		WorkingHours: []*ticketv1.WorkingInterval{{Weekday: day, StartMinute: 0, EndMinute: 1440}},
	}})
	if err != nil {
		t.Fatalf("CreateBusinessCalendar: %v", err)
	}
	tests := []struct {
		name     string
		strategy ticketv1.AssignmentStrategy
		members  []*ticketv1.QueueMember
		skills   []string
		// want are the assignees of successive tickets ("" unassigned).
		want []string
	}{
		{"round robin alternates", ticketv1.AssignmentStrategy_ASSIGNMENT_STRATEGY_ROUND_ROBIN,
			[]*ticketv1.QueueMember{{PrincipalId: a}, {PrincipalId: b}}, nil, []string{first(a, b), second(a, b), first(a, b)}},
		{"capacity is respected", ticketv1.AssignmentStrategy_ASSIGNMENT_STRATEGY_LEAST_LOADED,
			[]*ticketv1.QueueMember{{PrincipalId: a, Capacity: 1}, {PrincipalId: b, Capacity: 2}}, nil, []string{first(a, b), second(a, b), b, ""}},
		{"skills filter", ticketv1.AssignmentStrategy_ASSIGNMENT_STRATEGY_ROUND_ROBIN,
			[]*ticketv1.QueueMember{{PrincipalId: a, Skills: []string{"German"}}, {PrincipalId: b}}, []string{"german"}, []string{a, a}},
		{"working hours", ticketv1.AssignmentStrategy_ASSIGNMENT_STRATEGY_ROUND_ROBIN,
			[]*ticketv1.QueueMember{{PrincipalId: c, CalendarId: cal.GetBusinessCalendar().GetCalendarId()}, {PrincipalId: b}}, nil, []string{b, b}},
		{"manual", ticketv1.AssignmentStrategy_ASSIGNMENT_STRATEGY_MANUAL,
			[]*ticketv1.QueueMember{{PrincipalId: a}}, nil, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := e.queue(t, &ticketv1.Queue{DisplayName: tt.name, Strategy: tt.strategy}, tt.members...)
			for i, want := range tt.want {
				tk := e.widget()
				tk.QueueId, tk.RequiredSkills = q, tt.skills
				got := e.create(t, e.admin(t), tk)
				if got.GetAssigneeId() != want || got.GetQueueId() != q {
					t.Fatalf("ticket %d: assignee %q in queue %q, want %q in %q", i, got.GetAssigneeId(), got.GetQueueId(), want, q)
				}
				log, err := e.client.ListTicketAssignments(e.admin(t), &ticketv1.ListTicketAssignmentsRequest{TicketId: got.GetTicketId()})
				if err != nil || len(log.GetAssignments()) != 1 || log.GetAssignments()[0].GetAssigneeId() != want ||
					log.GetAssignments()[0].GetReason() != ticketv1.AssignmentReason_ASSIGNMENT_REASON_CREATED {
					t.Fatalf("ListTicketAssignments = %v, %v; want one creation entry to %q", log, err, want)
				}
			}
		})
	}
}

// first and second order two principals as ties break: by id.
func first(a, b string) string {
	if a < b {
		return a
	}
	return b
}

func second(a, b string) string {
	if a < b {
		return b
	}
	return a
}

func TestReassignEscalate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l1, l2, other := uuid.NewString(), uuid.NewString(), uuid.NewString()
	tier2 := e.queue(t, &ticketv1.Queue{DisplayName: "Tier 2"}, &ticketv1.QueueMember{PrincipalId: l2, Level: 1})
	q := e.queue(t, &ticketv1.Queue{DisplayName: "Tier 1", EscalationQueueId: tier2}, &ticketv1.QueueMember{PrincipalId: l1})
	same := e.queue(t, &ticketv1.Queue{DisplayName: "One queue"}, &ticketv1.QueueMember{PrincipalId: l1}, &ticketv1.QueueMember{PrincipalId: l2, Level: 2})
	ctx := e.admin(t)
	tk := e.widget()
	tk.QueueId = q
	created := e.create(t, ctx, tk)

	_, err := e.client.AssignTicket(ctx, &ticketv1.AssignTicketRequest{TicketId: created.GetTicketId(), AssigneeId: other})
	wantCode(t, "AssignTicket to a non-member", err, codes.FailedPrecondition)
	_, err = e.client.AssignTicket(ctx, &ticketv1.AssignTicketRequest{TicketId: created.GetTicketId(), QueueId: "x"})
	wantCode(t, "AssignTicket bad queue id", err, codes.InvalidArgument)
	_, err = e.client.AssignTicket(ctx, &ticketv1.AssignTicketRequest{TicketId: created.GetTicketId(), QueueId: uuid.NewString()})
	wantCode(t, "AssignTicket unknown queue", err, codes.InvalidArgument)
	_, err = e.client.AssignTicket(ctx, &ticketv1.AssignTicketRequest{TicketId: created.GetTicketId(), Etag: "99"})
	wantCode(t, "AssignTicket stale etag", err, codes.Aborted)
	_, err = e.client.AssignTicket(e.as(t, e.tenant, auth.RoleAnalyst), &ticketv1.AssignTicketRequest{TicketId: created.GetTicketId()})
	wantCode(t, "AssignTicket as analyst", err, codes.PermissionDenied)
	_, err = e.client.EscalateTicket(ctx, &ticketv1.EscalateTicketRequest{TicketId: created.GetTicketId()})
	if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)["note"] {
		t.Fatalf("EscalateTicket without note = %v, want a violation on note", err)
	}
	_, err = e.client.EscalateTicket(e.as(t, e.other, auth.RoleAdmin), &ticketv1.EscalateTicketRequest{TicketId: created.GetTicketId(), Note: "x"})
	wantCode(t, "EscalateTicket in another tenant", err, codes.NotFound)

	// The tier-1 agent escalates into a queue it does not belong to, and
	// then no longer sees the ticket.
	l1ctx := e.principal(t, e.tenant, l1, "", auth.RoleSupportAgent)
	esc, err := e.client.EscalateTicket(l1ctx, &ticketv1.EscalateTicketRequest{TicketId: created.GetTicketId(), Note: "needs tier 2"})
	if err != nil || esc.GetTicket().GetQueueId() != tier2 || esc.GetTicket().GetAssigneeId() != l2 || esc.GetTicket().GetEscalationLevel() != 1 {
		t.Fatalf("EscalateTicket = %v, %v; want level 1 with %s in tier 2", esc.GetTicket(), err, l2)
	}
	_, err = e.client.GetTicket(l1ctx, &ticketv1.GetTicketRequest{TicketId: created.GetTicketId()})
	wantCode(t, "GetTicket by the tier-1 agent after escalation", err, codes.NotFound)

	// Without an escalation queue the ticket stays and goes to a higher level.
	tk.QueueId = same
	inSame := e.create(t, ctx, tk)
	if inSame.GetAssigneeId() != first(l1, l2) {
		t.Fatalf("created in one queue: assignee %s, want %s", inSame.GetAssigneeId(), first(l1, l2))
	}
	up, err := e.client.EscalateTicket(ctx, &ticketv1.EscalateTicketRequest{TicketId: inSame.GetTicketId(), Note: "hard"})
	if err != nil || up.GetTicket().GetAssigneeId() != l2 || up.GetTicket().GetQueueId() != same {
		t.Fatalf("EscalateTicket in one queue = %v, %v; want %s", up.GetTicket(), err, l2)
	}
	moved, err := e.client.AssignTicket(ctx, &ticketv1.AssignTicketRequest{TicketId: inSame.GetTicketId(), QueueId: same, AssigneeId: l2, Note: "keep", Etag: up.GetTicket().GetEtag()})
	if err != nil || moved.GetTicket().GetAssigneeId() != l2 {
		t.Fatalf("AssignTicket = %v, %v", moved, err)
	}
	log, err := e.client.ListTicketAssignments(ctx, &ticketv1.ListTicketAssignmentsRequest{TicketId: inSame.GetTicketId(), PageSize: 2})
	if err != nil || len(log.GetAssignments()) != 2 || log.GetNextPageToken() == "" ||
		log.GetAssignments()[1].GetReason() != ticketv1.AssignmentReason_ASSIGNMENT_REASON_ESCALATED {
		t.Fatalf("ListTicketAssignments page 1 = %v, %v", log, err)
	}
	rest, err := e.client.ListTicketAssignments(ctx, &ticketv1.ListTicketAssignmentsRequest{TicketId: inSame.GetTicketId(), PageSize: 2, PageToken: log.GetNextPageToken()})
	if err != nil || len(rest.GetAssignments()) != 1 || rest.GetAssignments()[0].GetReason() != ticketv1.AssignmentReason_ASSIGNMENT_REASON_REASSIGNED ||
		rest.GetAssignments()[0].GetPreviousAssigneeId() != l2 {
		t.Fatalf("ListTicketAssignments page 2 = %v, %v", rest, err)
	}
}

// TestConcurrentAssignment creates tickets at once in a queue of two agents
// with room for one each: the queue's lock lets exactly two be assigned, to
// different agents.
func TestConcurrentAssignment(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := uuid.NewString(), uuid.NewString()
	q := e.queue(t, &ticketv1.Queue{DisplayName: "Busy", Strategy: ticketv1.AssignmentStrategy_ASSIGNMENT_STRATEGY_LEAST_LOADED},
		&ticketv1.QueueMember{PrincipalId: a, Capacity: 1}, &ticketv1.QueueMember{PrincipalId: b, Capacity: 1})
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]int{}
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk := e.widget()
			tk.QueueId = q
			resp, err := e.client.CreateTicket(e.admin(t), &ticketv1.CreateTicketRequest{Ticket: tk})
			if err != nil {
				t.Errorf("CreateTicket: %v", err)
				return
			}
			mu.Lock()
			got[resp.GetTicket().GetAssigneeId()]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if got[a] != 1 || got[b] != 1 || got[""] != 4 {
		t.Fatalf("assignees = %v, want one each for %s and %s and four unassigned", got, a, b)
	}
}

func TestMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t, e.tenant, auth.RoleSupportAgent)
	tk := e.create(t, ctx, e.widget())
	doc := fmt.Sprintf("customers/%s/documents/%s", uuid.NewString(), uuid.NewString())
	tests := []struct {
		name      string
		ctx       context.Context
		ticketID  string
		msg       *ticketv1.TicketMessage
		wantCode  codes.Code
		wantField string
	}{
		{"internal note", ctx, tk.GetTicketId(), &ticketv1.TicketMessage{Body: "Looks like a firmware bug", Visibility: ticketv1.MessageVisibility_MESSAGE_VISIBILITY_INTERNAL}, codes.OK, ""},
		{"customer writes", ctx, tk.GetTicketId(), &ticketv1.TicketMessage{Body: "Any news?", AuthorKind: ticketv1.AuthorKind_AUTHOR_KIND_CUSTOMER,
			Attachments: []*ticketv1.Attachment{{Uri: doc, FileName: "photo.png", ContentType: "image/png", SizeBytes: 2048}}}, codes.OK, ""},
		{"empty body", ctx, tk.GetTicketId(), &ticketv1.TicketMessage{Body: "  "}, codes.InvalidArgument, "message.body"},
		{"customer note", ctx, tk.GetTicketId(), &ticketv1.TicketMessage{Body: "x", AuthorKind: ticketv1.AuthorKind_AUTHOR_KIND_CUSTOMER,
			Visibility: ticketv1.MessageVisibility_MESSAGE_VISIBILITY_INTERNAL}, codes.InvalidArgument, "message.visibility"},
		{"bad attachment uri", ctx, tk.GetTicketId(), &ticketv1.TicketMessage{Body: "x", Attachments: []*ticketv1.Attachment{
			{Uri: "ftp://example.com/a", FileName: "a", ContentType: "text/plain"}}}, codes.InvalidArgument, "message.attachments[0].uri"},
		{"attachment too large", ctx, tk.GetTicketId(), &ticketv1.TicketMessage{Body: "x", Attachments: []*ticketv1.Attachment{
			{Uri: "https://files.example.com/a", FileName: "a", ContentType: "text/plain", SizeBytes: 26 << 20}}}, codes.InvalidArgument, "message.attachments[0].size_bytes"},
		{"bad content type", ctx, tk.GetTicketId(), &ticketv1.TicketMessage{Body: "x", Attachments: []*ticketv1.Attachment{
			{Uri: "https://files.example.com/a", FileName: "a", ContentType: "text"}}}, codes.InvalidArgument, "message.attachments[0].content_type"},
		{"analyst may not", e.as(t, e.tenant, auth.RoleAnalyst), tk.GetTicketId(), &ticketv1.TicketMessage{Body: "x"}, codes.PermissionDenied, ""},
		{"other tenant", e.as(t, e.other, auth.RoleSupportAgent), tk.GetTicketId(), &ticketv1.TicketMessage{Body: "x"}, codes.NotFound, ""},
		{"bad ticket id", ctx, "nope", &ticketv1.TicketMessage{Body: "x"}, codes.InvalidArgument, "ticket_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.client.CreateTicketMessage(tt.ctx, &ticketv1.CreateTicketMessageRequest{TicketId: tt.ticketID, Message: tt.msg})
			wantCode(t, "CreateTicketMessage", err, tt.wantCode)
			if tt.wantField != "" && !grpctest.Violations(err)[tt.wantField] {
				t.Fatalf("CreateTicketMessage violations = %v, want %s", grpctest.Violations(err), tt.wantField)
			}
		})
	}
	// Neither the note nor the customer's message was a first response.
	got, err := e.client.GetTicket(ctx, &ticketv1.GetTicketRequest{TicketId: tk.GetTicketId()})
	if err != nil || got.GetTicket().GetFirstResponseTime() != nil {
		t.Fatalf("GetTicket = %v, %v; want no first response yet", got, err)
	}
	reply := &ticketv1.CreateTicketMessageRequest{TicketId: tk.GetTicketId(), RequestId: "reply-1", Message: &ticketv1.TicketMessage{Body: "We are on it"}}
	first, err := e.client.CreateTicketMessage(ctx, reply)
	if err != nil {
		t.Fatalf("CreateTicketMessage reply: %v", err)
	}
	again, err := e.client.CreateTicketMessage(ctx, reply)
	if err != nil || again.GetMessage().GetMessageId() != first.GetMessage().GetMessageId() {
		t.Fatalf("repeated reply = %v, %v; want message %s", again, err, first.GetMessage().GetMessageId())
	}
	got, err = e.client.GetTicket(ctx, &ticketv1.GetTicketRequest{TicketId: tk.GetTicketId()})
	if err != nil || !got.GetTicket().GetFirstResponseTime().AsTime().Equal(first.GetMessage().GetCreateTime().AsTime()) {
		t.Fatalf("GetTicket first response = %v, want the reply's time %v", got.GetTicket().GetFirstResponseTime(), first.GetMessage().GetCreateTime())
	}
	list, err := e.client.ListTicketMessages(ctx, &ticketv1.ListTicketMessagesRequest{TicketId: tk.GetTicketId(), PageSize: 2})
	if err != nil || len(list.GetMessages()) != 2 || list.GetNextPageToken() == "" ||
		list.GetMessages()[0].GetVisibility() != ticketv1.MessageVisibility_MESSAGE_VISIBILITY_INTERNAL {
		t.Fatalf("ListTicketMessages = %v, %v", list, err)
	}
	rest, err := e.client.ListTicketMessages(ctx, &ticketv1.ListTicketMessagesRequest{TicketId: tk.GetTicketId(), PageSize: 2, PageToken: list.GetNextPageToken()})
	if err != nil || len(rest.GetMessages()) != 1 || rest.GetMessages()[0].GetBody() != "We are on it" {
		t.Fatalf("ListTicketMessages page 2 = %v, %v", rest, err)
	}
}

func TestRecordAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	member, outsider, partner := uuid.NewString(), uuid.NewString(), uuid.NewString()
	q := e.queue(t, &ticketv1.Queue{DisplayName: "VIP"}, &ticketv1.QueueMember{PrincipalId: member})
	tk := e.widget()
	tk.QueueId, tk.PartnerId = q, partner
	queued := e.create(t, e.admin(t), tk)
	unrouted := e.create(t, e.admin(t), e.widget())
	memberCtx := e.principal(t, e.tenant, member, "", auth.RoleSupportAgent)
	outsiderCtx := e.principal(t, e.tenant, outsider, "", auth.RoleSupportAgent)
	partnerCtx := e.principal(t, e.tenant, uuid.NewString(), partner, auth.RolePartnerUser)
	otherPartnerCtx := e.principal(t, e.tenant, uuid.NewString(), uuid.NewString(), auth.RolePartnerUser)
	tests := []struct {
		name     string
		ctx      context.Context
		id       string
		wantCode codes.Code
	}{
		{"member sees its queue", memberCtx, queued.GetTicketId(), codes.OK},
		{"outsider does not", outsiderCtx, queued.GetTicketId(), codes.NotFound},
		{"outsider sees the triage pool", outsiderCtx, unrouted.GetTicketId(), codes.OK},
		{"partner user before the tenant allows it", partnerCtx, queued.GetTicketId(), codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.client.GetTicket(tt.ctx, &ticketv1.GetTicketRequest{TicketId: tt.id})
			wantCode(t, "GetTicket", err, tt.wantCode)
		})
	}
	// An outsider may route a ticket to the queue; the member gets it.
	routed := e.widget()
	routed.QueueId = q
	if got := e.create(t, outsiderCtx, routed); got.GetAssigneeId() != member {
		t.Fatalf("ticket routed by an outsider = %v, want it assigned to %s", got, member)
	}
	// Writes follow reads: an outsider cannot reply to the queue's ticket.
	_, err := e.client.CreateTicketMessage(outsiderCtx, &ticketv1.CreateTicketMessageRequest{TicketId: queued.GetTicketId(), Message: &ticketv1.TicketMessage{Body: "x"}})
	wantCode(t, "CreateTicketMessage by an outsider", err, codes.NotFound)
	list, err := e.client.ListTickets(outsiderCtx, &ticketv1.ListTicketsRequest{})
	if err != nil || len(list.GetTickets()) != 1 || list.GetTickets()[0].GetTicketId() != unrouted.GetTicketId() {
		t.Fatalf("ListTickets as outsider = %v, %v; want only the unrouted ticket", list, err)
	}

	// Partner users read tickets (their role allows reading once the tenant does).
	if _, err := e.client.UpdateTicketSettings(e.admin(t), &ticketv1.UpdateTicketSettingsRequest{
		Settings: &ticketv1.TicketSettings{PartnerAccess: true}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"partner_access"}},
	}); err != nil {
		t.Fatalf("UpdateTicketSettings: %v", err)
	}
	if _, err := e.client.CreateTicketMessage(e.admin(t), &ticketv1.CreateTicketMessageRequest{TicketId: queued.GetTicketId(),
		Message: &ticketv1.TicketMessage{Body: "internal", Visibility: ticketv1.MessageVisibility_MESSAGE_VISIBILITY_INTERNAL}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.CreateTicketMessage(e.admin(t), &ticketv1.CreateTicketMessageRequest{TicketId: queued.GetTicketId(),
		Message: &ticketv1.TicketMessage{Body: "public"}}); err != nil {
		t.Fatal(err)
	}
	msgs, err := e.client.ListTicketMessages(partnerCtx, &ticketv1.ListTicketMessagesRequest{TicketId: queued.GetTicketId()})
	if err != nil || len(msgs.GetMessages()) != 1 || msgs.GetMessages()[0].GetBody() != "public" {
		t.Fatalf("ListTicketMessages as partner = %v, %v; want the public reply only", msgs, err)
	}
	_, err = e.client.CreateTicketMessage(partnerCtx, &ticketv1.CreateTicketMessageRequest{TicketId: queued.GetTicketId(), Message: &ticketv1.TicketMessage{Body: "x"}})
	wantCode(t, "CreateTicketMessage as partner", err, codes.PermissionDenied)
	for _, tt := range []struct {
		name string
		ctx  context.Context
		id   string
		want codes.Code
	}{
		{"partner sees its customer's ticket", partnerCtx, queued.GetTicketId(), codes.OK},
		{"partner does not see unrelated tickets", partnerCtx, unrouted.GetTicketId(), codes.NotFound},
		{"another partner does not", otherPartnerCtx, queued.GetTicketId(), codes.NotFound},
	} {
		_, err := e.client.GetTicket(tt.ctx, &ticketv1.GetTicketRequest{TicketId: tt.id})
		if status.Code(err) != tt.want {
			t.Errorf("%s: GetTicket = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// resolve moves a ticket to resolved.
func (e *env) resolve(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	if _, err := e.client.TransitionTicket(ctx, &ticketv1.TransitionTicketRequest{TicketId: id, Status: ticketv1.Status_STATUS_RESOLVED, Note: "fixed"}); err != nil {
		t.Fatalf("resolve: %v", err)
	}
}

func TestCsatSurvey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	client := serveHelpdesk(t, e)
	ctx := e.admin(t)
	tk := e.create(t, ctx, e.widget())
	if _, err := client.CreateTicketMessage(ctx, &ticketv1.CreateTicketMessageRequest{TicketId: tk.GetTicketId(),
		Message: &ticketv1.TicketMessage{Body: "secret internal remark", Visibility: ticketv1.MessageVisibility_MESSAGE_VISIBILITY_INTERNAL}}); err != nil {
		t.Fatal(err)
	}
	_, err := client.IssueCsatSurveyLink(ctx, &ticketv1.IssueCsatSurveyLinkRequest{TicketId: tk.GetTicketId()})
	wantCode(t, "IssueCsatSurveyLink before resolution", err, codes.NotFound)
	e.resolve(t, ctx, tk.GetTicketId())
	link, err := client.IssueCsatSurveyLink(ctx, &ticketv1.IssueCsatSurveyLinkRequest{TicketId: tk.GetTicketId()})
	if err != nil || link.GetPath() != "/v1/csatSurveys/"+link.GetToken() {
		t.Fatalf("IssueCsatSurveyLink = %v, %v", link, err)
	}
	_, err = client.IssueCsatSurveyLink(e.as(t, e.tenant, auth.RoleAnalyst), &ticketv1.IssueCsatSurveyLinkRequest{TicketId: tk.GetTicketId()})
	wantCode(t, "IssueCsatSurveyLink as analyst", err, codes.PermissionDenied)

	// No credentials: the token is the credential.
	anon := t.Context()
	shown, err := client.GetCsatSurvey(anon, &ticketv1.GetCsatSurveyRequest{Token: link.GetToken()})
	if err != nil || shown.GetSurvey().GetTicketSubject() != "Broken widget" || shown.GetSurvey().GetScore() != 0 {
		t.Fatalf("GetCsatSurvey = %v, %v", shown, err)
	}
	if s := shown.String(); strings.Contains(s, "secret internal remark") {
		t.Fatalf("the survey shows an internal note: %s", s)
	}
	forged := link.GetToken()[:len(link.GetToken())-4] + "AAAA"
	steps := []struct {
		name      string
		token     string
		score     int32
		wantCode  codes.Code
		wantField string
	}{
		{"forged token", forged, 5, codes.NotFound, ""},
		{"garbage token", "cs_nothing", 5, codes.NotFound, ""},
		{"score too high", link.GetToken(), 6, codes.InvalidArgument, "score"},
		{"no score", link.GetToken(), 0, codes.InvalidArgument, "score"},
		{"answer", link.GetToken(), 2, codes.OK, ""},
		{"answered twice", link.GetToken(), 5, codes.FailedPrecondition, ""},
	}
	for _, st := range steps {
		resp, err := client.AnswerCsatSurvey(anon, &ticketv1.AnswerCsatSurveyRequest{Token: st.token, Score: st.score, Comment: "slow"})
		if status.Code(err) != st.wantCode || (st.wantField != "" && !grpctest.Violations(err)[st.wantField]) {
			t.Fatalf("%s: AnswerCsatSurvey = %v, %v; want %v %s", st.name, resp, err, st.wantCode, st.wantField)
		}
	}
	shown, err = client.GetCsatSurvey(anon, &ticketv1.GetCsatSurveyRequest{Token: link.GetToken()})
	if err != nil || shown.GetSurvey().GetScore() != 2 || shown.GetSurvey().GetComment() != "slow" {
		t.Fatalf("GetCsatSurvey after the answer = %v, %v", shown, err)
	}
	_, err = client.IssueCsatSurveyLink(ctx, &ticketv1.IssueCsatSurveyLinkRequest{TicketId: tk.GetTicketId()})
	wantCode(t, "IssueCsatSurveyLink after the answer", err, codes.FailedPrecondition)

	// An expired link refuses answers and leaves the survey unanswered.
	late := e.create(t, ctx, e.widget())
	e.resolve(t, ctx, late.GetTicketId())
	lateLink, err := client.IssueCsatSurveyLink(ctx, &ticketv1.IssueCsatSurveyLinkRequest{TicketId: late.GetTicketId()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Owner.Exec(t.Context(), `UPDATE csat_surveys SET expire_time = now() - interval '1 minute' WHERE ticket_id = $1`, late.GetTicketId()); err != nil {
		t.Fatal(err)
	}
	_, err = client.AnswerCsatSurvey(anon, &ticketv1.AnswerCsatSurveyRequest{Token: lateLink.GetToken(), Score: 5})
	wantCode(t, "AnswerCsatSurvey expired", err, codes.FailedPrecondition)
	var answered bool
	if err := e.db.Owner.QueryRow(t.Context(), `SELECT answer_time IS NOT NULL FROM csat_surveys WHERE ticket_id = $1`, late.GetTicketId()).Scan(&answered); err != nil || answered {
		t.Fatalf("expired survey answered = %v, %v; want unanswered", answered, err)
	}

	// Reissuing invalidates the earlier link.
	again := e.create(t, ctx, e.widget())
	e.resolve(t, ctx, again.GetTicketId())
	l1, err := client.IssueCsatSurveyLink(ctx, &ticketv1.IssueCsatSurveyLinkRequest{TicketId: again.GetTicketId()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.IssueCsatSurveyLink(ctx, &ticketv1.IssueCsatSurveyLinkRequest{TicketId: again.GetTicketId()}); err != nil {
		t.Fatal(err)
	}
	_, err = client.GetCsatSurvey(anon, &ticketv1.GetCsatSurveyRequest{Token: l1.GetToken()})
	wantCode(t, "GetCsatSurvey with a replaced link", err, codes.NotFound)
}

// TestCsatConcurrentAnswers answers one survey from many clients at once:
// exactly one answer counts.
func TestCsatConcurrentAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	client := serveHelpdesk(t, e)
	tk := e.create(t, e.admin(t), e.widget())
	e.resolve(t, e.admin(t), tk.GetTicketId())
	link, err := client.IssueCsatSurveyLink(e.admin(t), &ticketv1.IssueCsatSurveyLinkRequest{TicketId: tk.GetTicketId()})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	codesSeen := map[codes.Code]int{}
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := client.AnswerCsatSurvey(t.Context(), &ticketv1.AnswerCsatSurveyRequest{Token: link.GetToken(), Score: int32(i%5 + 1)})
			mu.Lock()
			codesSeen[status.Code(err)]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codesSeen[codes.OK] != 1 || codesSeen[codes.FailedPrecondition] != 4 {
		t.Fatalf("answers = %v, want one OK and four FailedPrecondition", codesSeen)
	}
}

func TestQualityFigures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	client := serveHelpdesk(t, e)
	agent := uuid.NewString()
	q := e.queue(t, &ticketv1.Queue{DisplayName: "Q"}, &ticketv1.QueueMember{PrincipalId: agent})
	ctx := e.admin(t)
	start := time.Now().Add(-time.Minute)
	ids := make([]string, 3)
	for i := range ids {
		tk := e.widget()
		tk.QueueId = q
		ids[i] = e.create(t, ctx, tk).GetTicketId()
	}
	// Ticket 0: one reply, resolved: first-contact resolution, CSAT 4.
	// Ticket 1: two replies, resolved, reopened. Ticket 2: open.
	for i, n := range []int{1, 2} {
		for range n {
			if _, err := client.CreateTicketMessage(ctx, &ticketv1.CreateTicketMessageRequest{TicketId: ids[i], Message: &ticketv1.TicketMessage{Body: "reply"}}); err != nil {
				t.Fatal(err)
			}
		}
		e.resolve(t, ctx, ids[i])
	}
	if _, err := client.TransitionTicket(ctx, &ticketv1.TransitionTicketRequest{TicketId: ids[1], Status: ticketv1.Status_STATUS_REOPENED}); err != nil {
		t.Fatal(err)
	}
	link, err := client.IssueCsatSurveyLink(ctx, &ticketv1.IssueCsatSurveyLinkRequest{TicketId: ids[0]})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.AnswerCsatSurvey(t.Context(), &ticketv1.AnswerCsatSurveyRequest{Token: link.GetToken(), Score: 4}); err != nil {
		t.Fatal(err)
	}
	// Known times: ticket 0 answered after 10 minutes and resolved after an hour.
	if _, err := e.db.Owner.Exec(t.Context(), `UPDATE tickets SET first_response_time = create_time + interval '10 minutes',
		resolve_time = create_time + interval '1 hour' WHERE ticket_id = $1`, ids[0]); err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(time.Minute)
	for _, g := range []ticketv1.QualityGrouping{ticketv1.QualityGrouping_QUALITY_GROUPING_AGENT, ticketv1.QualityGrouping_QUALITY_GROUPING_QUEUE} {
		resp, err := client.GetQualityFigures(e.as(t, e.tenant, auth.RoleAnalyst), &ticketv1.GetQualityFiguresRequest{
			GroupBy: g, StartTime: timestamppb.New(start), EndTime: timestamppb.New(end)})
		if err != nil || len(resp.GetFigures()) != 1 {
			t.Fatalf("GetQualityFigures(%v) = %v, %v", g, resp, err)
		}
		f := resp.GetFigures()[0]
		wantGroup := map[ticketv1.QualityGrouping]string{ticketv1.QualityGrouping_QUALITY_GROUPING_AGENT: agent, ticketv1.QualityGrouping_QUALITY_GROUPING_QUEUE: q}[g]
		if f.GetGroupId() != wantGroup || f.GetTickets() != 3 || f.GetResolved() != 2 || f.GetCsatAnswers() != 1 || f.GetCsatAverage() != 4 ||
			f.GetReopenRate() != 0.5 || f.GetFirstContactResolution() != 0.5 {
			t.Fatalf("GetQualityFigures(%v) = %v", g, f)
		}
		// Ticket 1 was answered at once, ticket 0 after 10 minutes: the
		// exact median of two is their mean, the 90th percentile 9 minutes.
		if p50 := f.GetFirstResponseP50().AsDuration(); p50 < 5*time.Minute-time.Second || p50 > 5*time.Minute+time.Second {
			t.Errorf("first response p50 = %v, want about 5m", p50)
		}
		if p90 := f.GetFirstResponseP90().AsDuration(); p90 < 9*time.Minute-time.Second || p90 > 9*time.Minute+time.Second {
			t.Errorf("first response p90 = %v, want about 9m", p90)
		}
	}
	bad := []struct {
		name  string
		req   *ticketv1.GetQualityFiguresRequest
		field string
	}{
		{"no grouping", &ticketv1.GetQualityFiguresRequest{StartTime: timestamppb.New(start), EndTime: timestamppb.New(end)}, "group_by"},
		{"no range", &ticketv1.GetQualityFiguresRequest{GroupBy: ticketv1.QualityGrouping_QUALITY_GROUPING_AGENT}, "start_time"},
		{"backwards", &ticketv1.GetQualityFiguresRequest{GroupBy: ticketv1.QualityGrouping_QUALITY_GROUPING_AGENT, StartTime: timestamppb.New(end), EndTime: timestamppb.New(start)}, "end_time"},
	}
	for _, tt := range bad {
		_, err := client.GetQualityFigures(ctx, tt.req)
		if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.field] {
			t.Errorf("%s: GetQualityFigures = %v, want a violation on %s", tt.name, err, tt.field)
		}
	}
	_, err = client.GetQualityFigures(e.as(t, e.tenant, auth.RoleSalesRep), &ticketv1.GetQualityFiguresRequest{
		GroupBy: ticketv1.QualityGrouping_QUALITY_GROUPING_AGENT, StartTime: timestamppb.New(start), EndTime: timestamppb.New(end)})
	wantCode(t, "GetQualityFigures as sales rep", err, codes.PermissionDenied)
}

func TestImportTickets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.admin(t)
	created := timestamppb.New(time.Date(2023, 5, 1, 9, 0, 0, 0, time.UTC))
	resolved := timestamppb.New(time.Date(2023, 5, 2, 9, 0, 0, 0, time.UTC))
	row := func(ext string, status ticketv1.Status, csat int32) *ticketv1.ImportedTicket {
		return &ticketv1.ImportedTicket{ExternalId: ext, CreateTime: created, ResolveTime: resolved, CsatScore: csat,
			Ticket: &ticketv1.Ticket{CustomerId: e.acme.String(), Subject: "Imported " + ext, Status: status}}
	}
	req := &ticketv1.ImportTicketsRequest{Tickets: []*ticketv1.ImportedTicket{row("1", ticketv1.Status_STATUS_CLOSED, 5), row("2", ticketv1.Status_STATUS_OPEN, 0)}}
	first, err := e.client.ImportTickets(ctx, req)
	if err != nil || len(first.GetResults()) != 2 || !first.GetResults()[0].GetCreated() {
		t.Fatalf("ImportTickets = %v, %v", first, err)
	}
	again, err := e.client.ImportTickets(ctx, req)
	if err != nil || again.GetResults()[0].GetCreated() || again.GetResults()[0].GetTicketId() != first.GetResults()[0].GetTicketId() {
		t.Fatalf("ImportTickets again = %v, %v; want the same tickets, not created", again, err)
	}
	got, err := e.client.GetTicket(ctx, &ticketv1.GetTicketRequest{TicketId: first.GetResults()[0].GetTicketId()})
	if err != nil || got.GetTicket().GetStatus() != ticketv1.Status_STATUS_CLOSED || got.GetTicket().GetExternalId() != "1" ||
		!got.GetTicket().GetCreateTime().AsTime().Equal(created.AsTime()) || !got.GetTicket().GetCloseTime().AsTime().Equal(resolved.AsTime()) {
		t.Fatalf("imported ticket = %v, %v", got, err)
	}
	var score int
	if err := e.db.Owner.QueryRow(t.Context(), `SELECT score FROM csat_surveys WHERE ticket_id = $1`, first.GetResults()[0].GetTicketId()).Scan(&score); err != nil || score != 5 {
		t.Fatalf("imported CSAT = %d, %v; want 5", score, err)
	}
	bad := []struct {
		name  string
		rows  []*ticketv1.ImportedTicket
		field string
	}{
		{"no rows", nil, "tickets"},
		{"no external id", []*ticketv1.ImportedTicket{row("", ticketv1.Status_STATUS_OPEN, 0)}, "tickets[0].external_id"},
		{"repeated external id", []*ticketv1.ImportedTicket{row("9", ticketv1.Status_STATUS_OPEN, 0), row("9", ticketv1.Status_STATUS_OPEN, 0)}, "tickets[1].external_id"},
		{"csat on an open ticket", []*ticketv1.ImportedTicket{{ExternalId: "8", CsatScore: 3, Ticket: &ticketv1.Ticket{CustomerId: e.acme.String(), Subject: "x"}}}, "tickets[0].csat_score"},
		{"unknown customer", []*ticketv1.ImportedTicket{{ExternalId: "7", Ticket: &ticketv1.Ticket{CustomerId: e.gone.String(), Subject: "x"}}}, "tickets[0].ticket.customer_id"},
		{"no subject", []*ticketv1.ImportedTicket{{ExternalId: "6", Ticket: &ticketv1.Ticket{CustomerId: e.acme.String()}}}, "tickets[0].ticket.subject"},
		{"resolved before created", []*ticketv1.ImportedTicket{{ExternalId: "5", CreateTime: resolved, ResolveTime: created,
			Ticket: &ticketv1.Ticket{CustomerId: e.acme.String(), Subject: "x", Status: ticketv1.Status_STATUS_RESOLVED}}}, "tickets[0].resolve_time"},
	}
	for _, tt := range bad {
		_, err := e.client.ImportTickets(ctx, &ticketv1.ImportTicketsRequest{Tickets: tt.rows})
		if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.field] {
			t.Errorf("%s: ImportTickets = %v (%v), want a violation on %s", tt.name, err, grpctest.Violations(err), tt.field)
		}
	}
	// A batch with one bad row writes nothing.
	var n int
	if err := e.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM tickets WHERE external_id = '9'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("tickets of a refused batch = %d, %v; want 0", n, err)
	}
	_, err = e.client.ImportTickets(e.as(t, e.tenant, auth.RoleSupportAgent), req)
	wantCode(t, "ImportTickets as agent", err, codes.PermissionDenied)
}

// detractorEvents decodes the detractor events of tenant, oldest first.
func detractorEvents(t *testing.T, e *env, tenant string) []*ticketv1.Detractor {
	t.Helper()
	rows, err := e.db.Owner.Query(t.Context(), `SELECT payload_type, payload FROM outbox WHERE tenant_id = $1 AND type = 'detractor.recorded' ORDER BY txid, seq`, tenant)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []*ticketv1.Detractor
	for rows.Next() {
		var typ string
		var payload []byte
		if err := rows.Scan(&typ, &payload); err != nil {
			t.Fatal(err)
		}
		d := &ticketv1.Detractor{}
		if err := proto.Unmarshal(payload, d); err != nil || typ != "rapport.ticket.v1.Detractor" {
			t.Fatalf("detractor payload %s: %v", typ, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDetractorEvents answers surveys: only the unhappy answer emits a
// detractor event, in its tenant, naming the survey, ticket and customer.
func TestDetractorEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	client := serveHelpdesk(t, e)
	answer := func(score int32) *ticketv1.Ticket {
		tk := e.create(t, e.admin(t), e.widget())
		e.resolve(t, e.admin(t), tk.GetTicketId())
		link, err := client.IssueCsatSurveyLink(e.admin(t), &ticketv1.IssueCsatSurveyLinkRequest{TicketId: tk.GetTicketId()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.AnswerCsatSurvey(t.Context(), &ticketv1.AnswerCsatSurveyRequest{Token: link.GetToken(), Score: score}); err != nil {
			t.Fatal(err)
		}
		return tk
	}
	unhappy := answer(2)
	answer(3)
	var survey string
	if err := e.db.Owner.QueryRow(t.Context(), `SELECT survey_id::text FROM csat_surveys WHERE ticket_id = $1`, unhappy.GetTicketId()).Scan(&survey); err != nil {
		t.Fatalf("survey of %s: %v", unhappy.GetTicketId(), err)
	}
	want := []*ticketv1.Detractor{{SourceId: survey, Kind: ticketv1.SatisfactionKind_SATISFACTION_KIND_CSAT, TicketId: unhappy.GetTicketId(),
		CustomerId: unhappy.GetCustomerId(), Score: 2}}
	if diff := cmp.Diff(want, detractorEvents(t, e, e.tenant), protocmp.Transform()); diff != "" {
		t.Fatalf("detractor events (-want +got):\n%s", diff)
	}
	if got := detractorEvents(t, e, e.other); len(got) != 0 {
		t.Fatalf("detractor events of the other tenant = %v, want none", got)
	}
}

func countRows(t *testing.T, e *env, sql string) int {
	t.Helper()
	var n int
	if err := e.db.Owner.QueryRow(t.Context(), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// fakeSegments stands in for the customer service's segments: one segment
// (set by the test) with members.
type fakeSegments struct {
	mu      sync.Mutex
	id      uuid.UUID
	members []uuid.UUID
	down    bool
}

func (f *fakeSegments) Members(_ context.Context, id uuid.UUID, limit int) ([]uuid.UUID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.down:
		return nil, fmt.Errorf("%w: connection refused", ticket.ErrSegmentLookup)
	case id != f.id:
		return nil, ticket.ErrSegmentNotFound
	}
	return f.members[:min(len(f.members), limit+1)], nil
}

func TestNpsSurvey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := make([]uuid.UUID, 5)
	for i := range c {
		c[i] = uuid.New()
	}
	e.segments.id, e.segments.members = e.segment, c
	ctx := e.admin(t)
	create := &ticketv1.CreateNpsSurveyRequest{RequestId: "nps-1", NpsSurvey: &ticketv1.NpsSurvey{DisplayName: "Q3 NPS", SegmentId: e.segment.String()}}
	sv, err := e.client.CreateNpsSurvey(ctx, create)
	if err != nil || sv.GetNpsSurvey().GetRecipientCount() != 5 {
		t.Fatalf("CreateNpsSurvey = %v, %v", sv, err)
	}
	again, err := e.client.CreateNpsSurvey(ctx, create)
	if err != nil || again.GetNpsSurvey().GetNpsSurveyId() != sv.GetNpsSurvey().GetNpsSurveyId() {
		t.Fatalf("CreateNpsSurvey again = %v, %v; want the first survey", again, err)
	}
	bad := []struct {
		name      string
		ctx       context.Context
		in        *ticketv1.NpsSurvey
		wantCode  codes.Code
		wantField string
	}{
		{"no name", ctx, &ticketv1.NpsSurvey{SegmentId: e.segment.String()}, codes.InvalidArgument, "nps_survey.display_name"},
		{"unknown segment", ctx, &ticketv1.NpsSurvey{DisplayName: "x", SegmentId: uuid.NewString()}, codes.InvalidArgument, "nps_survey.segment_id"},
		{"bad segment id", ctx, &ticketv1.NpsSurvey{DisplayName: "x", SegmentId: "seg"}, codes.InvalidArgument, "nps_survey.segment_id"},
		{"agent may not", e.as(t, e.tenant, auth.RoleSupportAgent), &ticketv1.NpsSurvey{DisplayName: "x", SegmentId: e.segment.String()}, codes.PermissionDenied, ""},
	}
	for _, tt := range bad {
		_, err := e.client.CreateNpsSurvey(tt.ctx, &ticketv1.CreateNpsSurveyRequest{NpsSurvey: tt.in})
		if status.Code(err) != tt.wantCode || (tt.wantField != "" && !grpctest.Violations(err)[tt.wantField]) {
			t.Errorf("%s: CreateNpsSurvey = %v, want %v %s", tt.name, err, tt.wantCode, tt.wantField)
		}
	}
	id := sv.GetNpsSurvey().GetNpsSurveyId()
	agent := e.as(t, e.tenant, auth.RoleSupportAgent)
	steps := []struct {
		name     string
		customer string
		score    int32
		want     codes.Code
	}{
		{"promoter", c[0].String(), 10, codes.OK},
		{"promoter 2", c[1].String(), 9, codes.OK},
		{"passive", c[2].String(), 8, codes.OK},
		{"detractor", c[3].String(), 3, codes.OK},
		{"answered twice", c[0].String(), 1, codes.FailedPrecondition},
		{"not a recipient", uuid.NewString(), 5, codes.FailedPrecondition},
		{"score too high", c[4].String(), 11, codes.InvalidArgument},
	}
	for _, st := range steps {
		_, err := e.client.CreateNpsResponse(agent, &ticketv1.CreateNpsResponseRequest{NpsSurveyId: id,
			Response: &ticketv1.NpsResponse{CustomerId: st.customer, Score: st.score}})
		if status.Code(err) != st.want {
			t.Fatalf("%s: CreateNpsResponse = %v, want %v", st.name, err, st.want)
		}
	}
	_, err = e.client.CreateNpsResponse(e.as(t, e.other, auth.RoleAdmin), &ticketv1.CreateNpsResponseRequest{NpsSurveyId: id,
		Response: &ticketv1.NpsResponse{CustomerId: c[4].String(), Score: 5}})
	wantCode(t, "CreateNpsResponse in another tenant", err, codes.NotFound)
	got, err := e.client.GetNpsSurvey(e.as(t, e.tenant, auth.RoleAnalyst), &ticketv1.GetNpsSurveyRequest{NpsSurveyId: id})
	s := got.GetNpsSurvey()
	if err != nil || s.GetResponseCount() != 4 || s.GetPromoters() != 2 || s.GetPassives() != 1 || s.GetDetractors() != 1 || s.GetNps() != 25 {
		t.Fatalf("GetNpsSurvey = %v, %v; want 4 answers and an NPS of 25", s, err)
	}
	// The detractor's answer, and only it, emits its event.
	events := detractorEvents(t, e, e.tenant)
	if len(events) != 1 || events[0].GetKind() != ticketv1.SatisfactionKind_SATISFACTION_KIND_NPS ||
		events[0].GetCustomerId() != c[3].String() || events[0].GetScore() != 3 || events[0].GetTicketId() != "" {
		t.Fatalf("detractor events = %v, want one NPS detractor of %s", events, c[3])
	}
	e.segments.down = true
	_, err = e.client.CreateNpsSurvey(ctx, &ticketv1.CreateNpsSurveyRequest{NpsSurvey: &ticketv1.NpsSurvey{DisplayName: "x", SegmentId: e.segment.String()}})
	wantCode(t, "CreateNpsSurvey with the customer service down", err, codes.Unavailable)
}

func TestFeedbackItems(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t, e.tenant, auth.RoleSupportAgent)
	create := &ticketv1.CreateFeedbackItemRequest{RequestId: "fb-1", FeedbackItem: &ticketv1.FeedbackItem{
		CustomerId: e.acme.String(), Channel: ticketv1.Channel_CHANNEL_SOCIAL, Body: "The app logs me out", Topics: []string{" Login ", "login", "App"}}}
	first, err := e.client.CreateFeedbackItem(ctx, create)
	if err != nil || first.GetFeedbackItem().GetStatus() != ticketv1.FeedbackStatus_FEEDBACK_STATUS_NEW ||
		len(first.GetFeedbackItem().GetTopics()) != 2 || first.GetFeedbackItem().GetTopics()[0] != "login" {
		t.Fatalf("CreateFeedbackItem = %v, %v; want new with topics [login app]", first, err)
	}
	again, err := e.client.CreateFeedbackItem(ctx, create)
	if err != nil || again.GetFeedbackItem().GetFeedbackItemId() != first.GetFeedbackItem().GetFeedbackItemId() {
		t.Fatalf("CreateFeedbackItem again = %v, %v; want the first item", again, err)
	}
	if _, err := e.client.CreateFeedbackItem(ctx, &ticketv1.CreateFeedbackItemRequest{FeedbackItem: &ticketv1.FeedbackItem{Body: "Love it"}}); err != nil {
		t.Fatal(err)
	}
	id := first.GetFeedbackItem().GetFeedbackItemId()
	bad := []struct {
		name      string
		ctx       context.Context
		item      *ticketv1.FeedbackItem
		mask      []string
		wantCode  codes.Code
		wantField string
	}{
		{"close without resolution", ctx, &ticketv1.FeedbackItem{FeedbackItemId: id, Status: ticketv1.FeedbackStatus_FEEDBACK_STATUS_CLOSED}, []string{"status"}, codes.InvalidArgument, "feedback_item.resolution"},
		{"body is fixed", ctx, &ticketv1.FeedbackItem{FeedbackItemId: id, Body: "x"}, []string{"body"}, codes.InvalidArgument, "update_mask"},
		{"stale etag", ctx, &ticketv1.FeedbackItem{FeedbackItemId: id, Etag: "9", Topics: []string{"x"}}, []string{"topics"}, codes.Aborted, ""},
		{"analyst may not", e.as(t, e.tenant, auth.RoleAnalyst), &ticketv1.FeedbackItem{FeedbackItemId: id}, []string{"topics"}, codes.PermissionDenied, ""},
		{"other tenant", e.as(t, e.other, auth.RoleAdmin), &ticketv1.FeedbackItem{FeedbackItemId: id}, []string{"topics"}, codes.NotFound, ""},
	}
	for _, tt := range bad {
		_, err := e.client.UpdateFeedbackItem(tt.ctx, &ticketv1.UpdateFeedbackItemRequest{FeedbackItem: tt.item, UpdateMask: &fieldmaskpb.FieldMask{Paths: tt.mask}})
		if status.Code(err) != tt.wantCode || (tt.wantField != "" && !grpctest.Violations(err)[tt.wantField]) {
			t.Errorf("%s: UpdateFeedbackItem = %v, want %v %s", tt.name, err, tt.wantCode, tt.wantField)
		}
	}
	closed, err := e.client.UpdateFeedbackItem(ctx, &ticketv1.UpdateFeedbackItemRequest{
		FeedbackItem: &ticketv1.FeedbackItem{FeedbackItemId: id, Etag: first.GetFeedbackItem().GetEtag(), Status: ticketv1.FeedbackStatus_FEEDBACK_STATUS_CLOSED,
			Resolution: "Fixed in 2.3; told the customer"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"status", "resolution"}}})
	if err != nil || closed.GetFeedbackItem().GetStatus() != ticketv1.FeedbackStatus_FEEDBACK_STATUS_CLOSED {
		t.Fatalf("UpdateFeedbackItem close = %v, %v", closed, err)
	}
	list, err := e.client.ListFeedbackItems(ctx, &ticketv1.ListFeedbackItemsRequest{Filter: "status = FEEDBACK_STATUS_CLOSED"})
	if err != nil || len(list.GetFeedbackItems()) != 1 || list.GetFeedbackItems()[0].GetFeedbackItemId() != id {
		t.Fatalf("ListFeedbackItems(closed) = %v, %v", list, err)
	}
	all, err := e.client.ListFeedbackItems(ctx, &ticketv1.ListFeedbackItemsRequest{PageSize: 1})
	if err != nil || len(all.GetFeedbackItems()) != 1 || all.GetNextPageToken() == "" {
		t.Fatalf("ListFeedbackItems page 1 = %v, %v", all, err)
	}
	_, err = e.client.ListFeedbackItems(ctx, &ticketv1.ListFeedbackItemsRequest{Filter: "body = 'x'"})
	wantCode(t, "ListFeedbackItems on an unindexed field", err, codes.InvalidArgument)
}
