package lead

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Rule assigns the new unowned leads of a territory round-robin to its
// assignees, passing over those who hold Capacity open leads already.
type Rule struct {
	ID          uuid.UUID
	Territory   string
	AssigneeIDs []uuid.UUID
	// Capacity is the most open leads an assignee may hold; 0 means no limit.
	Capacity   int32
	CreateTime time.Time
	UpdateTime time.Time
	Revision   int64
}

// Etag is the opaque concurrency token of the rule's current revision.
func (r Rule) Etag() string { return strconv.FormatInt(r.Revision, 10) }

// Resource is the rule's resource name.
func (r Rule) Resource() string { return "leadAssignmentRules/" + r.ID.String() }

// Errors of assignment rules.
var (
	ErrRuleNotFound = errors.New("lead assignment rule not found")
	// ErrTerritoryTaken means the territory has a rule already.
	ErrTerritoryTaken = errors.New("the territory has an assignment rule already")
)

// Events of assignment rules.
const (
	EventRuleCreated = "lead_assignment_rule.created"
	EventRuleUpdated = "lead_assignment_rule.updated"
)

const maxAssignees = 1000

// RulePage is one page of rules, newest first.
type RulePage struct {
	Rules         []Rule
	NextPageToken string
}

// RuleStore keeps assignment rules.
type RuleStore interface {
	// CreateRule stores r, or returns the rule an earlier create with the
	// same non-empty requestID made.
	CreateRule(ctx context.Context, caller auth.Caller, requestID string, r Rule) (Rule, error)
	ListRules(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) (RulePage, error)
	// MutateRule applies m to the rule under a row lock and saves it.
	MutateRule(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(*Rule) error) (Rule, error)
}

func (r Rule) validate(v *validation.Error) {
	length(v, "lead_assignment_rule.territory", r.Territory, maxShort*4)
	switch {
	case len(r.AssigneeIDs) == 0:
		v.Add("lead_assignment_rule.assignee_ids", "must name at least one principal")
	case len(r.AssigneeIDs) > maxAssignees:
		v.Add("lead_assignment_rule.assignee_ids", "must name at most %d principals", maxAssignees)
	}
	for i, id := range r.AssigneeIDs {
		if slices.Index(r.AssigneeIDs, id) != i {
			v.Add(fmt.Sprintf("lead_assignment_rule.assignee_ids[%d]", i), "is named twice")
		}
	}
	if r.Capacity < 0 {
		v.Add("lead_assignment_rule.capacity", "must not be negative")
	}
}

// CreateRule creates the assignment rule of a territory.
func (s *Service) CreateRule(ctx context.Context, caller auth.Caller, r Rule, requestID string) (Rule, error) {
	if err := allow(caller, admins); err != nil {
		return Rule{}, err
	}
	r.Territory = strings.TrimSpace(r.Territory)
	v := &validation.Error{}
	r.validate(v)
	length(v, "request_id", requestID, maxRequestID)
	if err := v.Err(); err != nil {
		return Rule{}, err
	}
	r.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateRule(ctx, caller, requestID, r)
}

// ListRules lists assignment rules, newest first.
func (s *Service) ListRules(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) (RulePage, error) {
	if err := allow(caller, admins); err != nil {
		return RulePage{}, err
	}
	n, err := pageSizeOf(pageSize)
	if err != nil {
		return RulePage{}, err
	}
	return s.store.ListRules(ctx, caller, n, pageToken)
}

// UpdateRule changes a rule's assignees or capacity (the fields in mask).
// The territory stays: a rule for another territory is another rule.
func (s *Service) UpdateRule(ctx context.Context, caller auth.Caller, id uuid.UUID, in Rule, mask []string, etag string) (Rule, error) {
	if err := allow(caller, admins); err != nil {
		return Rule{}, err
	}
	if err := checkMask(mask, []string{"assignee_ids", "capacity"}); err != nil {
		return Rule{}, err
	}
	return s.store.MutateRule(ctx, caller, id, func(r *Rule) error {
		if err := checkEtag(r.Etag(), etag); err != nil {
			return err
		}
		for _, f := range mask {
			switch f {
			case "assignee_ids":
				r.AssigneeIDs = in.AssigneeIDs
			case "capacity":
				r.Capacity = in.Capacity
			}
		}
		v := &validation.Error{}
		r.validate(v)
		return v.Err()
	})
}

// Assign picks whose turn it is among assignees, starting at turn and
// skipping those whose open-lead count (from openLeads) reached capacity.
// It returns the pick and the turn after it; ok is false when everyone is
// full. The store calls it with the rule locked, so turns never repeat.
func Assign(assignees []uuid.UUID, capacity int32, turn int, openLeads map[uuid.UUID]int) (pick uuid.UUID, next int, ok bool) {
	n := len(assignees)
	for i := range n {
		k := (turn + i) % n
		if k < 0 {
			k += n
		}
		if capacity == 0 || openLeads[assignees[k]] < int(capacity) {
			return assignees[k], (k + 1) % n, true
		}
	}
	return uuid.Nil, turn, false
}
