package insight

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

// RecentItems is how many orders and interactions a 360 view lists.
const RecentItems = 5

// Segment is a customer's membership of a segment.
type Segment struct {
	SegmentID uuid.UUID
	EnterTime time.Time
}

// LoyaltyMembership is a customer's standing in a loyalty programme.
type LoyaltyMembership struct {
	ProgramID uuid.UUID
	Balance   int64
	TierID    string
}

// View is what the read model knows of one customer, in one snapshot.
type View struct {
	CustomerID uuid.UUID
	// Profile is nil until the customer's own event has been applied.
	Profile   *analytics.CustomerProfile
	ValueTier string
	Segments  []Segment

	OpenOpportunities, WonOpportunities int64
	OpenAmounts, WonAmounts             []analytics.Money
	OpenTickets, Tickets                int64
	// BreachedOpenTickets counts open tickets that missed an SLA target.
	BreachedOpenTickets int64
	// CSATResponses and CSATAverage are the CSAT answers on the customer's
	// tickets and their mean score (0 while there are none).
	CSATResponses int64
	CSATAverage   float64
	// NPSResponses counts the customer's NPS answers; LatestNPS is the
	// latest one's score, nil while there are none.
	NPSResponses int64
	LatestNPS    *int16

	// Purchases, Returns and CancelledOrders count the customer's orders.
	Purchases, Returns, CancelledOrders int64
	RecentOrders                        []analytics.Order

	// Interactions90Days counts interactions in the 90 days before the view.
	Interactions90Days int64
	RecentInteractions []analytics.Interaction
	OpenFollowUps      int64
	// NextFollowUpDue is the earliest due time of an open follow-up.
	NextFollowUpDue time.Time
	Loyalty         []LoyaltyMembership
}

// Customer360 is the full view: the facts, value and churn risk.
type Customer360 struct {
	View  View
	Value Value
	Churn ChurnRisk
}

// Customer360 returns everything known of a customer: profile, lifecycle,
// segments, orders and value, opportunities, tickets, interactions,
// follow-ups, loyalty and churn risk.
func (s *Service) Customer360(ctx context.Context, caller auth.Caller, customer uuid.UUID) (Customer360, error) {
	tenant, err := tenantOf(caller, readers)
	if err != nil {
		return Customer360{}, err
	}
	now := s.now()
	view, err := s.store.View(ctx, tenant, customer, RecentItems)
	if err != nil {
		return Customer360{}, err
	}
	value, err := s.CustomerValue(ctx, caller, customer, time.Time{}, now, "")
	if err != nil {
		return Customer360{}, err
	}
	facts, err := s.store.ChurnFacts(ctx, tenant, customer, now)
	if err != nil {
		return Customer360{}, err
	}
	return Customer360{View: view, Value: value, Churn: churnRisk(customer, facts, now)}, nil
}

// Quarantined lists the events the read model quarantined, newest first.
// filter may name source and type.
func (s *Service) Quarantined(ctx context.Context, caller auth.Caller, filter, token string, size int32) ([]analytics.QuarantinedEvent, string, error) {
	tenant, err := tenantOf(caller, quarantineReader)
	if err != nil {
		return nil, "", err
	}
	n, err := pageSize(size)
	if err != nil {
		return nil, "", err
	}
	return s.store.Quarantined(ctx, tenant, filter, token, n)
}
