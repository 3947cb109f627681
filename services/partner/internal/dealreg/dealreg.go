// Package dealreg is deal registration: partners claim prospects and
// opportunities, conflicts with existing business are detected, and channel
// managers approve, reject or arbitrate. It declares the ports it needs: its
// store, and the customer and pipeline services.
package dealreg

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
)

// State is where a registration stands; the numbers match the API's enum.
type State int32

// Registration states.
const (
	StateUnspecified State = iota
	StateSubmitted
	StateConflict
	StateApproved
	StateRejected
)

// ConflictKind is why a registration collides; the numbers match the API's enum.
type ConflictKind int32

// Conflict kinds.
const (
	ConflictUnspecified ConflictKind = iota
	ConflictOpenOpportunity
	ConflictDirectOwner
	ConflictPartnerRegistration
)

// Outcome is an arbitration decision; the numbers match the API's enum.
type Outcome int32

// Arbitration outcomes.
const (
	OutcomeUnspecified Outcome = iota
	OutcomeAwarded
	OutcomeRejected
)

// Events a registration emits.
const (
	EventCreated    = "deal_registration.created"
	EventConflicted = "deal_registration.conflicted"
	EventApproved   = "deal_registration.approved"
	EventRejected   = "deal_registration.rejected"
	EventArbitrated = "deal_registration.arbitrated"
	EventRules      = "engagement_rules.updated"
)

// Errors of the deal registration use cases.
var (
	ErrNotFound          = errors.New("deal registration not found")
	ErrPartnerNotFound   = errors.New("partner not found")
	ErrPartnerNotActive  = errors.New("partner is not active")
	ErrCustomerNotFound  = errors.New("customer not found")
	ErrEtagMismatch      = errors.New("deal registration changed since it was read (etag mismatch)")
	ErrExpired           = errors.New("deal registration expired: its protection window has ended")
	ErrNotPending        = errors.New("deal registration is already decided")
	ErrConflict          = errors.New("deal registration conflicts with existing business: arbitrate it")
	ErrRulesEtagMismatch = errors.New("engagement rules changed since they were read (etag mismatch)")
	// ErrPeer means the customer or pipeline service could not answer;
	// nothing was decided.
	ErrPeer = errors.New("a peer service is unavailable")
)

// Prospect is who a registration is for when it names no customer.
type Prospect struct {
	CompanyName string
	Email       string
	Phone       string
}

// Money is an amount in minor units of a currency.
type Money struct {
	CurrencyCode string
	AmountMinor  int64
}

// Conflict is one reason a registration collides with existing business.
type Conflict struct {
	Kind           ConflictKind `json:"kind"`
	CustomerID     uuid.UUID    `json:"customer_id,omitzero"`
	OpportunityID  uuid.UUID    `json:"opportunity_id,omitzero"`
	RegistrationID uuid.UUID    `json:"deal_registration_id,omitzero"`
	PartnerID      uuid.UUID    `json:"partner_id,omitzero"`
	Description    string       `json:"description"`
}

// Registration is a partner's claim to a prospect or opportunity.
type Registration struct {
	ID                uuid.UUID
	PartnerID         uuid.UUID
	CustomerID        uuid.UUID // uuid.Nil: a prospect not yet a customer
	Prospect          Prospect
	DisplayName       string
	Amount            Money
	ExpectedCloseDate string
	State             State
	Conflicts         []Conflict
	OpportunityID     uuid.UUID
	// ExpireTime ends the protection window.
	ExpireTime   time.Time
	DecisionNote string
	DecidedBy    string
	DecideTime   time.Time // zero until decided
	Outcome      Outcome
	RegisteredBy string
	CreateTime   time.Time
	UpdateTime   time.Time
	Revision     int64
}

// Etag is the opaque concurrency token of the registration's revision.
func (r Registration) Etag() string { return strconv.FormatInt(r.Revision, 10) }

// Resource is the registration's resource name.
func (r Registration) Resource() string { return "dealRegistrations/" + r.ID.String() }

// pending reports whether the registration still awaits a decision.
func (r Registration) pending() bool { return r.State == StateSubmitted || r.State == StateConflict }

// Rules are a tenant's rules of engagement.
type Rules struct {
	ProtectionDays           int
	DirectOwnerConflicts     bool
	OpenOpportunityConflicts bool
	UpdateTime               time.Time
	// Revision is 0 while the tenant runs on the defaults.
	Revision int64
}

// DefaultRules apply until a tenant sets its own.
var DefaultRules = Rules{ProtectionDays: 90, DirectOwnerConflicts: true, OpenOpportunityConflicts: true}

// Etag is the opaque concurrency token of the rules' revision.
func (r Rules) Etag() string { return strconv.FormatInt(r.Revision, 10) }

// Claim is another registration's hold on a claim key.
type Claim struct {
	Key            string
	RegistrationID uuid.UUID
	PartnerID      uuid.UUID
}

// PartnerInfo is what registration needs to know of a partner.
type PartnerInfo struct {
	ID     uuid.UUID
	Active bool
	// Lineage is the partner and every partner above it, nearest first.
	Lineage []uuid.UUID
}

