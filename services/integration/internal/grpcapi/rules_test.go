package grpcapi_test

import (
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	integrationv1 "github.com/rapportcrm/rapport/gen/go/rapport/integration/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/integration/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/integration/internal/postgres"
	"github.com/rapportcrm/rapport/services/integration/internal/rule"
)

func validRule() *integrationv1.Rule {
	return &integrationv1.Rule{DisplayName: "Tell the owner", EventTypes: []string{"ticket.created"}, Enabled: true,
		Actions: []*integrationv1.RuleAction{{Kind: integrationv1.RuleActionKind_RULE_ACTION_KIND_SEND_NOTIFICATION,
			RecipientPrincipalId: "agent-1", TitleTemplate: "New {{event.type}} on {{ event.resource }}"}}}
}

func followUp() *integrationv1.RuleAction {
	return &integrationv1.RuleAction{Kind: integrationv1.RuleActionKind_RULE_ACTION_KIND_CREATE_FOLLOW_UP,
		TitleTemplate: "Welcome {{event.resource}}", FollowUpDueDays: 2}
}

func change(k integrationv1.RuleActionKind) *integrationv1.RuleAction {
	return &integrationv1.RuleAction{Kind: k}
}

func TestRules(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	tokens := grpctest.NewTokens(t)
	conn := grpctest.Serve(t, tokens.Authenticator(nil), func(srv *grpcserver.Server) {
		integrationv1.RegisterAutomationServiceServer(srv, grpcapi.NewRules(rule.New(postgres.New(db.App).Rules(), nil, false)))
	})
	client := integrationv1.NewAutomationServiceClient(conn)
	tenant := uuid.NewString()
	admin := tokens.Context(t.Context(), tenant, auth.RoleAdmin)

	created, err := client.CreateRule(admin, &integrationv1.CreateRuleRequest{Rule: validRule(), RequestId: "r1"})
	if err != nil || created.GetRule().GetVersion() != 1 || created.GetRule().GetMaxExecutionsPerMinute() != 60 {
		t.Fatalf("CreateRule = %v, %v; want version 1 with the default rate", created, err)
	}
	id := created.GetRule().GetRuleId()
	if again, err := client.CreateRule(admin, &integrationv1.CreateRuleRequest{Rule: validRule(), RequestId: "r1"}); err != nil || again.GetRule().GetRuleId() != id {
		t.Fatalf("repeated CreateRule = %v, %v; want the first", again, err)
	}

	bad := func(edit func(*integrationv1.Rule)) *integrationv1.Rule { r := validRule(); edit(r); return r }
	tests := []struct {
		name  string
		rule  *integrationv1.Rule
		field string
	}{
		{"unknown placeholder", bad(func(r *integrationv1.Rule) { r.Actions[0].TitleTemplate = "Hi {{customer.name}}" }), "rule.actions[0].title_template"},
		{"triggers itself", bad(func(r *integrationv1.Rule) { r.EventTypes = []string{"notification.created"} }), "rule.event_types"},
		{"own prefix", bad(func(r *integrationv1.Rule) { r.EventTypes = []string{"webhook.*"} }), "rule.event_types"},
		{"every event", bad(func(r *integrationv1.Rule) { r.EventTypes = []string{"*"} }), "rule.event_types"},
		{"no actions", bad(func(r *integrationv1.Rule) { r.Actions = nil }), "rule.actions"},
		{"follow-up on a ticket event", bad(func(r *integrationv1.Rule) { r.Actions[0] = followUp() }), "rule.actions[0].kind"},
		{"follow-up without a title", bad(func(r *integrationv1.Rule) {
			r.EventTypes, r.Actions[0] = []string{"customer.created"}, followUp()
			r.Actions[0].TitleTemplate = ""
		}), "rule.actions[0].title_template"},
		{"follow-up note placeholder", bad(func(r *integrationv1.Rule) {
			r.EventTypes, r.Actions[0] = []string{"customer.created"}, followUp()
			r.Actions[0].BodyTemplate = "{{customer.owner}}"
		}), "rule.actions[0].body_template"},
		{"follow-up due too late", bad(func(r *integrationv1.Rule) {
			r.EventTypes, r.Actions[0] = []string{"customer.created"}, followUp()
			r.Actions[0].FollowUpDueDays = 366
		}), "rule.actions[0].follow_up_due_days"},
		{"follow-up on its own follow-ups", bad(func(r *integrationv1.Rule) {
			r.EventTypes, r.Actions[0] = []string{"customer.*"}, followUp()
		}), "rule.event_types"},
		{"no action kind", bad(func(r *integrationv1.Rule) { r.Actions[0].Kind = 0 }), "rule.actions[0].kind"},
		{"bad webhook id", bad(func(r *integrationv1.Rule) {
			r.Actions[0] = &integrationv1.RuleAction{Kind: integrationv1.RuleActionKind_RULE_ACTION_KIND_CALL_WEBHOOK, WebhookId: "x"}
		}), "rule.actions[0].webhook_id"},
		{"owner without a principal", bad(func(r *integrationv1.Rule) {
			r.EventTypes, r.Actions[0] = []string{"customer.created"}, change(integrationv1.RuleActionKind_RULE_ACTION_KIND_ASSIGN_OWNER)
		}), "rule.actions[0].owner_principal_id"},
		{"queue for a customer", bad(func(r *integrationv1.Rule) {
			r.EventTypes, r.Actions[0] = []string{"customer.created"}, change(integrationv1.RuleActionKind_RULE_ACTION_KIND_ASSIGN_OWNER)
			r.Actions[0].OwnerPrincipalId, r.Actions[0].QueueId = "rep-1", uuid.NewString()
		}), "rule.actions[0].queue_id"},
		{"ticket assignment to nobody", bad(func(r *integrationv1.Rule) {
			r.Actions[0] = change(integrationv1.RuleActionKind_RULE_ACTION_KIND_ASSIGN_OWNER)
		}), "rule.actions[0].owner_principal_id"},
		{"ticket assignment on its own assignments", bad(func(r *integrationv1.Rule) {
			r.EventTypes, r.Actions[0] = []string{"ticket.*"}, change(integrationv1.RuleActionKind_RULE_ACTION_KIND_ASSIGN_OWNER)
			r.Actions[0].OwnerPrincipalId = "agent-1"
		}), "rule.event_types"},
		{"owner on mixed events", bad(func(r *integrationv1.Rule) {
			r.EventTypes, r.Actions[0] = []string{"customer.created", "ticket.created"}, change(integrationv1.RuleActionKind_RULE_ACTION_KIND_ASSIGN_OWNER)
			r.Actions[0].OwnerPrincipalId = "rep-1"
		}), "rule.actions[0].kind"},
		{"owner on customer updates", bad(func(r *integrationv1.Rule) {
			r.EventTypes, r.Actions[0] = []string{"customer.updated"}, change(integrationv1.RuleActionKind_RULE_ACTION_KIND_ASSIGN_OWNER)
			r.Actions[0].OwnerPrincipalId = "rep-1"
		}), "rule.event_types"},
		{"no stage", bad(func(r *integrationv1.Rule) {
			r.EventTypes, r.Actions[0] = []string{"customer.created"}, change(integrationv1.RuleActionKind_RULE_ACTION_KIND_MOVE_LIFECYCLE_STAGE)
		}), "rule.actions[0].lifecycle_stage"},
		{"stage on stage changes", bad(func(r *integrationv1.Rule) {
			r.EventTypes, r.Actions[0] = []string{"customer.lifecycle_stage.*"}, change(integrationv1.RuleActionKind_RULE_ACTION_KIND_MOVE_LIFECYCLE_STAGE)
			r.Actions[0].LifecycleStage = customerv1.LifecycleStage_LIFECYCLE_STAGE_AT_RISK
		}), "rule.event_types"},
		{"stage on ticket events", bad(func(r *integrationv1.Rule) {
			r.Actions[0] = change(integrationv1.RuleActionKind_RULE_ACTION_KIND_MOVE_LIFECYCLE_STAGE)
			r.Actions[0].LifecycleStage = customerv1.LifecycleStage_LIFECYCLE_STAGE_AT_RISK
		}), "rule.actions[0].kind"},
		{"bad attribute key", bad(func(r *integrationv1.Rule) {
			r.EventTypes, r.Actions[0] = []string{"customer.created"}, change(integrationv1.RuleActionKind_RULE_ACTION_KIND_SET_FIELD)
			r.Actions[0].AttributeKey = "Shoe Size"
		}), "rule.actions[0].attribute_key"},
		{"value placeholder", bad(func(r *integrationv1.Rule) {
			r.EventTypes, r.Actions[0] = []string{"customer.created"}, change(integrationv1.RuleActionKind_RULE_ACTION_KIND_SET_FIELD)
			r.Actions[0].AttributeKey, r.Actions[0].ValueTemplate = "tier_note", "{{customer.tier}}"
		}), "rule.actions[0].value_template"},
		{"campaign without an id", bad(func(r *integrationv1.Rule) {
			r.EventTypes, r.Actions[0] = []string{"customer.created"}, change(integrationv1.RuleActionKind_RULE_ACTION_KIND_ADD_TO_CAMPAIGN)
		}), "rule.actions[0].campaign_id"},
		{"bad campaign id", bad(func(r *integrationv1.Rule) {
			r.EventTypes, r.Actions[0] = []string{"customer.created"}, change(integrationv1.RuleActionKind_RULE_ACTION_KIND_ADD_TO_CAMPAIGN)
			r.Actions[0].CampaignId = "spring"
		}), "rule.actions[0].campaign_id"},
		{"bad filter", bad(func(r *integrationv1.Rule) { r.Filter = "owner = 1" }), "rule.filter"},
		{"negative rate", bad(func(r *integrationv1.Rule) { r.MaxExecutionsPerMinute = -1 }), "rule.max_executions_per_minute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.CreateRule(admin, &integrationv1.CreateRuleRequest{Rule: tt.rule})
			if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.field] {
				t.Fatalf("CreateRule(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.field)
			}
		})
	}

	changes := &integrationv1.Rule{DisplayName: "Qualify", EventTypes: []string{"customer.created"}, Enabled: true, Actions: []*integrationv1.RuleAction{
		{Kind: integrationv1.RuleActionKind_RULE_ACTION_KIND_ASSIGN_OWNER, OwnerPrincipalId: "rep-1"},
		{Kind: integrationv1.RuleActionKind_RULE_ACTION_KIND_MOVE_LIFECYCLE_STAGE, LifecycleStage: customerv1.LifecycleStage_LIFECYCLE_STAGE_PROSPECT},
		{Kind: integrationv1.RuleActionKind_RULE_ACTION_KIND_SET_FIELD, AttributeKey: "lead_source", ValueTemplate: "{{event.source}}"},
		{Kind: integrationv1.RuleActionKind_RULE_ACTION_KIND_ADD_TO_CAMPAIGN, CampaignId: uuid.NewString()},
	}}
	got, err := client.CreateRule(admin, &integrationv1.CreateRuleRequest{Rule: changes})
	if err != nil || !proto.Equal(&integrationv1.Rule{Actions: got.GetRule().GetActions()}, &integrationv1.Rule{Actions: changes.GetActions()}) {
		t.Fatalf("CreateRule(every change action) = %v, %v; want the actions as sent", got, err)
	}
	if _, err := client.CreateRule(tokens.Context(t.Context(), tenant, auth.RoleAnalyst), &integrationv1.CreateRuleRequest{Rule: validRule()}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("CreateRule(analyst) = %v, want PermissionDenied", err)
	}
	if _, err := client.GetRule(tokens.Context(t.Context(), uuid.NewString(), auth.RoleAdmin), &integrationv1.GetRuleRequest{RuleId: id}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetRule(another tenant) = %v, want NotFound", err)
	}
	upd, err := client.UpdateRule(admin, &integrationv1.UpdateRuleRequest{Rule: &integrationv1.Rule{RuleId: id, Etag: "1", Enabled: false},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"enabled"}}})
	if err != nil || upd.GetRule().GetVersion() != 2 || upd.GetRule().GetEnabled() || upd.GetRule().GetDisplayName() != "Tell the owner" {
		t.Fatalf("UpdateRule = %v, %v; want version 2, disabled, the rest kept", upd, err)
	}
	if _, err := client.UpdateRule(admin, &integrationv1.UpdateRuleRequest{Rule: &integrationv1.Rule{RuleId: id, Etag: "1", DisplayName: "x"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}); status.Code(err) != codes.Aborted {
		t.Fatalf("UpdateRule(stale etag) = %v, want Aborted", err)
	}
	var versions int
	if err := db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM rule_versions WHERE rule_id = $1`, id).Scan(&versions); err != nil || versions != 2 {
		t.Fatalf("rule versions = %d, %v; want 2", versions, err)
	}
	dry, err := client.DryRunRule(admin, &integrationv1.DryRunRuleRequest{Rule: validRule()})
	if err != nil || dry.GetEventsEvaluated() != 0 || len(dry.GetMatches()) != 0 {
		t.Fatalf("DryRunRule(no events) = %v, %v", dry, err)
	}
	if _, err := client.DeleteRule(admin, &integrationv1.DeleteRuleRequest{RuleId: id}); err != nil {
		t.Fatalf("DeleteRule = %v", err)
	}
	if _, err := client.ListRuleExecutions(admin, &integrationv1.ListRuleExecutionsRequest{RuleId: id}); status.Code(err) != codes.NotFound {
		t.Fatalf("ListRuleExecutions(deleted) = %v, want NotFound", err)
	}
}
