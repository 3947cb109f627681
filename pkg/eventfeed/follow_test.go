package eventfeed

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	eventsv1 "github.com/rapportcrm/rapport/gen/go/rapport/events/v1"
)

// feed is a stream that sends n events, then ends.
type feed struct {
	mu   sync.Mutex
	next int
	n    int
}

var errEnded = errors.New("stream ended")

func (f *feed) Recv() (*eventsv1.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.next == f.n {
		return nil, errEnded
	}
	f.next++
	return &eventsv1.Event{Cursor: fmt.Sprint(f.next)}, nil
}

// slowReader takes a while over each batch, as a transaction does.
type slowReader struct {
	mu      sync.Mutex
	batches [][]string
}

func (r *slowReader) Checkpoint(context.Context, uuid.UUID, string) (string, error) { return "", nil }

func (r *slowReader) Take(ctx context.Context, tenant uuid.UUID, source string, e *eventsv1.Event) error {
	return r.TakeBatch(ctx, tenant, source, []*eventsv1.Event{e})
}

func (r *slowReader) TakeBatch(_ context.Context, _ uuid.UUID, _ string, events []*eventsv1.Event) error {
	time.Sleep(5 * time.Millisecond)
	var cursors []string
	for _, e := range events {
		cursors = append(cursors, e.GetCursor())
	}
	r.mu.Lock()
	r.batches = append(r.batches, cursors)
	r.mu.Unlock()
	return nil
}

// TestTakeBatchesKeepsOrderAndGroups checks that what arrives while a batch
// is taken in goes in the next batch, in stream order, none lost, and that
// the stream's end is reported after the events before it are taken.
func TestTakeBatchesKeepsOrderAndGroups(t *testing.T) {
	t.Parallel()
	r := &slowReader{}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	n, err := takeBatches(ctx, ctx, r, uuid.New(), "customer", &feed{n: 1200})
	if !errors.Is(err, errEnded) || n != 1200 {
		t.Fatalf("takeBatches = %d, %v; want 1200 then the stream's end", n, err)
	}
	next := 1
	for _, b := range r.batches {
		if len(b) > maxBatch {
			t.Fatalf("a batch of %d, want at most %d", len(b), maxBatch)
		}
		for _, c := range b {
			if c != fmt.Sprint(next) {
				t.Fatalf("event %s where %d was next: order broken", c, next)
			}
			next++
		}
	}
	if len(r.batches) >= 1200 {
		t.Fatalf("%d batches for 1200 events: nothing grouped while a batch was taken in", len(r.batches))
	}
}
