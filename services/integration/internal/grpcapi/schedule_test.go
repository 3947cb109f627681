package grpcapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
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

// staleCustomers stands in for the customer service's selection.
type staleCustomers struct{ tenants map[uuid.UUID][]string }

func (s staleCustomers) Select(_ context.Context, tenant uuid.UUID, _ rule.Collection, _ string, _ string) (rule.SelectionPage, error) {
	var page rule.SelectionPage
	for _, id := range s.tenants[tenant] {
		page.Resources = append(page.Resources, rule.Resource{Name: "customers/" + id})
	}
	return page, nil
}

func scheduledRule() *integrationv1.Rule {
	return &integrationv1.Rule{DisplayName: "Stale customers", Enabled: true,
		Schedule:  &integrationv1.RuleSchedule{DailyTime: "07:30", TimeZone: "Europe/Berlin"},
		Selection: &integrationv1.RuleSelection{Collection: integrationv1.RuleCollection_RULE_COLLECTION_CUSTOMERS, Filter: `lifecycle_stage = "LIFECYCLE_STAGE_CUSTOMER"`, InactiveFor: durationpb.New(90 * 24 * time.Hour)},
		Actions: []*integrationv1.RuleAction{{Kind: integrationv1.RuleActionKind_RULE_ACTION_KIND_SEND_NOTIFICATION,
			RecipientPrincipalId: "owner-1", TitleTemplate: "Call {{event.resource}}"}}}
}

