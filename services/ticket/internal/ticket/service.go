package ticket

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/ticket/internal/bizclock"
)

// Event types of tickets.
const (
	EventCreated       = "ticket.created"
	EventUpdated       = "ticket.updated"
	EventTransitioned  = "ticket.transitioned"
	EventFirstResponse = "ticket.first_responded"
)

// Who may do what. Sales staff log tickets for their accounts; analysts
// only read; partner users read the tickets the access policy shows them.
var (
	readers = []auth.Role{auth.RoleAdmin, auth.RoleSupportAgent, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleAnalyst}
	writers = []auth.Role{auth.RoleAdmin, auth.RoleSupportAgent, auth.RoleSalesManager, auth.RoleSalesRep}
	// ticketReaders read tickets and their public messages; the access
	// policy shows partner users only their partner's tickets, and only
	// when the tenant allows it.
	ticketReaders = append([]auth.Role{auth.RolePartnerUser}, readers...)
	// Calendars, policies and settings change every ticket's clock.
	configurers = []auth.Role{auth.RoleAdmin}
)

// Service holds the help desk use cases.
type Service struct {
	store     Store
	customers Customers
	partners  PartnerLinks
	segments  Segments
}

// New returns a Service over store that checks customers with customers,
// finds their partners with partners and lists segment members with
// segments.
func New(store Store, customers Customers, partners PartnerLinks, segments Segments) *Service {
	return &Service{store: store, customers: customers, partners: partners, segments: segments}
}

// now is the current time at the database's precision, so the times the
// clock derives survive a round trip unchanged.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

// Create validates and stores a new ticket for an existing customer.
func (s *Service) Create(ctx context.Context, caller auth.Caller, t Ticket, requestID string) (Ticket, error) {
	if err := allow(caller, writers); err != nil {
		return Ticket{}, err
	}
	t.normalize()
	v := &validation.Error{}
	t.validate("ticket.", v)
	if !slices.Contains(initialStatuses, t.Status) {
		v.Add("ticket.status", "a ticket starts new, open, pending customer or on hold; later statuses come from TransitionTicket")
	}
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Ticket{}, err
	}
	// A retry returns its first result before asking the customer service,
	// so it succeeds even if the customer was deleted since or the customer
	// service is briefly down. Store.Create still settles concurrent retries.
	if requestID != "" {
		earlier, err := s.store.ByRequestID(ctx, caller, requestID)
		if err == nil {
			return earlier, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return Ticket{}, err
		}
	}
	ok, err := s.customers.Exists(ctx, t.CustomerID)
	if err != nil {
		return Ticket{}, fmt.Errorf("check customer %s: %w", t.CustomerID, err)
	}
	if !ok {
		return Ticket{}, validation.Field("ticket.customer_id", "no such customer")
	}
	if t.CustomerPartnerIDs, err = s.partners.CustomerPartners(ctx, t.CustomerID); err != nil {
		return Ticket{}, fmt.Errorf("partners of customer %s: %w", t.CustomerID, err)
	}
	t.ID = uuid.Must(uuid.NewV7())
	t.CreateTime = now()
	p, err := s.store.MatchPolicy(ctx, caller, t.Priority, t.CustomerTier)
	switch {
	case err == nil:
		cal, err := s.clock(ctx, caller, p.CalendarID)
		if err != nil {
			return Ticket{}, err
		}
		t.startClock(p, cal, t.CreateTime)
	case !errors.Is(err, ErrPolicyNotFound):
		return Ticket{}, err
	}
	t.AssigneeID = uuid.Nil
	return s.store.CreateRouted(ctx, caller, t, requestID, routeTo(caller, AssignCreated, uuid.Nil, ""))
}

// Get returns a ticket.
func (s *Service) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Ticket, error) {
	if err := allow(caller, ticketReaders); err != nil {
		return Ticket{}, err
	}
	return s.store.Get(ctx, caller, id)
}

// Page sizes of List.
const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

// List returns a page of tickets, newest first.
func (s *Service) List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error) {
	if err := allow(caller, ticketReaders); err != nil {
		return Page{}, err
	}
	size, err := pageSizeOf(q.PageSize)
	if err != nil {
		return Page{}, err
	}
	q.PageSize = size
	return s.store.List(ctx, caller, q)
}

// initialStatuses are the statuses a ticket may be created in: an agent on
// the phone may open it at once or wait for the customer straight away.
var initialStatuses = []Status{StatusNew, StatusOpen, StatusPendingCustomer, StatusOnHold}

