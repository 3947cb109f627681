package customer

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Event types the customer emits.
const (
	EventCreated   = "customer.created"
	EventUpdated   = "customer.updated"
	EventDeleted   = "customer.deleted"
	EventUndeleted = "customer.undeleted"
)

// Who may do what. Which customers a reader sees is decided row by row by
// PostgreSQL (the record_access policy): sales reps their own and their
// teams', partner users those linked to their partner, the others all.
var (
	readers  = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleSupportAgent, auth.RoleAnalyst, auth.RolePartnerUser}
	writers  = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleSupportAgent}
	deleters = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
)

// Service holds the customer use cases.
type Service struct{ store Store }

// New returns a Service over store.
func New(store Store) *Service { return &Service{store: store} }

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

// Create validates and stores a new customer.
func (s *Service) Create(ctx context.Context, caller auth.Caller, c Customer, requestID string) (Customer, error) {
	if err := allow(caller, writers); err != nil {
		return Customer{}, err
	}
	if c.OwnerID == nil && ownsOnly(caller) {
		// A rep's new customer is the rep's: otherwise the rep could not see it.
		if id, err := uuid.Parse(caller.PrincipalID); err == nil {
			c.OwnerID = &id
		}
	}
	c.normalize()
	v := &validation.Error{}
	c.validate("customer.", v)
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	defs, err := s.store.AttributeDefs(ctx, caller)
	if err != nil {
		return Customer{}, err
	}
	validateAttributes(defs, c.CustomAttributes, "customer.", true, v)
	if err := v.Err(); err != nil {
		return Customer{}, err
	}
	c.ID = uuid.Must(uuid.NewV7())
	saved, _, err := s.store.Create(ctx, caller, c, requestID)
	return saved, err
}

// Get returns a customer, deleted or not.
func (s *Service) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Customer, error) {
	if err := allow(caller, readers); err != nil {
		return Customer{}, err
	}
	c, err := s.store.Get(ctx, caller, id)
	if err == nil && personalHidden(caller) {
		c = c.withoutPersonalData()
	}
	return c, err
}

// ownsOnly reports whether the caller works only with the customers it or
// its teams own: a sales rep without a broader role.
func ownsOnly(c auth.Caller) bool {
	return c.HasAny(auth.RoleSalesRep) && !c.HasAny(auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSupportAgent)
}

// personalHidden reports whether the caller reads customers without their
// personal data: an analyst with no role that works with customers
// directly (partner users serve the customers they see, so see them whole).
func personalHidden(c auth.Caller) bool {
	return !c.HasAny(append([]auth.Role{auth.RolePartnerUser}, writers...)...)
}

// List returns a page of customers.
func (s *Service) List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error) {
	if err := allow(caller, readers); err != nil {
		return Page{}, err
	}
	v := &validation.Error{}
	switch {
	case q.PageSize < 0:
		v.Add("page_size", "must not be negative")
	case q.PageSize == 0:
		q.PageSize = 50
	case q.PageSize > 1000:
		q.PageSize = 1000
	}
	if _, ok := orderings[q.OrderBy]; !ok {
		v.Add("order_by", "must be one of create_time, update_time, display_name, last_interaction_time, each optionally followed by \" desc\"")
	}
	if err := v.Err(); err != nil {
		return Page{}, err
	}
	page, err := s.store.List(ctx, caller, q)
	if err == nil && personalHidden(caller) {
		for i, c := range page.Customers {
			page.Customers[i] = c.withoutPersonalData()
		}
	}
	return page, err
}

// Update changes the fields in mask. An empty etag skips the concurrency check.
func (s *Service) Update(ctx context.Context, caller auth.Caller, in Customer, mask []string, etag string) (Customer, error) {
	if err := allow(caller, writers); err != nil {
		return Customer{}, err
	}
	v := &validation.Error{}
	if len(mask) == 0 {
		v.Add("update_mask", "must name at least one field")
	}
	attrsChanged := false
	for _, f := range mask {
		key, isAttr := strings.CutPrefix(f, "custom_attributes.")
		switch {
		case f == "custom_attributes" || isAttr && key != "":
			attrsChanged = true
		case !slices.Contains(updatable, f):
			v.Add("update_mask", "%q cannot be updated; updatable fields: %v", f, updatable)
		}
	}
	if err := v.Err(); err != nil {
		return Customer{}, err
	}
	// The schema is read before the transaction: a definition changed
	// meanwhile applies from the customer's next write.
	var defs []AttributeDef
	if attrsChanged {
		var err error
		if defs, err = s.store.AttributeDefs(ctx, caller); err != nil {
			return Customer{}, err
		}
	}
	return s.store.Mutate(ctx, caller, in.ID, func(c *Customer) (string, error) {
		if err := checkEtag(*c, etag); err != nil {
			return "", err
		}
		if c.DeleteTime != nil {
			return "", ErrDeleted
		}
		for _, f := range mask {
			apply(c, in, f)
		}
		c.normalize()
		v := &validation.Error{}
		c.validate("customer.", v)
		if attrsChanged {
			validateAttributes(defs, c.CustomAttributes, "customer.", true, v)
		}
		return EventUpdated, v.Err()
	})
}

