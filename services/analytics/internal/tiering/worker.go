package tiering

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// WorkerConfig tunes Work.
type WorkerConfig struct {
	// Interval is the time between model runs (TIER_SUGGEST_INTERVAL).
	Interval time.Duration
	// Poll is the time between looks at the delivery queue (TIER_DELIVER_POLL).
	Poll time.Duration
	// Batch is how many due suggestions one look sends at most.
	Batch int
}

// Work runs the model for tenant at once and every cfg.Interval, and
// delivers its due suggestions every cfg.Poll (sooner while a full batch
// was sent), until ctx ends. Failures are logged and tried again at the
// next tick: the queue in the database is what makes delivery at least once.
func (s *Service) Work(ctx context.Context, tenant uuid.UUID, cfg WorkerConfig, log *slog.Logger) {
	nextRun := s.now()
	for {
		if !s.now().Before(nextRun) {
			run, err := s.RunModel(ctx, tenant)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				log.ErrorContext(ctx, "tier suggestion run failed", "error", err.Error())
			} else if run.Queued > 0 {
				log.InfoContext(ctx, "tier suggestions queued", "run_id", run.ID.String(), "scored", run.Scored, "queued", run.Queued)
			}
			nextRun = s.now().Add(cfg.Interval)
		}
		done, err := s.Deliver(ctx, tenant, cfg.Batch)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			log.ErrorContext(ctx, "tier suggestion delivery failed", "error", err.Error())
		}
		wait := cfg.Poll
		if done == cfg.Batch {
			wait = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
