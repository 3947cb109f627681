package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/encoding/protojson"

	integrationv1 "github.com/rapportcrm/rapport/gen/go/rapport/integration/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/keyset"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/services/integration/internal/delivery"
	"github.com/rapportcrm/rapport/services/integration/internal/email"
	"github.com/rapportcrm/rapport/services/integration/internal/notification"
	"github.com/rapportcrm/rapport/services/integration/internal/protoconv"
	"github.com/rapportcrm/rapport/services/integration/internal/rule"
	"github.com/rapportcrm/rapport/services/integration/internal/ruleaction"
	"github.com/rapportcrm/rapport/services/integration/internal/webhook"
)

// Rules implements rule.Store.
type Rules struct{ pool *pgxpool.Pool }

// Rules returns the rule store on the same pool.
func (s *Store) Rules() *Rules { return &Rules{pool: s.pool} }

const ruleColumns = `rule_id, display_name, event_types, filter, actions, enabled, rate_limit, version, create_time, update_time,
schedule, selection, next_run_time`

func scanRule(row pgx.CollectableRow) (rule.Rule, error) {
	var r rule.Rule
	var actions, schedule, selection []byte
	if err := row.Scan(&r.ID, &r.DisplayName, &r.EventTypes, &r.Filter, &actions, &r.Enabled, &r.RateLimit, &r.Version,
		&r.CreateTime, &r.UpdateTime, &schedule, &selection, &r.NextRunTime); err != nil {
		return r, err
	}
	if schedule != nil {
		r.Schedule = &rule.Schedule{}
		if err := json.Unmarshal(schedule, r.Schedule); err != nil {
			return r, err
		}
	}
	if selection != nil {
		r.Selection = &rule.Selection{}
		if err := json.Unmarshal(selection, r.Selection); err != nil {
			return r, err
		}
	}
	return r, json.Unmarshal(actions, &r.Actions)
}

// scheduleArgs are the schedule, selection and next_run_time columns of r
// as saved at now: the next run is one schedule step after now when the
// schedule is new or changed, and otherwise stays.
func scheduleArgs(before *rule.Rule, r rule.Rule, now time.Time) (schedule, selection []byte, next *time.Time, err error) {
	if r.Schedule == nil {
		return nil, nil, nil, nil
	}
	if schedule, err = json.Marshal(r.Schedule); err != nil {
		return nil, nil, nil, err
	}
	if selection, err = json.Marshal(r.Selection); err != nil {
		return nil, nil, nil, err
	}
	if before != nil && before.Schedule != nil && *before.Schedule == *r.Schedule && before.NextRunTime != nil {
		return schedule, selection, before.NextRunTime, nil
	}
	n := r.Schedule.NextRun(now)
	return schedule, selection, &n, nil
}

