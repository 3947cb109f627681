// Package loyalty runs loyalty programs: a double-entry points ledger whose
// member balances never go negative, points that expire first-in first-out,
// and membership tiers computed from rules, with their history.
package loyalty

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
)

// Event types the loyalty ledger emits.
const (
	EventProgramCreated = "customer.loyalty_program.created"
	EventProgramUpdated = "customer.loyalty_program.updated"
	EventTierCreated    = "customer.loyalty_tier.created"
	EventMemberEnrolled = "customer.loyalty.member_enrolled"
	EventPointsPosted   = "customer.loyalty.points_posted"
	EventPointsExpired  = "customer.loyalty.points_expired"
	EventTierChanged    = "customer.loyalty.tier_changed"
)

// Errors the use cases return.
var (
	ErrProgramNotFound    = errors.New("loyalty program not found")
	ErrProgramInactive    = errors.New("the loyalty program is not active")
	ErrNotMember          = errors.New("the customer is not a member of this program")
	ErrInsufficientPoints = errors.New("the member's balance is lower than the points asked for")
	// ErrReferenceReused means the external reference names an earlier,
	// different transaction.
	ErrReferenceReused = errors.New("the external reference was used for a different transaction")
	ErrTierTaken       = errors.New("a tier with this rank or name exists in the program")
	ErrEtagMismatch    = errors.New("the program changed since it was read (etag mismatch)")
)

// Program is one points program.
type Program struct {
	ID           uuid.UUID
	DisplayName  string
	ExpiryMonths int32
	Active       bool
	CreateTime   time.Time
	UpdateTime   time.Time
	Revision     int64
}

// Etag is the program's concurrency token.
func (p Program) Etag() string { return strconv.FormatInt(p.Revision, 10) }

// Resource is the program's resource name.
func (p Program) Resource() string { return "loyaltyPrograms/" + p.ID.String() }

// RuleKind says which points count towards a tier; numbers match the API.
type RuleKind int32

// Tier rules.
const (
	RuleUnspecified RuleKind = iota
	RuleLifetimeEarned
	RuleWindowEarned
)

// Tier is a membership level reached by earning points.
type Tier struct {
	ID          uuid.UUID
	ProgramID   uuid.UUID
	DisplayName string
	Rank        int32
	Rule        RuleKind
	WindowDays  int32
	Threshold   int64
	Benefits    []string
	CreateTime  time.Time
}

// Membership is a customer's place in a program.
type Membership struct {
	ProgramID  uuid.UUID
	CustomerID uuid.UUID
	Balance    int64
	TierID     *uuid.UUID
	TierTime   *time.Time
	EnrollTime time.Time
}

// Resource is the membership's resource name, under its customer so that
// the customer's audit trail and erasure reach it.
func (m Membership) Resource() string {
	return "customers/" + m.CustomerID.String() + "/loyaltyMemberships/" + m.ProgramID.String()
}

// Kind is what a transaction does; numbers match the API.
type Kind int32

// Transaction kinds.
const (
	KindUnspecified Kind = iota
	KindEarn
	KindRedeem
	KindExpire
	KindAdjust
)

// Transaction is one posting to the ledger.
type Transaction struct {
	ID                uuid.UUID
	ProgramID         uuid.UUID
	CustomerID        uuid.UUID
	Kind              Kind
	Points            int64
	ExternalReference string
	Reason            string
	BalanceAfter      int64
	CreateTime        time.Time
}

// Resource is the transaction's resource name, under its customer.
func (t Transaction) Resource() string {
	return "customers/" + t.CustomerID.String() + "/loyaltyTransactions/" + t.ID.String()
}

// TierChange is one change of a member's tier.
type TierChange struct {
	ID               uuid.UUID
	From, To         *uuid.UUID
	QualifyingPoints int64
	Time             time.Time
}

// Expiry counts what an expiry run expired.
type Expiry struct {
	Lots, Points int64
}

// PageQuery asks for a page.
type PageQuery struct {
	PageSize  int
	PageToken string
}

// ProgramMutation changes a locked program.
type ProgramMutation func(*Program) error

// Store is what the use cases need from storage. Every posting re-computes
// the member's tier in its transaction.
type Store interface {
	CreateProgram(ctx context.Context, caller auth.Caller, p Program, requestID string) (Program, error)
	Program(ctx context.Context, caller auth.Caller, id uuid.UUID) (Program, error)
	Programs(ctx context.Context, caller auth.Caller) ([]Program, error)
	MutateProgram(ctx context.Context, caller auth.Caller, id uuid.UUID, m ProgramMutation) (Program, error)
	CreateTier(ctx context.Context, caller auth.Caller, t Tier) (Tier, error)
	Tiers(ctx context.Context, caller auth.Caller, program uuid.UUID) ([]Tier, error)
	Enroll(ctx context.Context, caller auth.Caller, program, customer uuid.UUID) (Membership, error)
	Membership(ctx context.Context, caller auth.Caller, program, customer uuid.UUID) (Membership, error)
	Memberships(ctx context.Context, caller auth.Caller, program uuid.UUID, tier *uuid.UUID, q PageQuery) ([]Membership, string, error)
	// Post writes t (its ID, kind, points, reference and reason set) or
	// returns the transaction first posted with its reference.
	Post(ctx context.Context, caller auth.Caller, t Transaction) (Transaction, Membership, error)
	Transactions(ctx context.Context, caller auth.Caller, program, customer uuid.UUID, q PageQuery) ([]Transaction, string, error)
	LoyaltyTierChanges(ctx context.Context, caller auth.Caller, program, customer uuid.UUID) ([]TierChange, error)
	// Expire posts the expiry of the program's lots due at now.
	Expire(ctx context.Context, caller auth.Caller, program uuid.UUID) (Expiry, error)
}
