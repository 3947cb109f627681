package resolution

import (
	"context"
	"fmt"
	"time"
)

// Scanner works through running duplicate scans in the background, a batch
// per transaction, so a scan survives restarts (it resumes after the last
// committed batch) and several replicas can share the work (a batch locks
// its scan; others skip it meanwhile).
type Scanner struct {
	store Store
	batch int
	poll  time.Duration
	wake  chan struct{}
}

// NewScanner returns a Scanner that looks for running scans every poll (5 s
// when zero) and compares batch customers per transaction (500 when zero).
func NewScanner(store Store, poll time.Duration, batch int) *Scanner {
	if poll <= 0 {
		poll = defaultScanInterval
	}
	if batch <= 0 {
		batch = defaultScanBatch
	}
	return &Scanner{store: store, batch: batch, poll: poll, wake: make(chan struct{}, 1)}
}

// Wake makes a sleeping Run look for scans now.
func (s *Scanner) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run drains the running scans, then sleeps until woken or poll passes,
// until ctx ends. Errors of one round are returned to onError and the next
// round tries again.
func (s *Scanner) Run(ctx context.Context, onError func(error)) {
	for {
		if err := s.Drain(ctx); err != nil && ctx.Err() == nil {
			onError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-time.After(s.poll):
		}
	}
}

// Drain works every running scan to its end.
func (s *Scanner) Drain(ctx context.Context) error {
	refs, err := s.store.RunningScans(ctx)
	if err != nil {
		return fmt.Errorf("find running scans: %w", err)
	}
	for _, ref := range refs {
		for {
			done, err := s.store.ScanBatch(ctx, ref, s.batch, pairsOf)
			if err != nil {
				return fmt.Errorf("scan %s: %w", ref.ScanID, err)
			}
			if done {
				break
			}
		}
	}
	return nil
}
