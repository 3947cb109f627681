package grpcapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
)

// schedule is bronze, silver and gold, gold gated by a certification.
func schedule() *partnerv1.TierSchedule {
	return &partnerv1.TierSchedule{CurrencyCode: "usd", Tiers: []*partnerv1.Tier{
		{Name: "bronze", MinRevenueMinor: 0, MaxRevenueMinor: 100_000},
		{Name: "silver", MinRevenueMinor: 100_000, MaxRevenueMinor: 500_000},
		{Name: "gold", MinRevenueMinor: 500_000, RequiredCertifications: []string{"gold-cert"}},
	}}
}

func TestTierSchedule(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	empty, err := e.program.GetTierSchedule(e.partnerUser(t, e.tenant, uuid.NewString()), &partnerv1.GetTierScheduleRequest{})
	if err != nil || len(empty.GetTierSchedule().GetTiers()) != 0 || empty.GetTierSchedule().GetEtag() != "0" {
		t.Fatalf("GetTierSchedule before any = %v, %v, want empty at etag 0", empty, err)
	}
	saved, err := e.program.UpdateTierSchedule(e.admin(t), &partnerv1.UpdateTierScheduleRequest{TierSchedule: schedule()})
	if err != nil {
		t.Fatalf("UpdateTierSchedule: %v", err)
	}
	if s := saved.GetTierSchedule(); s.GetCurrencyCode() != "USD" || len(s.GetTiers()) != 3 || s.GetEtag() != "1" {
		t.Fatalf("UpdateTierSchedule = %v, want USD, 3 tiers, etag 1", s)
	}
	with := func(mut func(*partnerv1.TierSchedule)) *partnerv1.TierSchedule {
		s := schedule()
		mut(s)
		return s
	}
	tests := []struct {
		name      string
		ctx       context.Context
		in        *partnerv1.TierSchedule
		wantCode  codes.Code
		wantField string
		wantSays  string
	}{
		{name: "no schedule", wantCode: codes.InvalidArgument, wantField: "tier_schedule"},
		{name: "overlapping bands", in: with(func(s *partnerv1.TierSchedule) { s.Tiers[2].MinRevenueMinor = 400_000 }),
			wantCode: codes.InvalidArgument, wantField: "tier_schedule.tiers[2].min_revenue_minor", wantSays: `overlaps tiers[1] "silver"`},
		{name: "open band under another", in: with(func(s *partnerv1.TierSchedule) { s.Tiers[0].MaxRevenueMinor = 0 }),
			wantCode: codes.InvalidArgument, wantField: "tier_schedule.tiers[1].min_revenue_minor"},
		{name: "same name", in: with(func(s *partnerv1.TierSchedule) { s.Tiers[1].Name = " bronze " }), wantCode: codes.InvalidArgument, wantField: "tier_schedule.tiers[1].name"},
		{name: "no name", in: with(func(s *partnerv1.TierSchedule) { s.Tiers[1].Name = "" }), wantCode: codes.InvalidArgument, wantField: "tier_schedule.tiers[1].name"},
		{name: "empty band", in: with(func(s *partnerv1.TierSchedule) { s.Tiers[1].MaxRevenueMinor = 100_000 }), wantCode: codes.InvalidArgument, wantField: "tier_schedule.tiers[1].max_revenue_minor"},
		{name: "negative minimum", in: with(func(s *partnerv1.TierSchedule) { s.Tiers[0].MinRevenueMinor = -1 }), wantCode: codes.InvalidArgument, wantField: "tier_schedule.tiers[0].min_revenue_minor"},
		{name: "bad currency", in: with(func(s *partnerv1.TierSchedule) { s.CurrencyCode = "dollars" }), wantCode: codes.InvalidArgument, wantField: "tier_schedule.currency_code"},
		{name: "blank certification", in: with(func(s *partnerv1.TierSchedule) { s.Tiers[2].RequiredCertifications = []string{" "} }),
			wantCode: codes.InvalidArgument, wantField: "tier_schedule.tiers[2].required_certifications[0]"},
		{name: "stale etag", in: with(func(s *partnerv1.TierSchedule) { s.Etag = "0" }), wantCode: codes.Aborted},
		{name: "sales rep", ctx: e.as(t, e.tenant, auth.RoleSalesRep), in: schedule(), wantCode: codes.PermissionDenied},
		{name: "partner user", ctx: e.partnerUser(t, e.tenant, uuid.NewString()), in: schedule(), wantCode: codes.PermissionDenied},
	}
	for _, tt := range tests {
		ctx := tt.ctx
		if ctx == nil {
			ctx = e.admin(t)
		}
		_, err := e.program.UpdateTierSchedule(ctx, &partnerv1.UpdateTierScheduleRequest{TierSchedule: tt.in})
		if status.Code(err) != tt.wantCode {
			t.Errorf("%s: UpdateTierSchedule = %v, want %v", tt.name, err, tt.wantCode)
			continue
		}
		if tt.wantField != "" && !grpctest.Violations(err)[tt.wantField] {
			t.Errorf("%s: violations %v, want %s", tt.name, grpctest.Violations(err), tt.wantField)
		}
		if !strings.Contains(status.Convert(err).Message()+violationText(err), tt.wantSays) {
			t.Errorf("%s: %v does not say %q", tt.name, err, tt.wantSays)
		}
	}
	got, err := e.program.GetTierSchedule(e.as(t, e.tenant, auth.RoleAnalyst), &partnerv1.GetTierScheduleRequest{})
	if err != nil || got.GetTierSchedule().GetEtag() != "1" || got.GetTierSchedule().GetTiers()[2].GetRequiredCertifications()[0] != "gold-cert" {
		t.Fatalf("GetTierSchedule after refusals = %v, %v, want the first schedule unchanged", got, err)
	}
	foreign, err := e.program.GetTierSchedule(e.as(t, e.other, auth.RoleAdmin), &partnerv1.GetTierScheduleRequest{})
	if err != nil || len(foreign.GetTierSchedule().GetTiers()) != 0 {
		t.Fatalf("GetTierSchedule in another tenant = %v, %v, want empty", foreign, err)
	}
}

