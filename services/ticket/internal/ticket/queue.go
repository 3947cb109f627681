package ticket

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Strategy is how a queue picks an agent; the numbers match the API's enum.
type Strategy int32

// Strategies.
const (
	StrategyUnspecified Strategy = iota
	StrategyRoundRobin
	StrategyLeastLoaded
	StrategyManual
)

// AssignReason says why a ticket changed hands; the numbers match the API's enum.
type AssignReason int32

// Assignment reasons.
const (
	AssignUnspecified AssignReason = iota
	AssignCreated
	AssignReassigned
	AssignEscalated
)

// Event types of queues and assignment.
const (
	EventQueueCreated       = "queue.created"
	EventQueueUpdated       = "queue.updated"
	EventQueueMemberSet     = "queue_member.set"
	EventQueueMemberRemoved = "queue_member.removed"
	// EventAssigned is recorded for reassignments; manual escalations record
	// EventEscalated like the SLA watcher's.
	EventAssigned = "ticket.assigned"
)

// Errors of queues and assignment.
var (
	ErrQueueNotFound = errors.New("queue not found")
	// ErrMemberNotFound means the principal is not a member of the queue.
	ErrMemberNotFound = errors.New("queue member not found")
	// ErrEscalationMaxed means the ticket is at the highest escalation level.
	ErrEscalationMaxed = errors.New("the ticket is at the highest escalation level")
	// ErrNotRouted means the ticket has no queue to assign or escalate within.
	ErrNotRouted = errors.New("the ticket is in no queue")
)

// Limits of queues and members.
const (
	maxQueueName      = 200
	maxSkills         = 20
	maxSkill          = 50
	maxRequiredSkills = 10
	defaultCapacity   = 10
	maxCapacity       = 1000
	maxMemberLevel    = 10
	maxAssignNote     = 1000
)

// Queue is a group of agents that works a kind of ticket.
type Queue struct {
	ID          uuid.UUID
	DisplayName string
	Strategy    Strategy
	// CalendarID gives members without their own calendar working hours;
	// uuid.Nil means always available.
	CalendarID uuid.UUID
	// EscalationQueueID is where escalations go; uuid.Nil keeps them here.
	EscalationQueueID uuid.UUID
	CreateTime        time.Time
	UpdateTime        time.Time
	Revision          int64
}

// Etag is the queue's concurrency token.
func (q Queue) Etag() string { return fmt.Sprint(q.Revision) }

// Resource is the queue's resource name.
func (q Queue) Resource() string { return "queues/" + q.ID.String() }

func (q *Queue) normalize() {
	q.DisplayName = strings.TrimSpace(q.DisplayName)
	if q.Strategy == StrategyUnspecified {
		q.Strategy = StrategyRoundRobin
	}
}

func (q Queue) validate(prefix string, v *validation.Error) {
	switch {
	case q.DisplayName == "":
		v.Add(prefix+"display_name", "is required")
	case utf8.RuneCountInString(q.DisplayName) > maxQueueName:
		v.Add(prefix+"display_name", "must be at most %d characters", maxQueueName)
	}
	if q.Strategy < StrategyRoundRobin || q.Strategy > StrategyManual {
		v.Add(prefix+"strategy", "is not a known strategy")
	}
	if q.ID != uuid.Nil && q.EscalationQueueID == q.ID {
		v.Add(prefix+"escalation_queue_id", "must be another queue")
	}
}

// Member is an agent of a queue.
type Member struct {
	QueueID     uuid.UUID
	PrincipalID uuid.UUID
	Skills      []string
	Capacity    int32
	// CalendarID is the agent's own working hours; uuid.Nil: the queue's.
	CalendarID     uuid.UUID
	Level          int32
	LastAssignTime *time.Time
	CreateTime     time.Time
}

// Resource is the member's resource name.
func (m Member) Resource() string {
	return "queues/" + m.QueueID.String() + "/members/" + m.PrincipalID.String()
}

