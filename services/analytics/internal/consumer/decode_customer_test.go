package consumer

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

func TestProjectFacts(t *testing.T) {
	t.Parallel()
	c, s, p, o, prod := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
	at := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	contract, tenure, monthly := "Month-to-month", 2.0, 70.7
	telco := map[string]*structpb.Value{"contract": structpb.NewStringValue(contract), "tenure_months": structpb.NewNumberValue(tenure),
		"monthly_charges": structpb.NewNumberValue(monthly), "churned": structpb.NewBoolValue(true)}
	balance, tier := int64(40), "gold"
	tests := []struct {
		name     string
		typ      string
		resource string
		payload  proto.Message
		want     *analytics.Fact
		wantErr  bool
	}{
		{name: "telco subscriber", typ: "customer.created",
			payload: &customerv1.Customer{CustomerId: c.String(), Kind: customerv1.CustomerKind_CUSTOMER_KIND_PERSON,
				LifecycleStage: customerv1.LifecycleStage_LIFECYCLE_STAGE_CUSTOMER, CreateTime: timestamppb.New(at), CustomAttributes: telco},
			want: &analytics.Fact{Profile: &analytics.CustomerProfile{ID: c, Kind: 1, Stage: analytics.LifecycleCustomer,
				Contract: &contract, TenureMonths: &tenure, MonthlyCharges: &monthly, CreateTime: at}}},
		{name: "value tier from the resource name", typ: "customer.value_tier.changed", resource: "customers/" + c.String() + "/valueTierChanges/x",
			payload: &customerv1.ValueTierChange{ToTier: "A"}, want: &analytics.Fact{Tier: &analytics.TierChange{CustomerID: c, Tier: "A"}}},
		{name: "segment left", typ: "customer.segment.left",
			payload: &customerv1.SegmentMembership{SegmentId: s.String(), CustomerId: c.String(), EnterTime: timestamppb.New(at)},
			want:    &analytics.Fact{Segment: &analytics.SegmentMove{CustomerID: c, SegmentID: s, EnterTime: at, Left: true}}},
		{name: "loyalty tier from the resource name", typ: "customer.loyalty.tier_changed",
			resource: "customers/" + c.String() + "/loyaltyMemberships/" + p.String() + "/tierChanges/x",
			payload:  &customerv1.LoyaltyTierChange{ToTierId: tier}, want: &analytics.Fact{Loyalty: &analytics.Loyalty{CustomerID: c, ProgramID: p, TierID: &tier}}},
		{name: "points posted", typ: "customer.loyalty.points_posted",
			payload: &customerv1.PointsTransaction{CustomerId: c.String(), ProgramId: p.String(), BalanceAfter: balance},
			want:    &analytics.Fact{Loyalty: &analytics.Loyalty{CustomerID: c, ProgramID: p, Balance: &balance}}},
		{name: "order with a reporting total", typ: "order.created",
			payload: &pipelinev1.Order{OrderId: o.String(), CustomerId: c.String(), OrderNumber: "536365", Kind: pipelinev1.OrderKind_ORDER_KIND_SALE,
				Status: pipelinev1.OrderStatus_ORDER_STATUS_PLACED, Total: &typesv1.Money{CurrencyCode: "EUR", AmountMinor: 1000},
				ReportingTotal: &typesv1.Money{CurrencyCode: "GBP", AmountMinor: 860}, OrderTime: timestamppb.New(at),
				Lines: []*pipelinev1.OrderLine{{ProductId: prod.String(), Quantity: 2}}},
			want: &analytics.Fact{Order: &analytics.Order{ID: o, CustomerID: c, Number: "536365", Kind: analytics.OrderKindSale,
				Status: analytics.OrderStatusPlaced, Value: analytics.Money{CurrencyCode: "GBP", AmountMinor: 860}, OrderTime: at,
				Products: []analytics.OrderLine{{ProductID: prod, Quantity: 2}}}}},
		{name: "guest order", typ: "order.cancelled",
			payload: &pipelinev1.Order{OrderId: o.String(), Kind: pipelinev1.OrderKind_ORDER_KIND_SALE, Status: pipelinev1.OrderStatus_ORDER_STATUS_CANCELLED,
				Total: &typesv1.Money{CurrencyCode: "GBP", AmountMinor: 5}, OrderTime: timestamppb.New(at)},
			want: &analytics.Fact{Order: &analytics.Order{ID: o, Kind: analytics.OrderKindSale, Status: analytics.OrderStatusCancelled,
				Value: analytics.Money{CurrencyCode: "GBP", AmountMinor: 5}, OrderTime: at}}},
		{name: "order without a total", typ: "order.created", payload: &pipelinev1.Order{OrderId: o.String(), OrderTime: timestamppb.New(at)}, wantErr: true},
		{name: "order line without a product", typ: "order.created", payload: &pipelinev1.Order{OrderId: o.String(),
			Total: &typesv1.Money{CurrencyCode: "GBP"}, OrderTime: timestamppb.New(at), Lines: []*pipelinev1.OrderLine{{}}}, wantErr: true},
		{name: "tier change naming no customer", typ: "customer.value_tier.changed", resource: "valueTierRules", payload: &customerv1.ValueTierChange{}, wantErr: true},
		{name: "interaction carrying another message", typ: "customer.interaction.created", payload: &customerv1.FollowUp{}, wantErr: true},
		{name: "event insight does not use", typ: "customer.document.created", payload: &customerv1.FollowUp{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			payload, err := anypb.New(tt.payload)
			if err != nil {
				t.Fatal(err)
			}
			e := analytics.Event{Type: tt.typ, Resource: tt.resource}
			err = projectFacts(&e, payload)
			if (err != nil) != tt.wantErr {
				t.Fatalf("projectFacts(%s) error = %v, want error %v", tt.typ, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, e.Fact); !tt.wantErr && diff != "" {
				t.Fatalf("projectFacts(%s) (-want +got):\n%s", tt.typ, diff)
			}
		})
	}
}

// TestProjectErasure checks that the erasure event erases and is not also
// folded in as the customer's profile, and that a malformed one is refused.
func TestProjectErasure(t *testing.T) {
	t.Parallel()
	c := uuid.New()
	payload, err := anypb.New(&customerv1.Customer{CustomerId: c.String(), DisplayName: "Erased customer", DeleteTime: timestamppb.Now()})
	if err != nil {
		t.Fatal(err)
	}
	e := analytics.Event{Type: "customer.erased", Resource: "customers/" + c.String()}
	if err := project(&e, payload); err != nil {
		t.Fatalf("project(customer.erased) = %v", err)
	}
	want := analytics.Event{Type: "customer.erased", Resource: "customers/" + c.String(), Erasure: &analytics.Erasure{CustomerID: c}}
	if diff := cmp.Diff(want, e); diff != "" {
		t.Fatalf("project(customer.erased) (-want +got):\n%s", diff)
	}
	for name, m := range map[string]proto.Message{"no customer id": &customerv1.Customer{}, "another message": &customerv1.FollowUp{}} {
		payload, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := project(&analytics.Event{Type: "customer.erased"}, payload); err == nil {
			t.Errorf("project(customer.erased, %s) = nil, want an error", name)
		}
	}
}
