package profile

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
)

// Who may do what: the customer service's readers read every part of a
// profile and its writers change it; households and groups are shared by
// many customers, so only those who may delete customers delete them; the
// custom attribute schema shapes every customer write, so only admins change it.
var (
	readers        = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleSupportAgent, auth.RoleAnalyst}
	writers        = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleSupportAgent}
	groupDeleters  = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
	schemaManagers = []auth.Role{auth.RoleAdmin}
)

var (
	countryRE      = regexp.MustCompile(`^[A-Z]{2}$`)
	networkRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	attributeKeyRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
)

// Service holds the profile use cases.
type Service struct{ store Store }

// New returns a Service over store.
func New(store Store) *Service { return &Service{store: store} }

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

func checkEtag(current, given string) error {
	if given != "" && given != current {
		return fmt.Errorf("%w: current etag is %s", ErrEtagMismatch, current)
	}
	return nil
}

// checkPage validates a page query, defaulting and capping its size.
func checkPage(q *PageQuery, v *validation.Error) {
	switch {
	case q.Size < 0:
		v.Add("page_size", "must not be negative")
	case q.Size == 0:
		q.Size = defaultPageSize
	case q.Size > maxPageSize:
		q.Size = maxPageSize
	}
}

func checkRequestID(id string, v *validation.Error) {
	if utf8.RuneCountInString(id) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
}

func checkLen(v *validation.Error, field, s string, max int) {
	if utf8.RuneCountInString(s) > max {
		v.Add(field, "must be at most %d characters", max)
	}
}

// checkMask reports mask fields outside allowed, and an empty mask.
func checkMask(mask, allowed []string, v *validation.Error) {
	if len(mask) == 0 {
		v.Add("update_mask", "must name at least one field")
	}
	for _, f := range mask {
		if !slices.Contains(allowed, f) {
			v.Add("update_mask", "%q cannot be updated; updatable fields: %v", f, allowed)
		}
	}
}

// liveCustomer returns the customer's reference, refusing a soft-deleted one.
func (s *Service) liveCustomer(ctx context.Context, caller auth.Caller, id uuid.UUID) (CustomerRef, error) {
	ref, err := s.store.CustomerRef(ctx, caller, id)
	if err != nil {
		return CustomerRef{}, err
	}
	if ref.Deleted {
		return CustomerRef{}, customer.ErrDeleted
	}
	return ref, nil
}

// Contact points.

var contactPointFields = []string{"value", "network", "postal_address", "label", "primary", "verification_state", "source", "consent"}

