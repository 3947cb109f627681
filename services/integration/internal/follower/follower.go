// Package follower takes the other services' events in for webhook
// delivery: for every tenant a directory lists, it reads each source's
// WatchEvents stream from the checkpoint the store keeps and hands every
// event to the store, which records it once and fans it out to the
// matching subscriptions in the same transaction as the new checkpoint.
//
// It has the shape of the analytics service's consumer Fleet (one
// goroutine per tenant and source, reconnecting with jittered backoff);
// the two are candidates to fold into one package.
package follower

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	eventsv1 "github.com/rapportcrm/rapport/gen/go/rapport/events/v1"
	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/services/integration/internal/delivery"
)

// Store is what the follower needs of storage.
type Store interface {
	Checkpoint(ctx context.Context, tenant uuid.UUID, source string) (string, error)
	Ingest(ctx context.Context, e delivery.Event) (int, error)
}

// Directory says which tenants to follow and with what credentials.
type Directory interface {
	Tenants(ctx context.Context) ([]uuid.UUID, error)
	Credential(ctx context.Context, tenant uuid.UUID) (string, error)
}

// Stream is an open WatchEvents call.
type Stream interface {
	Recv() (*eventsv1.Event, error)
}

// Source is one service's event stream.
type Source struct {
	// Name is the service's slug; its checkpoint is kept under it.
	Name string
	// Watch opens the stream after a cursor ("" is the beginning).
	Watch func(ctx context.Context, afterCursor string) (Stream, error)
}

// Config tunes a Follower.
type Config struct {
	// Refresh is how often the directory is asked for new tenants.
	Refresh time.Duration
	// MinBackoff and MaxBackoff bound the wait before a broken stream is reopened.
	MinBackoff, MaxBackoff time.Duration
}

// Follower follows every source for every tenant of its directory.
type Follower struct {
	store   Store
	dir     Directory
	cfg     Config
	log     *slog.Logger
	sources []Source
}

// New returns a Follower.
func New(store Store, dir Directory, cfg Config, log *slog.Logger, sources ...Source) *Follower {
	return &Follower{store: store, dir: dir, cfg: cfg, log: log, sources: sources}
}

