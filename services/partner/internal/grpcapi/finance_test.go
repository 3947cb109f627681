package grpcapi_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
)

const (
	commission = partnerv1.CommissionRuleKind_COMMISSION_RULE_KIND_COMMISSION
	rebate     = partnerv1.CommissionRuleKind_COMMISSION_RULE_KIND_REBATE
)

// rule creates a commission rule as the tenant's admin.
func (e *env) rule(t *testing.T, r *partnerv1.CommissionRule) *partnerv1.CommissionRule {
	t.Helper()
	resp, err := e.finance.CreateCommissionRule(e.admin(t), &partnerv1.CreateCommissionRuleRequest{CommissionRule: r})
	if err != nil {
		t.Fatalf("CreateCommissionRule(%v): %v", r, err)
	}
	return resp.GetCommissionRule()
}

// setTier gives a partner of the first tenant a tier.
func (e *env) setTier(t *testing.T, partner, tier string) {
	t.Helper()
	if _, err := e.partners.UpdatePartner(e.admin(t), &partnerv1.UpdatePartnerRequest{
		Partner: &partnerv1.Partner{PartnerId: partner, Tier: tier}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"tier"}},
	}); err != nil {
		t.Fatalf("UpdatePartner(tier %s): %v", tier, err)
	}
}

// day is n days after 1 January 2027, UTC.
func day(n int) time.Time { return time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n) }

func TestCommissionRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	product := uuid.NewString()
	first, err := e.finance.CreateCommissionRule(e.admin(t), &partnerv1.CreateCommissionRuleRequest{RequestId: "r-1", CommissionRule: &partnerv1.CommissionRule{
		Kind: commission, Tier: " gold ", ProductId: product, ValidFrom: "2027-01-01", ValidUntil: "2027-07-01", RateBps: 1000, DisplayName: "Gold H1",
	}})
	if err != nil {
		t.Fatalf("CreateCommissionRule: %v", err)
	}
	if r := first.GetCommissionRule(); r.GetTier() != "gold" || r.GetValidUntil() != "2027-07-01" || r.GetCommissionRuleId() == "" || r.GetEtag() == "" {
		t.Fatalf("CreateCommissionRule = %v, want trimmed tier, dates and an id", r)
	}
	again, err := e.finance.CreateCommissionRule(e.admin(t), &partnerv1.CreateCommissionRuleRequest{RequestId: "r-1", CommissionRule: &partnerv1.CommissionRule{
		Kind: commission, ValidFrom: "2020-01-01", RateBps: 1,
	}})
	if err != nil || again.GetCommissionRule().GetCommissionRuleId() != first.GetCommissionRule().GetCommissionRuleId() {
		t.Fatalf("CreateCommissionRule(same request_id) = %v, %v, want the first rule", again, err)
	}
	valid := func(mut func(*partnerv1.CommissionRule)) *partnerv1.CommissionRule {
		r := &partnerv1.CommissionRule{Kind: rebate, ValidFrom: "2027-01-01", RateBps: 100}
		mut(r)
		return r
	}
	tests := []struct {
		name      string
		ctx       context.Context
		rule      *partnerv1.CommissionRule
		wantCode  codes.Code
		wantField string
		wantWhy   string
	}{
		{name: "no rule", rule: nil, wantCode: codes.InvalidArgument, wantField: "commission_rule"},
		{name: "no kind", rule: valid(func(r *partnerv1.CommissionRule) { r.Kind = 0 }), wantCode: codes.InvalidArgument, wantField: "commission_rule.kind"},
		{name: "no start", rule: valid(func(r *partnerv1.CommissionRule) { r.ValidFrom = "" }), wantCode: codes.InvalidArgument, wantField: "commission_rule.valid_from"},
		{name: "bad date", rule: valid(func(r *partnerv1.CommissionRule) { r.ValidFrom = "01/02/2027" }), wantCode: codes.InvalidArgument, wantField: "commission_rule.valid_from"},
		{name: "end before start", rule: valid(func(r *partnerv1.CommissionRule) { r.ValidUntil = "2026-12-31" }), wantCode: codes.InvalidArgument, wantField: "commission_rule.valid_until"},
		{name: "zero rate", rule: valid(func(r *partnerv1.CommissionRule) { r.RateBps = 0 }), wantCode: codes.InvalidArgument, wantField: "commission_rule.rate_bps"},
		{name: "rate over 100 %", rule: valid(func(r *partnerv1.CommissionRule) { r.RateBps = 10001 }), wantCode: codes.InvalidArgument, wantField: "commission_rule.rate_bps"},
		{name: "product not an id", rule: valid(func(r *partnerv1.CommissionRule) { r.ProductId = "widgets" }), wantCode: codes.InvalidArgument, wantField: "commission_rule.product_id"},
		{name: "overlaps the gold rule", rule: &partnerv1.CommissionRule{Kind: commission, Tier: "gold", ProductId: product, ValidFrom: "2027-06-30", RateBps: 5},
			wantCode: codes.FailedPrecondition, wantWhy: "RULE_OVERLAP"},
		{name: "inside the gold rule", rule: &partnerv1.CommissionRule{Kind: commission, Tier: "gold", ProductId: product, ValidFrom: "2027-02-01", ValidUntil: "2027-03-01", RateBps: 5},
			wantCode: codes.FailedPrecondition, wantWhy: "RULE_OVERLAP"},
		{name: "right after the gold rule", rule: &partnerv1.CommissionRule{Kind: commission, Tier: "gold", ProductId: product, ValidFrom: "2027-07-01", RateBps: 5}},
		{name: "same period, other tier", rule: &partnerv1.CommissionRule{Kind: commission, Tier: "silver", ProductId: product, ValidFrom: "2027-01-01", RateBps: 5}},
		{name: "same period, rebate", rule: &partnerv1.CommissionRule{Kind: rebate, Tier: "gold", ProductId: product, ValidFrom: "2027-01-01", RateBps: 5}},
		{name: "sales rep may not", ctx: e.as(t, e.tenant, auth.RoleSalesRep), rule: valid(func(*partnerv1.CommissionRule) {}), wantCode: codes.PermissionDenied},
		{name: "partner user may not", ctx: e.partnerUser(t, e.tenant, uuid.NewString()), rule: valid(func(*partnerv1.CommissionRule) {}), wantCode: codes.PermissionDenied},
	}
	for _, tt := range tests {
		ctx := tt.ctx
		if ctx == nil {
			ctx = e.admin(t)
		}
		_, err := e.finance.CreateCommissionRule(ctx, &partnerv1.CreateCommissionRuleRequest{CommissionRule: tt.rule})
		if status.Code(err) != tt.wantCode {
			t.Errorf("%s: CreateCommissionRule = %v, want %v", tt.name, err, tt.wantCode)
			continue
		}
		if tt.wantField != "" && !grpctest.Violations(err)[tt.wantField] {
			t.Errorf("%s: violations %v, want %s", tt.name, grpctest.Violations(err), tt.wantField)
		}
		if tt.wantWhy != "" && (grpctest.Reason(err) != tt.wantWhy || !strings.Contains(err.Error(), first.GetCommissionRule().GetCommissionRuleId())) {
			t.Errorf("%s: %v, want reason %s naming the rule it overlaps", tt.name, err, tt.wantWhy)
		}
	}
	list, err := e.finance.ListCommissionRules(e.partnerUser(t, e.tenant, e.newPartner(t, e.tenant, "p", "")), &partnerv1.ListCommissionRulesRequest{Filter: `tier = "gold"`})
	if err != nil || len(list.GetCommissionRules()) != 3 {
		t.Fatalf("ListCommissionRules(gold) as a partner user = %v, %v, want the 3 gold rules", list, err)
	}
	foreign, err := e.finance.ListCommissionRules(e.as(t, e.other, auth.RoleAdmin), &partnerv1.ListCommissionRulesRequest{})
	if err != nil || len(foreign.GetCommissionRules()) != 0 {
		t.Fatalf("ListCommissionRules in another tenant = %v, %v, want none", foreign, err)
	}
}

// TestCommissionRuleOverlapRace creates overlapping rules at once: exactly
// one wins.
func TestCommissionRuleOverlapRace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = e.finance.CreateCommissionRule(e.admin(t), &partnerv1.CreateCommissionRuleRequest{CommissionRule: &partnerv1.CommissionRule{
				Kind: commission, Tier: "gold", ValidFrom: fmt.Sprintf("2027-01-%02d", i+1), RateBps: 100,
			}})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case grpctest.Reason(err) != "RULE_OVERLAP":
			t.Errorf("CreateCommissionRule = %v, want OK or RULE_OVERLAP", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d overlapping rules created at once, want 1", won)
	}
}

