package grpcapi_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	iamv1 "github.com/rapportcrm/rapport/gen/go/rapport/iam/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
)

// newCustomer creates a customer in the tenant of ctx and returns its id.
// newCustomer creates c and returns its id.
func newCustomer(t *testing.T, e *env, ctx context.Context, c *customerv1.Customer) string {
	t.Helper()
	return e.create(t, ctx, c).GetCustomerId()
}

func org(name string) *customerv1.Customer {
	return &customerv1.Customer{Kind: customerv1.CustomerKind_CUSTOMER_KIND_ORGANIZATION, DisplayName: name}
}

func mask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[field] {
		t.Fatalf("got %v, want InvalidArgument on %s", err, field)
	}
}

func (e *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.Owner.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestContactPointValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	id := newCustomer(t, e, ctx, person("Ada", "GB"))
	email, phone, postal, handle := customerv1.ContactPointType_CONTACT_POINT_TYPE_EMAIL, customerv1.ContactPointType_CONTACT_POINT_TYPE_PHONE,
		customerv1.ContactPointType_CONTACT_POINT_TYPE_POSTAL, customerv1.ContactPointType_CONTACT_POINT_TYPE_HANDLE
	tests := []struct {
		name      string
		in        *customerv1.ContactPoint
		wantField string
	}{
		{"no type", &customerv1.ContactPoint{Value: "a@b.example"}, "contact_point.type"},
		{"bad email", &customerv1.ContactPoint{Type: email, Value: "nope"}, "contact_point.value"},
		{"bad phone", &customerv1.ContactPoint{Type: phone, Value: "12"}, "contact_point.value"},
		{"handle without network", &customerv1.ContactPoint{Type: handle, Value: "@ada"}, "contact_point.network"},
		{"postal without lines", &customerv1.ContactPoint{Type: postal, PostalAddress: &customerv1.PostalAddress{CountryCode: "GB"}}, "contact_point.postal_address.address_lines"},
		{"postal without country", &customerv1.ContactPoint{Type: postal, PostalAddress: &customerv1.PostalAddress{AddressLines: []string{"1 Main St"}}}, "contact_point.postal_address.country_code"},
		{"address on an email", &customerv1.ContactPoint{Type: email, Value: "a@b.example", PostalAddress: &customerv1.PostalAddress{CountryCode: "GB"}}, "contact_point.postal_address"},
		{"unknown verification", &customerv1.ContactPoint{Type: email, Value: "a@b.example", VerificationState: 9}, "contact_point.verification_state"},
		{"no contact point", nil, "contact_point"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.profiles.CreateContactPoint(ctx, &customerv1.CreateContactPointRequest{CustomerId: id, ContactPoint: tt.in})
			wantInvalid(t, err, tt.wantField)
		})
	}
	if _, err := e.profiles.CreateContactPoint(ctx, &customerv1.CreateContactPointRequest{CustomerId: "x", ContactPoint: &customerv1.ContactPoint{}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad customer id = %v, want InvalidArgument", err)
	}
	if n := e.count(t, "SELECT count(*) FROM contact_points"); n != 0 {
		t.Fatalf("%d contact points after rejected creates, want 0", n)
	}
}

