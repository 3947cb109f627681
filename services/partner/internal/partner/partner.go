// Package partner is the channel-partner domain: the partner record, its
// rules, and the store it needs.
package partner

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
	// ParentID is the partner this one sells under; uuid.Nil for none.
	ParentID     uuid.UUID
	Territories  []Territory
	PostalPrefix string
	CreateTime   time.Time
	UpdateTime   time.Time
	// Revision counts writes; the etag is derived from it.
	Revision int64
}

// Territory is a region, an industry, or an industry within a region that a
// partner covers.
type Territory struct {
	Region   string `json:"region,omitempty"`
	Industry string `json:"industry,omitempty"`
}

// StatusChange is one logged step of a partner's status machine.
type StatusChange struct {
	ID          uuid.UUID
	PartnerID   uuid.UUID
	From, To    Status
	Reason      string
	PrincipalID string
	ChangeTime  time.Time
}

// transitions is the status machine: the statuses each status may move to.
// Terminated is final.
var transitions = map[Status][]Status{
	StatusApplicant:     {StatusQualification, StatusTerminated},
	StatusQualification: {StatusAgreement, StatusTerminated},
	StatusAgreement:     {StatusActive, StatusTerminated},
	StatusActive:        {StatusSuspended, StatusTerminated},
	StatusSuspended:     {StatusActive, StatusTerminated},
}

// CanTransition reports whether the status machine allows from → to.
func CanTransition(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Etag is the opaque concurrency token of the partner's current revision.
func (p Partner) Etag() string { return strconv.FormatInt(p.Revision, 10) }

// Resource is the partner's resource name.
func (p Partner) Resource() string { return "partners/" + p.ID.String() }

// Errors of the partner use cases.
var (
	// ErrNotFound means no partner has the id in the caller's tenant, or
	// the caller may not see it.
	ErrNotFound = errors.New("partner not found")
	// ErrParentNotFound means the parent_partner_id names no partner.
	ErrParentNotFound = errors.New("parent partner not found")
	// ErrEtagMismatch means the partner changed since the caller read it.
	ErrEtagMismatch = errors.New("partner changed since it was read (etag mismatch)")
	// ErrBadTransition means the status machine does not allow the move.
	ErrBadTransition = errors.New("status transition not allowed")
)

// Limits on field sizes.
const (
	maxName      = 200
	maxText      = 100
	maxRequestID = 64
	maxReason    = 500
	// maxTerritories bounds a partner's territory list.
	maxTerritories = 100
)

// normalize trims the record and applies defaults before validation.
func (p *Partner) normalize() {
	p.DisplayName = strings.TrimSpace(p.DisplayName)
	p.Tier = strings.TrimSpace(p.Tier)
	p.Region = strings.TrimSpace(p.Region)
	p.City = strings.TrimSpace(p.City)
	p.ExternalID = strings.TrimSpace(p.ExternalID)
	p.PostalPrefix = strings.TrimSpace(p.PostalPrefix)
	for i := range p.Territories {
		p.Territories[i].Region = strings.TrimSpace(p.Territories[i].Region)
		p.Territories[i].Industry = strings.TrimSpace(p.Territories[i].Industry)
	}
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
		{"tier", p.Tier}, {"region", p.Region}, {"city", p.City}, {"external_id", p.ExternalID}, {"postal_prefix", p.PostalPrefix},
	} {
		if utf8.RuneCountInString(f.value) > maxText {
			v.Add(prefix+f.name, "must be at most %d characters", maxText)
		}
	}
	if len(p.Territories) > maxTerritories {
		v.Add(prefix+"territories", "must have at most %d entries", maxTerritories)
	}
	for i, t := range p.Territories {
		field := fmt.Sprintf("%sterritories[%d]", prefix, i)
		switch {
		case t.Region == "" && t.Industry == "":
			v.Add(field, "needs a region or an industry")
		case utf8.RuneCountInString(t.Region) > maxText || utf8.RuneCountInString(t.Industry) > maxText:
			v.Add(field, "region and industry must be at most %d characters", maxText)
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

// StatusChangePage is one page of a partner's status log.
type StatusChangePage struct {
	Changes       []StatusChange
	NextPageToken string
}

// Mutation changes a locked partner in place and names the event the
// change emits; a returned StatusChange is logged with it.
type Mutation func(p *Partner) (event string, change *StatusChange, err error)

// Store keeps partners. Every method is scoped to the tenant of the caller,
// and reads only what the caller may see.
type Store interface {
	// Create inserts p with its "partner.created" event, or returns the
	// partner an earlier create with the same non-empty requestID made
	// (created is then false).
	Create(ctx context.Context, caller auth.Caller, p Partner, requestID string) (saved Partner, created bool, err error)
	Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Partner, error)
	List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error)
	// Mutate locks the partner, applies m, and saves the result with its
	// event, audit row and status log entry in one transaction.
	Mutate(ctx context.Context, caller auth.Caller, id uuid.UUID, m Mutation) (Partner, error)
	// StatusChanges returns a page of the partner's status log, newest first.
	StatusChanges(ctx context.Context, caller auth.Caller, id uuid.UUID, pageToken string, pageSize int) (StatusChangePage, error)
}

// String names the status as the API does, for error messages.
func (s Status) String() string {
	names := [...]string{"UNSPECIFIED", "APPLICANT", "QUALIFICATION", "AGREEMENT", "ACTIVE", "SUSPENDED", "TERMINATED"}
	if s < 0 || int(s) >= len(names) {
		return fmt.Sprintf("Status(%d)", int32(s))
	}
	return names[s]
}
