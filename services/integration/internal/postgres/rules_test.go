package postgres_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/services/integration/internal/notification"
	"github.com/rapportcrm/rapport/services/integration/internal/rule"
	"github.com/rapportcrm/rapport/services/integration/internal/webhook"
)

func TestRulesRunOncePerEvent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	rules := rule.New(f.store.Rules(), true)
	hook, _ := f.subscribe(t, "https://hooks.example.com/", "pipeline.*")
	gone, _ := f.subscribe(t, "https://gone.example.com/", "pipeline.*")
	notify := rule.Action{Kind: rule.SendNotification, RecipientPrincipalID: "agent-1", TitleTemplate: "{{event.type}}: {{event.resource}}"}
	r, err := rules.Create(t.Context(), f.admin, rule.Rule{DisplayName: "new tickets", EventTypes: []string{"ticket.created"},
		Filter: `resource = "tickets/*"`, Enabled: true, RateLimit: 2,
		Actions: []rule.Action{notify, {Kind: rule.CallWebhook, WebhookID: hook.ID}}}, "")
	if err != nil {
		t.Fatalf("Create rule = %v", err)
	}
	broken, err := rules.Create(t.Context(), f.admin, rule.Rule{DisplayName: "to a gone hook", EventTypes: []string{"ticket.created"},
		Enabled: true, Actions: []rule.Action{{Kind: rule.CallWebhook, WebhookID: gone.ID}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Delete(t.Context(), f.admin, gone.ID, ""); err != nil {
		t.Fatal(err)
	}
	first := f.event("ticket.created", "tickets/1")
	f.ingest(t, first)
	f.ingest(t, first) // replayed: runs nothing twice
	f.ingest(t, f.event("ticket.updated", "tickets/1"))
	f.ingest(t, f.event("ticket.created", "other/1")) // the filter refuses it
	f.ingest(t, f.event("ticket.created", "tickets/2"))
	f.ingest(t, f.event("ticket.created", "tickets/3")) // over 2 a minute

	agent := auth.Caller{TenantID: f.tenant.String(), PrincipalID: "agent-1", Roles: []auth.Role{auth.RoleSupportAgent}}
	page, err := notification.New(f.store.Notifications()).List(t.Context(), agent, notification.ListQuery{})
	if err != nil || len(page.Notifications) != 2 || page.Notifications[1].Title != "ticket.created: tickets/1" {
		t.Fatalf("agent's notifications = %+v, %v; want two, rendered", page.Notifications, err)
	}
	log, err := rules.Executions(t.Context(), f.admin, r.ID, rule.ListQuery{})
	if err != nil || len(log.Executions) != 3 {
		t.Fatalf("executions = %+v, %v; want 3", log.Executions, err)
	}
	if x := log.Executions[0]; x.Outcome != rule.RateLimited || x.Resource != "tickets/3" || x.RuleVersion != 1 {
		t.Fatalf("newest execution = %+v, want tickets/3 rate limited at version 1", x)
	}
	if n := len(f.delivery(t, hook, webhook.DeliveryPending)); n != 2 {
		t.Fatalf("rule deliveries to the hook = %d, want 2 (its own types do not match tickets)", n)
	}
	blog, err := rules.Executions(t.Context(), f.admin, broken.ID, rule.ListQuery{Filter: "outcome = RULE_EXECUTION_OUTCOME_FAILED"})
	if err != nil || len(blog.Executions) != 4 || blog.Executions[0].Detail == "" {
		t.Fatalf("executions of the rule with a gone webhook = %+v, %v; want 4 failed with a detail", blog.Executions, err)
	}

	matches, tried, err := rules.DryRun(t.Context(), f.admin, rule.Rule{DisplayName: "try", EventTypes: []string{"ticket.*"},
		Filter: `resource = "tickets/*"`, Actions: []rule.Action{notify}}, 0)
	if err != nil || tried != 5 || len(matches) != 4 || matches[0].Actions[0] == "" {
		t.Fatalf("DryRun = %d matches of %d, %v; want 4 of the 5 distinct events", len(matches), tried, err)
	}
	var runs int
	if err := f.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM rule_executions`).Scan(&runs); err != nil || runs != 7 {
		t.Fatalf("executions after the dry run = %d, %v; want still 7", runs, err)
	}
	stranger := auth.Caller{TenantID: uuid.NewString(), PrincipalID: "s", Roles: []auth.Role{auth.RoleAdmin}}
	if _, err := rules.Executions(t.Context(), stranger, r.ID, rule.ListQuery{}); err == nil {
		t.Fatal("Executions(another tenant) = nil, want not found")
	}
}