func cleanSkills(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s = strings.ToLower(strings.TrimSpace(s)); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func validSkills(skills []string, limit int, field string, v *validation.Error) {
	if len(skills) > limit {
		v.Add(field, "must hold at most %d skills", limit)
	}
	for i, s := range skills {
		if s == "" || utf8.RuneCountInString(s) > maxSkill {
			v.Add(fmt.Sprintf("%s[%d]", field, i), "must be 1 to %d characters", maxSkill)
		}
	}
}

// Candidate is a member as assignment sees it: with its current load and the
// calendar whose working hours apply.
type Candidate struct {
	Member
	// OpenTickets counts the member's assigned tickets that are not
	// resolved or closed, in any queue.
	OpenTickets int
	// Calendar is the member's or else the queue's calendar; nil: always working.
	Calendar *Calendar
}

// pick chooses the agent for t among cands by strategy: members who have
// the skills, handle the escalation level, have room under their capacity
// and are within working hours at now. Round robin takes the one assigned
// longest ago; least loaded the one with the fewest open tickets, then the
// one assigned longest ago. The principal id breaks remaining ties, so the
// choice is deterministic. It returns uuid.Nil when nobody qualifies.
func pick(strategy Strategy, t Ticket, cands []Candidate, now time.Time) (uuid.UUID, error) {
	if strategy == StrategyManual {
		return uuid.Nil, nil
	}
	var best *Candidate
	for i := range cands {
		c := &cands[i]
		ok, err := eligible(*c, t, now)
		if err != nil {
			return uuid.Nil, err
		}
		if ok && (best == nil || before(strategy, *c, *best)) {
			best = c
		}
	}
	if best == nil {
		return uuid.Nil, nil
	}
	return best.PrincipalID, nil
}

func eligible(c Candidate, t Ticket, now time.Time) (bool, error) {
	if c.OpenTickets >= int(c.Capacity) || c.Level < t.EscalationLevel {
		return false, nil
	}
	for _, s := range t.RequiredSkills {
		if !slices.Contains(c.Skills, s) {
			return false, nil
		}
	}
	if c.Calendar == nil {
		return true, nil
	}
	clock, err := c.Calendar.Clock()
	if err != nil {
		return false, err
	}
	// Working now means the next minute counts as business time.
	return clock.Between(now, now.Add(time.Minute)) > 0, nil
}

// before reports whether a goes before b under strategy.
func before(strategy Strategy, a, b Candidate) bool {
	if strategy == StrategyLeastLoaded && a.OpenTickets != b.OpenTickets {
		return a.OpenTickets < b.OpenTickets
	}
	switch {
	case a.LastAssignTime == nil && b.LastAssignTime != nil:
		return true
	case a.LastAssignTime != nil && b.LastAssignTime == nil:
		return false
	case a.LastAssignTime != nil && !a.LastAssignTime.Equal(*b.LastAssignTime):
		return a.LastAssignTime.Before(*b.LastAssignTime)
	}
	return strings.Compare(a.PrincipalID.String(), b.PrincipalID.String()) < 0
}

// Assignment is one entry of a ticket's assignment log.
type Assignment struct {
	ID                 uuid.UUID
	TicketID           uuid.UUID
	QueueID            uuid.UUID
	AssigneeID         uuid.UUID
	PreviousAssigneeID uuid.UUID
	Reason             AssignReason
	EscalationLevel    int32
	Note               string
	PrincipalID        string
	CreateTime         time.Time
}

// Routing is what the store hands an assignment decision: the target queue
// and its candidates, loaded and locked in the ticket's transaction.
type Routing struct {
	Queue      Queue
	Candidates []Candidate
}

// Route decides a ticket's assignee given its queue's routing; the store
// calls it inside the transaction that saves the ticket, with the queue row
// locked, so concurrent assignments to one queue see each other's load.
type Route func(t *Ticket, r Routing) (Assignment, error)

// QueueStore keeps queues and members, scoped to the caller's tenant.
type QueueStore interface {
	CreateQueue(ctx context.Context, caller auth.Caller, q Queue, requestID string) (Queue, error)
	Queue(ctx context.Context, caller auth.Caller, id uuid.UUID) (Queue, error)
	ListQueues(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) ([]Queue, string, error)
	MutateQueue(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(*Queue) error) (Queue, error)
	// SetMember inserts or replaces m; ErrQueueNotFound when the queue is missing.
	SetMember(ctx context.Context, caller auth.Caller, m Member) (Member, error)
	RemoveMember(ctx context.Context, caller auth.Caller, queueID, principalID uuid.UUID) error
	ListMembers(ctx context.Context, caller auth.Caller, queueID uuid.UUID, pageSize int, pageToken string) ([]Member, string, error)
	// Reassign locks the ticket, lets target pick the queue to route in
	// (uuid.Nil: no routing), loads and locks that queue's routing, lets
	// route decide, and saves the ticket with the assignment logged and
	// event recorded.
	Reassign(ctx context.Context, caller auth.Caller, id uuid.UUID, target func(*Ticket) (uuid.UUID, error), route Route, event string) (Ticket, error)
	Assignments(ctx context.Context, caller auth.Caller, id uuid.UUID, pageSize int, pageToken string) ([]Assignment, string, error)
}

// CreateQueue validates and stores a queue (admins).
func (s *Service) CreateQueue(ctx context.Context, caller auth.Caller, q Queue, requestID string) (Queue, error) {
	if err := allow(caller, configurers); err != nil {
		return Queue{}, err
	}
	q.normalize()
	v := &validation.Error{}
	q.validate("queue.", v)
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Queue{}, err
	}
	q.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateQueue(ctx, caller, q, requestID)
}

