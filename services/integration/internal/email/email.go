// Package email holds the rules of templated e-mail: what a template may
// say, which language variant a recipient gets, who may send, and how a
// message goes from queued to sent, failed or suppressed.
package email

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Events of templates and messages, and the principal the workers act as.
const (
	EventTemplateCreated = "email_template.created"
	EventTemplateUpdated = "email_template.updated"
	EventTemplateDeleted = "email_template.deleted"
	EventMessageQueued   = "email_message.queued"
	EventMessageSettled  = "email_message.settled"
	WorkerPrincipal      = "system:email"
)

// Limits.
const (
	maxDisplayName  = 200
	maxVariants     = 20
	maxSubject      = 500
	maxBody         = 100000
	maxRequestID    = 64
	defaultPageSize = 50
	maxPageSize     = 1000
)

// Errors of the e-mail use cases.
var (
	ErrNotConfigured    = errors.New("e-mail is not configured: the operator set no SMTP relay")
	ErrTemplateNotFound = errors.New("e-mail template not found")
	ErrEtagMismatch     = errors.New("the template changed since it was read (etag mismatch)")
	ErrCustomerNotFound = errors.New("customer not found")
	ErrNoAddress        = errors.New("the customer has no e-mail address")
)

// Purpose says whether consent is needed, numbered as in the API.
type Purpose int32

// Purposes.
const (
	Transactional Purpose = 1
	Marketing     Purpose = 2
)

// State is where a message is, numbered as in the API.
type State int32

// States.
const (
	Pending             State = 1
	Sent                State = 2
	Failed              State = 3
	SuppressedNoConsent State = 4
)

// Variant is a template's text in one language.
type Variant struct {
	Locale  string `json:"locale"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html,omitempty"`
}

// Template is a tenant's message in one or more languages.
type Template struct {
	ID            uuid.UUID
	DisplayName   string
	Purpose       Purpose
	DefaultLocale string
	Variants      []Variant
	Version       int64
	CreateTime    time.Time
	UpdateTime    time.Time
}

// Resource is the template's resource name.
func (t Template) Resource() string { return "emailTemplates/" + t.ID.String() }

// Etag is the template's version as text.
func (t Template) Etag() string { return strconv.FormatInt(t.Version, 10) }

// Event is what a message knows of the event that caused it.
type Event struct {
	ID       uuid.UUID
	Type     string
	Resource string
	Source   string
	Time     time.Time
}

// Message is one e-mail in the log.
type Message struct {
	ID              uuid.UUID
	TemplateID      uuid.UUID
	Purpose         Purpose
	CustomerID      uuid.UUID // uuid.Nil when sent to a fixed address
	Recipient       string    // the fixed address, or the customer's once resolved
	RuleID          uuid.UUID
	Event           Event
	State           State
	Attempts        int
	LastReply       string
	Locale          string
	NextAttemptTime time.Time
	CreateTime      time.Time
	UpdateTime      time.Time
	SendTime        time.Time
}

// Resource is the message's resource name.
func (m Message) Resource() string { return "emailMessages/" + m.ID.String() }

// MessageIDHeader is the Message-ID every attempt of m carries, derived
// from its id so a retry after an unknown outcome is the same message to
// the receiving side.
func (m Message) MessageIDHeader(domain string) string {
	return "<" + m.ID.String() + "@" + domain + ">"
}

// Mask hides an address but for its first character and domain.
func Mask(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return ""
	}
	r, _ := utf8.DecodeRuneInString(addr)
	return string(r) + "***" + addr[at:]
}

// ListQuery is one page request.
type ListQuery struct {
	PageSize  int
	PageToken string
	Filter    string
}

// TemplatePage is a page of templates.
type TemplatePage struct {
	Templates     []Template
	NextPageToken string
}

// MessagePage is a page of the log.
type MessagePage struct {
	Messages      []Message
	NextPageToken string
}

// Store is what the use cases need of storage.
type Store interface {
	CreateTemplate(ctx context.Context, caller auth.Caller, t Template, requestID string) (Template, error)
	Template(ctx context.Context, caller auth.Caller, id uuid.UUID) (Template, error)
	Templates(ctx context.Context, caller auth.Caller, q ListQuery) (TemplatePage, error)
	// UpdateTemplate locks the template, lets change edit it, and saves it.
	UpdateTemplate(ctx context.Context, caller auth.Caller, id uuid.UUID, change func(*Template) error) (Template, error)
	DeleteTemplate(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) error
	// Queue records m as pending, once per request id; the template must exist.
	Queue(ctx context.Context, caller auth.Caller, m Message, requestID string) (Message, error)
	Messages(ctx context.Context, caller auth.Caller, q ListQuery) (MessagePage, error)
}