func TestContactPointsMirrorCustomer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	id := newCustomer(t, e, ctx, person("Ada", "GB"))
	create := func(cp *customerv1.ContactPoint, requestID string) *customerv1.ContactPoint {
		t.Helper()
		resp, err := e.profiles.CreateContactPoint(ctx, &customerv1.CreateContactPointRequest{CustomerId: id, ContactPoint: cp, RequestId: requestID})
		if err != nil {
			t.Fatalf("CreateContactPoint: %v", err)
		}
		return resp.GetContactPoint()
	}
	customerNow := func() *customerv1.Customer {
		t.Helper()
		c, err := e.customers.GetCustomer(ctx, &customerv1.GetCustomerRequest{CustomerId: id})
		if err != nil {
			t.Fatal(err)
		}
		return c.GetCustomer()
	}
	work := create(&customerv1.ContactPoint{Type: customerv1.ContactPointType_CONTACT_POINT_TYPE_EMAIL, Value: "  Ada@Work.Example ", Primary: true, Source: "web-form"}, "cp-1")
	if work.GetValue() != "ada@work.example" || work.GetVerificationState() != customerv1.VerificationState_VERIFICATION_STATE_UNVERIFIED {
		t.Fatalf("created %v, want a lower-cased, unverified e-mail", work)
	}
	if again := create(&customerv1.ContactPoint{Type: customerv1.ContactPointType_CONTACT_POINT_TYPE_EMAIL, Value: "other@x.example", Primary: true}, "cp-1"); again.GetContactPointId() != work.GetContactPointId() {
		t.Fatalf("repeated request_id made %s, want %s", again.GetContactPointId(), work.GetContactPointId())
	}
	if got := customerNow().GetEmail(); got != "ada@work.example" {
		t.Fatalf("customer email = %q, want the primary contact point's", got)
	}
	// A national number is read in the customer's country.
	ph := create(&customerv1.ContactPoint{Type: customerv1.ContactPointType_CONTACT_POINT_TYPE_PHONE, Value: "01632 960961", Primary: true}, "")
	if ph.GetValue() != "+441632960961" || customerNow().GetPhone() != "+441632960961" {
		t.Fatalf("phone = %q, customer phone %q; want +441632960961 on both", ph.GetValue(), customerNow().GetPhone())
	}
	// A new primary e-mail demotes the old one.
	home := create(&customerv1.ContactPoint{Type: customerv1.ContactPointType_CONTACT_POINT_TYPE_EMAIL, Value: "ada@home.example", Primary: true}, "")
	old, err := e.profiles.GetContactPoint(ctx, &customerv1.GetContactPointRequest{CustomerId: id, ContactPointId: work.GetContactPointId()})
	if err != nil || old.GetContactPoint().GetPrimary() {
		t.Fatalf("old primary = %v, %v; want demoted", old, err)
	}
	if got := customerNow().GetEmail(); got != "ada@home.example" {
		t.Fatalf("customer email = %q, want ada@home.example", got)
	}
	create(&customerv1.ContactPoint{Type: customerv1.ContactPointType_CONTACT_POINT_TYPE_HANDLE, Value: "@ada", Network: "Telegram"}, "")
	create(&customerv1.ContactPoint{Type: customerv1.ContactPointType_CONTACT_POINT_TYPE_POSTAL, PostalAddress: &customerv1.PostalAddress{
		AddressLines: []string{"12 St James's Square"}, Locality: "London", PostalCode: "SW1Y 4JH", CountryCode: "gb"}}, "")
	emails, err := e.profiles.ListContactPoints(ctx, &customerv1.ListContactPointsRequest{CustomerId: id, Type: customerv1.ContactPointType_CONTACT_POINT_TYPE_EMAIL})
	if err != nil || len(emails.GetContactPoints()) != 2 {
		t.Fatalf("ListContactPoints(email) = %v, %v; want 2", emails, err)
	}
	var all []*customerv1.ContactPoint
	token := ""
	for {
		page, err := e.profiles.ListContactPoints(ctx, &customerv1.ListContactPointsRequest{CustomerId: id, PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatalf("ListContactPoints: %v", err)
		}
		all = append(all, page.GetContactPoints()...)
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(all) != 5 || all[0].GetContactPointId() != work.GetContactPointId() {
		t.Fatalf("paged %d contact points, want 5 oldest first", len(all))
	}

	// Updating the value unverifies; a stale etag is refused.
	verified, err := e.profiles.UpdateContactPoint(ctx, &customerv1.UpdateContactPointRequest{ContactPoint: &customerv1.ContactPoint{
		CustomerId: id, ContactPointId: home.GetContactPointId(), Etag: home.GetEtag(), VerificationState: customerv1.VerificationState_VERIFICATION_STATE_VERIFIED,
	}, UpdateMask: mask("verification_state")})
	if err != nil || verified.GetContactPoint().GetVerificationTime() == nil {
		t.Fatalf("verify = %v, %v; want a verification time", verified, err)
	}
	changed, err := e.profiles.UpdateContactPoint(ctx, &customerv1.UpdateContactPointRequest{ContactPoint: &customerv1.ContactPoint{
		CustomerId: id, ContactPointId: home.GetContactPointId(), Etag: verified.GetContactPoint().GetEtag(), Value: "ADA@new.example",
	}, UpdateMask: mask("value")})
	if err != nil || changed.GetContactPoint().GetValue() != "ada@new.example" ||
		changed.GetContactPoint().GetVerificationState() != customerv1.VerificationState_VERIFICATION_STATE_UNVERIFIED {
		t.Fatalf("change value = %v, %v; want ada@new.example, unverified", changed, err)
	}
	if got := customerNow().GetEmail(); got != "ada@new.example" {
		t.Fatalf("customer email = %q after the primary changed, want ada@new.example", got)
	}
	_, err = e.profiles.UpdateContactPoint(ctx, &customerv1.UpdateContactPointRequest{ContactPoint: &customerv1.ContactPoint{
		CustomerId: id, ContactPointId: home.GetContactPointId(), Etag: home.GetEtag(), Label: "home"}, UpdateMask: mask("label")})
	if status.Code(err) != codes.Aborted {
		t.Fatalf("stale etag = %v, want Aborted", err)
	}
	_, err = e.profiles.UpdateContactPoint(ctx, &customerv1.UpdateContactPointRequest{ContactPoint: &customerv1.ContactPoint{
		CustomerId: id, ContactPointId: home.GetContactPointId()}, UpdateMask: mask("create_time")})
	wantInvalid(t, err, "update_mask")

	// Deleting the primary clears the customer's field.
	if _, err := e.profiles.DeleteContactPoint(ctx, &customerv1.DeleteContactPointRequest{CustomerId: id, ContactPointId: home.GetContactPointId()}); err != nil {
		t.Fatalf("DeleteContactPoint: %v", err)
	}
	if got := customerNow().GetEmail(); got != "" {
		t.Fatalf("customer email = %q after its primary was deleted, want empty", got)
	}
	if _, err := e.profiles.GetContactPoint(ctx, &customerv1.GetContactPointRequest{CustomerId: id, ContactPointId: home.GetContactPointId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("deleted contact point = %v, want NotFound", err)
	}

	// Writing the customer's email adopts an existing contact point as primary.
	cur := customerNow()
	if _, err := e.customers.UpdateCustomer(ctx, &customerv1.UpdateCustomerRequest{Customer: &customerv1.Customer{
		CustomerId: id, Etag: cur.GetEtag(), Email: "Ada@Work.Example"}, UpdateMask: mask("email")}); err != nil {
		t.Fatalf("UpdateCustomer(email): %v", err)
	}
	adopted, err := e.profiles.GetContactPoint(ctx, &customerv1.GetContactPointRequest{CustomerId: id, ContactPointId: work.GetContactPointId()})
	if err != nil || !adopted.GetContactPoint().GetPrimary() {
		t.Fatalf("contact point after the customer's email changed = %v, %v; want primary", adopted, err)
	}
	if n := e.count(t, "SELECT count(*) FROM contact_points WHERE customer_id = $1 AND type = 1", id); n != 1 {
		t.Fatalf("%d e-mail contact points, want 1 (the existing one adopted)", n)
	}
	if n := e.count(t, "SELECT count(*) FROM outbox WHERE type = 'customer.contact_point.deleted'"); n != 1 {
		t.Fatalf("%d deleted events, want 1", n)
	}
}

func TestPrimaryUnderConcurrency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	id := newCustomer(t, e, ctx, person("Ada", "GB"))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			_, err := e.profiles.CreateContactPoint(ctx, &customerv1.CreateContactPointRequest{CustomerId: id, ContactPoint: &customerv1.ContactPoint{
				Type: customerv1.ContactPointType_CONTACT_POINT_TYPE_PHONE, Value: fmt.Sprintf("+4416329609%02d", i), Primary: true}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent CreateContactPoint: %v", err)
		}
	}
	var primaries int
	var value, phone string
	if err := e.db.Owner.QueryRow(t.Context(), `SELECT count(*), max(value), (SELECT phone FROM customers WHERE customer_id = $1)
		FROM contact_points WHERE customer_id = $1 AND is_primary`, id).Scan(&primaries, &value, &phone); err != nil {
		t.Fatal(err)
	}
	if primaries != 1 || value != phone {
		t.Fatalf("%d primaries (value %s), customer phone %s; want one, mirrored", primaries, value, phone)
	}
}

func TestProfileAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	id := newCustomer(t, e, ctx, person("Ada", "GB"))
	otherCtx := e.as(t.Context(), e.otherKey)
	otherID := newCustomer(t, e, otherCtx, person("Eve", "GB"))
	email := &customerv1.ContactPoint{Type: customerv1.ContactPointType_CONTACT_POINT_TYPE_EMAIL, Value: "ada@example.com"}
	analyst := e.as(t.Context(), e.token(t, auth.RoleAnalyst))
	// Reps see only what they or their teams own, so this one makes its own customer.
	rep := e.principal(t, &iamv1.Principal{DisplayName: "Rep", Roles: []iamv1.Role{iamv1.Role_ROLE_SALES_REP}}).ctx
	repID := newCustomer(t, e, rep, person("Rex", "GB"))
	partner := e.as(t.Context(), e.token(t, auth.RolePartnerUser))
	group, err := e.profiles.CreateGroup(ctx, &customerv1.CreateGroupRequest{Group: &customerv1.Group{Kind: customerv1.GroupKind_GROUP_KIND_HOUSEHOLD, DisplayName: "Lovelace"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"rep adds a contact point", func() error {
			_, err := e.profiles.CreateContactPoint(rep, &customerv1.CreateContactPointRequest{CustomerId: repID, ContactPoint: email})
			return err
		}, codes.OK},
		{"analyst lists contact points without their values", func() error {
			resp, err := e.profiles.ListContactPoints(analyst, &customerv1.ListContactPointsRequest{CustomerId: repID})
			if err == nil && (len(resp.GetContactPoints()) == 0 || resp.GetContactPoints()[0].GetValue() != "") {
				return status.Errorf(codes.Unknown, "contact points %v, want one without its value", resp.GetContactPoints())
			}
			return err
		}, codes.OK},
		{"rep reaches another rep's customer", func() error {
			_, err := e.profiles.ListContactPoints(rep, &customerv1.ListContactPointsRequest{CustomerId: id})
			return err
		}, codes.NotFound},
		{"analyst adds a contact point", func() error {
			_, err := e.profiles.CreateContactPoint(analyst, &customerv1.CreateContactPointRequest{CustomerId: id, ContactPoint: email})
			return err
		}, codes.PermissionDenied},
		{"partner user lists consents", func() error {
			_, err := e.profiles.ListConsents(partner, &customerv1.ListConsentsRequest{CustomerId: id})
			return err
		}, codes.PermissionDenied},
		{"rep deletes a group", func() error {
			_, err := e.profiles.DeleteGroup(rep, &customerv1.DeleteGroupRequest{GroupId: group.GetGroup().GetGroupId()})
			return err
		}, codes.PermissionDenied},
		{"rep defines an attribute", func() error {
			_, err := e.profiles.CreateCustomAttributeDefinition(rep, &customerv1.CreateCustomAttributeDefinitionRequest{Definition: &customerv1.CustomAttributeDefinition{
				Key: "tier", Type: customerv1.CustomAttributeType_CUSTOM_ATTRIBUTE_TYPE_STRING}})
			return err
		}, codes.PermissionDenied},
		{"other tenant's customer gets a contact point", func() error {
			_, err := e.profiles.CreateContactPoint(ctx, &customerv1.CreateContactPointRequest{CustomerId: otherID, ContactPoint: email})
			return err
		}, codes.NotFound},
		{"other tenant lists our contact points", func() error {
			_, err := e.profiles.ListContactPoints(otherCtx, &customerv1.ListContactPointsRequest{CustomerId: id})
			return err
		}, codes.NotFound},
		{"relationship to another tenant's customer", func() error {
			_, err := e.profiles.CreateRelationship(ctx, &customerv1.CreateRelationshipRequest{Relationship: &customerv1.Relationship{
				FromCustomerId: id, ToCustomerId: otherID, Type: customerv1.RelationshipType_RELATIONSHIP_TYPE_SPOUSE}})
			return err
		}, codes.NotFound},
		{"other tenant reads our group", func() error {
			_, err := e.profiles.GetGroup(otherCtx, &customerv1.GetGroupRequest{GroupId: group.GetGroup().GetGroupId()})
			return err
		}, codes.NotFound},
		{"other tenant's customer joins our group", func() error {
			_, err := e.profiles.CreateGroupMember(ctx, &customerv1.CreateGroupMemberRequest{GroupId: group.GetGroup().GetGroupId(), Member: &customerv1.GroupMember{CustomerId: otherID}})
			return err
		}, codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); status.Code(err) != tt.want {
				t.Fatalf("%s = %v, want %v", tt.name, err, tt.want)
			}
		})
	}
}