const (
	insertRuleSQL = `
INSERT INTO rules (tenant_id, rule_id, display_name, event_types, filter, actions, enabled, rate_limit, request_id,
    schedule, selection, next_run_time)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, ''), $10, $11, $12)
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + ruleColumns
	ruleByRequestSQL = `SELECT ` + ruleColumns + ` FROM rules WHERE tenant_id = $1 AND request_id = $2`
	ruleByIDSQL      = `SELECT ` + ruleColumns + ` FROM rules WHERE tenant_id = $1 AND rule_id = $2`
	lockRuleSQL      = ruleByIDSQL + ` FOR UPDATE`
	insertVersionSQL = `INSERT INTO rule_versions (tenant_id, rule_id, version, definition, principal_id) VALUES ($1, $2, $3, $4, $5)`
	updateRuleSQL    = `
UPDATE rules SET display_name = $3, event_types = $4, filter = $5, actions = $6, enabled = $7, rate_limit = $8,
    schedule = $9, selection = $10, next_run_time = $11, version = version + 1, update_time = now()
WHERE tenant_id = $1 AND rule_id = $2
RETURNING ` + ruleColumns
	deleteRuleSQL = `DELETE FROM rules WHERE tenant_id = $1 AND rule_id = $2`
)

// version records r as saved in tx (its definition in the API's JSON)
// and its event.
func version(ctx context.Context, tx pgx.Tx, caller auth.Caller, event string, before *rule.Rule, r rule.Rule) error {
	def, err := protojson.Marshal(protoconv.Rule(r))
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, insertVersionSQL, caller.TenantID, r.ID, r.Version, def, caller.PrincipalID); err != nil {
		return fmt.Errorf("record version: %w", err)
	}
	c := outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: event, Resource: r.Resource(), After: protoconv.Rule(r)}
	if before != nil {
		c.Before = protoconv.Rule(*before)
	}
	return outbox.Record(ctx, tx, c)
}

// Create implements rule.Store.
func (s *Rules) Create(ctx context.Context, caller auth.Caller, r rule.Rule, requestID string) (rule.Rule, error) {
	var saved rule.Rule
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		actions, err := json.Marshal(r.Actions)
		if err != nil {
			return err
		}
		schedule, selection, next, err := scheduleArgs(nil, r, time.Now())
		if err != nil {
			return err
		}
		var created bool
		saved, created, err = pgdb.InsertOnce(ctx, tx,
			insertRuleSQL, []any{caller.TenantID, r.ID, r.DisplayName, r.EventTypes, r.Filter, actions, r.Enabled, r.RateLimit, requestID,
				schedule, selection, next},
			ruleByRequestSQL, []any{caller.TenantID, requestID}, scanRule)
		if err != nil || !created {
			return err
		}
		return version(ctx, tx, caller, rule.EventCreated, nil, saved)
	})
	if err != nil {
		return rule.Rule{}, fmt.Errorf("create rule: %w", err)
	}
	return saved, nil
}

// Get implements rule.Store.
func (s *Rules) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (rule.Rule, error) {
	r, err := pgdb.Row(ctx, s.pool, caller.TenantID, ruleByIDSQL, []any{caller.TenantID, id}, scanRule)
	if errors.Is(err, pgx.ErrNoRows) {
		return rule.Rule{}, rule.ErrNotFound
	}
	if err != nil {
		return rule.Rule{}, fmt.Errorf("get rule %s: %w", id, err)
	}
	return r, nil
}

var listRules = keyset.Query[rule.Rule]{
	Table: "rules", Columns: ruleColumns, IDColumn: "rule_id",
	Fields: map[string]sqlfilter.Field{"enabled": {Column: "enabled", Kind: sqlfilter.Bool}},
	Scan:   scanRule,
	Key:    func(r rule.Rule) (time.Time, uuid.UUID) { return r.CreateTime, r.ID },
}

// List implements rule.Store.
func (s *Rules) List(ctx context.Context, caller auth.Caller, q rule.ListQuery) (rule.Page, error) {
	rows, next, err := keyset.NewestFirst(ctx, s.pool, caller.TenantID, listRules, q.Filter, q.PageToken, q.PageSize)
	if err != nil {
		return rule.Page{}, err
	}
	return rule.Page{Rules: rows, NextPageToken: next}, nil
}

func lockRule(ctx context.Context, tx pgx.Tx, tenant string, id uuid.UUID) (rule.Rule, error) {
	rows, err := tx.Query(ctx, lockRuleSQL, tenant, id)
	if err != nil {
		return rule.Rule{}, err
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanRule)
	if errors.Is(err, pgx.ErrNoRows) {
		return rule.Rule{}, rule.ErrNotFound
	}
	return r, err
}

// Update implements rule.Store.
func (s *Rules) Update(ctx context.Context, caller auth.Caller, id uuid.UUID, change func(*rule.Rule) error) (rule.Rule, error) {
	var saved rule.Rule
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := lockRule(ctx, tx, caller.TenantID, id)
		if err != nil {
			return err
		}
		r := before
		r.EventTypes = append([]string(nil), before.EventTypes...)
		r.Actions = append([]rule.Action(nil), before.Actions...)
		if before.Schedule != nil {
			sc := *before.Schedule
			r.Schedule = &sc
		}
		if before.Selection != nil {
			sel := *before.Selection
			r.Selection = &sel
		}
		if err := change(&r); err != nil {
			return err
		}
		actions, err := json.Marshal(r.Actions)
		if err != nil {
			return err
		}
		schedule, selection, next, err := scheduleArgs(&before, r, time.Now())
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, updateRuleSQL, caller.TenantID, id, r.DisplayName, r.EventTypes, r.Filter, actions, r.Enabled, r.RateLimit,
			schedule, selection, next)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanRule); err != nil {
			return err
		}
		return version(ctx, tx, caller, rule.EventUpdated, &before, saved)
	})
	if err != nil {
		return rule.Rule{}, fmt.Errorf("update rule %s: %w", id, err)
	}
	return saved, nil
}

// Delete implements rule.Store.
func (s *Rules) Delete(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) error {
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := lockRule(ctx, tx, caller.TenantID, id)
		if err != nil {
			return err
		}
		if etag != "" && etag != before.Etag() {
			return rule.ErrEtagMismatch
		}
		if _, err := tx.Exec(ctx, deleteRuleSQL, caller.TenantID, id); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: rule.EventDeleted, Resource: before.Resource(), Before: protoconv.Rule(before), After: protoconv.Rule(before)})
	})
	if err != nil {
		return fmt.Errorf("delete rule %s: %w", id, err)
	}
	return nil
}

// recentSQL is completed with the rule's filter, its arguments from $3.
const recentSQL = `
SELECT event_id, source, type, resource, principal_id, event_time FROM (
    SELECT * FROM webhook_events WHERE tenant_id = $1 ORDER BY seq DESC LIMIT $2
) e WHERE `

// Matching implements rule.Store: the filter runs as SQL over the recent
// events, as it does when the rule runs for real.
func (s *Rules) Matching(ctx context.Context, caller auth.Caller, r rule.Rule, limit int) ([]rule.Event, int, error) {
	cond, err := sqlfilter.Translate(r.Filter, webhook.EventFields, 2)
	if err != nil {
		return nil, 0, err
	}
	var tried int
	var out []rule.Event
	err = pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM webhook_events WHERE tenant_id = $1 ORDER BY seq DESC LIMIT $2) e`,
			caller.TenantID, limit).Scan(&tried); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, recentSQL+"("+cond.SQL+") ORDER BY event_time DESC", append([]any{caller.TenantID, limit}, cond.Args...)...)
		if err != nil {
			return err
		}
		events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rule.Event, error) {
			var e rule.Event
			return e, r.Scan(&e.ID, &e.Source, &e.Type, &e.Resource, &e.PrincipalID, &e.Time)
		})
		for _, e := range events {
			if webhook.Matches(r.EventTypes, e.Type) {
				out = append(out, e)
			}
		}
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("dry run: %w", err)
	}
	return out, tried, nil
}

