package ticket

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Grouping says whom quality figures are for; the numbers match the API's enum.
type Grouping int32

// Groupings.
const (
	GroupUnspecified Grouping = iota
	GroupAgent
	GroupQueue
)

// Figures are one agent's or queue's quality figures. Times are wall-clock:
// the tickets' SLA clocks say whether business-time targets were met.
type Figures struct {
	// GroupID is the assignee or queue; uuid.Nil for tickets without one.
	GroupID  uuid.UUID
	Tickets  int64
	Resolved int64
	// Percentiles are exact (percentile_cont over every ticket); zero when
	// no ticket had the time.
	FirstResponseP50, FirstResponseP90 time.Duration
	ResolutionP50, ResolutionP90       time.Duration
	// SLATickets had a target; SLAMet of them never breached one.
	SLATickets, SLAMet int64
	CSATAverage        float64
	CSATAnswers        int64
	// Reopened counts resolved tickets that were ever reopened;
	// FirstContact resolved tickets that never were and got at most one
	// public agent reply: the customer's issue settled in one exchange.
	Reopened, FirstContact int64
}

// QualityQuery selects tickets created in [Start, End).
type QualityQuery struct {
	GroupBy    Grouping
	Start, End time.Time
}

// QualityStore computes quality figures.
type QualityStore interface {
	Quality(ctx context.Context, caller auth.Caller, q QualityQuery) ([]Figures, error)
}

// maxQualityRange bounds one computation's scan.
const maxQualityRange = 366 * 24 * time.Hour

// quality readers: agents see their own queues' figures (the access policy
// narrows the tickets), managers and analysts all.
var qualityReaders = []auth.Role{auth.RoleAdmin, auth.RoleSupportAgent, auth.RoleSalesManager, auth.RoleAnalyst}

// Quality computes per-agent or per-queue figures over tickets created in
// the range.
func (s *Service) Quality(ctx context.Context, caller auth.Caller, q QualityQuery) ([]Figures, error) {
	if err := allow(caller, qualityReaders); err != nil {
		return nil, err
	}
	v := &validation.Error{}
	if q.GroupBy != GroupAgent && q.GroupBy != GroupQueue {
		v.Add("group_by", "must be QUALITY_GROUPING_AGENT or QUALITY_GROUPING_QUEUE")
	}
	switch {
	case q.Start.IsZero() || q.End.IsZero():
		v.Add("start_time", "start_time and end_time are required")
	case !q.Start.Before(q.End):
		v.Add("end_time", "must be after start_time")
	case q.End.Sub(q.Start) > maxQualityRange:
		v.Add("end_time", "the range may span at most %v", maxQualityRange)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return s.store.Quality(ctx, caller, q)
}

// Imported is one row of an import.
type Imported struct {
	ExternalID string
	Ticket     Ticket
	// CSATScore is the source's answer (1 to 5), 0 if none.
	CSATScore int32
}

// ImportResult is the outcome of one row.
type ImportResult struct {
	ExternalID string
	TicketID   uuid.UUID
	Created    bool
}

// ImportStore writes imports.
type ImportStore interface {
	// Import inserts each row's ticket (and its answered survey) unless a
	// ticket with its external id exists, in one transaction, recording
	// EventImported per new ticket.
	Import(ctx context.Context, caller auth.Caller, rows []Imported) ([]ImportResult, error)
}

// EventImported is recorded for each ticket an import creates.
const EventImported = "ticket.imported"

// Limits of imports.
const (
	maxImportRows  = 500
	maxExternalID  = 64
	importFieldFmt = "tickets[%d]."
)

// Import creates tickets with their history from another system (admins).
// Imported tickets get no SLA clock: their targets would judge the past by
// today's policies. Statuses are taken as given.
func (s *Service) Import(ctx context.Context, caller auth.Caller, rows []Imported) ([]ImportResult, error) {
	if err := allow(caller, configurers); err != nil {
		return nil, err
	}
	v := &validation.Error{}
	if len(rows) == 0 || len(rows) > maxImportRows {
		v.Add("tickets", "must hold 1 to %d rows", maxImportRows)
	}
	seen := map[string]bool{}
	at := now()
	for i := range rows {
		r := &rows[i]
		p := fmt.Sprintf(importFieldFmt, i)
		r.ExternalID = strings.TrimSpace(r.ExternalID)
		switch {
		case r.ExternalID == "" || utf8.RuneCountInString(r.ExternalID) > maxExternalID:
			v.Add(p+"external_id", "must be 1 to %d characters", maxExternalID)
		case seen[r.ExternalID]:
			v.Add(p+"external_id", "repeats an earlier row")
		}
		seen[r.ExternalID] = true
		t := &r.Ticket
		t.normalize()
		t.validate(p+"ticket.", v)
		if t.CreateTime.IsZero() {
			t.CreateTime = at
		}
		t.CreateTime = t.CreateTime.UTC().Truncate(time.Microsecond)
		if t.CreateTime.After(at) {
			v.Add(p+"create_time", "must not be in the future")
		}
		for name, tm := range map[string]*time.Time{"first_response_time": t.FirstResponseTime, "resolve_time": t.ResolveTime} {
			if tm != nil && (tm.Before(t.CreateTime) || tm.After(at)) {
				v.Add(p+name, "must be between create_time and now")
			}
		}
		if (t.Status == StatusResolved || t.Status == StatusClosed) && t.ResolveTime == nil {
			t.ResolveTime = &t.CreateTime
		}
		if t.Status == StatusClosed {
			t.CloseTime = t.ResolveTime
		}
		if r.CSATScore != 0 && (r.CSATScore < 1 || r.CSATScore > 5 || t.ResolveTime == nil) {
			v.Add(p+"csat_score", "must be 1 to 5, on a resolved or closed ticket")
		}
		t.ExternalID = r.ExternalID
		t.ID = uuid.Must(uuid.NewV7())
		t.SLA = SLA{}
		t.QueueID, t.AssigneeID = uuid.Nil, uuid.Nil
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := s.checkCustomers(ctx, rows); err != nil {
		return nil, err
	}
	return s.store.Import(ctx, caller, rows)
}

// checkCustomers asks once per distinct customer whether it exists.
func (s *Service) checkCustomers(ctx context.Context, rows []Imported) error {
	known := map[uuid.UUID]bool{}
	v := &validation.Error{}
	for i, r := range rows {
		id := r.Ticket.CustomerID
		ok, asked := known[id]
		if !asked {
			var err error
			if ok, err = s.customers.Exists(ctx, id); err != nil {
				return fmt.Errorf("check customer %s: %w", id, err)
			}
			known[id] = ok
		}
		if !ok {
			v.Add(fmt.Sprintf(importFieldFmt, i)+"ticket.customer_id", "no such customer")
		}
	}
	return v.Err()
}
