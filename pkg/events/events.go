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
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Envelope renders a stored event of source (a service slug).
func Envelope(source string, e outbox.Event) *eventsv1.Event {
	return &eventsv1.Event{
		EventId: e.EventID.String(), Cursor: e.Cursor, Type: e.Type, Source: source, Resource: e.Resource,
		TenantId: e.TenantID.String(), Time: timestamppb.New(e.Time), PrincipalId: e.PrincipalID,
		CausationId: e.CausationID, TraceParent: e.TraceParent,
		Payload: &anypb.Any{TypeUrl: "type.googleapis.com/" + e.PayloadType, Value: e.Payload},
	}
}

// Watchers are the roles that may read a whole tenant's event stream: the
// payloads carry every field of every resource.
var Watchers = []auth.Role{auth.RoleAdmin, auth.RoleAnalyst}

// Stream sends the caller's tenant's events after cursor, then follows new
// ones every poll, until ctx ends or send fails. A malformed cursor is a
// validation.Error on after_cursor; a caller without a Watchers role gets
// auth.ErrForbidden.
func Stream(ctx context.Context, pool *pgxpool.Pool, caller auth.Caller, source, cursor string, types []string, poll time.Duration, send func(*eventsv1.Event) error) error {
	if !caller.HasAny(Watchers...) {
		return auth.ErrForbidden
	}
	if cursor != "" && !outbox.ValidCursor(cursor) {
		return validation.Field("after_cursor", "is not a cursor from this stream")
	}
	return outbox.Watch(ctx, pool, caller.TenantID, cursor, types, poll, func(e outbox.Event) error {
		return send(Envelope(source, e))
	})
}