// transitions is the status machine: the statuses each status may move to.
var transitions = map[Status][]Status{
	StatusNew:             {StatusOpen, StatusPendingCustomer, StatusOnHold, StatusResolved},
	StatusOpen:            {StatusPendingCustomer, StatusOnHold, StatusResolved},
	StatusReopened:        {StatusOpen, StatusPendingCustomer, StatusOnHold, StatusResolved},
	StatusPendingCustomer: {StatusOpen, StatusOnHold, StatusResolved},
	StatusOnHold:          {StatusOpen, StatusPendingCustomer, StatusResolved},
	StatusResolved:        {StatusClosed, StatusReopened},
	StatusClosed:          {StatusReopened},
}

// clock loads a calendar's business-time arithmetic.
func (s *Service) clock(ctx context.Context, caller auth.Caller, id uuid.UUID) (bizclock.Calendar, error) {
	c, err := s.store.Calendar(ctx, caller, id)
	if err != nil {
		return bizclock.Calendar{}, fmt.Errorf("calendar of the SLA clock: %w", err)
	}
	return c.Clock()
}

func checkEtag(current, etag string) error {
	if etag != "" && etag != current {
		return fmt.Errorf("%w: current etag is %s", ErrEtagMismatch, current)
	}
	return nil
}

// updatable are the fields UpdateTicket changes. Priority changes keep the
// SLA targets the ticket was created with.
var updatable = []string{"subject", "description", "priority", "channel", "type", "contact_id", "order_id", "product_id", "tags", "attributes"}

// Update changes the fields in mask. An empty etag skips the concurrency check.
func (s *Service) Update(ctx context.Context, caller auth.Caller, in Ticket, mask []string, etag string) (Ticket, error) {
	if err := allow(caller, writers); err != nil {
		return Ticket{}, err
	}
	v := &validation.Error{}
	if len(mask) == 0 {
		v.Add("update_mask", "must name at least one field")
	}
	for _, f := range mask {
		if !slices.Contains(updatable, f) {
			v.Add("update_mask", "%q cannot be updated; updatable fields: %v", f, updatable)
		}
	}
	if err := v.Err(); err != nil {
		return Ticket{}, err
	}
	return s.store.Mutate(ctx, caller, in.ID, func(t *Ticket) (string, error) {
		if err := checkEtag(t.Etag(), etag); err != nil {
			return "", err
		}
		for _, f := range mask {
			applyField(t, in, f)
		}
		t.normalize()
		v := &validation.Error{}
		t.validate("ticket.", v)
		return EventUpdated, v.Err()
	})
}

func applyField(t *Ticket, in Ticket, field string) {
	switch field {
	case "subject":
		t.Subject = in.Subject
	case "description":
		t.Description = in.Description
	case "priority":
		t.Priority = in.Priority
	case "channel":
		t.Channel = in.Channel
	case "type":
		t.Type = in.Type
	case "contact_id":
		t.ContactID = in.ContactID
	case "order_id":
		t.OrderID = in.OrderID
	case "product_id":
		t.ProductID = in.ProductID
	case "tags":
		t.Tags = in.Tags
	case "attributes":
		t.Attributes = in.Attributes
	}
}

// TransitionRequest asks to move a ticket to another status.
type TransitionRequest struct {
	TicketID  uuid.UUID
	To        Status
	Note      string
	Etag      string
	RequestID string
}

// Transition moves a ticket along the status machine, logs the move, and
// pauses or resumes its SLA clock.
func (s *Service) Transition(ctx context.Context, caller auth.Caller, r TransitionRequest) (Ticket, error) {
	if err := allow(caller, writers); err != nil {
		return Ticket{}, err
	}
	r.Note = strings.TrimSpace(r.Note)
	v := &validation.Error{}
	if r.To < StatusNew || r.To > StatusReopened {
		v.Add("status", "is not a known status")
	}
	if r.To == StatusResolved && r.Note == "" {
		v.Add("note", "a resolution note is required to resolve a ticket")
	}
	if utf8.RuneCountInString(r.Note) > maxNote {
		v.Add("note", "must be at most %d characters", maxNote)
	}
	if utf8.RuneCountInString(r.RequestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Ticket{}, err
	}
	settings, err := s.store.Settings(ctx, caller)
	if err != nil {
		return Ticket{}, err
	}
	tr := Transition{ID: uuid.Must(uuid.NewV7()), Note: r.Note, PrincipalID: caller.PrincipalID, RequestID: r.RequestID}
	if r.To == StatusResolved {
		sv := newSurvey(r.TicketID, now(), settings.CSATTTL)
		tr.Survey = &sv
	}
	return s.store.Transition(ctx, caller, r.TicketID, tr, func(t *Ticket) error {
		if err := checkEtag(t.Etag(), r.Etag); err != nil {
			return err
		}
		if !slices.Contains(transitions[t.Status], r.To) {
			return fmt.Errorf("%w: from %s to %s", ErrTransitionNotAllowed, t.Status, r.To)
		}
		at := now()
		if r.To == StatusReopened && t.ResolveTime != nil && at.Sub(*t.ResolveTime) > settings.ReopenWindow {
			return fmt.Errorf("%w: resolved at %s, window %v", ErrReopenWindowPassed, t.ResolveTime.Format(time.RFC3339), settings.ReopenWindow)
		}
		if err := t.moveClock(r.To, at, func() (bizclock.Calendar, error) { return s.clock(ctx, caller, t.SLA.CalendarID) }); err != nil {
			return err
		}
		switch r.To {
		case StatusResolved:
			t.ResolveTime, t.ResolutionNote = &at, r.Note
		case StatusClosed:
			t.CloseTime = &at
		case StatusReopened:
			t.CloseTime = nil
		}
		t.Status = r.To
		t.SLA.NextDue = t.nextDue()
		return nil
	})
}

