// Package events serves a service's outbox as the shared event envelope of
// the WatchEvents RPCs.
package events

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/rapportcrm/rapport/gen/go/rapport/events/v1"
	"github.com/rapportcrm/rapport/pkg/outbox"
)

// Envelope renders a stored event of source (a service slug).
func Envelope(source string, e outbox.Event) *eventsv1.Event {
	return &eventsv1.Event{
		EventId: e.EventID.String(), Cursor: e.Cursor, Type: e.Type, Source: source, Resource: e.Resource,
		TenantId: e.TenantID.String(), Time: timestamppb.New(e.Time), PrincipalId: e.PrincipalID,
		Payload: &anypb.Any{TypeUrl: "type.googleapis.com/" + e.PayloadType, Value: e.Payload},
	}
}

// Stream sends tenant's events after cursor, then follows new ones every
// poll, until ctx ends or send fails. A malformed cursor is outbox.ErrBadCursor.
func Stream(ctx context.Context, pool *pgxpool.Pool, tenant, source, cursor string, types []string, poll time.Duration, send func(*eventsv1.Event) error) error {
	return outbox.Watch(ctx, pool, tenant, cursor, types, poll, func(e outbox.Event) error {
		return send(Envelope(source, e))
	})
}
