package grpcapi_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
)

// kinds lists a registration's conflict kinds, without their prefix.
func kinds(r *partnerv1.DealRegistration) string {
	var out []string
	for _, c := range r.GetConflicts() {
		out = append(out, strings.TrimPrefix(c.GetKind().String(), "CONFLICT_KIND_"))
	}
	return strings.Join(out, " ")
}

func TestRegistrationConflicts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.admin(t)
	mine := e.newPartner(t, e.tenant, "Mine", "")
	rival := e.newPartner(t, e.tenant, "Rival", "")
	free := e.customers.add("Free Co", "buyer@free.example", "+55 11 5555-0100", "")
	owned := e.customers.add("Owned Co", "cfo@owned.example", "", uuid.NewString())
	busy := e.customers.add("Busy Co", "ops@busy.example", "", "")
	busyOpp := e.opportunities.add(busy)
	e.register(t, ctx, rival, &partnerv1.Prospect{CompanyName: "Globex, Inc."})

	tests := []struct {
		name      string
		prospect  *partnerv1.Prospect
		customer  string
		wantState partnerv1.DealRegistrationState
		wantKinds string
		wantCust  string
	}{
		{"new prospect", &partnerv1.Prospect{CompanyName: "Initech", Email: "pm@initech.example"}, "", partnerv1.DealRegistrationState_DEAL_REGISTRATION_STATE_SUBMITTED, "", ""},
		{"resolves a differently written e-mail", &partnerv1.Prospect{Email: "  BUYER@Free.Example "}, "", partnerv1.DealRegistrationState_DEAL_REGISTRATION_STATE_SUBMITTED, "", free.String()},
		{"resolves a differently written phone", &partnerv1.Prospect{Phone: "+55 (11) 5555 0100"}, "", partnerv1.DealRegistrationState_DEAL_REGISTRATION_STATE_SUBMITTED, "", free.String()},
		{"direct sales owns the customer", &partnerv1.Prospect{Email: "cfo@owned.example"}, "", partnerv1.DealRegistrationState_DEAL_REGISTRATION_STATE_CONFLICT, "DIRECT_OWNER", owned.String()},
		{"open opportunity", nil, busy.String(), partnerv1.DealRegistrationState_DEAL_REGISTRATION_STATE_CONFLICT, "OPEN_OPPORTUNITY", busy.String()},
		{"another partner's registration, spelt differently", &partnerv1.Prospect{CompanyName: "GLOBEX inc"}, "", partnerv1.DealRegistrationState_DEAL_REGISTRATION_STATE_CONFLICT, "PARTNER_REGISTRATION", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := deal(mine, tt.prospect)
			d.CustomerId = tt.customer
			resp, err := e.deals.CreateDealRegistration(ctx, &partnerv1.CreateDealRegistrationRequest{DealRegistration: d})
			if err != nil {
				t.Fatalf("CreateDealRegistration: %v", err)
			}
			r := resp.GetDealRegistration()
			if r.GetState() != tt.wantState || kinds(r) != tt.wantKinds || r.GetCustomerId() != tt.wantCust {
				t.Fatalf("CreateDealRegistration = state %v, conflicts %q, customer %q; want %v, %q, %q", r.GetState(), kinds(r), r.GetCustomerId(),
					tt.wantState, tt.wantKinds, tt.wantCust)
			}
			if r.GetExpireTime().AsTime().Sub(r.GetCreateTime().AsTime()) < 89*24*time.Hour {
				t.Fatalf("expire_time %v, want about 90 days after %v", r.GetExpireTime().AsTime(), r.GetCreateTime().AsTime())
			}
		})
	}
	got, err := e.deals.ListDealRegistrations(ctx, &partnerv1.ListDealRegistrationsRequest{Filter: "state = DEAL_REGISTRATION_STATE_CONFLICT"})
	if err != nil || len(got.GetDealRegistrations()) != 3 {
		t.Fatalf("ListDealRegistrations(CONFLICT) = %d, %v; want 3", len(got.GetDealRegistrations()), err)
	}
	if c := got.GetDealRegistrations()[0].GetConflicts()[0]; c.GetPartnerId() != rival || c.GetDealRegistrationId() == "" {
		t.Fatalf("partner conflict = %v, want the rival's registration named for channel staff", c)
	}
	if _, err := e.opportunities.Open(t.Context(), busy); err != nil {
		t.Fatal(err)
	}
	if o, _ := e.opportunities.get(busyOpp); o.source != uuid.Nil {
		t.Fatalf("registration changed the open opportunity's source to %v", o.source)
	}
}

func TestRegistrationValidationAndAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.admin(t)
	mine := e.newPartner(t, e.tenant, "Mine", "")
	applicant, err := e.partners.CreatePartner(ctx, &partnerv1.CreatePartnerRequest{Partner: acme()})
	if err != nil {
		t.Fatal(err)
	}
	p := &partnerv1.Prospect{CompanyName: "Initech"}
	with := func(f func(d *partnerv1.DealRegistration)) *partnerv1.DealRegistration {
		d := deal(mine, p)
		f(d)
		return d
	}
	tests := []struct {
		name      string
		d         *partnerv1.DealRegistration
		wantField string
	}{
		{"no partner", with(func(d *partnerv1.DealRegistration) { d.PartnerId = "" }), "deal_registration.partner_id"},
		{"bad partner id", with(func(d *partnerv1.DealRegistration) { d.PartnerId = "x" }), "deal_registration.partner_id"},
		{"no name", with(func(d *partnerv1.DealRegistration) { d.DisplayName = "  " }), "deal_registration.display_name"},
		{"no prospect nor customer", with(func(d *partnerv1.DealRegistration) { d.Prospect = nil }), "deal_registration.prospect"},
		{"bad e-mail", with(func(d *partnerv1.DealRegistration) { d.Prospect = &partnerv1.Prospect{Email: "nope"} }), "deal_registration.prospect.email"},
		{"bad phone", with(func(d *partnerv1.DealRegistration) { d.Prospect = &partnerv1.Prospect{Phone: "12"} }), "deal_registration.prospect.phone"},
		{"negative amount", with(func(d *partnerv1.DealRegistration) { d.Amount.AmountMinor = -1 }), "deal_registration.amount.amount_minor"},
		{"bad currency", with(func(d *partnerv1.DealRegistration) { d.Amount = &typesv1.Money{CurrencyCode: "usd"} }), "deal_registration.amount.currency_code"},
		{"bad date", with(func(d *partnerv1.DealRegistration) { d.ExpectedCloseDate = "31/03/2027" }), "deal_registration.expected_close_date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.deals.CreateDealRegistration(ctx, &partnerv1.CreateDealRegistrationRequest{DealRegistration: tt.d}); status.Code(err) != codes.InvalidArgument ||
				!grpctest.Violations(err)[tt.wantField] {
				t.Fatalf("CreateDealRegistration(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.wantField)
			}
		})
	}
	other := e.newPartner(t, e.tenant, "Other", "")
	access := []struct {
		name   string
		ctx    context.Context
		d      *partnerv1.DealRegistration
		want   codes.Code
		reason string
	}{
		{"sales rep", e.as(t, e.tenant, auth.RoleSalesRep), deal(mine, p), codes.PermissionDenied, ""},
		{"analyst", e.as(t, e.tenant, auth.RoleAnalyst), deal(mine, p), codes.PermissionDenied, ""},
		{"applicant partner", ctx, deal(applicant.GetPartner().GetPartnerId(), p), codes.FailedPrecondition, "PARTNER_NOT_ACTIVE"},
		{"unknown partner", ctx, deal(uuid.NewString(), p), codes.FailedPrecondition, "PARTNER_NOT_FOUND"},
		{"partner user for another partner", e.partnerUser(t, e.tenant, mine), deal(other, p), codes.FailedPrecondition, "PARTNER_NOT_FOUND"},
		{"other tenant", e.as(t, e.other, auth.RoleAdmin), deal(mine, p), codes.FailedPrecondition, "PARTNER_NOT_FOUND"},
		{"partner user for itself", e.partnerUser(t, e.tenant, mine), deal("", p), codes.OK, ""},
	}
	for _, tt := range access {
		_, err := e.deals.CreateDealRegistration(tt.ctx, &partnerv1.CreateDealRegistrationRequest{DealRegistration: tt.d})
		if status.Code(err) != tt.want || (tt.reason != "" && !strings.Contains(reasonOf(err), tt.reason)) {
			t.Errorf("CreateDealRegistration(%s) = %v, want %v %s", tt.name, err, tt.want, tt.reason)
		}
	}
	var rows int
	if err := e.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM deal_registrations`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("registrations after the rejected creates = %d (%v), want only the partner user's", rows, err)
	}

	// Idempotent create.
	req := &partnerv1.CreateDealRegistrationRequest{DealRegistration: deal(mine, &partnerv1.Prospect{CompanyName: "Hooli"}), RequestId: "reg-1"}
	first, err := e.deals.CreateDealRegistration(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.deals.CreateDealRegistration(ctx, req)
	if err != nil || again.GetDealRegistration().GetDealRegistrationId() != first.GetDealRegistration().GetDealRegistrationId() ||
		again.GetDealRegistration().GetState() != partnerv1.DealRegistrationState_DEAL_REGISTRATION_STATE_SUBMITTED {
		t.Fatalf("repeated create = %v, %v; want the first registration, not a self-conflict", again, err)
	}
	var events int
	if err := e.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE type = 'deal_registration.created'`).Scan(&events); err != nil || events != 2 {
		t.Fatalf("created events = %d (%v), want 2", events, err)
	}
}

