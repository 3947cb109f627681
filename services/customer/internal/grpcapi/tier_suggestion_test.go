package grpcapi_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
)

const analyticsSource = customerv1.ValueTierSource_VALUE_TIER_SOURCE_ANALYTICS

// TestSuggestedValueTiers covers tiers the analytics service suggests: told
// apart from manual ones, never replacing a manual tier unless the request
// opts in, idempotent on request_id.
func TestSuggestedValueTiers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	if _, err := e.classes.CreateValueTierRule(ctx, &customerv1.CreateValueTierRuleRequest{Rule: &customerv1.ValueTierRule{Tier: "C", Filter: `country_code = "GB"`}}); err != nil {
		t.Fatalf("CreateValueTierRule: %v", err)
	}
	classification := func(id string) *customerv1.CustomerClassification {
		t.Helper()
		r, err := e.classes.GetCustomerClassification(ctx, &customerv1.GetCustomerClassificationRequest{CustomerId: id})
		if err != nil {
			t.Fatalf("GetCustomerClassification: %v", err)
		}
		return r.GetClassification()
	}
	suggest := func(ctx context.Context, id, tier, requestID string, override bool) (*customerv1.SetValueTierResponse, error) {
		return e.classes.SetValueTier(ctx, &customerv1.SetValueTierRequest{CustomerId: id, Tier: tier, Reason: "RFM 5-4-4",
			Source: analyticsSource, RequestId: requestID, OverrideManual: override})
	}

	ruled := e.create(t, ctx, person("Ruled", "GB")).GetCustomerId()
	if c := classification(ruled); c.GetValueTierSource() != customerv1.ValueTierSource_VALUE_TIER_SOURCE_RULE {
		t.Fatalf("source of a rule's tier = %v, want RULE", c.GetValueTierSource())
	}
	// A suggestion replaces a rule's tier and holds against the rules.
	resp, err := suggest(ctx, ruled, "A", "run1-ruled", false)
	if err != nil {
		t.Fatalf("suggest A: %v", err)
	}
	if c := resp.GetClassification(); c.GetValueTier() != "A" || c.GetValueTierSource() != analyticsSource {
		t.Fatalf("after a suggestion, tier = %q source %v; want A, ANALYTICS", c.GetValueTier(), c.GetValueTierSource())
	}
	// Repeats (same request id) and an unchanged suggestion change nothing.
	for _, rid := range []string{"run1-ruled", "run2-ruled"} {
		if _, err := suggest(ctx, ruled, "A", rid, false); err != nil {
			t.Fatalf("repeat %s: %v", rid, err)
		}
	}
	// A later run's different suggestion replaces the earlier one.
	if _, err := suggest(ctx, ruled, "B", "run3-ruled", false); err != nil {
		t.Fatalf("suggest B: %v", err)
	}
	// A delivery of run 1 arriving late is recognised and ignored.
	if resp, err := suggest(ctx, ruled, "A", "run1-ruled", false); err != nil || resp.GetClassification().GetValueTier() != "B" {
		t.Fatalf("late repeat = %v, %v; want tier B kept", resp.GetClassification().GetValueTier(), err)
	}
	changes, err := e.classes.ListValueTierChanges(ctx, &customerv1.ListValueTierChangesRequest{CustomerId: ruled})
	if err != nil {
		t.Fatalf("ListValueTierChanges: %v", err)
	}
	var got []string
	for _, c := range changes.GetChanges() {
		got = append(got, c.GetFromTier()+">"+c.GetToTier()+":"+c.GetSource().String())
	}
	if want := []string{"A>B:VALUE_TIER_SOURCE_ANALYTICS", "C>A:VALUE_TIER_SOURCE_ANALYTICS", ">C:VALUE_TIER_SOURCE_RULE"}; !slices.Equal(got, want) {
		t.Fatalf("tier changes = %q, want %q", got, want)
	}

	// A tier set by hand is kept unless the suggestion opts in.
	manual := e.create(t, ctx, person("Manual", "FR")).GetCustomerId()
	if _, err := e.classes.SetValueTier(ctx, &customerv1.SetValueTierRequest{CustomerId: manual, Tier: "VIP", Reason: "board member"}); err != nil {
		t.Fatalf("SetValueTier by hand: %v", err)
	}
	if _, err := suggest(ctx, manual, "C", "run1-manual", false); status.Code(err) != codes.FailedPrecondition || grpctest.Reason(err) != "MANUAL_TIER_KEPT" {
		t.Fatalf("suggestion over a manual tier = %v, want FailedPrecondition MANUAL_TIER_KEPT", err)
	}
	if c := classification(manual); c.GetValueTier() != "VIP" || c.GetValueTierSource() != customerv1.ValueTierSource_VALUE_TIER_SOURCE_MANUAL {
		t.Fatalf("manual tier after a refused suggestion = %q %v, want VIP MANUAL", c.GetValueTier(), c.GetValueTierSource())
	}
	if resp, err := suggest(ctx, manual, "C", "run2-manual", true); err != nil || resp.GetClassification().GetValueTier() != "C" {
		t.Fatalf("suggestion with override_manual = %v, %v; want C", resp.GetClassification().GetValueTier(), err)
	}

	// An analyst (what the analytics service follows a tenant as) may
	// suggest, but not set a tier by hand.
	analyst := e.as(t.Context(), e.token(t, auth.RoleAnalyst))
	if _, err := suggest(analyst, manual, "B", "run3-manual", false); err != nil {
		t.Fatalf("suggestion by an analyst: %v", err)
	}
	if _, err := e.classes.SetValueTier(analyst, &customerv1.SetValueTierRequest{CustomerId: manual, Tier: "A"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("manual tier by an analyst = %v, want PermissionDenied", err)
	}

	// Concurrent deliveries of one request make one change.
	racy := e.create(t, ctx, person("Racy", "FR")).GetCustomerId()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := suggest(ctx, racy, "A", "run1-racy", false); err != nil {
				t.Errorf("concurrent suggestion: %v", err)
			}
		})
	}
	wg.Wait()
	if changes, err := e.classes.ListValueTierChanges(ctx, &customerv1.ListValueTierChangesRequest{CustomerId: racy}); err != nil || len(changes.GetChanges()) != 1 {
		t.Fatalf("changes after concurrent deliveries = %d, %v; want 1", len(changes.GetChanges()), err)
	}

	bad := []struct {
		name string
		ctx  context.Context
		req  *customerv1.SetValueTierRequest
		code codes.Code
		want string
	}{
		{"suggestion without tier", ctx, &customerv1.SetValueTierRequest{CustomerId: racy, Source: analyticsSource}, codes.InvalidArgument, "tier"},
		{"rule source", ctx, &customerv1.SetValueTierRequest{CustomerId: racy, Tier: "A", Source: customerv1.ValueTierSource_VALUE_TIER_SOURCE_RULE}, codes.InvalidArgument, "source"},
		{"override by hand", ctx, &customerv1.SetValueTierRequest{CustomerId: racy, Tier: "A", OverrideManual: true}, codes.InvalidArgument, "override_manual"},
		{"long request id", ctx, &customerv1.SetValueTierRequest{CustomerId: racy, Tier: "A", Source: analyticsSource, RequestId: string(make([]byte, 65))}, codes.InvalidArgument, "request_id"},
		{"sales rep", e.as(t.Context(), e.token(t, auth.RoleSalesRep)), &customerv1.SetValueTierRequest{CustomerId: racy, Tier: "A", Source: analyticsSource}, codes.PermissionDenied, ""},
		{"other tenant", e.as(t.Context(), e.otherKey), &customerv1.SetValueTierRequest{CustomerId: racy, Tier: "A", Source: analyticsSource}, codes.NotFound, ""},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.classes.SetValueTier(tt.ctx, tt.req)
			if status.Code(err) != tt.code || (tt.want != "" && !grpctest.Violations(err)[tt.want]) {
				t.Fatalf("SetValueTier = %v, want %v on %q", err, tt.code, tt.want)
			}
		})
	}
}
