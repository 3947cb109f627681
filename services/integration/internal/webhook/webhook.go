// Package webhook holds the rules of webhook subscriptions and their
// deliveries: what a subscription may target, how a delivery is signed,
// and what happens after each attempt.
package webhook

import (
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/sqlfilter"
)

// Events the integration service records of its own changes.
const (
	EventCreated        = "webhook.created"
	EventUpdated        = "webhook.updated"
	EventDeleted        = "webhook.deleted"
	EventDisabled       = "webhook.disabled"
	EventDeadLettered   = "webhook.delivery.dead_lettered"
	EventRedelivered    = "webhook.delivery.redelivered"
	EventRangeRequeued  = "webhook.deliveries.redelivered"
	EventPolicyUpdated  = "webhook_policy.updated"
	EventCustomerErased = "webhook.customer_data.erased"
	// CustomerErasedType is the customer service's event of an erasure:
	// taking it in erases what the service copied of that customer.
	CustomerErasedType  = "customer.erased"
	DeliveryPrincipal   = "system:webhook-delivery"
	maxRequestID        = 64
	maxDisplayName      = 200
	maxTargetURL        = 2000
	maxEventTypes       = 50
	maxEventTypeLength  = 200
	defaultPageSize     = 50
	maxPageSize         = 1000
	maxRedeliveryWindow = 31 * 24 * time.Hour
)

// Errors of the webhook use cases.
var (
	ErrNotFound         = errors.New("webhook not found")
	ErrDeliveryNotFound = errors.New("webhook delivery not found")
	ErrEtagMismatch     = errors.New("the webhook changed since it was read (etag mismatch)")
	ErrDeliveryPending  = errors.New("the delivery is still pending")
	ErrDeliveryErased   = errors.New("the delivery's customer was erased")
)

// State says whether a subscription receives deliveries.
type State int32

// Subscription states, numbered as in the API.
const (
	StateActive   State = 1
	StatePaused   State = 2
	StateDisabled State = 3
)

// Webhook is a subscription of a tenant.
type Webhook struct {
	ID          uuid.UUID
	DisplayName string
	TargetURL   string
	EventTypes  []string
	Filter      string
	State       State
	StateReason string
	CreateTime  time.Time
	UpdateTime  time.Time
	Revision    int64
	// BreakerOpenUntil and ProbeUntil are the endpoint breaker's state
	// when read (nil when it is closed or has never failed).
	BreakerOpenUntil, ProbeUntil *time.Time
}

// BreakerState is where an endpoint's circuit breaker stands.
type BreakerState int32

// Breaker states, numbered as in the API.
const (
	BreakerClosed   BreakerState = 1
	BreakerOpen     BreakerState = 2
	BreakerHalfOpen BreakerState = 3
)

// Breaker returns the state of w's endpoint breaker at now and when its
// next probe may go (zero when closed): the end of the cool-down while
// open, the end of the probe's lease while a probe is under way, now when
// the probe is due.
func (w Webhook) Breaker(now time.Time) (BreakerState, time.Time) {
	switch {
	case w.BreakerOpenUntil == nil:
		return BreakerClosed, time.Time{}
	case w.BreakerOpenUntil.After(now):
		return BreakerOpen, *w.BreakerOpenUntil
	case w.ProbeUntil != nil && w.ProbeUntil.After(now):
		return BreakerHalfOpen, *w.ProbeUntil
	}
	return BreakerHalfOpen, now
}

// Resource is the webhook's resource name.
func (w Webhook) Resource() string { return "webhooks/" + w.ID.String() }

// Etag is the webhook's optimistic-concurrency token.
func (w Webhook) Etag() string { return strconv.FormatInt(w.Revision, 10) }

// DeliveryState is where a delivery stands.
type DeliveryState int32

// Delivery states, numbered as in the API.
const (
	DeliveryPending      DeliveryState = 1
	DeliverySucceeded    DeliveryState = 2
	DeliveryDeadLettered DeliveryState = 3
	// DeliveryErased: its customer was erased; its body is blank and it is
	// never sent again.
	DeliveryErased DeliveryState = 4
)

// Delivery is one event for one subscription.
type Delivery struct {
	ID               uuid.UUID
	WebhookID        uuid.UUID
	EventID          uuid.UUID
	EventType        string
	Resource         string
	PrincipalID      string
	State            DeliveryState
	AttemptCount     int
	NextAttemptTime  time.Time
	LastResponseCode int
	LastError        string
	CreateTime       time.Time
	UpdateTime       time.Time
	// Attempts and RequestBody are filled in only for a single delivery.
	Attempts    []Attempt
	RequestBody string
}

// ResourceName is the delivery's resource name.
func (d Delivery) ResourceName() string {
	return "webhooks/" + d.WebhookID.String() + "/deliveries/" + d.ID.String()
}

// Attempt is one HTTP request of a delivery.
type Attempt struct {
	Attempt            int
	RequestTime        time.Time
	TargetURL          string
	SignatureTimestamp int64
	ResponseCode       int
	Latency            time.Duration
	Error              string
}

// Policy is what the operator allows a tenant's subscriptions.
type Policy struct {
	TenantID            uuid.UUID
	AllowPrivateTargets bool
	UpdateTime          time.Time
}

// ListQuery is one page request.
type ListQuery struct {
	PageSize  int
	PageToken string
	Filter    string
}

// Page is a page of webhooks.
type Page struct {
	Webhooks      []Webhook
	NextPageToken string
}

// DeliveryPage is a page of deliveries.
type DeliveryPage struct {
	Deliveries    []Delivery
	NextPageToken string
}

// EventFields are the envelope fields a subscription's filter may name,
// over the columns of the events taken in.
var EventFields = map[string]sqlfilter.Field{
	"type":         {Column: "type", Kind: sqlfilter.String},
	"source":       {Column: "source", Kind: sqlfilter.String},
	"resource":     {Column: "resource", Kind: sqlfilter.String},
	"principal_id": {Column: "principal_id", Kind: sqlfilter.String},
}
