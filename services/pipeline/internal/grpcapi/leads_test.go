package grpcapi_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/pipeline/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/pipeline/internal/lead"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
	"github.com/rapportcrm/rapport/services/pipeline/internal/postgres"
	"github.com/rapportcrm/rapport/services/pipeline/internal/ratelimit"
)

// fakeDirectory stands in for the customer service: customers by e-mail,
// and creates keyed by lead as the real request ids make them.
type fakeDirectory struct {
	mu      sync.Mutex
	byEmail map[string]uuid.UUID
	known   map[uuid.UUID]bool
	created map[uuid.UUID]uuid.UUID // lead → customer
	creates int
}

func newDirectory() *fakeDirectory {
	return &fakeDirectory{byEmail: map[string]uuid.UUID{}, known: map[uuid.UUID]bool{}, created: map[uuid.UUID]uuid.UUID{}}
}

func (f *fakeDirectory) add(email string) uuid.UUID {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := uuid.New()
	f.byEmail[strings.ToLower(email)], f.known[id] = id, true
	return id
}

func (f *fakeDirectory) Match(_ context.Context, email, _ string) (uuid.UUID, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if email == "down@example.com" {
		return uuid.Nil, false, fmt.Errorf("%w: connection refused", lead.ErrCustomerLookup)
	}
	id, ok := f.byEmail[strings.ToLower(email)]
	return id, ok, nil
}

func (f *fakeDirectory) Exists(_ context.Context, id uuid.UUID) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.known[id], nil
}

func (f *fakeDirectory) CreateFromLead(_ context.Context, l lead.Lead) (uuid.UUID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creates++
	if id, ok := f.created[l.ID]; ok {
		return id, nil
	}
	id := uuid.New()
	f.created[l.ID], f.known[id] = id, true
	return id, nil
}

// customersOf lets the opportunity side see the directory's customers.
type customersOf struct{ d *fakeDirectory }

func (c customersOf) Exists(ctx context.Context, id uuid.UUID) (bool, error) {
	return c.d.Exists(ctx, id)
}

type leadEnv struct {
	leads  pipelinev1.LeadServiceClient
	opps   pipelinev1.PipelineServiceClient
	dir    *fakeDirectory
	tokens *grpctest.Tokens
	tenant string
	other  string
}

func newLeadEnv(t *testing.T, submitsPerKey int) *leadEnv {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	e := &leadEnv{dir: newDirectory(), tokens: grpctest.NewTokens(t), tenant: uuid.NewString(), other: uuid.NewString()}
	conn := grpctest.Serve(t, e.tokens.Authenticator(nil), func(srv *grpcserver.Server) {
		opps := pipeline.New(postgres.New(db.App), customersOf{e.dir})
		pipelinev1.RegisterPipelineServiceServer(srv, grpcapi.New(opps, db.App, 20*time.Millisecond))
		svc := lead.New(postgres.NewLeadStore(db.App), e.dir, opps)
		pipelinev1.RegisterLeadServiceServer(srv, grpcapi.NewLeadServer(svc,
			ratelimit.New(0.001, submitsPerKey, 100), ratelimit.New(0.001, 1000, 100)))
	}, grpcapi.SubmitWebFormMethod)
	e.leads, e.opps = pipelinev1.NewLeadServiceClient(conn), pipelinev1.NewPipelineServiceClient(conn)
	return e
}