// Run follows until ctx ends, then returns nil. A directory that cannot be
// read is asked again at the next refresh; a tenant no longer listed stops
// being followed.
func (f *Follower) Run(ctx context.Context) error {
	running := map[uuid.UUID]context.CancelFunc{}
	var wg sync.WaitGroup
	defer func() {
		for _, cancel := range running {
			cancel()
		}
		wg.Wait()
	}()
	tick := time.NewTicker(f.cfg.Refresh)
	defer tick.Stop()
	for {
		tenants, err := f.dir.Tenants(ctx)
		if err != nil && ctx.Err() == nil {
			f.log.WarnContext(ctx, "tenant directory unavailable", "error", err.Error())
		}
		if err == nil {
			for tenant, cancel := range running {
				if !slices.Contains(tenants, tenant) {
					cancel()
					delete(running, tenant)
				}
			}
			for _, tenant := range tenants {
				if _, ok := running[tenant]; ok {
					continue
				}
				tctx, cancel := context.WithCancel(ctx)
				running[tenant] = cancel
				for _, src := range f.sources {
					wg.Go(func() { f.follow(tctx, tenant, src) })
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// follow reads one tenant's stream of src, reopening it with capped,
// jittered exponential backoff until ctx ends.
func (f *Follower) follow(ctx context.Context, tenant uuid.UUID, src Source) {
	wait := f.cfg.MinBackoff
	for {
		start := time.Now()
		n, err := f.session(ctx, tenant, src)
		if ctx.Err() != nil {
			return
		}
		if n > 0 || time.Since(start) > f.cfg.MaxBackoff {
			wait = f.cfg.MinBackoff
		}
		pause := wait/2 + rand.N(wait/2+1)
		f.log.WarnContext(ctx, "event stream disconnected", "tenant_id", tenant.String(), "source", src.Name,
			"taken_in", n, "code", status.Code(err).String(), "error", err.Error(), "retry_in", pause.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		wait = min(2*wait, f.cfg.MaxBackoff)
	}
}

// session reads src from the checkpoint until the stream or the store
// fails, and returns how many events it took in.
func (f *Follower) session(ctx context.Context, tenant uuid.UUID, src Source) (int, error) {
	cursor, err := f.store.Checkpoint(ctx, tenant, src.Name)
	if err != nil {
		return 0, err
	}
	credential, err := f.dir.Credential(ctx, tenant)
	if err != nil {
		return 0, fmt.Errorf("credential: %w", err)
	}
	sctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+credential))
	defer cancel()
	stream, err := src.Watch(sctx, cursor)
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		pe, err := stream.Recv()
		if err != nil {
			return n, err
		}
		e, err := Decode(src.Name, pe)
		if err != nil {
			// Without an id, tenant and cursor it cannot be delivered once;
			// the next good event's checkpoint moves past it.
			f.log.ErrorContext(ctx, "event skipped: malformed envelope", "source", src.Name, "cursor", pe.GetCursor(), "error", err.Error())
			continue
		}
		if e.TenantID != tenant {
			return n, fmt.Errorf("stream of tenant %s sent an event of %s", tenant, e.TenantID)
		}
		if _, err := f.store.Ingest(ctx, e); err != nil {
			return n, err
		}
		n++
	}
}

// cloudEvent is the JSON envelope a delivery sends (CloudEvents 1.0,
// structured mode). Extension attribute names are lower-case letters only,
// as the specification requires.
type cloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	TenantID        string          `json:"rapporttenantid"`
	PrincipalID     string          `json:"rapportprincipalid,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`
	DataBase64      []byte          `json:"data_base64,omitempty"`
}

// Decode reads an envelope from source and renders its delivery body. A
// payload of a type this binary does not know is sent as data_base64.
func Decode(source string, pe *eventsv1.Event) (delivery.Event, error) {
	e := delivery.Event{Source: source, Cursor: pe.GetCursor(), Type: pe.GetType(), Resource: pe.GetResource(), PrincipalID: pe.GetPrincipalId()}
	var err error
	if e.ID, err = uuid.Parse(pe.GetEventId()); err != nil {
		return e, fmt.Errorf("event_id: %w", err)
	}
	if e.TenantID, err = uuid.Parse(pe.GetTenantId()); err != nil {
		return e, fmt.Errorf("tenant_id: %w", err)
	}
	if e.Cursor == "" || e.Type == "" {
		return e, errors.New("no cursor or type")
	}
	if err := pe.GetTime().CheckValid(); err != nil {
		return e, fmt.Errorf("time: %w", err)
	}
	e.Time = pe.GetTime().AsTime()
	ce := cloudEvent{SpecVersion: "1.0", ID: e.ID.String(), Source: "rapport/" + source, Type: e.Type, Subject: e.Resource,
		Time: e.Time.UTC().Format(time.RFC3339Nano), DataContentType: "application/json", TenantID: e.TenantID.String(),
		PrincipalID: e.PrincipalID}
	if p := pe.GetPayload(); p != nil {
		msg, err := p.UnmarshalNew()
		if err == nil {
			ce.Data, err = protojson.Marshal(msg)
		}
		if err != nil {
			ce.Data, ce.DataBase64 = nil, p.GetValue()
		}
	}
	body, err := json.Marshal(ce)
	if err != nil {
		return e, fmt.Errorf("body: %w", err)
	}
	e.Body = string(body)
	return e, nil
}

// CustomerSource follows the customer service's events.
func CustomerSource(c customerv1.CustomerServiceClient) Source {
	return Source{Name: "customer", Watch: func(ctx context.Context, after string) (Stream, error) {
		return adapt(c.WatchEvents(ctx, &customerv1.WatchEventsRequest{AfterCursor: after}))
	}}
}

// PipelineSource follows the pipeline service's events.
func PipelineSource(c pipelinev1.PipelineServiceClient) Source {
	return Source{Name: "pipeline", Watch: func(ctx context.Context, after string) (Stream, error) {
		return adapt(c.WatchEvents(ctx, &pipelinev1.WatchEventsRequest{AfterCursor: after}))
	}}
}

// TicketSource follows the ticket service's events.
func TicketSource(c ticketv1.TicketServiceClient) Source {
	return Source{Name: "ticket", Watch: func(ctx context.Context, after string) (Stream, error) {
		return adapt(c.WatchEvents(ctx, &ticketv1.WatchEventsRequest{AfterCursor: after}))
	}}
}

// PartnerSource follows the channel-partner service's events.
func PartnerSource(c partnerv1.PartnerServiceClient) Source {
	return Source{Name: "partner", Watch: func(ctx context.Context, after string) (Stream, error) {
		return adapt(c.WatchEvents(ctx, &partnerv1.WatchEventsRequest{AfterCursor: after}))
	}}
}

// envelopes unwraps the event from a service's WatchEventsResponse.
type envelopes[R any, P interface {
	*R
	GetEvent() *eventsv1.Event
}] struct{ s grpc.ServerStreamingClient[R] }

// Recv implements Stream.
func (e envelopes[R, P]) Recv() (*eventsv1.Event, error) {
	m, err := e.s.Recv()
	if err != nil {
		return nil, err
	}
	return P(m).GetEvent(), nil
}

func adapt[R any, P interface {
	*R
	GetEvent() *eventsv1.Event
}](s grpc.ServerStreamingClient[R], err error) (Stream, error) {
	if err != nil {
		return nil, err
	}
	return envelopes[R, P]{s: s}, nil
}