func TestComputeStatement(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.admin(t)
	p := e.newPartner(t, e.tenant, "gold partner", "")
	e.setTier(t, p, "gold")
	hw, sw := uuid.NewString(), uuid.NewString()
	base := e.rule(t, &partnerv1.CommissionRule{Kind: commission, ValidFrom: "2026-01-01", RateBps: 500, DisplayName: "base"})
	goldHW := e.rule(t, &partnerv1.CommissionRule{Kind: commission, Tier: "gold", ProductId: hw, ValidFrom: "2026-01-01", RateBps: 1000, DisplayName: "gold hardware"})
	e.rule(t, &partnerv1.CommissionRule{Kind: commission, Tier: "silver", ValidFrom: "2026-01-01", RateBps: 9000, DisplayName: "silver"})
	goldRebate := e.rule(t, &partnerv1.CommissionRule{Kind: rebate, Tier: "gold", ValidFrom: "2027-01-15", RateBps: 200, DisplayName: "gold rebate"})
	e.orders.add(p, finance.Order{Kind: finance.OrderSale, Time: day(3), CurrencyCode: "USD",
		Lines: []finance.OrderLine{{ProductID: hw, TotalMinor: 10_000}, {ProductID: sw, TotalMinor: 5_001}}})
	e.orders.add(p, finance.Order{Kind: finance.OrderReturn, Time: day(20), CurrencyCode: "USD", Lines: []finance.OrderLine{{ProductID: hw, TotalMinor: 2_000}}})
	e.orders.add(p, finance.Order{Kind: finance.OrderAdjustment, Time: day(21), CurrencyCode: "EUR", AdjustmentMinor: -300})
	e.orders.add(p, finance.Order{Kind: finance.OrderSale, Time: day(40), CurrencyCode: "USD", Lines: []finance.OrderLine{{ProductID: hw, TotalMinor: 99_999}}})

	req := &partnerv1.ComputePartnerStatementRequest{PartnerId: p, PeriodStart: "2027-01-01", PeriodEnd: "2027-02-01"}
	got, err := e.finance.ComputePartnerStatement(admin, req)
	if err != nil {
		t.Fatalf("ComputePartnerStatement: %v", err)
	}
	st := got.GetPartnerStatement()
	// USD: hw 10 000 × 10 % = 1 000; sw 5 001 × 5 % = 250.05 → 250; the
	// return −2 000 × 10 % = −200, rebate −2 000 × 2 % = −40. EUR: the
	// adjustment −300 × 5 % = −15, rebate −6.
	want := map[string]*partnerv1.StatementTotal{
		"USD": {CurrencyCode: "USD", RevenueMinor: 13_001, CommissionMinor: 1_050, RebateMinor: -40},
		"EUR": {CurrencyCode: "EUR", RevenueMinor: -300, CommissionMinor: -15, RebateMinor: -6},
	}
	if st.GetTier() != "gold" || st.GetLineCount() != 8 || st.GetRevision() != 1 || len(st.GetTotals()) != 2 {
		t.Fatalf("statement = %v, want tier gold, 8 lines, revision 1, two currencies", st)
	}
	for _, tot := range st.GetTotals() {
		w := want[tot.GetCurrencyCode()]
		if w == nil || tot.GetRevenueMinor() != w.GetRevenueMinor() || tot.GetCommissionMinor() != w.GetCommissionMinor() || tot.GetRebateMinor() != w.GetRebateMinor() {
			t.Errorf("total %v, want %v", tot, w)
		}
	}
	lines, err := e.finance.ListPartnerStatementLines(admin, &partnerv1.ListPartnerStatementLinesRequest{PartnerStatementId: st.GetPartnerStatementId(), PageSize: 3})
	if err != nil || len(lines.GetLines()) != 3 || lines.GetNextPageToken() == "" {
		t.Fatalf("ListPartnerStatementLines(page 3) = %v, %v", lines, err)
	}
	all := lines.GetLines()
	for tok := lines.GetNextPageToken(); tok != ""; {
		more, err := e.finance.ListPartnerStatementLines(admin, &partnerv1.ListPartnerStatementLinesRequest{PartnerStatementId: st.GetPartnerStatementId(), PageSize: 3, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		all, tok = append(all, more.GetLines()...), more.GetNextPageToken()
	}
	wantLines := []struct {
		rule   string
		amount int64
		says   string
	}{
		{goldHW.GetCommissionRuleId(), 1_000, "gold hardware"},
		{"", 0, "no rebate rule"}, // the rebate starts on the 15th
		{base.GetCommissionRuleId(), 250, "base"},
		{"", 0, "no rebate rule"},
		{goldHW.GetCommissionRuleId(), -200, "gold hardware"},
		{goldRebate.GetCommissionRuleId(), -40, "gold rebate"},
		{base.GetCommissionRuleId(), -15, "any product"},
		{goldRebate.GetCommissionRuleId(), -6, "gold rebate"},
	}
	if len(all) != len(wantLines) {
		t.Fatalf("%d lines, want %d: %v", len(all), len(wantLines), all)
	}
	for i, w := range wantLines {
		l := all[i]
		if l.GetLineNumber() != int32(i+1) || l.GetCommissionRuleId() != w.rule || l.GetAmount().GetAmountMinor() != w.amount || !strings.Contains(l.GetExplanation(), w.says) {
			t.Errorf("line %d = %v, want rule %q, amount %d, explanation mentioning %q", i+1, l, w.rule, w.amount, w.says)
		}
	}

	// Recomputing after a late order replaces the lines under the same id.
	e.orders.add(p, finance.Order{Kind: finance.OrderSale, Time: day(30), CurrencyCode: "USD", Lines: []finance.OrderLine{{ProductID: sw, TotalMinor: 1_000}}})
	again, err := e.finance.ComputePartnerStatement(admin, req)
	if err != nil {
		t.Fatalf("ComputePartnerStatement again: %v", err)
	}
	if s2 := again.GetPartnerStatement(); s2.GetPartnerStatementId() != st.GetPartnerStatementId() || s2.GetRevision() != 2 || s2.GetLineCount() != 10 {
		t.Fatalf("recomputed = %v, want the same id, revision 2, 10 lines", s2)
	}
	lines, err = e.finance.ListPartnerStatementLines(admin, &partnerv1.ListPartnerStatementLinesRequest{PartnerStatementId: st.GetPartnerStatementId(), PageSize: 100})
	if err != nil || len(lines.GetLines()) != 10 {
		t.Fatalf("lines after recompute = %d, %v, want 10", len(lines.GetLines()), err)
	}
	list, err := e.finance.ListPartnerStatements(e.as(t, e.tenant, auth.RoleAnalyst), &partnerv1.ListPartnerStatementsRequest{Filter: `partner_id = "` + p + `"`})
	if err != nil || len(list.GetPartnerStatements()) != 1 {
		t.Fatalf("ListPartnerStatements = %v, %v, want the one statement", list, err)
	}
	var events int
	if err := e.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE tenant_id = $1 AND type LIKE 'partner_statement.%'`, e.tenant).Scan(&events); err != nil || events != 2 {
		t.Fatalf("statement events = %d, %v, want 2 (computed, recomputed)", events, err)
	}
}

func TestComputeStatementRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	silver := e.newPartner(t, e.tenant, "silver partner", "")
	e.setTier(t, silver, "silver")
	gold := e.newPartner(t, e.tenant, "gold partner", "")
	e.setTier(t, gold, "gold")
	e.rule(t, &partnerv1.CommissionRule{Kind: commission, Tier: "gold", ValidFrom: "2027-01-01", ValidUntil: "2027-04-01", RateBps: 100})
	e.orders.add(gold, finance.Order{Kind: finance.OrderSale, Time: day(1), CurrencyCode: "USD", Lines: []finance.OrderLine{{ProductID: uuid.NewString(), TotalMinor: 100}}})
	req := func(partner, from, to string) *partnerv1.ComputePartnerStatementRequest {
		return &partnerv1.ComputePartnerStatementRequest{PartnerId: partner, PeriodStart: from, PeriodEnd: to}
	}
	tests := []struct {
		name      string
		ctx       context.Context
		req       *partnerv1.ComputePartnerStatementRequest
		down      bool
		wantCode  codes.Code
		wantField string
		wantWhy   string
	}{
		{name: "no partner id", req: req("", "2027-01-01", "2027-02-01"), wantCode: codes.InvalidArgument, wantField: "partner_id"},
		{name: "bad start", req: req(gold, "2027-1-1", "2027-02-01"), wantCode: codes.InvalidArgument, wantField: "period_start"},
		{name: "no end", req: req(gold, "2027-01-01", ""), wantCode: codes.InvalidArgument, wantField: "period_end"},
		{name: "end before start", req: req(gold, "2027-02-01", "2027-01-01"), wantCode: codes.InvalidArgument, wantField: "period_end"},
		{name: "over a year", req: req(gold, "2027-01-01", "2028-01-03"), wantCode: codes.InvalidArgument, wantField: "period_end"},
		{name: "no rules for the tier", req: req(silver, "2027-01-01", "2027-02-01"), wantCode: codes.FailedPrecondition, wantWhy: "NO_RULES_FOR_PERIOD"},
		{name: "no rules in the period", req: req(gold, "2027-04-01", "2027-05-01"), wantCode: codes.FailedPrecondition, wantWhy: "NO_RULES_FOR_PERIOD"},
		{name: "unknown partner", req: req(uuid.NewString(), "2027-01-01", "2027-02-01"), wantCode: codes.NotFound},
		{name: "another tenant's partner", ctx: e.as(t, e.other, auth.RoleAdmin), req: req(gold, "2027-01-01", "2027-02-01"), wantCode: codes.NotFound},
		{name: "pipeline down", req: req(gold, "2027-01-01", "2027-02-01"), down: true, wantCode: codes.Unavailable, wantWhy: "PEER_UNAVAILABLE"},
		{name: "sales rep", ctx: e.as(t, e.tenant, auth.RoleSalesRep), req: req(gold, "2027-01-01", "2027-02-01"), wantCode: codes.PermissionDenied},
		{name: "analyst", ctx: e.as(t, e.tenant, auth.RoleAnalyst), req: req(gold, "2027-01-01", "2027-02-01"), wantCode: codes.PermissionDenied},
		{name: "the partner's own user", ctx: e.partnerUser(t, e.tenant, gold), req: req(gold, "2027-01-01", "2027-02-01"), wantCode: codes.PermissionDenied},
	}
	for _, tt := range tests {
		ctx := tt.ctx
		if ctx == nil {
			ctx = e.admin(t)
		}
		e.orders.setDown(tt.down)
		_, err := e.finance.ComputePartnerStatement(ctx, tt.req)
		e.orders.setDown(false)
		if status.Code(err) != tt.wantCode {
			t.Errorf("%s: ComputePartnerStatement = %v, want %v", tt.name, err, tt.wantCode)
			continue
		}
		if tt.wantField != "" && !grpctest.Violations(err)[tt.wantField] {
			t.Errorf("%s: violations %v, want %s", tt.name, grpctest.Violations(err), tt.wantField)
		}
		if tt.wantWhy != "" && grpctest.Reason(err) != tt.wantWhy {
			t.Errorf("%s: reason %q, want %s", tt.name, grpctest.Reason(err), tt.wantWhy)
		}
	}
	// Nothing was half-written by any refusal.
	var n int
	if err := e.db.Owner.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM partner_statements) + (SELECT count(*) FROM partner_statement_lines)`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("statement rows after refusals = %d, %v, want 0", n, err)
	}
}

// TestComputeStatementConcurrently recomputes one statement at once from
// several callers: one statement, one revision per computation, one set of lines.
func TestComputeStatementConcurrently(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.newPartner(t, e.tenant, "p", "")
	e.rule(t, &partnerv1.CommissionRule{Kind: commission, ValidFrom: "2027-01-01", RateBps: 100})
	for i := range 20 {
		e.orders.add(p, finance.Order{Kind: finance.OrderSale, Time: day(i), CurrencyCode: "USD",
			Lines: []finance.OrderLine{{ProductID: uuid.NewString(), TotalMinor: int64(1000 * (i + 1))}}})
	}
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = e.finance.ComputePartnerStatement(e.admin(t), &partnerv1.ComputePartnerStatementRequest{PartnerId: p, PeriodStart: "2027-01-01", PeriodEnd: "2027-02-01"})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("ComputePartnerStatement: %v", err)
		}
	}
	var statements, revision, lines int
	if err := e.db.Owner.QueryRow(t.Context(), `SELECT count(*), max(revision), (SELECT count(*) FROM partner_statement_lines) FROM partner_statements`).
		Scan(&statements, &revision, &lines); err != nil {
		t.Fatal(err)
	}
	if statements != 1 || revision != 5 || lines != 40 {
		t.Fatalf("statements %d, revision %d, lines %d; want 1, 5, 40", statements, revision, lines)
	}
}
