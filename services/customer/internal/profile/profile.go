// Package profile is the customer profile's domain beyond the customer
// record: contact points, organisation contacts, households and groups,
// relationships, consent, and the tenant's custom attribute schema.
package profile

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
)

// Errors the use cases return besides customer.ErrNotFound,
// customer.ErrDeleted, auth.ErrForbidden and validation errors.
var (
	ErrContactPointNotFound        = errors.New("contact point not found")
	ErrOrganizationContactNotFound = errors.New("organisation contact not found")
	ErrOrganizationContactExists   = errors.New("the person is already a contact of the organisation")
	ErrGroupNotFound               = errors.New("group not found")
	ErrMemberNotFound              = errors.New("group member not found")
	ErrMembershipOverlap           = errors.New("the customer already belongs to the group during that period")
	ErrRelationshipNotFound        = errors.New("relationship not found")
	ErrRelationshipExists          = errors.New("an open-ended relationship of that type already links the two customers")
	ErrAttributeNotFound           = errors.New("custom attribute definition not found")
	ErrAttributeExists             = errors.New("a custom attribute with that key already exists")
	ErrAttributeInUse              = errors.New("customers still carry the custom attribute; remove it from them first")
	ErrEtagMismatch                = errors.New("the resource changed since it was read (etag mismatch)")
)

// Event types the profile emits.
const (
	EventContactPointCreated        = "customer.contact_point.created"
	EventContactPointUpdated        = "customer.contact_point.updated"
	EventContactPointDeleted        = "customer.contact_point.deleted"
	EventOrganizationContactCreated = "customer.organization_contact.created"
	EventOrganizationContactUpdated = "customer.organization_contact.updated"
	EventOrganizationContactDeleted = "customer.organization_contact.deleted"
	EventGroupCreated               = "customer.group.created"
	EventGroupUpdated               = "customer.group.updated"
	EventGroupDeleted               = "customer.group.deleted"
	EventMemberAdded                = "customer.group.member_added"
	EventMemberUpdated              = "customer.group.member_updated"
	EventMemberRemoved              = "customer.group.member_removed"
	EventRelationshipCreated        = "customer.relationship.created"
	EventRelationshipUpdated        = "customer.relationship.updated"
	EventRelationshipDeleted        = "customer.relationship.deleted"
	// EventConsentChanged is a decision that differs from the current state
	// (or the first one); EventConsentConfirmed repeats the current state.
	EventConsentChanged   = "customer.consent.changed"
	EventConsentConfirmed = "customer.consent.confirmed"
	EventAttributeCreated = "customer.custom_attribute.created"
	EventAttributeUpdated = "customer.custom_attribute.updated"
	EventAttributeDeleted = "customer.custom_attribute.deleted"
)

// SourceCustomerRecord is the source of contact points made from the
// customer record's email and phone fields.
const SourceCustomerRecord = "customer-record"

// Limits on sizes.
const (
	maxPageSize        = 1000
	defaultPageSize    = 50
	maxShort           = 64
	maxText            = 200
	maxLong            = 2000
	maxAddressLines    = 5
	maxAllowedValues   = 100
	maxAttributeLength = 10000
	maxRequestID       = 64
)

// ContactType is the kind of a contact point; the numbers match the API's enum.
type ContactType int32

// Contact point types.
const (
	ContactUnspecified ContactType = iota
	ContactEmail
	ContactPhone
	ContactPostal
	ContactHandle
)

// Verification is a contact point's verification state; the numbers match the API's enum.
type Verification int32

// Verification states.
const (
	VerificationUnspecified Verification = iota
	Unverified
	Verified
	VerificationFailed
)

// PostalAddress is a structured postal address.
type PostalAddress struct {
	Lines       []string
	Locality    string
	Region      string
	PostalCode  string
	CountryCode string
}

func (a PostalAddress) empty() bool {
	return len(a.Lines) == 0 && a.Locality == "" && a.Region == "" && a.PostalCode == "" && a.CountryCode == ""
}

// ContactPoint is one way to reach a customer.
type ContactPoint struct {
	ID               uuid.UUID
	CustomerID       uuid.UUID
	Type             ContactType
	Value            string
	Network          string
	Address          PostalAddress
	Label            string
	Primary          bool
	Verification     Verification
	VerificationTime *time.Time
	Source           string
	Consent          bool
	CreateTime       time.Time
	UpdateTime       time.Time
	Revision         int64
}

// withoutPersonalData keeps what a contact point is (type, network, state,
// consent, region and country of an address) and drops how to reach the
// person: the value, label and the address down to its region.
func (c ContactPoint) withoutPersonalData() ContactPoint {
	c.Value, c.Label = "", ""
	c.Address = PostalAddress{Region: c.Address.Region, CountryCode: c.Address.CountryCode}
	return c
}

// Etag is the concurrency token of the contact point's current revision.
func (c ContactPoint) Etag() string { return etag(c.Revision) }

