// Package ratelimit holds in-process token buckets keyed by string, for the
// public web-form endpoint. Each process limits on its own: with n replicas
// a key may get up to n times the rate, which is acceptable for abuse
// control of a form (a shared limiter would need a store every submission
// waits on).
package ratelimit

import (
	"sync"
	"time"
)

// Limiter allows each key Burst requests at once, refilled at Rate per second.
type Limiter struct {
	rate  float64
	burst float64
	// maxKeys bounds memory: when it is reached, buckets that have refilled
	// completely (they carry no state worth keeping) are dropped.
	maxKeys int
	now     func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a limiter of rate requests per second per key, with bursts of
// burst, holding at most maxKeys keys' state.
func New(rate float64, burst, maxKeys int) *Limiter {
	return &Limiter{rate: rate, burst: float64(burst), maxKeys: maxKeys, now: time.Now, buckets: map[string]*bucket{}}
}

// Allow takes one token of key, reporting false when it has none left.
func (l *Limiter) Allow(key string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.maxKeys {
			l.sweep(now)
		}
		if len(l.buckets) >= l.maxKeys {
			// Every tracked key is busy: refuse unknown ones rather than
			// forget the limits of those being throttled.
			return false
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweep drops the buckets that are full again.
func (l *Limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}
