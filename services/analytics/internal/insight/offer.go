package insight

import (
	"context"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// RejectionMemory is how long a customer's rejection keeps a product out of
// its offers.
const RejectionMemory = 90 * 24 * time.Hour

// OfferCandidate is a product the customer has not bought, with the
// evidence for offering it.
type OfferCandidate struct {
	ProductID uuid.UUID
	// TogetherOrders counts the tenant's placed sales holding the product
	// and one of the customer's basket products (those of its five latest
	// purchases); BasketOrders counts those holding any basket product.
	TogetherOrders, BasketOrders int64
	// SegmentBuyers counts the other members of the customer's segments who
	// bought the product; SegmentSize counts those members.
	SegmentBuyers, SegmentSize int64
	// TierBuyers and TierSize do the same for customers of its value tier.
	TierBuyers, TierSize int64
	// Accepted and Rejected count every customer's feedback on offers of it.
	Accepted, Rejected int64
}

// OfferFacts are what a customer's next best offers are drawn from.
type OfferFacts struct {
	// OpenTickets counts the customer's open tickets: no upsell meanwhile.
	OpenTickets int64
	Candidates  []OfferCandidate
	// Rejected are the products the customer rejected within RejectionMemory.
	Rejected []uuid.UUID
}

// OfferReason says why a product is offered; the numbers match the API's enum.
type OfferReason int32

// Offer reasons.
const (
	OfferReasonUnspecified OfferReason = iota
	OfferReasonBoughtTogether
	OfferReasonSegmentPopular
	OfferReasonTierPopular
	OfferReasonWellReceived
)

// Suppression says why no offer is made; the numbers match the API's enum.
type Suppression int32

// Suppressions.
const (
	SuppressionNone Suppression = iota
	SuppressionOpenComplaint
)

// Offer is one ranked offer.
type Offer struct {
	ProductID uuid.UUID
	// Score ranks the offers: 0.6 × TogetherOrders/BasketOrders + 0.25 ×
	// SegmentBuyers/SegmentSize + 0.15 × TierBuyers/TierSize, times the
	// feedback factor 2 × (Accepted + 1) / (Accepted + Rejected + 2), which
	// is 1 without feedback and grows with acceptance.
	Score   float64
	Reasons []OfferReason
	// TogetherOrders is the evidence behind OfferReasonBoughtTogether.
	TogetherOrders int64
}

// Offers is a customer's next best offers, best first.
type Offers struct {
	Offers     []Offer
	Suppressed Suppression
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// RankOffers ranks facts' candidates and keeps the best limit.
func RankOffers(f OfferFacts, limit int) Offers {
	if f.OpenTickets > 0 {
		return Offers{Suppressed: SuppressionOpenComplaint}
	}
	var out []Offer
	for _, c := range f.Candidates {
		if slices.Contains(f.Rejected, c.ProductID) {
			continue
		}
		o := Offer{ProductID: c.ProductID, TogetherOrders: c.TogetherOrders}
		bt, seg, tier := ratio(c.TogetherOrders, c.BasketOrders), ratio(c.SegmentBuyers, c.SegmentSize), ratio(c.TierBuyers, c.TierSize)
		for _, r := range []struct {
			on     bool
			reason OfferReason
		}{{bt > 0, OfferReasonBoughtTogether}, {seg > 0, OfferReasonSegmentPopular}, {tier > 0, OfferReasonTierPopular}, {c.Accepted > c.Rejected, OfferReasonWellReceived}} {
			if r.on {
				o.Reasons = append(o.Reasons, r.reason)
			}
		}
		o.Score = (0.6*bt + 0.25*seg + 0.15*tier) * 2 * float64(c.Accepted+1) / float64(c.Accepted+c.Rejected+2)
		if o.Score > 0 {
			out = append(out, o)
		}
	}
	slices.SortStableFunc(out, func(a, b Offer) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return compareIDs(a.ProductID, b.ProductID)
	})
	return Offers{Offers: out[:min(len(out), limit)]}
}

// MaxOffers caps the offers returned; DefaultOffers is returned when no
// number is asked.
const (
	MaxOffers     = 50
	DefaultOffers = 5
)

// NextBestOffers ranks offers for a customer (for example on an incoming call).
func (s *Service) NextBestOffers(ctx context.Context, caller auth.Caller, customer uuid.UUID, limit int32) (Offers, error) {
	tenant, err := tenantOf(caller, readers)
	if err != nil {
		return Offers{}, err
	}
	switch {
	case limit < 0:
		return Offers{}, validation.Field("max_offers", "must not be negative")
	case limit == 0:
		limit = DefaultOffers
	}
	if err := s.known(ctx, tenant, customer); err != nil {
		return Offers{}, err
	}
	f, err := s.store.OfferFacts(ctx, tenant, customer, s.now())
	if err != nil {
		return Offers{}, err
	}
	return RankOffers(f, min(int(limit), MaxOffers)), nil
}

// Outcome is a customer's answer to an offer; the numbers match the API's enum.
type Outcome int32

// Outcomes.
const (
	OutcomeUnspecified Outcome = iota
	OutcomeAccepted
	OutcomeRejected
)

// Feedback is a customer's answer to an offered product.
type Feedback struct {
	ID, CustomerID, ProductID uuid.UUID
	Outcome                   Outcome
	PrincipalID               string
	CreateTime                time.Time
}

// RecordFeedback records a customer's answer to an offer; the next ranking
// uses it. A repeated request id returns the feedback first recorded.
func (s *Service) RecordFeedback(ctx context.Context, caller auth.Caller, f Feedback, requestID string) (Feedback, error) {
	tenant, err := tenantOf(caller, feedbackWriters)
	if err != nil {
		return Feedback{}, err
	}
	v := &validation.Error{}
	if f.ProductID == uuid.Nil {
		v.Add("feedback.product_id", "must be a UUID")
	}
	if f.Outcome != OutcomeAccepted && f.Outcome != OutcomeRejected {
		v.Add("feedback.outcome", "must be OFFER_OUTCOME_ACCEPTED or OFFER_OUTCOME_REJECTED")
	}
	if len(requestID) > 200 {
		v.Add("request_id", "must be at most 200 characters")
	}
	if err := v.Err(); err != nil {
		return Feedback{}, err
	}
	if err := s.known(ctx, tenant, f.CustomerID); err != nil {
		return Feedback{}, err
	}
	f.ID = uuid.Must(uuid.NewV7())
	f.PrincipalID = caller.PrincipalID
	saved, _, err := s.store.RecordFeedback(ctx, caller, f, requestID)
	return saved, err
}
