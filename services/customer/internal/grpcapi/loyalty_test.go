package grpcapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/services/customer/internal/loyalty"
	"github.com/rapportcrm/rapport/services/customer/internal/postgres"
)

const (
	earn   = customerv1.PointsTransactionKind_POINTS_TRANSACTION_KIND_EARN
	redeem = customerv1.PointsTransactionKind_POINTS_TRANSACTION_KIND_REDEEM
	adjust = customerv1.PointsTransactionKind_POINTS_TRANSACTION_KIND_ADJUST
)

// program creates a loyalty program with a 0-point Bronze and a 1,000-point Gold tier.
func (e *env) program(t *testing.T, ctx context.Context, expiryMonths int32) (string, map[string]string) {
	t.Helper()
	p, err := e.loyalty.CreateLoyaltyProgram(ctx, &customerv1.CreateLoyaltyProgramRequest{
		Program: &customerv1.LoyaltyProgram{DisplayName: "Stars", ExpiryMonths: expiryMonths, Active: true}})
	if err != nil {
		t.Fatalf("CreateLoyaltyProgram: %v", err)
	}
	id := p.GetProgram().GetProgramId()
	tiers := map[string]string{}
	for _, tier := range []*customerv1.LoyaltyTier{
		{DisplayName: "Bronze", Rank: 0, RuleKind: customerv1.TierRuleKind_TIER_RULE_KIND_LIFETIME_EARNED, ThresholdPoints: 0},
		{DisplayName: "Gold", Rank: 10, RuleKind: customerv1.TierRuleKind_TIER_RULE_KIND_LIFETIME_EARNED, ThresholdPoints: 1000, Benefits: []string{"free delivery"}},
	} {
		created, err := e.loyalty.CreateLoyaltyTier(ctx, &customerv1.CreateLoyaltyTierRequest{ProgramId: id, Tier: tier})
		if err != nil {
			t.Fatalf("CreateLoyaltyTier(%s): %v", tier.GetDisplayName(), err)
		}
		tiers[tier.GetDisplayName()] = created.GetTier().GetTierId()
	}
	return id, tiers
}

func (e *env) post(ctx context.Context, program, customer string, kind customerv1.PointsTransactionKind, points int64, ref string) (*customerv1.PostPointsTransactionResponse, error) {
	return e.loyalty.PostPointsTransaction(ctx, &customerv1.PostPointsTransactionRequest{
		ProgramId: program, CustomerId: customer, Kind: kind, Points: points, ExternalReference: ref, Reason: "test"})
}