const executionColumns = `execution_id, rule_id, rule_version, event_id, event_type, resource, outcome, detail, create_time`

func scanExecution(row pgx.CollectableRow) (rule.Execution, error) {
	var x rule.Execution
	return x, row.Scan(&x.ID, &x.RuleID, &x.RuleVersion, &x.EventID, &x.EventType, &x.Resource, &x.Outcome, &x.Detail, &x.CreateTime)
}

var listExecutions = keyset.Query[rule.Execution]{
	Table: "rule_executions", Columns: executionColumns, IDColumn: "execution_id",
	Fields: map[string]sqlfilter.Field{
		"rule_id":    {Column: "rule_id", Kind: sqlfilter.UUID},
		"outcome":    {Column: "outcome", Kind: sqlfilter.Enum, Enum: integrationv1.RuleExecutionOutcome_value},
		"event_type": {Column: "event_type", Kind: sqlfilter.String},
		"resource":   {Column: "resource", Kind: sqlfilter.String},
	},
	Scan: scanExecution,
	Key:  func(x rule.Execution) (time.Time, uuid.UUID) { return x.CreateTime, x.ID },
}

// Executions implements rule.Store.
func (s *Rules) Executions(ctx context.Context, caller auth.Caller, id uuid.UUID, q rule.ListQuery) (rule.ExecutionPage, error) {
	filter := fmt.Sprintf("rule_id = %q", id.String())
	if q.Filter != "" {
		filter += " AND (" + q.Filter + ")"
	}
	rows, next, err := keyset.NewestFirst(ctx, s.pool, caller.TenantID, listExecutions, filter, q.PageToken, q.PageSize)
	if err != nil {
		return rule.ExecutionPage{}, err
	}
	return rule.ExecutionPage{Executions: rows, NextPageToken: next}, nil
}

