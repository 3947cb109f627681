package eventfeed

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/rapportcrm/rapport/gen/go/rapport/events/v1"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
)

// FollowConfig tunes Follow.
type FollowConfig struct {
	// Refresh is how often the directory is asked for new tenants.
	Refresh time.Duration
	// MinBackoff and MaxBackoff bound the wait before a broken stream is reopened.
	MinBackoff, MaxBackoff time.Duration
}

// Reader is a projection Follow feeds: where a tenant's stream of a source
// resumes, and how one event of it is taken in (with its cursor, in one
// transaction, so that a crash repeats the event rather than losing it).
type Reader interface {
	Checkpoint(ctx context.Context, tenant uuid.UUID, source string) (string, error)
	// Take takes e in; an error ends the session, which is reopened from
	// the checkpoint.
	Take(ctx context.Context, tenant uuid.UUID, source string, e *eventsv1.Event) error
}

// BatchReader is a Reader that takes in, in one transaction, the events of
// a stream that arrived while it was busy with the previous ones: under
// load one transaction holds many events, at rest each event goes at once.
type BatchReader interface {
	Reader
	// TakeBatch takes events (one tenant's, of one source, in stream
	// order) in, with the last one's cursor; an error ends the session.
	TakeBatch(ctx context.Context, tenant uuid.UUID, source string, events []*eventsv1.Event) error
}

// maxBatch bounds the events of one TakeBatch (a source reads its outbox
// 500 at a time).
const maxBatch = 500

// Follow reads every source for every tenant of dir into r until ctx
// ends: each stream opens at r's checkpoint with dir's credential for the
// tenant, and a broken one is reopened after a capped, jittered
// exponential backoff.
func Follow(ctx context.Context, dir Directory, cfg FollowConfig, log *slog.Logger, r Reader, sources ...Source) {
	PerTenant(ctx, dir, cfg.Refresh, log, func(ctx context.Context, tenant uuid.UUID) {
		var wg sync.WaitGroup
		for _, src := range sources {
			wg.Go(func() { follow(ctx, dir, cfg, log, r, tenant, src) })
		}
		wg.Wait()
	})
}

func follow(ctx context.Context, dir Directory, cfg FollowConfig, log *slog.Logger, r Reader, tenant uuid.UUID, src Source) {
	wait := cfg.MinBackoff
	for {
		start := time.Now()
		n, err := session(ctx, dir, r, tenant, src)
		if ctx.Err() != nil {
			return
		}
		if n > 0 || time.Since(start) > cfg.MaxBackoff {
			wait = cfg.MinBackoff
		}
		pause := wait/2 + rand.N(wait/2+1)
		log.WarnContext(ctx, "event stream disconnected", "tenant_id", tenant.String(), "source", src.Name,
			"taken_in", n, "code", status.Code(err).String(), "error", err.Error(), "retry_in", pause.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		wait = min(2*wait, cfg.MaxBackoff)
	}
}

// session reads src from the checkpoint until the stream or r fails, and
// returns how many events r took in.
func session(ctx context.Context, dir Directory, r Reader, tenant uuid.UUID, src Source) (int, error) {
	cursor, err := r.Checkpoint(ctx, tenant, src.Name)
	if err != nil {
		return 0, err
	}
	credential, err := dir.Credential(ctx, tenant)
	if err != nil {
		return 0, fmt.Errorf("credential: %w", err)
	}
	sctx, cancel := context.WithCancel(grpcclient.WithBearer(ctx, credential))
	defer cancel()
	stream, err := src.Watch(sctx, cursor)
	if err != nil {
		return 0, err
	}
	br, batched := r.(BatchReader)
	if !batched {
		n := 0
		for {
			e, err := stream.Recv()
			if err != nil {
				return n, err
			}
			if err := r.Take(ctx, tenant, src.Name, e); err != nil {
				return n, err
			}
			n++
		}
	}
	return takeBatches(ctx, sctx, br, tenant, src.Name, stream)
}

// takeBatches hands br what stream sent while br took the previous batch
// in: a goroutine keeps receiving meanwhile.
func takeBatches(ctx, sctx context.Context, br BatchReader, tenant uuid.UUID, source string, stream Stream) (int, error) {
	type received struct {
		e   *eventsv1.Event
		err error
	}
	incoming := make(chan received, maxBatch)
	go func() {
		for {
			e, err := stream.Recv()
			select {
			case incoming <- received{e, err}:
			case <-sctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	n := 0
	var batch []*eventsv1.Event
	for {
		var r received
		select {
		case r = <-incoming:
		case <-ctx.Done():
			return n, ctx.Err()
		}
		for r.err == nil {
			batch = append(batch, r.e)
			if len(batch) == maxBatch {
				break
			}
			var more bool
			select {
			case r, more = <-incoming:
			default:
			}
			if !more {
				break
			}
		}
		if len(batch) > 0 {
			if err := br.TakeBatch(ctx, tenant, source, batch); err != nil {
				return n, err
			}
			n += len(batch)
			batch = batch[:0]
		}
		if r.err != nil {
			return n, r.err
		}
	}
}