// normalize canonicalises a contact point: e-mails lower-cased, phones in
// E.164 (national numbers read in region), handles and networks trimmed.
func (c *ContactPoint) normalize(region string) {
	c.Value = strings.TrimSpace(c.Value)
	c.Network = strings.ToLower(strings.TrimSpace(c.Network))
	c.Label = strings.TrimSpace(c.Label)
	c.Source = strings.TrimSpace(c.Source)
	switch c.Type {
	case ContactEmail:
		c.Value, _ = customer.NormalizeEmail(c.Value)
	case ContactPhone:
		c.Value, _ = customer.NormalizePhone(c.Value, region)
	}
	lines := make([]string, 0, len(c.Address.Lines))
	for _, l := range c.Address.Lines {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	c.Address.Lines = lines
	c.Address.Locality = strings.TrimSpace(c.Address.Locality)
	c.Address.Region = strings.TrimSpace(c.Address.Region)
	c.Address.PostalCode = strings.TrimSpace(c.Address.PostalCode)
	c.Address.CountryCode = strings.ToUpper(strings.TrimSpace(c.Address.CountryCode))
}

func (c ContactPoint) validate(prefix, region string, v *validation.Error) {
	switch c.Type {
	case ContactEmail:
		if _, ok := customer.NormalizeEmail(c.Value); !ok {
			v.Add(prefix+"value", "must be an e-mail address such as name@example.com")
		}
	case ContactPhone:
		if _, ok := customer.NormalizePhone(c.Value, region); !ok {
			v.Add(prefix+"value", "must be a phone number in E.164 form, such as +441632960961, or national in the customer's country")
		}
	case ContactHandle:
		switch {
		case c.Value == "":
			v.Add(prefix+"value", "is required")
		case utf8.RuneCountInString(c.Value) > maxText:
			v.Add(prefix+"value", "must be at most %d characters", maxText)
		}
		if c.Network == "" || len(c.Network) > 32 || !networkRE.MatchString(c.Network) {
			v.Add(prefix+"network", "must name the network in lower case, such as whatsapp or linkedin")
		}
	case ContactPostal:
		if c.Value != "" {
			v.Add(prefix+"value", "must be empty for a postal address; use postal_address")
		}
		a, p := c.Address, prefix+"postal_address."
		switch {
		case len(a.Lines) == 0:
			v.Add(p+"address_lines", "needs at least one line")
		case len(a.Lines) > maxAddressLines:
			v.Add(p+"address_lines", "must hold at most %d lines", maxAddressLines)
		}
		for _, l := range a.Lines {
			if utf8.RuneCountInString(l) > maxText {
				v.Add(p+"address_lines", "each line must be at most %d characters", maxText)
				break
			}
		}
		checkLen(v, p+"locality", a.Locality, maxText)
		checkLen(v, p+"region", a.Region, maxText)
		checkLen(v, p+"postal_code", a.PostalCode, maxShort)
		if !countryRE.MatchString(a.CountryCode) {
			v.Add(p+"country_code", "must be an ISO 3166-1 alpha-2 code such as GB")
		}
	default:
		v.Add(prefix+"type", "must be EMAIL, PHONE, POSTAL or HANDLE")
	}
	if c.Type != ContactHandle && c.Network != "" {
		v.Add(prefix+"network", "is only for handles")
	}
	if c.Type != ContactPostal && !c.Address.empty() {
		v.Add(prefix+"postal_address", "is only for postal addresses")
	}
	if c.Verification < Unverified || c.Verification > VerificationFailed {
		v.Add(prefix+"verification_state", "is not a known verification state")
	}
	checkLen(v, prefix+"label", c.Label, maxShort)
	checkLen(v, prefix+"source", c.Source, maxShort)
}

// CreateContactPoint validates and adds a contact point to a customer.
func (s *Service) CreateContactPoint(ctx context.Context, caller auth.Caller, cp ContactPoint, requestID string) (ContactPoint, error) {
	if err := allow(caller, writers); err != nil {
		return ContactPoint{}, err
	}
	ref, err := s.liveCustomer(ctx, caller, cp.CustomerID)
	if err != nil {
		return ContactPoint{}, err
	}
	if cp.Verification == VerificationUnspecified {
		cp.Verification = Unverified
	}
	if cp.Verification != Unverified {
		now := time.Now().UTC()
		cp.VerificationTime = &now
	}
	cp.normalize(ref.CountryCode)
	v := &validation.Error{}
	cp.validate("contact_point.", ref.CountryCode, v)
	checkRequestID(requestID, v)
	if err := v.Err(); err != nil {
		return ContactPoint{}, err
	}
	cp.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateContactPoint(ctx, caller, cp, requestID)
}

// ContactPoint returns one contact point of a customer.
func (s *Service) ContactPoint(ctx context.Context, caller auth.Caller, customerID, id uuid.UUID) (ContactPoint, error) {
	if err := allow(caller, readers); err != nil {
		return ContactPoint{}, err
	}
	cp, err := s.store.ContactPoint(ctx, caller, customerID, id)
	if err == nil && personalHidden(caller) {
		cp = cp.withoutPersonalData()
	}
	return cp, err
}

// personalHidden reports whether the caller reads profiles without personal
// data: an analyst with no role that works with customers directly.
func personalHidden(c auth.Caller) bool {
	return !c.HasAny(writers...)
}

// ListContactPoints returns a page of a customer's contact points, of one type when typ is set.
func (s *Service) ListContactPoints(ctx context.Context, caller auth.Caller, customerID uuid.UUID, typ ContactType, q PageQuery) ([]ContactPoint, string, error) {
	if err := allow(caller, readers); err != nil {
		return nil, "", err
	}
	v := &validation.Error{}
	checkPage(&q, v)
	if typ < ContactUnspecified || typ > ContactHandle {
		v.Add("type", "is not a known contact point type")
	}
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	if _, err := s.store.CustomerRef(ctx, caller, customerID); err != nil {
		return nil, "", err
	}
	cps, next, err := s.store.ListContactPoints(ctx, caller, customerID, typ, q)
	if err == nil && personalHidden(caller) {
		for i, cp := range cps {
			cps[i] = cp.withoutPersonalData()
		}
	}
	return cps, next, err
}

// UpdateContactPoint changes the fields in mask. A changed value is
// unverified again unless the same update sets the verification state.
func (s *Service) UpdateContactPoint(ctx context.Context, caller auth.Caller, in ContactPoint, mask []string, etag string) (ContactPoint, error) {
	if err := allow(caller, writers); err != nil {
		return ContactPoint{}, err
	}
	v := &validation.Error{}
	checkMask(mask, contactPointFields, v)
	if err := v.Err(); err != nil {
		return ContactPoint{}, err
	}
	ref, err := s.liveCustomer(ctx, caller, in.CustomerID)
	if err != nil {
		return ContactPoint{}, err
	}
	return s.store.MutateContactPoint(ctx, caller, in.CustomerID, in.ID, func(cp *ContactPoint) error {
		if err := checkEtag(cp.Etag(), etag); err != nil {
			return err
		}
		before := *cp
		for _, f := range mask {
			switch f {
			case "value":
				cp.Value = in.Value
			case "network":
				cp.Network = in.Network
			case "postal_address":
				cp.Address = in.Address
			case "label":
				cp.Label = in.Label
			case "primary":
				cp.Primary = in.Primary
			case "verification_state":
				cp.Verification = in.Verification
			case "source":
				cp.Source = in.Source
			case "consent":
				cp.Consent = in.Consent
			}
		}
		cp.normalize(ref.CountryCode)
		if !slices.Contains(mask, "verification_state") && (cp.Value != before.Value || !slices.Equal(cp.Address.Lines, before.Address.Lines) ||
			cp.Address.PostalCode != before.Address.PostalCode || cp.Network != before.Network) {
			cp.Verification = Unverified
		}
		if cp.Verification != before.Verification {
			now := time.Now().UTC()
			cp.VerificationTime = &now
		}
		v := &validation.Error{}
		cp.validate("contact_point.", ref.CountryCode, v)
		return v.Err()
	})
}

// DeleteContactPoint removes a contact point; removing the primary e-mail or
// phone clears the customer's field.
func (s *Service) DeleteContactPoint(ctx context.Context, caller auth.Caller, customerID, id uuid.UUID, etag string) error {
	if err := allow(caller, writers); err != nil {
		return err
	}
	return s.store.DeleteContactPoint(ctx, caller, customerID, id, func(cp ContactPoint) error { return checkEtag(cp.Etag(), etag) })
}

// Organisation contacts.

var orgContactFields = []string{"title", "department", "primary_contact"}

func (o *OrgContact) normalize() {
	o.Title = strings.TrimSpace(o.Title)
	o.Department = strings.TrimSpace(o.Department)
}

func (o OrgContact) validate(v *validation.Error) {
	checkLen(v, "organization_contact.title", o.Title, maxText)
	checkLen(v, "organization_contact.department", o.Department, maxText)
}

// CreateOrgContact links a person to an organisation.
func (s *Service) CreateOrgContact(ctx context.Context, caller auth.Caller, oc OrgContact, requestID string) (OrgContact, error) {
	if err := allow(caller, writers); err != nil {
		return OrgContact{}, err
	}
	oc.normalize()
	v := &validation.Error{}
	oc.validate(v)
	checkRequestID(requestID, v)
	if err := v.Err(); err != nil {
		return OrgContact{}, err
	}
	org, err := s.liveCustomer(ctx, caller, oc.OrganizationID)
	if err != nil {
		return OrgContact{}, err
	}
	person, err := s.liveCustomer(ctx, caller, oc.PersonID)
	if err != nil {
		return OrgContact{}, err
	}
	if org.Kind != customer.KindOrganization {
		v.Add("organization_contact.organization_id", "must be a customer of kind organisation")
	}
	if person.Kind != customer.KindPerson {
		v.Add("organization_contact.person_id", "must be a customer of kind person")
	}
	if err := v.Err(); err != nil {
		return OrgContact{}, err
	}
	oc.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateOrgContact(ctx, caller, oc, requestID)
}

// OrgContact returns one organisation contact.
func (s *Service) OrgContact(ctx context.Context, caller auth.Caller, id uuid.UUID) (OrgContact, error) {
	if err := allow(caller, readers); err != nil {
		return OrgContact{}, err
	}
	return s.store.OrgContact(ctx, caller, id)
}

// ListOrgContacts returns the contacts of an organisation or the organisations of a person.
func (s *Service) ListOrgContacts(ctx context.Context, caller auth.Caller, customerID uuid.UUID, q PageQuery) ([]OrgContact, string, error) {
	if err := allow(caller, readers); err != nil {
		return nil, "", err
	}
	v := &validation.Error{}
	checkPage(&q, v)
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	if _, err := s.store.CustomerRef(ctx, caller, customerID); err != nil {
		return nil, "", err
	}
	return s.store.ListOrgContacts(ctx, caller, customerID, q)
}

// UpdateOrgContact changes the fields in mask.
func (s *Service) UpdateOrgContact(ctx context.Context, caller auth.Caller, in OrgContact, mask []string, etag string) (OrgContact, error) {
	if err := allow(caller, writers); err != nil {
		return OrgContact{}, err
	}
	v := &validation.Error{}
	checkMask(mask, orgContactFields, v)
	if err := v.Err(); err != nil {
		return OrgContact{}, err
	}
	return s.store.MutateOrgContact(ctx, caller, in.ID, func(oc *OrgContact) error {
		if err := checkEtag(oc.Etag(), etag); err != nil {
			return err
		}
		for _, f := range mask {
			switch f {
			case "title":
				oc.Title = in.Title
			case "department":
				oc.Department = in.Department
			case "primary_contact":
				oc.PrimaryContact = in.PrimaryContact
			}
		}
		oc.normalize()
		v := &validation.Error{}
		oc.validate(v)
		return v.Err()
	})
}

// DeleteOrgContact removes a person from an organisation.
func (s *Service) DeleteOrgContact(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) error {
	if err := allow(caller, writers); err != nil {
		return err
	}
	return s.store.DeleteOrgContact(ctx, caller, id, func(oc OrgContact) error { return checkEtag(oc.Etag(), etag) })
}

// Groups and members.

var (
	groupFields  = []string{"kind", "display_name", "description"}
	memberFields = []string{"role", "valid_from", "valid_to"}
)

func (g *Group) normalize() {
	g.DisplayName = strings.TrimSpace(g.DisplayName)
	g.Description = strings.TrimSpace(g.Description)
}

func (g Group) validate(v *validation.Error) {
	if g.Kind != GroupHousehold && g.Kind != GroupOther {
		v.Add("group.kind", "must be GROUP_KIND_HOUSEHOLD or GROUP_KIND_GROUP")
	}
	if g.DisplayName == "" {
		v.Add("group.display_name", "is required")
	}
	checkLen(v, "group.display_name", g.DisplayName, 300)
	checkLen(v, "group.description", g.Description, maxLong)
}

// CreateGroup validates and stores a group.
func (s *Service) CreateGroup(ctx context.Context, caller auth.Caller, g Group, requestID string) (Group, error) {
	if err := allow(caller, writers); err != nil {
		return Group{}, err
	}
	g.normalize()
	v := &validation.Error{}
	g.validate(v)
	checkRequestID(requestID, v)
	if err := v.Err(); err != nil {
		return Group{}, err
	}
	g.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateGroup(ctx, caller, g, requestID)
}

// Group returns one group.
func (s *Service) Group(ctx context.Context, caller auth.Caller, id uuid.UUID) (Group, error) {
	if err := allow(caller, readers); err != nil {
		return Group{}, err
	}
	return s.store.Group(ctx, caller, id)
}

// ListGroups returns a page of groups matching an AIP-160 filter, newest first.
func (s *Service) ListGroups(ctx context.Context, caller auth.Caller, filter string, q PageQuery) ([]Group, string, error) {
	if err := allow(caller, readers); err != nil {
		return nil, "", err
	}
	v := &validation.Error{}
	checkPage(&q, v)
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	return s.store.ListGroups(ctx, caller, filter, q)
}

// UpdateGroup changes the fields in mask.
func (s *Service) UpdateGroup(ctx context.Context, caller auth.Caller, in Group, mask []string, etag string) (Group, error) {
	if err := allow(caller, writers); err != nil {
		return Group{}, err
	}
	v := &validation.Error{}
	checkMask(mask, groupFields, v)
	if err := v.Err(); err != nil {
		return Group{}, err
	}
	return s.store.MutateGroup(ctx, caller, in.ID, func(g *Group) error {
		if err := checkEtag(g.Etag(), etag); err != nil {
			return err
		}
		for _, f := range mask {
			switch f {
			case "kind":
				g.Kind = in.Kind
			case "display_name":
				g.DisplayName = in.DisplayName
			case "description":
				g.Description = in.Description
			}
		}
		g.normalize()
		v := &validation.Error{}
		g.validate(v)
		return v.Err()
	})
}

// DeleteGroup deletes a group and its memberships.
func (s *Service) DeleteGroup(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) error {
	if err := allow(caller, groupDeleters); err != nil {
		return err
	}
	return s.store.DeleteGroup(ctx, caller, id, func(g Group) error { return checkEtag(g.Etag(), etag) })
}

func (p Period) validate(prefix string, v *validation.Error) {
	if p.From != nil && p.To != nil && !p.From.Before(*p.To) {
		v.Add(prefix+"valid_to", "must be after valid_from")
	}
}

func (m *Member) normalize() { m.Role = strings.TrimSpace(m.Role) }

func (m Member) validate(v *validation.Error) {
	checkLen(v, "member.role", m.Role, maxShort)
	m.Period.validate("member.", v)
}

// CreateMember adds a customer to a group.
func (s *Service) CreateMember(ctx context.Context, caller auth.Caller, m Member, requestID string) (Member, error) {
	if err := allow(caller, writers); err != nil {
		return Member{}, err
	}
	m.normalize()
	v := &validation.Error{}
	m.validate(v)
	checkRequestID(requestID, v)
	if err := v.Err(); err != nil {
		return Member{}, err
	}
	if _, err := s.liveCustomer(ctx, caller, m.CustomerID); err != nil {
		return Member{}, err
	}
	m.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateMember(ctx, caller, m, requestID)
}

// ListMembers returns a page of a group's members, only those in effect at asOf when set.
func (s *Service) ListMembers(ctx context.Context, caller auth.Caller, groupID uuid.UUID, asOf *time.Time, q PageQuery) ([]Member, string, error) {
	if err := allow(caller, readers); err != nil {
		return nil, "", err
	}
	v := &validation.Error{}
	checkPage(&q, v)
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	if _, err := s.store.Group(ctx, caller, groupID); err != nil {
		return nil, "", err
	}
	return s.store.ListMembers(ctx, caller, groupID, asOf, q)
}

// ListMemberships returns a page of a customer's memberships, only those in effect at asOf when set.
func (s *Service) ListMemberships(ctx context.Context, caller auth.Caller, customerID uuid.UUID, asOf *time.Time, q PageQuery) ([]Member, string, error) {
	if err := allow(caller, readers); err != nil {
		return nil, "", err
	}
	v := &validation.Error{}
	checkPage(&q, v)
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	if _, err := s.store.CustomerRef(ctx, caller, customerID); err != nil {
		return nil, "", err
	}
	return s.store.ListMemberships(ctx, caller, customerID, asOf, q)
}

// UpdateMember changes the fields in mask; the new period must not overlap
// the customer's other memberships of the group.
func (s *Service) UpdateMember(ctx context.Context, caller auth.Caller, in Member, mask []string, etag string) (Member, error) {
	if err := allow(caller, writers); err != nil {
		return Member{}, err
	}
	v := &validation.Error{}
	checkMask(mask, memberFields, v)
	if err := v.Err(); err != nil {
		return Member{}, err
	}
	return s.store.MutateMember(ctx, caller, in.GroupID, in.ID, func(m *Member) error {
		if err := checkEtag(m.Etag(), etag); err != nil {
			return err
		}
		for _, f := range mask {
			switch f {
			case "role":
				m.Role = in.Role
			case "valid_from":
				m.From = in.From
			case "valid_to":
				m.To = in.To
			}
		}
		m.normalize()
		v := &validation.Error{}
		m.validate(v)
		return v.Err()
	})
}

// DeleteMember removes a membership.
func (s *Service) DeleteMember(ctx context.Context, caller auth.Caller, groupID, id uuid.UUID, etag string) error {
	if err := allow(caller, writers); err != nil {
		return err
	}
	return s.store.DeleteMember(ctx, caller, groupID, id, func(m Member) error { return checkEtag(m.Etag(), etag) })
}

// Relationships.

var relationshipFields = []string{"valid_from", "valid_to", "note"}

func (r *Relationship) normalize() {
	r.CustomLabel = strings.ToLower(strings.TrimSpace(r.CustomLabel))
	r.Note = strings.TrimSpace(r.Note)
}

func (r Relationship) validate(v *validation.Error) {
	if r.FromID == r.ToID {
		v.Add("relationship.to_customer_id", "must differ from from_customer_id: a customer cannot be related to itself")
	}
	switch {
	case r.Type < RelationSpouse || r.Type > RelationCustom:
		v.Add("relationship.type", "is not a known relationship type")
	case r.Type == RelationCustom && r.CustomLabel == "":
		v.Add("relationship.custom_label", "is required for RELATIONSHIP_TYPE_CUSTOM")
	case r.Type != RelationCustom && r.CustomLabel != "":
		v.Add("relationship.custom_label", "is only for RELATIONSHIP_TYPE_CUSTOM")
	}
	checkLen(v, "relationship.custom_label", r.CustomLabel, maxShort)
	checkLen(v, "relationship.note", r.Note, maxLong)
	r.Period.validate("relationship.", v)
}

// CreateRelationship relates two customers of the caller's tenant.
func (s *Service) CreateRelationship(ctx context.Context, caller auth.Caller, r Relationship, requestID string) (Relationship, error) {
	if err := allow(caller, writers); err != nil {
		return Relationship{}, err
	}
	r.normalize()
	v := &validation.Error{}
	r.validate(v)
	checkRequestID(requestID, v)
	if err := v.Err(); err != nil {
		return Relationship{}, err
	}
	for _, id := range []uuid.UUID{r.FromID, r.ToID} {
		if _, err := s.liveCustomer(ctx, caller, id); err != nil {
			return Relationship{}, err
		}
	}
	r.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateRelationship(ctx, caller, r, requestID)
}

// Relationship returns one relationship.
func (s *Service) Relationship(ctx context.Context, caller auth.Caller, id uuid.UUID) (Relationship, error) {
	if err := allow(caller, readers); err != nil {
		return Relationship{}, err
	}
	return s.store.Relationship(ctx, caller, id)
}

// ListRelationships returns a page of a customer's relationships on the given side(s).
func (s *Service) ListRelationships(ctx context.Context, caller auth.Caller, customerID uuid.UUID, dir Direction, asOf *time.Time, q PageQuery) ([]Relationship, string, error) {
	if err := allow(caller, readers); err != nil {
		return nil, "", err
	}
	v := &validation.Error{}
	checkPage(&q, v)
	if dir < BothDirections || dir > Incoming {
		v.Add("direction", "is not a known direction")
	}
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	if _, err := s.store.CustomerRef(ctx, caller, customerID); err != nil {
		return nil, "", err
	}
	return s.store.ListRelationships(ctx, caller, customerID, dir, asOf, q)
}

// UpdateRelationship changes the fields in mask.
func (s *Service) UpdateRelationship(ctx context.Context, caller auth.Caller, in Relationship, mask []string, etag string) (Relationship, error) {
	if err := allow(caller, writers); err != nil {
		return Relationship{}, err
	}
	v := &validation.Error{}
	checkMask(mask, relationshipFields, v)
	if err := v.Err(); err != nil {
		return Relationship{}, err
	}
	return s.store.MutateRelationship(ctx, caller, in.ID, func(r *Relationship) error {
		if err := checkEtag(r.Etag(), etag); err != nil {
			return err
		}
		for _, f := range mask {
			switch f {
			case "valid_from":
				r.From = in.From
			case "valid_to":
				r.To = in.To
			case "note":
				r.Note = in.Note
			}
		}
		r.normalize()
		v := &validation.Error{}
		r.validate(v)
		return v.Err()
	})
}

// DeleteRelationship deletes a relationship.
func (s *Service) DeleteRelationship(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) error {
	if err := allow(caller, writers); err != nil {
		return err
	}
	return s.store.DeleteRelationship(ctx, caller, id, func(r Relationship) error { return checkEtag(r.Etag(), etag) })
}

// Consent.

// SetConsent records a customer's decision for a channel and purpose.
func (s *Service) SetConsent(ctx context.Context, caller auth.Caller, c Consent) (Consent, error) {
	if err := allow(caller, writers); err != nil {
		return Consent{}, err
	}
	c.Source = strings.TrimSpace(c.Source)
	v := &validation.Error{}
	if c.Channel < ChannelEmail || c.Channel > ChannelMessaging {
		v.Add("channel", "is required and must be a known channel")
	}
	if c.Purpose < PurposeMarketing || c.Purpose > PurposeProfiling {
		v.Add("purpose", "is required and must be a known purpose")
	}
	if c.State != ConsentGranted && c.State != ConsentWithdrawn {
		v.Add("state", "must be CONSENT_STATE_GRANTED or CONSENT_STATE_WITHDRAWN")
	}
	if c.Source == "" {
		v.Add("source", "is required: say where the decision was captured")
	}
	checkLen(v, "source", c.Source, maxShort)
	if err := v.Err(); err != nil {
		return Consent{}, err
	}
	if _, err := s.liveCustomer(ctx, caller, c.CustomerID); err != nil {
		return Consent{}, err
	}
	c.PrincipalID = caller.PrincipalID
	c.RecordID = uuid.Must(uuid.NewV7())
	return s.store.SetConsent(ctx, caller, c)
}

// Consents returns a customer's current consent for every channel and purpose set.
func (s *Service) Consents(ctx context.Context, caller auth.Caller, customerID uuid.UUID) ([]Consent, error) {
	if err := allow(caller, readers); err != nil {
		return nil, err
	}
	if _, err := s.store.CustomerRef(ctx, caller, customerID); err != nil {
		return nil, err
	}
	return s.store.Consents(ctx, caller, customerID)
}

// ConsentHistory returns a page of a customer's consent decisions, newest first.
func (s *Service) ConsentHistory(ctx context.Context, caller auth.Caller, customerID uuid.UUID, ch Channel, p Purpose, q PageQuery) ([]Consent, string, error) {
	if err := allow(caller, readers); err != nil {
		return nil, "", err
	}
	v := &validation.Error{}
	checkPage(&q, v)
	if ch < ChannelUnspecified || ch > ChannelMessaging {
		v.Add("channel", "is not a known channel")
	}
	if p < PurposeUnspecified || p > PurposeProfiling {
		v.Add("purpose", "is not a known purpose")
	}
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	if _, err := s.store.CustomerRef(ctx, caller, customerID); err != nil {
		return nil, "", err
	}
	return s.store.ConsentHistory(ctx, caller, customerID, ch, p, q)
}

// Custom attribute schema.

var attributeFields = []string{"display_name", "description", "allowed_values", "required", "max_length"}

func normalizeDef(d *customer.AttributeDef) {
	d.Key = strings.TrimSpace(d.Key)
	d.DisplayName = strings.TrimSpace(d.DisplayName)
	d.Description = strings.TrimSpace(d.Description)
	values := make([]string, 0, len(d.AllowedValues))
	for _, a := range d.AllowedValues {
		if a = strings.TrimSpace(a); a != "" && !slices.Contains(values, a) {
			values = append(values, a)
		}
	}
	d.AllowedValues = values
}

func validateDef(d customer.AttributeDef, v *validation.Error) {
	if !attributeKeyRE.MatchString(d.Key) {
		v.Add("definition.key", "must be a lower-case letter followed by up to 63 letters, digits or underscores")
	}
	if d.Type < customer.AttributeString || d.Type > customer.AttributeEnum {
		v.Add("definition.type", "is required and must be a known type")
	}
	switch {
	case d.Type == customer.AttributeEnum && len(d.AllowedValues) == 0:
		v.Add("definition.allowed_values", "is required for an enum attribute")
	case d.Type != customer.AttributeEnum && len(d.AllowedValues) > 0:
		v.Add("definition.allowed_values", "is only for enum attributes")
	case len(d.AllowedValues) > maxAllowedValues:
		v.Add("definition.allowed_values", "must hold at most %d values", maxAllowedValues)
	}
	for _, a := range d.AllowedValues {
		if utf8.RuneCountInString(a) > maxText {
			v.Add("definition.allowed_values", "each value must be at most %d characters", maxText)
			break
		}
	}
	switch {
	case d.MaxLength < 0 || d.MaxLength > maxAttributeLength:
		v.Add("definition.max_length", "must be between 0 and %d", maxAttributeLength)
	case d.MaxLength > 0 && d.Type != customer.AttributeString:
		v.Add("definition.max_length", "is only for string attributes")
	}
	checkLen(v, "definition.display_name", d.DisplayName, maxText)
	checkLen(v, "definition.description", d.Description, maxLong)
}

// CreateAttributeDef adds a definition to the tenant's schema.
func (s *Service) CreateAttributeDef(ctx context.Context, caller auth.Caller, d customer.AttributeDef) (customer.AttributeDef, error) {
	if err := allow(caller, schemaManagers); err != nil {
		return customer.AttributeDef{}, err
	}
	normalizeDef(&d)
	v := &validation.Error{}
	validateDef(d, v)
	if err := v.Err(); err != nil {
		return customer.AttributeDef{}, err
	}
	return s.store.CreateAttributeDef(ctx, caller, d)
}

// AttributeDef returns one definition.
func (s *Service) AttributeDef(ctx context.Context, caller auth.Caller, key string) (customer.AttributeDef, error) {
	if err := allow(caller, readers); err != nil {
		return customer.AttributeDef{}, err
	}
	return s.store.AttributeDef(ctx, caller, key)
}

// ListAttributeDefs returns a page of definitions by key.
func (s *Service) ListAttributeDefs(ctx context.Context, caller auth.Caller, q PageQuery) ([]customer.AttributeDef, string, error) {
	if err := allow(caller, readers); err != nil {
		return nil, "", err
	}
	v := &validation.Error{}
	checkPage(&q, v)
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	return s.store.ListAttributeDefs(ctx, caller, q)
}

// UpdateAttributeDef changes the fields in mask. Key and type never change;
// values already stored are checked again only when their customer's
// attributes are next written.
func (s *Service) UpdateAttributeDef(ctx context.Context, caller auth.Caller, in customer.AttributeDef, mask []string, etag string) (customer.AttributeDef, error) {
	if err := allow(caller, schemaManagers); err != nil {
		return customer.AttributeDef{}, err
	}
	v := &validation.Error{}
	checkMask(mask, attributeFields, v)
	if err := v.Err(); err != nil {
		return customer.AttributeDef{}, err
	}
	return s.store.MutateAttributeDef(ctx, caller, in.Key, func(d *customer.AttributeDef) error {
		if err := checkEtag(d.Etag(), etag); err != nil {
			return err
		}
		for _, f := range mask {
			switch f {
			case "display_name":
				d.DisplayName = in.DisplayName
			case "description":
				d.Description = in.Description
			case "allowed_values":
				d.AllowedValues = in.AllowedValues
			case "required":
				d.Required = in.Required
			case "max_length":
				d.MaxLength = in.MaxLength
			}
		}
		normalizeDef(d)
		v := &validation.Error{}
		validateDef(*d, v)
		return v.Err()
	})
}

// DeleteAttributeDef removes a definition no customer carries.
func (s *Service) DeleteAttributeDef(ctx context.Context, caller auth.Caller, key, etag string) error {
	if err := allow(caller, schemaManagers); err != nil {
		return err
	}
	return s.store.DeleteAttributeDef(ctx, caller, key, func(d customer.AttributeDef) error { return checkEtag(d.Etag(), etag) })
}
