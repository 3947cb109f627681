// Package leadoffer distributes leads to partners: each lead is offered to
// one eligible partner at a time (territory covering the lead, active,
// under its tier's monthly capacity, not offered the lead before), highest
// tier first, then least loaded; the partner accepts or declines before
// the offer expires, and a declined or expired offer moves the lead on.
package leadoffer

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

// State is where an offer stands; the numbers match the API's enum.
type State int32

// Offer states.
const (
	StateUnspecified State = iota
	StatePending
	StateAccepted
	StateDeclined
	StateExpired
)

// Events an offer emits.
const (
	EventOffered  = "lead_offer.offered"
	EventAccepted = "lead_offer.accepted"
	EventDeclined = "lead_offer.declined"
	EventExpired  = "lead_offer.expired"
)

// Errors of the lead distribution use cases.
var (
	ErrNotFound          = errors.New("lead offer not found")
	ErrNoEligiblePartner = errors.New("no eligible partner is left for the lead")
	ErrAlreadyOffered    = errors.New("the lead has a pending or accepted offer")
	ErrNotPending        = errors.New("the lead offer was already answered")
	ErrExpired           = errors.New("the lead offer expired")
	ErrEtagMismatch      = errors.New("lead offer changed since it was read (etag mismatch)")
)

// Who may do what: channel managers offer and sweep; partner users answer
// their own partner's offers, which the partner_access policy narrows.
var (
	offerers  = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
	answerers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RolePartnerUser}
	readers   = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleAnalyst, auth.RolePartnerUser}
)

// Limits.
const (
	defaultTTL      = 48 * time.Hour
	maxTTLHours     = 720
	maxText         = 100
	maxReason       = 500
	maxRequestID    = 64
	defaultPageSize = 50
	maxPageSize     = 1000
)

// Offer is one lead offered to one partner.
type Offer struct {
	ID            uuid.UUID
	LeadID        uuid.UUID
	PartnerID     uuid.UUID
	State         State
	Region        string
	Industry      string
	Tier          string
	ExpireTime    time.Time
	DecideTime    time.Time // zero until answered
	DecidedBy     string
	DeclineReason string
	OfferedBy     string
	CreateTime    time.Time
	Revision      int64
}

// Etag is the opaque concurrency token of the offer.
func (o Offer) Etag() string { return strconv.FormatInt(o.Revision, 10) }

// Resource is the offer's resource name.
func (o Offer) Resource() string { return "leadOffers/" + o.ID.String() }

// Request is a lead to offer.
type Request struct {
	LeadID   uuid.UUID
	Region   string
	Industry string
	TTL      time.Duration
}

// ListQuery selects a page of offers, newest first.
type ListQuery struct {
	PageSize  int
	PageToken string
	Filter    string
}

// Page is one page of offers.
type Page struct {
	Offers        []Offer
	NextPageToken string
}

// Answer changes a locked pending offer; it returns the event to record.
type Answer func(o *Offer) (event string, err error)

// Store keeps offers, scoped to the caller's tenant and what it may see.
type Store interface {
	// Offer picks the best eligible partner for r and inserts a pending
	// offer expiring at now+r.TTL with its event, or returns the offer an
	// earlier call with the same non-empty requestID made. Offers of a
	// tenant are made one at a time, so capacities hold.
	Offer(ctx context.Context, caller auth.Caller, r Request, now time.Time, requestID string) (Offer, error)
	Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Offer, error)
	List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error)
	// Answer locks the offer, applies a, and saves it with its event.
	Answer(ctx context.Context, caller auth.Caller, id uuid.UUID, a Answer) (Offer, error)
	// Overdue returns pending offers whose expire time is before now.
	Overdue(ctx context.Context, caller auth.Caller, now time.Time) ([]Offer, error)
}

// Service holds the lead distribution use cases.
type Service struct {
	store Store
	now   func() time.Time
}

// New returns a Service over store.
func New(store Store, now func() time.Time) *Service { return &Service{store: store, now: now} }

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

// Offer offers a lead to the best eligible partner.
func (s *Service) Offer(ctx context.Context, caller auth.Caller, r Request, requestID string) (Offer, error) {
	if err := allow(caller, offerers); err != nil {
		return Offer{}, err
	}
	r.Region, r.Industry = strings.TrimSpace(r.Region), strings.TrimSpace(r.Industry)
	v := &validation.Error{}
	if r.LeadID == uuid.Nil {
		v.Add("lead_id", "is required")
	}
	if utf8.RuneCountInString(r.Region) > maxText {
		v.Add("region", "must be at most %d characters", maxText)
	}
	if utf8.RuneCountInString(r.Industry) > maxText {
		v.Add("industry", "must be at most %d characters", maxText)
	}
	switch {
	case r.TTL < 0 || r.TTL > maxTTLHours*time.Hour:
		v.Add("ttl_hours", "must be between 1 and %d", maxTTLHours)
	case r.TTL == 0:
		r.TTL = defaultTTL
	}
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Offer{}, err
	}
	return s.store.Offer(ctx, caller, r, s.now(), requestID)
}

