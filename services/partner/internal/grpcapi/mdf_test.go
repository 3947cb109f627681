package grpcapi_test

import (
	"context"
	"sync"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
)

// budget creates an MDF budget of amount USD for partner as the first tenant's admin.
func (e *env) budget(t *testing.T, partner string, amount int64) *partnerv1.MdfBudget {
	t.Helper()
	resp, err := e.funds.CreateMdfBudget(e.admin(t), &partnerv1.CreateMdfBudgetRequest{MdfBudget: &partnerv1.MdfBudget{
		PartnerId: partner, DisplayName: "Q1 co-marketing", PeriodStart: "2027-01-01", PeriodEnd: "2027-04-01", CurrencyCode: "usd", AmountMinor: amount,
	}})
	if err != nil {
		t.Fatalf("CreateMdfBudget: %v", err)
	}
	return resp.GetMdfBudget()
}

func TestMarketingFunds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.admin(t)
	p := e.newPartner(t, e.tenant, "p", "")
	other := e.newPartner(t, e.tenant, "other", "")
	b := e.budget(t, p, 10_000)
	user := e.partnerUser(t, e.tenant, p)

	request := func(ctx context.Context, amount int64) (*partnerv1.MdfRequest, error) {
		resp, err := e.funds.CreateMdfRequest(ctx, &partnerv1.CreateMdfRequestRequest{MdfRequest: &partnerv1.MdfRequest{
			MdfBudgetId: b.GetMdfBudgetId(), Activity: "Trade show booth", RequestedMinor: amount,
		}})
		return resp.GetMdfRequest(), err
	}
	r, err := request(user, 6_000)
	if err != nil || r.GetState() != partnerv1.MdfRequestState_MDF_REQUEST_STATE_SUBMITTED || r.GetPartnerId() != p {
		t.Fatalf("CreateMdfRequest as the partner's user = %v, %v", r, err)
	}
	if _, err := request(e.partnerUser(t, e.tenant, other), 1); status.Code(err) != codes.NotFound {
		t.Fatalf("CreateMdfRequest on another partner's budget = %v, want NotFound", err)
	}
	if _, err := e.funds.ApproveMdfRequest(user, &partnerv1.ApproveMdfRequestRequest{MdfRequestId: r.GetMdfRequestId()}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("ApproveMdfRequest by the partner's user = %v, want PermissionDenied", err)
	}
	if _, err := e.funds.ApproveMdfRequest(admin, &partnerv1.ApproveMdfRequestRequest{MdfRequestId: r.GetMdfRequestId(), ApprovedMinor: 7_000}); !grpctest.Violations(err)["approved_minor"] {
		t.Fatalf("ApproveMdfRequest above the request = %v, want a violation on approved_minor", err)
	}
	approved, err := e.funds.ApproveMdfRequest(admin, &partnerv1.ApproveMdfRequestRequest{MdfRequestId: r.GetMdfRequestId(), ApprovedMinor: 5_000, Note: "booth only"})
	if err != nil || approved.GetMdfRequest().GetApprovedMinor() != 5_000 {
		t.Fatalf("ApproveMdfRequest = %v, %v", approved, err)
	}
	// 5,000 of 10,000 are committed: 6,000 more do not fit.
	big, err := request(user, 6_000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.funds.ApproveMdfRequest(admin, &partnerv1.ApproveMdfRequestRequest{MdfRequestId: big.GetMdfRequestId()}); grpctest.Reason(err) != "BUDGET_EXCEEDED" {
		t.Fatalf("ApproveMdfRequest beyond the budget = %v, want BUDGET_EXCEEDED", err)
	}
	if _, err := e.funds.RejectMdfRequest(admin, &partnerv1.RejectMdfRequestRequest{MdfRequestId: big.GetMdfRequestId(), Note: "too much"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.funds.ClaimMdfRequest(user, &partnerv1.ClaimMdfRequestRequest{MdfRequestId: r.GetMdfRequestId(), ClaimedMinor: 5_001, Evidence: "INV-1"}); !grpctest.Violations(err)["claimed_minor"] {
		t.Fatalf("ClaimMdfRequest above the approval = %v, want a violation on claimed_minor", err)
	}
	if _, err := e.funds.ClaimMdfRequest(user, &partnerv1.ClaimMdfRequestRequest{MdfRequestId: r.GetMdfRequestId(), ClaimedMinor: 4_000}); !grpctest.Violations(err)["evidence"] {
		t.Fatalf("ClaimMdfRequest without evidence = %v, want a violation on evidence", err)
	}
	claimed, err := e.funds.ClaimMdfRequest(user, &partnerv1.ClaimMdfRequestRequest{MdfRequestId: r.GetMdfRequestId(), ClaimedMinor: 4_000, Evidence: "INV-1"})
	if err != nil || claimed.GetMdfRequest().GetState() != partnerv1.MdfRequestState_MDF_REQUEST_STATE_CLAIMED {
		t.Fatalf("ClaimMdfRequest = %v, %v", claimed, err)
	}
	if _, err := e.funds.ClaimMdfRequest(user, &partnerv1.ClaimMdfRequestRequest{MdfRequestId: r.GetMdfRequestId(), ClaimedMinor: 1, Evidence: "again"}); grpctest.Reason(err) != "MDF_REQUEST_STATE" {
		t.Fatalf("ClaimMdfRequest twice = %v, want MDF_REQUEST_STATE", err)
	}
	paid, err := e.funds.DecideMdfClaim(admin, &partnerv1.DecideMdfClaimRequest{MdfRequestId: r.GetMdfRequestId(), Approve: true})
	if err != nil || paid.GetMdfRequest().GetState() != partnerv1.MdfRequestState_MDF_REQUEST_STATE_PAID {
		t.Fatalf("DecideMdfClaim = %v, %v", paid, err)
	}
	got, err := e.funds.GetMdfBudget(user, &partnerv1.GetMdfBudgetRequest{MdfBudgetId: b.GetMdfBudgetId()})
	if err != nil || got.GetMdfBudget().GetCommittedMinor() != 0 || got.GetMdfBudget().GetSpentMinor() != 4_000 {
		t.Fatalf("budget after payment = %v, %v, want 0 committed and 4000 spent (the unclaimed 1000 released)", got, err)
	}
	if _, err := e.funds.GetMdfBudget(e.partnerUser(t, e.tenant, other), &partnerv1.GetMdfBudgetRequest{MdfBudgetId: b.GetMdfBudgetId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetMdfBudget by another partner's user = %v, want NotFound", err)
	}
	if _, err := e.funds.GetMdfRequest(e.as(t, e.other, auth.RoleAdmin), &partnerv1.GetMdfRequestRequest{MdfRequestId: r.GetMdfRequestId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetMdfRequest from another tenant = %v, want NotFound", err)
	}
	list, err := e.funds.ListMdfRequests(e.partnerUser(t, e.tenant, other), &partnerv1.ListMdfRequestsRequest{})
	if err != nil || len(list.GetMdfRequests()) != 0 {
		t.Fatalf("ListMdfRequests by another partner's user = %v, %v, want none", list, err)
	}

	bad := []struct {
		name      string
		ctx       context.Context
		b         *partnerv1.MdfBudget
		wantCode  codes.Code
		wantField string
	}{
		{name: "no amount", b: &partnerv1.MdfBudget{PartnerId: p, DisplayName: "x", PeriodStart: "2027-01-01", PeriodEnd: "2027-02-01", CurrencyCode: "USD"}, wantCode: codes.InvalidArgument, wantField: "mdf_budget.amount_minor"},
		{name: "backwards", b: &partnerv1.MdfBudget{PartnerId: p, DisplayName: "x", PeriodStart: "2027-02-01", PeriodEnd: "2027-01-01", CurrencyCode: "USD", AmountMinor: 1}, wantCode: codes.InvalidArgument, wantField: "mdf_budget.period_end"},
		{name: "bad partner", b: &partnerv1.MdfBudget{PartnerId: "p", DisplayName: "x", PeriodStart: "2027-01-01", PeriodEnd: "2027-02-01", CurrencyCode: "USD", AmountMinor: 1}, wantCode: codes.InvalidArgument, wantField: "mdf_budget.partner_id"},
		{name: "unknown partner", b: &partnerv1.MdfBudget{PartnerId: uuid.NewString(), DisplayName: "x", PeriodStart: "2027-01-01", PeriodEnd: "2027-02-01", CurrencyCode: "USD", AmountMinor: 1}, wantCode: codes.NotFound},
		{name: "partner user", ctx: user, b: &partnerv1.MdfBudget{PartnerId: p, DisplayName: "x", PeriodStart: "2027-01-01", PeriodEnd: "2027-02-01", CurrencyCode: "USD", AmountMinor: 1}, wantCode: codes.PermissionDenied},
	}
	for _, tt := range bad {
		ctx := tt.ctx
		if ctx == nil {
			ctx = admin
		}
		_, err := e.funds.CreateMdfBudget(ctx, &partnerv1.CreateMdfBudgetRequest{MdfBudget: tt.b})
		if status.Code(err) != tt.wantCode || (tt.wantField != "" && !grpctest.Violations(err)[tt.wantField]) {
			t.Errorf("%s: CreateMdfBudget = %v, want %v on %q", tt.name, err, tt.wantCode, tt.wantField)
		}
	}
}

// TestMarketingFundsConcurrentApprovals approves requests worth twice the
// budget at once: only what fits is committed.
func TestMarketingFundsConcurrentApprovals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.newPartner(t, e.tenant, "p", "")
	b := e.budget(t, p, 3_000)
	var ids []string
	for range 6 {
		resp, err := e.funds.CreateMdfRequest(e.admin(t), &partnerv1.CreateMdfRequestRequest{MdfRequest: &partnerv1.MdfRequest{
			MdfBudgetId: b.GetMdfBudgetId(), Activity: "Webinar", RequestedMinor: 1_000,
		}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, resp.GetMdfRequest().GetMdfRequestId())
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		wg.Go(func() {
			_, errs[i] = e.funds.ApproveMdfRequest(e.admin(t), &partnerv1.ApproveMdfRequestRequest{MdfRequestId: id})
		})
	}
	wg.Wait()
	approved := 0
	for _, err := range errs {
		switch {
		case err == nil:
			approved++
		case grpctest.Reason(err) != "BUDGET_EXCEEDED":
			t.Errorf("ApproveMdfRequest = %v, want OK or BUDGET_EXCEEDED", err)
		}
	}
	got, err := e.funds.GetMdfBudget(e.admin(t), &partnerv1.GetMdfBudgetRequest{MdfBudgetId: b.GetMdfBudgetId()})
	if err != nil || approved != 3 || got.GetMdfBudget().GetCommittedMinor() != 3_000 {
		t.Fatalf("%d approved, budget %v, %v; want 3 approved and 3000 committed", approved, got, err)
	}
}
