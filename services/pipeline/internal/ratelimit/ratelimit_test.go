package ratelimit

import (
	"testing"
	"time"
)

func TestAllow(t *testing.T) {
	t.Parallel()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New(1, 2, 2)
	l.now = func() time.Time { return clock }
	steps := []struct {
		name    string
		advance time.Duration
		key     string
		want    bool
	}{
		{"first of burst", 0, "a", true},
		{"second of burst", 0, "a", true},
		{"burst spent", 0, "a", false},
		{"other key has its own bucket", 0, "b", true},
		{"table full of busy keys", 0, "c", false},
		{"refilled one token", time.Second, "a", true},
		{"and only one", 0, "a", false},
		{"idle keys swept for a new one", 10 * time.Second, "c", true},
	}
	for _, s := range steps {
		clock = clock.Add(s.advance)
		if got := l.Allow(s.key); got != s.want {
			t.Fatalf("%s: Allow(%q) = %t, want %t", s.name, s.key, got, s.want)
		}
	}
}