func TestLoyaltyLedger(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	program, tiers := e.program(t, ctx, 0)
	id := e.create(t, ctx, ada()).GetCustomerId()
	for range 2 {
		if _, err := e.loyalty.EnrollLoyaltyMember(ctx, &customerv1.EnrollLoyaltyMemberRequest{ProgramId: program, CustomerId: id}); err != nil {
			t.Fatalf("EnrollLoyaltyMember: %v", err)
		}
	}

	first, err := e.post(ctx, program, id, earn, 600, "order-1")
	if err != nil {
		t.Fatalf("earn: %v", err)
	}
	if m := first.GetMembership(); m.GetBalance() != 600 || m.GetTierId() != tiers["Bronze"] {
		t.Fatalf("after earning 600: %v, want balance 600 in Bronze", m)
	}
	again, err := e.post(ctx, program, id, earn, 600, "order-1")
	if err != nil || again.GetTransaction().GetTransactionId() != first.GetTransaction().GetTransactionId() || again.GetMembership().GetBalance() != 600 {
		t.Fatalf("repeated earn = %v, %v; want the first transaction and the same balance", again, err)
	}
	if _, err := e.post(ctx, program, id, earn, 700, "order-1"); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("reference reused for other points = %v, want AlreadyExists", err)
	}
	gold, err := e.post(ctx, program, id, earn, 500, "order-2")
	if err != nil || gold.GetMembership().GetTierId() != tiers["Gold"] || gold.GetMembership().GetBalance() != 1100 {
		t.Fatalf("after earning 1,100 in all = %v, %v; want Gold with 1,100", gold.GetMembership(), err)
	}

	// A redemption beyond the balance names the field and writes nothing.
	_, err = e.post(ctx, program, id, redeem, 2000, "basket-1")
	if status.Code(err) != codes.FailedPrecondition || !grpctest.Violations(err)["points"] {
		t.Fatalf("redeeming beyond the balance = %v, want FailedPrecondition on points", err)
	}
	if _, err := e.post(ctx, program, id, redeem, 300, "basket-1"); err != nil {
		t.Fatalf("redeem: %v", err)
	}

	// Concurrent redemptions never overdraw: 800 points pay for exactly 8 of 20.
	var wg sync.WaitGroup
	results := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.post(ctx, program, id, redeem, 100, fmt.Sprintf("rush-%d", i))
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	ok, short := 0, 0
	for err := range results {
		switch status.Code(err) {
		case codes.OK:
			ok++
		case codes.FailedPrecondition:
			short++
		default:
			t.Errorf("concurrent redeem: %v", err)
		}
	}
	m, err := e.loyalty.GetLoyaltyMembership(ctx, &customerv1.GetLoyaltyMembershipRequest{ProgramId: program, CustomerId: id})
	if err != nil || ok != 8 || short != 12 || m.GetMembership().GetBalance() != 0 {
		t.Fatalf("20 concurrent redeems of 100 on 800: %d ok, %d short, balance %d (%v); want 8, 12, 0", ok, short, m.GetMembership().GetBalance(), err)
	}

	// The ledger balances, transaction by transaction, and lots match the balance.
	var unbalanced, lots int64
	if err := e.db.Owner.QueryRow(t.Context(), `SELECT
		(SELECT count(*) FROM (SELECT transaction_id FROM loyalty_entries GROUP BY transaction_id HAVING sum(amount) <> 0) x),
		(SELECT coalesce(sum(remaining), 0) FROM loyalty_lots)`).Scan(&unbalanced, &lots); err != nil || unbalanced != 0 || lots != 0 {
		t.Fatalf("unbalanced transactions %d, points left in lots %d (%v); want 0 and 0", unbalanced, lots, err)
	}
	var listed int
	token := ""
	for {
		page, err := e.loyalty.ListPointsTransactions(ctx, &customerv1.ListPointsTransactionsRequest{ProgramId: program, CustomerId: id, PageSize: 3, PageToken: token})
		if err != nil {
			t.Fatalf("ListPointsTransactions: %v", err)
		}
		listed += len(page.GetTransactions())
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if listed != 11 {
		t.Fatalf("listed %d transactions, want 11 (2 earns, 1 redeem, 8 rushed)", listed)
	}
	changes, err := e.loyalty.ListLoyaltyTierChanges(ctx, &customerv1.ListLoyaltyTierChangesRequest{ProgramId: program, CustomerId: id})
	if err != nil || len(changes.GetChanges()) != 2 || changes.GetChanges()[0].GetToTierId() != tiers["Gold"] {
		t.Fatalf("tier changes = %v, %v; want Bronze then Gold", changes.GetChanges(), err)
	}

	for _, tt := range []struct {
		name  string
		ctx   context.Context
		req   *customerv1.PostPointsTransactionRequest
		want  codes.Code
		field string
	}{
		{"adjust by a rep", e.as(t.Context(), e.token(t, auth.RoleSalesRep)), &customerv1.PostPointsTransactionRequest{ProgramId: program, CustomerId: id, Kind: adjust, Points: 5, ExternalReference: "x", Reason: "r"}, codes.PermissionDenied, ""},
		{"adjust without reason", ctx, &customerv1.PostPointsTransactionRequest{ProgramId: program, CustomerId: id, Kind: adjust, Points: 5, ExternalReference: "x"}, codes.InvalidArgument, "reason"},
		{"no reference", ctx, &customerv1.PostPointsTransactionRequest{ProgramId: program, CustomerId: id, Kind: earn, Points: 5}, codes.InvalidArgument, "external_reference"},
		{"negative earn", ctx, &customerv1.PostPointsTransactionRequest{ProgramId: program, CustomerId: id, Kind: earn, Points: -5, ExternalReference: "y"}, codes.InvalidArgument, "points"},
		{"posting an expiry", ctx, &customerv1.PostPointsTransactionRequest{ProgramId: program, CustomerId: id, Kind: customerv1.PointsTransactionKind_POINTS_TRANSACTION_KIND_EXPIRE, Points: 5, ExternalReference: "z"}, codes.InvalidArgument, "kind"},
		{"other tenant", e.as(t.Context(), e.otherKey), &customerv1.PostPointsTransactionRequest{ProgramId: program, CustomerId: id, Kind: earn, Points: 5, ExternalReference: "w"}, codes.NotFound, ""},
	} {
		_, err := e.loyalty.PostPointsTransaction(tt.ctx, tt.req)
		if status.Code(err) != tt.want || (tt.field != "" && !grpctest.Violations(err)[tt.field]) {
			t.Errorf("%s: %v, want %v on %q", tt.name, err, tt.want, tt.field)
		}
	}
	if _, err := e.loyalty.CreateLoyaltyTier(ctx, &customerv1.CreateLoyaltyTierRequest{ProgramId: program, Tier: &customerv1.LoyaltyTier{
		DisplayName: "Odd", Rank: 5, RuleKind: customerv1.TierRuleKind_TIER_RULE_KIND_LIFETIME_EARNED, WindowDays: 30}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("CreateLoyaltyTier with a window on a lifetime rule = %v, want InvalidArgument", err)
	}
	if _, err := e.loyalty.CreateLoyaltyTier(ctx, &customerv1.CreateLoyaltyTierRequest{ProgramId: program, Tier: &customerv1.LoyaltyTier{
		DisplayName: "Gold again", Rank: 10, RuleKind: customerv1.TierRuleKind_TIER_RULE_KIND_LIFETIME_EARNED}}); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("CreateLoyaltyTier with a taken rank = %v, want AlreadyExists", err)
	}
}

