package consumer

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/anypb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	eventsv1 "github.com/rapportcrm/rapport/gen/go/rapport/events/v1"
	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

// envelope reads what every event must carry to be applied exactly once
// and checkpointed: its id, tenant, cursor and time.
func envelope(source string, pe *eventsv1.Event) (analytics.Event, error) {
	e := analytics.Event{Source: source, Cursor: pe.GetCursor(), Type: pe.GetType()}
	e.Resource = pe.GetResource()
	var err error
	if e.ID, err = uuid.Parse(pe.GetEventId()); err != nil {
		return e, fmt.Errorf("event_id: %w", err)
	}
	if e.TenantID, err = uuid.Parse(pe.GetTenantId()); err != nil {
		return e, fmt.Errorf("tenant_id: %w", err)
	}
	if e.Cursor == "" {
		return e, errors.New("no cursor")
	}
	if err := pe.GetTime().CheckValid(); err != nil {
		return e, fmt.Errorf("time: %w", err)
	}
	e.Time = pe.GetTime().AsTime()
	return e, nil
}

// project decodes the payload of the event types the read model folds in,
// by type prefix: events carry the resource's full state, so creates and
// later updates decode alike. Events of sub-resources under the same prefix
// (such as "customer.segment.entered") carry other messages and, like other
// types, are left unprojected.
func project(e *analytics.Event, payload *anypb.Any) error {
	if e.Type == typeErased {
		// The erasure's payload is the anonymised customer: it erases, and
		// is not folded in as the customer's latest profile.
		var m customerv1.Customer
		if err := unmarshal(payload, &m); err != nil {
			return err
		}
		id, err := uuid.Parse(m.GetCustomerId())
		if err != nil {
			return fmt.Errorf("customer_id: %w", err)
		}
		e.Erasure = &analytics.Erasure{CustomerID: id}
		return nil
	}
	if err := projectFacts(e, payload); err != nil {
		return err
	}
	kind, _, _ := strings.Cut(e.Type, ".")
	if known, err := projectFigures(e, kind, payload); known {
		return err
	}
	switch {
	case kind == "opportunity" && payload.MessageIs(&pipelinev1.Opportunity{}):
		var m pipelinev1.Opportunity
		if err := payload.UnmarshalTo(&m); err != nil {
			return err
		}
		o, err := opportunity(&m)
		e.Opportunity = o
		return err
	case kind == "ticket" && payload.MessageIs(&ticketv1.Ticket{}):
		var m ticketv1.Ticket
		if err := payload.UnmarshalTo(&m); err != nil {
			return err
		}
		t, err := ticket(&m)
		e.Ticket = t
		return err
	case kind == "customer" && payload.MessageIs(&customerv1.Customer{}):
		var m customerv1.Customer
		if err := payload.UnmarshalTo(&m); err != nil {
			return err
		}
		id, err := uuid.Parse(m.GetCustomerId())
		if err != nil {
			return fmt.Errorf("customer_id: %w", err)
		}
		e.Customer = &analytics.Customer{ID: id, Deleted: m.GetDeleteTime() != nil}
	}
	return nil
}

func opportunity(m *pipelinev1.Opportunity) (*analytics.Opportunity, error) {
	id, err := uuid.Parse(m.GetOpportunityId())
	if err != nil {
		return nil, fmt.Errorf("opportunity_id: %w", err)
	}
	customer, err := uuid.Parse(m.GetCustomerId())
	if err != nil {
		return nil, fmt.Errorf("customer_id: %w", err)
	}
	if m.GetAmount() == nil {
		return nil, errors.New("no amount")
	}
	return &analytics.Opportunity{
		ID: id, CustomerID: customer, Stage: analytics.Stage(m.GetStage()),
		Amount: analytics.Money{CurrencyCode: m.GetAmount().GetCurrencyCode(), AmountMinor: m.GetAmount().GetAmountMinor()},
		Sales:  salesFacts(m),
	}, nil
}

func ticket(m *ticketv1.Ticket) (*analytics.Ticket, error) {
	id, err := uuid.Parse(m.GetTicketId())
	if err != nil {
		return nil, fmt.Errorf("ticket_id: %w", err)
	}
	customer, err := uuid.Parse(m.GetCustomerId())
	if err != nil {
		return nil, fmt.Errorf("customer_id: %w", err)
	}
	return &analytics.Ticket{ID: id, CustomerID: customer, Status: analytics.TicketStatus(m.GetStatus()), Service: serviceFacts(m)}, nil
}
