package grpcapi_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
)

// territoryPartner creates a partner of the first tenant with a tier, a
// status and one territory.
func (e *env) territoryPartner(t *testing.T, name, tier, parent string, status partnerv1.PartnerStatus, region, industry string) string {
	t.Helper()
	resp, err := e.partners.CreatePartner(e.admin(t), &partnerv1.CreatePartnerRequest{Partner: &partnerv1.Partner{
		DisplayName: name, Type: partnerv1.PartnerType_PARTNER_TYPE_RESELLER, Status: status, Tier: tier, ParentPartnerId: parent,
		Territories: []*partnerv1.Territory{{Region: region, Industry: industry}},
	}})
	if err != nil {
		t.Fatalf("CreatePartner(%s): %v", name, err)
	}
	return resp.GetPartner().GetPartnerId()
}

func (e *env) leadSchedule(t *testing.T, goldCapacity int32) {
	t.Helper()
	if _, err := e.program.UpdateTierSchedule(e.admin(t), &partnerv1.UpdateTierScheduleRequest{TierSchedule: &partnerv1.TierSchedule{CurrencyCode: "USD", Tiers: []*partnerv1.Tier{
		{Name: "bronze", MaxRevenueMinor: 100_000},
		{Name: "silver", MinRevenueMinor: 100_000, MaxRevenueMinor: 500_000},
		{Name: "gold", MinRevenueMinor: 500_000, MonthlyLeadCapacity: goldCapacity},
	}}}); err != nil {
		t.Fatal(err)
	}
}