func (e *leadEnv) as(t *testing.T, tenant string, principal uuid.UUID, roles ...auth.Role) context.Context {
	t.Helper()
	now := time.Now()
	tok, err := e.tokens.Sign(auth.Caller{TenantID: tenant, PrincipalID: principal.String(), Roles: roles}, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return grpctest.Bearer(t.Context(), tok)
}

func (e *leadEnv) createLead(t *testing.T, ctx context.Context, l *pipelinev1.Lead) *pipelinev1.Lead {
	t.Helper()
	resp, err := e.leads.CreateLead(ctx, &pipelinev1.CreateLeadRequest{Lead: l})
	if err != nil {
		t.Fatalf("CreateLead(%v): %v", l, err)
	}
	return resp.GetLead()
}

func TestCreateLead(t *testing.T) {
	t.Parallel()
	e := newLeadEnv(t, 10)
	rep := uuid.New()
	existing := e.dir.add("ada@example.com")
	tests := []struct {
		name      string
		roles     []auth.Role
		in        *pipelinev1.Lead
		requestID string
		wantCode  codes.Code
		wantField string
		check     func(t *testing.T, got *pipelinev1.Lead)
	}{
		{name: "rep captures a lead with campaign data", roles: []auth.Role{auth.RoleSalesRep},
			in: &pipelinev1.Lead{DisplayName: " Grace Hopper ", Email: "grace@example.com", Phone: "+44 1632 960961",
				Utm: &pipelinev1.Utm{Source: "newsletter", Campaign: "spring"}},
			check: func(t *testing.T, got *pipelinev1.Lead) {
				if got.GetDisplayName() != "Grace Hopper" || got.GetPhone() != "+441632960961" || got.GetSource() != "api" ||
					got.GetStatus() != pipelinev1.LeadStatus_LEAD_STATUS_NEW || got.GetUtm().GetCampaign() != "spring" ||
					got.GetDuplicateCustomerId() != "" || got.GetEtag() != "1" {
					t.Errorf("CreateLead = %v", got)
				}
			}},
		{name: "existing customer is flagged", roles: []auth.Role{auth.RoleSalesManager},
			in: &pipelinev1.Lead{DisplayName: "Ada", Email: "ADA@example.com", Source: "referral"},
			check: func(t *testing.T, got *pipelinev1.Lead) {
				if got.GetDuplicateCustomerId() != existing.String() || got.GetSource() != "referral" {
					t.Errorf("CreateLead = %v, want duplicate %s", got, existing)
				}
			}},
		{name: "nameless and unreachable", roles: []auth.Role{auth.RoleAdmin}, in: &pipelinev1.Lead{},
			wantCode: codes.InvalidArgument, wantField: "lead.display_name"},
		{name: "bad e-mail", roles: []auth.Role{auth.RoleAdmin}, in: &pipelinev1.Lead{DisplayName: "X", Email: "x at y"},
			wantCode: codes.InvalidArgument, wantField: "lead.email"},
		{name: "bad phone", roles: []auth.Role{auth.RoleAdmin}, in: &pipelinev1.Lead{DisplayName: "X", Phone: "12"},
			wantCode: codes.InvalidArgument, wantField: "lead.phone"},
		{name: "created converted", roles: []auth.Role{auth.RoleAdmin}, in: &pipelinev1.Lead{DisplayName: "X", Status: pipelinev1.LeadStatus_LEAD_STATUS_CONVERTED},
			wantCode: codes.InvalidArgument, wantField: "lead.status"},
		{name: "bad owner id", roles: []auth.Role{auth.RoleAdmin}, in: &pipelinev1.Lead{DisplayName: "X", OwnerId: "me"},
			wantCode: codes.InvalidArgument, wantField: "lead.owner_id"},
		{name: "rep gives a lead to another", roles: []auth.Role{auth.RoleSalesRep}, in: &pipelinev1.Lead{DisplayName: "X", OwnerId: uuid.NewString()},
			wantCode: codes.PermissionDenied},
		{name: "analyst cannot capture", roles: []auth.Role{auth.RoleAnalyst}, in: &pipelinev1.Lead{DisplayName: "X"},
			wantCode: codes.PermissionDenied},
		{name: "customer service down", roles: []auth.Role{auth.RoleAdmin}, in: &pipelinev1.Lead{DisplayName: "X", Email: "down@example.com"},
			wantCode: codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := e.leads.CreateLead(e.as(t, e.tenant, rep, tt.roles...), &pipelinev1.CreateLeadRequest{Lead: tt.in, RequestId: tt.requestID})
			if status.Code(err) != tt.wantCode {
				t.Fatalf("CreateLead = %v, want %v", err, tt.wantCode)
			}
			if tt.wantField != "" && !grpctest.Violations(err)[tt.wantField] {
				t.Errorf("CreateLead violations = %v, want %s", grpctest.Violations(err), tt.wantField)
			}
			if tt.check != nil {
				tt.check(t, resp.GetLead())
			}
		})
	}
}

