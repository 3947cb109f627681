// Package quote is the quoting domain of the sales pipeline: offers to a
// customer priced from a price list, their versions and status machine
// (draft → sent → accepted, rejected or expired), and the order an
// accepted quote becomes.
package quote

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/order"
	"github.com/rapportcrm/rapport/services/pipeline/internal/rules"
)

// Status is where a quote stands; the values match rapport.pipeline.v1.QuoteStatus.
type Status int16

// The statuses of a quote.
const (
	StatusDraft    Status = 1
	StatusSent     Status = 2
	StatusAccepted Status = 3
	StatusRejected Status = 4
	StatusExpired  Status = 5
)

// Line is a quantity of a product at a price on a quote.
type Line struct {
	ProductID uuid.UUID
	Quantity  int64
	// UnitPriceMinor is the price list's price unless PriceOverridden.
	UnitPriceMinor  int64
	PriceOverridden bool
	// DiscountBps is a discount in basis points, 0 to 10000.
	DiscountBps int32
	TotalMinor  int64
	Description string
}

// Quote is one version of a priced offer to a customer.
type Quote struct {
	ID uuid.UUID
	// RootID is the first version's id, shared by every version.
	RootID        uuid.UUID
	Version       int32
	CustomerID    uuid.UUID
	OpportunityID *uuid.UUID
	PriceListID   uuid.UUID
	CurrencyCode  string
	Lines         []Line
	TotalMinor    int64
	// ValidUntil is the last calendar day the offer holds, "YYYY-MM-DD".
	ValidUntil   string
	Status       Status
	Notes        string
	SendTime     *time.Time
	DecisionTime *time.Time
	RejectReason string
	OrderID      *uuid.UUID
	CreateTime   time.Time
	UpdateTime   time.Time
	DeleteTime   *time.Time
	// Revision counts writes; the etag is derived from it.
	Revision int64
}

// Etag is the opaque concurrency token of the quote's current revision.
func (q Quote) Etag() string { return strconv.FormatInt(q.Revision, 10) }

// Resource is the quote's resource name.
func (q Quote) Resource() string { return "quotes/" + q.ID.String() }

// Errors of quotes; each is a state conflict with a stable reason.
var (
	ErrNotFound = errors.New("quote not found")
	// ErrEtagMismatch means the quote changed since the caller read it.
	ErrEtagMismatch = errors.New("the quote changed since it was read (etag mismatch)")
	// ErrNotDraft means the change is only for drafts.
	ErrNotDraft = errors.New("only a draft quote can be changed, sent or deleted")
	// ErrNotLatest means a later version of the quote exists.
	ErrNotLatest = errors.New("a later version of the quote exists; only the latest can be sent, accepted or revised")
	// ErrNotSent means the quote was not sent, or was decided already.
	ErrNotSent = errors.New("only a sent quote can be accepted or rejected")
	// ErrExpired means the quote was sent but its validity has passed; it
	// is now marked expired.
	ErrExpired = errors.New("the quote's validity has passed")
	// ErrAccepted means the quote was accepted and cannot be revised.
	ErrAccepted = errors.New("the quote was accepted")
	// ErrDeleted means the quote is soft-deleted.
	ErrDeleted = errors.New("the quote is deleted")
	// ErrNotDeleted means an undelete found the quote live.
	ErrNotDeleted = errors.New("the quote is not deleted")
)

// Events of quotes.
const (
	EventCreated   = "quote.created"
	EventUpdated   = "quote.updated"
	EventDeleted   = "quote.deleted"
	EventUndeleted = "quote.undeleted"
	EventRevised   = "quote.revised"
	EventSent      = "quote.sent"
	EventAccepted  = "quote.accepted"
	EventRejected  = "quote.rejected"
	EventExpired   = "quote.expired"
)

// Who may do what: quotes are sales documents. Record-level access comes
// from the opportunity: a quote names only an opportunity its author sees.
var (
	readers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleAnalyst}
	writers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep}
)

const (
	maxLines = 200
	maxNotes = 2000
	maxText  = 500
)

func (q *Quote) normalize() {
	q.CurrencyCode = strings.ToUpper(strings.TrimSpace(q.CurrencyCode))
	q.ValidUntil = strings.TrimSpace(q.ValidUntil)
	q.Notes = strings.TrimSpace(q.Notes)
	for i := range q.Lines {
		q.Lines[i].Description = strings.TrimSpace(q.Lines[i].Description)
	}
}

