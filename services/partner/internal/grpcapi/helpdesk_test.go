package grpcapi_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	eventsv1 "github.com/rapportcrm/rapport/gen/go/rapport/events/v1"
	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/services/partner/internal/feed"
	"github.com/rapportcrm/rapport/services/partner/internal/postgres"
)

// stream feeds events, in the shape the customer and ticket services send
// them, through the follower's decoding into the projection, with a cursor
// each, as the follower does.
type stream struct {
	t      *testing.T
	e      *env
	tenant string
	source string
	n      int
}

func (s *stream) send(typ string, at time.Time, payload proto.Message) string {
	s.t.Helper()
	s.n++
	body, err := anypb.New(payload)
	if err != nil {
		s.t.Fatal(err)
	}
	ev := &eventsv1.Event{EventId: uuid.NewString(), Cursor: fmt.Sprintf("%s-%04d", s.source, s.n), Type: typ, Source: s.source,
		TenantId: s.tenant, Time: timestamppb.New(at), Payload: body}
	s.apply(ev)
	return ev.GetCursor()
}

func (s *stream) apply(ev *eventsv1.Event) {
	s.t.Helper()
	c, err := feed.Decode(ev)
	if err != nil {
		s.t.Fatalf("Decode(%s) = %v", ev.GetType(), err)
	}
	if err := postgres.New(s.e.db.App).Satisfaction().Apply(s.t.Context(), uuid.MustParse(s.tenant), s.source, ev.GetCursor(), c); err != nil {
		s.t.Fatalf("Apply(%s) = %v", ev.GetType(), err)
	}
}

// TestHelpDeskSatisfaction proves that scorecards count exactly the help
// desk's answers of customers linked to the partner when they answered,
// whichever stream arrives first, once each, apart from sell-through
// satisfaction, and that partner users see their own partner's figures.
func TestHelpDeskSatisfaction(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.newPartner(t, e.tenant, "p", "")
	q := e.newPartner(t, e.tenant, "q", "")
	day := func(d int) time.Time { return time.Date(2027, 3, d, 12, 0, 0, 0, time.UTC) }
	c1, c2, c3 := uuid.NewString(), uuid.NewString(), uuid.NewString()
	t1, t2, t3 := uuid.NewString(), uuid.NewString(), uuid.NewString()
	tickets := &stream{t: t, e: e, tenant: e.tenant, source: "ticket"}
	customers := &stream{t: t, e: e, tenant: e.tenant, source: "customer"}
	for tk, c := range map[string]string{t1: c1, t2: c2, t3: c3} {
		tickets.send("ticket.created", day(1), &ticketv1.Ticket{TicketId: tk, CustomerId: c, Subject: "help"})
	}
	csat := func(survey, ticket string, score int32, at time.Time) *ticketv1.TicketCsatSurvey {
		return &ticketv1.TicketCsatSurvey{SurveyId: survey, TicketId: ticket, Score: score, AnswerTime: timestamppb.New(at), Comment: "private words"}
	}
	// The ticket stream runs ahead of the customer stream: c1's answers are
	// projected before its links are.
	tickets.send("csat_survey.answered", day(5), csat("s1", t1, 5, day(5)))
	tickets.send("csat_survey.answered", day(1), csat("s0", t1, 1, day(1).Add(-time.Hour))) // before c1 was linked
	tickets.send("csat_survey.answered", day(6), csat("s2", t2, 1, day(6)))
	tickets.send("csat_survey.answered", day(20), csat("s3", t2, 3, day(20))) // after c2 was unlinked
	tickets.send("csat_survey.answered", day(6), csat("s4", t3, 2, day(6)))   // c3 belongs to no partner
	tickets.send("csat_survey.created", day(6), &ticketv1.TicketCsatSurvey{SurveyId: "s5", TicketId: t1})
	for i, score := range []int32{10, 9, 3} {
		tickets.send("nps_survey.answered", day(7), &ticketv1.NpsResponse{NpsSurveyId: uuid.NewString(), CustomerId: c1, Score: score,
			AnswerTime: timestamppb.New(day(7 + i))})
	}
	link := func(c, partner string, at time.Time) *customerv1.CustomerPartnerLink {
		return &customerv1.CustomerPartnerLink{CustomerId: c, PartnerId: partner, LinkTime: timestamppb.New(at)}
	}
	customers.send("customer.partner_linked", day(1), link(c1, p, day(1)))
	customers.send("customer.partner_linked", day(1), link(c1, q, day(1)))
	customers.send("customer.partner_linked", day(2), link(c2, p, day(2)))
	customers.send("customer.partner_unlinked", day(10), link(c2, p, day(2)))
	last := customers.send("customer.updated", day(11), &customerv1.Customer{CustomerId: c1, DisplayName: "c1"})

	// Replaying an event (a follower that died before it saw its commit
	// would not, but the projection must not care) changes nothing.
	tickets.send("csat_survey.answered", day(5), csat("s1", t1, 5, day(5)))
	customers.send("customer.partner_unlinked", day(12), link(c2, p, day(2)))

	if got, err := postgres.New(e.db.App).Satisfaction().Checkpoint(t.Context(), uuid.MustParse(e.tenant), "customer"); err != nil || got <= last {
		t.Errorf("customer checkpoint = %q, %v; want past %q", got, err, last)
	}
	const from, to = "2027-03-01", "2027-04-01"
	tests := []struct {
		name              string
		partner           string
		wantCSAT          float64
		wantCSATResponses int64
		wantNPS           float64
		wantNPSResponses  int64
	}{
		// p: s1 (5) and s2 (1); not s0 (before the link), s3 (after the unlink), s4 (c3's).
		{name: "p", partner: p, wantCSAT: 3, wantCSATResponses: 2, wantNPS: 33.33, wantNPSResponses: 3},
		{name: "q", partner: q, wantCSAT: 5, wantCSATResponses: 1, wantNPS: 33.33, wantNPSResponses: 3},
	}
	for _, tt := range tests {
		for _, viewer := range []string{"analyst", "partner user"} {
			ctx := e.as(t, e.tenant, auth.RoleAnalyst)
			if viewer == "partner user" {
				ctx = e.partnerUser(t, e.tenant, tt.partner)
			}
			resp, err := e.scores.GetPartnerScorecard(ctx, &partnerv1.GetPartnerScorecardRequest{PartnerId: tt.partner, PeriodStart: from, PeriodEnd: to})
			if err != nil {
				t.Fatalf("%s, %s: GetPartnerScorecard = %v", tt.name, viewer, err)
			}
			sc := resp.GetScorecard()
			if sc.GetHelpDeskCsat() != tt.wantCSAT || sc.GetHelpDeskCsatResponses() != tt.wantCSATResponses ||
				math.Round(sc.GetHelpDeskNps()*100)/100 != tt.wantNPS || sc.GetHelpDeskNpsResponses() != tt.wantNPSResponses {
				t.Errorf("%s, %s: help desk CSAT %v (%d), NPS %v (%d); want %v (%d), %v (%d)", tt.name, viewer,
					sc.GetHelpDeskCsat(), sc.GetHelpDeskCsatResponses(), sc.GetHelpDeskNps(), sc.GetHelpDeskNpsResponses(),
					tt.wantCSAT, tt.wantCSATResponses, tt.wantNPS, tt.wantNPSResponses)
			}
			if sc.GetCustomerSatisfaction() != 0 || sc.GetSatisfactionResponses() != 0 {
				t.Errorf("%s: sell-through satisfaction = %v (%d), want none: the help desk's is apart", tt.name, sc.GetCustomerSatisfaction(), sc.GetSatisfactionResponses())
			}
		}
	}
	// Outside the period nothing counts; q's user does not see p's scorecard;
	// the other tenant sees neither the partner nor its answers.
	resp, err := e.scores.GetPartnerScorecard(e.as(t, e.tenant, auth.RoleAnalyst), &partnerv1.GetPartnerScorecardRequest{PartnerId: p, PeriodStart: "2027-04-01", PeriodEnd: "2027-05-01"})
	if err != nil || resp.GetScorecard().GetHelpDeskCsatResponses() != 0 {
		t.Errorf("April scorecard = %v, %v; want no help-desk answers", resp.GetScorecard(), err)
	}
	if _, err := e.scores.GetPartnerScorecard(e.partnerUser(t, e.tenant, q), &partnerv1.GetPartnerScorecardRequest{PartnerId: p, PeriodStart: from, PeriodEnd: to}); status.Code(err) != codes.NotFound {
		t.Errorf("q's user on p's scorecard = %v, want NotFound", err)
	}
	if _, err := e.scores.GetPartnerScorecard(e.as(t, e.other, auth.RoleAdmin), &partnerv1.GetPartnerScorecardRequest{PartnerId: p, PeriodStart: from, PeriodEnd: to}); status.Code(err) != codes.NotFound {
		t.Errorf("other tenant on p's scorecard = %v, want NotFound", err)
	}
}

