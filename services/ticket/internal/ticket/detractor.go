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
const EventDetractorFollowedUp = "csat_survey.detractor_followed_up"

// DetractorPrincipal is the principal the runner's changes are audited as.
const DetractorPrincipal = "system:detractor-runner"

// maxDetractorScore is the highest CSAT score that counts as a detractor.
const maxDetractorScore = 2

// IsDetractor reports whether a CSAT answer asks for a follow-up.
func IsDetractor(score int32) bool { return score >= 1 && score <= maxDetractorScore }

// Detractor is a pending follow-up of an unhappy CSAT answer.
type Detractor struct {
	SurveyID   uuid.UUID
	TicketID   uuid.UUID
	CustomerID uuid.UUID
	Score      int32
	Attempts   int
}

// RequestID is the follow-up's idempotency key in the customer service:
// derived from the survey, so a delivery retried after a lost answer
// creates nothing twice.
func (d Detractor) RequestID() string { return "csat-detractor-" + d.SurveyID.String() }

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
				return delivered, fmt.Errorf("record failed follow-up of survey %s: %w", d.SurveyID, err)
			}
			continue
		}
		if err := s.store.DetractorDelivered(ctx, tenant, d, id); err != nil {
			return delivered, fmt.Errorf("record follow-up of survey %s: %w", d.SurveyID, err)
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
