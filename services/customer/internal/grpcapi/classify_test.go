package grpcapi_test

import (
	"context"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
)

// create makes a customer from c and returns it.
func (e *env) create(t *testing.T, ctx context.Context, c *customerv1.Customer) *customerv1.Customer {
	t.Helper()
	resp, err := e.customers.CreateCustomer(ctx, &customerv1.CreateCustomerRequest{Customer: c})
	if err != nil {
		t.Fatalf("CreateCustomer: %v", err)
	}
	return resp.GetCustomer()
}

// eventTypes lists the types of the events about resources starting with
// prefix, oldest first.
func (e *env) eventTypes(t *testing.T, prefix string) []string {
	t.Helper()
	rows, err := e.db.Owner.Query(t.Context(), `SELECT type FROM outbox WHERE resource LIKE $1 || '%' ORDER BY txid, seq`, prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var typ string
		if err := rows.Scan(&typ); err != nil {
			t.Fatal(err)
		}
		out = append(out, typ)
	}
	return out
}

func person(name, country string, tags ...string) *customerv1.Customer {
	return &customerv1.Customer{Kind: customerv1.CustomerKind_CUSTOMER_KIND_PERSON, DisplayName: name, CountryCode: country, Tags: tags}
}

func TestLifecycleTransitions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	c := person("Grace Hopper", "US")
	c.LifecycleStage = customerv1.LifecycleStage_LIFECYCLE_STAGE_LEAD
	c = e.create(t, ctx, c)
	id := c.GetCustomerId()

	moved, err := e.classes.TransitionLifecycleStage(ctx, &customerv1.TransitionLifecycleStageRequest{
		CustomerId: id, LifecycleStage: customerv1.LifecycleStage_LIFECYCLE_STAGE_PROSPECT, Reason: "asked for a quote", Etag: c.GetEtag()})
	if err != nil {
		t.Fatalf("TransitionLifecycleStage: %v", err)
	}
	if got := moved.GetCustomer().GetLifecycleStage(); got != customerv1.LifecycleStage_LIFECYCLE_STAGE_PROSPECT {
		t.Fatalf("stage = %v, want PROSPECT", got)
	}
	// A change through UpdateCustomer is logged too, without a reason.
	if _, err := e.customers.UpdateCustomer(ctx, &customerv1.UpdateCustomerRequest{
		Customer:   &customerv1.Customer{CustomerId: id, LifecycleStage: customerv1.LifecycleStage_LIFECYCLE_STAGE_CUSTOMER},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"lifecycle_stage"}}}); err != nil {
		t.Fatalf("UpdateCustomer: %v", err)
	}

	bad := []struct {
		name string
		ctx  context.Context
		req  *customerv1.TransitionLifecycleStageRequest
		want codes.Code
	}{
		{"won back without churn", ctx, &customerv1.TransitionLifecycleStageRequest{CustomerId: id, LifecycleStage: customerv1.LifecycleStage_LIFECYCLE_STAGE_WON_BACK}, codes.FailedPrecondition},
		{"same stage", ctx, &customerv1.TransitionLifecycleStageRequest{CustomerId: id, LifecycleStage: customerv1.LifecycleStage_LIFECYCLE_STAGE_CUSTOMER}, codes.FailedPrecondition},
		{"unspecified", ctx, &customerv1.TransitionLifecycleStageRequest{CustomerId: id}, codes.InvalidArgument},
		{"unknown stage", ctx, &customerv1.TransitionLifecycleStageRequest{CustomerId: id, LifecycleStage: 99}, codes.InvalidArgument},
		{"stale etag", ctx, &customerv1.TransitionLifecycleStageRequest{CustomerId: id, LifecycleStage: customerv1.LifecycleStage_LIFECYCLE_STAGE_AT_RISK, Etag: c.GetEtag()}, codes.Aborted},
		{"bad id", ctx, &customerv1.TransitionLifecycleStageRequest{CustomerId: "x", LifecycleStage: customerv1.LifecycleStage_LIFECYCLE_STAGE_AT_RISK}, codes.InvalidArgument},
		{"other tenant", e.as(t.Context(), e.otherKey), &customerv1.TransitionLifecycleStageRequest{CustomerId: id, LifecycleStage: customerv1.LifecycleStage_LIFECYCLE_STAGE_AT_RISK}, codes.NotFound},
		{"analyst", e.as(t.Context(), e.token(t, auth.RoleAnalyst)), &customerv1.TransitionLifecycleStageRequest{CustomerId: id, LifecycleStage: customerv1.LifecycleStage_LIFECYCLE_STAGE_AT_RISK}, codes.PermissionDenied},
	}
	for _, tt := range bad {
		if _, err := e.classes.TransitionLifecycleStage(tt.ctx, tt.req); status.Code(err) != tt.want {
			t.Errorf("%s: TransitionLifecycleStage = %v, want %v", tt.name, err, tt.want)
		}
	}
	for _, stage := range []customerv1.LifecycleStage{customerv1.LifecycleStage_LIFECYCLE_STAGE_CHURNED, customerv1.LifecycleStage_LIFECYCLE_STAGE_WON_BACK} {
		if _, err := e.classes.TransitionLifecycleStage(ctx, &customerv1.TransitionLifecycleStageRequest{CustomerId: id, LifecycleStage: stage}); err != nil {
			t.Fatalf("TransitionLifecycleStage(%v): %v", stage, err)
		}
	}

	var got []string
	token := ""
	for {
		page, err := e.classes.ListLifecycleTransitions(ctx, &customerv1.ListLifecycleTransitionsRequest{CustomerId: id, PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatalf("ListLifecycleTransitions: %v", err)
		}
		for _, tr := range page.GetTransitions() {
			got = append(got, tr.GetFromStage().String()+">"+tr.GetToStage().String()+":"+tr.GetReason())
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	want := []string{
		"LIFECYCLE_STAGE_CHURNED>LIFECYCLE_STAGE_WON_BACK:",
		"LIFECYCLE_STAGE_CUSTOMER>LIFECYCLE_STAGE_CHURNED:",
		"LIFECYCLE_STAGE_PROSPECT>LIFECYCLE_STAGE_CUSTOMER:",
		"LIFECYCLE_STAGE_LEAD>LIFECYCLE_STAGE_PROSPECT:asked for a quote",
		"LIFECYCLE_STAGE_UNSPECIFIED>LIFECYCLE_STAGE_LEAD:",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("transitions = %q, want %q", got, want)
	}
	if _, err := e.classes.ListLifecycleTransitions(e.as(t.Context(), e.otherKey), &customerv1.ListLifecycleTransitionsRequest{CustomerId: id}); status.Code(err) != codes.NotFound {
		t.Fatalf("ListLifecycleTransitions from another tenant = %v, want NotFound", err)
	}
	if types := e.eventTypes(t, "customers/"+id); !slices.Contains(types, "customer.lifecycle_stage.changed") {
		t.Fatalf("events %v lack customer.lifecycle_stage.changed", types)
	}
}

func TestSegmentsFollowTheData(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	gb1 := e.create(t, ctx, person("Ada", "GB"))
	e.create(t, ctx, person("Bob", "GB"))
	e.create(t, ctx, person("Chloé", "FR"))

	created, err := e.classes.CreateSegment(ctx, &customerv1.CreateSegmentRequest{RequestId: "uk-1",
		Segment: &customerv1.Segment{DisplayName: "UK", Filter: `country_code = "GB"`}})
	if err != nil {
		t.Fatalf("CreateSegment: %v", err)
	}
	seg := created.GetSegment()
	if seg.GetMemberCount() != 2 {
		t.Fatalf("member_count = %d, want 2", seg.GetMemberCount())
	}
	again, err := e.classes.CreateSegment(ctx, &customerv1.CreateSegmentRequest{RequestId: "uk-1",
		Segment: &customerv1.Segment{DisplayName: "UK", Filter: `country_code = "GB"`}})
	if err != nil || again.GetSegment().GetSegmentId() != seg.GetSegmentId() {
		t.Fatalf("repeated CreateSegment = %v, %v; want the first segment", again, err)
	}

	// A new GB customer enters; a move to FR leaves; a deletion leaves.
	gb3 := e.create(t, ctx, person("Dan", "GB"))
	count := func() int64 {
		t.Helper()
		g, err := e.classes.GetSegment(ctx, &customerv1.GetSegmentRequest{SegmentId: seg.GetSegmentId()})
		if err != nil {
			t.Fatalf("GetSegment: %v", err)
		}
		return g.GetSegment().GetMemberCount()
	}
	if n := count(); n != 3 {
		t.Fatalf("after a GB create, member_count = %d, want 3", n)
	}
	cl, err := e.classes.GetCustomerClassification(ctx, &customerv1.GetCustomerClassificationRequest{CustomerId: gb3.GetCustomerId()})
	if err != nil {
		t.Fatalf("GetCustomerClassification: %v", err)
	}
	if len(cl.GetClassification().GetSegments()) != 1 || cl.GetClassification().GetSegments()[0].GetSegmentId() != seg.GetSegmentId() {
		t.Fatalf("classification segments = %v, want [%s]", cl.GetClassification().GetSegments(), seg.GetSegmentId())
	}
	if _, err := e.customers.UpdateCustomer(ctx, &customerv1.UpdateCustomerRequest{
		Customer:   &customerv1.Customer{CustomerId: gb3.GetCustomerId(), CountryCode: "FR"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"country_code"}}}); err != nil {
		t.Fatalf("UpdateCustomer: %v", err)
	}
	if _, err := e.customers.DeleteCustomer(ctx, &customerv1.DeleteCustomerRequest{CustomerId: gb1.GetCustomerId()}); err != nil {
		t.Fatalf("DeleteCustomer: %v", err)
	}
	if n := count(); n != 1 {
		t.Fatalf("after a move and a delete, member_count = %d, want 1", n)
	}
	want := []string{"customer.segment.entered", "customer.segment.left"}
	if got := e.eventTypes(t, "customers/"+gb3.GetCustomerId()+"/segmentMemberships/"+seg.GetSegmentId()); !slices.Equal(got, want) {
		t.Fatalf("membership events of the moved customer = %v, want %v", got, want)
	}

	// Widening the filter recomputes the members.
	upd, err := e.classes.UpdateSegment(ctx, &customerv1.UpdateSegmentRequest{
		Segment:    &customerv1.Segment{SegmentId: seg.GetSegmentId(), Filter: `country_code = "GB" OR country_code = "FR"`, Etag: seg.GetEtag()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"filter"}}})
	if err != nil {
		t.Fatalf("UpdateSegment: %v", err)
	}
	if n := upd.GetSegment().GetMemberCount(); n != 3 {
		t.Fatalf("after widening, member_count = %d, want 3", n)
	}
	var members []string
	token := ""
	for {
		page, err := e.classes.ListSegmentMembers(ctx, &customerv1.ListSegmentMembersRequest{SegmentId: seg.GetSegmentId(), PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatalf("ListSegmentMembers: %v", err)
		}
		for _, m := range page.GetMembers() {
			members = append(members, m.GetCustomerId())
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(members) != 3 || slices.Contains(members, gb1.GetCustomerId()) {
		t.Fatalf("members = %v, want the three live GB/FR customers", members)
	}

	bad := []struct {
		name  string
		ctx   context.Context
		call  func(context.Context) error
		want  codes.Code
		field string
	}{
		{"bad filter", ctx, func(ctx context.Context) error {
			_, err := e.classes.CreateSegment(ctx, &customerv1.CreateSegmentRequest{Segment: &customerv1.Segment{DisplayName: "X", Filter: `nope = 1`}})
			return err
		}, codes.InvalidArgument, "segment.filter"},
		{"no name", ctx, func(ctx context.Context) error {
			_, err := e.classes.CreateSegment(ctx, &customerv1.CreateSegmentRequest{Segment: &customerv1.Segment{Filter: `country_code = "GB"`}})
			return err
		}, codes.InvalidArgument, "segment.display_name"},
		{"name taken", ctx, func(ctx context.Context) error {
			_, err := e.classes.CreateSegment(ctx, &customerv1.CreateSegmentRequest{Segment: &customerv1.Segment{DisplayName: "UK", Filter: `country_code = "GB"`}})
			return err
		}, codes.AlreadyExists, ""},
		{"stale etag", ctx, func(ctx context.Context) error {
			_, err := e.classes.UpdateSegment(ctx, &customerv1.UpdateSegmentRequest{Segment: &customerv1.Segment{SegmentId: seg.GetSegmentId(), DisplayName: "Y", Etag: seg.GetEtag()},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}})
			return err
		}, codes.Aborted, ""},
		{"bad mask", ctx, func(ctx context.Context) error {
			_, err := e.classes.UpdateSegment(ctx, &customerv1.UpdateSegmentRequest{Segment: &customerv1.Segment{SegmentId: seg.GetSegmentId()},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"member_count"}}})
			return err
		}, codes.InvalidArgument, "update_mask"},
		{"sales rep designs", e.as(t.Context(), e.token(t, auth.RoleSalesRep)), func(ctx context.Context) error {
			_, err := e.classes.CreateSegment(ctx, &customerv1.CreateSegmentRequest{Segment: &customerv1.Segment{DisplayName: "Z", Filter: `country_code = "GB"`}})
			return err
		}, codes.PermissionDenied, ""},
		{"other tenant", e.as(t.Context(), e.otherKey), func(ctx context.Context) error {
			_, err := e.classes.GetSegment(ctx, &customerv1.GetSegmentRequest{SegmentId: seg.GetSegmentId()})
			return err
		}, codes.NotFound, ""},
	}
	for _, tt := range bad {
		err := tt.call(tt.ctx)
		if status.Code(err) != tt.want || (tt.field != "" && !grpctest.Violations(err)[tt.field]) {
			t.Errorf("%s: got %v, want %v on %q", tt.name, err, tt.want, tt.field)
		}
	}

	if _, err := e.classes.DeleteSegment(ctx, &customerv1.DeleteSegmentRequest{SegmentId: seg.GetSegmentId()}); err != nil {
		t.Fatalf("DeleteSegment: %v", err)
	}
	if _, err := e.classes.GetSegment(ctx, &customerv1.GetSegmentRequest{SegmentId: seg.GetSegmentId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetSegment after delete = %v, want NotFound", err)
	}
	// The name is free again, and later writes no longer touch the deleted segment.
	if _, err := e.classes.CreateSegment(ctx, &customerv1.CreateSegmentRequest{Segment: &customerv1.Segment{DisplayName: "UK", Filter: `country_code = "GB"`}}); err != nil {
		t.Fatalf("CreateSegment reusing the name: %v", err)
	}
}

func TestValueTiers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	before := e.create(t, ctx, person("Early", "GB"))

	vip, err := e.classes.CreateValueTierRule(ctx, &customerv1.CreateValueTierRuleRequest{Rule: &customerv1.ValueTierRule{Tier: "VIP", Rank: 0, Filter: `tags:"vip"`}})
	if err != nil {
		t.Fatalf("CreateValueTierRule: %v", err)
	}
	if _, err := e.classes.CreateValueTierRule(ctx, &customerv1.CreateValueTierRuleRequest{Rule: &customerv1.ValueTierRule{Tier: "A", Rank: 10, Filter: `country_code = "GB"`}}); err != nil {
		t.Fatalf("CreateValueTierRule: %v", err)
	}
	tier := func(id string) *customerv1.CustomerClassification {
		t.Helper()
		r, err := e.classes.GetCustomerClassification(ctx, &customerv1.GetCustomerClassificationRequest{CustomerId: id})
		if err != nil {
			t.Fatalf("GetCustomerClassification: %v", err)
		}
		return r.GetClassification()
	}
	// Rules apply as customers are written; the first by rank wins.
	both := e.create(t, ctx, person("Vip Brit", "GB", "vip"))
	brit := e.create(t, ctx, person("Brit", "GB"))
	none := e.create(t, ctx, person("Nobody", "FR"))
	for _, tt := range []struct {
		id, want string
	}{{both.GetCustomerId(), "VIP"}, {brit.GetCustomerId(), "A"}, {none.GetCustomerId(), ""}, {before.GetCustomerId(), ""}} {
		if got := tier(tt.id).GetValueTier(); got != tt.want {
			t.Errorf("tier of %s = %q, want %q", tt.id, got, tt.want)
		}
	}
	if got := tier(both.GetCustomerId()).GetValueTierRuleId(); got != vip.GetRule().GetRuleId() {
		t.Errorf("rule of the VIP = %q, want %q", got, vip.GetRule().GetRuleId())
	}
	// Customers written before the rules are tiered by ApplyValueTierRules.
	applied, err := e.classes.ApplyValueTierRules(ctx, &customerv1.ApplyValueTierRulesRequest{})
	if err != nil {
		t.Fatalf("ApplyValueTierRules: %v", err)
	}
	if applied.GetChanged() != 1 || tier(before.GetCustomerId()).GetValueTier() != "A" {
		t.Fatalf("ApplyValueTierRules changed %d, tier %q; want 1 and A", applied.GetChanged(), tier(before.GetCustomerId()).GetValueTier())
	}

	// A manual tier overrides the rules until cleared.
	if _, err := e.classes.SetValueTier(ctx, &customerv1.SetValueTierRequest{CustomerId: brit.GetCustomerId(), Tier: "B", Reason: "late payer"}); err != nil {
		t.Fatalf("SetValueTier: %v", err)
	}
	if _, err := e.customers.UpdateCustomer(ctx, &customerv1.UpdateCustomerRequest{
		Customer: &customerv1.Customer{CustomerId: brit.GetCustomerId(), Industry: "Retail"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"industry"}}}); err != nil {
		t.Fatalf("UpdateCustomer: %v", err)
	}
	if c := tier(brit.GetCustomerId()); c.GetValueTier() != "B" || !c.GetValueTierManual() {
		t.Fatalf("after an update, tier = %q manual %v; want B, manual", c.GetValueTier(), c.GetValueTierManual())
	}
	if _, err := e.classes.SetValueTier(ctx, &customerv1.SetValueTierRequest{CustomerId: brit.GetCustomerId()}); err != nil {
		t.Fatalf("SetValueTier clearing: %v", err)
	}
	if c := tier(brit.GetCustomerId()); c.GetValueTier() != "A" || c.GetValueTierManual() {
		t.Fatalf("after clearing, tier = %q manual %v; want A from the rules", c.GetValueTier(), c.GetValueTierManual())
	}
	changes, err := e.classes.ListValueTierChanges(ctx, &customerv1.ListValueTierChangesRequest{CustomerId: brit.GetCustomerId()})
	if err != nil {
		t.Fatalf("ListValueTierChanges: %v", err)
	}
	var got []string
	for _, c := range changes.GetChanges() {
		got = append(got, c.GetFromTier()+">"+c.GetToTier()+":"+c.GetReason())
	}
	if want := []string{">A:", "B>:", "A>B:late payer", ">A:"}; !slices.Equal(got, want) {
		t.Fatalf("tier changes = %q, want %q", got, want)
	}

	if _, err := e.classes.CreateValueTierRule(ctx, &customerv1.CreateValueTierRuleRequest{Rule: &customerv1.ValueTierRule{Tier: "", Rank: -1, Filter: "bogus ="}}); status.Code(err) != codes.InvalidArgument ||
		!grpctest.Violations(err)["rule.tier"] || !grpctest.Violations(err)["rule.rank"] {
		t.Fatalf("CreateValueTierRule(bad) = %v, want InvalidArgument on rule.tier and rule.rank", err)
	}
	if _, err := e.classes.CreateValueTierRule(ctx, &customerv1.CreateValueTierRuleRequest{Rule: &customerv1.ValueTierRule{Tier: "X", Filter: "bogus = 1"}}); status.Code(err) != codes.InvalidArgument ||
		!grpctest.Violations(err)["rule.filter"] {
		t.Fatalf("CreateValueTierRule(bad filter) = %v, want InvalidArgument on rule.filter", err)
	}
	if _, err := e.classes.SetValueTier(e.as(t.Context(), e.token(t, auth.RoleSalesRep)), &customerv1.SetValueTierRequest{CustomerId: brit.GetCustomerId(), Tier: "VIP"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("SetValueTier by a sales rep = %v, want PermissionDenied", err)
	}
	rules, err := e.classes.ListValueTierRules(e.as(t.Context(), e.otherKey), &customerv1.ListValueTierRulesRequest{})
	if err != nil || len(rules.GetRules()) != 0 {
		t.Fatalf("another tenant's ListValueTierRules = %v, %v; want none", rules, err)
	}
}
