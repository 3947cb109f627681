package demo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestResponseError(t *testing.T) {
	for _, c := range []struct {
		status     int
		retryAfter string
		body       string
		want       string
		temporary  bool
		wait       time.Duration
	}{
		{400, "", `{"code":3,"message":"invalid request: customer.display_name: is required","details":[]}`,
			"HTTP 400 Bad Request: invalid request: customer.display_name: is required", false, 0},
		{401, "", `{"code":16,"message":"send credentials as Authorization: Bearer <API key or token>"}`,
			"HTTP 401 Unauthorized: send credentials", false, 0},
		{404, "", `{"code":5,"message":"customer not found"}`, "HTTP 404 Not Found: customer not found", false, 0},
		{409, "", `{"code":10,"message":"aborted"}`, "HTTP 409 Conflict: aborted", false, 0},
		{500, "", `{"code":13,"message":"internal"}`, "HTTP 500 Internal Server Error: internal", false, 0},
		{503, "", `{"code":14,"message":"credentials could not be verified; retry"}`, "HTTP 503 Service Unavailable: credentials", true, 0},
		{429, "3", `{"code":8,"message":"slow down"}`, "HTTP 429 Too Many Requests: slow down", true, 3 * time.Second},
		{502, "soon", "<html>bad gateway</html>", "HTTP 502 Bad Gateway: <html>bad gateway</html>", true, 0},
		{504, "", "", "HTTP 504 Gateway Timeout", true, 0},
	} {
		e := responseError(c.status, c.retryAfter, []byte(c.body))
		if !strings.HasPrefix(e.Error(), c.want) || e.temporary() != c.temporary || e.retryAfter != c.wait {
			t.Errorf("responseError(%d, %q) = %q, temporary %v, wait %v; want %q, %v, %v",
				c.status, c.body, e, e.temporary(), e.retryAfter, c.want, c.temporary, c.wait)
		}
	}
	long := responseError(502, "", []byte(strings.Repeat("x", 1000)))
	if n := len([]rune(long.message)); n != 201 {
		t.Errorf("a 1000-character body became a %d-character message", n)
	}
}

func TestBackoff(t *testing.T) {
	for attempt := 1; attempt < maxAttempts; attempt++ {
		full := min(firstBackoff<<(attempt-1), maxBackoff)
		for range 100 {
			if d := backoff(attempt, errors.New("connection refused")); d < full/2 || d > full {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", attempt, d, full/2, full)
			}
		}
	}
	asked := fmt.Errorf("wrapped: %w", &httpError{status: 429, retryAfter: 2 * time.Second})
	if d := backoff(1, asked); d != 2*time.Second {
		t.Errorf("backoff after Retry-After: 2 = %v", d)
	}
	if d := backoff(1, &httpError{status: 429, retryAfter: time.Hour}); d != maxBackoff {
		t.Errorf("backoff after Retry-After: 3600 = %v, want the cap %v", d, maxBackoff)
	}
}

func TestRunAll(t *testing.T) {
	var ran atomic.Int64
	var inFlight, most atomic.Int64
	jobs := make([]job, 100)
	for i := range jobs {
		jobs[i] = func(context.Context) error {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(time.Millisecond)
			ran.Add(1)
			return nil
		}
	}
	if err := runAll(t.Context(), 4, jobs); err != nil || ran.Load() != 100 {
		t.Fatalf("runAll = %v after %d jobs, want nil after 100", err, ran.Load())
	}
	if most.Load() > 4 {
		t.Errorf("%d jobs ran at once, want at most 4", most.Load())
	}

	// The first failure is returned and stops the jobs not yet started.
	refused := errors.New("HTTP 400")
	ran.Store(0)
	for i := range jobs {
		jobs[i] = func(ctx context.Context) error {
			if i == 0 {
				return refused
			}
			ran.Add(1)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
				return nil
			}
		}
	}
	if err := runAll(t.Context(), 2, jobs); !errors.Is(err, refused) {
		t.Errorf("runAll = %v, want the first failure", err)
	}
	if ran.Load() > 10 {
		t.Errorf("%d jobs started after the failure", ran.Load())
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := runAll(ctx, 2, jobs[1:]); !errors.Is(err, context.Canceled) {
		t.Errorf("runAll on a cancelled context = %v", err)
	}
}