// Delete soft-deletes a customer.
func (s *Service) Delete(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) (Customer, error) {
	if err := allow(caller, deleters); err != nil {
		return Customer{}, err
	}
	return s.store.Mutate(ctx, caller, id, func(c *Customer) (string, error) {
		if err := checkEtag(*c, etag); err != nil {
			return "", err
		}
		if c.DeleteTime != nil {
			return "", ErrDeleted
		}
		now := nowUTC()
		c.DeleteTime = &now
		return EventDeleted, nil
	})
}

// Undelete restores a soft-deleted customer.
func (s *Service) Undelete(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) (Customer, error) {
	if err := allow(caller, deleters); err != nil {
		return Customer{}, err
	}
	return s.store.Mutate(ctx, caller, id, func(c *Customer) (string, error) {
		if err := checkEtag(*c, etag); err != nil {
			return "", err
		}
		if c.DeleteTime == nil {
			return "", ErrNotDeleted
		}
		if c.MergedInto != nil {
			// Its rows belong to the survivor now: only an unmerge brings both back.
			return "", ErrMerged
		}
		c.DeleteTime = nil
		return EventUndeleted, nil
	})
}

func checkEtag(c Customer, etag string) error {
	if etag != "" && etag != c.Etag() {
		return fmt.Errorf("%w: current etag is %s", ErrEtagMismatch, c.Etag())
	}
	return nil
}

func apply(c *Customer, in Customer, field string) {
	switch field {
	case "kind":
		c.Kind = in.Kind
	case "display_name":
		c.DisplayName = in.DisplayName
	case "email":
		c.Email = in.Email
	case "phone":
		c.Phone = in.Phone
	case "lifecycle_stage":
		c.Stage = in.Stage
	case "industry":
		c.Industry = in.Industry
	case "country_code":
		c.CountryCode = in.CountryCode
	case "owner_id":
		c.OwnerID = in.OwnerID
	case "tags":
		c.Tags = in.Tags
	case "external_id":
		c.ExternalID = in.ExternalID
	case "source_channel":
		c.SourceChannel = in.SourceChannel
	case "custom_attributes":
		c.CustomAttributes = in.CustomAttributes
	default:
		// "custom_attributes.<key>" sets one attribute, or removes it when
		// the request does not carry it.
		key, _ := strings.CutPrefix(field, "custom_attributes.")
		if value, ok := in.CustomAttributes[key]; ok {
			if c.CustomAttributes == nil {
				c.CustomAttributes = map[string]any{}
			}
			c.CustomAttributes[key] = value
		} else {
			delete(c.CustomAttributes, key)
		}
	}
}

// Ordering is a supported order_by and the column it sorts on.
type Ordering struct {
	Column string
	Desc   bool
}

// orderings lists the supported order_by values; "" is newest first.
var orderings = map[string]Ordering{
	"":                           {"create_time", true},
	"create_time":                {"create_time", false},
	"create_time desc":           {"create_time", true},
	"update_time":                {"update_time", false},
	"update_time desc":           {"update_time", true},
	"display_name":               {"display_name", false},
	"display_name desc":          {"display_name", true},
	"last_interaction_time":      {LastInteractionOrder, false},
	"last_interaction_time desc": {LastInteractionOrder, true},
}

// LastInteractionOrder is the sort key of order_by last_interaction_time:
// customers never contacted sort as the oldest.
const LastInteractionOrder = "coalesce(last_interaction_time, '-infinity'::timestamptz)"

// OrderingOf returns the ordering of a validated order_by.
func OrderingOf(orderBy string) Ordering { return orderings[orderBy] }
