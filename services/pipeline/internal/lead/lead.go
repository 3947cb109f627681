// Package lead is the lead domain of the sales pipeline: capture (through
// the API and public web forms), routing by territory, qualification and
// conversion into a customer and an opportunity.
package lead

import (
	"context"
	"errors"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
)

// Status is where a lead stands in qualification; the values match
// rapport.pipeline.v1.LeadStatus.
type Status int16

// The statuses of a lead.
const (
	StatusNew         Status = 1
	StatusWorking     Status = 2
	StatusQualified   Status = 3
	StatusUnqualified Status = 4
	StatusConverted   Status = 5
)

// UTM holds the campaign parameters of the link a lead arrived through.
type UTM struct {
	Source, Medium, Campaign, Term, Content string
}

// Lead is a prospective customer.
type Lead struct {
	ID                     uuid.UUID
	DisplayName            string
	Email                  string
	Phone                  string
	CompanyName            string
	Source                 string
	UTM                    UTM
	Status                 Status
	StatusReason           string
	OwnerID                *uuid.UUID
	Territory              string
	DuplicateCustomerID    *uuid.UUID
	ConvertedCustomerID    *uuid.UUID
	ConvertedOpportunityID *uuid.UUID
	ConvertTime            *time.Time
	// ConversionRequestID is the request_id of the conversion, so its repeat
	// returns the conversion.
	ConversionRequestID string
	WebFormID           *uuid.UUID
	ExternalID          string
	CreateTime          time.Time
	UpdateTime          time.Time
	Revision            int64
}

// Etag is the opaque concurrency token of the lead's current revision.
func (l Lead) Etag() string { return strconv.FormatInt(l.Revision, 10) }

// Resource is the lead's resource name.
func (l Lead) Resource() string { return "leads/" + l.ID.String() }

// Errors of leads.
var (
	ErrNotFound = errors.New("lead not found")
	// ErrConverted means the lead was converted already; it cannot change or convert again.
	ErrConverted = errors.New("the lead is already converted")
	// ErrUnqualified means the lead is disqualified and cannot be converted.
	ErrUnqualified = errors.New("the lead is unqualified; qualify it before converting")
	// ErrEtagMismatch means the etag sent is not the current one.
	ErrEtagMismatch = errors.New("etag does not match the current revision")
	// ErrCustomerLookup means the customer service could not answer.
	ErrCustomerLookup = errors.New("the customer service could not be reached")
	// ErrCustomerRejected means the customer service refused the customer
	// made from the lead's data; the lead needs correcting first.
	ErrCustomerRejected = errors.New("the customer service rejected the customer made from the lead")
)

// Events of leads.
const (
	EventCreated   = "lead.created"
	EventUpdated   = "lead.updated"
	EventConverted = "lead.converted"
)

// Who may do what. Sales reps work the leads they own (or capture unowned
// ones for the assignment rules to route); managers and admins work all.
// Analysts read them; partner users and support agents do not see leads.
var (
	readers  = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleAnalyst}
	writers  = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep}
	anyOwner = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
	admins   = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
)

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

// ownsOrManages reports whether the caller may work a lead owned by owner.
func ownsOrManages(c auth.Caller, owner *uuid.UUID) bool {
	return c.HasAny(anyOwner...) || (owner != nil && owner.String() == c.PrincipalID)
}

const (
	maxName      = 200
	maxText      = 500
	maxShort     = 64
	maxRequestID = 64
)

var (
	phoneRE  = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	sourceRE = regexp.MustCompile(`^[a-z0-9_.-]{1,64}$`)
)

func (l *Lead) normalize() {
	trim := strings.TrimSpace
	l.DisplayName, l.Email, l.CompanyName = trim(l.DisplayName), trim(l.Email), trim(l.CompanyName)
	l.Phone = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '(' || r == ')' || r == '.' {
			return -1
		}
		return r
	}, trim(l.Phone))
	l.Source = strings.ToLower(trim(l.Source))
	l.Territory, l.StatusReason, l.ExternalID = trim(l.Territory), trim(l.StatusReason), trim(l.ExternalID)
	u := &l.UTM
	u.Source, u.Medium, u.Campaign, u.Term, u.Content = trim(u.Source), trim(u.Medium), trim(u.Campaign), trim(u.Term), trim(u.Content)
}

