package ticket

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// EventDetractorFollowedUp is recorded when the customer service accepted a
// detractor's follow-up.
const EventDetractorFollowedUp = "detractor.followed_up"

// DetractorPrincipal is the principal the runner's changes are audited as.
const DetractorPrincipal = "system:detractor-runner"

// IsCSATDetractor reports whether a CSAT answer (1 to 5) asks for a follow-up.
func IsCSATDetractor(score int32) bool { return score >= 1 && score <= 2 }

// IsNPSDetractor reports whether an NPS answer (0 to 10) asks for a follow-up.
func IsNPSDetractor(score int32) bool { return score >= 0 && score <= 6 }

// Kind says which survey an answer belongs to; the numbers match the API's enum.
type Kind int32

// Survey kinds.
const (
	KindUnspecified Kind = iota
	KindCSAT
	KindNPS
)

// Detractor is a pending follow-up of an unhappy answer.
type Detractor struct {
	// SourceID is the CSAT survey or the NPS response.
	SourceID   uuid.UUID
	Kind       Kind
	TicketID   uuid.UUID // CSAT only
	CustomerID uuid.UUID
	Score      int32
	Attempts   int
}

// RequestID is the follow-up's idempotency key in the customer service:
// derived from the answer, so a delivery retried after a lost reply
// creates nothing twice.
func (d Detractor) RequestID() string {
	if d.Kind == KindNPS {
		return "nps-detractor-" + d.SourceID.String()
	}
	return "csat-detractor-" + d.SourceID.String()
}

// Resource names the answer the follow-up is for.
func (d Detractor) Resource() string {
	if d.Kind == KindNPS {
		return "npsResponses/" + d.SourceID.String()
	}
	return "tickets/" + d.TicketID.String() + "/csatSurvey"
}

// Title and Notes describe the follow-up without the customer's comment,
// which stays in the help desk.
func (d Detractor) Title() string {
	if d.Kind == KindNPS {
		return fmt.Sprintf("Follow up a %d/10 NPS answer", d.Score)
	}
	return fmt.Sprintf("Follow up a %d/5 satisfaction answer", d.Score)
}

// Notes says where the answer came from.
func (d Detractor) Notes() string {
	if d.Kind == KindNPS {
		return "The customer answered an NPS survey as a detractor (" + d.Resource() + ")."
	}
	return "The customer rated the resolution of tickets/" + d.TicketID.String() + " poorly."
}

// FollowUps creates follow-ups in the customer service; implemented over
// gRPC in internal/clients/customer.
type FollowUps interface {
	// CreateFollowUp creates d's follow-up in tenant and returns its id.
	CreateFollowUp(ctx context.Context, tenant string, d Detractor) (string, error)
}

// DetractorStore keeps the pending deliveries.
type DetractorStore interface {
	// DueDetractors returns up to limit undelivered detractors of tenant
	// due at now with fewer than maxAttempts attempts, earliest first.
	DueDetractors(ctx context.Context, tenant string, now time.Time, limit, maxAttempts int) ([]Detractor, error)
	// DetractorDelivered marks d delivered as followUpID, with its event.
	DetractorDelivered(ctx context.Context, tenant string, d Detractor, followUpID string) error
	// DetractorFailed counts a failed attempt and sets the next one.
	DetractorFailed(ctx context.Context, tenant string, d Detractor, cause string, next time.Time) error
}

// Delivery limits: attempts back off exponentially from a few seconds to an
// hour; after maxDetractorAttempts the row stays for an operator to see.
const (
	maxDetractorAttempts = 12
	detractorBatch       = 100
	firstRetry           = 5 * time.Second
	maxRetry             = time.Hour
)

func retryDelay(attempts int) time.Duration {
	d := firstRetry << min(attempts, 20)
	return min(d, maxRetry)
}

// FollowDetractors delivers tenant's due detractor follow-ups and reports
// how many it delivered. A failed delivery is retried later; only a store
// failure ends the sweep early.
func (s *Service) FollowDetractors(ctx context.Context, followUps FollowUps, tenant string, at time.Time) (int, error) {
	due, err := s.store.DueDetractors(ctx, tenant, at, detractorBatch, maxDetractorAttempts)
	if err != nil {
		return 0, err
	}
	delivered := 0
	for _, d := range due {
		id, err := followUps.CreateFollowUp(ctx, tenant, d)
		if err != nil {
			if ctx.Err() != nil {
				return delivered, ctx.Err()
			}
			if err := s.store.DetractorFailed(ctx, tenant, d, err.Error(), at.Add(retryDelay(d.Attempts))); err != nil {
				return delivered, fmt.Errorf("record failed follow-up of answer %s: %w", d.SourceID, err)
			}
			continue
		}
		if err := s.store.DetractorDelivered(ctx, tenant, d, id); err != nil {
			return delivered, fmt.Errorf("record follow-up of answer %s: %w", d.SourceID, err)
		}
		delivered++
	}
	return delivered, nil
}

// WatchDetractors delivers tenant's detractor follow-ups every interval
// until ctx ends, starting at once. Failures are logged without the
// customer's data and retried.
func (s *Service) WatchDetractors(ctx context.Context, followUps FollowUps, tenant string, interval time.Duration, log *slog.Logger) {
	for {
		n, err := s.FollowDetractors(ctx, followUps, tenant, now())
		switch {
		case err != nil && ctx.Err() == nil:
			log.ErrorContext(ctx, "detractor follow-ups failed", "error", err)
		case n > 0:
			log.InfoContext(ctx, "detractor follow-ups created", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