// TestListPartnerScorecardsRefusals covers the list's bad input and roles.
func TestListPartnerScorecardsRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.newPartner(t, e.tenant, "p", "")
	tests := []struct {
		name      string
		role      auth.Role
		req       *partnerv1.ListPartnerScorecardsRequest
		wantCode  codes.Code
		wantField string
	}{
		{name: "no period", role: auth.RoleAdmin, req: &partnerv1.ListPartnerScorecardsRequest{}, wantCode: codes.InvalidArgument, wantField: "period_start"},
		{name: "period too long", role: auth.RoleAdmin, req: &partnerv1.ListPartnerScorecardsRequest{PeriodStart: "2027-01-01", PeriodEnd: "2028-06-01"},
			wantCode: codes.InvalidArgument, wantField: "period_end"},
		{name: "negative page size", role: auth.RoleAdmin, req: &partnerv1.ListPartnerScorecardsRequest{PeriodStart: "2027-01-01", PeriodEnd: "2027-02-01", PageSize: -1},
			wantCode: codes.InvalidArgument, wantField: "page_size"},
		{name: "forged page token", role: auth.RoleAdmin, req: &partnerv1.ListPartnerScorecardsRequest{PeriodStart: "2027-01-01", PeriodEnd: "2027-02-01", PageToken: "xyz"},
			wantCode: codes.InvalidArgument, wantField: "page_token"},
		{name: "support agent", role: auth.RoleSupportAgent, req: &partnerv1.ListPartnerScorecardsRequest{PeriodStart: "2027-01-01", PeriodEnd: "2027-02-01"},
			wantCode: codes.PermissionDenied},
		{name: "sales rep", role: auth.RoleSalesRep, req: &partnerv1.ListPartnerScorecardsRequest{PeriodStart: "2027-01-01", PeriodEnd: "2027-02-01"},
			wantCode: codes.PermissionDenied},
		{name: "admin", role: auth.RoleAdmin, req: &partnerv1.ListPartnerScorecardsRequest{PeriodStart: "2027-01-01", PeriodEnd: "2027-02-01"}, wantCode: codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.scores.ListPartnerScorecards(e.as(t, e.tenant, tt.role), tt.req)
			if status.Code(err) != tt.wantCode || (tt.wantField != "" && !grpctest.Violations(err)[tt.wantField]) {
				t.Errorf("ListPartnerScorecards = %v, want %v on %q", err, tt.wantCode, tt.wantField)
			}
		})
	}
}