// Transitions lists a ticket's status log, oldest first.
func (s *Service) Transitions(ctx context.Context, caller auth.Caller, id uuid.UUID, pageSize int, pageToken string) ([]Transition, string, error) {
	if err := allow(caller, readers); err != nil {
		return nil, "", err
	}
	size, err := pageSizeOf(pageSize)
	if err != nil {
		return nil, "", err
	}
	return s.store.Transitions(ctx, caller, id, size, pageToken)
}

func pageSizeOf(n int) (int, error) {
	switch {
	case n < 0:
		return 0, validation.Field("page_size", "must not be negative")
	case n == 0:
		return defaultPageSize, nil
	case n > maxPageSize:
		return maxPageSize, nil
	}
	return n, nil
}

// RecordFirstResponse notes the first agent response, which stops the
// first-response clock; later calls change nothing.
func (s *Service) RecordFirstResponse(ctx context.Context, caller auth.Caller, id uuid.UUID) (Ticket, error) {
	if err := allow(caller, writers); err != nil {
		return Ticket{}, err
	}
	return s.store.Mutate(ctx, caller, id, func(t *Ticket) (string, error) {
		if t.FirstResponseTime != nil {
			return "", nil
		}
		at := now()
		t.FirstResponseTime = &at
		t.SLA.NextDue = t.nextDue()
		return EventFirstResponse, nil
	})
}

// SweepBatch is how many due tickets one sweep takes at most.
const SweepBatch = 500

// Sweep raises the SLA warnings and breaches due at now, across tenants,
// for up to SweepBatch tickets, and returns how many tickets it changed and
// how many it looked at. Each warning and breach is raised once: the marker
// is set in the transaction that records the event, on a row lock that
// other replicas skip.
func (s *Service) Sweep(ctx context.Context, at time.Time) (fired, seen int, err error) {
	refs, err := s.store.DueTickets(ctx, at, SweepBatch)
	if err != nil {
		return 0, 0, err
	}
	for _, ref := range refs {
		ok, err := s.store.Fire(ctx, ref, at, func(t *Ticket) []string { return t.fireSLA(at) })
		if err != nil {
			return fired, len(refs), fmt.Errorf("raise SLA events of ticket %s: %w", ref.TicketID, err)
		}
		if ok {
			fired++
		}
	}
	return fired, len(refs), nil
}

// SweepDue sweeps batch after batch until nothing due at at is left, or
// what is left is held by another replica, and returns how many tickets it
// changed. A failure ends it with what it changed so far.
func (s *Service) SweepDue(ctx context.Context, at time.Time) (int, error) {
	total := 0
	for {
		fired, seen, err := s.Sweep(ctx, at)
		total += fired
		// A full batch may have more behind it, unless another replica
		// holds the batch's rows.
		if err != nil || seen < SweepBatch || fired == 0 {
			return total, err
		}
	}
}

// WatchSLA sweeps at once, which raises whatever fell due while the service
// was down, then every interval until ctx ends. Failures are logged and
// retried at the next tick.
func (s *Service) WatchSLA(ctx context.Context, interval time.Duration, log *slog.Logger) {
	for {
		fired, err := s.SweepDue(ctx, now())
		if err != nil && ctx.Err() == nil {
			log.ErrorContext(ctx, "SLA sweep failed", "error", err)
		}
		if fired > 0 {
			log.InfoContext(ctx, "SLA events raised", "tickets", fired)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