func TestLeadDistribution(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.admin(t)
	e.leadSchedule(t, 1)
	active := partnerv1.PartnerStatus_PARTNER_STATUS_ACTIVE
	gold := e.territoryPartner(t, "gold", "gold", "", active, "CA", "")
	silverB := e.territoryPartner(t, "silver B", "silver", gold, active, "CA", "retail")
	silverC := e.territoryPartner(t, "silver C", "silver", "", active, "CA", "")
	bronze := e.territoryPartner(t, "bronze", "bronze", "", active, "US", "")
	e.territoryPartner(t, "applicant", "gold", "", partnerv1.PartnerStatus_PARTNER_STATUS_APPLICANT, "CA", "")
	e.territoryPartner(t, "wrong industry", "gold", "", active, "CA", "energy")
	silvers := map[string]bool{silverB: true, silverC: true}

	offer := func(lead, region, industry string, ttl int32, requestID string) (*partnerv1.LeadOffer, error) {
		resp, err := e.leads.OfferLead(admin, &partnerv1.OfferLeadRequest{LeadId: lead, Region: region, Industry: industry, TtlHours: ttl, RequestId: requestID})
		return resp.GetLeadOffer(), err
	}
	lead1 := uuid.NewString()
	first, err := offer(lead1, "CA", "retail", 0, "offer-1")
	if err != nil || first.GetPartnerId() != gold || first.GetState() != partnerv1.LeadOfferState_LEAD_OFFER_STATE_PENDING || first.GetTier() != "gold" {
		t.Fatalf("OfferLead(lead1) = %v, %v, want a pending offer to the gold partner", first, err)
	}
	if d := first.GetExpireTime().AsTime().Sub(first.GetCreateTime().AsTime()); d < 47*time.Hour || d > 49*time.Hour {
		t.Errorf("default offer window = %v, want 48h", d)
	}
	if again, err := offer(lead1, "CA", "retail", 0, "offer-1"); err != nil || again.GetLeadOfferId() != first.GetLeadOfferId() {
		t.Fatalf("OfferLead(same request_id) = %v, %v, want the first offer", again, err)
	}
	if _, err := offer(lead1, "CA", "retail", 0, ""); grpctest.Reason(err) != "LEAD_ALREADY_OFFERED" {
		t.Fatalf("OfferLead(lead1 again) = %v, want LEAD_ALREADY_OFFERED", err)
	}
	// Gold is at capacity (and the other gold covers energy only): the next
	// retail leads go to the silvers, least loaded first.
	second, err := offer(uuid.NewString(), "CA", "retail", 0, "")
	if err != nil || !silvers[second.GetPartnerId()] {
		t.Fatalf("OfferLead(lead2) = %v, %v, want a silver partner", second, err)
	}
	third, err := offer(uuid.NewString(), "CA", "retail", 0, "")
	if err != nil || !silvers[third.GetPartnerId()] || third.GetPartnerId() == second.GetPartnerId() {
		t.Fatalf("OfferLead(lead3) = %v, %v, want the other silver partner", third, err)
	}

	// The gold partner's user declines: the lead moves to a silver partner
	// whose territory covers retail in CA.
	goldUser := e.partnerUser(t, e.tenant, gold)
	if _, err := e.leads.AcceptLeadOffer(e.partnerUser(t, e.tenant, silverC), &partnerv1.AcceptLeadOfferRequest{LeadOfferId: first.GetLeadOfferId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("AcceptLeadOffer by another partner's user = %v, want NotFound", err)
	}
	declined, err := e.leads.DeclineLeadOffer(goldUser, &partnerv1.DeclineLeadOfferRequest{LeadOfferId: first.GetLeadOfferId(), Reason: "no capacity"})
	if err != nil {
		t.Fatalf("DeclineLeadOffer: %v", err)
	}
	if d := declined.GetLeadOffer(); d.GetState() != partnerv1.LeadOfferState_LEAD_OFFER_STATE_DECLINED || d.GetDeclineReason() != "no capacity" || d.GetDecidedBy() == "" {
		t.Fatalf("declined offer = %v", d)
	}
	next := declined.GetNextOffer()
	if !silvers[next.GetPartnerId()] || next.GetLeadId() != lead1 || next.GetOfferedBy() != "" {
		t.Fatalf("next offer = %v, want lead1 to a silver partner, offered by the service", next)
	}
	nextUser := e.partnerUser(t, e.tenant, next.GetPartnerId())
	accepted, err := e.leads.AcceptLeadOffer(nextUser, &partnerv1.AcceptLeadOfferRequest{LeadOfferId: next.GetLeadOfferId(), Etag: next.GetEtag()})
	if err != nil || accepted.GetLeadOffer().GetState() != partnerv1.LeadOfferState_LEAD_OFFER_STATE_ACCEPTED {
		t.Fatalf("AcceptLeadOffer = %v, %v", accepted, err)
	}
	if _, err := e.leads.AcceptLeadOffer(nextUser, &partnerv1.AcceptLeadOfferRequest{LeadOfferId: next.GetLeadOfferId()}); grpctest.Reason(err) != "LEAD_OFFER_ANSWERED" {
		t.Fatalf("AcceptLeadOffer twice = %v, want LEAD_OFFER_ANSWERED", err)
	}

	// An offer answered after its time is expired, not accepted.
	late, err := offer(uuid.NewString(), "US", "", 1, "")
	if err != nil || late.GetPartnerId() != bronze {
		t.Fatalf("OfferLead(US) = %v, %v, want the bronze partner", late, err)
	}
	e.clock.advance(2 * time.Hour)
	if _, err := e.leads.AcceptLeadOffer(e.partnerUser(t, e.tenant, bronze), &partnerv1.AcceptLeadOfferRequest{LeadOfferId: late.GetLeadOfferId()}); grpctest.Reason(err) != "LEAD_OFFER_EXPIRED" {
		t.Fatalf("AcceptLeadOffer after expiry = %v, want LEAD_OFFER_EXPIRED", err)
	}
	got, err := e.leads.GetLeadOffer(admin, &partnerv1.GetLeadOfferRequest{LeadOfferId: late.GetLeadOfferId()})
	if err != nil || got.GetLeadOffer().GetState() != partnerv1.LeadOfferState_LEAD_OFFER_STATE_EXPIRED {
		t.Fatalf("late offer = %v, %v, want EXPIRED", got, err)
	}

	// The sweep expires overdue offers and moves their leads on.
	swept, err := offer(uuid.NewString(), "", "retail", 1, "")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.advance(2 * time.Hour)
	res, err := e.leads.ExpireLeadOffers(admin, &partnerv1.ExpireLeadOffersRequest{})
	// Only swept is due (the others have 48 h); it goes on to a silver partner.
	if err != nil || res.GetExpired() != 1 || res.GetReoffered() != 1 {
		t.Fatalf("ExpireLeadOffers = %v, %v, want 1 expired and re-offered", res, err)
	}
	after, err := e.leads.ListLeadOffers(admin, &partnerv1.ListLeadOffersRequest{Filter: `lead_id = "` + swept.GetLeadId() + `"`})
	if err != nil || len(after.GetLeadOffers()) != 2 || after.GetLeadOffers()[1].GetState() != partnerv1.LeadOfferState_LEAD_OFFER_STATE_EXPIRED ||
		after.GetLeadOffers()[0].GetState() != partnerv1.LeadOfferState_LEAD_OFFER_STATE_PENDING {
		t.Fatalf("offers of the swept lead = %v, %v, want the expired one and a new pending one", after, err)
	}

	// The gold partner's user sees its own offers and its sub-partner's only.
	list, err := e.leads.ListLeadOffers(goldUser, &partnerv1.ListLeadOffersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list.GetLeadOffers() {
		if o.GetPartnerId() != gold && o.GetPartnerId() != silverB {
			t.Errorf("the gold partner's user sees an offer to %s", o.GetPartnerId())
		}
	}
	if len(list.GetLeadOffers()) == 0 {
		t.Error("the gold partner's user sees no offer")
	}

	refusals := []struct {
		name      string
		ctx       context.Context
		req       *partnerv1.OfferLeadRequest
		wantCode  codes.Code
		wantField string
		wantWhy   string
	}{
		{name: "no lead", req: &partnerv1.OfferLeadRequest{}, wantCode: codes.InvalidArgument, wantField: "lead_id"},
		{name: "ttl too long", req: &partnerv1.OfferLeadRequest{LeadId: uuid.NewString(), TtlHours: 721}, wantCode: codes.InvalidArgument, wantField: "ttl_hours"},
		{name: "nobody covers the region", req: &partnerv1.OfferLeadRequest{LeadId: uuid.NewString(), Region: "FR"}, wantCode: codes.FailedPrecondition, wantWhy: "NO_ELIGIBLE_PARTNER"},
		{name: "another tenant has no partners", ctx: e.as(t, e.other, auth.RoleAdmin), req: &partnerv1.OfferLeadRequest{LeadId: uuid.NewString(), Region: "CA"}, wantCode: codes.FailedPrecondition, wantWhy: "NO_ELIGIBLE_PARTNER"},
		{name: "sales rep", ctx: e.as(t, e.tenant, auth.RoleSalesRep), req: &partnerv1.OfferLeadRequest{LeadId: uuid.NewString()}, wantCode: codes.PermissionDenied},
		{name: "partner user", ctx: goldUser, req: &partnerv1.OfferLeadRequest{LeadId: uuid.NewString()}, wantCode: codes.PermissionDenied},
	}
	for _, tt := range refusals {
		ctx := tt.ctx
		if ctx == nil {
			ctx = admin
		}
		_, err := e.leads.OfferLead(ctx, tt.req)
		if status.Code(err) != tt.wantCode || (tt.wantField != "" && !grpctest.Violations(err)[tt.wantField]) || (tt.wantWhy != "" && grpctest.Reason(err) != tt.wantWhy) {
			t.Errorf("%s: OfferLead = %v, want %v %s%s", tt.name, err, tt.wantCode, tt.wantField, tt.wantWhy)
		}
	}
	if _, err := e.leads.ExpireLeadOffers(goldUser, &partnerv1.ExpireLeadOffersRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("ExpireLeadOffers as a partner user = %v, want PermissionDenied", err)
	}
	if _, err := e.leads.GetLeadOffer(e.as(t, e.other, auth.RoleAdmin), &partnerv1.GetLeadOfferRequest{LeadOfferId: first.GetLeadOfferId()}); status.Code(err) != codes.NotFound {
		t.Errorf("GetLeadOffer from another tenant = %v, want NotFound", err)
	}
}

// TestLeadOfferCapacityRace offers many leads at once to a region only one
// partner covers: its tier's capacity holds exactly.
func TestLeadOfferCapacityRace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.leadSchedule(t, 2)
	e.territoryPartner(t, "gold", "gold", "", partnerv1.PartnerStatus_PARTNER_STATUS_ACTIVE, "NZ", "")
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = e.leads.OfferLead(e.admin(t), &partnerv1.OfferLeadRequest{LeadId: uuid.NewString(), Region: "NZ"})
		})
	}
	wg.Wait()
	offered := 0
	for _, err := range errs {
		switch {
		case err == nil:
			offered++
		case grpctest.Reason(err) != "NO_ELIGIBLE_PARTNER":
			t.Errorf("OfferLead = %v, want OK or NO_ELIGIBLE_PARTNER", err)
		}
	}
	if offered != 2 {
		t.Fatalf("%d leads offered at once to a partner of capacity 2", offered)
	}
}