func TestOrganizationContactsAndRelationships(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	acme := newCustomer(t, e, ctx, org("Acme"))
	ada := newCustomer(t, e, ctx, person("Ada", "GB"))
	bob := newCustomer(t, e, ctx, person("Bob", "GB"))
	link := func(o, p string, primary bool) (*customerv1.OrganizationContact, error) {
		resp, err := e.profiles.CreateOrganizationContact(ctx, &customerv1.CreateOrganizationContactRequest{OrganizationContact: &customerv1.OrganizationContact{
			OrganizationId: o, PersonId: p, Title: "Buyer", PrimaryContact: primary}})
		return resp.GetOrganizationContact(), err
	}
	first, err := link(acme, ada, true)
	if err != nil {
		t.Fatalf("link Ada: %v", err)
	}
	if _, err := link(acme, bob, true); err != nil {
		t.Fatalf("link Bob: %v", err)
	}
	if _, err := link(acme, ada, false); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("linking twice = %v, want AlreadyExists", err)
	}
	_, err = link(ada, bob, false)
	wantInvalid(t, err, "organization_contact.organization_id")
	_, err = link(acme, acme, false)
	wantInvalid(t, err, "organization_contact.person_id")
	contacts, err := e.profiles.ListOrganizationContacts(ctx, &customerv1.ListOrganizationContactsRequest{CustomerId: acme})
	if err != nil || len(contacts.GetOrganizationContacts()) != 2 || contacts.GetOrganizationContacts()[0].GetPrimaryContact() {
		t.Fatalf("Acme's contacts = %v, %v; want two, Ada no longer primary", contacts, err)
	}
	orgs, err := e.profiles.ListOrganizationContacts(ctx, &customerv1.ListOrganizationContactsRequest{CustomerId: ada})
	if err != nil || len(orgs.GetOrganizationContacts()) != 1 || orgs.GetOrganizationContacts()[0].GetOrganizationId() != acme {
		t.Fatalf("Ada's organisations = %v, %v; want Acme", orgs, err)
	}
	upd, err := e.profiles.UpdateOrganizationContact(ctx, &customerv1.UpdateOrganizationContactRequest{OrganizationContact: &customerv1.OrganizationContact{
		OrganizationContactId: first.GetOrganizationContactId(), Department: "Procurement"}, UpdateMask: mask("department")})
	if err != nil || upd.GetOrganizationContact().GetDepartment() != "Procurement" {
		t.Fatalf("UpdateOrganizationContact = %v, %v", upd, err)
	}

	rel := func(from, to string, typ customerv1.RelationshipType, label, requestID string) (*customerv1.Relationship, error) {
		resp, err := e.profiles.CreateRelationship(ctx, &customerv1.CreateRelationshipRequest{RequestId: requestID, Relationship: &customerv1.Relationship{
			FromCustomerId: from, ToCustomerId: to, Type: typ, CustomLabel: label}})
		return resp.GetRelationship(), err
	}
	spouse, err := rel(ada, bob, customerv1.RelationshipType_RELATIONSHIP_TYPE_SPOUSE, "", "rel-1")
	if err != nil {
		t.Fatalf("spouse: %v", err)
	}
	if again, err := rel(ada, bob, customerv1.RelationshipType_RELATIONSHIP_TYPE_SPOUSE, "", "rel-1"); err != nil || again.GetRelationshipId() != spouse.GetRelationshipId() {
		t.Fatalf("repeated request = %v, %v; want the first relationship", again, err)
	}
	if _, err := rel(ada, bob, customerv1.RelationshipType_RELATIONSHIP_TYPE_SPOUSE, "", ""); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("duplicate open relationship = %v, want AlreadyExists", err)
	}
	if _, err := rel(bob, acme, customerv1.RelationshipType_RELATIONSHIP_TYPE_CUSTOM, "Mentor", ""); err != nil {
		t.Fatalf("custom: %v", err)
	}
	_, err = rel(ada, ada, customerv1.RelationshipType_RELATIONSHIP_TYPE_SPOUSE, "", "")
	wantInvalid(t, err, "relationship.to_customer_id")
	_, err = rel(ada, bob, customerv1.RelationshipType_RELATIONSHIP_TYPE_CUSTOM, "", "")
	wantInvalid(t, err, "relationship.custom_label")
	_, err = rel(ada, "nope", customerv1.RelationshipType_RELATIONSHIP_TYPE_SPOUSE, "", "")
	wantInvalid(t, err, "relationship.to_customer_id")

	list := func(id string, dir customerv1.RelationshipDirection, at *timestamppb.Timestamp) int {
		t.Helper()
		resp, err := e.profiles.ListCustomerRelationships(ctx, &customerv1.ListCustomerRelationshipsRequest{CustomerId: id, Direction: dir, AsOf: at})
		if err != nil {
			t.Fatalf("ListCustomerRelationships: %v", err)
		}
		return len(resp.GetRelationships())
	}
	if both, out, in := list(bob, 0, nil), list(bob, customerv1.RelationshipDirection_RELATIONSHIP_DIRECTION_OUTGOING, nil),
		list(bob, customerv1.RelationshipDirection_RELATIONSHIP_DIRECTION_INCOMING, nil); both != 2 || out != 1 || in != 1 {
		t.Fatalf("Bob's relationships: both %d, outgoing %d, incoming %d; want 2, 1, 1", both, out, in)
	}
	// Ending the marriage keeps it in the past only.
	end := time.Now().Add(-time.Hour)
	if _, err := e.profiles.UpdateRelationship(ctx, &customerv1.UpdateRelationshipRequest{Relationship: &customerv1.Relationship{
		RelationshipId: spouse.GetRelationshipId(), ValidTo: timestamppb.New(end)}, UpdateMask: mask("valid_to")}); err != nil {
		t.Fatalf("end relationship: %v", err)
	}
	if now, before := list(ada, 0, timestamppb.Now()), list(ada, 0, timestamppb.New(end.Add(-time.Minute))); now != 0 || before != 1 {
		t.Fatalf("Ada's relationships now %d, before the end %d; want 0, 1", now, before)
	}
	if _, err := e.profiles.DeleteRelationship(ctx, &customerv1.DeleteRelationshipRequest{RelationshipId: spouse.GetRelationshipId()}); err != nil {
		t.Fatalf("DeleteRelationship: %v", err)
	}
	if _, err := e.profiles.GetRelationship(ctx, &customerv1.GetRelationshipRequest{RelationshipId: spouse.GetRelationshipId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("deleted relationship = %v, want NotFound", err)
	}
	if n := e.count(t, "SELECT count(*) FROM outbox WHERE type LIKE 'customer.relationship.%'"); n != 4 {
		t.Fatalf("%d relationship events, want 4 (2 created, updated, deleted)", n)
	}
}