// Queue returns a queue.
func (s *Service) Queue(ctx context.Context, caller auth.Caller, id uuid.UUID) (Queue, error) {
	if err := allow(caller, readers); err != nil {
		return Queue{}, err
	}
	return s.store.Queue(ctx, caller, id)
}

// ListQueues returns a page of queues, newest first.
func (s *Service) ListQueues(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) ([]Queue, string, error) {
	if err := allow(caller, readers); err != nil {
		return nil, "", err
	}
	size, err := pageSizeOf(pageSize)
	if err != nil {
		return nil, "", err
	}
	return s.store.ListQueues(ctx, caller, size, pageToken)
}

var queueUpdatable = []string{"display_name", "strategy", "calendar_id", "escalation_queue_id"}

// UpdateQueue changes the fields in mask (admins).
func (s *Service) UpdateQueue(ctx context.Context, caller auth.Caller, in Queue, mask []string, etag string) (Queue, error) {
	if err := allow(caller, configurers); err != nil {
		return Queue{}, err
	}
	if err := checkMask(mask, queueUpdatable); err != nil {
		return Queue{}, err
	}
	return s.store.MutateQueue(ctx, caller, in.ID, func(q *Queue) error {
		if err := checkEtag(q.Etag(), etag); err != nil {
			return err
		}
		for _, f := range mask {
			switch f {
			case "display_name":
				q.DisplayName = in.DisplayName
			case "strategy":
				q.Strategy = in.Strategy
			case "calendar_id":
				q.CalendarID = in.CalendarID
			case "escalation_queue_id":
				q.EscalationQueueID = in.EscalationQueueID
			}
		}
		q.normalize()
		v := &validation.Error{}
		q.validate("queue.", v)
		return v.Err()
	})
}

// SetMember adds an agent to a queue or replaces its settings (admins).
func (s *Service) SetMember(ctx context.Context, caller auth.Caller, m Member) (Member, error) {
	if err := allow(caller, configurers); err != nil {
		return Member{}, err
	}
	m.Skills = cleanSkills(m.Skills)
	if m.Capacity == 0 {
		m.Capacity = defaultCapacity
	}
	v := &validation.Error{}
	if m.PrincipalID == uuid.Nil {
		v.Add("member.principal_id", "is required")
	}
	validSkills(m.Skills, maxSkills, "member.skills", v)
	if m.Capacity < 1 || m.Capacity > maxCapacity {
		v.Add("member.capacity", "must be 1 to %d", maxCapacity)
	}
	if m.Level < 0 || m.Level > maxMemberLevel {
		v.Add("member.level", "must be 0 to %d", maxMemberLevel)
	}
	if err := v.Err(); err != nil {
		return Member{}, err
	}
	return s.store.SetMember(ctx, caller, m)
}

// RemoveMember takes an agent off a queue (admins).
func (s *Service) RemoveMember(ctx context.Context, caller auth.Caller, queueID, principalID uuid.UUID) error {
	if err := allow(caller, configurers); err != nil {
		return err
	}
	return s.store.RemoveMember(ctx, caller, queueID, principalID)
}

// ListMembers returns a page of a queue's members by principal id.
func (s *Service) ListMembers(ctx context.Context, caller auth.Caller, queueID uuid.UUID, pageSize int, pageToken string) ([]Member, string, error) {
	if err := allow(caller, readers); err != nil {
		return nil, "", err
	}
	size, err := pageSizeOf(pageSize)
	if err != nil {
		return nil, "", err
	}
	return s.store.ListMembers(ctx, caller, queueID, size, pageToken)
}

