// Package feed follows the customer and ticket services' event streams for
// the partner service's help-desk satisfaction projection: for every tenant
// a directory lists, it reads each stream from the checkpoint the store
// keeps and applies each event with its new checkpoint in one transaction.
// The tenants and the streams are pkg/eventfeed's, as for analytics.
package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	eventsv1 "github.com/rapportcrm/rapport/gen/go/rapport/events/v1"
	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/eventfeed"
	"github.com/rapportcrm/rapport/services/partner/internal/satisfaction"
)

// Event types the projection reads (the customer and ticket services').
const (
	eventLinked       = "customer.partner_linked"
	eventUnlinked     = "customer.partner_unlinked"
	eventCSATAnswered = "csat_survey.answered"
	eventNPSAnswered  = "nps_survey.answered"
)

// Config tunes a Follower.
type Config = eventfeed.FollowConfig

// Follower follows the sources for every tenant of its directory.
type Follower struct {
	store   satisfaction.Store
	dir     eventfeed.Directory
	cfg     Config
	log     *slog.Logger
	sources []eventfeed.Source
}

// New returns a Follower of sources (the customer and ticket streams).
func New(store satisfaction.Store, dir eventfeed.Directory, cfg Config, log *slog.Logger, sources ...eventfeed.Source) *Follower {
	return &Follower{store: store, dir: dir, cfg: cfg, log: log, sources: sources}
}

// Run follows until ctx ends, then returns nil.
func (f *Follower) Run(ctx context.Context) error {
	eventfeed.Follow(ctx, f.dir, f.cfg, f.log, f, f.sources...)
	return nil
}

// Checkpoint implements eventfeed.Reader.
func (f *Follower) Checkpoint(ctx context.Context, tenant uuid.UUID, source string) (string, error) {
	return f.store.Checkpoint(ctx, tenant, source)
}

// Take implements eventfeed.Reader: it applies the event with its cursor.
func (f *Follower) Take(ctx context.Context, tenant uuid.UUID, source string, e *eventsv1.Event) error {
	if e.GetTenantId() != tenant.String() {
		return fmt.Errorf("stream of tenant %s sent an event of %s", tenant, e.GetTenantId())
	}
	c, err := Decode(e)
	if err != nil {
		// A payload that does not decode cannot be projected; the
		// checkpoint moves past it so that the stream does not stall.
		f.log.ErrorContext(ctx, "event not projected: malformed payload", "source", source, "type", e.GetType(),
			"cursor", e.GetCursor(), "error", err.Error())
	}
	return f.store.Apply(ctx, tenant, source, e.GetCursor(), c)
}

// Decode says what an event means to the projection: the zero Change for
// the types it ignores.
func Decode(e *eventsv1.Event) (satisfaction.Change, error) {
	switch e.GetType() {
	case eventLinked, eventUnlinked:
		var m customerv1.CustomerPartnerLink
		if err := e.GetPayload().UnmarshalTo(&m); err != nil {
			return satisfaction.Change{}, fmt.Errorf("%s payload: %w", e.GetType(), err)
		}
		customer, err1 := uuid.Parse(m.GetCustomerId())
		partner, err2 := uuid.Parse(m.GetPartnerId())
		if err := errors.Join(err1, err2); err != nil {
			return satisfaction.Change{}, fmt.Errorf("%s payload: %w", e.GetType(), err)
		}
		if m.GetLinkTime() == nil {
			return satisfaction.Change{}, fmt.Errorf("%s payload without a link time", e.GetType())
		}
		l := satisfaction.Link{CustomerID: customer, PartnerID: partner, LinkTime: m.GetLinkTime().AsTime()}
		if e.GetType() == eventLinked {
			return satisfaction.Change{Linked: &l}, nil
		}
		if e.GetTime() == nil {
			return satisfaction.Change{}, errors.New("unlink event without a time")
		}
		return satisfaction.Change{Unlinked: &satisfaction.Unlink{Link: l, UnlinkTime: e.GetTime().AsTime()}}, nil
	case eventCSATAnswered:
		var m ticketv1.TicketCsatSurvey
		if err := e.GetPayload().UnmarshalTo(&m); err != nil {
			return satisfaction.Change{}, fmt.Errorf("%s payload: %w", e.GetType(), err)
		}
		ticket, err := uuid.Parse(m.GetTicketId())
		if err != nil || m.GetSurveyId() == "" || m.GetAnswerTime() == nil {
			return satisfaction.Change{}, fmt.Errorf("%s payload: ticket id %q, survey %q, answer time set %t", e.GetType(),
				m.GetTicketId(), m.GetSurveyId(), m.GetAnswerTime() != nil)
		}
		return satisfaction.Change{Answer: &satisfaction.Answer{Kind: satisfaction.KindCSAT, Key: m.GetSurveyId(), TicketID: ticket,
			Score: int(m.GetScore()), AnswerTime: m.GetAnswerTime().AsTime()}}, nil
	case eventNPSAnswered:
		var m ticketv1.NpsResponse
		if err := e.GetPayload().UnmarshalTo(&m); err != nil {
			return satisfaction.Change{}, fmt.Errorf("%s payload: %w", e.GetType(), err)
		}
		customer, err := uuid.Parse(m.GetCustomerId())
		if err != nil || m.GetNpsSurveyId() == "" {
			return satisfaction.Change{}, fmt.Errorf("%s payload: customer id %q, survey %q", e.GetType(), m.GetCustomerId(), m.GetNpsSurveyId())
		}
		at := e.GetTime()
		if m.GetAnswerTime() != nil {
			at = m.GetAnswerTime()
		}
		if at == nil {
			return satisfaction.Change{}, errors.New("nps answer without a time")
		}
		return satisfaction.Change{Answer: &satisfaction.Answer{Kind: satisfaction.KindNPS, Key: m.GetNpsSurveyId() + "/" + m.GetCustomerId(),
			CustomerID: customer, Score: int(m.GetScore()), AnswerTime: at.AsTime()}}, nil
	}
	if e.GetPayload().MessageIs(&ticketv1.Ticket{}) {
		var m ticketv1.Ticket
		if err := e.GetPayload().UnmarshalTo(&m); err != nil {
			return satisfaction.Change{}, fmt.Errorf("%s payload: %w", e.GetType(), err)
		}
		ticket, err1 := uuid.Parse(m.GetTicketId())
		customer, err2 := uuid.Parse(m.GetCustomerId())
		if err1 != nil || err2 != nil {
			// A ticket of no customer has no partner to credit.
			return satisfaction.Change{}, nil
		}
		return satisfaction.Change{Ticket: &satisfaction.Ticket{TicketID: ticket, CustomerID: customer}}, nil
	}
	return satisfaction.Change{}, nil
}
