// Package causation carries the id of what caused a request — for an
// automation rule's action, the action's id — from the caller, through
// gRPC metadata and the context, to the events the request's changes emit,
// so that a consumer can tell the changes it caused itself from the others
// without guessing from resource names or timing.
package causation

import (
	"context"

	"google.golang.org/grpc/metadata"
)

// Header is the gRPC metadata key a caller sets.
const Header = "rapport-causation-id"

// maxLen bounds an accepted id: it is stored with every event.
const maxLen = 64

type key struct{}

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, key{}, id)
}

// From returns the id ctx carries, or "".
func From(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}

// Outgoing returns ctx with id in the outgoing metadata of the calls made
// with it.
func Outgoing(ctx context.Context, id string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, Header, id)
}

// FromIncoming returns ctx carrying the id of the incoming metadata, if it
// has exactly one well-formed id (at most 64 letters, digits, '-', '_',
// '.', ':' or '/'); anything else is ignored rather than refused, since it
// only annotates the request.
func FromIncoming(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(Header)
	if len(vals) != 1 || !wellFormed(vals[0]) {
		return ctx
	}
	return With(ctx, vals[0])
}

func wellFormed(id string) bool {
	if id == "" || len(id) > maxLen {
		return false
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '-', r == '_', r == '.', r == ':', r == '/':
		default:
			return false
		}
	}
	return true
}