func length(v *validation.Error, field, s string, maxLen int) {
	if utf8.RuneCountInString(s) > maxLen {
		v.Add(field, "must be at most %d characters", maxLen)
	}
}

// validate checks a lead's writable fields; field paths start with prefix.
func (l Lead) validate(prefix string, v *validation.Error) {
	if l.DisplayName == "" && l.Email == "" && l.Phone == "" {
		v.Add(prefix+"display_name", "is required unless email or phone is given")
	}
	length(v, prefix+"display_name", l.DisplayName, maxName)
	length(v, prefix+"company_name", l.CompanyName, maxName)
	if l.Email != "" {
		if a, err := mail.ParseAddress(l.Email); err != nil || a.Address != l.Email || len(l.Email) > 254 {
			v.Add(prefix+"email", "must be a plain e-mail address such as ada@example.com")
		}
	}
	if l.Phone != "" && !phoneRE.MatchString(l.Phone) {
		v.Add(prefix+"phone", "must be in E.164 form, for example +441632960961")
	}
	if !sourceRE.MatchString(l.Source) {
		v.Add(prefix+"source", "must be 1 to 64 lower-case letters, digits, '_', '.' or '-'")
	}
	for f, s := range map[string]string{"utm.source": l.UTM.Source, "utm.medium": l.UTM.Medium, "utm.campaign": l.UTM.Campaign,
		"utm.term": l.UTM.Term, "utm.content": l.UTM.Content, "territory": l.Territory, "external_id": l.ExternalID} {
		length(v, prefix+f, s, maxShort*4)
	}
	length(v, prefix+"status_reason", l.StatusReason, maxText)
	if l.Status < StatusNew || l.Status > StatusUnqualified {
		v.Add(prefix+"status", "must be new, working, qualified or unqualified (leads become converted only by ConvertLead)")
	}
}

// open reports whether the lead counts against its owner's capacity.
func (s Status) open() bool { return s == StatusNew || s == StatusWorking || s == StatusQualified }

// ListQuery selects a page of leads.
type ListQuery struct {
	PageSize  int
	PageToken string
	Filter    string
}

// Page is one page of leads, newest first.
type Page struct {
	Leads         []Lead
	NextPageToken string
}

// Mutation changes a locked lead in place.
type Mutation func(l *Lead) error

// Store keeps leads, web forms and assignment rules. Every method is scoped
// to the tenant of the caller.
type Store interface {
	// CreateLead stores l, first giving it an owner by the assignment rule
	// of its territory when it has none, or returns the lead an earlier
	// create with the same non-empty requestID made.
	CreateLead(ctx context.Context, caller auth.Caller, requestID string, l Lead) (Lead, error)
	// LeadByRequestID returns the lead a create with requestID made, or ErrNotFound.
	LeadByRequestID(ctx context.Context, caller auth.Caller, requestID string) (Lead, error)
	Lead(ctx context.Context, caller auth.Caller, id uuid.UUID) (Lead, error)
	ListLeads(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error)
	// MutateLead applies m to the lead under a row lock and saves it,
	// recording event, in one transaction.
	MutateLead(ctx context.Context, caller auth.Caller, id uuid.UUID, event string, m Mutation) (Lead, error)

	WebFormStore
	RuleStore
}

// Customers is what leads need of the customer service. It is implemented
// over gRPC with the caller's credentials; a failed call wraps
// ErrCustomerLookup. Matching goes through an interface so it can move to
// the customer service's duplicate-candidates API.
type Customers interface {
	// Match returns a live customer with the e-mail (case-insensitively) or
	// the phone, if there is one.
	Match(ctx context.Context, email, phone string) (id uuid.UUID, ok bool, err error)
	// Exists reports whether a live customer has the id.
	Exists(ctx context.Context, id uuid.UUID) (bool, error)
	// CreateFromLead creates the customer a lead becomes: a person, or an
	// organisation with the person as its contact when the lead names a
	// company. Every create carries a request id derived from the lead, so
	// a repeat returns the customers the first call made.
	CreateFromLead(ctx context.Context, l Lead) (uuid.UUID, error)
}

// Opportunities opens opportunities; pipeline.Service implements it.
type Opportunities interface {
	Create(ctx context.Context, caller auth.Caller, o pipeline.Opportunity, requestID string) (pipeline.Opportunity, error)
	Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (pipeline.Opportunity, error)
}
