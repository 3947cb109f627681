package consumer

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	eventsv1 "github.com/rapportcrm/rapport/gen/go/rapport/events/v1"
	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

// Event types the insight read model folds in, beyond every "customer.*"
// event whose payload is the customer itself.
const (
	typeTierChanged        = "customer.value_tier.changed"
	typeSegmentEntered     = "customer.segment.entered"
	typeSegmentLeft        = "customer.segment.left"
	typeInteractionPrefix  = "customer.interaction."
	typeInteractionDeleted = "customer.interaction.deleted"
	typeFollowUpPrefix     = "customer.follow_up."
	typeMemberEnrolled     = "customer.loyalty.member_enrolled"
	typePointsPosted       = "customer.loyalty.points_posted"
	typePointsExpired      = "customer.loyalty.points_expired"
	typeLoyaltyTierChanged = "customer.loyalty.tier_changed"
	typeErased             = "customer.erased"
	typeOrderCreated       = "order.created"
	typeOrderCancelled     = "order.cancelled"
)

// projectFacts decodes the customer-service and order events insight uses
// into e.Fact. A payload of another message than its type promises is an
// error: the event is quarantined. It leaves events it does not know alone.
func projectFacts(e *analytics.Event, payload *anypb.Any) error {
	switch {
	case strings.HasPrefix(e.Type, "customer.") && payload.MessageIs(&customerv1.Customer{}):
		var m customerv1.Customer
		if err := payload.UnmarshalTo(&m); err != nil {
			return err
		}
		p, err := profile(&m)
		if err != nil {
			return err
		}
		e.Fact = &analytics.Fact{Profile: p}
	case e.Type == typeTierChanged:
		var m customerv1.ValueTierChange
		if err := unmarshal(payload, &m); err != nil {
			return err
		}
		id, err := resourceCustomer(e.Resource)
		if err != nil {
			return err
		}
		e.Fact = &analytics.Fact{Tier: &analytics.TierChange{CustomerID: id, Tier: m.GetToTier()}}
	case e.Type == typeSegmentEntered || e.Type == typeSegmentLeft:
		var m customerv1.SegmentMembership
		if err := unmarshal(payload, &m); err != nil {
			return err
		}
		customer, seg, err := twoIDs("customer_id", m.GetCustomerId(), "segment_id", m.GetSegmentId())
		if err != nil {
			return err
		}
		e.Fact = &analytics.Fact{Segment: &analytics.SegmentMove{CustomerID: customer, SegmentID: seg,
			EnterTime: m.GetEnterTime().AsTime(), Left: e.Type == typeSegmentLeft}}
	case strings.HasPrefix(e.Type, typeInteractionPrefix):
		var m customerv1.Interaction
		if err := unmarshal(payload, &m); err != nil {
			return err
		}
		id, customer, err := twoIDs("interaction_id", m.GetInteractionId(), "customer_id", m.GetCustomerId())
		if err != nil {
			return err
		}
		if err := m.GetOccurTime().CheckValid(); err != nil {
			return fmt.Errorf("occur_time: %w", err)
		}
		e.Fact = &analytics.Fact{Interaction: &analytics.Interaction{ID: id, CustomerID: customer, Kind: int32(m.GetKind()),
			Direction: int32(m.GetDirection()), Channel: m.GetChannel(), OccurTime: m.GetOccurTime().AsTime(),
			Deleted: e.Type == typeInteractionDeleted || m.GetDeleteTime() != nil}}
	case strings.HasPrefix(e.Type, typeFollowUpPrefix):
		var m customerv1.FollowUp
		if err := unmarshal(payload, &m); err != nil {
			return err
		}
		id, customer, err := twoIDs("follow_up_id", m.GetFollowUpId(), "customer_id", m.GetCustomerId())
		if err != nil {
			return err
		}
		f := &analytics.FollowUp{ID: id, CustomerID: customer, Status: analytics.FollowUpStatus(m.GetStatus())}
		if m.GetDueTime() != nil {
			f.DueTime = m.GetDueTime().AsTime()
		}
		e.Fact = &analytics.Fact{FollowUp: f}
	case e.Type == typeMemberEnrolled:
		var m customerv1.LoyaltyMembership
		if err := unmarshal(payload, &m); err != nil {
			return err
		}
		customer, program, err := twoIDs("customer_id", m.GetCustomerId(), "program_id", m.GetProgramId())
		if err != nil {
			return err
		}
		balance, tier := m.GetBalance(), m.GetTierId()
		e.Fact = &analytics.Fact{Loyalty: &analytics.Loyalty{CustomerID: customer, ProgramID: program, Balance: &balance, TierID: &tier}}
	case e.Type == typePointsPosted || e.Type == typePointsExpired:
		var m customerv1.PointsTransaction
		if err := unmarshal(payload, &m); err != nil {
			return err
		}
		customer, program, err := twoIDs("customer_id", m.GetCustomerId(), "program_id", m.GetProgramId())
		if err != nil {
			return err
		}
		balance := m.GetBalanceAfter()
		e.Fact = &analytics.Fact{Loyalty: &analytics.Loyalty{CustomerID: customer, ProgramID: program, Balance: &balance}}
	case e.Type == typeLoyaltyTierChanged:
		var m customerv1.LoyaltyTierChange
		if err := unmarshal(payload, &m); err != nil {
			return err
		}
		customer, program, err := loyaltyResource(e.Resource)
		if err != nil {
			return err
		}
		tier := m.GetToTierId()
		e.Fact = &analytics.Fact{Loyalty: &analytics.Loyalty{CustomerID: customer, ProgramID: program, TierID: &tier}}
	case e.Type == typeOrderCreated || e.Type == typeOrderCancelled:
		var m pipelinev1.Order
		if err := unmarshal(payload, &m); err != nil {
			return err
		}
		o, err := order(&m)
		if err != nil {
			return err
		}
		e.Fact = &analytics.Fact{Order: o}
	}
	return nil
}