const (
	// enabledRulesSQL finds the enabled rules whose event types name the
	// event's type, one of its prefixes or "*" ($3).
	enabledRulesSQL = `SELECT ` + ruleColumns + ` FROM rules
WHERE tenant_id = $1 AND enabled AND create_time <= $2 AND event_types && $3 AND schedule IS NULL`
	recentRunsSQL = `
SELECT rule_id, count(*) FROM rule_executions
WHERE tenant_id = $1 AND rule_id = ANY($2) AND create_time > now() - interval '1 minute'
GROUP BY rule_id`
	existingWebhooksSQL  = `SELECT webhook_id FROM webhooks WHERE tenant_id = $1 AND webhook_id = ANY($2)`
	existingTemplatesSQL = `SELECT template_id, purpose FROM email_templates WHERE tenant_id = $1 AND template_id = ANY($2)`
	executionSQL         = `
INSERT INTO rule_executions (tenant_id, execution_id, rule_id, rule_version, event_id, event_type, resource, outcome, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (tenant_id, rule_id, event_id) DO NOTHING`
	// setOutcomeSQL settles the execution once its actions are queued; it
	// was inserted first so the actions' rows can refer to it.
	setOutcomeSQL   = `UPDATE rule_executions SET outcome = $3, detail = $4 WHERE tenant_id = $1 AND execution_id = $2`
	causeSQL        = `SELECT rule_id, depth FROM rule_actions WHERE tenant_id = $1 AND action_id = $2`
	insertActionSQL = `
INSERT INTO rule_actions (tenant_id, action_id, execution_id, rule_id, event_id, position, kind, request, request_id, depth)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`
	ruleNotificationSQL = `
INSERT INTO notifications (tenant_id, notification_id, recipient_id, title, body, create_time, resource) VALUES ($1, $2, $3, $4, $5, $6, $7)`
)

// ruleDeliverySQL queues the event for a rule's CALL_WEBHOOK action.
var ruleDeliverySQL = withHead(`
INSERT INTO webhook_deliveries (tenant_id, delivery_id, webhook_id, event_id, seq, event_type, resource, principal_id, state)
SELECT e.tenant_id, $3, w.webhook_id, e.event_id, e.seq, e.type, e.resource, e.principal_id, 1
FROM webhook_events e JOIN webhooks w ON w.tenant_id = e.tenant_id AND w.webhook_id = $4
WHERE e.tenant_id = $1 AND e.event_id = $2
ON CONFLICT (tenant_id, webhook_id, event_id) DO NOTHING`)

// patterns are the event_types entries that match type t: t itself, each
// prefix of it followed by ".*", and "*".
func patterns(t string) []string {
	out := []string{t, "*"}
	for i := range len(t) {
		if t[i] == '.' {
			out = append(out, t[:i]+".*")
		}
	}
	return out
}