// Who may do what: templates and messages are the tenant's.
var (
	readers = []auth.Role{auth.RoleAdmin, auth.RoleAnalyst}
	writers = []auth.Role{auth.RoleAdmin}
)

// updatable are the fields UpdateEmailTemplate may change.
var updatable = []string{"display_name", "purpose", "default_locale", "variants"}

// Service holds the e-mail use cases.
type Service struct {
	store      Store
	configured bool
}

// New returns a Service over store; configured says whether the operator
// set an SMTP relay, without which nothing may be set up to send.
func New(store Store, configured bool) *Service {
	return &Service{store: store, configured: configured}
}

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

func pageSize(n int) (int, error) {
	if n < 0 {
		return 0, validation.Field("page_size", "must not be negative")
	}
	if n == 0 {
		return defaultPageSize, nil
	}
	return min(n, maxPageSize), nil
}

// ValidateTemplate normalises t and records its problems under prefix
// ("email_template"); an unknown placeholder is named in its violation.
func ValidateTemplate(t *Template, prefix string, v *validation.Error) {
	t.DisplayName = strings.TrimSpace(t.DisplayName)
	switch n := utf8.RuneCountInString(t.DisplayName); {
	case n == 0:
		v.Add(prefix+".display_name", "is required")
	case n > maxDisplayName:
		v.Add(prefix+".display_name", "must be at most %d characters", maxDisplayName)
	}
	if t.Purpose != Transactional && t.Purpose != Marketing {
		v.Add(prefix+".purpose", "must be TRANSACTIONAL or MARKETING")
	}
	t.DefaultLocale = strings.TrimSpace(t.DefaultLocale)
	if t.DefaultLocale == "" {
		t.DefaultLocale = "en"
	} else if !validLocale(t.DefaultLocale) {
		v.Add(prefix+".default_locale", "%q is not a BCP 47 language tag", t.DefaultLocale)
	}
	switch {
	case len(t.Variants) == 0:
		v.Add(prefix+".variants", "is required")
	case len(t.Variants) > maxVariants:
		v.Add(prefix+".variants", "must list at most %d variants", maxVariants)
	}
	var seen []string
	for i := range t.Variants {
		vr := &t.Variants[i]
		f := func(name string) string { return fieldf(prefix+".variants", i, name) }
		vr.Locale = strings.TrimSpace(vr.Locale)
		switch {
		case !validLocale(vr.Locale):
			v.Add(f("locale"), "%q is not a BCP 47 language tag", vr.Locale)
		case slices.Contains(seen, strings.ToLower(vr.Locale)):
			v.Add(f("locale"), "%q appears twice", vr.Locale)
		}
		seen = append(seen, strings.ToLower(vr.Locale))
		if strings.TrimSpace(vr.Subject) == "" {
			v.Add(f("subject"), "is required")
		}
		if strings.ContainsAny(vr.Subject, "\r\n") {
			v.Add(f("subject"), "must be one line")
		}
		if strings.TrimSpace(vr.Text) == "" {
			v.Add(f("text_body"), "is required")
		}
		for name, s := range map[string]string{"subject": vr.Subject, "text_body": vr.Text, "html_body": vr.HTML} {
			limit := maxBody
			if name == "subject" {
				limit = maxSubject
			}
			if utf8.RuneCountInString(s) > limit {
				v.Add(f(name), "must be at most %d characters", limit)
			}
			for _, p := range unknownPlaceholders(s) {
				v.Add(f(name), "unknown placeholder {{%s}}; known: %s", p, strings.Join(Placeholders, ", "))
			}
		}
	}
}

// CreateTemplate validates and stores a template.
func (s *Service) CreateTemplate(ctx context.Context, caller auth.Caller, t Template, requestID string) (Template, error) {
	if err := allow(caller, writers); err != nil {
		return Template{}, err
	}
	if !s.configured {
		return Template{}, ErrNotConfigured
	}
	v := &validation.Error{}
	ValidateTemplate(&t, "email_template", v)
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Template{}, err
	}
	t.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateTemplate(ctx, caller, t, requestID)
}

// Template returns a template.
func (s *Service) Template(ctx context.Context, caller auth.Caller, id uuid.UUID) (Template, error) {
	if err := allow(caller, readers); err != nil {
		return Template{}, err
	}
	return s.store.Template(ctx, caller, id)
}

