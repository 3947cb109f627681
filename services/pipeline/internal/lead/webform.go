package lead

import (
	"context"
	"crypto/rand"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// WebForm lets a web page submit leads under its public key.
type WebForm struct {
	ID          uuid.UUID
	DisplayName string
	// FormKey is public (it sits in the page), so it only lets the page
	// create leads, never read anything.
	FormKey    string
	Territory  string
	Active     bool
	CreateTime time.Time
	UpdateTime time.Time
	Revision   int64
}

// Etag is the opaque concurrency token of the form's current revision.
func (f WebForm) Etag() string { return strconv.FormatInt(f.Revision, 10) }

// Resource is the form's resource name.
func (f WebForm) Resource() string { return "webForms/" + f.ID.String() }

// ErrWebFormNotFound means no active web form has the key.
var ErrWebFormNotFound = errors.New("no active web form has this key")

// EventWebFormCreated is recorded when a web form is created.
const EventWebFormCreated = "web_form.created"

// formKeyPrefix marks web form keys, like rk_ marks API keys.
const formKeyPrefix = "wf_"

// newFormKey returns a fresh unguessable key (130 random bits, base32).
func newFormKey() string { return formKeyPrefix + rand.Text() }

// WebFormPage is one page of web forms, newest first.
type WebFormPage struct {
	WebForms      []WebForm
	NextPageToken string
}

// Submission is what a public web form posts.
type Submission struct {
	DisplayName, Email, Phone, CompanyName string
	UTM                                    UTM
}

// WebFormStore keeps web forms.
type WebFormStore interface {
	// CreateWebForm stores f, or returns the form an earlier create with the
	// same non-empty requestID made.
	CreateWebForm(ctx context.Context, caller auth.Caller, requestID string, f WebForm) (WebForm, error)
	ListWebForms(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) (WebFormPage, error)
	// WebFormByKey finds the active form with key in any tenant, or returns ErrWebFormNotFound.
	WebFormByKey(ctx context.Context, key string) (tenantID string, f WebForm, err error)
}

// CreateWebForm creates a web form with a fresh key.
func (s *Service) CreateWebForm(ctx context.Context, caller auth.Caller, f WebForm, requestID string) (WebForm, error) {
	if err := allow(caller, admins); err != nil {
		return WebForm{}, err
	}
	f.DisplayName, f.Territory = strings.TrimSpace(f.DisplayName), strings.TrimSpace(f.Territory)
	v := &validation.Error{}
	if f.DisplayName == "" {
		v.Add("web_form.display_name", "is required")
	}
	length(v, "web_form.display_name", f.DisplayName, maxName)
	length(v, "web_form.territory", f.Territory, maxShort*4)
	length(v, "request_id", requestID, maxRequestID)
	if err := v.Err(); err != nil {
		return WebForm{}, err
	}
	f.ID, f.FormKey, f.Active = uuid.Must(uuid.NewV7()), newFormKey(), true
	return s.store.CreateWebForm(ctx, caller, requestID, f)
}

// ListWebForms lists web forms, newest first.
func (s *Service) ListWebForms(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) (WebFormPage, error) {
	if err := allow(caller, admins); err != nil {
		return WebFormPage{}, err
	}
	n, err := pageSizeOf(pageSize)
	if err != nil {
		return WebFormPage{}, err
	}
	return s.store.ListWebForms(ctx, caller, n, pageToken)
}

// Submit captures a lead from a public web form. Nobody is signed in: the
// lead is written in the form's tenant on behalf of the form, and it is not
// matched against customers here (the customer service answers only
// authenticated callers); conversion matches it instead.
func (s *Service) Submit(ctx context.Context, key string, sub Submission) (Lead, error) {
	key = strings.TrimSpace(key)
	if !strings.HasPrefix(key, formKeyPrefix) || len(key) > maxShort {
		return Lead{}, ErrWebFormNotFound
	}
	tenant, f, err := s.store.WebFormByKey(ctx, key)
	if err != nil {
		return Lead{}, err
	}
	l := Lead{DisplayName: sub.DisplayName, Email: sub.Email, Phone: sub.Phone, CompanyName: sub.CompanyName, UTM: sub.UTM,
		Source: "web_form", Status: StatusNew, Territory: f.Territory, WebFormID: &f.ID}
	l.normalize()
	v := &validation.Error{}
	l.validate("", v)
	if err := v.Err(); err != nil {
		return Lead{}, err
	}
	l.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateLead(ctx, auth.Caller{TenantID: tenant, PrincipalID: f.Resource()}, "", l)
}
