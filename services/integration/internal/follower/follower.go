// Package follower takes the other services' events in for webhook
// delivery: for every tenant a directory lists, it reads each source's
// WatchEvents stream from the checkpoint the store keeps and hands every
// event to the store, which records it once and fans it out to the
// matching subscriptions in the same transaction as the new checkpoint.
//
// The tenants and the streams are pkg/eventfeed's, as for analytics.
package follower

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"

	eventsv1 "github.com/rapportcrm/rapport/gen/go/rapport/events/v1"
	"github.com/rapportcrm/rapport/pkg/eventfeed"
	"github.com/rapportcrm/rapport/services/integration/internal/delivery"
)

// Store is what the follower needs of storage.
type Store interface {
	Checkpoint(ctx context.Context, tenant uuid.UUID, source string) (string, error)
	Ingest(ctx context.Context, e delivery.Event) (int, error)
	// IngestBatch is Ingest of one stream's events in order, in one
	// transaction.
	IngestBatch(ctx context.Context, events []delivery.Event) (int, error)
}

// Config tunes a Follower.
type Config = eventfeed.FollowConfig

// Follower follows every source for every tenant of its directory.
type Follower struct {
	store   Store
	dir     eventfeed.Directory
	cfg     Config
	log     *slog.Logger
	sources []eventfeed.Source
}

// New returns a Follower.
func New(store Store, dir eventfeed.Directory, cfg Config, log *slog.Logger, sources ...eventfeed.Source) *Follower {
	return &Follower{store: store, dir: dir, cfg: cfg, log: log, sources: sources}
}

// Run follows until ctx ends, then returns nil. A directory that cannot be
// read is asked again at the next refresh; a tenant no longer listed stops
// being followed.
func (f *Follower) Run(ctx context.Context) error {
	eventfeed.Follow(ctx, f.dir, f.cfg, f.log, f, f.sources...)
	return nil
}

// Checkpoint implements eventfeed.Reader.
func (f *Follower) Checkpoint(ctx context.Context, tenant uuid.UUID, source string) (string, error) {
	return f.store.Checkpoint(ctx, tenant, source)
}

// Take implements eventfeed.Reader: it hands the event to the store.
func (f *Follower) Take(ctx context.Context, tenant uuid.UUID, source string, pe *eventsv1.Event) error {
	return f.TakeBatch(ctx, tenant, source, []*eventsv1.Event{pe})
}

// TakeBatch implements eventfeed.BatchReader: it hands the events to the
// store in one transaction.
func (f *Follower) TakeBatch(ctx context.Context, tenant uuid.UUID, source string, batch []*eventsv1.Event) error {
	events := make([]delivery.Event, 0, len(batch))
	for _, pe := range batch {
		e, err := Decode(source, pe)
		if err != nil {
			// Without an id, tenant and cursor it cannot be delivered once;
			// the next good event's checkpoint moves past it.
			f.log.ErrorContext(ctx, "event skipped: malformed envelope", "source", source, "cursor", pe.GetCursor(), "error", err.Error())
			continue
		}
		if e.TenantID != tenant {
			return fmt.Errorf("stream of tenant %s sent an event of %s", tenant, e.TenantID)
		}
		events = append(events, e)
	}
	_, err := f.store.IngestBatch(ctx, events)
	return err
}

// cloudEvent is the JSON envelope a delivery sends (CloudEvents 1.0,
// structured mode; traceparent is its distributed-tracing extension).
// Extension attribute names are lower-case letters only,
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
	CausationID     string          `json:"rapportcausationid,omitempty"`
	TraceParent     string          `json:"traceparent,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`
	DataBase64      []byte          `json:"data_base64,omitempty"`
}

// Decode reads an envelope from source and renders its delivery body. A
// payload of a type this binary does not know is sent as data_base64.
func Decode(source string, pe *eventsv1.Event) (delivery.Event, error) {
	e := delivery.Event{Source: source, Cursor: pe.GetCursor(), Type: pe.GetType(), Resource: pe.GetResource(), PrincipalID: pe.GetPrincipalId(),
		TraceParent: pe.GetTraceParent(), CausationID: pe.GetCausationId()}
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
		PrincipalID: e.PrincipalID, CausationID: e.CausationID, TraceParent: e.TraceParent}
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