// routeTo returns the Route that records an assignment for reason, giving
// the ticket to assignee when set (who must be a member of the queue) or
// to whoever the queue's strategy picks.
func routeTo(caller auth.Caller, reason AssignReason, assignee uuid.UUID, note string) Route {
	return func(t *Ticket, r Routing) (Assignment, error) {
		at := now()
		next := assignee
		if next != uuid.Nil {
			if !slices.ContainsFunc(r.Candidates, func(c Candidate) bool { return c.PrincipalID == next }) {
				return Assignment{}, fmt.Errorf("%w: %s in queue %s", ErrMemberNotFound, next, r.Queue.ID)
			}
		} else {
			var err error
			if next, err = pick(r.Queue.Strategy, *t, r.Candidates, at); err != nil {
				return Assignment{}, err
			}
		}
		a := Assignment{
			ID: uuid.Must(uuid.NewV7()), TicketID: t.ID, QueueID: r.Queue.ID, AssigneeID: next,
			PreviousAssigneeID: t.AssigneeID, Reason: reason, EscalationLevel: t.EscalationLevel,
			Note: note, PrincipalID: caller.PrincipalID, CreateTime: at,
		}
		t.QueueID, t.AssigneeID = r.Queue.ID, next
		return a, nil
	}
}

// AssignRequest moves a ticket to a queue and an agent.
type AssignRequest struct {
	TicketID   uuid.UUID
	QueueID    uuid.UUID // uuid.Nil: the ticket's queue
	AssigneeID uuid.UUID // uuid.Nil: the strategy picks
	Note       string
	Etag       string
}

// Assign reassigns a ticket (agents and managers).
func (s *Service) Assign(ctx context.Context, caller auth.Caller, r AssignRequest) (Ticket, error) {
	if err := allow(caller, writers); err != nil {
		return Ticket{}, err
	}
	r.Note = strings.TrimSpace(r.Note)
	if utf8.RuneCountInString(r.Note) > maxAssignNote {
		return Ticket{}, validation.Field("note", "must be at most %d characters", maxAssignNote)
	}
	return s.store.Reassign(ctx, caller, r.TicketID, func(t *Ticket) (uuid.UUID, error) {
		if err := checkEtag(t.Etag(), r.Etag); err != nil {
			return uuid.Nil, err
		}
		q := r.QueueID
		if q == uuid.Nil {
			q = t.QueueID
		}
		if q == uuid.Nil {
			return uuid.Nil, ErrNotRouted
		}
		return q, nil
	}, routeTo(caller, AssignReassigned, r.AssigneeID, r.Note), EventAssigned)
}

// Escalate raises a ticket's escalation level and reassigns it: to the
// queue's escalation queue if it has one, else within the queue.
func (s *Service) Escalate(ctx context.Context, caller auth.Caller, id uuid.UUID, note, etag string) (Ticket, error) {
	if err := allow(caller, writers); err != nil {
		return Ticket{}, err
	}
	note = strings.TrimSpace(note)
	v := &validation.Error{}
	if note == "" {
		v.Add("note", "is required: say why the ticket is escalated")
	}
	if utf8.RuneCountInString(note) > maxAssignNote {
		v.Add("note", "must be at most %d characters", maxAssignNote)
	}
	if err := v.Err(); err != nil {
		return Ticket{}, err
	}
	return s.store.Reassign(ctx, caller, id, func(t *Ticket) (uuid.UUID, error) {
		if err := checkEtag(t.Etag(), etag); err != nil {
			return uuid.Nil, err
		}
		if t.QueueID == uuid.Nil {
			return uuid.Nil, ErrNotRouted
		}
		if t.EscalationLevel >= maxEscalationLevel {
			return uuid.Nil, ErrEscalationMaxed
		}
		q, err := s.store.Queue(ctx, caller, t.QueueID)
		if err != nil {
			return uuid.Nil, err
		}
		t.EscalationLevel++
		if q.EscalationQueueID != uuid.Nil {
			return q.EscalationQueueID, nil
		}
		return q.ID, nil
	}, routeTo(caller, AssignEscalated, uuid.Nil, note), EventEscalated)
}

// Assignments lists a ticket's assignment log, oldest first.
func (s *Service) Assignments(ctx context.Context, caller auth.Caller, id uuid.UUID, pageSize int, pageToken string) ([]Assignment, string, error) {
	if err := allow(caller, readers); err != nil {
		return nil, "", err
	}
	size, err := pageSizeOf(pageSize)
	if err != nil {
		return nil, "", err
	}
	return s.store.Assignments(ctx, caller, id, size, pageToken)
}