// reasonOf returns the ErrorInfo reason of err's status, or its message.
func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if s, ok := d.(interface{ GetReason() string }); ok {
			return s.GetReason()
		}
	}
	return status.Convert(err).Message()
}

func TestApproveWorkflow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.admin(t)
	dist := e.newPartner(t, e.tenant, "Distributor", "")
	sub := e.newPartner(t, e.tenant, "Sub", dist)
	subUser := e.partnerUser(t, e.tenant, sub)

	// A partner user registers; peers are checked at approval.
	r := e.register(t, subUser, "", &partnerv1.Prospect{CompanyName: "Initech", Email: "pm@initech.example"})
	if r.GetPartnerId() != sub || r.GetState() != partnerv1.DealRegistrationState_DEAL_REGISTRATION_STATE_SUBMITTED {
		t.Fatalf("partner user's registration = %v, want SUBMITTED for its partner", r)
	}
	if _, err := e.deals.ApproveDealRegistration(subUser, &partnerv1.ApproveDealRegistrationRequest{DealRegistrationId: r.GetDealRegistrationId()}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("Approve as partner user = %v, want PermissionDenied", err)
	}
	if _, err := e.deals.ApproveDealRegistration(ctx, &partnerv1.ApproveDealRegistrationRequest{DealRegistrationId: r.GetDealRegistrationId(), Etag: "99"}); status.Code(err) != codes.Aborted {
		t.Fatalf("Approve with a stale etag = %v, want Aborted", err)
	}
	// A peer failing part-way decides nothing; the retry completes with the same opportunity.
	e.customers.setDown(true)
	if _, err := e.deals.ApproveDealRegistration(ctx, &partnerv1.ApproveDealRegistrationRequest{DealRegistrationId: r.GetDealRegistrationId()}); status.Code(err) != codes.Unavailable {
		t.Fatalf("Approve with the customer service down = %v, want Unavailable", err)
	}
	e.customers.setDown(false)
	still, err := e.deals.GetDealRegistration(ctx, &partnerv1.GetDealRegistrationRequest{DealRegistrationId: r.GetDealRegistrationId()})
	if err != nil || still.GetDealRegistration().GetEtag() != r.GetEtag() {
		t.Fatalf("after a failed approval = %v, %v; want it unchanged", still, err)
	}
	approved, err := e.deals.ApproveDealRegistration(ctx, &partnerv1.ApproveDealRegistrationRequest{DealRegistrationId: r.GetDealRegistrationId(), Etag: r.GetEtag(), Note: "welcome"})
	if err != nil {
		t.Fatalf("Approve: %v", err)
	}
	a := approved.GetDealRegistration()
	cust, opp := uuid.MustParse(a.GetCustomerId()), uuid.MustParse(a.GetOpportunityId())
	if a.GetState() != partnerv1.DealRegistrationState_DEAL_REGISTRATION_STATE_APPROVED || a.GetDecisionNote() != "welcome" || a.GetDecideTime() == nil {
		t.Fatalf("Approve = %v, want APPROVED with the note and decide_time", a)
	}
	if o, _ := e.opportunities.get(opp); o.source.String() != sub || o.customer != cust || o.requestID != "dealreg-"+a.GetDealRegistrationId() {
		t.Fatalf("opportunity = %+v, want the customer's, sourced by the sub-reseller, with the registration's request id", o)
	}
	if !e.customers.linked(cust, uuid.MustParse(sub)) || !e.customers.linked(cust, uuid.MustParse(dist)) {
		t.Fatalf("customer links: sub %v, distributor %v; want both", e.customers.linked(cust, uuid.MustParse(sub)), e.customers.linked(cust, uuid.MustParse(dist)))
	}
	if _, err := e.deals.ApproveDealRegistration(ctx, &partnerv1.ApproveDealRegistrationRequest{DealRegistrationId: r.GetDealRegistrationId()}); status.Code(err) != codes.FailedPrecondition ||
		reasonOf(err) != "REGISTRATION_ALREADY_DECIDED" {
		t.Fatalf("Approve again = %v, want FailedPrecondition REGISTRATION_ALREADY_DECIDED", err)
	}
	// The approved registration protects the customer against other partners.
	rival := e.newPartner(t, e.tenant, "Rival", "")
	late := e.register(t, ctx, rival, &partnerv1.Prospect{Email: "PM@initech.example"})
	if late.GetState() != partnerv1.DealRegistrationState_DEAL_REGISTRATION_STATE_CONFLICT || !strings.Contains(kinds(late), "PARTNER_REGISTRATION") {
		t.Fatalf("rival's registration = %v, want a partner registration conflict", late)
	}
	// Approving a conflict is refused; arbitration decides it.
	if _, err := e.deals.ApproveDealRegistration(ctx, &partnerv1.ApproveDealRegistrationRequest{DealRegistrationId: late.GetDealRegistrationId()}); status.Code(err) != codes.FailedPrecondition ||
		reasonOf(err) != "REGISTRATION_CONFLICT" {
		t.Fatalf("Approve a conflict = %v, want FailedPrecondition REGISTRATION_CONFLICT", err)
	}

	// An expired registration cannot be approved, and nothing is written.
	old := e.register(t, ctx, dist, &partnerv1.Prospect{CompanyName: "Umbrella"})
	e.clock.advance(91 * 24 * time.Hour)
	var before int
	if err := e.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM outbox`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	_, n := e.opportunities.get(uuid.Nil)
	if _, err := e.deals.ApproveDealRegistration(ctx, &partnerv1.ApproveDealRegistrationRequest{DealRegistrationId: old.GetDealRegistrationId()}); status.Code(err) != codes.FailedPrecondition ||
		reasonOf(err) != "REGISTRATION_EXPIRED" {
		t.Fatalf("Approve an expired registration = %v, want FailedPrecondition REGISTRATION_EXPIRED", err)
	}
	var after int
	if err := e.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM outbox`).Scan(&after); err != nil || after != before {
		t.Fatalf("events after refusing an expired approval: %d, want %d", after, before)
	}
	if _, m := e.opportunities.get(uuid.Nil); m != n {
		t.Fatalf("opportunities after refusing an expired approval: %d, want %d", m, n)
	}
}

