// Package classify sorts customers: lifecycle stage transitions with their
// log, value tiers set by tenant rules or by hand, and dynamic segments
// whose membership follows the data.
package classify

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
)

// Event types the classification emits (customer.updated-style events of
// the customer itself come from the customer package).
const (
	EventStageChanged   = "customer.lifecycle_stage.changed"
	EventTierChanged    = "customer.value_tier.changed"
	EventSegmentEntered = "customer.segment.entered"
	EventSegmentLeft    = "customer.segment.left"
	EventSegmentCreated = "customer.segment.created"
	EventSegmentUpdated = "customer.segment.updated"
	EventSegmentDeleted = "customer.segment.deleted"
	// EventSegmentRefreshed reports a bulk recomputation with its counts
	// instead of an event per member, which for a large segment would
	// flood every subscriber.
	EventSegmentRefreshed = "customer.segment.refreshed"
	EventTierRuleCreated  = "customer.value_tier_rule.created"
	EventTierRuleUpdated  = "customer.value_tier_rule.updated"
	EventTierRuleDeleted  = "customer.value_tier_rule.deleted"
	// EventTierRulesApplied reports a bulk re-tiering with its count, for
	// the same reason as EventSegmentRefreshed.
	EventTierRulesApplied = "customer.value_tier_rules.applied"
)

// Errors the use cases return besides the customer package's.
var (
	ErrTransitionNotAllowed = errors.New("this lifecycle transition is not allowed")
	ErrSegmentNotFound      = errors.New("segment not found")
	ErrSegmentNameTaken     = errors.New("a segment with this name exists")
	ErrRuleNotFound         = errors.New("value tier rule not found")
	ErrEtagMismatch         = errors.New("the resource changed since it was read (etag mismatch)")
	// ErrManualTierKept refuses a suggested tier for a customer whose tier
	// was set by hand, unless the request opts in to overriding it.
	ErrManualTierKept = errors.New("the value tier was set by hand and a suggestion does not replace it")
)

// TierSource says who set a value tier; the values match the API's enum.
type TierSource int32

// Tier sources.
const (
	TierSourceUnspecified TierSource = iota
	TierSourceManual
	TierSourceRule
	TierSourceAnalytics
)

// TierRequest is a SetTier call: a tier set by hand, or suggested.
type TierRequest struct {
	// Tier is empty to clear a manual or suggested tier.
	Tier   string
	Reason string
	// Source is TierSourceAnalytics for a suggestion; anything else is by hand.
	Source TierSource
	// OverrideManual lets a suggestion replace a tier set by hand.
	OverrideManual bool
	// RequestID makes the call idempotent when not empty.
	RequestID string
}

// Suggested reports whether the request is a suggestion rather than a manual tier.
func (r TierRequest) Suggested() bool { return r.Source == TierSourceAnalytics }

// Transition is one change of a customer's lifecycle stage.
type Transition struct {
	ID          uuid.UUID
	From, To    customer.Stage
	PrincipalID *uuid.UUID
	Reason      string
	Time        time.Time
}

// TierChange is one change of a customer's value tier.
type TierChange struct {
	ID          uuid.UUID
	From, To    string
	RuleID      *uuid.UUID
	PrincipalID *uuid.UUID
	Reason      string
	Time        time.Time
	// Source is who set To (unspecified when To is empty).
	Source TierSource
}

// Rule gives Tier to the customers Filter matches; rules are tried by Rank.
type Rule struct {
	ID          uuid.UUID
	Tier        string
	Rank        int32
	Filter      string
	Description string
	CreateTime  time.Time
	UpdateTime  time.Time
	Revision    int64
}

// Etag is the rule's concurrency token.
func (r Rule) Etag() string { return strconv.FormatInt(r.Revision, 10) }

// Resource is the rule's resource name.
func (r Rule) Resource() string { return "valueTierRules/" + r.ID.String() }

// Segment is a dynamic group of the customers Filter matches.
type Segment struct {
	ID          uuid.UUID
	DisplayName string
	Description string
	Filter      string
	MemberCount int64
	RefreshTime time.Time
	CreateTime  time.Time
	UpdateTime  time.Time
	Revision    int64
}

// Etag is the segment's concurrency token.
func (s Segment) Etag() string { return strconv.FormatInt(s.Revision, 10) }

// Resource is the segment's resource name.
func (s Segment) Resource() string { return "segments/" + s.ID.String() }

// Membership says since when a customer is in a segment.
type Membership struct {
	SegmentID  uuid.UUID
	CustomerID uuid.UUID
	EnterTime  time.Time
}

// Classification is how a customer is classified now.
type Classification struct {
	CustomerID uuid.UUID
	Stage      customer.Stage
	Tier       string
	TierRuleID *uuid.UUID
	TierManual bool
	TierSource TierSource
	TierTime   *time.Time
	Segments   []Membership
}

// Refresh counts the customers a bulk recomputation moved.
type Refresh struct {
	Segment       Segment
	Entered, Left int64
}

// Page is a page of T with the token of the next one.
type Page[T any] struct {
	Items         []T
	NextPageToken string
}

// PageQuery asks for a page.
type PageQuery struct {
	PageSize  int
	PageToken string
}

// RuleMutation changes a locked rule; it fails to leave it unchanged.
type RuleMutation func(*Rule) error

// SegmentMutation changes a locked segment and says whether its members
// must be recomputed.
type SegmentMutation func(*Segment) (refilter bool, err error)

// Store is what the use cases need from storage. Every write re-evaluates
// the affected customers' tiers and segments in the same transaction.
type Store interface {
	// Transition changes a customer's stage through m, logging reason.
	Transition(ctx context.Context, caller auth.Caller, id uuid.UUID, m customer.Mutation, reason string) (customer.Customer, error)
	Transitions(ctx context.Context, caller auth.Caller, id uuid.UUID, q PageQuery) (Page[Transition], error)
	Classification(ctx context.Context, caller auth.Caller, id uuid.UUID) (Classification, error)
	// SetTier sets (or, when the tier is empty, clears) a manual or suggested tier.
	SetTier(ctx context.Context, caller auth.Caller, id uuid.UUID, r TierRequest) (Classification, error)
	TierChanges(ctx context.Context, caller auth.Caller, id uuid.UUID, q PageQuery) (Page[TierChange], error)

	CreateRule(ctx context.Context, caller auth.Caller, r Rule, requestID string) (Rule, error)
	Rules(ctx context.Context, caller auth.Caller) ([]Rule, error)
	MutateRule(ctx context.Context, caller auth.Caller, id uuid.UUID, m RuleMutation) (Rule, error)
	DeleteRule(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) error
	// ApplyRules re-tiers every customer and returns how many changed.
	ApplyRules(ctx context.Context, caller auth.Caller) (int64, error)

	CreateSegment(ctx context.Context, caller auth.Caller, s Segment, requestID string) (Segment, error)
	Segment(ctx context.Context, caller auth.Caller, id uuid.UUID) (Segment, error)
	Segments(ctx context.Context, caller auth.Caller, q PageQuery) (Page[Segment], error)
	MutateSegment(ctx context.Context, caller auth.Caller, id uuid.UUID, m SegmentMutation) (Segment, error)
	DeleteSegment(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) error
	RefreshSegment(ctx context.Context, caller auth.Caller, id uuid.UUID) (Refresh, error)
	Members(ctx context.Context, caller auth.Caller, id uuid.UUID, q PageQuery) (Page[Membership], error)
}
