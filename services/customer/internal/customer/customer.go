// Package customer is the customer master's domain: the customer record, its
// rules, and the store it needs.
package customer

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Kind tells a person from an organisation; the numbers match the API's enum.
type Kind int32

// Kinds of customer.
const (
	KindUnspecified Kind = iota
	KindPerson
	KindOrganization
)

// Stage is the lifecycle stage; the numbers match the API's enum.
type Stage int32

// Lifecycle stages.
const (
	StageUnspecified Stage = iota
	StageLead
	StageProspect
	StageCustomer
	StageAtRisk
	StageChurned
	StageWonBack
)

// Customer is one real customer.
type Customer struct {
	ID          uuid.UUID
	Kind        Kind
	DisplayName string
	Email       string
	Phone       string
	Stage       Stage
	Industry    string
	CountryCode string
	OwnerID     *uuid.UUID
	Tags        []string
	ExternalID  string
	// SourceChannel is the channel the customer first arrived through.
	SourceChannel string
	// CustomAttributes holds values of the tenant's custom attributes:
	// string, float64 or bool, checked against the tenant's Schema.
	CustomAttributes map[string]any
	CreateTime       time.Time
	UpdateTime       time.Time
	DeleteTime       *time.Time
	// MergedInto is the customer this one was merged into; a merged
	// customer is also deleted, and only unmerging brings it back.
	MergedInto *uuid.UUID
	// LastInteractionTime is the occur_time of the customer's latest live
	// interaction; nil when nobody has contacted the customer.
	LastInteractionTime *time.Time
	// Revision counts writes; the etag is derived from it.
	Revision int64
}

// Etag is the opaque concurrency token of the customer's current revision.
func (c Customer) Etag() string { return strconv.FormatInt(c.Revision, 10) }

// withoutPersonalData blanks what identifies a person: e-mail, phone and a
// person's name (an organisation's name is not personal data).
func (c Customer) withoutPersonalData() Customer {
	c.Email, c.Phone = "", ""
	if c.Kind == KindPerson {
		c.DisplayName = ""
	}
	return c
}

// Resource is the customer's resource name.
func (c Customer) Resource() string { return "customers/" + c.ID.String() }

// Errors the use cases return.
var (
	ErrNotFound     = errors.New("customer not found")
	ErrEtagMismatch = errors.New("the customer changed since it was read (etag mismatch)")
	ErrNotDeleted   = errors.New("the customer is not deleted")
	ErrDeleted      = errors.New("the customer is deleted")
	ErrMerged       = errors.New("the customer was merged into another; unmerge it instead")
)

var (
	emailRE   = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	phoneRE   = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	countryRE = regexp.MustCompile(`^[A-Z]{2}$`)
)

// Limits on field sizes.
const (
	maxName      = 300
	maxText      = 200
	maxTags      = 50
	maxTagLen    = 64
	maxRequestID = 64
	maxChannel   = 64
)

// Fields that UpdateCustomer may change.
// "custom_attributes.<key>" changes one attribute.
var updatable = []string{"kind", "display_name", "email", "phone", "lifecycle_stage", "industry", "country_code", "owner_id", "tags", "external_id",
	"source_channel", "custom_attributes"}

// normalize trims and canonicalises the record before validation.
func (c *Customer) normalize() {
	c.DisplayName = strings.TrimSpace(c.DisplayName)
	c.Email = strings.TrimSpace(c.Email)
	c.CountryCode = strings.ToUpper(strings.TrimSpace(c.CountryCode))
	c.Phone, _ = NormalizePhone(c.Phone, c.CountryCode)
	c.SourceChannel = strings.ToLower(strings.TrimSpace(c.SourceChannel))
	if c.CustomAttributes == nil {
		c.CustomAttributes = map[string]any{}
	}
	c.Industry = strings.TrimSpace(c.Industry)
	c.ExternalID = strings.TrimSpace(c.ExternalID)
	tags := make([]string, 0, len(c.Tags))
	for _, t := range c.Tags {
		t = strings.TrimSpace(t)
		if t != "" && !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	c.Tags = tags
	if c.Stage == StageUnspecified {
		c.Stage = StageLead
	}
}

// validate checks every field, reporting paths under prefix ("customer.").
func (c Customer) validate(prefix string, v *validation.Error) {
	switch {
	case c.DisplayName == "":
		v.Add(prefix+"display_name", "is required")
	case utf8.RuneCountInString(c.DisplayName) > maxName:
		v.Add(prefix+"display_name", "must be at most %d characters", maxName)
	}
	if c.Kind != KindPerson && c.Kind != KindOrganization {
		v.Add(prefix+"kind", "must be CUSTOMER_KIND_PERSON or CUSTOMER_KIND_ORGANIZATION")
	}
	if c.Stage < StageLead || c.Stage > StageWonBack {
		v.Add(prefix+"lifecycle_stage", "is not a known lifecycle stage")
	}
	if c.Email != "" && (len(c.Email) > 254 || !emailRE.MatchString(c.Email)) {
		v.Add(prefix+"email", "must be an e-mail address such as name@example.com")
	}
	if _, ok := NormalizePhone(c.Phone, c.CountryCode); c.Phone != "" && !ok {
		v.Add(prefix+"phone", "must be a phone number in E.164 form, such as +441632960961, or national in the customer's country")
	}
	if utf8.RuneCountInString(c.SourceChannel) > maxChannel {
		v.Add(prefix+"source_channel", "must be at most %d characters", maxChannel)
	}
	if c.CountryCode != "" && !countryRE.MatchString(c.CountryCode) {
		v.Add(prefix+"country_code", "must be an ISO 3166-1 alpha-2 code such as GB")
	}
	if utf8.RuneCountInString(c.Industry) > maxText {
		v.Add(prefix+"industry", "must be at most %d characters", maxText)
	}
	if utf8.RuneCountInString(c.ExternalID) > maxText {
		v.Add(prefix+"external_id", "must be at most %d characters", maxText)
	}
	if len(c.Tags) > maxTags {
		v.Add(prefix+"tags", "must hold at most %d tags", maxTags)
	}
	for _, t := range c.Tags {
		if utf8.RuneCountInString(t) > maxTagLen {
			v.Add(prefix+"tags", "each tag must be at most %d characters", maxTagLen)
			break
		}
	}
}

// ListQuery selects a page of customers.
type ListQuery struct {
	PageSize    int
	PageToken   string
	Filter      string
	OrderBy     string
	ShowDeleted bool
}

// Page is one page of customers.
type Page struct {
	Customers     []Customer
	NextPageToken string
}

// Mutation changes a loaded customer inside the store's transaction; it
// returns the event type the change emits.
type Mutation func(c *Customer) (eventType string, err error)

// Store keeps customers. Every method is scoped to the tenant of the caller.
type Store interface {
	Schema
	// Create inserts c, or returns the customer an earlier create with the
	// same non-empty requestID made (created is then false).
	Create(ctx context.Context, caller auth.Caller, c Customer, requestID string) (saved Customer, created bool, err error)
	Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Customer, error)
	List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error)
	// Mutate loads and locks the customer, applies m and saves the result
	// with its event and audit row, in one transaction.
	Mutate(ctx context.Context, caller auth.Caller, id uuid.UUID, m Mutation) (Customer, error)
}

func nowUTC() time.Time { return time.Now().UTC() }
