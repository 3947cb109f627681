package grpcapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
)

// signed returns a context carrying a JWT for c.
func (e *env) signed(t *testing.T, c auth.Caller) context.Context {
	t.Helper()
	now := time.Now()
	tok, err := e.tokens.Sign(c, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return grpctest.Bearer(t.Context(), tok)
}

// TestRecordAccess checks who sees which opportunity: reps their own and
// their teams', managers their teams' and the unowned, partner users their
// partner's registrations.
func TestRecordAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	north, south := uuid.NewString(), uuid.NewString()
	partner := uuid.New()
	rep := func(teams ...string) auth.Caller {
		return auth.Caller{TenantID: e.tenant, PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleSalesRep}, TeamIDs: teams}
	}
	ann, bob, cat := rep(north), rep(north), rep(south)
	manager := func(teams ...string) auth.Caller {
		return auth.Caller{TenantID: e.tenant, PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleSalesManager}, TeamIDs: teams}
	}
	northBoss, southBoss, director := manager(north), manager(south), manager()

	annDeal := e.create(t, e.signed(t, ann), e.pilot())
	registered := e.pilot()
	registered.SourcePartnerId = partner.String()
	pooled := e.create(t, e.signed(t, director), registered) // unowned: the managers' pool

	tests := []struct {
		name    string
		caller  auth.Caller
		id      string
		want    codes.Code
		canEdit bool
	}{
		{"owner", ann, annDeal.GetOpportunityId(), codes.OK, true},
		{"rep of the owner's team sees and changes", bob, annDeal.GetOpportunityId(), codes.OK, true},
		{"rep of another team", cat, annDeal.GetOpportunityId(), codes.NotFound, false},
		{"manager of the owner's team", northBoss, annDeal.GetOpportunityId(), codes.OK, true},
		{"manager of another team", southBoss, annDeal.GetOpportunityId(), codes.NotFound, false},
		{"manager of no team sees the tenant", director, annDeal.GetOpportunityId(), codes.OK, true},
		{"manager sees the unowned pool", southBoss, pooled.GetOpportunityId(), codes.OK, true},
		{"rep does not see the unowned pool", cat, pooled.GetOpportunityId(), codes.NotFound, false},
		{"partner user of the registering partner", auth.Caller{TenantID: e.tenant, PrincipalID: uuid.NewString(),
			Roles: []auth.Role{auth.RolePartnerUser}, PartnerID: partner.String()}, pooled.GetOpportunityId(), codes.OK, false},
		{"partner user of another partner", auth.Caller{TenantID: e.tenant, PrincipalID: uuid.NewString(),
			Roles: []auth.Role{auth.RolePartnerUser}, PartnerID: uuid.NewString()}, pooled.GetOpportunityId(), codes.NotFound, false},
		{"partner user's partner did not register it", auth.Caller{TenantID: e.tenant, PrincipalID: uuid.NewString(),
			Roles: []auth.Role{auth.RolePartnerUser}, PartnerID: partner.String()}, annDeal.GetOpportunityId(), codes.NotFound, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := e.signed(t, tt.caller)
			if _, err := e.client.GetOpportunity(ctx, &pipelinev1.GetOpportunityRequest{OpportunityId: tt.id}); status.Code(err) != tt.want {
				t.Fatalf("GetOpportunity = %v, want %v", err, tt.want)
			}
			list, err := e.client.ListOpportunities(ctx, &pipelinev1.ListOpportunitiesRequest{})
			if err != nil {
				t.Fatal(err)
			}
			listed := false
			for _, o := range list.GetOpportunities() {
				listed = listed || o.GetOpportunityId() == tt.id
			}
			if listed != (tt.want == codes.OK) {
				t.Errorf("ListOpportunities lists it = %t, want %t", listed, tt.want == codes.OK)
			}
			_, err = e.client.UpdateOpportunity(ctx, &pipelinev1.UpdateOpportunityRequest{
				Opportunity: &pipelinev1.Opportunity{OpportunityId: tt.id, ExternalId: "touched-" + tt.caller.PrincipalID[:8]},
				UpdateMask:  &fieldmaskpb.FieldMask{Paths: []string{"external_id"}}})
			if (err == nil) != tt.canEdit {
				t.Errorf("UpdateOpportunity = %v, want allowed %t", err, tt.canEdit)
			}
		})
	}

	// A rep changes a teammate's deal but does not hand it to anyone else.
	if _, err := e.client.UpdateOpportunity(e.signed(t, bob), &pipelinev1.UpdateOpportunityRequest{
		Opportunity: &pipelinev1.Opportunity{OpportunityId: annDeal.GetOpportunityId(), OwnerId: cat.PrincipalID},
		UpdateMask:  &fieldmaskpb.FieldMask{Paths: []string{"owner_id"}}}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("UpdateOpportunity(team rep hands the deal on) = %v, want PermissionDenied", err)
	}
	// A rep cannot put a deal on someone else's books, even by request.
	theirs := e.pilot()
	theirs.OwnerId = uuid.NewString()
	if _, err := e.client.CreateOpportunity(e.signed(t, ann), &pipelinev1.CreateOpportunityRequest{Opportunity: theirs}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("CreateOpportunity(rep for another owner) = %v, want PermissionDenied", err)
	}
	// A manager handing a deal to a rep keeps it on the manager's team.
	// (The subtests above run after this function returns, so this uses a
	// deal of its own.)
	spare := e.create(t, e.signed(t, director), e.pilot())
	handed, err := e.client.UpdateOpportunity(e.signed(t, northBoss), &pipelinev1.UpdateOpportunityRequest{
		Opportunity: &pipelinev1.Opportunity{OpportunityId: spare.GetOpportunityId(), OwnerId: bob.PrincipalID},
		UpdateMask:  &fieldmaskpb.FieldMask{Paths: []string{"owner_id"}}})
	if err != nil {
		t.Fatalf("UpdateOpportunity(hand over) = %v", err)
	}
	if _, err := e.client.GetOpportunity(e.signed(t, ann), &pipelinev1.GetOpportunityRequest{OpportunityId: handed.GetOpportunity().GetOpportunityId()}); err != nil {
		t.Errorf("GetOpportunity(rep of the handing manager's team) = %v, want OK", err)
	}
	if _, err := e.client.GetOpportunity(e.signed(t, cat), &pipelinev1.GetOpportunityRequest{OpportunityId: handed.GetOpportunity().GetOpportunityId()}); status.Code(err) != codes.NotFound {
		t.Errorf("GetOpportunity(rep of another team) = %v, want NotFound", err)
	}

	// An admin importing for a rep states the rep's teams; nobody else may.
	imported := e.pilot()
	imported.OwnerId, imported.OwnerTeamIds = cat.PrincipalID, []string{south}
	if _, err := e.client.CreateOpportunity(e.signed(t, northBoss), &pipelinev1.CreateOpportunityRequest{Opportunity: imported}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("CreateOpportunity(manager states teams) = %v, want PermissionDenied", err)
	}
	adminCtx := e.signed(t, auth.Caller{TenantID: e.tenant, PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAdmin}})
	made, err := e.client.CreateOpportunity(adminCtx, &pipelinev1.CreateOpportunityRequest{Opportunity: imported})
	if err != nil || len(made.GetOpportunity().GetOwnerTeamIds()) != 1 {
		t.Fatalf("CreateOpportunity(admin states teams) = %v, %v", made, err)
	}
	if _, err := e.client.GetOpportunity(e.signed(t, southBoss), &pipelinev1.GetOpportunityRequest{OpportunityId: made.GetOpportunity().GetOpportunityId()}); err != nil {
		t.Errorf("GetOpportunity(manager of the stated team) = %v, want OK", err)
	}
	if _, err := e.client.GetOpportunity(e.signed(t, northBoss), &pipelinev1.GetOpportunityRequest{OpportunityId: made.GetOpportunity().GetOpportunityId()}); status.Code(err) != codes.NotFound {
		t.Errorf("GetOpportunity(manager of another team) = %v, want NotFound", err)
	}
}
