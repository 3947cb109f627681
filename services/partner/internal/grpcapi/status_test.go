package grpcapi_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
)

func TestHierarchyAndUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.admin(t)
	dist := e.newPartner(t, e.tenant, "Distributor", "")
	sub := e.newPartner(t, e.tenant, "Sub", dist)
	if _, err := e.partners.CreatePartner(ctx, &partnerv1.CreatePartnerRequest{Partner: &partnerv1.Partner{
		DisplayName: "Orphan", Type: partnerv1.PartnerType_PARTNER_TYPE_RESELLER, ParentPartnerId: uuid.NewString()}}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("CreatePartner(unknown parent) = %v, want FailedPrecondition", err)
	}
	for field, p := range map[string]*partnerv1.Partner{
		"partner.parent_partner_id": {DisplayName: "X", Type: partnerv1.PartnerType_PARTNER_TYPE_RESELLER, ParentPartnerId: "nope"},
		"partner.territories[1]":    {DisplayName: "X", Type: partnerv1.PartnerType_PARTNER_TYPE_RESELLER, Territories: []*partnerv1.Territory{{Region: "SP"}, {Region: " "}}},
		"partner.postal_prefix":     {DisplayName: "X", Type: partnerv1.PartnerType_PARTNER_TYPE_RESELLER, PostalPrefix: strings.Repeat("9", 101)},
	} {
		if _, err := e.partners.CreatePartner(ctx, &partnerv1.CreatePartnerRequest{Partner: p}); status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[field] {
			t.Errorf("CreatePartner(bad %s) = %v, want InvalidArgument on it", field, err)
		}
	}
	list, err := e.partners.ListPartners(ctx, &partnerv1.ListPartnersRequest{Filter: `parent_partner_id = "` + dist + `"`})
	if err != nil || len(list.GetPartners()) != 1 || list.GetPartners()[0].GetPartnerId() != sub {
		t.Fatalf("ListPartners(parent = distributor) = %v, %v; want the sub-reseller", list, err)
	}

	got, err := e.partners.GetPartner(ctx, &partnerv1.GetPartnerRequest{PartnerId: sub})
	if err != nil {
		t.Fatal(err)
	}
	p := got.GetPartner()
	p.Territories = []*partnerv1.Territory{{Region: " SP "}, {Region: "RJ", Industry: "retail"}}
	p.PostalPrefix = "01310"
	upd, err := e.partners.UpdatePartner(ctx, &partnerv1.UpdatePartnerRequest{Partner: p,
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"territories", "postal_prefix"}}})
	if err != nil {
		t.Fatalf("UpdatePartner: %v", err)
	}
	if u := upd.GetPartner(); len(u.GetTerritories()) != 2 || u.GetTerritories()[0].GetRegion() != "SP" || u.GetPostalPrefix() != "01310" ||
		u.GetEtag() == p.GetEtag() || u.GetParentPartnerId() != dist {
		t.Fatalf("UpdatePartner = %v, want trimmed territories, the prefix, a new etag and the parent kept", u)
	}
	tests := []struct {
		name string
		req  *partnerv1.UpdatePartnerRequest
		want codes.Code
	}{
		{"stale etag", &partnerv1.UpdatePartnerRequest{Partner: p, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"tier"}}}, codes.Aborted},
		{"status in mask", &partnerv1.UpdatePartnerRequest{Partner: p, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"status"}}}, codes.InvalidArgument},
		{"empty mask", &partnerv1.UpdatePartnerRequest{Partner: p}, codes.InvalidArgument},
		{"blank name", &partnerv1.UpdatePartnerRequest{Partner: &partnerv1.Partner{PartnerId: sub}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}, codes.InvalidArgument},
		{"unknown partner", &partnerv1.UpdatePartnerRequest{Partner: &partnerv1.Partner{PartnerId: uuid.NewString(), Tier: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"tier"}}}, codes.NotFound},
	}
	for _, tt := range tests {
		if _, err := e.partners.UpdatePartner(ctx, tt.req); status.Code(err) != tt.want {
			t.Errorf("UpdatePartner(%s) = %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := e.partners.UpdatePartner(e.as(t, e.tenant, auth.RoleSalesRep), &partnerv1.UpdatePartnerRequest{Partner: upd.GetPartner(),
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"tier"}}}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("UpdatePartner as sales rep = %v, want PermissionDenied", err)
	}
}