func TestLeadReadUpdateIsolation(t *testing.T) {
	t.Parallel()
	e := newLeadEnv(t, 10)
	rep, otherRep := uuid.New(), uuid.New()
	repCtx := e.as(t, e.tenant, rep, auth.RoleSalesRep)
	l := e.createLead(t, repCtx, &pipelinev1.Lead{DisplayName: "Lin", OwnerId: rep.String(), Territory: "North"})

	again, err := e.leads.CreateLead(repCtx, &pipelinev1.CreateLeadRequest{Lead: &pipelinev1.Lead{DisplayName: "Lin"}, RequestId: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	repeat, err := e.leads.CreateLead(repCtx, &pipelinev1.CreateLeadRequest{Lead: &pipelinev1.Lead{DisplayName: "Other"}, RequestId: "r1"})
	if err != nil || repeat.GetLead().GetLeadId() != again.GetLead().GetLeadId() {
		t.Errorf("CreateLead(repeated request id) = %v, %v; want lead %s", repeat, err, again.GetLead().GetLeadId())
	}

	if _, err := e.leads.GetLead(e.as(t, e.other, rep, auth.RoleAdmin), &pipelinev1.GetLeadRequest{LeadId: l.GetLeadId()}); status.Code(err) != codes.NotFound {
		t.Errorf("GetLead(other tenant) = %v, want NotFound", err)
	}
	if _, err := e.leads.GetLead(e.as(t, e.tenant, rep, auth.RolePartnerUser), &pipelinev1.GetLeadRequest{LeadId: l.GetLeadId()}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("GetLead(partner user) = %v, want PermissionDenied", err)
	}
	list, err := e.leads.ListLeads(e.as(t, e.tenant, rep, auth.RoleAnalyst), &pipelinev1.ListLeadsRequest{Filter: `territory = "North"`})
	if err != nil || len(list.GetLeads()) != 1 || list.GetLeads()[0].GetLeadId() != l.GetLeadId() {
		t.Errorf("ListLeads(territory) = %v, %v; want the North lead", list, err)
	}
	if _, err := e.leads.ListLeads(repCtx, &pipelinev1.ListLeadsRequest{Filter: `email = "x"`}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("ListLeads(unindexed field) = %v, want InvalidArgument", err)
	}

	qualify := func(ctx context.Context, etag string) (*pipelinev1.UpdateLeadResponse, error) {
		return e.leads.UpdateLead(ctx, &pipelinev1.UpdateLeadRequest{
			Lead:       &pipelinev1.Lead{LeadId: l.GetLeadId(), Status: pipelinev1.LeadStatus_LEAD_STATUS_QUALIFIED, Etag: etag},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"status"}}})
	}
	if _, err := qualify(e.as(t, e.tenant, otherRep, auth.RoleSalesRep), ""); status.Code(err) != codes.PermissionDenied {
		t.Errorf("UpdateLead(another rep's lead) = %v, want PermissionDenied", err)
	}
	if _, err := qualify(repCtx, "7"); status.Code(err) != codes.Aborted {
		t.Errorf("UpdateLead(stale etag) = %v, want Aborted", err)
	}
	if _, err := qualify(e.as(t, e.other, rep, auth.RoleAdmin), ""); status.Code(err) != codes.NotFound {
		t.Errorf("UpdateLead(other tenant) = %v, want NotFound", err)
	}
	got, err := qualify(repCtx, "1")
	if err != nil || got.GetLead().GetStatus() != pipelinev1.LeadStatus_LEAD_STATUS_QUALIFIED || got.GetLead().GetEtag() != "2" {
		t.Fatalf("UpdateLead(qualify) = %v, %v", got, err)
	}
	_, err = e.leads.UpdateLead(repCtx, &pipelinev1.UpdateLeadRequest{
		Lead: &pipelinev1.Lead{LeadId: l.GetLeadId(), Status: pipelinev1.LeadStatus_LEAD_STATUS_CONVERTED}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"status"}}})
	if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)["lead.status"] {
		t.Errorf("UpdateLead(status converted) = %v, want InvalidArgument on lead.status", err)
	}
}