func TestLoyaltyPointsExpire(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	program, _ := e.program(t, ctx, 12)
	id := e.create(t, ctx, ada()).GetCustomerId()
	if _, err := e.loyalty.EnrollLoyaltyMember(ctx, &customerv1.EnrollLoyaltyMemberRequest{ProgramId: program, CustomerId: id}); err != nil {
		t.Fatal(err)
	}
	for i, pts := range []int64{50, 70} {
		if _, err := e.post(ctx, program, id, earn, pts, fmt.Sprintf("old-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Redeeming spends the first-to-expire lot first; then both lots fall due.
	if _, err := e.post(ctx, program, id, redeem, 20, "spend"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Owner.Exec(t.Context(), `UPDATE loyalty_lots SET expire_time = now() - interval '1 day'`); err != nil {
		t.Fatal(err)
	}
	expired, err := e.loyalty.ExpireLoyaltyPoints(ctx, &customerv1.ExpireLoyaltyPointsRequest{ProgramId: program})
	if err != nil || expired.GetExpiredLots() != 2 || expired.GetExpiredPoints() != 100 {
		t.Fatalf("ExpireLoyaltyPoints = %v, %v; want 2 lots, 100 points", expired, err)
	}
	if again, err := e.loyalty.ExpireLoyaltyPoints(ctx, &customerv1.ExpireLoyaltyPointsRequest{ProgramId: program}); err != nil || again.GetExpiredLots() != 0 {
		t.Fatalf("second ExpireLoyaltyPoints = %v, %v; want nothing left", again, err)
	}
	// The background sweep finds due points of every tenant by itself.
	if _, err := e.post(ctx, program, id, earn, 30, "later"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Owner.Exec(t.Context(), `UPDATE loyalty_lots SET expire_time = now() - interval '1 minute' WHERE remaining > 0`); err != nil {
		t.Fatal(err)
	}
	loyalty.NewSweeper(postgres.New(e.db.App), time.Hour, slog.New(slog.NewJSONHandler(io.Discard, nil))).Sweep(t.Context())
	m, err := e.loyalty.GetLoyaltyMembership(ctx, &customerv1.GetLoyaltyMembershipRequest{ProgramId: program, CustomerId: id})
	if err != nil || m.GetMembership().GetBalance() != 0 {
		t.Fatalf("after the sweep: %v, %v; want balance 0", m, err)
	}
	if _, err := e.loyalty.ExpireLoyaltyPoints(e.as(t.Context(), e.token(t, auth.RoleSalesManager)), &customerv1.ExpireLoyaltyPointsRequest{ProgramId: program}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("ExpireLoyaltyPoints by a manager = %v, want PermissionDenied", err)
	}
}