// runRules runs, in the transaction that takes e in, every enabled rule
// that e matches, in a fixed number of round trips however many rules
// there are: one read of the candidate rules, one statement evaluating
// every candidate's filter over the event's row, one count for the rate
// guard, one look-up of the webhooks actions name, and one batch of
// writes. The execution row (unique per rule and event) makes a replayed
// event run nothing twice; a rule over its rate in the last minute logs
// the match without acting.
func runRules(ctx context.Context, tx pgx.Tx, e delivery.Event) error {
	rows, err := tx.Query(ctx, enabledRulesSQL, e.TenantID, e.Time, patterns(e.Type))
	if err != nil {
		return err
	}
	candidates, err := pgx.CollectRows(rows, scanRule)
	if err != nil {
		return fmt.Errorf("rules: %w", err)
	}
	var conds []string
	var rules []rule.Rule
	args := []any{e.TenantID, e.ID}
	for _, r := range candidates {
		cond, err := sqlfilter.Translate(r.Filter, webhook.EventFields, len(args))
		if err != nil || !webhook.Matches(r.EventTypes, e.Type) {
			continue // filters are checked when saved; one that no longer parses matches nothing
		}
		args = append(args, cond.Args...)
		conds = append(conds, "("+cond.SQL+")")
		rules = append(rules, r)
	}
	if len(rules) == 0 {
		return nil
	}
	match := make([]bool, len(rules))
	dest := make([]any, len(rules)+1)
	var now time.Time
	dest[0] = &now
	for i := range match {
		dest[i+1] = &match[i]
	}
	if err := tx.QueryRow(ctx, "SELECT now(), "+strings.Join(conds, ", ")+" FROM webhook_events WHERE tenant_id = $1 AND event_id = $2",
		args...).Scan(dest...); err != nil {
		return fmt.Errorf("rule filters: %w", err)
	}
	var ids []uuid.UUID
	var matched []rule.Rule
	for i, r := range rules {
		if match[i] {
			ids = append(ids, r.ID)
			matched = append(matched, r)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	// An event whose change a rule action's call made says so: the action's
	// id is its causation id.
	var causeRule uuid.UUID
	depth := 0
	if action, err := uuid.Parse(e.CausationID); err == nil {
		if err := tx.QueryRow(ctx, causeSQL, e.TenantID, action).Scan(&causeRule, &depth); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("rule causes: %w", err)
		}
	}
	recent := map[uuid.UUID]int{}
	rows, err = tx.Query(ctx, recentRunsSQL, e.TenantID, ids)
	if err != nil {
		return err
	}
	var id uuid.UUID
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error { recent[id] = n; return nil }); err != nil {
		return fmt.Errorf("rule rates: %w", err)
	}
	existing, purposes, err := actionTargets(ctx, tx, e.TenantID, matched)
	if err != nil {
		return err
	}
	ev := rule.Event{ID: e.ID, Source: e.Source, Type: e.Type, Resource: e.Resource, PrincipalID: e.PrincipalID, Time: e.Time}
	b := &pgx.Batch{}
	for i, r := range rules {
		if !match[i] {
			continue
		}
		execID := uuid.Must(uuid.NewV7())
		outcome, detail := rule.Succeeded, ""
		b.Queue(executionSQL, e.TenantID, execID, r.ID, r.Version, e.ID, e.Type, e.Resource, rule.Pending, "")
		switch {
		case causeRule == r.ID:
			outcome, detail = rule.LoopGuarded, "the event was caused by this rule's own action"
		case depth >= rule.MaxChain:
			outcome, detail = rule.LoopGuarded, fmt.Sprintf("the event ends a chain of %d rule actions", depth)
		case recent[r.ID] >= r.RateLimit:
			outcome, detail = rule.RateLimited, fmt.Sprintf("over %d executions a minute", r.RateLimit)
		default:
			var pending bool
			if detail, pending, err = act(b, r, ev, e.TenantID, now, existing, purposes, execID, depth+1); err != nil {
				return err
			}
			switch {
			case detail != "":
				outcome = rule.Failed
			case pending:
				outcome = rule.Pending
			}
		}
		b.Queue(setOutcomeSQL, e.TenantID, execID, outcome, detail)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("run rules: %w", err)
	}
	return nil
}