func TestConvertLead(t *testing.T) {
	t.Parallel()
	e := newLeadEnv(t, 10)
	owner := uuid.New()
	ctx := e.as(t, e.tenant, owner, auth.RoleSalesRep)
	opportunity := &pipelinev1.Opportunity{DisplayName: "First order", Amount: &typesv1.Money{CurrencyCode: "EUR", AmountMinor: 50000}}

	t.Run("new customer and opportunity, once", func(t *testing.T) {
		t.Parallel()
		l := e.createLead(t, ctx, &pipelinev1.Lead{DisplayName: "Hedy", Email: "hedy@example.com", CompanyName: "Lamarr Ltd", OwnerId: owner.String()})
		resp, err := e.leads.ConvertLead(ctx, &pipelinev1.ConvertLeadRequest{LeadId: l.GetLeadId(), Opportunity: opportunity, RequestId: "convert-hedy"})
		if err != nil {
			t.Fatalf("ConvertLead: %v", err)
		}
		got := resp.GetLead()
		if !resp.GetCustomerCreated() || got.GetStatus() != pipelinev1.LeadStatus_LEAD_STATUS_CONVERTED || got.GetConvertedCustomerId() == "" ||
			got.GetConvertedOpportunityId() != resp.GetOpportunity().GetOpportunityId() ||
			resp.GetOpportunity().GetCustomerId() != got.GetConvertedCustomerId() || resp.GetOpportunity().GetOwnerId() != owner.String() {
			t.Fatalf("ConvertLead = %v", resp)
		}
		repeat, err := e.leads.ConvertLead(ctx, &pipelinev1.ConvertLeadRequest{LeadId: l.GetLeadId(), Opportunity: opportunity, RequestId: "convert-hedy"})
		if err != nil || repeat.GetOpportunity().GetOpportunityId() != resp.GetOpportunity().GetOpportunityId() {
			t.Errorf("ConvertLead(repeated request) = %v, %v; want the first conversion", repeat, err)
		}
		_, err = e.leads.ConvertLead(ctx, &pipelinev1.ConvertLeadRequest{LeadId: l.GetLeadId(), Opportunity: opportunity})
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Details()[0].(interface{ GetReason() string }).GetReason(), "LEAD_CONVERTED") {
			t.Errorf("ConvertLead(twice) = %v, want FailedPrecondition LEAD_CONVERTED", err)
		}
		_, err = e.leads.UpdateLead(ctx, &pipelinev1.UpdateLeadRequest{Lead: &pipelinev1.Lead{LeadId: l.GetLeadId(), DisplayName: "Y"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}})
		if status.Code(err) != codes.FailedPrecondition {
			t.Errorf("UpdateLead(converted) = %v, want FailedPrecondition", err)
		}
	})

	t.Run("matching customer is reused", func(t *testing.T) {
		t.Parallel()
		existing := e.dir.add("ken@example.com")
		l := e.createLead(t, ctx, &pipelinev1.Lead{DisplayName: "Ken", Email: "ken@example.com", OwnerId: owner.String()})
		resp, err := e.leads.ConvertLead(ctx, &pipelinev1.ConvertLeadRequest{LeadId: l.GetLeadId()})
		if err != nil || resp.GetCustomerCreated() || resp.GetLead().GetConvertedCustomerId() != existing.String() || resp.GetOpportunity() != nil {
			t.Errorf("ConvertLead = %v, %v; want into %s without opportunity", resp, err, existing)
		}
	})

	t.Run("bad input writes nothing", func(t *testing.T) {
		t.Parallel()
		l := e.createLead(t, ctx, &pipelinev1.Lead{DisplayName: "Barbara", OwnerId: owner.String()})
		for _, tt := range []struct {
			name      string
			req       *pipelinev1.ConvertLeadRequest
			wantCode  codes.Code
			wantField string
		}{
			{"unknown customer", &pipelinev1.ConvertLeadRequest{CustomerId: uuid.NewString()}, codes.InvalidArgument, "customer_id"},
			{"malformed customer", &pipelinev1.ConvertLeadRequest{CustomerId: "x"}, codes.InvalidArgument, "customer_id"},
			{"opportunity without amount", &pipelinev1.ConvertLeadRequest{Opportunity: &pipelinev1.Opportunity{DisplayName: "X"}}, codes.InvalidArgument, "opportunity.amount"},
			{"opportunity with a bad currency", &pipelinev1.ConvertLeadRequest{Opportunity: &pipelinev1.Opportunity{DisplayName: "X",
				Amount: &typesv1.Money{CurrencyCode: "ABC", AmountMinor: 1}}}, codes.InvalidArgument, "opportunity.amount.currency_code"},
			{"stale etag", &pipelinev1.ConvertLeadRequest{Etag: "9"}, codes.Aborted, ""},
		} {
			tt.req.LeadId = l.GetLeadId()
			_, err := e.leads.ConvertLead(ctx, tt.req)
			if status.Code(err) != tt.wantCode || (tt.wantField != "" && !grpctest.Violations(err)[tt.wantField]) {
				t.Errorf("ConvertLead(%s) = %v, want %v on %q", tt.name, err, tt.wantCode, tt.wantField)
			}
		}
		got, err := e.leads.GetLead(ctx, &pipelinev1.GetLeadRequest{LeadId: l.GetLeadId()})
		if err != nil || got.GetLead().GetStatus() != pipelinev1.LeadStatus_LEAD_STATUS_NEW || got.GetLead().GetEtag() != "1" {
			t.Errorf("lead after failed conversions = %v, %v; want untouched", got, err)
		}
		opps, err := e.opps.ListOpportunities(e.as(t, e.tenant, owner, auth.RoleAdmin), &pipelinev1.ListOpportunitiesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range opps.GetOpportunities() {
			if o.GetDisplayName() == "X" {
				t.Errorf("failed conversion left opportunity %v", o)
			}
		}
	})

	t.Run("unqualified, other rep, other tenant", func(t *testing.T) {
		t.Parallel()
		l := e.createLead(t, ctx, &pipelinev1.Lead{DisplayName: "Edsger", OwnerId: owner.String(), Status: pipelinev1.LeadStatus_LEAD_STATUS_UNQUALIFIED})
		if _, err := e.leads.ConvertLead(ctx, &pipelinev1.ConvertLeadRequest{LeadId: l.GetLeadId()}); status.Code(err) != codes.FailedPrecondition {
			t.Errorf("ConvertLead(unqualified) = %v, want FailedPrecondition", err)
		}
		if _, err := e.leads.ConvertLead(e.as(t, e.tenant, uuid.New(), auth.RoleSalesRep), &pipelinev1.ConvertLeadRequest{LeadId: l.GetLeadId()}); status.Code(err) != codes.PermissionDenied {
			t.Errorf("ConvertLead(other rep) = %v, want PermissionDenied", err)
		}
		if _, err := e.leads.ConvertLead(e.as(t, e.other, owner, auth.RoleAdmin), &pipelinev1.ConvertLeadRequest{LeadId: l.GetLeadId()}); status.Code(err) != codes.NotFound {
			t.Errorf("ConvertLead(other tenant) = %v, want NotFound", err)
		}
	})

	t.Run("racing conversions make one customer and one opportunity", func(t *testing.T) {
		t.Parallel()
		l := e.createLead(t, ctx, &pipelinev1.Lead{DisplayName: "Alan", OwnerId: owner.String()})
		const n = 6
		codesSeen := make(chan codes.Code, n)
		oppIDs := make(chan string, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				resp, err := e.leads.ConvertLead(ctx, &pipelinev1.ConvertLeadRequest{LeadId: l.GetLeadId(), Opportunity: opportunity})
				codesSeen <- status.Code(err)
				if err == nil {
					oppIDs <- resp.GetOpportunity().GetOpportunityId()
				}
			})
		}
		wg.Wait()
		close(codesSeen)
		close(oppIDs)
		won := 0
		for c := range codesSeen {
			switch c {
			case codes.OK:
				won++
			case codes.FailedPrecondition:
			default:
				t.Errorf("racing ConvertLead = %v, want OK or FailedPrecondition", c)
			}
		}
		if won != 1 {
			t.Errorf("%d conversions succeeded, want 1", won)
		}
		opps, err := e.opps.ListOpportunities(e.as(t, e.tenant, owner, auth.RoleAdmin), &pipelinev1.ListOpportunitiesRequest{
			Filter: fmt.Sprintf("customer_id = %q", e.dir.created[uuid.MustParse(l.GetLeadId())])})
		if err != nil || len(opps.GetOpportunities()) != 1 {
			t.Errorf("opportunities of the converted customer = %v, %v; want exactly 1", opps, err)
		}
	})
}

