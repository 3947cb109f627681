package grpcapi_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
)

// TestIsolationMatrix proves that no read path leaks across partners: every
// read RPC, for partner users of a distributor, of its sub-reseller, of an
// unrelated partner, and for another tenant's admin, shows exactly the rows
// of the viewer's partner and the partners under it.
func TestIsolationMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.admin(t)
	ids := map[string]string{}
	ids["dist"] = e.newPartner(t, e.tenant, "dist", "")
	ids["sub"] = e.newPartner(t, e.tenant, "sub", ids["dist"])
	ids["subsub"] = e.newPartner(t, e.tenant, "subsub", ids["sub"])
	ids["other"] = e.newPartner(t, e.tenant, "other", "")
	ids["foreign"] = e.newPartner(t, e.other, "foreign", "")
	regs, statements, certs, reports := map[string]string{}, map[string]string{}, map[string]string{}, map[string]string{}
	budgets, fundRequests, completions := map[string]string{}, map[string]string{}, map[string]string{}
	courses := map[context.Context]string{}
	otherAdmin := e.as(t, e.other, auth.RoleAdmin)
	for _, tenantAdmin := range []context.Context{admin, otherAdmin} {
		course, err := e.enable.CreateTrainingCourse(tenantAdmin, &partnerv1.CreateTrainingCourseRequest{TrainingCourse: &partnerv1.TrainingCourse{DisplayName: "Basics"}})
		if err != nil {
			t.Fatal(err)
		}
		courses[tenantAdmin] = course.GetTrainingCourse().GetTrainingCourseId()
		if _, err := e.finance.CreateCommissionRule(tenantAdmin, &partnerv1.CreateCommissionRuleRequest{CommissionRule: &partnerv1.CommissionRule{
			Kind: partnerv1.CommissionRuleKind_COMMISSION_RULE_KIND_COMMISSION, ValidFrom: "2027-01-01", RateBps: 100,
		}}); err != nil {
			t.Fatal(err)
		}
	}
	for name, id := range ids {
		ctx := admin
		if name == "foreign" {
			ctx = otherAdmin
		}
		regs[name] = e.register(t, ctx, id, &partnerv1.Prospect{CompanyName: "Prospect of " + name}).GetDealRegistrationId()
		e.orders.add(id, finance.Order{Kind: finance.OrderSale, Time: day(1), CurrencyCode: "USD", Lines: []finance.OrderLine{{ProductID: uuid.NewString(), TotalMinor: 100}}})
		st, err := e.finance.ComputePartnerStatement(ctx, &partnerv1.ComputePartnerStatementRequest{PartnerId: id, PeriodStart: "2027-01-01", PeriodEnd: "2027-02-01"})
		if err != nil {
			t.Fatal(err)
		}
		statements[name] = st.GetPartnerStatement().GetPartnerStatementId()
		cert, err := e.program.CreateCertification(ctx, &partnerv1.CreateCertificationRequest{Certification: &partnerv1.Certification{PartnerId: id, Name: "sales", EarnDate: "2027-01-01"}})
		if err != nil {
			t.Fatal(err)
		}
		certs[name] = cert.GetCertification().GetCertificationId()
		rep, err := e.sell.CreateSellThroughReport(ctx, &partnerv1.CreateSellThroughReportRequest{SellThroughReport: report(id)})
		if err != nil {
			t.Fatal(err)
		}
		reports[name] = rep.GetSellThroughReport().GetSellThroughReportId()
		budget, err := e.funds.CreateMdfBudget(ctx, &partnerv1.CreateMdfBudgetRequest{MdfBudget: &partnerv1.MdfBudget{
			PartnerId: id, DisplayName: "Q1", PeriodStart: "2027-01-01", PeriodEnd: "2027-04-01", CurrencyCode: "USD", AmountMinor: 1000,
		}})
		if err != nil {
			t.Fatal(err)
		}
		budgets[name] = budget.GetMdfBudget().GetMdfBudgetId()
		fr, err := e.funds.CreateMdfRequest(ctx, &partnerv1.CreateMdfRequestRequest{MdfRequest: &partnerv1.MdfRequest{MdfBudgetId: budgets[name], Activity: "ads", RequestedMinor: 10}})
		if err != nil {
			t.Fatal(err)
		}
		fundRequests[name] = fr.GetMdfRequest().GetMdfRequestId()
		done, err := e.enable.CreateCourseCompletion(ctx, &partnerv1.CreateCourseCompletionRequest{CourseCompletion: &partnerv1.CourseCompletion{
			TrainingCourseId: courses[ctx], PartnerId: id, LearnerId: "lms-" + name, CompletionDate: "2027-01-02",
		}})
		if err != nil {
			t.Fatal(err)
		}
		completions[name] = done.GetCourseCompletion().GetCourseCompletionId()
		// One help-desk answer from one customer linked to the partner: a
		// scorecard showing more than one leaks another partner's.
		tenant := e.tenant
		if name == "foreign" {
			tenant = e.other
		}
		helpDesk(t, e, tenant, id, day(3))
		if _, err := e.partners.TransitionPartnerStatus(ctx, &partnerv1.TransitionPartnerStatusRequest{PartnerId: id,
			Status: partnerv1.PartnerStatus_PARTNER_STATUS_SUSPENDED, Reason: "audit"}); err != nil {
			t.Fatal(err)
		}
	}
	names := []string{"dist", "sub", "subsub", "other", "foreign"}
	viewers := []struct {
		name string
		ctx  context.Context
		sees []string
	}{
		{"distributor user", e.partnerUser(t, e.tenant, ids["dist"]), []string{"dist", "sub", "subsub"}},
		{"sub-reseller user", e.partnerUser(t, e.tenant, ids["sub"]), []string{"sub", "subsub"}},
		{"unrelated partner user", e.partnerUser(t, e.tenant, ids["other"]), []string{"other"}},
		{"partner user of another tenant's partner", e.partnerUser(t, e.other, ids["dist"]), nil},
		{"other tenant's admin", e.as(t, e.other, auth.RoleAdmin), []string{"foreign"}},
		{"admin", admin, []string{"dist", "sub", "subsub", "other"}},
	}
	byID := map[string]string{}
	for _, n := range names {
		byID[ids[n]] = n
		byID[regs[n]] = n
		byID[statements[n]] = n
		byID[certs[n]] = n
		byID[reports[n]] = n
		byID[budgets[n]] = n
		byID[fundRequests[n]] = n
		byID[completions[n]] = n
	}
	for _, v := range viewers {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			for _, n := range names {
				want := codes.NotFound
				if slices.Contains(v.sees, n) {
					want = codes.OK
				}
				reads := map[string]error{}
				_, reads["GetPartner"] = e.partners.GetPartner(v.ctx, &partnerv1.GetPartnerRequest{PartnerId: ids[n]})
				_, reads["ListPartnerStatusChanges"] = e.partners.ListPartnerStatusChanges(v.ctx, &partnerv1.ListPartnerStatusChangesRequest{PartnerId: ids[n]})
				_, reads["GetDealRegistration"] = e.deals.GetDealRegistration(v.ctx, &partnerv1.GetDealRegistrationRequest{DealRegistrationId: regs[n]})
				_, reads["GetPartnerStatement"] = e.finance.GetPartnerStatement(v.ctx, &partnerv1.GetPartnerStatementRequest{PartnerStatementId: statements[n]})
				_, reads["GetMdfBudget"] = e.funds.GetMdfBudget(v.ctx, &partnerv1.GetMdfBudgetRequest{MdfBudgetId: budgets[n]})
				_, reads["GetMdfRequest"] = e.funds.GetMdfRequest(v.ctx, &partnerv1.GetMdfRequestRequest{MdfRequestId: fundRequests[n]})
				_, reads["GetPartnerOnboarding"] = e.enable.GetPartnerOnboarding(v.ctx, &partnerv1.GetPartnerOnboardingRequest{PartnerId: ids[n]})
				_, reads["GetSellThroughReport"] = e.sell.GetSellThroughReport(v.ctx, &partnerv1.GetSellThroughReportRequest{SellThroughReportId: reports[n]})
				_, reads["ListPartnerStatementLines"] = e.finance.ListPartnerStatementLines(v.ctx, &partnerv1.ListPartnerStatementLinesRequest{PartnerStatementId: statements[n]})
				card, err := e.scores.GetPartnerScorecard(v.ctx, &partnerv1.GetPartnerScorecardRequest{PartnerId: ids[n], PeriodStart: "2027-01-01", PeriodEnd: "2027-02-01"})
				reads["GetPartnerScorecard"] = err
				if err == nil && card.GetScorecard().GetHelpDeskCsatResponses() != 1 {
					t.Errorf("GetPartnerScorecard(%s) help-desk answers = %d, want its own 1", n, card.GetScorecard().GetHelpDeskCsatResponses())
				}
				for rpc, err := range reads {
					if status.Code(err) != want {
						t.Errorf("%s(%s) = %v, want %v", rpc, n, err, want)
					}
				}
			}
			partners, err := e.partners.ListPartners(v.ctx, &partnerv1.ListPartnersRequest{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range partners.GetPartners() {
				got = append(got, byID[p.GetPartnerId()])
			}
			if slices.Sort(got); strings.Join(got, " ") != strings.Join(sorted(v.sees), " ") {
				t.Errorf("ListPartners = %v, want %v", got, sorted(v.sees))
			}
			deals, err := e.deals.ListDealRegistrations(v.ctx, &partnerv1.ListDealRegistrationsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			got = nil
			for _, r := range deals.GetDealRegistrations() {
				got = append(got, byID[r.GetDealRegistrationId()])
			}
			if slices.Sort(got); strings.Join(got, " ") != strings.Join(sorted(v.sees), " ") {
				t.Errorf("ListDealRegistrations = %v, want %v", got, sorted(v.sees))
			}
			sts, err := e.finance.ListPartnerStatements(v.ctx, &partnerv1.ListPartnerStatementsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			got = nil
			for _, st := range sts.GetPartnerStatements() {
				got = append(got, byID[st.GetPartnerStatementId()])
			}
			if slices.Sort(got); strings.Join(got, " ") != strings.Join(sorted(v.sees), " ") {
				t.Errorf("ListPartnerStatements = %v, want %v", got, sorted(v.sees))
			}
			cs, err := e.program.ListCertifications(v.ctx, &partnerv1.ListCertificationsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			got = nil
			for _, c := range cs.GetCertifications() {
				got = append(got, byID[c.GetCertificationId()])
			}
			if slices.Sort(got); strings.Join(got, " ") != strings.Join(sorted(v.sees), " ") {
				t.Errorf("ListCertifications = %v, want %v", got, sorted(v.sees))
			}
			reps, err := e.sell.ListSellThroughReports(v.ctx, &partnerv1.ListSellThroughReportsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			got = nil
			for _, r := range reps.GetSellThroughReports() {
				got = append(got, byID[r.GetSellThroughReportId()])
			}
			if slices.Sort(got); strings.Join(got, " ") != strings.Join(sorted(v.sees), " ") {
				t.Errorf("ListSellThroughReports = %v, want %v", got, sorted(v.sees))
			}
			mb, err := e.funds.ListMdfBudgets(v.ctx, &partnerv1.ListMdfBudgetsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			mr, err := e.funds.ListMdfRequests(v.ctx, &partnerv1.ListMdfRequestsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			cc, err := e.enable.ListCourseCompletions(v.ctx, &partnerv1.ListCourseCompletionsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			for what, ids := range map[string][]string{
				"ListMdfBudgets":        idsOf(mb.GetMdfBudgets(), (*partnerv1.MdfBudget).GetMdfBudgetId),
				"ListMdfRequests":       idsOf(mr.GetMdfRequests(), (*partnerv1.MdfRequest).GetMdfRequestId),
				"ListCourseCompletions": idsOf(cc.GetCourseCompletions(), (*partnerv1.CourseCompletion).GetCourseCompletionId),
			} {
				got = nil
				for _, id := range ids {
					got = append(got, byID[id])
				}
				if slices.Sort(got); strings.Join(got, " ") != strings.Join(sorted(v.sees), " ") {
					t.Errorf("%s = %v, want %v", what, got, sorted(v.sees))
				}
			}
			got = nil
			for token := ""; ; {
				page, err := e.scores.ListPartnerScorecards(v.ctx, &partnerv1.ListPartnerScorecardsRequest{PeriodStart: "2027-01-01", PeriodEnd: "2027-02-01",
					PageSize: 2, PageToken: token})
				if err != nil {
					t.Fatalf("ListPartnerScorecards = %v", err)
				}
				for _, sc := range page.GetScorecards() {
					got = append(got, byID[sc.GetPartnerId()])
					if sc.GetHelpDeskCsatResponses() != 1 {
						t.Errorf("ListPartnerScorecards: %s help-desk answers = %d, want its own 1", byID[sc.GetPartnerId()], sc.GetHelpDeskCsatResponses())
					}
				}
				if token = page.GetNextPageToken(); token == "" {
					break
				}
			}
			if slices.Sort(got); strings.Join(got, " ") != strings.Join(sorted(v.sees), " ") {
				t.Errorf("ListPartnerScorecards = %v, want %v", got, sorted(v.sees))
			}
			// Filtering for another partner's rows finds nothing either.
			filtered, err := e.deals.ListDealRegistrations(v.ctx, &partnerv1.ListDealRegistrationsRequest{Filter: `partner_id = "` + ids["other"] + `"`})
			if err != nil || (len(filtered.GetDealRegistrations()) > 0) != slices.Contains(v.sees, "other") {
				t.Errorf("ListDealRegistrations(partner_id = other) = %v, %v", filtered, err)
			}
		})
	}
}

// TestIsolationInPostgres shows the policy, not the Go code, hides rows:
// the service role with a partner user's settings reads only its subtree.
func TestIsolationInPostgres(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dist := e.newPartner(t, e.tenant, "dist", "")
	sub := e.newPartner(t, e.tenant, "sub", dist)
	other := e.newPartner(t, e.tenant, "other", "")
	if _, err := e.finance.CreateCommissionRule(e.admin(t), &partnerv1.CreateCommissionRuleRequest{CommissionRule: &partnerv1.CommissionRule{
		Kind: partnerv1.CommissionRuleKind_COMMISSION_RULE_KIND_REBATE, ValidFrom: "2027-01-01", RateBps: 100,
	}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dist, sub, other} {
		e.register(t, e.admin(t), p, &partnerv1.Prospect{CompanyName: "P " + p})
		e.orders.add(p, finance.Order{Kind: finance.OrderSale, Time: day(1), CurrencyCode: "USD", Lines: []finance.OrderLine{{ProductID: uuid.NewString(), TotalMinor: 100}}})
		if _, err := e.finance.ComputePartnerStatement(e.admin(t), &partnerv1.ComputePartnerStatementRequest{PartnerId: p, PeriodStart: "2027-01-01", PeriodEnd: "2027-02-01"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.program.CreateCertification(e.admin(t), &partnerv1.CreateCertificationRequest{Certification: &partnerv1.Certification{PartnerId: p, Name: "sales", EarnDate: "2027-01-01"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.sell.CreateSellThroughReport(e.admin(t), &partnerv1.CreateSellThroughReportRequest{SellThroughReport: report(p)}); err != nil {
			t.Fatal(err)
		}
		helpDesk(t, e, e.tenant, p, day(3))
	}
	count := func(partner, roles, table string) int {
		t.Helper()
		var n int
		err := pgx.BeginFunc(t.Context(), e.db.App, func(tx pgx.Tx) error {
			if _, err := tx.Exec(t.Context(), `SELECT set_config('rapport.tenant_id', $1, true), set_config('rapport.principal_id', 'p', true),
				set_config('rapport.roles', $2, true), set_config('rapport.partner_id', $3, true)`, e.tenant, roles, partner); err != nil {
				return err
			}
			return tx.QueryRow(t.Context(), `SELECT count(*) FROM `+table).Scan(&n)
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	tests := []struct {
		partner, roles, table string
		want                  int
	}{
		{dist, "partner_user", "deal_registrations", 2},
		{sub, "partner_user", "deal_registrations", 1},
		{other, "partner_user", "partners", 1},
		{"", "partner_user", "partners", 0},
		{dist, "support_agent", "deal_registrations", 0},
		{dist, "partner_user", "partner_statements", 2},
		{sub, "partner_user", "partner_statements", 1},
		{sub, "partner_user", "partner_statement_lines", 2},
		{other, "partner_user", "partner_statement_lines", 2},
		{dist, "support_agent", "partner_statement_lines", 0},
		{"", "sales_manager", "partner_statement_lines", 6},
		{other, "partner_user", "commission_rules", 1},
		{dist, "partner_user", "certifications", 2},
		{other, "partner_user", "certifications", 1},
		{dist, "support_agent", "certifications", 0},
		{sub, "partner_user", "sell_through_reports", 1},
		{dist, "partner_user", "sell_through_reports", 2},
		{"", "partner_user", "sell_through_reports", 0},
		{"", "sales_manager", "deal_registrations", 3},
		{dist, "partner_user", "customer_partner_links", 2},
		{sub, "partner_user", "customer_partner_links", 1},
		{dist, "support_agent", "customer_partner_links", 0},
		{dist, "partner_user", "help_desk_answers", 2},
		{other, "partner_user", "help_desk_answers", 1},
		{"", "partner_user", "help_desk_answers", 0},
		{dist, "support_agent", "help_desk_answers", 0},
		{"", "analyst", "help_desk_answers", 3},
		{dist, "partner_user", "ticket_customers", 0},
		{"", "sales_manager", "ticket_customers", 3},
		{dist, "partner_user", "feed_checkpoints", 0},
		{"", "admin", "feed_checkpoints", 2},
	}
	for _, tt := range tests {
		if got := count(tt.partner, tt.roles, tt.table); got != tt.want {
			t.Errorf("%s rows for %s of partner %q = %d, want %d", tt.table, tt.roles, tt.partner, got, tt.want)
		}
	}
	// A partner user's insert for a partner outside its subtree is refused by the policy.
	err := pgx.BeginFunc(t.Context(), e.db.App, func(tx pgx.Tx) error {
		if _, err := tx.Exec(t.Context(), `SELECT set_config('rapport.tenant_id', $1, true), set_config('rapport.principal_id', 'p', true),
			set_config('rapport.roles', 'partner_user', true), set_config('rapport.partner_id', $2, true)`, e.tenant, sub); err != nil {
			return err
		}
		_, err := tx.Exec(t.Context(), `INSERT INTO deal_registrations (tenant_id, deal_registration_id, partner_id, display_name, state, expire_time, registered_by)
			VALUES ($1, gen_random_uuid(), $2, 'x', 1, now(), 'p')`, e.tenant, dist)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "row-level security") {
		t.Fatalf("insert for the parent as a sub-reseller's user = %v, want a row-level security refusal", err)
	}
}

// helpDesk projects, as the customer and ticket streams would send them, a
// customer of its own linked to partner with one ticket answered (CSAT 4)
// at answered.
func helpDesk(t *testing.T, e *env, tenant, partner string, answered time.Time) {
	t.Helper()
	c, tk := uuid.NewString(), uuid.NewString()
	customers := &stream{t: t, e: e, tenant: tenant, source: "customer"}
	tickets := &stream{t: t, e: e, tenant: tenant, source: "ticket"}
	customers.send("customer.partner_linked", answered.AddDate(0, 0, -1), &customerv1.CustomerPartnerLink{CustomerId: c, PartnerId: partner,
		LinkTime: timestamppb.New(answered.AddDate(0, 0, -1))})
	tickets.send("ticket.created", answered, &ticketv1.Ticket{TicketId: tk, CustomerId: c})
	tickets.send("csat_survey.answered", answered, &ticketv1.TicketCsatSurvey{SurveyId: uuid.NewString(), TicketId: tk, Score: 4,
		AnswerTime: timestamppb.New(answered)})
}

func idsOf[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = id(it)
	}
	return out
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
