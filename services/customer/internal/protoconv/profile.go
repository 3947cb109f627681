package protoconv

import (
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/profile"
)

func optTime(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

func fromOptTime(ts *timestamppb.Timestamp) *time.Time {
	if ts == nil {
		return nil
	}
	t := ts.AsTime()
	return &t
}

// attributes renders custom attribute values; values that are not JSON
// scalars cannot reach the store, so a failed conversion is dropped.
func attributes(m map[string]any) map[string]*structpb.Value {
	out := make(map[string]*structpb.Value, len(m))
	for k, v := range m {
		if pv, err := structpb.NewValue(v); err == nil {
			out[k] = pv
		}
	}
	return out
}

// fromAttributes reads custom attribute values, refusing nulls, lists and
// objects: attributes hold strings, numbers and booleans only.
func fromAttributes(m map[string]*structpb.Value, prefix string, v *validation.Error) map[string]any {
	out := make(map[string]any, len(m))
	for k, pv := range m {
		switch pv.GetKind().(type) {
		case *structpb.Value_StringValue, *structpb.Value_NumberValue, *structpb.Value_BoolValue:
			out[k] = pv.AsInterface()
		default:
			v.Add(prefix+"custom_attributes."+k, "must be a string, number or boolean")
		}
	}
	return out
}

// parseUUID reads an id field, adding a violation when it is not a UUID.
func parseUUID(s, field string, v *validation.Error) uuid.UUID {
	id, err := uuid.Parse(s)
	if err != nil {
		v.Add(field, "must be a UUID")
	}
	return id
}

// ContactPoint renders a contact point as its API message.
func ContactPoint(c profile.ContactPoint) *customerv1.ContactPoint {
	out := &customerv1.ContactPoint{
		ContactPointId:    c.ID.String(),
		CustomerId:        c.CustomerID.String(),
		Type:              customerv1.ContactPointType(c.Type),
		Value:             c.Value,
		Network:           c.Network,
		Label:             c.Label,
		Primary:           c.Primary,
		VerificationState: customerv1.VerificationState(c.Verification),
		VerificationTime:  optTime(c.VerificationTime),
		Source:            c.Source,
		Consent:           c.Consent,
		CreateTime:        timestamppb.New(c.CreateTime),
		UpdateTime:        timestamppb.New(c.UpdateTime),
		Etag:              c.Etag(),
	}
	if c.Type == profile.ContactPostal {
		a := c.Address
		out.PostalAddress = &customerv1.PostalAddress{AddressLines: a.Lines, Locality: a.Locality, Region: a.Region, PostalCode: a.PostalCode, CountryCode: a.CountryCode}
	}
	return out
}

// FromContactPoint reads the writable fields of a contact point message.
func FromContactPoint(m *customerv1.ContactPoint, prefix string) (profile.ContactPoint, error) {
	v := &validation.Error{}
	a := m.GetPostalAddress()
	c := profile.ContactPoint{
		Type:         profile.ContactType(m.GetType()),
		Value:        m.GetValue(),
		Network:      m.GetNetwork(),
		Address:      profile.PostalAddress{Lines: a.GetAddressLines(), Locality: a.GetLocality(), Region: a.GetRegion(), PostalCode: a.GetPostalCode(), CountryCode: a.GetCountryCode()},
		Label:        m.GetLabel(),
		Primary:      m.GetPrimary(),
		Verification: profile.Verification(m.GetVerificationState()),
		Source:       m.GetSource(),
		Consent:      m.GetConsent(),
	}
	if _, ok := customerv1.ContactPointType_name[int32(m.GetType())]; !ok {
		v.Add(prefix+"type", "unknown value %d", m.GetType())
	}
	if _, ok := customerv1.VerificationState_name[int32(m.GetVerificationState())]; !ok {
		v.Add(prefix+"verification_state", "unknown value %d", m.GetVerificationState())
	}
	return c, v.Err()
}

// OrgContact renders an organisation contact as its API message.
func OrgContact(o profile.OrgContact) *customerv1.OrganizationContact {
	return &customerv1.OrganizationContact{
		OrganizationContactId: o.ID.String(),
		OrganizationId:        o.OrganizationID.String(),
		PersonId:              o.PersonID.String(),
		Title:                 o.Title,
		Department:            o.Department,
		PrimaryContact:        o.PrimaryContact,
		CreateTime:            timestamppb.New(o.CreateTime),
		UpdateTime:            timestamppb.New(o.UpdateTime),
		Etag:                  o.Etag(),
	}
}

// FromOrgContact reads an organisation contact message; withIDs also reads
// the two customer ids, which only a create sets.
func FromOrgContact(m *customerv1.OrganizationContact, withIDs bool) (profile.OrgContact, error) {
	v := &validation.Error{}
	o := profile.OrgContact{Title: m.GetTitle(), Department: m.GetDepartment(), PrimaryContact: m.GetPrimaryContact()}
	if withIDs {
		o.OrganizationID = parseUUID(m.GetOrganizationId(), "organization_contact.organization_id", v)
		o.PersonID = parseUUID(m.GetPersonId(), "organization_contact.person_id", v)
	}
	return o, v.Err()
}

// Group renders a group as its API message.
func Group(g profile.Group) *customerv1.Group {
	return &customerv1.Group{
		GroupId:     g.ID.String(),
		Kind:        customerv1.GroupKind(g.Kind),
		DisplayName: g.DisplayName,
		Description: g.Description,
		CreateTime:  timestamppb.New(g.CreateTime),
		UpdateTime:  timestamppb.New(g.UpdateTime),
		Etag:        g.Etag(),
	}
}

// FromGroup reads the writable fields of a group message.
func FromGroup(m *customerv1.Group) profile.Group {
	return profile.Group{Kind: profile.GroupKind(m.GetKind()), DisplayName: m.GetDisplayName(), Description: m.GetDescription()}
}

// Member renders a membership as its API message.
func Member(m profile.Member) *customerv1.GroupMember {
	return &customerv1.GroupMember{
		MemberId:   m.ID.String(),
		GroupId:    m.GroupID.String(),
		CustomerId: m.CustomerID.String(),
		Role:       m.Role,
		ValidFrom:  optTime(m.From),
		ValidTo:    optTime(m.To),
		CreateTime: timestamppb.New(m.CreateTime),
		UpdateTime: timestamppb.New(m.UpdateTime),
		Etag:       m.Etag(),
	}
}

// FromMember reads a membership message; withCustomer also reads the
// customer id, which only a create sets.
func FromMember(m *customerv1.GroupMember, withCustomer bool) (profile.Member, error) {
	v := &validation.Error{}
	out := profile.Member{Role: m.GetRole(), Period: profile.Period{From: fromOptTime(m.GetValidFrom()), To: fromOptTime(m.GetValidTo())}}
	if withCustomer {
		out.CustomerID = parseUUID(m.GetCustomerId(), "member.customer_id", v)
	}
	return out, v.Err()
}

// Relationship renders a relationship as its API message.
func Relationship(r profile.Relationship) *customerv1.Relationship {
	return &customerv1.Relationship{
		RelationshipId: r.ID.String(),
		FromCustomerId: r.FromID.String(),
		ToCustomerId:   r.ToID.String(),
		Type:           customerv1.RelationshipType(r.Type),
		CustomLabel:    r.CustomLabel,
		ValidFrom:      optTime(r.From),
		ValidTo:        optTime(r.To),
		Note:           r.Note,
		CreateTime:     timestamppb.New(r.CreateTime),
		UpdateTime:     timestamppb.New(r.UpdateTime),
		Etag:           r.Etag(),
	}
}

// FromRelationship reads a relationship message; withIDs also reads the
// customer ids, which only a create sets.
func FromRelationship(m *customerv1.Relationship, withIDs bool) (profile.Relationship, error) {
	v := &validation.Error{}
	r := profile.Relationship{
		Type:        profile.RelationType(m.GetType()),
		CustomLabel: m.GetCustomLabel(),
		Period:      profile.Period{From: fromOptTime(m.GetValidFrom()), To: fromOptTime(m.GetValidTo())},
		Note:        m.GetNote(),
	}
	if withIDs {
		r.FromID = parseUUID(m.GetFromCustomerId(), "relationship.from_customer_id", v)
		r.ToID = parseUUID(m.GetToCustomerId(), "relationship.to_customer_id", v)
	}
	return r, v.Err()
}

// Consent renders a consent decision as its API message.
func Consent(c profile.Consent) *customerv1.Consent {
	return &customerv1.Consent{
		CustomerId:      c.CustomerID.String(),
		Channel:         customerv1.ConsentChannel(c.Channel),
		Purpose:         customerv1.ConsentPurpose(c.Purpose),
		State:           customerv1.ConsentState(c.State),
		Source:          c.Source,
		PrincipalId:     c.PrincipalID,
		RecordTime:      timestamppb.New(c.RecordTime),
		ConsentRecordId: c.RecordID.String(),
	}
}

// AttributeDef renders a custom attribute definition as its API message.
func AttributeDef(d customer.AttributeDef) *customerv1.CustomAttributeDefinition {
	return &customerv1.CustomAttributeDefinition{
		Key:           d.Key,
		Type:          customerv1.CustomAttributeType(d.Type),
		DisplayName:   d.DisplayName,
		Description:   d.Description,
		AllowedValues: d.AllowedValues,
		Required:      d.Required,
		MaxLength:     int32(d.MaxLength),
		CreateTime:    timestamppb.New(d.CreateTime),
		UpdateTime:    timestamppb.New(d.UpdateTime),
		Etag:          d.Etag(),
	}
}

// FromAttributeDef reads a custom attribute definition message.
func FromAttributeDef(m *customerv1.CustomAttributeDefinition) customer.AttributeDef {
	return customer.AttributeDef{
		Key:           m.GetKey(),
		Type:          customer.AttributeType(m.GetType()),
		DisplayName:   m.GetDisplayName(),
		Description:   m.GetDescription(),
		AllowedValues: m.GetAllowedValues(),
		Required:      m.GetRequired(),
		MaxLength:     int(m.GetMaxLength()),
	}
}