func TestAssignmentRules(t *testing.T) {
	t.Parallel()
	e := newLeadEnv(t, 10)
	admin := e.as(t, e.tenant, uuid.New(), auth.RoleAdmin)
	a, b := uuid.New(), uuid.New()
	rule, err := e.leads.CreateLeadAssignmentRule(admin, &pipelinev1.CreateLeadAssignmentRuleRequest{
		LeadAssignmentRule: &pipelinev1.LeadAssignmentRule{Territory: "West", AssigneeIds: []string{a.String(), b.String()}, Capacity: 2}})
	if err != nil {
		t.Fatalf("CreateLeadAssignmentRule: %v", err)
	}
	for _, tt := range []struct {
		name      string
		in        *pipelinev1.LeadAssignmentRule
		roles     []auth.Role
		wantCode  codes.Code
		wantField string
	}{
		{"territory taken", &pipelinev1.LeadAssignmentRule{Territory: "West", AssigneeIds: []string{a.String()}}, []auth.Role{auth.RoleAdmin}, codes.AlreadyExists, ""},
		{"no assignees", &pipelinev1.LeadAssignmentRule{Territory: "East"}, []auth.Role{auth.RoleAdmin}, codes.InvalidArgument, "lead_assignment_rule.assignee_ids"},
		{"twice the same", &pipelinev1.LeadAssignmentRule{Territory: "East", AssigneeIds: []string{a.String(), a.String()}}, []auth.Role{auth.RoleAdmin}, codes.InvalidArgument, "lead_assignment_rule.assignee_ids[1]"},
		{"bad id", &pipelinev1.LeadAssignmentRule{Territory: "East", AssigneeIds: []string{"a"}}, []auth.Role{auth.RoleAdmin}, codes.InvalidArgument, "lead_assignment_rule.assignee_ids[0]"},
		{"negative capacity", &pipelinev1.LeadAssignmentRule{Territory: "East", AssigneeIds: []string{a.String()}, Capacity: -1}, []auth.Role{auth.RoleAdmin}, codes.InvalidArgument, "lead_assignment_rule.capacity"},
		{"rep", &pipelinev1.LeadAssignmentRule{Territory: "East", AssigneeIds: []string{a.String()}}, []auth.Role{auth.RoleSalesRep}, codes.PermissionDenied, ""},
	} {
		_, err := e.leads.CreateLeadAssignmentRule(e.as(t, e.tenant, uuid.New(), tt.roles...), &pipelinev1.CreateLeadAssignmentRuleRequest{LeadAssignmentRule: tt.in})
		if status.Code(err) != tt.wantCode || (tt.wantField != "" && !grpctest.Violations(err)[tt.wantField]) {
			t.Errorf("CreateLeadAssignmentRule(%s) = %v, want %v on %q", tt.name, err, tt.wantCode, tt.wantField)
		}
	}

	// Round-robin a, b, a, b; then both hold 2 open leads: the fifth stays unassigned.
	var owners []string
	for i := range 5 {
		l := e.createLead(t, admin, &pipelinev1.Lead{DisplayName: fmt.Sprintf("West %d", i), Territory: "West"})
		owners = append(owners, l.GetOwnerId())
	}
	want := []string{a.String(), b.String(), a.String(), b.String(), ""}
	if strings.Join(owners, ",") != strings.Join(want, ",") {
		t.Errorf("owners = %v, want %v", owners, want)
	}
	if l := e.createLead(t, admin, &pipelinev1.Lead{DisplayName: "Elsewhere", Territory: "South"}); l.GetOwnerId() != "" {
		t.Errorf("lead of a territory without rule got owner %s", l.GetOwnerId())
	}
	upd, err := e.leads.UpdateLeadAssignmentRule(admin, &pipelinev1.UpdateLeadAssignmentRuleRequest{
		LeadAssignmentRule: &pipelinev1.LeadAssignmentRule{LeadAssignmentRuleId: rule.GetLeadAssignmentRule().GetLeadAssignmentRuleId(), Capacity: 0, Etag: "1"},
		UpdateMask:         &fieldmaskpb.FieldMask{Paths: []string{"capacity"}}})
	if err != nil || upd.GetLeadAssignmentRule().GetCapacity() != 0 || upd.GetLeadAssignmentRule().GetEtag() != "2" {
		t.Fatalf("UpdateLeadAssignmentRule = %v, %v", upd, err)
	}
	if l := e.createLead(t, admin, &pipelinev1.Lead{DisplayName: "West 6", Territory: "West"}); l.GetOwnerId() != a.String() {
		t.Errorf("after lifting capacity owner = %s, want %s", l.GetOwnerId(), a)
	}
	if _, err := e.leads.UpdateLeadAssignmentRule(e.as(t, e.other, uuid.New(), auth.RoleAdmin), &pipelinev1.UpdateLeadAssignmentRuleRequest{
		LeadAssignmentRule: &pipelinev1.LeadAssignmentRule{LeadAssignmentRuleId: rule.GetLeadAssignmentRule().GetLeadAssignmentRuleId(), Capacity: 1},
		UpdateMask:         &fieldmaskpb.FieldMask{Paths: []string{"capacity"}}}); status.Code(err) != codes.NotFound {
		t.Errorf("UpdateLeadAssignmentRule(other tenant) = %v, want NotFound", err)
	}
	list, err := e.leads.ListLeadAssignmentRules(admin, &pipelinev1.ListLeadAssignmentRulesRequest{})
	if err != nil || len(list.GetLeadAssignmentRules()) != 1 {
		t.Errorf("ListLeadAssignmentRules = %v, %v", list, err)
	}
}