// violationText joins the descriptions of an error's field violations.
func violationText(err error) string {
	var out []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(interface{ String() string }); ok {
			out = append(out, br.String())
		}
	}
	return strings.Join(out, " ")
}

func TestCertificationsAndTierEvaluation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.admin(t)
	p := e.newPartner(t, e.tenant, "p", "")
	if _, err := e.program.EvaluatePartnerTier(admin, &partnerv1.EvaluatePartnerTierRequest{PartnerId: p}); grpctest.Reason(err) != "NO_TIER_SCHEDULE" {
		t.Fatalf("EvaluatePartnerTier without a schedule = %v, want NO_TIER_SCHEDULE", err)
	}
	if _, err := e.program.UpdateTierSchedule(admin, &partnerv1.UpdateTierScheduleRequest{TierSchedule: schedule()}); err != nil {
		t.Fatal(err)
	}
	now := e.clock.now()
	e.orders.add(p, finance.Order{Kind: finance.OrderSale, Time: now.AddDate(0, -2, 0), CurrencyCode: "USD", Lines: []finance.OrderLine{{ProductID: uuid.NewString(), TotalMinor: 650_000}}})
	e.orders.add(p, finance.Order{Kind: finance.OrderReturn, Time: now.AddDate(0, -1, 0), CurrencyCode: "USD", Lines: []finance.OrderLine{{ProductID: uuid.NewString(), TotalMinor: 50_000}}})
	e.orders.add(p, finance.Order{Kind: finance.OrderSale, Time: now.AddDate(0, -1, 0), CurrencyCode: "EUR", Lines: []finance.OrderLine{{ProductID: uuid.NewString(), TotalMinor: 900_000}}})
	e.orders.add(p, finance.Order{Kind: finance.OrderSale, Time: now.AddDate(-2, 0, 0), CurrencyCode: "USD", Lines: []finance.OrderLine{{ProductID: uuid.NewString(), TotalMinor: 900_000}}})

	evaluate := func(wantTier string, wantSays ...string) {
		t.Helper()
		resp, err := e.program.EvaluatePartnerTier(admin, &partnerv1.EvaluatePartnerTierRequest{PartnerId: p})
		if err != nil {
			t.Fatalf("EvaluatePartnerTier: %v", err)
		}
		ev := resp.GetEvaluation()
		reasons := strings.Join(ev.GetReasons(), " | ")
		if ev.GetTier() != wantTier || ev.GetRevenueMinor() != 600_000 || ev.GetCurrencyCode() != "USD" {
			t.Fatalf("evaluation = %v, want tier %q on revenue 600000 USD", ev, wantTier)
		}
		for _, w := range wantSays {
			if !strings.Contains(reasons, w) {
				t.Errorf("reasons %q do not say %q", reasons, w)
			}
		}
		got, err := e.partners.GetPartner(admin, &partnerv1.GetPartnerRequest{PartnerId: p})
		if err != nil || got.GetPartner().GetTier() != wantTier {
			t.Fatalf("partner tier after evaluation = %v, %v, want %q", got.GetPartner().GetTier(), err, wantTier)
		}
	}
	evaluate("silver", "certifications gold-cert are not held", "1 orders in other currencies")

	certify := func(name, earn, expire, requestID string) (*partnerv1.Certification, error) {
		resp, err := e.program.CreateCertification(admin, &partnerv1.CreateCertificationRequest{RequestId: requestID,
			Certification: &partnerv1.Certification{PartnerId: p, Name: name, EarnDate: earn, ExpireDate: expire}})
		return resp.GetCertification(), err
	}
	day := func(months int) string { return now.AddDate(0, months, 0).Format(time.DateOnly) }
	if _, err := certify("gold-cert", day(-24), day(-12), ""); err != nil {
		t.Fatal(err)
	}
	evaluate("silver", "gold-cert are not held unexpired")
	first, err := certify("gold-cert", day(-1), day(11), "cert-1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := certify("other", day(-1), "", "cert-1")
	if err != nil || again.GetCertificationId() != first.GetCertificationId() {
		t.Fatalf("CreateCertification(same request_id) = %v, %v, want the first", again, err)
	}
	evaluate("gold", `tier "gold"`)
	// The certification expiring drops the partner back to silver.
	e.clock.advance(366 * 24 * time.Hour)
	e.orders.add(p, finance.Order{Kind: finance.OrderSale, Time: e.clock.now().AddDate(0, -1, 0), CurrencyCode: "USD", Lines: []finance.OrderLine{{ProductID: uuid.NewString(), TotalMinor: 600_000}}})
	evaluate("silver", "not held unexpired")

	tests := []struct {
		name      string
		ctx       context.Context
		c         *partnerv1.Certification
		wantCode  codes.Code
		wantField string
	}{
		{name: "no certification", wantCode: codes.InvalidArgument, wantField: "certification"},
		{name: "no partner", c: &partnerv1.Certification{Name: "x", EarnDate: "2027-01-01"}, wantCode: codes.InvalidArgument, wantField: "certification.partner_id"},
		{name: "bad partner id", c: &partnerv1.Certification{PartnerId: "p1", Name: "x", EarnDate: "2027-01-01"}, wantCode: codes.InvalidArgument, wantField: "certification.partner_id"},
		{name: "no name", c: &partnerv1.Certification{PartnerId: p, EarnDate: "2027-01-01"}, wantCode: codes.InvalidArgument, wantField: "certification.name"},
		{name: "no earn date", c: &partnerv1.Certification{PartnerId: p, Name: "x"}, wantCode: codes.InvalidArgument, wantField: "certification.earn_date"},
		{name: "expires before earned", c: &partnerv1.Certification{PartnerId: p, Name: "x", EarnDate: "2027-01-01", ExpireDate: "2027-01-01"}, wantCode: codes.InvalidArgument, wantField: "certification.expire_date"},
		{name: "unknown partner", c: &partnerv1.Certification{PartnerId: uuid.NewString(), Name: "x", EarnDate: "2027-01-01"}, wantCode: codes.NotFound},
		{name: "another tenant's admin", ctx: e.as(t, e.other, auth.RoleAdmin), c: &partnerv1.Certification{PartnerId: p, Name: "x", EarnDate: "2027-01-01"}, wantCode: codes.NotFound},
		{name: "the partner's own user", ctx: e.partnerUser(t, e.tenant, p), c: &partnerv1.Certification{PartnerId: p, Name: "x", EarnDate: "2027-01-01"}, wantCode: codes.PermissionDenied},
	}
	for _, tt := range tests {
		ctx := tt.ctx
		if ctx == nil {
			ctx = admin
		}
		_, err := e.program.CreateCertification(ctx, &partnerv1.CreateCertificationRequest{Certification: tt.c})
		if status.Code(err) != tt.wantCode || (tt.wantField != "" && !grpctest.Violations(err)[tt.wantField]) {
			t.Errorf("%s: CreateCertification = %v, want %v on %q", tt.name, err, tt.wantCode, tt.wantField)
		}
	}
	for _, ctx := range []context.Context{e.partnerUser(t, e.tenant, p), e.as(t, e.tenant, auth.RoleAnalyst)} {
		if _, err := e.program.EvaluatePartnerTier(ctx, &partnerv1.EvaluatePartnerTierRequest{PartnerId: p}); status.Code(err) != codes.PermissionDenied {
			t.Errorf("EvaluatePartnerTier as a reader = %v, want PermissionDenied", err)
		}
	}
	if _, err := e.program.EvaluatePartnerTier(e.as(t, e.other, auth.RoleAdmin), &partnerv1.EvaluatePartnerTierRequest{PartnerId: p}); status.Code(err) != codes.NotFound {
		t.Errorf("EvaluatePartnerTier from another tenant = %v, want NotFound", err)
	}
	e.orders.setDown(true)
	if _, err := e.program.EvaluatePartnerTier(admin, &partnerv1.EvaluatePartnerTierRequest{PartnerId: p}); status.Code(err) != codes.Unavailable {
		t.Errorf("EvaluatePartnerTier with the pipeline down = %v, want Unavailable", err)
	}
	e.orders.setDown(false)
	list, err := e.program.ListCertifications(e.partnerUser(t, e.tenant, p), &partnerv1.ListCertificationsRequest{Filter: `name = "gold-cert"`})
	if err != nil || len(list.GetCertifications()) != 2 {
		t.Fatalf("ListCertifications(gold-cert) as the partner's user = %v, %v, want 2", list, err)
	}
}