// actionTargets reads which of the webhooks that rules' actions call still
// exist, and the purpose of each e-mail template they send, so that act
// needs no query of its own.
func actionTargets(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, rules []rule.Rule) (map[uuid.UUID]bool, map[uuid.UUID]email.Purpose, error) {
	var hooks, templates []uuid.UUID
	for _, r := range rules {
		for _, a := range r.Actions {
			switch a.Kind {
			case rule.CallWebhook:
				hooks = append(hooks, a.WebhookID)
			case rule.SendEmail:
				templates = append(templates, a.EmailTemplateID)
			}
		}
	}
	var id uuid.UUID
	existing := map[uuid.UUID]bool{}
	if len(hooks) > 0 {
		rows, err := tx.Query(ctx, existingWebhooksSQL, tenant, hooks)
		if err != nil {
			return nil, nil, err
		}
		if _, err := pgx.ForEachRow(rows, []any{&id}, func() error { existing[id] = true; return nil }); err != nil {
			return nil, nil, fmt.Errorf("rule webhooks: %w", err)
		}
	}
	purposes := map[uuid.UUID]email.Purpose{}
	if len(templates) > 0 {
		rows, err := tx.Query(ctx, existingTemplatesSQL, tenant, templates)
		if err != nil {
			return nil, nil, err
		}
		var p email.Purpose
		if _, err := pgx.ForEachRow(rows, []any{&id, &p}, func() error { purposes[id] = p; return nil }); err != nil {
			return nil, nil, fmt.Errorf("rule e-mail templates: %w", err)
		}
	}
	return existing, purposes, nil
}

// act queues r's actions for e on b; it returns what could not run ("" when
// everything could) and whether actions against other services were
// recorded for the worker, at depth. Each notification and e-mail carries
// its own event and audit row; an e-mail is only queued here, in the
// transaction that takes the event in, and sent by the e-mail workers.
func act(b *pgx.Batch, r rule.Rule, e rule.Event, tenant uuid.UUID, now time.Time, webhooks map[uuid.UUID]bool,
	templates map[uuid.UUID]email.Purpose, execID uuid.UUID, depth int) (string, bool, error) {
	var failed []string
	pending := false
	for i, a := range r.Actions {
		switch a.Kind {
		case rule.SendNotification:
			n := notification.Notification{ID: uuid.Must(uuid.NewV7()), RecipientID: a.RecipientPrincipalID,
				Title: rule.Render(a.TitleTemplate, e), Body: rule.Render(a.BodyTemplate, e), CreateTime: now}
			b.Queue(ruleNotificationSQL, tenant, n.ID, n.RecipientID, n.Title, n.Body, now, e.Resource)
			if err := outbox.Queue(b, outbox.Change{TenantID: tenant.String(), PrincipalID: rule.ActionPrincipal,
				Type: notification.EventCreated, Resource: n.Resource(), After: protoconv.Notification(n)}); err != nil {
				return "", false, err
			}
		case rule.CreateFollowUp:
			customer, ok := customerOf(e.Resource)
			if !ok {
				failed = append(failed, fmt.Sprintf("action %d: %q is not a customer", i, e.Resource))
				continue
			}
			req, err := json.Marshal(ruleaction.FollowUp{CustomerID: customer, Title: rule.Render(a.TitleTemplate, e),
				Notes: rule.Render(a.BodyTemplate, e), AssigneeID: a.AssigneePrincipalID, DueTime: e.Time.AddDate(0, 0, a.DueDays)})
			if err != nil {
				return "", false, err
			}
			b.Queue(insertActionSQL, tenant, uuid.Must(uuid.NewV7()), execID, r.ID, e.ID, i, a.Kind, req,
				rule.RequestID(r.ID, e.ID, i), depth)
			pending = true
		case rule.AssignOwner, rule.MoveStage, rule.SetField, rule.AddToCampaign:
			req, reason := changeRequest(r, a, e)
			if reason != "" {
				failed = append(failed, fmt.Sprintf("action %d: %s", i, reason))
				continue
			}
			body, err := json.Marshal(req)
			if err != nil {
				return "", false, err
			}
			b.Queue(insertActionSQL, tenant, uuid.Must(uuid.NewV7()), execID, r.ID, e.ID, i, a.Kind, body,
				rule.RequestID(r.ID, e.ID, i), depth)
			pending = true
		case rule.CallWebhook:
			if !webhooks[a.WebhookID] {
				failed = append(failed, fmt.Sprintf("action %d: webhook %s not found", i, a.WebhookID))
				continue
			}
			b.Queue(ruleDeliverySQL, tenant, e.ID, uuid.Must(uuid.NewV7()), a.WebhookID)
		case rule.SendEmail:
			purpose, ok := templates[a.EmailTemplateID]
			if !ok {
				failed = append(failed, fmt.Sprintf("action %d: e-mail template %s not found", i, a.EmailTemplateID))
				continue
			}
			m := email.Message{ID: uuid.Must(uuid.NewV7()), TemplateID: a.EmailTemplateID, Purpose: purpose, Recipient: a.EmailAddress,
				RuleID: r.ID, State: email.Pending, CreateTime: now, UpdateTime: now, NextAttemptTime: now,
				Event: email.Event{ID: e.ID, Type: e.Type, Resource: e.Resource, Source: e.Source, Time: e.Time}}
			if a.EmailAddress == "" {
				id, ok := customerOf(e.Resource)
				if !ok {
					failed = append(failed, fmt.Sprintf("action %d: the event is not about a customer", i))
					continue
				}
				m.CustomerID = id
			}
			b.Queue(insertMessageSQL, messageArgs(tenant, m, "")...)
			if err := outbox.Queue(b, messageChange(tenant.String(), rule.ActionPrincipal, email.EventMessageQueued, m)); err != nil {
				return "", false, err
			}
		}
	}
	if len(failed) > 0 {
		return strings.Join(failed, "; "), pending, nil
	}
	return "", pending, nil
}