func TestConcurrentAssignmentTakesTurns(t *testing.T) {
	t.Parallel()
	e := newLeadEnv(t, 10)
	admin := e.as(t, e.tenant, uuid.New(), auth.RoleAdmin)
	ids := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
	if _, err := e.leads.CreateLeadAssignmentRule(admin, &pipelinev1.CreateLeadAssignmentRuleRequest{
		LeadAssignmentRule: &pipelinev1.LeadAssignmentRule{AssigneeIds: ids}}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	count := map[string]int{}
	var wg sync.WaitGroup
	for i := range 9 {
		wg.Go(func() {
			resp, err := e.leads.CreateLead(admin, &pipelinev1.CreateLeadRequest{Lead: &pipelinev1.Lead{DisplayName: fmt.Sprint("L", i)}})
			if err != nil {
				t.Errorf("CreateLead: %v", err)
				return
			}
			mu.Lock()
			count[resp.GetLead().GetOwnerId()]++
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, id := range ids {
		if count[id] != 3 {
			t.Errorf("assignee %s got %d leads, want 3 (counts %v)", id, count[id], count)
		}
	}
}

func TestWebForm(t *testing.T) {
	t.Parallel()
	e := newLeadEnv(t, 2)
	admin := e.as(t, e.tenant, uuid.New(), auth.RoleAdmin)
	if _, err := e.leads.CreateWebForm(e.as(t, e.tenant, uuid.New(), auth.RoleSalesRep), &pipelinev1.CreateWebFormRequest{WebForm: &pipelinev1.WebForm{DisplayName: "F"}}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("CreateWebForm(rep) = %v, want PermissionDenied", err)
	}
	if _, err := e.leads.CreateWebForm(admin, &pipelinev1.CreateWebFormRequest{WebForm: &pipelinev1.WebForm{}}); status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)["web_form.display_name"] {
		t.Errorf("CreateWebForm(no name) = %v, want InvalidArgument", err)
	}
	form, err := e.leads.CreateWebForm(admin, &pipelinev1.CreateWebFormRequest{WebForm: &pipelinev1.WebForm{DisplayName: "Contact us", Territory: "Web"}})
	if err != nil || !strings.HasPrefix(form.GetWebForm().GetFormKey(), "wf_") || !form.GetWebForm().GetActive() {
		t.Fatalf("CreateWebForm = %v, %v", form, err)
	}
	key := form.GetWebForm().GetFormKey()
	public := t.Context() // no credentials
	for _, tt := range []struct {
		name      string
		req       *pipelinev1.SubmitWebFormRequest
		wantCode  codes.Code
		wantField string
	}{
		{"unknown key", &pipelinev1.SubmitWebFormRequest{FormKey: "wf_NOPE", DisplayName: "X"}, codes.NotFound, ""},
		{"not a key", &pipelinev1.SubmitWebFormRequest{FormKey: "../x", DisplayName: "X"}, codes.NotFound, ""},
		{"bad e-mail", &pipelinev1.SubmitWebFormRequest{FormKey: key, Email: "nope"}, codes.InvalidArgument, "email"},
	} {
		_, err := e.leads.SubmitWebForm(public, tt.req)
		if status.Code(err) != tt.wantCode || (tt.wantField != "" && !grpctest.Violations(err)[tt.wantField]) {
			t.Errorf("SubmitWebForm(%s) = %v, want %v on %q", tt.name, err, tt.wantCode, tt.wantField)
		}
	}
	// The key's burst of 2 was partly spent by the bad e-mail above.
	sub, err := e.leads.SubmitWebForm(public, &pipelinev1.SubmitWebFormRequest{FormKey: key, DisplayName: "Margaret", Email: "m@example.com",
		Utm: &pipelinev1.Utm{Source: "google", Medium: "cpc"}})
	if err != nil {
		t.Fatalf("SubmitWebForm: %v", err)
	}
	if _, err := e.leads.SubmitWebForm(public, &pipelinev1.SubmitWebFormRequest{FormKey: key, DisplayName: "Flood"}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("SubmitWebForm(over the key's rate) = %v, want ResourceExhausted", err)
	}
	got, err := e.leads.GetLead(admin, &pipelinev1.GetLeadRequest{LeadId: sub.GetLeadId()})
	if err != nil || got.GetLead().GetSource() != "web_form" || got.GetLead().GetWebFormId() != form.GetWebForm().GetWebFormId() ||
		got.GetLead().GetTerritory() != "Web" || got.GetLead().GetUtm().GetMedium() != "cpc" {
		t.Errorf("submitted lead = %v, %v", got, err)
	}
	if _, err := e.leads.GetLead(e.as(t, e.other, uuid.New(), auth.RoleAdmin), &pipelinev1.GetLeadRequest{LeadId: sub.GetLeadId()}); status.Code(err) != codes.NotFound {
		t.Errorf("GetLead(submitted, other tenant) = %v, want NotFound", err)
	}
	forms, err := e.leads.ListWebForms(admin, &pipelinev1.ListWebFormsRequest{})
	if err != nil || len(forms.GetWebForms()) != 1 {
		t.Errorf("ListWebForms = %v, %v", forms, err)
	}
	// Other calls of the service still need credentials.
	if _, err := e.leads.ListLeads(metadata.NewOutgoingContext(t.Context(), nil), &pipelinev1.ListLeadsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("ListLeads(no credentials) = %v, want Unauthenticated", err)
	}
}
