package analytics

import (
	"time"

	"github.com/google/uuid"
)

// Fact is one thing the customer service or an order event says about a
// customer, folded into the insight read model (customer 360, value, churn
// risk, next best offer). Exactly one field is set.
type Fact struct {
	Profile     *CustomerProfile
	Tier        *TierChange
	Segment     *SegmentMove
	Interaction *Interaction
	FollowUp    *FollowUp
	Loyalty     *Loyalty
	Order       *Order
}

// LifecycleStage is a customer's lifecycle stage; the numbers match the customer API's enum.
type LifecycleStage int32

// Lifecycle stages.
const (
	LifecycleUnspecified LifecycleStage = iota
	LifecycleLead
	LifecycleProspect
	LifecycleCustomer
	LifecycleAtRisk
	LifecycleChurned
	LifecycleWonBack
)

// CustomerProfile is the part of a customer's record insight uses. The
// contract figures are the custom attributes "contract", "tenure_months" and
// "monthly_charges" (those the Telco import gives subscribers); nil when the
// customer carries none.
type CustomerProfile struct {
	ID             uuid.UUID
	Kind           int32
	Stage          LifecycleStage
	CountryCode    string
	Contract       *string
	TenureMonths   *float64
	MonthlyCharges *float64
	CreateTime     time.Time
	Deleted        bool
}

// TierChange sets a customer's value tier.
type TierChange struct {
	CustomerID uuid.UUID
	Tier       string
}

// SegmentMove is a customer entering (or, with Left, leaving) a segment.
type SegmentMove struct {
	CustomerID, SegmentID uuid.UUID
	EnterTime             time.Time
	Left                  bool
}

// Interaction is the part of an interaction insight keeps: no subject, notes or names.
type Interaction struct {
	ID, CustomerID uuid.UUID
	Kind           int32
	Direction      int32
	Channel        string
	OccurTime      time.Time
	Deleted        bool
}

// FollowUpStatus is a follow-up's status; the numbers match the customer API's enum.
type FollowUpStatus int32

// FollowUpOpen is the status of a follow-up not yet done or cancelled.
const FollowUpOpen FollowUpStatus = 1

// FollowUp is the part of a follow-up insight keeps.
type FollowUp struct {
	ID, CustomerID uuid.UUID
	Status         FollowUpStatus
	DueTime        time.Time
}

// Loyalty is a customer's membership of a loyalty programme: a balance, a
// tier, or both may be known from one event.
type Loyalty struct {
	CustomerID, ProgramID uuid.UUID
	Balance               *int64
	TierID                *string
}

// OrderKind is an order's kind; the numbers match the pipeline API's enum.
type OrderKind int32

// Order kinds.
const (
	OrderKindUnspecified OrderKind = iota
	OrderKindSale
	OrderKindReturn
	OrderKindAdjustment
)

// OrderStatus is an order's status; the numbers match the pipeline API's enum.
type OrderStatus int32

// Order statuses.
const (
	OrderStatusUnspecified OrderStatus = iota
	OrderStatusPlaced
	OrderStatusCancelled
)

// Order is the part of an order insight keeps. Value is the reporting total
// when the order carries one, its own total otherwise: every value figure
// sums it. CustomerID is uuid.Nil for a guest order.
type Order struct {
	ID, CustomerID uuid.UUID
	Number         string
	Kind           OrderKind
	Status         OrderStatus
	Value          Money
	OrderTime      time.Time
	// Products are the products of the order's lines, in line order.
	Products []OrderLine
}

// OrderLine is one line of an order.
type OrderLine struct {
	ProductID uuid.UUID
	Quantity  int64
}

// QuarantinedEvent is an event that could not be projected: it is kept
// with the reason and reported, and its feed carries on past it.
type QuarantinedEvent struct {
	EventID, TenantID    uuid.UUID
	Source, Cursor, Type string
	Reason               string
	PayloadType          string
	Payload              []byte
	CreateTime           time.Time
}