func TestGroupsAndMemberships(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	ada := newCustomer(t, e, ctx, person("Ada", "GB"))
	household, err := e.profiles.CreateGroup(ctx, &customerv1.CreateGroupRequest{Group: &customerv1.Group{Kind: customerv1.GroupKind_GROUP_KIND_HOUSEHOLD, DisplayName: "Lovelace"}})
	if err != nil {
		t.Fatal(err)
	}
	club, err := e.profiles.CreateGroup(ctx, &customerv1.CreateGroupRequest{Group: &customerv1.Group{Kind: customerv1.GroupKind_GROUP_KIND_GROUP, DisplayName: "Analytical Society"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.profiles.CreateGroup(ctx, &customerv1.CreateGroupRequest{Group: &customerv1.Group{DisplayName: "No kind"}})
	wantInvalid(t, err, "group.kind")
	hid := household.GetGroup().GetGroupId()
	day := func(d int) *timestamppb.Timestamp {
		return timestamppb.New(time.Date(2020, 1, d, 0, 0, 0, 0, time.UTC))
	}
	add := func(gid string, from, to *timestamppb.Timestamp) (*customerv1.GroupMember, error) {
		resp, err := e.profiles.CreateGroupMember(ctx, &customerv1.CreateGroupMemberRequest{GroupId: gid, Member: &customerv1.GroupMember{
			CustomerId: ada, Role: "head", ValidFrom: from, ValidTo: to}})
		return resp.GetMember(), err
	}
	first, err := add(hid, day(1), day(10))
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	// Half-open periods: the next membership may start where the last ended.
	if _, err := add(hid, day(10), nil); err != nil {
		t.Fatalf("adjacent membership: %v", err)
	}
	if _, err := add(hid, day(5), day(6)); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("overlapping membership = %v, want FailedPrecondition", err)
	}
	_, err = add(hid, day(6), day(5))
	wantInvalid(t, err, "member.valid_to")
	if _, err := add(club.GetGroup().GetGroupId(), nil, nil); err != nil {
		t.Fatalf("second group: %v", err)
	}
	at := func(ts *timestamppb.Timestamp) int {
		t.Helper()
		resp, err := e.profiles.ListCustomerMemberships(ctx, &customerv1.ListCustomerMembershipsRequest{CustomerId: ada, AsOf: ts})
		if err != nil {
			t.Fatalf("ListCustomerMemberships: %v", err)
		}
		return len(resp.GetMembers())
	}
	if all, jan5, jan10 := at(nil), at(day(5)), at(day(10)); all != 3 || jan5 != 2 || jan10 != 2 {
		t.Fatalf("memberships: all %d, on the 5th %d, on the 10th %d; want 3, 2, 2", all, jan5, jan10)
	}
	members, err := e.profiles.ListGroupMembers(ctx, &customerv1.ListGroupMembersRequest{GroupId: hid, AsOf: day(3)})
	if err != nil || len(members.GetMembers()) != 1 || members.GetMembers()[0].GetMemberId() != first.GetMemberId() {
		t.Fatalf("household on the 3rd = %v, %v; want the first membership", members, err)
	}
	// Stretching the first membership into the second is refused.
	_, err = e.profiles.UpdateGroupMember(ctx, &customerv1.UpdateGroupMemberRequest{Member: &customerv1.GroupMember{
		GroupId: hid, MemberId: first.GetMemberId(), ValidTo: day(20)}, UpdateMask: mask("valid_to")})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("overlapping update = %v, want FailedPrecondition", err)
	}
	groups, err := e.profiles.ListGroups(ctx, &customerv1.ListGroupsRequest{Filter: "kind = GROUP_KIND_HOUSEHOLD"})
	if err != nil || len(groups.GetGroups()) != 1 {
		t.Fatalf("ListGroups(household) = %v, %v; want one", groups, err)
	}
	if _, err := e.profiles.DeleteGroup(ctx, &customerv1.DeleteGroupRequest{GroupId: hid, Etag: household.GetGroup().GetEtag()}); err != nil {
		t.Fatalf("DeleteGroup: %v", err)
	}
	if n := at(nil); n != 1 {
		t.Fatalf("%d memberships after the household went, want 1", n)
	}
	if n := e.count(t, "SELECT count(*) FROM outbox WHERE type = 'customer.group.member_removed'"); n != 2 {
		t.Fatalf("%d member_removed events, want 2", n)
	}
}

func TestConsent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	id := newCustomer(t, e, ctx, person("Ada", "GB"))
	set := func(ch customerv1.ConsentChannel, p customerv1.ConsentPurpose, st customerv1.ConsentState, source string) error {
		_, err := e.profiles.SetConsent(ctx, &customerv1.SetConsentRequest{CustomerId: id, Channel: ch, Purpose: p, State: st, Source: source})
		return err
	}
	email, sms := customerv1.ConsentChannel_CONSENT_CHANNEL_EMAIL, customerv1.ConsentChannel_CONSENT_CHANNEL_SMS
	marketing := customerv1.ConsentPurpose_CONSENT_PURPOSE_MARKETING
	granted, withdrawn := customerv1.ConsentState_CONSENT_STATE_GRANTED, customerv1.ConsentState_CONSENT_STATE_WITHDRAWN
	for _, step := range []struct {
		ch customerv1.ConsentChannel
		st customerv1.ConsentState
	}{{email, granted}, {email, granted}, {email, withdrawn}, {sms, granted}} {
		if err := set(step.ch, marketing, step.st, "web-preferences"); err != nil {
			t.Fatalf("SetConsent: %v", err)
		}
	}
	wantInvalid(t, set(0, marketing, granted, "web"), "channel")
	wantInvalid(t, set(email, marketing, 0, "web"), "state")
	wantInvalid(t, set(email, marketing, granted, " "), "source")
	current, err := e.profiles.ListConsents(ctx, &customerv1.ListConsentsRequest{CustomerId: id})
	if err != nil || len(current.GetConsents()) != 2 || current.GetConsents()[0].GetState() != withdrawn {
		t.Fatalf("ListConsents = %v, %v; want e-mail withdrawn and sms granted", current, err)
	}
	var history []*customerv1.Consent
	token := ""
	for {
		page, err := e.profiles.ListConsentHistory(ctx, &customerv1.ListConsentHistoryRequest{CustomerId: id, Channel: email, PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatalf("ListConsentHistory: %v", err)
		}
		history = append(history, page.GetConsents()...)
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(history) != 3 || history[0].GetState() != withdrawn || history[0].GetPrincipalId() == "" {
		t.Fatalf("e-mail history = %v; want 3 decisions, newest (withdrawn) first, with who", history)
	}
	changed := e.count(t, "SELECT count(*) FROM outbox WHERE type = 'customer.consent.changed'")
	confirmed := e.count(t, "SELECT count(*) FROM outbox WHERE type = 'customer.consent.confirmed'")
	if changed != 3 || confirmed != 1 {
		t.Fatalf("consent events: %d changed, %d confirmed; want 3, 1", changed, confirmed)
	}
}

func TestCustomAttributes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	define := func(d *customerv1.CustomAttributeDefinition) error {
		_, err := e.profiles.CreateCustomAttributeDefinition(ctx, &customerv1.CreateCustomAttributeDefinitionRequest{Definition: d})
		return err
	}
	for _, d := range []*customerv1.CustomAttributeDefinition{
		{Key: "tier", Type: customerv1.CustomAttributeType_CUSTOM_ATTRIBUTE_TYPE_ENUM, AllowedValues: []string{"gold", "silver"}, Required: true},
		{Key: "score", Type: customerv1.CustomAttributeType_CUSTOM_ATTRIBUTE_TYPE_NUMBER},
		{Key: "since", Type: customerv1.CustomAttributeType_CUSTOM_ATTRIBUTE_TYPE_DATE},
		{Key: "nickname", Type: customerv1.CustomAttributeType_CUSTOM_ATTRIBUTE_TYPE_STRING, MaxLength: 5},
	} {
		if err := define(d); err != nil {
			t.Fatalf("define %s: %v", d.GetKey(), err)
		}
	}
	if err := define(&customerv1.CustomAttributeDefinition{Key: "tier", Type: customerv1.CustomAttributeType_CUSTOM_ATTRIBUTE_TYPE_STRING}); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("duplicate key = %v, want AlreadyExists", err)
	}
	wantInvalid(t, define(&customerv1.CustomAttributeDefinition{Key: "Bad Key", Type: customerv1.CustomAttributeType_CUSTOM_ATTRIBUTE_TYPE_STRING}), "definition.key")
	wantInvalid(t, define(&customerv1.CustomAttributeDefinition{Key: "level", Type: customerv1.CustomAttributeType_CUSTOM_ATTRIBUTE_TYPE_ENUM}), "definition.allowed_values")

	str, num := structpb.NewStringValue, structpb.NewNumberValue
	withAttrs := func(attrs map[string]*structpb.Value) *customerv1.Customer {
		c := person("Ada", "GB")
		c.SourceChannel = "Referral"
		c.CustomAttributes = attrs
		return c
	}
	tests := []struct {
		name      string
		attrs     map[string]*structpb.Value
		wantField string
	}{
		{"missing required", map[string]*structpb.Value{"score": num(1)}, "customer.custom_attributes.tier"},
		{"unknown key", map[string]*structpb.Value{"tier": str("gold"), "shoe": str("9")}, "customer.custom_attributes.shoe"},
		{"wrong type", map[string]*structpb.Value{"tier": str("gold"), "score": str("high")}, "customer.custom_attributes.score"},
		{"not allowed", map[string]*structpb.Value{"tier": str("bronze")}, "customer.custom_attributes.tier"},
		{"bad date", map[string]*structpb.Value{"tier": str("gold"), "since": str("31/12/2020")}, "customer.custom_attributes.since"},
		{"too long", map[string]*structpb.Value{"tier": str("gold"), "nickname": str("Countess")}, "customer.custom_attributes.nickname"},
		{"a list", map[string]*structpb.Value{"tier": structpb.NewListValue(&structpb.ListValue{})}, "customer.custom_attributes.tier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.customers.CreateCustomer(ctx, &customerv1.CreateCustomerRequest{Customer: withAttrs(tt.attrs)})
			wantInvalid(t, err, tt.wantField)
		})
	}
	created, err := e.customers.CreateCustomer(ctx, &customerv1.CreateCustomerRequest{Customer: withAttrs(map[string]*structpb.Value{
		"tier": str("gold"), "score": num(4.5), "since": str("2020-12-31")})})
	if err != nil {
		t.Fatalf("CreateCustomer: %v", err)
	}
	c := created.GetCustomer()
	if c.GetSourceChannel() != "referral" || c.GetCustomAttributes()["score"].GetNumberValue() != 4.5 {
		t.Fatalf("created %v, want source_channel referral and score 4.5", c)
	}
	// One attribute changes through its own mask path; the others stay.
	upd, err := e.customers.UpdateCustomer(ctx, &customerv1.UpdateCustomerRequest{Customer: &customerv1.Customer{CustomerId: c.GetCustomerId(),
		CustomAttributes: map[string]*structpb.Value{"score": num(7)}}, UpdateMask: mask("custom_attributes.score")})
	if err != nil || upd.GetCustomer().GetCustomAttributes()["score"].GetNumberValue() != 7 || upd.GetCustomer().GetCustomAttributes()["tier"].GetStringValue() != "gold" {
		t.Fatalf("UpdateCustomer(custom_attributes.score) = %v, %v", upd, err)
	}
	_, err = e.customers.UpdateCustomer(ctx, &customerv1.UpdateCustomerRequest{Customer: &customerv1.Customer{CustomerId: c.GetCustomerId(),
		CustomAttributes: map[string]*structpb.Value{"score": str("x")}}, UpdateMask: mask("custom_attributes.score")})
	wantInvalid(t, err, "customer.custom_attributes.score")
	list, err := e.customers.ListCustomers(ctx, &customerv1.ListCustomersRequest{Filter: `source_channel = "referral"`})
	if err != nil || len(list.GetCustomers()) != 1 {
		t.Fatalf("ListCustomers(source_channel) = %v, %v; want one", list, err)
	}

	if _, err := e.profiles.DeleteCustomAttributeDefinition(ctx, &customerv1.DeleteCustomAttributeDefinitionRequest{Key: "score"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("deleting a definition in use = %v, want FailedPrecondition", err)
	}
	if _, err := e.profiles.DeleteCustomAttributeDefinition(ctx, &customerv1.DeleteCustomAttributeDefinitionRequest{Key: "nickname"}); err != nil {
		t.Fatalf("deleting an unused definition: %v", err)
	}
	def, err := e.profiles.UpdateCustomAttributeDefinition(ctx, &customerv1.UpdateCustomAttributeDefinitionRequest{Definition: &customerv1.CustomAttributeDefinition{
		Key: "tier", AllowedValues: []string{"gold", "silver", "bronze"}}, UpdateMask: mask("allowed_values")})
	if err != nil || len(def.GetDefinition().GetAllowedValues()) != 3 {
		t.Fatalf("UpdateCustomAttributeDefinition = %v, %v", def, err)
	}
	_, err = e.profiles.UpdateCustomAttributeDefinition(ctx, &customerv1.UpdateCustomAttributeDefinitionRequest{Definition: &customerv1.CustomAttributeDefinition{
		Key: "tier", Type: customerv1.CustomAttributeType_CUSTOM_ATTRIBUTE_TYPE_STRING}, UpdateMask: mask("type")})
	wantInvalid(t, err, "update_mask")
	var keys []string
	token := ""
	for {
		page, err := e.profiles.ListCustomAttributeDefinitions(ctx, &customerv1.ListCustomAttributeDefinitionsRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatalf("ListCustomAttributeDefinitions: %v", err)
		}
		for _, d := range page.GetDefinitions() {
			keys = append(keys, d.GetKey())
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(keys) != 3 || keys[0] != "score" || keys[2] != "tier" {
		t.Fatalf("definitions = %v, want score, since, tier by key", keys)
	}
}
