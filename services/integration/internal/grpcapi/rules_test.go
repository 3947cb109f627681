package grpcapi_test

import (
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

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

func TestRules(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	tokens := grpctest.NewTokens(t)
	conn := grpctest.Serve(t, tokens.Authenticator(nil), func(srv *grpcserver.Server) {
		integrationv1.RegisterAutomationServiceServer(srv, grpcapi.NewRules(rule.New(postgres.New(db.App).Rules(), false)))
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
		{"no action kind", bad(func(r *integrationv1.Rule) { r.Actions[0].Kind = 0 }), "rule.actions[0].kind"},
		{"bad webhook id", bad(func(r *integrationv1.Rule) {
			r.Actions[0] = &integrationv1.RuleAction{Kind: integrationv1.RuleActionKind_RULE_ACTION_KIND_CALL_WEBHOOK, WebhookId: "x"}
		}), "rule.actions[0].webhook_id"},
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