// Get returns an offer.
func (s *Service) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Offer, error) {
	if err := allow(caller, readers); err != nil {
		return Offer{}, err
	}
	return s.store.Get(ctx, caller, id)
}

// List returns a page of offers, newest first.
func (s *Service) List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error) {
	if err := allow(caller, readers); err != nil {
		return Page{}, err
	}
	switch {
	case q.PageSize < 0:
		return Page{}, validation.Field("page_size", "must not be negative")
	case q.PageSize == 0:
		q.PageSize = defaultPageSize
	case q.PageSize > maxPageSize:
		q.PageSize = maxPageSize
	}
	return s.store.List(ctx, caller, q)
}

// Accept accepts a pending offer before it expires. An offer found expired
// is recorded as such (and the lead moved on), then refused.
func (s *Service) Accept(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) (Offer, error) {
	if err := allow(caller, answerers); err != nil {
		return Offer{}, err
	}
	now := s.now()
	expired := false
	o, err := s.store.Answer(ctx, caller, id, func(o *Offer) (string, error) {
		if err := pending(o, etag); err != nil {
			return "", err
		}
		o.DecideTime = now
		if !now.Before(o.ExpireTime) {
			expired = true
			o.State = StateExpired
			return EventExpired, nil
		}
		o.State, o.DecidedBy = StateAccepted, caller.PrincipalID
		return EventAccepted, nil
	})
	if err != nil {
		return Offer{}, err
	}
	if expired {
		if _, err := s.reoffer(ctx, caller, o); err != nil && !errors.Is(err, ErrNoEligiblePartner) {
			return Offer{}, err
		}
		return Offer{}, fmt.Errorf("%w at %s", ErrExpired, o.ExpireTime.Format(time.RFC3339))
	}
	return o, nil
}

// Decline declines a pending offer and offers the lead to the next
// eligible partner; next is the zero Offer when none is left.
func (s *Service) Decline(ctx context.Context, caller auth.Caller, id uuid.UUID, etag, reason string) (declined, next Offer, err error) {
	if err := allow(caller, answerers); err != nil {
		return Offer{}, Offer{}, err
	}
	reason = strings.TrimSpace(reason)
	if utf8.RuneCountInString(reason) > maxReason {
		return Offer{}, Offer{}, validation.Field("reason", "must be at most %d characters", maxReason)
	}
	now := s.now()
	declined, err = s.store.Answer(ctx, caller, id, func(o *Offer) (string, error) {
		if err := pending(o, etag); err != nil {
			return "", err
		}
		o.State, o.DecideTime, o.DecidedBy, o.DeclineReason = StateDeclined, now, caller.PrincipalID, reason
		return EventDeclined, nil
	})
	if err != nil {
		return Offer{}, Offer{}, err
	}
	next, err = s.reoffer(ctx, caller, declined)
	if errors.Is(err, ErrNoEligiblePartner) {
		return declined, Offer{}, nil
	}
	return declined, next, err
}

// Expire expires the tenant's overdue pending offers and moves each lead
// on; it returns how many expired and how many were offered again.
func (s *Service) Expire(ctx context.Context, caller auth.Caller) (expired, reoffered int, err error) {
	if err := allow(caller, offerers); err != nil {
		return 0, 0, err
	}
	now := s.now()
	overdue, err := s.store.Overdue(ctx, caller, now)
	if err != nil {
		return 0, 0, err
	}
	for _, o := range overdue {
		done, err := s.store.Answer(ctx, caller, o.ID, func(o *Offer) (string, error) {
			if o.State != StatePending || now.Before(o.ExpireTime) {
				return "", ErrNotPending // answered or extended meanwhile: leave it
			}
			o.State, o.DecideTime = StateExpired, now
			return EventExpired, nil
		})
		if errors.Is(err, ErrNotPending) {
			continue
		}
		if err != nil {
			return expired, reoffered, err
		}
		expired++
		switch _, err := s.reoffer(ctx, caller, done); {
		case err == nil:
			reoffered++
		case !errors.Is(err, ErrNoEligiblePartner):
			return expired, reoffered, err
		}
	}
	return expired, reoffered, nil
}

// reoffer offers the lead of a closed offer to the next partner. It runs
// as the service itself (no principal), since choosing among partners needs
// to see them all, which a partner user who declined may not.
func (s *Service) reoffer(ctx context.Context, caller auth.Caller, closed Offer) (Offer, error) {
	self := auth.Caller{TenantID: caller.TenantID}
	ttl := closed.ExpireTime.Sub(closed.CreateTime)
	if ttl <= 0 {
		ttl = defaultTTL
	}
	return s.store.Offer(auth.WithCaller(ctx, self), self,
		Request{LeadID: closed.LeadID, Region: closed.Region, Industry: closed.Industry, TTL: ttl}, s.now(), "")
}

func pending(o *Offer, etag string) error {
	if etag != "" && etag != o.Etag() {
		return ErrEtagMismatch
	}
	if o.State != StatePending {
		return ErrNotPending
	}
	return nil
}
