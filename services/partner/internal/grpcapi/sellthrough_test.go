package grpcapi_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
	"github.com/rapportcrm/rapport/services/partner/internal/scorecard"
)

// report is a January sell-through report of partner with two scored lines.
func report(partner string) *partnerv1.SellThroughReport {
	return &partnerv1.SellThroughReport{PartnerId: partner, PeriodStart: "2027-01-01", PeriodEnd: "2027-02-01", CurrencyCode: "usd",
		Lines: []*partnerv1.SellThroughLine{
			{ProductSku: " SKU-1 ", Quantity: 10, RevenueMinor: 50_000, SatisfactionScore: 5},
			{ProductSku: "SKU-2", ProductId: uuid.NewString(), Quantity: 2, RevenueMinor: 8_000, SatisfactionScore: 3, EndCustomerId: uuid.NewString()},
			{ProductSku: "SKU-1", Quantity: -1, RevenueMinor: -5_000},
		}}
}

func TestSellThroughReports(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dist := e.newPartner(t, e.tenant, "dist", "")
	sub := e.newPartner(t, e.tenant, "sub", dist)
	sibling := e.newPartner(t, e.tenant, "sibling", "")
	subUser := e.partnerUser(t, e.tenant, sub)
	created, err := e.sell.CreateSellThroughReport(subUser, &partnerv1.CreateSellThroughReportRequest{SellThroughReport: report(sub), RequestId: "st-1"})
	if err != nil {
		t.Fatalf("CreateSellThroughReport as the partner's user: %v", err)
	}
	r := created.GetSellThroughReport()
	if r.GetTotalUnits() != 11 || r.GetTotalRevenueMinor() != 53_000 || r.GetLineCount() != 3 || r.GetCurrencyCode() != "USD" || r.GetLines()[0].GetProductSku() != "SKU-1" {
		t.Fatalf("report = %v, want 11 units, 53000 USD, 3 trimmed lines", r)
	}
	again, err := e.sell.CreateSellThroughReport(subUser, &partnerv1.CreateSellThroughReportRequest{SellThroughReport: report(sub), RequestId: "st-1"})
	if err != nil || again.GetSellThroughReport().GetSellThroughReportId() != r.GetSellThroughReportId() {
		t.Fatalf("CreateSellThroughReport(same request_id) = %v, %v, want the first", again, err)
	}
	with := func(mut func(*partnerv1.SellThroughReport)) *partnerv1.SellThroughReport {
		m := report(sub)
		m.PeriodStart = "2027-03-01"
		m.PeriodEnd = "2027-04-01"
		mut(m)
		return m
	}
	tests := []struct {
		name      string
		ctx       context.Context
		in        *partnerv1.SellThroughReport
		wantCode  codes.Code
		wantField string
		wantWhy   string
	}{
		{name: "no report", wantCode: codes.InvalidArgument, wantField: "sell_through_report"},
		{name: "no partner", in: with(func(m *partnerv1.SellThroughReport) { m.PartnerId = "" }), wantCode: codes.InvalidArgument, wantField: "sell_through_report.partner_id"},
		{name: "bad period", in: with(func(m *partnerv1.SellThroughReport) { m.PeriodEnd = "2027-02-01" }), wantCode: codes.InvalidArgument, wantField: "sell_through_report.period_end"},
		{name: "bad date", in: with(func(m *partnerv1.SellThroughReport) { m.PeriodStart = "March" }), wantCode: codes.InvalidArgument, wantField: "sell_through_report.period_start"},
		{name: "bad currency", in: with(func(m *partnerv1.SellThroughReport) { m.CurrencyCode = "" }), wantCode: codes.InvalidArgument, wantField: "sell_through_report.currency_code"},
		{name: "no lines", in: with(func(m *partnerv1.SellThroughReport) { m.Lines = nil }), wantCode: codes.InvalidArgument, wantField: "sell_through_report.lines"},
		{name: "no sku", in: with(func(m *partnerv1.SellThroughReport) { m.Lines[1].ProductSku = " " }), wantCode: codes.InvalidArgument, wantField: "sell_through_report.lines[1].product_sku"},
		{name: "zero quantity", in: with(func(m *partnerv1.SellThroughReport) { m.Lines[0].Quantity = 0 }), wantCode: codes.InvalidArgument, wantField: "sell_through_report.lines[0].quantity"},
		{name: "revenue against quantity", in: with(func(m *partnerv1.SellThroughReport) { m.Lines[2].RevenueMinor = 5 }), wantCode: codes.InvalidArgument, wantField: "sell_through_report.lines[2].revenue_minor"},
		{name: "score over 5", in: with(func(m *partnerv1.SellThroughReport) { m.Lines[0].SatisfactionScore = 6 }), wantCode: codes.InvalidArgument, wantField: "sell_through_report.lines[0].satisfaction_score"},
		{name: "customer not an id", in: with(func(m *partnerv1.SellThroughReport) { m.Lines[0].EndCustomerId = "acme" }), wantCode: codes.InvalidArgument, wantField: "sell_through_report.lines[0].end_customer_id"},
		{name: "period reported", in: report(sub), wantCode: codes.AlreadyExists, wantWhy: "SELL_THROUGH_REPORT_EXISTS"},
		{name: "for the parent", ctx: subUser, in: with(func(m *partnerv1.SellThroughReport) { m.PartnerId = dist }), wantCode: codes.NotFound},
		{name: "for a sibling", ctx: subUser, in: with(func(m *partnerv1.SellThroughReport) { m.PartnerId = sibling }), wantCode: codes.NotFound},
		{name: "another tenant", ctx: e.as(t, e.other, auth.RoleAdmin), in: with(func(*partnerv1.SellThroughReport) {}), wantCode: codes.NotFound},
		{name: "analyst", ctx: e.as(t, e.tenant, auth.RoleAnalyst), in: with(func(*partnerv1.SellThroughReport) {}), wantCode: codes.PermissionDenied},
	}
	for _, tt := range tests {
		ctx := tt.ctx
		if ctx == nil {
			ctx = e.admin(t)
		}
		_, err := e.sell.CreateSellThroughReport(ctx, &partnerv1.CreateSellThroughReportRequest{SellThroughReport: tt.in})
		if status.Code(err) != tt.wantCode {
			t.Errorf("%s: CreateSellThroughReport = %v, want %v", tt.name, err, tt.wantCode)
			continue
		}
		if tt.wantField != "" && !grpctest.Violations(err)[tt.wantField] {
			t.Errorf("%s: violations %v, want %s", tt.name, grpctest.Violations(err), tt.wantField)
		}
		if tt.wantWhy != "" && grpctest.Reason(err) != tt.wantWhy {
			t.Errorf("%s: reason %q, want %s", tt.name, grpctest.Reason(err), tt.wantWhy)
		}
	}
	got, err := e.sell.GetSellThroughReport(e.partnerUser(t, e.tenant, dist), &partnerv1.GetSellThroughReportRequest{SellThroughReportId: r.GetSellThroughReportId()})
	if err != nil || len(got.GetSellThroughReport().GetLines()) != 3 {
		t.Fatalf("GetSellThroughReport as the distributor's user = %v, %v, want the report with 3 lines", got, err)
	}
	if _, err := e.sell.GetSellThroughReport(e.partnerUser(t, e.tenant, sibling), &partnerv1.GetSellThroughReportRequest{SellThroughReportId: r.GetSellThroughReportId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetSellThroughReport as a sibling's user = %v, want NotFound", err)
	}
	list, err := e.sell.ListSellThroughReports(e.admin(t), &partnerv1.ListSellThroughReportsRequest{Filter: `partner_id = "` + sub + `"`})
	if err != nil || len(list.GetSellThroughReports()) != 1 || len(list.GetSellThroughReports()[0].GetLines()) != 0 {
		t.Fatalf("ListSellThroughReports = %v, %v, want one report without lines", list, err)
	}
}

func TestScorecard(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.admin(t)
	p := e.newPartner(t, e.tenant, "p", "")
	now := time.Now().UTC()
	from, to := now.AddDate(0, 0, -1).Format(time.DateOnly), now.AddDate(0, 0, 1).Format(time.DateOnly)
	var regs []*partnerv1.DealRegistration
	for _, name := range []string{"Approved Co", "Rejected Co", "Pending Co"} {
		regs = append(regs, e.register(t, admin, p, &partnerv1.Prospect{CompanyName: name}))
	}
	if _, err := e.deals.ApproveDealRegistration(admin, &partnerv1.ApproveDealRegistrationRequest{DealRegistrationId: regs[0].GetDealRegistrationId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.deals.RejectDealRegistration(admin, &partnerv1.RejectDealRegistrationRequest{DealRegistrationId: regs[1].GetDealRegistrationId(), Note: "duplicate"}); err != nil {
		t.Fatal(err)
	}
	for _, o := range []scorecard.Opportunity{
		{Stage: scorecard.StageOpen, CurrencyCode: "USD", AmountMinor: 1_000},
		{Stage: scorecard.StageOpen, CurrencyCode: "USD", AmountMinor: 500},
		{Stage: scorecard.StageOpen, CurrencyCode: "EUR", AmountMinor: 70},
		{Stage: scorecard.StageWon, CurrencyCode: "USD", AmountMinor: 9, CloseTime: now},
		{Stage: scorecard.StageWon, CurrencyCode: "USD", AmountMinor: 9, CloseTime: now},
		{Stage: scorecard.StageLost, CurrencyCode: "USD", AmountMinor: 9, CloseTime: now},
		{Stage: scorecard.StageWon, CurrencyCode: "USD", AmountMinor: 9, CloseTime: now.AddDate(-1, 0, 0)},
	} {
		e.opportunities.addSourced(p, o)
	}
	e.orders.add(p, finance.Order{Kind: finance.OrderSale, Time: now, CurrencyCode: "USD", Lines: []finance.OrderLine{{ProductID: uuid.NewString(), TotalMinor: 4_000}}})
	e.orders.add(p, finance.Order{Kind: finance.OrderReturn, Time: now, CurrencyCode: "USD", Lines: []finance.OrderLine{{ProductID: uuid.NewString(), TotalMinor: 1_000}}})
	e.orders.add(p, finance.Order{Kind: finance.OrderSale, Time: now.AddDate(0, -2, 0), CurrencyCode: "USD", Lines: []finance.OrderLine{{ProductID: uuid.NewString(), TotalMinor: 99_000}}})
	st := report(p)
	st.PeriodStart, st.PeriodEnd = from, to
	if _, err := e.sell.CreateSellThroughReport(admin, &partnerv1.CreateSellThroughReportRequest{SellThroughReport: st}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.program.CreateCertification(admin, &partnerv1.CreateCertificationRequest{Certification: &partnerv1.Certification{PartnerId: p, Name: "sales", EarnDate: from}}); err != nil {
		t.Fatal(err)
	}
	resp, err := e.scores.GetPartnerScorecard(e.as(t, e.tenant, auth.RoleAnalyst), &partnerv1.GetPartnerScorecardRequest{PartnerId: p, PeriodStart: from, PeriodEnd: to})
	if err != nil {
		t.Fatalf("GetPartnerScorecard: %v", err)
	}
	sc := resp.GetScorecard()
	figure := func(fs []*partnerv1.CurrencyFigure) string {
		var out []string
		for _, f := range fs {
			out = append(out, fmt.Sprintf("%s:%d/%d", f.GetAmount().GetCurrencyCode(), f.GetAmount().GetAmountMinor(), f.GetCount()))
		}
		return strings.Join(out, " ")
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"open pipeline", figure(sc.GetOpenPipeline()), "EUR:70/1 USD:1500/2"},
		{"won", sc.GetWonOpportunities(), int64(2)},
		{"lost", sc.GetLostOpportunities(), int64(1)},
		{"win rate", math.Round(sc.GetWinRate()*1000) / 1000, 0.667},
		{"registrations", [3]int64{sc.GetRegistrationsSubmitted(), sc.GetRegistrationsApproved(), sc.GetRegistrationsRejected()}, [3]int64{3, 1, 1}},
		{"approval rate", sc.GetRegistrationApprovalRate(), 0.5},
		{"revenue", figure(sc.GetRevenue()), "USD:3000/2"},
		{"sell-through", figure(sc.GetSellThrough()), "USD:53000/1"},
		{"satisfaction", sc.GetCustomerSatisfaction(), 4.0},
		{"responses", sc.GetSatisfactionResponses(), int64(2)},
		{"certifications", strings.Join(sc.GetCertifications(), ","), "sales"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	// The partner's own users get the same scorecard.
	own, err := e.scores.GetPartnerScorecard(e.partnerUser(t, e.tenant, p), &partnerv1.GetPartnerScorecardRequest{PartnerId: p, PeriodStart: from, PeriodEnd: to})
	if err != nil || !proto.Equal(own.GetScorecard(), sc) {
		t.Errorf("partner user's GetPartnerScorecard = %v, %v; want the analyst's %v", own.GetScorecard(), err, sc)
	}
	refusals := []struct {
		name      string
		ctx       context.Context
		req       *partnerv1.GetPartnerScorecardRequest
		down      bool
		wantCode  codes.Code
		wantField string
	}{
		{name: "bad partner id", req: &partnerv1.GetPartnerScorecardRequest{PartnerId: "x", PeriodStart: from, PeriodEnd: to}, wantCode: codes.InvalidArgument, wantField: "partner_id"},
		{name: "no period", req: &partnerv1.GetPartnerScorecardRequest{PartnerId: p}, wantCode: codes.InvalidArgument, wantField: "period_start"},
		{name: "period backwards", req: &partnerv1.GetPartnerScorecardRequest{PartnerId: p, PeriodStart: to, PeriodEnd: from}, wantCode: codes.InvalidArgument, wantField: "period_end"},
		{name: "unknown partner", req: &partnerv1.GetPartnerScorecardRequest{PartnerId: uuid.NewString(), PeriodStart: from, PeriodEnd: to}, wantCode: codes.NotFound},
		{name: "another tenant", ctx: e.as(t, e.other, auth.RoleAdmin), req: &partnerv1.GetPartnerScorecardRequest{PartnerId: p, PeriodStart: from, PeriodEnd: to}, wantCode: codes.NotFound},
		{name: "another partner's user", ctx: e.partnerUser(t, e.tenant, e.newPartner(t, e.tenant, "rival", "")), req: &partnerv1.GetPartnerScorecardRequest{PartnerId: p, PeriodStart: from, PeriodEnd: to}, wantCode: codes.NotFound},
		{name: "support agent", ctx: e.as(t, e.tenant, auth.RoleSupportAgent), req: &partnerv1.GetPartnerScorecardRequest{PartnerId: p, PeriodStart: from, PeriodEnd: to}, wantCode: codes.PermissionDenied},
		{name: "sales rep", ctx: e.as(t, e.tenant, auth.RoleSalesRep), req: &partnerv1.GetPartnerScorecardRequest{PartnerId: p, PeriodStart: from, PeriodEnd: to}, wantCode: codes.PermissionDenied},
		{name: "pipeline down", down: true, req: &partnerv1.GetPartnerScorecardRequest{PartnerId: p, PeriodStart: from, PeriodEnd: to}, wantCode: codes.Unavailable},
	}
	for _, tt := range refusals {
		ctx := tt.ctx
		if ctx == nil {
			ctx = admin
		}
		e.orders.setDown(tt.down)
		_, err := e.scores.GetPartnerScorecard(ctx, tt.req)
		e.orders.setDown(false)
		if status.Code(err) != tt.wantCode || (tt.wantField != "" && !grpctest.Violations(err)[tt.wantField]) {
			t.Errorf("%s: GetPartnerScorecard = %v, want %v on %q", tt.name, err, tt.wantCode, tt.wantField)
		}
	}
}
