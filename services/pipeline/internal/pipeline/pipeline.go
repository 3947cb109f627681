// Package pipeline is the sales pipeline's domain: opportunities, their
// rules, and the ports (store, customer lookup) they need.
package pipeline

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Stage is where an opportunity stands; the numbers match the API's enum.
type Stage int32

// Pipeline stages.
const (
	StageUnspecified Stage = iota
	StageProspecting
	StageQualification
	StageProposal
	StageNegotiation
	StageWon
	StageLost
)

// Money is an amount in integer minor units of an ISO 4217 currency, so sums
// never suffer floating-point rounding.
type Money struct {
	CurrencyCode string
	AmountMinor  int64
}

// Opportunity is a potential sale to a customer.
type Opportunity struct {
	ID          uuid.UUID
	CustomerID  uuid.UUID
	DisplayName string
	Amount      Money
	Stage       Stage
	// ExpectedCloseDate is a calendar date, "YYYY-MM-DD", or empty.
	ExpectedCloseDate string
	OwnerID           *uuid.UUID
	SourcePartnerID   *uuid.UUID
	ExternalID        string
	CreateTime        time.Time
	UpdateTime        time.Time
	// Revision counts writes; the etag is derived from it.
	Revision int64
}

// Etag is the opaque concurrency token of the opportunity's current revision.
func (o Opportunity) Etag() string { return strconv.FormatInt(o.Revision, 10) }

// Resource is the opportunity's resource name.
func (o Opportunity) Resource() string { return "opportunities/" + o.ID.String() }

// Errors the use cases return.
var (
	ErrNotFound = errors.New("opportunity not found")
	// ErrCustomerLookup means the customer service could not say whether a
	// customer exists; the caller may retry.
	ErrCustomerLookup = errors.New("the customer could not be checked; retry later")
)

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

// Limits on field sizes.
const (
	maxName      = 300
	maxText      = 200
	maxRequestID = 64
)

// normalize trims and canonicalises the record and fills defaults before validation.
func (o *Opportunity) normalize() {
	o.DisplayName = strings.TrimSpace(o.DisplayName)
	o.ExternalID = strings.TrimSpace(o.ExternalID)
	o.ExpectedCloseDate = strings.TrimSpace(o.ExpectedCloseDate)
	o.Amount.CurrencyCode = strings.ToUpper(strings.TrimSpace(o.Amount.CurrencyCode))
	if o.Stage == StageUnspecified {
		o.Stage = StageProspecting
	}
}

// validate checks every field, reporting paths under prefix ("opportunity.").
func (o Opportunity) validate(prefix string, v *validation.Error) {
	if o.CustomerID == uuid.Nil {
		v.Add(prefix+"customer_id", "is required")
	}
	switch {
	case o.DisplayName == "":
		v.Add(prefix+"display_name", "is required")
	case utf8.RuneCountInString(o.DisplayName) > maxName:
		v.Add(prefix+"display_name", "must be at most %d characters", maxName)
	}
	switch {
	case o.Amount.CurrencyCode == "":
		v.Add(prefix+"amount.currency_code", "is required")
	case !currencyRE.MatchString(o.Amount.CurrencyCode):
		v.Add(prefix+"amount.currency_code", "must be an ISO 4217 code such as USD")
	}
	if o.Amount.AmountMinor < 0 {
		v.Add(prefix+"amount.amount_minor", "must not be negative")
	}
	if o.Stage < StageProspecting || o.Stage > StageLost {
		v.Add(prefix+"stage", "is not a known stage")
	}
	if o.ExpectedCloseDate != "" {
		// Year 0 parses but PostgreSQL's date has no year 0.
		if d, err := time.Parse(time.DateOnly, o.ExpectedCloseDate); err != nil || d.Year() < 1 {
			v.Add(prefix+"expected_close_date", "must be a calendar date such as 2026-03-31")
		}
	}
	if utf8.RuneCountInString(o.ExternalID) > maxText {
		v.Add(prefix+"external_id", "must be at most %d characters", maxText)
	}
}

// ListQuery selects a page of opportunities, newest first.
type ListQuery struct {
	PageSize  int
	PageToken string
	Filter    string
}

// Page is one page of opportunities.
type Page struct {
	Opportunities []Opportunity
	NextPageToken string
}

// Store keeps opportunities. Every method is scoped to the tenant of the caller.
type Store interface {
	// Create inserts o, or returns the opportunity an earlier create with
	// the same non-empty requestID made.
	Create(ctx context.Context, caller auth.Caller, o Opportunity, requestID string) (Opportunity, error)
	Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Opportunity, error)
	// ByRequestID returns the opportunity a create with requestID made, or ErrNotFound.
	ByRequestID(ctx context.Context, caller auth.Caller, requestID string) (Opportunity, error)
	List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error)
}

// Customers answers whether a customer exists; it is implemented over gRPC
// by pkg/customerclient, given ErrCustomerLookup in main. A lookup that fails
// wraps ErrCustomerLookup.
type Customers interface {
	Exists(ctx context.Context, id uuid.UUID) (bool, error)
}
