package grpcapi

import (
	"context"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/profile"
	"github.com/rapportcrm/rapport/services/customer/internal/protoconv"
)

// Profiles implements customerv1.ProfileServiceServer.
type Profiles struct {
	customerv1.UnimplementedProfileServiceServer
	svc *profile.Service
}

// NewProfiles returns the server.
func NewProfiles(svc *profile.Service) *Profiles { return &Profiles{svc: svc} }

// ids parses several id fields at once, reporting every bad one.
func ids(pairs ...string) ([]uuid.UUID, error) {
	v := &validation.Error{}
	out := make([]uuid.UUID, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		id, err := uuid.Parse(pairs[i+1])
		if err != nil {
			v.Add(pairs[i], "must be a UUID")
		}
		out = append(out, id)
	}
	return out, v.Err()
}

// pageQuery reads a list request's paging fields.
func pageQuery(size int32, token string) profile.PageQuery {
	return profile.PageQuery{Size: int(size), Token: token}
}

// asOf reads an optional point in time.
func asOf(ts *timestamppb.Timestamp) *time.Time {
	if ts == nil {
		return nil
	}
	t := ts.AsTime()
	return &t
}

// CreateContactPoint implements the RPC.
func (s *Profiles) CreateContactPoint(ctx context.Context, req *customerv1.CreateContactPointRequest) (*customerv1.CreateContactPointResponse, error) {
	id, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	if req.GetContactPoint() == nil {
		return nil, toStatus(validation.Field("contact_point", "is required"))
	}
	cp, err := protoconv.FromContactPoint(req.GetContactPoint(), "contact_point.")
	if err != nil {
		return nil, toStatus(err)
	}
	cp.CustomerID = id
	saved, err := s.svc.CreateContactPoint(ctx, caller(ctx), cp, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.CreateContactPointResponse{ContactPoint: protoconv.ContactPoint(saved)}, nil
}

// GetContactPoint implements the RPC.
func (s *Profiles) GetContactPoint(ctx context.Context, req *customerv1.GetContactPointRequest) (*customerv1.GetContactPointResponse, error) {
	id, err := ids("customer_id", req.GetCustomerId(), "contact_point_id", req.GetContactPointId())
	if err != nil {
		return nil, toStatus(err)
	}
	cp, err := s.svc.ContactPoint(ctx, caller(ctx), id[0], id[1])
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.GetContactPointResponse{ContactPoint: protoconv.ContactPoint(cp)}, nil
}

// ListContactPoints implements the RPC.
func (s *Profiles) ListContactPoints(ctx context.Context, req *customerv1.ListContactPointsRequest) (*customerv1.ListContactPointsResponse, error) {
	id, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	cps, next, err := s.svc.ListContactPoints(ctx, caller(ctx), id, profile.ContactType(req.GetType()), pageQuery(req.GetPageSize(), req.GetPageToken()))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListContactPointsResponse{NextPageToken: next, ContactPoints: make([]*customerv1.ContactPoint, len(cps))}
	for i, cp := range cps {
		out.ContactPoints[i] = protoconv.ContactPoint(cp)
	}
	return out, nil
}

// UpdateContactPoint implements the RPC.
func (s *Profiles) UpdateContactPoint(ctx context.Context, req *customerv1.UpdateContactPointRequest) (*customerv1.UpdateContactPointResponse, error) {
	m := req.GetContactPoint()
	if m == nil {
		return nil, toStatus(validation.Field("contact_point", "is required"))
	}
	id, err := ids("contact_point.customer_id", m.GetCustomerId(), "contact_point.contact_point_id", m.GetContactPointId())
	if err != nil {
		return nil, toStatus(err)
	}
	cp, err := protoconv.FromContactPoint(m, "contact_point.")
	if err != nil {
		return nil, toStatus(err)
	}
	cp.CustomerID, cp.ID = id[0], id[1]
	saved, err := s.svc.UpdateContactPoint(ctx, caller(ctx), cp, maskPaths(req.GetUpdateMask().GetPaths(), "contact_point_id", "customer_id", "type"), m.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.UpdateContactPointResponse{ContactPoint: protoconv.ContactPoint(saved)}, nil
}

// DeleteContactPoint implements the RPC.
func (s *Profiles) DeleteContactPoint(ctx context.Context, req *customerv1.DeleteContactPointRequest) (*customerv1.DeleteContactPointResponse, error) {
	id, err := ids("customer_id", req.GetCustomerId(), "contact_point_id", req.GetContactPointId())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.svc.DeleteContactPoint(ctx, caller(ctx), id[0], id[1], req.GetEtag()); err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.DeleteContactPointResponse{}, nil
}

// CreateOrganizationContact implements the RPC.
func (s *Profiles) CreateOrganizationContact(ctx context.Context, req *customerv1.CreateOrganizationContactRequest) (*customerv1.CreateOrganizationContactResponse, error) {
	if req.GetOrganizationContact() == nil {
		return nil, toStatus(validation.Field("organization_contact", "is required"))
	}
	oc, err := protoconv.FromOrgContact(req.GetOrganizationContact(), true)
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.CreateOrgContact(ctx, caller(ctx), oc, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.CreateOrganizationContactResponse{OrganizationContact: protoconv.OrgContact(saved)}, nil
}

// GetOrganizationContact implements the RPC.
func (s *Profiles) GetOrganizationContact(ctx context.Context, req *customerv1.GetOrganizationContactRequest) (*customerv1.GetOrganizationContactResponse, error) {
	id, err := parseID("organization_contact_id", req.GetOrganizationContactId())
	if err != nil {
		return nil, toStatus(err)
	}
	oc, err := s.svc.OrgContact(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.GetOrganizationContactResponse{OrganizationContact: protoconv.OrgContact(oc)}, nil
}

// ListOrganizationContacts implements the RPC.
func (s *Profiles) ListOrganizationContacts(ctx context.Context, req *customerv1.ListOrganizationContactsRequest) (*customerv1.ListOrganizationContactsResponse, error) {
	id, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	ocs, next, err := s.svc.ListOrgContacts(ctx, caller(ctx), id, pageQuery(req.GetPageSize(), req.GetPageToken()))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListOrganizationContactsResponse{NextPageToken: next, OrganizationContacts: make([]*customerv1.OrganizationContact, len(ocs))}
	for i, oc := range ocs {
		out.OrganizationContacts[i] = protoconv.OrgContact(oc)
	}
	return out, nil
}

// UpdateOrganizationContact implements the RPC.
func (s *Profiles) UpdateOrganizationContact(ctx context.Context, req *customerv1.UpdateOrganizationContactRequest) (*customerv1.UpdateOrganizationContactResponse, error) {
	m := req.GetOrganizationContact()
	if m == nil {
		return nil, toStatus(validation.Field("organization_contact", "is required"))
	}
	id, err := parseID("organization_contact.organization_contact_id", m.GetOrganizationContactId())
	if err != nil {
		return nil, toStatus(err)
	}
	oc, err := protoconv.FromOrgContact(m, false)
	if err != nil {
		return nil, toStatus(err)
	}
	oc.ID = id
	saved, err := s.svc.UpdateOrgContact(ctx, caller(ctx), oc, maskPaths(req.GetUpdateMask().GetPaths(), "organization_contact_id", "organization_id", "person_id"), m.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.UpdateOrganizationContactResponse{OrganizationContact: protoconv.OrgContact(saved)}, nil
}

// DeleteOrganizationContact implements the RPC.
func (s *Profiles) DeleteOrganizationContact(ctx context.Context, req *customerv1.DeleteOrganizationContactRequest) (*customerv1.DeleteOrganizationContactResponse, error) {
	id, err := parseID("organization_contact_id", req.GetOrganizationContactId())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.svc.DeleteOrgContact(ctx, caller(ctx), id, req.GetEtag()); err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.DeleteOrganizationContactResponse{}, nil
}

// CreateGroup implements the RPC.
func (s *Profiles) CreateGroup(ctx context.Context, req *customerv1.CreateGroupRequest) (*customerv1.CreateGroupResponse, error) {
	if req.GetGroup() == nil {
		return nil, toStatus(validation.Field("group", "is required"))
	}
	saved, err := s.svc.CreateGroup(ctx, caller(ctx), protoconv.FromGroup(req.GetGroup()), req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.CreateGroupResponse{Group: protoconv.Group(saved)}, nil
}

// GetGroup implements the RPC.
func (s *Profiles) GetGroup(ctx context.Context, req *customerv1.GetGroupRequest) (*customerv1.GetGroupResponse, error) {
	id, err := parseID("group_id", req.GetGroupId())
	if err != nil {
		return nil, toStatus(err)
	}
	g, err := s.svc.Group(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.GetGroupResponse{Group: protoconv.Group(g)}, nil
}

// ListGroups implements the RPC.
func (s *Profiles) ListGroups(ctx context.Context, req *customerv1.ListGroupsRequest) (*customerv1.ListGroupsResponse, error) {
	gs, next, err := s.svc.ListGroups(ctx, caller(ctx), req.GetFilter(), pageQuery(req.GetPageSize(), req.GetPageToken()))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListGroupsResponse{NextPageToken: next, Groups: make([]*customerv1.Group, len(gs))}
	for i, g := range gs {
		out.Groups[i] = protoconv.Group(g)
	}
	return out, nil
}

// UpdateGroup implements the RPC.
func (s *Profiles) UpdateGroup(ctx context.Context, req *customerv1.UpdateGroupRequest) (*customerv1.UpdateGroupResponse, error) {
	m := req.GetGroup()
	if m == nil {
		return nil, toStatus(validation.Field("group", "is required"))
	}
	id, err := parseID("group.group_id", m.GetGroupId())
	if err != nil {
		return nil, toStatus(err)
	}
	g := protoconv.FromGroup(m)
	g.ID = id
	saved, err := s.svc.UpdateGroup(ctx, caller(ctx), g, maskPaths(req.GetUpdateMask().GetPaths(), "group_id"), m.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.UpdateGroupResponse{Group: protoconv.Group(saved)}, nil
}

// DeleteGroup implements the RPC.
func (s *Profiles) DeleteGroup(ctx context.Context, req *customerv1.DeleteGroupRequest) (*customerv1.DeleteGroupResponse, error) {
	id, err := parseID("group_id", req.GetGroupId())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.svc.DeleteGroup(ctx, caller(ctx), id, req.GetEtag()); err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.DeleteGroupResponse{}, nil
}

// CreateGroupMember implements the RPC.
func (s *Profiles) CreateGroupMember(ctx context.Context, req *customerv1.CreateGroupMemberRequest) (*customerv1.CreateGroupMemberResponse, error) {
	gid, err := parseID("group_id", req.GetGroupId())
	if err != nil {
		return nil, toStatus(err)
	}
	if req.GetMember() == nil {
		return nil, toStatus(validation.Field("member", "is required"))
	}
	m, err := protoconv.FromMember(req.GetMember(), true)
	if err != nil {
		return nil, toStatus(err)
	}
	m.GroupID = gid
	saved, err := s.svc.CreateMember(ctx, caller(ctx), m, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.CreateGroupMemberResponse{Member: protoconv.Member(saved)}, nil
}

func members(ms []profile.Member) []*customerv1.GroupMember {
	out := make([]*customerv1.GroupMember, len(ms))
	for i, m := range ms {
		out[i] = protoconv.Member(m)
	}
	return out
}

// ListGroupMembers implements the RPC.
func (s *Profiles) ListGroupMembers(ctx context.Context, req *customerv1.ListGroupMembersRequest) (*customerv1.ListGroupMembersResponse, error) {
	gid, err := parseID("group_id", req.GetGroupId())
	if err != nil {
		return nil, toStatus(err)
	}
	ms, next, err := s.svc.ListMembers(ctx, caller(ctx), gid, asOf(req.GetAsOf()), pageQuery(req.GetPageSize(), req.GetPageToken()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.ListGroupMembersResponse{Members: members(ms), NextPageToken: next}, nil
}

// ListCustomerMemberships implements the RPC.
func (s *Profiles) ListCustomerMemberships(ctx context.Context, req *customerv1.ListCustomerMembershipsRequest) (*customerv1.ListCustomerMembershipsResponse, error) {
	id, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	ms, next, err := s.svc.ListMemberships(ctx, caller(ctx), id, asOf(req.GetAsOf()), pageQuery(req.GetPageSize(), req.GetPageToken()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.ListCustomerMembershipsResponse{Members: members(ms), NextPageToken: next}, nil
}

// UpdateGroupMember implements the RPC.
func (s *Profiles) UpdateGroupMember(ctx context.Context, req *customerv1.UpdateGroupMemberRequest) (*customerv1.UpdateGroupMemberResponse, error) {
	pm := req.GetMember()
	if pm == nil {
		return nil, toStatus(validation.Field("member", "is required"))
	}
	id, err := ids("member.group_id", pm.GetGroupId(), "member.member_id", pm.GetMemberId())
	if err != nil {
		return nil, toStatus(err)
	}
	m, err := protoconv.FromMember(pm, false)
	if err != nil {
		return nil, toStatus(err)
	}
	m.GroupID, m.ID = id[0], id[1]
	saved, err := s.svc.UpdateMember(ctx, caller(ctx), m, maskPaths(req.GetUpdateMask().GetPaths(), "group_id", "member_id", "customer_id"), pm.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.UpdateGroupMemberResponse{Member: protoconv.Member(saved)}, nil
}

// DeleteGroupMember implements the RPC.
func (s *Profiles) DeleteGroupMember(ctx context.Context, req *customerv1.DeleteGroupMemberRequest) (*customerv1.DeleteGroupMemberResponse, error) {
	id, err := ids("group_id", req.GetGroupId(), "member_id", req.GetMemberId())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.svc.DeleteMember(ctx, caller(ctx), id[0], id[1], req.GetEtag()); err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.DeleteGroupMemberResponse{}, nil
}

// CreateRelationship implements the RPC.
func (s *Profiles) CreateRelationship(ctx context.Context, req *customerv1.CreateRelationshipRequest) (*customerv1.CreateRelationshipResponse, error) {
	if req.GetRelationship() == nil {
		return nil, toStatus(validation.Field("relationship", "is required"))
	}
	r, err := protoconv.FromRelationship(req.GetRelationship(), true)
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.CreateRelationship(ctx, caller(ctx), r, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.CreateRelationshipResponse{Relationship: protoconv.Relationship(saved)}, nil
}

// GetRelationship implements the RPC.
func (s *Profiles) GetRelationship(ctx context.Context, req *customerv1.GetRelationshipRequest) (*customerv1.GetRelationshipResponse, error) {
	id, err := parseID("relationship_id", req.GetRelationshipId())
	if err != nil {
		return nil, toStatus(err)
	}
	r, err := s.svc.Relationship(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.GetRelationshipResponse{Relationship: protoconv.Relationship(r)}, nil
}

// ListCustomerRelationships implements the RPC.
func (s *Profiles) ListCustomerRelationships(ctx context.Context, req *customerv1.ListCustomerRelationshipsRequest) (*customerv1.ListCustomerRelationshipsResponse, error) {
	id, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	rs, next, err := s.svc.ListRelationships(ctx, caller(ctx), id, profile.Direction(req.GetDirection()), asOf(req.GetAsOf()),
		pageQuery(req.GetPageSize(), req.GetPageToken()))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListCustomerRelationshipsResponse{NextPageToken: next, Relationships: make([]*customerv1.Relationship, len(rs))}
	for i, r := range rs {
		out.Relationships[i] = protoconv.Relationship(r)
	}
	return out, nil
}

// UpdateRelationship implements the RPC.
func (s *Profiles) UpdateRelationship(ctx context.Context, req *customerv1.UpdateRelationshipRequest) (*customerv1.UpdateRelationshipResponse, error) {
	m := req.GetRelationship()
	if m == nil {
		return nil, toStatus(validation.Field("relationship", "is required"))
	}
	id, err := parseID("relationship.relationship_id", m.GetRelationshipId())
	if err != nil {
		return nil, toStatus(err)
	}
	r, err := protoconv.FromRelationship(m, false)
	if err != nil {
		return nil, toStatus(err)
	}
	r.ID = id
	saved, err := s.svc.UpdateRelationship(ctx, caller(ctx), r, maskPaths(req.GetUpdateMask().GetPaths(), "relationship_id"), m.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.UpdateRelationshipResponse{Relationship: protoconv.Relationship(saved)}, nil
}

// DeleteRelationship implements the RPC.
func (s *Profiles) DeleteRelationship(ctx context.Context, req *customerv1.DeleteRelationshipRequest) (*customerv1.DeleteRelationshipResponse, error) {
	id, err := parseID("relationship_id", req.GetRelationshipId())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.svc.DeleteRelationship(ctx, caller(ctx), id, req.GetEtag()); err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.DeleteRelationshipResponse{}, nil
}

// SetConsent implements the RPC.
func (s *Profiles) SetConsent(ctx context.Context, req *customerv1.SetConsentRequest) (*customerv1.SetConsentResponse, error) {
	id, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	c, err := s.svc.SetConsent(ctx, caller(ctx), profile.Consent{
		CustomerID: id, Channel: profile.Channel(req.GetChannel()), Purpose: profile.Purpose(req.GetPurpose()),
		State: profile.ConsentState(req.GetState()), Source: req.GetSource(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.SetConsentResponse{Consent: protoconv.Consent(c)}, nil
}

func consents(cs []profile.Consent) []*customerv1.Consent {
	out := make([]*customerv1.Consent, len(cs))
	for i, c := range cs {
		out[i] = protoconv.Consent(c)
	}
	return out
}

// ListConsents implements the RPC.
func (s *Profiles) ListConsents(ctx context.Context, req *customerv1.ListConsentsRequest) (*customerv1.ListConsentsResponse, error) {
	id, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	cs, err := s.svc.Consents(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.ListConsentsResponse{Consents: consents(cs)}, nil
}

// ListConsentHistory implements the RPC.
func (s *Profiles) ListConsentHistory(ctx context.Context, req *customerv1.ListConsentHistoryRequest) (*customerv1.ListConsentHistoryResponse, error) {
	id, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	cs, next, err := s.svc.ConsentHistory(ctx, caller(ctx), id, profile.Channel(req.GetChannel()), profile.Purpose(req.GetPurpose()),
		pageQuery(req.GetPageSize(), req.GetPageToken()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.ListConsentHistoryResponse{Consents: consents(cs), NextPageToken: next}, nil
}

// CreateCustomAttributeDefinition implements the RPC.
func (s *Profiles) CreateCustomAttributeDefinition(ctx context.Context, req *customerv1.CreateCustomAttributeDefinitionRequest) (*customerv1.CreateCustomAttributeDefinitionResponse, error) {
	if req.GetDefinition() == nil {
		return nil, toStatus(validation.Field("definition", "is required"))
	}
	d, err := s.svc.CreateAttributeDef(ctx, caller(ctx), protoconv.FromAttributeDef(req.GetDefinition()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.CreateCustomAttributeDefinitionResponse{Definition: protoconv.AttributeDef(d)}, nil
}

// GetCustomAttributeDefinition implements the RPC.
func (s *Profiles) GetCustomAttributeDefinition(ctx context.Context, req *customerv1.GetCustomAttributeDefinitionRequest) (*customerv1.GetCustomAttributeDefinitionResponse, error) {
	d, err := s.svc.AttributeDef(ctx, caller(ctx), req.GetKey())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.GetCustomAttributeDefinitionResponse{Definition: protoconv.AttributeDef(d)}, nil
}

// ListCustomAttributeDefinitions implements the RPC.
func (s *Profiles) ListCustomAttributeDefinitions(ctx context.Context, req *customerv1.ListCustomAttributeDefinitionsRequest) (*customerv1.ListCustomAttributeDefinitionsResponse, error) {
	ds, next, err := s.svc.ListAttributeDefs(ctx, caller(ctx), pageQuery(req.GetPageSize(), req.GetPageToken()))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListCustomAttributeDefinitionsResponse{NextPageToken: next, Definitions: make([]*customerv1.CustomAttributeDefinition, len(ds))}
	for i, d := range ds {
		out.Definitions[i] = protoconv.AttributeDef(d)
	}
	return out, nil
}

// UpdateCustomAttributeDefinition implements the RPC.
func (s *Profiles) UpdateCustomAttributeDefinition(ctx context.Context, req *customerv1.UpdateCustomAttributeDefinitionRequest) (*customerv1.UpdateCustomAttributeDefinitionResponse, error) {
	m := req.GetDefinition()
	if m == nil {
		return nil, toStatus(validation.Field("definition", "is required"))
	}
	d, err := s.svc.UpdateAttributeDef(ctx, caller(ctx), protoconv.FromAttributeDef(m), maskPaths(req.GetUpdateMask().GetPaths(), "key"), m.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.UpdateCustomAttributeDefinitionResponse{Definition: protoconv.AttributeDef(d)}, nil
}

// DeleteCustomAttributeDefinition implements the RPC.
func (s *Profiles) DeleteCustomAttributeDefinition(ctx context.Context, req *customerv1.DeleteCustomAttributeDefinitionRequest) (*customerv1.DeleteCustomAttributeDefinitionResponse, error) {
	if err := s.svc.DeleteAttributeDef(ctx, caller(ctx), req.GetKey(), req.GetEtag()); err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.DeleteCustomAttributeDefinitionResponse{}, nil
}
