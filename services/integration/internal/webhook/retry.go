package webhook

import (
	"math/rand/v2"
	"net/http"
	"time"
)

// RetryPolicy decides what follows a failed attempt.
type RetryPolicy struct {
	// Budget is how many attempts a delivery gets before it is dead-lettered.
	Budget int
	// MinBackoff and MaxBackoff bound the wait between attempts; it doubles
	// after each failure, with jitter so that deliveries failed together do
	// not retry in step.
	MinBackoff, MaxBackoff time.Duration
}

// Backoff is the wait after the attempt-th failure (1 for the first):
// MinBackoff doubled attempt-1 times, capped at MaxBackoff, then a random
// point in its upper half.
func (p RetryPolicy) Backoff(attempt int) time.Duration {
	d := p.MinBackoff
	for i := 1; i < attempt && d < p.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// Outcome is what an attempt leads to.
type Outcome int

// Outcomes of an attempt.
const (
	// Delivered: the receiver answered 2xx.
	Delivered Outcome = iota + 1
	// Retry: try again after a backoff.
	Retry
	// DeadLetter: the budget is spent; the delivery waits for a redelivery.
	DeadLetter
	// Gone: the receiver answered 410; the subscription is disabled and the
	// delivery waits, pending, until it is resumed.
	Gone
)

// Decide returns the outcome of an attempt that got code (0 for none) and
// was the used-th attempt of the current budget.
func (p RetryPolicy) Decide(code, used int) Outcome {
	switch {
	case code >= 200 && code < 300:
		return Delivered
	case code == http.StatusGone:
		return Gone
	case used >= p.Budget:
		return DeadLetter
	}
	return Retry
}

// BreakerPolicy opens an endpoint's circuit breaker after Threshold
// failures in a row, for Cooldown: no attempt goes to it meanwhile, so a
// dead endpoint costs the workers nothing. After the cool-down the breaker
// is half-open: exactly one probe delivery goes out; its success closes
// the breaker, its failure opens it again for twice the last cool-down, up
// to MaxCooldown.
type BreakerPolicy struct {
	Threshold             int
	Cooldown, MaxCooldown time.Duration
}

// MaxOrCooldown is the longest cool-down: MaxCooldown, or Cooldown when
// that is unset or shorter.
func (p BreakerPolicy) MaxOrCooldown() time.Duration { return max(p.Cooldown, p.MaxCooldown) }
