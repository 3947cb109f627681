// Package peerevents follows the ticket and pipeline services' WatchEvents
// streams for the follow-up plan runner. Peer streams are tenant-scoped, so
// each stream is opened with a short-lived token, signed here, for the
// runner's system principal in that tenant with the analyst role.
package peerevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/rapportcrm/rapport/gen/go/rapport/events/v1"
	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
	"github.com/rapportcrm/rapport/services/customer/internal/protoconv"
	"github.com/rapportcrm/rapport/services/customer/internal/relationship"
)

// Signer issues the stream tokens; *auth.Signer is one.
type Signer interface {
	Sign(c auth.Caller, now, expiry time.Time) (string, error)
}

// tokenTTL bounds a stream token's life: it is checked when the stream
// opens, and every reconnect signs a new one.
const tokenTTL = 5 * time.Minute

// stream is an open WatchEvents call of any service.
type stream interface {
	Recv() (*eventsv1.Event, error)
}

// Source follows one peer's stream.
type Source struct {
	source relationship.Source
	signer Signer
	log    *slog.Logger
	open   func(ctx context.Context, after string) (stream, error)
}

// Ticket follows the ticket service.
func Ticket(client ticketv1.TicketServiceClient, signer Signer, log *slog.Logger) *Source {
	return &Source{source: relationship.SourceTicket, signer: signer, log: log, open: func(ctx context.Context, after string) (stream, error) {
		return adapt(client.WatchEvents(ctx, &ticketv1.WatchEventsRequest{AfterCursor: after}))
	}}
}

// Pipeline follows the sales-pipeline service.
func Pipeline(client pipelinev1.PipelineServiceClient, signer Signer, log *slog.Logger) *Source {
	return &Source{source: relationship.SourcePipeline, signer: signer, log: log, open: func(ctx context.Context, after string) (stream, error) {
		return adapt(client.WatchEvents(ctx, &pipelinev1.WatchEventsRequest{AfterCursor: after}))
	}}
}

// Source implements relationship.EventSource.
func (s *Source) Source() relationship.Source { return s.source }

// Follow implements relationship.EventSource.
func (s *Source) Follow(ctx context.Context, tenant uuid.UUID, cursor string, fn func(relationship.Event) error) error {
	now := time.Now()
	token, err := s.signer.Sign(auth.Caller{
		TenantID: tenant.String(), PrincipalID: relationship.SystemPrincipal, Roles: []auth.Role{auth.RoleAnalyst},
	}, now, now.Add(tokenTTL))
	if err != nil {
		return fmt.Errorf("sign %s stream token: %w", s.source.Name(), err)
	}
	ctx, cancel := context.WithCancel(grpcclient.WithBearer(ctx, token))
	defer cancel()
	st, err := s.open(ctx, cursor)
	if err != nil {
		return fmt.Errorf("open %s stream: %w", s.source.Name(), err)
	}
	for {
		pe, err := st.Recv()
		if err != nil {
			return fmt.Errorf("%s stream: %w", s.source.Name(), err)
		}
		e, err := s.event(ctx, tenant, pe)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// event reads what a plan needs from a peer's envelope. An envelope that
// breaks the contract ends the stream (the runner reopens it); a payload
// that names no readable customer is logged and triggers nothing.
func (s *Source) event(ctx context.Context, tenant uuid.UUID, pe *eventsv1.Event) (relationship.Event, error) {
	id, err := uuid.Parse(pe.GetEventId())
	if err != nil {
		return relationship.Event{}, fmt.Errorf("%s event %q: bad event_id: %w", s.source.Name(), pe.GetCursor(), err)
	}
	if pe.GetTenantId() != tenant.String() {
		return relationship.Event{}, fmt.Errorf("%s event %s: belongs to another tenant", s.source.Name(), id)
	}
	if pe.GetCursor() == "" || pe.GetTime().CheckValid() != nil {
		return relationship.Event{}, fmt.Errorf("%s event %s: no cursor or time", s.source.Name(), id)
	}
	e := relationship.Event{ID: id, Cursor: pe.GetCursor(), Type: pe.GetType(), Time: pe.GetTime().AsTime(), PrincipalID: pe.GetPrincipalId()}
	payload := pe.GetPayload()
	typeName := payload.GetTypeUrl()[strings.LastIndexByte(payload.GetTypeUrl(), '/')+1:]
	if e.CustomerID, err = protoconv.EventCustomerID(typeName, payload.GetValue()); err != nil {
		s.log.ErrorContext(ctx, "follow-up plans: undecodable event", "source", s.source.Name(), "event_id", id.String(), "error", err.Error())
	}
	if s.source == relationship.SourceTicket && e.Type == relationship.EventDetractorRecorded {
		if e.Detractor, err = detractor(typeName, payload.GetValue()); err != nil {
			s.log.ErrorContext(ctx, "follow-up plans: undecodable detractor", "event_id", id.String(), "error", err.Error())
		}
	}
	return e, nil
}

// detractor reads a detractor event's payload.
func detractor(typeName string, payload []byte) (*relationship.Detractor, error) {
	var m ticketv1.Detractor
	if want := string(m.ProtoReflect().Descriptor().FullName()); typeName != want {
		return nil, fmt.Errorf("payload type %s, want %s", typeName, want)
	}
	if err := proto.Unmarshal(payload, &m); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	d := relationship.Detractor{NPS: m.GetKind() == ticketv1.SatisfactionKind_SATISFACTION_KIND_NPS, Score: m.GetScore()}
	var err error
	if d.SourceID, err = uuid.Parse(m.GetSourceId()); err != nil {
		return nil, fmt.Errorf("source_id: %w", err)
	}
	if !d.NPS {
		if d.TicketID, err = uuid.Parse(m.GetTicketId()); err != nil {
			return nil, fmt.Errorf("ticket_id: %w", err)
		}
	}
	return &d, nil
}

// responses unwraps the envelope from a service's own WatchEventsResponse.
type responses[R any, P interface {
	*R
	GetEvent() *eventsv1.Event
}] struct {
	stream grpc.ServerStreamingClient[R]
}

func (r responses[R, P]) Recv() (*eventsv1.Event, error) {
	m, err := r.stream.Recv()
	if err != nil {
		return nil, err
	}
	e := P(m).GetEvent()
	if e == nil {
		return nil, errors.New("response without an event")
	}
	return e, nil
}

func adapt[R any, P interface {
	*R
	GetEvent() *eventsv1.Event
}](s grpc.ServerStreamingClient[R], err error) (stream, error) {
	if err != nil {
		return nil, err
	}
	return responses[R, P]{stream: s}, nil
}