// Templates returns a page of templates, newest first.
func (s *Service) Templates(ctx context.Context, caller auth.Caller, q ListQuery) (TemplatePage, error) {
	if err := allow(caller, readers); err != nil {
		return TemplatePage{}, err
	}
	var err error
	if q.PageSize, err = pageSize(q.PageSize); err != nil {
		return TemplatePage{}, err
	}
	return s.store.Templates(ctx, caller, q)
}

// UpdateTemplate changes the fields in mask.
func (s *Service) UpdateTemplate(ctx context.Context, caller auth.Caller, in Template, mask []string, etag string) (Template, error) {
	if err := allow(caller, writers); err != nil {
		return Template{}, err
	}
	if !s.configured {
		return Template{}, ErrNotConfigured
	}
	v := &validation.Error{}
	if len(mask) == 0 {
		v.Add("update_mask", "names no field")
	}
	for _, f := range mask {
		if !slices.Contains(updatable, f) {
			v.Add("update_mask", "%q cannot be changed; updatable: %s", f, strings.Join(updatable, ", "))
		}
	}
	if err := v.Err(); err != nil {
		return Template{}, err
	}
	return s.store.UpdateTemplate(ctx, caller, in.ID, func(t *Template) error {
		if etag != "" && etag != t.Etag() {
			return ErrEtagMismatch
		}
		for _, f := range mask {
			switch f {
			case "display_name":
				t.DisplayName = in.DisplayName
			case "purpose":
				t.Purpose = in.Purpose
			case "default_locale":
				t.DefaultLocale = in.DefaultLocale
			case "variants":
				t.Variants = in.Variants
			}
		}
		v := &validation.Error{}
		ValidateTemplate(t, "email_template", v)
		return v.Err()
	})
}

// DeleteTemplate removes a template.
func (s *Service) DeleteTemplate(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) error {
	if err := allow(caller, writers); err != nil {
		return err
	}
	return s.store.DeleteTemplate(ctx, caller, id, etag)
}

// SendRequest asks for one e-mail: exactly one of CustomerID and Address.
type SendRequest struct {
	TemplateID uuid.UUID
	CustomerID uuid.UUID
	Address    string
	RequestID  string
}

// Send queues one e-mail; the workers send it.
func (s *Service) Send(ctx context.Context, caller auth.Caller, r SendRequest) (Message, error) {
	if err := allow(caller, writers); err != nil {
		return Message{}, err
	}
	if !s.configured {
		return Message{}, ErrNotConfigured
	}
	v := &validation.Error{}
	if r.TemplateID == uuid.Nil {
		v.Add("email_template_id", "is required")
	}
	r.Address = strings.TrimSpace(r.Address)
	switch {
	case r.CustomerID == uuid.Nil && r.Address == "":
		v.Add("customer_id", "one of customer_id and address is required")
	case r.CustomerID != uuid.Nil && r.Address != "":
		v.Add("address", "give customer_id or address, not both")
	case r.Address != "":
		if err := CheckAddress(r.Address); err != nil {
			v.Add("address", "%s", err.Error())
		}
	}
	if utf8.RuneCountInString(r.RequestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Message{}, err
	}
	m := Message{ID: uuid.Must(uuid.NewV7()), TemplateID: r.TemplateID, CustomerID: r.CustomerID, Recipient: r.Address, State: Pending}
	return s.store.Queue(ctx, caller, m, r.RequestID)
}

// CheckAddress accepts a bare address ("ada@example.com").
func CheckAddress(addr string) error {
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Address != addr || a.Name != "" {
		return fmt.Errorf("%q is not a bare e-mail address", addr)
	}
	return nil
}

// Messages returns a page of the log, newest first; analysts see
// recipients masked.
func (s *Service) Messages(ctx context.Context, caller auth.Caller, q ListQuery) (MessagePage, error) {
	if err := allow(caller, readers); err != nil {
		return MessagePage{}, err
	}
	var err error
	if q.PageSize, err = pageSize(q.PageSize); err != nil {
		return MessagePage{}, err
	}
	page, err := s.store.Messages(ctx, caller, q)
	if err != nil {
		return MessagePage{}, err
	}
	if !caller.HasAny(auth.RoleAdmin) {
		for i := range page.Messages {
			page.Messages[i].Recipient = Mask(page.Messages[i].Recipient)
		}
	}
	return page, nil
}