// unmarshal decodes payload into m, or says which message it held instead.
func unmarshal(payload *anypb.Any, m proto.Message) error {
	if !payload.MessageIs(m) {
		return fmt.Errorf("payload is %q, want %s", payload.GetTypeUrl(), m.ProtoReflect().Descriptor().FullName())
	}
	return payload.UnmarshalTo(m)
}

func twoIDs(nameA, a, nameB, b string) (uuid.UUID, uuid.UUID, error) {
	x, err := uuid.Parse(a)
	if err != nil {
		return uuid.Nil, uuid.Nil, fmt.Errorf("%s: %w", nameA, err)
	}
	y, err := uuid.Parse(b)
	if err != nil {
		return uuid.Nil, uuid.Nil, fmt.Errorf("%s: %w", nameB, err)
	}
	return x, y, nil
}

// resourceCustomer reads the customer id of a "customers/{id}/…" resource name.
func resourceCustomer(resource string) (uuid.UUID, error) {
	parts := strings.Split(resource, "/")
	if len(parts) < 2 || parts[0] != "customers" {
		return uuid.Nil, errors.New("resource does not name a customer")
	}
	id, err := uuid.Parse(parts[1])
	if err != nil {
		return uuid.Nil, fmt.Errorf("resource customer id: %w", err)
	}
	return id, nil
}

// loyaltyResource reads "customers/{id}/loyaltyMemberships/{program}/…".
func loyaltyResource(resource string) (customer, program uuid.UUID, err error) {
	parts := strings.Split(resource, "/")
	if len(parts) < 4 || parts[0] != "customers" || parts[2] != "loyaltyMemberships" {
		return uuid.Nil, uuid.Nil, errors.New("resource does not name a loyalty membership")
	}
	return twoIDs("resource customer id", parts[1], "resource program id", parts[3])
}