func TestApproveFindsNewConflict(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mine := e.newPartner(t, e.tenant, "Mine", "")
	r := e.register(t, e.partnerUser(t, e.tenant, mine), "", &partnerv1.Prospect{Email: "cfo@owned.example"})
	owned := e.customers.add("Owned Co", "cfo@owned.example", "", uuid.NewString())
	_, err := e.deals.ApproveDealRegistration(e.admin(t), &partnerv1.ApproveDealRegistrationRequest{DealRegistrationId: r.GetDealRegistrationId()})
	if status.Code(err) != codes.FailedPrecondition || reasonOf(err) != "REGISTRATION_CONFLICT" {
		t.Fatalf("Approve over a customer owned by direct sales = %v, want FailedPrecondition REGISTRATION_CONFLICT", err)
	}
	got, err := e.deals.GetDealRegistration(e.admin(t), &partnerv1.GetDealRegistrationRequest{DealRegistrationId: r.GetDealRegistrationId()})
	if err != nil || got.GetDealRegistration().GetState() != partnerv1.DealRegistrationState_DEAL_REGISTRATION_STATE_CONFLICT ||
		got.GetDealRegistration().GetConflicts()[0].GetCustomerId() != owned.String() {
		t.Fatalf("after the refused approval = %v, %v; want CONFLICT naming the customer", got, err)
	}
	// The partner user sees that and why it conflicts, not whose customer it is.
	own, err := e.deals.GetDealRegistration(e.partnerUser(t, e.tenant, mine), &partnerv1.GetDealRegistrationRequest{DealRegistrationId: r.GetDealRegistrationId()})
	if err != nil || kinds(own.GetDealRegistration()) != "DIRECT_OWNER" || own.GetDealRegistration().GetConflicts()[0].GetCustomerId() != "" {
		t.Fatalf("partner user's view = %v, %v; want the conflict kind without the customer", own, err)
	}
}