// Resource is the contact point's resource name.
func (c ContactPoint) Resource() string {
	return "customers/" + c.CustomerID.String() + "/contactPoints/" + c.ID.String()
}

// OrgContact links a person to an organisation.
type OrgContact struct {
	ID             uuid.UUID
	OrganizationID uuid.UUID
	PersonID       uuid.UUID
	Title          string
	Department     string
	PrimaryContact bool
	CreateTime     time.Time
	UpdateTime     time.Time
	Revision       int64
}

// Etag is the concurrency token of the link's current revision.
func (o OrgContact) Etag() string { return etag(o.Revision) }

// Resource is the link's resource name.
func (o OrgContact) Resource() string { return "organizationContacts/" + o.ID.String() }

// GroupKind tells a household from another group; the numbers match the API's enum.
type GroupKind int32

// Group kinds.
const (
	GroupUnspecified GroupKind = iota
	GroupHousehold
	GroupOther
)

// Group is a household or another group of customers.
type Group struct {
	ID          uuid.UUID
	Kind        GroupKind
	DisplayName string
	Description string
	CreateTime  time.Time
	UpdateTime  time.Time
	Revision    int64
}

// Etag is the concurrency token of the group's current revision.
func (g Group) Etag() string { return etag(g.Revision) }

// Resource is the group's resource name.
func (g Group) Resource() string { return "groups/" + g.ID.String() }

// Period is a half-open interval [From, To); a nil bound is unbounded.
type Period struct {
	From, To *time.Time
}

// Member is a customer's membership of a group over a period.
type Member struct {
	ID         uuid.UUID
	GroupID    uuid.UUID
	CustomerID uuid.UUID
	Role       string
	Period
	CreateTime time.Time
	UpdateTime time.Time
	Revision   int64
}

// Etag is the concurrency token of the membership's current revision.
func (m Member) Etag() string { return etag(m.Revision) }

// Resource is the membership's resource name.
func (m Member) Resource() string {
	return "groups/" + m.GroupID.String() + "/members/" + m.ID.String()
}

// RelationType is what one customer is to another; the numbers match the API's enum.
type RelationType int32

// Relationship types.
const (
	RelationUnspecified RelationType = iota
	RelationSpouse
	RelationParentOf
	RelationSubsidiaryOf
	RelationReferredBy
	RelationSibling
	RelationPartnerOf
	RelationCustom
)

// Direction selects the side of a relationship a customer is on; the numbers match the API's enum.
type Direction int32

// Directions.
const (
	BothDirections Direction = iota
	Outgoing
	Incoming
)

// Relationship is a typed, directed link between two customers over a period.
type Relationship struct {
	ID          uuid.UUID
	FromID      uuid.UUID
	ToID        uuid.UUID
	Type        RelationType
	CustomLabel string
	Period
	Note       string
	CreateTime time.Time
	UpdateTime time.Time
	Revision   int64
}

// Etag is the concurrency token of the relationship's current revision.
func (r Relationship) Etag() string { return etag(r.Revision) }

// Resource is the relationship's resource name.
func (r Relationship) Resource() string { return "relationships/" + r.ID.String() }

// Channel is a consent channel; the numbers match the API's enum.
type Channel int32

// Consent channels.
const (
	ChannelUnspecified Channel = iota
	ChannelEmail
	ChannelSMS
	ChannelPhone
	ChannelPost
	ChannelMessaging
)

// Purpose is a consent purpose; the numbers match the API's enum.
type Purpose int32

// Consent purposes.
const (
	PurposeUnspecified Purpose = iota
	PurposeMarketing
	PurposeService
	PurposeResearch
	PurposeProfiling
)

// ConsentState is granted or withdrawn; the numbers match the API's enum.
type ConsentState int32

// Consent states.
const (
	ConsentUnspecified ConsentState = iota
	ConsentGranted
	ConsentWithdrawn
)

// Consent is a consent decision: the current state of a channel and
// purpose, or one entry of its history.
type Consent struct {
	CustomerID  uuid.UUID
	Channel     Channel
	Purpose     Purpose
	State       ConsentState
	Source      string
	PrincipalID string
	RecordID    uuid.UUID
	RecordTime  time.Time
}

// Resource is the resource name of the customer's consent for the channel and purpose.
func (c Consent) Resource() string {
	return "customers/" + c.CustomerID.String() + "/consents/" + strconv.Itoa(int(c.Channel)) + "." + strconv.Itoa(int(c.Purpose))
}

// AttributeResource is the resource name of a custom attribute definition.
func AttributeResource(key string) string { return "customAttributeDefinitions/" + key }

// CustomerRef is what the profile needs to know of a customer.
type CustomerRef struct {
	Kind        customer.Kind
	CountryCode string
	Deleted     bool
}

// PageQuery asks for one page of a list.
type PageQuery struct {
	Size  int
	Token string
}