func TestScheduledRules(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	tokens := grpctest.NewTokens(t)
	tenant := uuid.New()
	sel := staleCustomers{tenants: map[uuid.UUID][]string{tenant: {"c1", "c2"}}}
	conn := grpctest.Serve(t, tokens.Authenticator(nil), func(srv *grpcserver.Server) {
		integrationv1.RegisterAutomationServiceServer(srv, grpcapi.NewRules(rule.New(postgres.New(db.App).Rules(), sel, false)))
	})
	client := integrationv1.NewAutomationServiceClient(conn)
	admin := tokens.Context(t.Context(), tenant.String(), auth.RoleAdmin)

	bad := func(edit func(*integrationv1.Rule)) *integrationv1.Rule { r := scheduledRule(); edit(r); return r }
	invalid := []struct {
		name  string
		rule  *integrationv1.Rule
		field string
	}{
		{"schedule and event types", bad(func(r *integrationv1.Rule) { r.EventTypes = []string{"ticket.created"} }), "rule.event_types"},
		{"schedule and event filter", bad(func(r *integrationv1.Rule) { r.Filter = `type = "x"` }), "rule.filter"},
		{"neither", bad(func(r *integrationv1.Rule) { r.Schedule, r.Selection = nil, nil }), "rule.event_types"},
		{"selection without schedule", bad(func(r *integrationv1.Rule) { r.Schedule, r.EventTypes = nil, []string{"ticket.created"} }), "rule.selection"},
		{"no selection", bad(func(r *integrationv1.Rule) { r.Selection = nil }), "rule.selection"},
		{"interval under an hour", bad(func(r *integrationv1.Rule) {
			r.Schedule = &integrationv1.RuleSchedule{Interval: durationpb.New(59 * time.Minute)}
		}), "rule.schedule.interval"},
		{"interval and daily time", bad(func(r *integrationv1.Rule) { r.Schedule.Interval = durationpb.New(2 * time.Hour) }), "rule.schedule"},
		{"empty schedule", bad(func(r *integrationv1.Rule) { r.Schedule = &integrationv1.RuleSchedule{} }), "rule.schedule"},
		{"bad daily time", bad(func(r *integrationv1.Rule) { r.Schedule.DailyTime = "24:00" }), "rule.schedule.daily_time"},
		{"bad time zone", bad(func(r *integrationv1.Rule) { r.Schedule.TimeZone = "Mars/Olympus" }), "rule.schedule.time_zone"},
		{"unknown collection", bad(func(r *integrationv1.Rule) { r.Selection.Collection = 0 }), "rule.selection.collection"},
		{"unknown filter field", bad(func(r *integrationv1.Rule) { r.Selection.Filter = `shoe_size = 9` }), "rule.selection.filter"},
		{"unparsable filter", bad(func(r *integrationv1.Rule) { r.Selection.Filter = `display_name = ` }), "rule.selection.filter"},
		{"inactive under a day", bad(func(r *integrationv1.Rule) { r.Selection.InactiveFor = durationpb.New(23 * time.Hour) }), "rule.selection.inactive_for"},
		{"negative inactive", bad(func(r *integrationv1.Rule) { r.Selection.InactiveFor = durationpb.New(-time.Hour) }), "rule.selection.inactive_for"},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.CreateRule(admin, &integrationv1.CreateRuleRequest{Rule: tt.rule})
			if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.field] {
				t.Fatalf("CreateRule(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.field)
			}
		})
	}

	created, err := client.CreateRule(admin, &integrationv1.CreateRuleRequest{Rule: scheduledRule(), RequestId: "s1"})
	if err != nil {
		t.Fatalf("CreateRule: %v", err)
	}
	got := created.GetRule()
	next := got.GetNextRunTime().AsTime().In(mustZone(t, "Europe/Berlin"))
	if next.Hour() != 7 || next.Minute() != 30 || !next.After(time.Now()) || next.After(time.Now().Add(25*time.Hour)) {
		t.Fatalf("next_run_time = %v, want the next 07:30 in Berlin", next)
	}
	if got.GetSelection().GetInactiveFor().AsDuration() != 90*24*time.Hour || got.GetSchedule().GetDailyTime() != "07:30" {
		t.Fatalf("CreateRule = %v, want the schedule and selection back", got)
	}
	id := got.GetRuleId()

	dry, err := client.DryRunRule(admin, &integrationv1.DryRunRuleRequest{Rule: scheduledRule()})
	if err != nil || dry.GetEventsEvaluated() != 2 || len(dry.GetMatches()) != 2 || dry.GetMatches()[0].GetResource() != "customers/c1" ||
		dry.GetMatches()[0].GetActions()[0] != `notify owner-1: "Call customers/c1"` {
		t.Fatalf("DryRunRule(scheduled) = %v, %v; want c1 and c2", dry, err)
	}

	calls := []struct {
		name string
		ctx  context.Context
		id   string
		want codes.Code
	}{
		{"analyst", tokens.Context(t.Context(), tenant.String(), auth.RoleAnalyst), id, codes.PermissionDenied},
		{"another tenant", tokens.Context(t.Context(), uuid.NewString(), auth.RoleAdmin), id, codes.NotFound},
		{"bad id", admin, "x", codes.InvalidArgument},
		{"admin", admin, id, codes.OK},
		{"already running", admin, id, codes.FailedPrecondition},
	}
	for _, c := range calls {
		run, err := client.RunRule(c.ctx, &integrationv1.RunRuleRequest{RuleId: c.id})
		if status.Code(err) != c.want {
			t.Fatalf("RunRule(%s) = %v, want %v", c.name, err, c.want)
		}
		if c.want == codes.OK && (run.GetRun().GetState() != integrationv1.RuleRunState_RULE_RUN_STATE_RUNNING ||
			run.GetRun().GetTrigger() != integrationv1.RuleRunTrigger_RULE_RUN_TRIGGER_MANUAL || run.GetRun().GetRuleVersion() != 1) {
			t.Fatalf("RunRule = %v, want a running manual run of version 1", run)
		}
	}
	runs, err := client.ListRuleRuns(tokens.Context(t.Context(), tenant.String(), auth.RoleAnalyst),
		&integrationv1.ListRuleRunsRequest{RuleId: id, Filter: `state = RULE_RUN_STATE_RUNNING`})
	if err != nil || len(runs.GetRuns()) != 1 {
		t.Fatalf("ListRuleRuns = %v, %v; want the queued run", runs, err)
	}
	if _, err := client.ListRuleRuns(admin, &integrationv1.ListRuleRunsRequest{RuleId: id, Filter: `state = 7`}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("ListRuleRuns(bad filter) = %v, want InvalidArgument", err)
	}
	if _, err := client.ListRuleRuns(tokens.Context(t.Context(), uuid.NewString(), auth.RoleAdmin), &integrationv1.ListRuleRunsRequest{RuleId: id}); status.Code(err) != codes.NotFound {
		t.Fatalf("ListRuleRuns(another tenant) = %v, want NotFound", err)
	}

	event, err := client.CreateRule(admin, &integrationv1.CreateRuleRequest{Rule: validRule()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.RunRule(admin, &integrationv1.RunRuleRequest{RuleId: event.GetRule().GetRuleId()}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("RunRule(event rule) = %v, want FailedPrecondition", err)
	}
	off, err := client.UpdateRule(admin, &integrationv1.UpdateRuleRequest{Rule: &integrationv1.Rule{RuleId: id, Enabled: false,
		Schedule: &integrationv1.RuleSchedule{Interval: durationpb.New(6 * time.Hour)}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"enabled", "schedule"}}})
	if err != nil || off.GetRule().GetSchedule().GetInterval().AsDuration() != 6*time.Hour || off.GetRule().GetNextRunTime().AsTime().Before(time.Now().Add(5*time.Hour)) {
		t.Fatalf("UpdateRule(schedule) = %v, %v; want every 6h, next in about 6h", off, err)
	}
	if _, err := client.RunRule(admin, &integrationv1.RunRuleRequest{RuleId: id}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("RunRule(disabled) = %v, want FailedPrecondition", err)
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
