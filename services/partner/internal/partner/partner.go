// Package partner is the channel-partner domain: the partner record, its
// rules, and the store it needs.
package partner

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Type is how a partner sells; the numbers match the API's enum.
type Type int32

// Partner types.
const (
	TypeUnspecified Type = iota
	TypeDistributor
	TypeReseller
	TypeAgent
	TypeOEM
	TypeReferral
	TypeIntegrator
)

// Status is where the partner stands with the tenant; the numbers match the API's enum.
type Status int32

// Partner statuses.
const (
	StatusUnspecified Status = iota
	StatusApplicant
	StatusQualification
	StatusAgreement
	StatusActive
	StatusSuspended
	StatusTerminated
)

// Partner is one channel partner.
type Partner struct {
	ID          uuid.UUID
	DisplayName string
	Type        Type
	Status      Status
	Tier        string
	Region      string
	City        string
	ExternalID  string
	CreateTime  time.Time
	UpdateTime  time.Time
	// Revision counts writes; the etag is derived from it.
	Revision int64
}

// Etag is the opaque concurrency token of the partner's current revision.
func (p Partner) Etag() string { return strconv.FormatInt(p.Revision, 10) }

// Resource is the partner's resource name.
func (p Partner) Resource() string { return "partners/" + p.ID.String() }

// ErrNotFound means no partner has the id in the caller's tenant.
var ErrNotFound = errors.New("partner not found")

// Limits on field sizes.
const (
	maxName      = 200
	maxText      = 100
	maxRequestID = 64
)

// normalize trims the record and applies defaults before validation.
func (p *Partner) normalize() {
	p.DisplayName = strings.TrimSpace(p.DisplayName)
	p.Tier = strings.TrimSpace(p.Tier)
	p.Region = strings.TrimSpace(p.Region)
	p.City = strings.TrimSpace(p.City)
	p.ExternalID = strings.TrimSpace(p.ExternalID)
	if p.Status == StatusUnspecified {
		p.Status = StatusApplicant
	}
}

// validate checks every field, reporting paths under prefix ("partner.").
func (p Partner) validate(prefix string, v *validation.Error) {
	switch {
	case p.DisplayName == "":
		v.Add(prefix+"display_name", "is required")
	case utf8.RuneCountInString(p.DisplayName) > maxName:
		v.Add(prefix+"display_name", "must be at most %d characters", maxName)
	}
	switch {
	case p.Type == TypeUnspecified:
		v.Add(prefix+"type", "is required")
	case p.Type < TypeDistributor || p.Type > TypeIntegrator:
		v.Add(prefix+"type", "is not a known partner type")
	}
	if p.Status < StatusApplicant || p.Status > StatusTerminated {
		v.Add(prefix+"status", "is not a known partner status")
	}
	for _, f := range []struct{ name, value string }{
		{"tier", p.Tier}, {"region", p.Region}, {"city", p.City}, {"external_id", p.ExternalID},
	} {
		if utf8.RuneCountInString(f.value) > maxText {
			v.Add(prefix+f.name, "must be at most %d characters", maxText)
		}
	}
}

// ListQuery selects a page of partners, newest first.
type ListQuery struct {
	PageSize  int
	PageToken string
	Filter    string
}

// Page is one page of partners.
type Page struct {
	Partners      []Partner
	NextPageToken string
}

// Store keeps partners. Every method is scoped to the tenant of the caller.
type Store interface {
	// Create inserts p with its "partner.created" event, or returns the
	// partner an earlier create with the same non-empty requestID made
	// (created is then false).
	Create(ctx context.Context, caller auth.Caller, p Partner, requestID string) (saved Partner, created bool, err error)
	Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Partner, error)
	List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error)
}