// ListQuery selects a page of registrations, newest first.
type ListQuery struct {
	PageSize  int
	PageToken string
	Filter    string
}

// Page is one page of registrations.
type Page struct {
	Registrations []Registration
	NextPageToken string
}

// Store keeps registrations and rules, scoped to the caller's tenant and
// to what the caller may see.
type Store interface {
	// Rules returns the tenant's rules, DefaultRules when it set none.
	Rules(ctx context.Context, caller auth.Caller) (Rules, error)
	// UpdateRules locks the rules, applies m and saves them with their event.
	UpdateRules(ctx context.Context, caller auth.Caller, m func(*Rules) error) (Rules, error)
	// Partner returns the partner, ErrPartnerNotFound when the caller may not see it.
	Partner(ctx context.Context, caller auth.Caller, id uuid.UUID) (PartnerInfo, error)
	// Create stores r with claims on keys and its event. Under a lock on
	// the keys, it reads other partners' active claims on them and lets
	// decide set r's conflicts and state, so two registrations of the same
	// prospect see each other. A repeated requestID returns the first
	// registration (created false).
	Create(ctx context.Context, caller auth.Caller, r Registration, keys []string, requestID string,
		decide func(r *Registration, others []Claim)) (saved Registration, created bool, err error)
	Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Registration, error)
	List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error)
	// Mutate locks the registration, applies m and saves it with the event
	// m names. Claims follow the state: a rejected registration releases
	// them, others hold them until ExpireTime.
	Mutate(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(r *Registration) (event string, err error)) (Registration, error)
}

// Customer is what conflict detection knows of a customer.
type Customer struct {
	ID      uuid.UUID
	OwnerID string
	// Match says what matched the prospect, for example "same e-mail".
	Match string
}

// Customers is the customer service: identity resolution and partner links.
type Customers interface {
	// Match returns the customers the prospect may be. Today it matches
	// exact normalised e-mail, phone and company name; a duplicate-candidates
	// API can replace it behind this port.
	Match(ctx context.Context, p Prospect) ([]Customer, error)
	// Get returns a customer, ErrCustomerNotFound when it does not exist.
	Get(ctx context.Context, id uuid.UUID) (Customer, error)
	// Create creates a customer for the prospect, idempotently by requestID.
	Create(ctx context.Context, requestID string, p Prospect) (uuid.UUID, error)
	// LinkPartner links the customer to the partner, idempotently.
	LinkPartner(ctx context.Context, customerID, partnerID uuid.UUID) error
}

// Opportunity is what conflict detection knows of an opportunity.
type Opportunity struct {
	ID              uuid.UUID
	SourcePartnerID uuid.UUID
}

// OpportunityDraft is the opportunity an approval creates.
type OpportunityDraft struct {
	CustomerID        uuid.UUID
	PartnerID         uuid.UUID
	DisplayName       string
	Amount            Money
	ExpectedCloseDate string
}

// Opportunities is the sales-pipeline service.
type Opportunities interface {
	// Open returns the customer's open opportunities.
	Open(ctx context.Context, customerID uuid.UUID) ([]Opportunity, error)
	// Create creates an opportunity, idempotently by requestID.
	Create(ctx context.Context, requestID string, d OpportunityDraft) (uuid.UUID, error)
	// SetSourcePartner marks an existing opportunity as brought by the partner.
	SetSourcePartner(ctx context.Context, id, partnerID uuid.UUID) error
}

// Normalisers of the prospect's identity, so that spelling variants of the
// same e-mail, phone or company claim the same key.

// NormalizeEmail trims and lower-cases an e-mail address.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// NormalizePhone keeps a leading "+" and the digits.
func NormalizePhone(s string) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for i, r := range s {
		if unicode.IsDigit(r) || (r == '+' && i == 0) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// NormalizeName lower-cases a company name and reduces punctuation and
// runs of space to single spaces.
func NormalizeName(s string) string {
	return strings.Join(strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}), " ")
}

// claimKey hashes a normalised identity, so claims hold no personal data.
func claimKey(kind, value string) string {
	sum := sha256.Sum256([]byte(kind + ":" + value))
	return kind + ":" + hex.EncodeToString(sum[:16])
}

// claimKeys are the keys a registration claims: its customers and its
// prospect's normalised e-mail, phone and name.
func claimKeys(r Registration, customers []uuid.UUID) []string {
	var keys []string
	for _, id := range customers {
		keys = append(keys, CustomerKey(id))
	}
	if v := NormalizeEmail(r.Prospect.Email); v != "" {
		keys = append(keys, claimKey("email", v))
	}
	if v := NormalizePhone(r.Prospect.Phone); v != "" {
		keys = append(keys, claimKey("phone", v))
	}
	if v := NormalizeName(r.Prospect.CompanyName); v != "" {
		keys = append(keys, claimKey("name", v))
	}
	return keys
}

// CustomerKey is the claim key of a customer.
func CustomerKey(id uuid.UUID) string { return "customer:" + id.String() }

// describeKey says in words what a claim key stands for.
func describeKey(key string) string {
	switch key[:strings.IndexByte(key, ':')] {
	case "email":
		return "same e-mail"
	case "phone":
		return "same phone"
	case "name":
		return "same company name"
	}
	return "same customer"
}