func profile(m *customerv1.Customer) (*analytics.CustomerProfile, error) {
	id, err := uuid.Parse(m.GetCustomerId())
	if err != nil {
		return nil, fmt.Errorf("customer_id: %w", err)
	}
	p := &analytics.CustomerProfile{ID: id, Kind: int32(m.GetKind()), Stage: analytics.LifecycleStage(m.GetLifecycleStage()),
		CountryCode: m.GetCountryCode(), Deleted: m.GetDeleteTime() != nil}
	if m.GetCreateTime() != nil {
		p.CreateTime = m.GetCreateTime().AsTime()
	}
	attrs := m.GetCustomAttributes()
	if v, ok := attrs["contract"].GetKind().(*structpb.Value_StringValue); ok {
		p.Contract = &v.StringValue
	}
	p.TenureMonths = number(attrs["tenure_months"])
	p.MonthlyCharges = number(attrs["monthly_charges"])
	return p, nil
}

// number reads a numeric custom attribute; nil when absent or not a number.
func number(v *structpb.Value) *float64 {
	if n, ok := v.GetKind().(*structpb.Value_NumberValue); ok {
		return &n.NumberValue
	}
	return nil
}

func order(m *pipelinev1.Order) (*analytics.Order, error) {
	id, err := uuid.Parse(m.GetOrderId())
	if err != nil {
		return nil, fmt.Errorf("order_id: %w", err)
	}
	o := &analytics.Order{ID: id, Number: m.GetOrderNumber(), Kind: analytics.OrderKind(m.GetKind()), Status: analytics.OrderStatus(m.GetStatus())}
	if m.GetCustomerId() != "" {
		if o.CustomerID, err = uuid.Parse(m.GetCustomerId()); err != nil {
			return nil, fmt.Errorf("customer_id: %w", err)
		}
	}
	total := m.GetReportingTotal()
	if total == nil {
		total = m.GetTotal()
	}
	if total == nil || total.GetCurrencyCode() == "" {
		return nil, errors.New("no total")
	}
	o.Value = analytics.Money{CurrencyCode: total.GetCurrencyCode(), AmountMinor: total.GetAmountMinor()}
	if err := m.GetOrderTime().CheckValid(); err != nil {
		return nil, fmt.Errorf("order_time: %w", err)
	}
	o.OrderTime = m.GetOrderTime().AsTime()
	for i, l := range m.GetLines() {
		p, err := uuid.Parse(l.GetProductId())
		if err != nil {
			return nil, fmt.Errorf("lines[%d].product_id: %w", i, err)
		}
		o.Products = append(o.Products, analytics.OrderLine{ProductID: p, Quantity: l.GetQuantity()})
	}
	return o, nil
}

// quarantineNamespace derives ids for quarantined events that carried none.
var quarantineNamespace = uuid.MustParse("6f1c7a52-3c1e-4d59-9a57-0a4f2c2b9e10")

// malformed describes an event whose envelope cannot be applied, under the
// consumer's tenant. Its id is the event's own when readable, otherwise one
// derived from the source, cursor and payload, so a replay of the same bad
// event is recognised.
func malformed(tenant uuid.UUID, source string, pe *eventsv1.Event, reason error) analytics.QuarantinedEvent {
	id, err := uuid.Parse(pe.GetEventId())
	if err != nil {
		id = uuid.NewSHA1(quarantineNamespace, append([]byte(source+"\x00"+pe.GetCursor()+"\x00"+pe.GetType()+"\x00"), pe.GetPayload().GetValue()...))
	}
	return analytics.QuarantinedEvent{EventID: id, TenantID: tenant, Source: source, Cursor: pe.GetCursor(), Type: pe.GetType(),
		Reason: "malformed envelope: " + reason.Error(), PayloadType: pe.GetPayload().GetTypeUrl(), Payload: pe.GetPayload().GetValue()}
}