func TestStatusMachine(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.admin(t)
	c, err := e.partners.CreatePartner(ctx, &partnerv1.CreatePartnerRequest{Partner: acme()})
	if err != nil {
		t.Fatal(err)
	}
	id := c.GetPartner().GetPartnerId()
	steps := []struct {
		to   partnerv1.PartnerStatus
		want codes.Code
	}{
		{partnerv1.PartnerStatus_PARTNER_STATUS_ACTIVE, codes.FailedPrecondition}, // applicant cannot skip ahead
		{partnerv1.PartnerStatus_PARTNER_STATUS_QUALIFICATION, codes.OK},
		{partnerv1.PartnerStatus_PARTNER_STATUS_AGREEMENT, codes.OK},
		{partnerv1.PartnerStatus_PARTNER_STATUS_ACTIVE, codes.OK},
		{partnerv1.PartnerStatus_PARTNER_STATUS_SUSPENDED, codes.OK},
		{partnerv1.PartnerStatus_PARTNER_STATUS_ACTIVE, codes.OK},
		{partnerv1.PartnerStatus_PARTNER_STATUS_TERMINATED, codes.OK},
		{partnerv1.PartnerStatus_PARTNER_STATUS_ACTIVE, codes.FailedPrecondition}, // terminated is final
		{partnerv1.PartnerStatus_PARTNER_STATUS_UNSPECIFIED, codes.InvalidArgument},
	}
	for i, s := range steps {
		resp, err := e.partners.TransitionPartnerStatus(ctx, &partnerv1.TransitionPartnerStatusRequest{PartnerId: id, Status: s.to, Reason: "step"})
		if status.Code(err) != s.want {
			t.Fatalf("step %d: TransitionPartnerStatus(%v) = %v, want %v", i, s.to, err, s.want)
		}
		if err == nil && resp.GetPartner().GetStatus() != s.to {
			t.Fatalf("step %d: status = %v, want %v", i, resp.GetPartner().GetStatus(), s.to)
		}
	}
	if _, err := e.partners.TransitionPartnerStatus(ctx, &partnerv1.TransitionPartnerStatusRequest{PartnerId: id,
		Status: partnerv1.PartnerStatus_PARTNER_STATUS_ACTIVE, Reason: strings.Repeat("r", 501)}); status.Code(err) != codes.InvalidArgument ||
		!grpctest.Violations(err)["reason"] {
		t.Fatalf("TransitionPartnerStatus(long reason) = %v, want InvalidArgument on reason", err)
	}
	if _, err := e.partners.TransitionPartnerStatus(e.as(t, e.tenant, auth.RoleSalesRep), &partnerv1.TransitionPartnerStatusRequest{PartnerId: id,
		Status: partnerv1.PartnerStatus_PARTNER_STATUS_ACTIVE}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("TransitionPartnerStatus as sales rep = %v, want PermissionDenied", err)
	}
	var got []string
	token := ""
	for {
		page, err := e.partners.ListPartnerStatusChanges(ctx, &partnerv1.ListPartnerStatusChangesRequest{PartnerId: id, PageSize: 4, PageToken: token})
		if err != nil {
			t.Fatalf("ListPartnerStatusChanges: %v", err)
		}
		for _, c := range page.GetChanges() {
			got = append(got, strings.TrimPrefix(c.GetFromStatus().String(), "PARTNER_STATUS_")+">"+strings.TrimPrefix(c.GetToStatus().String(), "PARTNER_STATUS_"))
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	want := "ACTIVE>TERMINATED SUSPENDED>ACTIVE ACTIVE>SUSPENDED AGREEMENT>ACTIVE QUALIFICATION>AGREEMENT APPLICANT>QUALIFICATION"
	if strings.Join(got, " ") != want {
		t.Fatalf("status log = %q, want %q (newest first)", strings.Join(got, " "), want)
	}
	var events int
	if err := e.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE type = 'partner.status_changed'`).Scan(&events); err != nil || events != 6 {
		t.Fatalf("status events = %d (%v), want 6", events, err)
	}
	if _, err := e.partners.ListPartnerStatusChanges(e.as(t, e.other, auth.RoleAdmin), &partnerv1.ListPartnerStatusChangesRequest{PartnerId: id}); status.Code(err) != codes.NotFound {
		t.Fatalf("ListPartnerStatusChanges(other tenant) = %v, want NotFound", err)
	}
}