func TestArbitrateAndReject(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.admin(t)
	mine := e.newPartner(t, e.tenant, "Mine", "")
	rival := e.newPartner(t, e.tenant, "Rival", "")
	busy := e.customers.add("Busy Co", "ops@busy.example", "", "")
	opp := e.opportunities.add(busy)
	d := deal(mine, nil)
	d.CustomerId = busy.String()
	c, err := e.deals.CreateDealRegistration(ctx, &partnerv1.CreateDealRegistrationRequest{DealRegistration: d})
	if err != nil {
		t.Fatal(err)
	}
	r := c.GetDealRegistration()
	bad := []struct {
		name  string
		req   *partnerv1.ArbitrateDealRegistrationRequest
		field string
	}{
		{"no rationale", &partnerv1.ArbitrateDealRegistrationRequest{DealRegistrationId: r.GetDealRegistrationId(), Outcome: partnerv1.ArbitrationOutcome_ARBITRATION_OUTCOME_AWARDED}, "rationale"},
		{"no outcome", &partnerv1.ArbitrateDealRegistrationRequest{DealRegistrationId: r.GetDealRegistrationId(), Rationale: "first to register"}, "outcome"},
		{"bad id", &partnerv1.ArbitrateDealRegistrationRequest{DealRegistrationId: "x"}, "deal_registration_id"},
	}
	for _, tt := range bad {
		if _, err := e.deals.ArbitrateDealRegistration(ctx, tt.req); status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.field] {
			t.Errorf("Arbitrate(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.field)
		}
	}
	if _, err := e.deals.ArbitrateDealRegistration(e.as(t, e.other, auth.RoleAdmin), &partnerv1.ArbitrateDealRegistrationRequest{DealRegistrationId: r.GetDealRegistrationId(),
		Outcome: partnerv1.ArbitrationOutcome_ARBITRATION_OUTCOME_AWARDED, Rationale: "x"}); status.Code(err) != codes.NotFound {
		t.Fatalf("Arbitrate from another tenant = %v, want NotFound", err)
	}
	won, err := e.deals.ArbitrateDealRegistration(ctx, &partnerv1.ArbitrateDealRegistrationRequest{DealRegistrationId: r.GetDealRegistrationId(),
		Outcome: partnerv1.ArbitrationOutcome_ARBITRATION_OUTCOME_AWARDED, Rationale: "partner sourced the deal", Etag: r.GetEtag()})
	if err != nil {
		t.Fatalf("Arbitrate(award): %v", err)
	}
	w := won.GetDealRegistration()
	if w.GetState() != partnerv1.DealRegistrationState_DEAL_REGISTRATION_STATE_APPROVED || w.GetOpportunityId() != opp.String() ||
		w.GetArbitrationOutcome() != partnerv1.ArbitrationOutcome_ARBITRATION_OUTCOME_AWARDED || w.GetDecisionNote() != "partner sourced the deal" {
		t.Fatalf("Arbitrate(award) = %v, want APPROVED linking the open opportunity", w)
	}
	if o, _ := e.opportunities.get(opp); o.source.String() != mine {
		t.Fatalf("open opportunity source = %v, want the awarded partner", o.source)
	}
	var audits int
	if err := e.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM audit_log WHERE action = 'arbitrated' AND after->>'decisionNote' = 'partner sourced the deal'`).Scan(&audits); err != nil || audits != 1 {
		t.Fatalf("arbitration audit rows = %d (%v), want 1", audits, err)
	}

	// Rejection releases the claim: the next partner's registration is clean.
	first := e.register(t, ctx, mine, &partnerv1.Prospect{CompanyName: "Vandelay"})
	if _, err := e.deals.RejectDealRegistration(ctx, &partnerv1.RejectDealRegistrationRequest{DealRegistrationId: first.GetDealRegistrationId()}); status.Code(err) != codes.InvalidArgument ||
		!grpctest.Violations(err)["note"] {
		t.Fatalf("Reject without a note = %v, want InvalidArgument on note", err)
	}
	if _, err := e.deals.RejectDealRegistration(ctx, &partnerv1.RejectDealRegistrationRequest{DealRegistrationId: first.GetDealRegistrationId(), Note: "duplicate"}); err != nil {
		t.Fatalf("Reject: %v", err)
	}
	if next := e.register(t, ctx, rival, &partnerv1.Prospect{CompanyName: "Vandelay"}); next.GetState() != partnerv1.DealRegistrationState_DEAL_REGISTRATION_STATE_SUBMITTED {
		t.Fatalf("registration after the rival's rejection = %v, want SUBMITTED", next)
	}
	if _, err := e.deals.ArbitrateDealRegistration(ctx, &partnerv1.ArbitrateDealRegistrationRequest{DealRegistrationId: first.GetDealRegistrationId(),
		Outcome: partnerv1.ArbitrationOutcome_ARBITRATION_OUTCOME_AWARDED, Rationale: "changed my mind"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("Arbitrate a rejected registration = %v, want FailedPrecondition", err)
	}
}

// TestConcurrentRegistrations races pairs of partners registering the same
// prospect: in every pair exactly one wins and the other records the conflict.
func TestConcurrentRegistrations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.admin(t)
	a := e.newPartner(t, e.tenant, "A", "")
	b := e.newPartner(t, e.tenant, "B", "")
	const pairs = 8
	states := make([][2]partnerv1.DealRegistrationState, pairs)
	var wg sync.WaitGroup
	for i := range pairs {
		for j, partner := range []string{a, b} {
			wg.Go(func() {
				resp, err := e.deals.CreateDealRegistration(ctx, &partnerv1.CreateDealRegistrationRequest{
					DealRegistration: deal(partner, &partnerv1.Prospect{Email: "buyer" + string(rune('a'+i)) + "@race.example"})})
				if err != nil {
					t.Errorf("CreateDealRegistration: %v", err)
					return
				}
				states[i][j] = resp.GetDealRegistration().GetState()
			})
		}
	}
	wg.Wait()
	for i, s := range states {
		submitted := 0
		for _, st := range s {
			if st == partnerv1.DealRegistrationState_DEAL_REGISTRATION_STATE_SUBMITTED {
				submitted++
			}
		}
		if submitted != 1 {
			t.Errorf("pair %d states = %v, want one SUBMITTED and one CONFLICT", i, s)
		}
	}
}

func TestEngagementRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.admin(t)
	got, err := e.deals.GetEngagementRules(e.partnerUser(t, e.tenant, uuid.NewString()), &partnerv1.GetEngagementRulesRequest{})
	if err != nil || got.GetRules().GetProtectionDays() != 90 || !got.GetRules().GetDirectOwnerConflicts() || got.GetRules().GetEtag() != "0" {
		t.Fatalf("GetEngagementRules = %v, %v; want the defaults", got, err)
	}
	mask := &fieldmaskpb.FieldMask{Paths: []string{"protection_days", "direct_owner_conflicts"}}
	for _, tt := range []struct {
		name string
		ctx  context.Context
		req  *partnerv1.UpdateEngagementRulesRequest
		want codes.Code
	}{
		{"partner user", e.partnerUser(t, e.tenant, uuid.NewString()), &partnerv1.UpdateEngagementRulesRequest{Rules: &partnerv1.EngagementRules{ProtectionDays: 30}, UpdateMask: mask}, codes.PermissionDenied},
		{"zero days", ctx, &partnerv1.UpdateEngagementRulesRequest{Rules: &partnerv1.EngagementRules{}, UpdateMask: mask}, codes.InvalidArgument},
		{"unknown path", ctx, &partnerv1.UpdateEngagementRulesRequest{Rules: &partnerv1.EngagementRules{}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"etag"}}}, codes.InvalidArgument},
		{"stale etag", ctx, &partnerv1.UpdateEngagementRulesRequest{Rules: &partnerv1.EngagementRules{ProtectionDays: 30, Etag: "7"}, UpdateMask: mask}, codes.Aborted},
		{"ok", ctx, &partnerv1.UpdateEngagementRulesRequest{Rules: &partnerv1.EngagementRules{ProtectionDays: 30, Etag: "0"}, UpdateMask: mask}, codes.OK},
	} {
		if _, err := e.deals.UpdateEngagementRules(tt.ctx, tt.req); status.Code(err) != tt.want {
			t.Errorf("UpdateEngagementRules(%s) = %v, want %v", tt.name, err, tt.want)
		}
	}
	// The rules apply: 30-day windows, and direct ownership no longer conflicts.
	mine := e.newPartner(t, e.tenant, "Mine", "")
	e.customers.add("Owned Co", "cfo@owned.example", "", uuid.NewString())
	r := e.register(t, ctx, mine, &partnerv1.Prospect{Email: "cfo@owned.example"})
	if r.GetState() != partnerv1.DealRegistrationState_DEAL_REGISTRATION_STATE_SUBMITTED ||
		r.GetExpireTime().AsTime().Sub(r.GetCreateTime().AsTime()) > 31*24*time.Hour {
		t.Fatalf("registration under the new rules = %v, want SUBMITTED with a 30-day window", r)
	}
	other, err := e.deals.GetEngagementRules(e.as(t, e.other, auth.RoleAdmin), &partnerv1.GetEngagementRulesRequest{})
	if err != nil || other.GetRules().GetProtectionDays() != 90 {
		t.Fatalf("other tenant's rules = %v, %v; want its defaults", other, err)
	}
}