// validate checks what needs no lookup; today is "YYYY-MM-DD".
func (q Quote) validate(today string, v *validation.Error) {
	if d, ok := rules.Date(q.ValidUntil, "quote.valid_until", v); ok && d.Format(time.DateOnly) < today {
		v.Add("quote.valid_until", "must not be in the past")
	}
	if utf8.RuneCountInString(q.Notes) > maxNotes {
		v.Add("quote.notes", "must be at most %d characters", maxNotes)
	}
	switch {
	case len(q.Lines) == 0:
		v.Add("quote.lines", "needs at least one line")
	case len(q.Lines) > maxLines:
		v.Add("quote.lines", "must hold at most %d lines", maxLines)
	}
	for i, l := range q.Lines {
		f := fmt.Sprintf("quote.lines[%d].", i)
		if l.ProductID == uuid.Nil {
			v.Add(f+"product_id", "is required: every line is of a product")
		}
		if l.Quantity < 1 {
			v.Add(f+"quantity", "must be at least 1")
		}
		if l.DiscountBps < 0 || l.DiscountBps > 10000 {
			v.Add(f+"discount_bps", "must be between 0 and 10000")
		}
		if l.PriceOverridden && l.UnitPriceMinor < 0 {
			v.Add(f+"unit_price_minor", "must not be negative")
		}
		if utf8.RuneCountInString(l.Description) > maxText {
			v.Add(f+"description", "must be at most %d characters", maxText)
		}
	}
}

// ListQuery selects a page of quotes.
type ListQuery struct {
	PageSize    int
	PageToken   string
	Filter      string
	ShowDeleted bool
}

// Page is one page of quotes, newest first.
type Page struct {
	Quotes        []Quote
	NextPageToken string
}

// Lookup is what a change reads inside its transaction, under the
// caller's record-level access.
type Lookup interface {
	// PriceList returns a price list's currency; ok is false when there is none.
	PriceList(ctx context.Context, id uuid.UUID) (currency string, ok bool, err error)
	// Product says whether a product exists and is active.
	Product(ctx context.Context, id uuid.UUID) (exists, active bool, err error)
	// Price returns the price of product in list on date ("YYYY-MM-DD");
	// ok is false when the list has none from that date or earlier.
	Price(ctx context.Context, list, product uuid.UUID, date string) (unitMinor int64, ok bool, err error)
	// Opportunity returns a live opportunity the caller may see, or
	// order.ErrOpportunityNotFound.
	Opportunity(ctx context.Context, id uuid.UUID) (order.OpportunityRef, error)
}

// Effect says what a mutation did, so the store writes what follows from it.
type Effect struct {
	// Event is the event to record; empty when nothing changed (a repeat).
	Event string
	// LinesChanged replaces the stored lines.
	LinesChanged bool
	// Order is an order to create before the quote is saved.
	Order *order.Order
	// NewVersion is a new version to insert instead of saving the quote;
	// the store numbers it after every existing version.
	NewVersion *Quote
	// Then is an error to return once the change has committed.
	Then error
}

// Mutation changes a locked quote in place; latest says whether it is the
// latest live version of its quote.
type Mutation func(ctx context.Context, look Lookup, q *Quote, latest bool) (Effect, error)

// Store keeps quotes. Every method is scoped to the tenant of the caller.
type Store interface {
	// Create stores the quote prepare accepts (and prices), or returns the
	// quote an earlier create with the same non-empty requestID made.
	Create(ctx context.Context, caller auth.Caller, requestID string, q Quote, prepare func(context.Context, Lookup, *Quote) error) (Quote, error)
	// ByRequestID returns the quote a create or revise with requestID made, or ErrNotFound.
	ByRequestID(ctx context.Context, caller auth.Caller, requestID string) (Quote, error)
	Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Quote, error)
	List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error)
	// Mutate locks every version of the quote, applies m to version id and
	// writes what its Effect asks for in one transaction. It returns the
	// saved quote (or new version) and the quote's order, if any.
	Mutate(ctx context.Context, caller auth.Caller, id uuid.UUID, requestID string, m Mutation) (Quote, *order.Order, error)
}

// Customers answers whether a customer exists (pkg/customerclient over gRPC).
type Customers interface {
	Exists(ctx context.Context, id uuid.UUID) (bool, error)
}