// Store keeps the profile. Every method is scoped to the tenant of the
// caller. Mutate and Delete methods load and lock the row, call the given
// function (which may refuse with an error), and write the result with its
// event and audit row in one transaction. Writes that touch a customer's
// profile refuse a soft-deleted customer with customer.ErrDeleted.
type Store interface {
	CustomerRef(ctx context.Context, caller auth.Caller, id uuid.UUID) (CustomerRef, error)

	// CreateContactPoint inserts cp (demoting the primary of its type when
	// cp is primary) and mirrors the primary e-mail and phone onto the
	// customer, or returns what an earlier create with requestID made.
	CreateContactPoint(ctx context.Context, caller auth.Caller, cp ContactPoint, requestID string) (ContactPoint, error)
	ContactPoint(ctx context.Context, caller auth.Caller, customerID, id uuid.UUID) (ContactPoint, error)
	ListContactPoints(ctx context.Context, caller auth.Caller, customerID uuid.UUID, typ ContactType, q PageQuery) ([]ContactPoint, string, error)
	MutateContactPoint(ctx context.Context, caller auth.Caller, customerID, id uuid.UUID, m func(*ContactPoint) error) (ContactPoint, error)
	DeleteContactPoint(ctx context.Context, caller auth.Caller, customerID, id uuid.UUID, check func(ContactPoint) error) error

	CreateOrgContact(ctx context.Context, caller auth.Caller, oc OrgContact, requestID string) (OrgContact, error)
	OrgContact(ctx context.Context, caller auth.Caller, id uuid.UUID) (OrgContact, error)
	// ListOrgContacts lists the links where customerID is either side.
	ListOrgContacts(ctx context.Context, caller auth.Caller, customerID uuid.UUID, q PageQuery) ([]OrgContact, string, error)
	MutateOrgContact(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(*OrgContact) error) (OrgContact, error)
	DeleteOrgContact(ctx context.Context, caller auth.Caller, id uuid.UUID, check func(OrgContact) error) error

	CreateGroup(ctx context.Context, caller auth.Caller, g Group, requestID string) (Group, error)
	Group(ctx context.Context, caller auth.Caller, id uuid.UUID) (Group, error)
	ListGroups(ctx context.Context, caller auth.Caller, filter string, q PageQuery) ([]Group, string, error)
	MutateGroup(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(*Group) error) (Group, error)
	DeleteGroup(ctx context.Context, caller auth.Caller, id uuid.UUID, check func(Group) error) error

	// CreateMember adds m under the group's lock, refusing a period that
	// overlaps the customer's other memberships of the group.
	CreateMember(ctx context.Context, caller auth.Caller, m Member, requestID string) (Member, error)
	ListMembers(ctx context.Context, caller auth.Caller, groupID uuid.UUID, asOf *time.Time, q PageQuery) ([]Member, string, error)
	ListMemberships(ctx context.Context, caller auth.Caller, customerID uuid.UUID, asOf *time.Time, q PageQuery) ([]Member, string, error)
	MutateMember(ctx context.Context, caller auth.Caller, groupID, id uuid.UUID, m func(*Member) error) (Member, error)
	DeleteMember(ctx context.Context, caller auth.Caller, groupID, id uuid.UUID, check func(Member) error) error

	CreateRelationship(ctx context.Context, caller auth.Caller, r Relationship, requestID string) (Relationship, error)
	Relationship(ctx context.Context, caller auth.Caller, id uuid.UUID) (Relationship, error)
	ListRelationships(ctx context.Context, caller auth.Caller, customerID uuid.UUID, dir Direction, asOf *time.Time, q PageQuery) ([]Relationship, string, error)
	MutateRelationship(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(*Relationship) error) (Relationship, error)
	DeleteRelationship(ctx context.Context, caller auth.Caller, id uuid.UUID, check func(Relationship) error) error

	// SetConsent appends c to the history and makes it the current state.
	SetConsent(ctx context.Context, caller auth.Caller, c Consent) (Consent, error)
	Consents(ctx context.Context, caller auth.Caller, customerID uuid.UUID) ([]Consent, error)
	ConsentHistory(ctx context.Context, caller auth.Caller, customerID uuid.UUID, ch Channel, p Purpose, q PageQuery) ([]Consent, string, error)

	CreateAttributeDef(ctx context.Context, caller auth.Caller, d customer.AttributeDef) (customer.AttributeDef, error)
	AttributeDef(ctx context.Context, caller auth.Caller, key string) (customer.AttributeDef, error)
	ListAttributeDefs(ctx context.Context, caller auth.Caller, q PageQuery) ([]customer.AttributeDef, string, error)
	MutateAttributeDef(ctx context.Context, caller auth.Caller, key string, m func(*customer.AttributeDef) error) (customer.AttributeDef, error)
	// DeleteAttributeDef refuses with ErrAttributeInUse while a customer carries the key.
	DeleteAttributeDef(ctx context.Context, caller auth.Caller, key string, check func(customer.AttributeDef) error) error
}

func etag(revision int64) string { return strconv.FormatInt(revision, 10) }