// changeRequest renders what action a of r asks of another service for e,
// or says why it cannot act on e's resource.
func changeRequest(r rule.Rule, a rule.Action, e rule.Event) (any, string) {
	if a.Kind == rule.AssignOwner && r.TicketRule() {
		id, ok := idOf(e.Resource, "tickets/")
		if !ok {
			return nil, fmt.Sprintf("%q is not a ticket", e.Resource)
		}
		return ruleaction.Assignment{TicketID: id, OwnerID: a.OwnerPrincipalID, QueueID: a.QueueID}, ""
	}
	customer, ok := customerOf(e.Resource)
	if !ok {
		return nil, fmt.Sprintf("%q is not a customer", e.Resource)
	}
	switch a.Kind {
	case rule.AssignOwner:
		return ruleaction.Assignment{CustomerID: customer, OwnerID: a.OwnerPrincipalID}, ""
	case rule.MoveStage:
		return ruleaction.StageMove{CustomerID: customer, Stage: a.LifecycleStage, Reason: "automation rule " + r.DisplayName}, ""
	case rule.SetField:
		return ruleaction.FieldSet{CustomerID: customer, Key: a.AttributeKey, Value: rule.Render(a.ValueTemplate, e)}, ""
	}
	return ruleaction.CampaignAdd{CustomerID: customer, CampaignID: a.CampaignID}, ""
}

// customerOf reads the customer id out of a "customers/{id}" resource.
func customerOf(resource string) (uuid.UUID, bool) { return idOf(resource, "customers/") }

// idOf reads the id out of a resource named collection+id.
func idOf(resource, collection string) (uuid.UUID, bool) {
	rest, ok := strings.CutPrefix(resource, collection)
	if !ok {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(rest)
	return id, err == nil
}
