package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/services/pipeline/internal/lead"
	"github.com/rapportcrm/rapport/services/pipeline/internal/protoconv"
)

// LeadStore implements lead.Store.
type LeadStore struct{ pool *pgxpool.Pool }

// NewLeadStore returns a LeadStore on pool.
func NewLeadStore(pool *pgxpool.Pool) *LeadStore { return &LeadStore{pool: pool} }

const leadColumns = `lead_id, display_name, email, phone, company_name, source,
utm_source, utm_medium, utm_campaign, utm_term, utm_content, status, status_reason, owner_id, territory,
duplicate_customer_id, converted_customer_id, converted_opportunity_id, convert_time, coalesce(conversion_request_id, ''),
web_form_id, external_id, create_time, update_time, revision`

func scanLead(row pgx.CollectableRow) (lead.Lead, error) {
	var l lead.Lead
	err := row.Scan(&l.ID, &l.DisplayName, &l.Email, &l.Phone, &l.CompanyName, &l.Source,
		&l.UTM.Source, &l.UTM.Medium, &l.UTM.Campaign, &l.UTM.Term, &l.UTM.Content, &l.Status, &l.StatusReason, &l.OwnerID, &l.Territory,
		&l.DuplicateCustomerID, &l.ConvertedCustomerID, &l.ConvertedOpportunityID, &l.ConvertTime, &l.ConversionRequestID,
		&l.WebFormID, &l.ExternalID, &l.CreateTime, &l.UpdateTime, &l.Revision)
	return l, err
}

const insertLeadSQL = `
INSERT INTO leads (tenant_id, lead_id, display_name, email, phone, company_name, source,
    utm_source, utm_medium, utm_campaign, utm_term, utm_content, status, status_reason, owner_id, territory,
    duplicate_customer_id, web_form_id, external_id, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, nullif($20, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + leadColumns

const leadByRequestSQL = `SELECT ` + leadColumns + ` FROM leads WHERE tenant_id = $1 AND request_id = $2`

const leadByIDSQL = `SELECT ` + leadColumns + ` FROM leads WHERE tenant_id = $1 AND lead_id = $2`

// The rule row is locked while its turn is taken, so concurrent leads of a
// territory get successive assignees.
const lockRuleByTerritorySQL = `SELECT ` + ruleColumns + `, next_turn FROM lead_assignment_rules
WHERE tenant_id = $1 AND territory = $2 FOR UPDATE`

const openLeadsSQL = `SELECT owner_id, count(*) FROM leads
WHERE tenant_id = $1 AND owner_id = ANY($2) AND status IN (1, 2, 3) GROUP BY owner_id`

const setTurnSQL = `UPDATE lead_assignment_rules SET next_turn = $3 WHERE tenant_id = $1 AND rule_id = $2`

// assign gives l an owner by its territory's rule, if it has none and the
// rule has someone with capacity left.
func assign(ctx context.Context, tx pgx.Tx, tenant string, l *lead.Lead) error {
	if l.OwnerID != nil || l.Status == lead.StatusUnqualified {
		return nil
	}
	rows, err := tx.Query(ctx, lockRuleByTerritorySQL, tenant, l.Territory)
	if err != nil {
		return err
	}
	type locked struct {
		rule lead.Rule
		turn int
	}
	r, err := pgx.CollectExactlyOneRow(rows, func(row pgx.CollectableRow) (locked, error) {
		var k locked
		err := row.Scan(&k.rule.ID, &k.rule.Territory, &k.rule.AssigneeIDs, &k.rule.Capacity, &k.rule.CreateTime, &k.rule.UpdateTime, &k.rule.Revision, &k.turn)
		return k, err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	open := map[uuid.UUID]int{}
	if r.rule.Capacity > 0 {
		rows, err := tx.Query(ctx, openLeadsSQL, tenant, r.rule.AssigneeIDs)
		if err != nil {
			return err
		}
		var owner uuid.UUID
		var n int
		if _, err := pgx.ForEachRow(rows, []any{&owner, &n}, func() error { open[owner] = n; return nil }); err != nil {
			return err
		}
	}
	pick, next, ok := lead.Assign(r.rule.AssigneeIDs, r.rule.Capacity, r.turn, open)
	if !ok {
		return nil
	}
	l.OwnerID = &pick
	_, err = tx.Exec(ctx, setTurnSQL, tenant, r.rule.ID, next)
	return err
}

// CreateLead implements lead.Store.
func (s *LeadStore) CreateLead(ctx context.Context, caller auth.Caller, requestID string, l lead.Lead) (lead.Lead, error) {
	var saved lead.Lead
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		// A retried transaction assigns afresh.
		l := l
		if err := assign(ctx, tx, caller.TenantID, &l); err != nil {
			return fmt.Errorf("assign: %w", err)
		}
		var inserted bool
		var err error
		saved, inserted, err = pgdb.InsertOnce(ctx, tx, insertLeadSQL,
			[]any{caller.TenantID, l.ID, l.DisplayName, l.Email, l.Phone, l.CompanyName, l.Source,
				l.UTM.Source, l.UTM.Medium, l.UTM.Campaign, l.UTM.Term, l.UTM.Content, l.Status, l.StatusReason, l.OwnerID, l.Territory,
				l.DuplicateCustomerID, l.WebFormID, l.ExternalID, requestID},
			leadByRequestSQL, []any{caller.TenantID, requestID}, scanLead)
		if err != nil || !inserted {
			// The turn taken for a repeated request rolls back with it.
			if err == nil {
				return errRepeat
			}
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: lead.EventCreated, Resource: saved.Resource(), After: protoconv.Lead(saved)})
	})
	if errors.Is(err, errRepeat) {
		return saved, nil
	}
	if err != nil {
		return lead.Lead{}, fmt.Errorf("create lead: %w", err)
	}
	return saved, nil
}

// errRepeat rolls back a transaction whose create turned out to repeat an
// earlier request; the earlier row is the result.
var errRepeat = errors.New("repeated request")

// LeadByRequestID implements lead.Store.
func (s *LeadStore) LeadByRequestID(ctx context.Context, caller auth.Caller, requestID string) (lead.Lead, error) {
	l, err := pgdb.Row(ctx, s.pool, caller.TenantID, leadByRequestSQL, []any{caller.TenantID, requestID}, scanLead)
	if errors.Is(err, pgx.ErrNoRows) {
		return lead.Lead{}, lead.ErrNotFound
	}
	if err != nil {
		return lead.Lead{}, fmt.Errorf("find lead by request id: %w", err)
	}
	return l, nil
}

// Lead implements lead.Store.
func (s *LeadStore) Lead(ctx context.Context, caller auth.Caller, id uuid.UUID) (lead.Lead, error) {
	l, err := pgdb.Row(ctx, s.pool, caller.TenantID, leadByIDSQL, []any{caller.TenantID, id}, scanLead)
	if errors.Is(err, pgx.ErrNoRows) {
		return lead.Lead{}, lead.ErrNotFound
	}
	if err != nil {
		return lead.Lead{}, fmt.Errorf("get lead %s: %w", id, err)
	}
	return l, nil
}

// leadFilterFields are the fields ListLeads filters on, each backed by an index.
var leadFilterFields = map[string]sqlfilter.Field{
	"status":      {Column: "status", Kind: sqlfilter.Enum, Enum: pipelinev1.LeadStatus_value},
	"owner_id":    {Column: "owner_id", Kind: sqlfilter.UUID},
	"territory":   {Column: "territory", Kind: sqlfilter.String},
	"source":      {Column: "source", Kind: sqlfilter.String},
	"web_form_id": {Column: "web_form_id", Kind: sqlfilter.UUID},
	"create_time": {Column: "create_time", Kind: sqlfilter.Timestamp},
}

var leads = listing[lead.Lead]{
	table: "leads", columns: leadColumns, idColumn: "lead_id", fields: leadFilterFields,
	scan: scanLead, id: func(l lead.Lead) uuid.UUID { return l.ID },
}

var leadOrder = sortKey[lead.Lead]{expr: "create_time", sqlType: "timestamptz", desc: true,
	key: func(l lead.Lead) string { return l.CreateTime.Format(time.RFC3339Nano) }}

// ListLeads implements lead.Store.
func (s *LeadStore) ListLeads(ctx context.Context, caller auth.Caller, q lead.ListQuery) (lead.Page, error) {
	rows, next, err := leads.page(ctx, s.pool, caller.TenantID, leadOrder,
		listRequest{filter: q.Filter, pageToken: q.PageToken, pageSize: q.PageSize, query: "leads|" + q.Filter})
	if err != nil {
		return lead.Page{}, err
	}
	return lead.Page{Leads: rows, NextPageToken: next}, nil
}

const lockLeadSQL = leadByIDSQL + ` FOR UPDATE`

const saveLeadSQL = `
UPDATE leads SET display_name = $3, email = $4, phone = $5, company_name = $6, status = $7, status_reason = $8,
    owner_id = $9, territory = $10, converted_customer_id = $11, converted_opportunity_id = $12, convert_time = $13,
    conversion_request_id = nullif($14, ''), revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND lead_id = $2
RETURNING ` + leadColumns

// MutateLead implements lead.Store.
func (s *LeadStore) MutateLead(ctx context.Context, caller auth.Caller, id uuid.UUID, event string, m lead.Mutation) (lead.Lead, error) {
	var saved lead.Lead
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockLeadSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanLead)
		if errors.Is(err, pgx.ErrNoRows) {
			return lead.ErrNotFound
		}
		if err != nil {
			return err
		}
		l := before
		if err := m(&l); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, saveLeadSQL, caller.TenantID, id, l.DisplayName, l.Email, l.Phone, l.CompanyName, l.Status,
			l.StatusReason, l.OwnerID, l.Territory, l.ConvertedCustomerID, l.ConvertedOpportunityID, l.ConvertTime, l.ConversionRequestID)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanLead); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: event, Resource: saved.Resource(), Before: protoconv.Lead(before), After: protoconv.Lead(saved)})
	})
	if err != nil {
		return lead.Lead{}, fmt.Errorf("change lead %s: %w", id, err)
	}
	return saved, nil
}

const webFormColumns = `web_form_id, display_name, form_key, territory, active, create_time, update_time, revision`

func scanWebForm(row pgx.CollectableRow) (lead.WebForm, error) {
	var f lead.WebForm
	err := row.Scan(&f.ID, &f.DisplayName, &f.FormKey, &f.Territory, &f.Active, &f.CreateTime, &f.UpdateTime, &f.Revision)
	return f, err
}

const insertWebFormSQL = `
INSERT INTO web_forms (tenant_id, web_form_id, display_name, form_key, territory, active, request_id)
VALUES ($1, $2, $3, $4, $5, $6, nullif($7, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + webFormColumns

const webFormByRequestSQL = `SELECT ` + webFormColumns + ` FROM web_forms WHERE tenant_id = $1 AND request_id = $2`

// CreateWebForm implements lead.Store.
func (s *LeadStore) CreateWebForm(ctx context.Context, caller auth.Caller, requestID string, f lead.WebForm) (lead.WebForm, error) {
	var saved lead.WebForm
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var inserted bool
		var err error
		saved, inserted, err = pgdb.InsertOnce(ctx, tx, insertWebFormSQL,
			[]any{caller.TenantID, f.ID, f.DisplayName, f.FormKey, f.Territory, f.Active, requestID},
			webFormByRequestSQL, []any{caller.TenantID, requestID}, scanWebForm)
		if err != nil || !inserted {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: lead.EventWebFormCreated, Resource: saved.Resource(), After: protoconv.WebForm(saved)})
	})
	if err != nil {
		return lead.WebForm{}, fmt.Errorf("create web form: %w", err)
	}
	return saved, nil
}

var webForms = listing[lead.WebForm]{
	table: "web_forms", columns: webFormColumns, idColumn: "web_form_id",
	scan: scanWebForm, id: func(f lead.WebForm) uuid.UUID { return f.ID },
}

var webFormOrder = sortKey[lead.WebForm]{expr: "create_time", sqlType: "timestamptz", desc: true,
	key: func(f lead.WebForm) string { return f.CreateTime.Format(time.RFC3339Nano) }}

// ListWebForms implements lead.Store.
func (s *LeadStore) ListWebForms(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) (lead.WebFormPage, error) {
	rows, next, err := webForms.page(ctx, s.pool, caller.TenantID, webFormOrder,
		listRequest{pageToken: pageToken, pageSize: pageSize, query: "webForms"})
	if err != nil {
		return lead.WebFormPage{}, err
	}
	return lead.WebFormPage{WebForms: rows, NextPageToken: next}, nil
}

// The security-definer function answers without a tenant; the form itself
// is then read in its tenant's scope, under RLS.
const webFormTenantSQL = `SELECT tenant_id::text, web_form_id FROM web_form_by_key($1)`

const webFormByIDSQL = `SELECT ` + webFormColumns + ` FROM web_forms WHERE tenant_id = $1 AND web_form_id = $2`

// WebFormByKey implements lead.Store.
func (s *LeadStore) WebFormByKey(ctx context.Context, key string) (string, lead.WebForm, error) {
	var tenant string
	var id uuid.UUID
	err := s.pool.QueryRow(ctx, webFormTenantSQL, key).Scan(&tenant, &id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", lead.WebForm{}, lead.ErrWebFormNotFound
	}
	if err != nil {
		return "", lead.WebForm{}, fmt.Errorf("find web form: %w", err)
	}
	f, err := pgdb.Row(ctx, s.pool, tenant, webFormByIDSQL, []any{tenant, id}, scanWebForm)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", lead.WebForm{}, lead.ErrWebFormNotFound
	}
	if err != nil {
		return "", lead.WebForm{}, fmt.Errorf("get web form %s: %w", id, err)
	}
	return tenant, f, nil
}

const ruleColumns = `rule_id, territory, assignee_ids, capacity, create_time, update_time, revision`

func scanRule(row pgx.CollectableRow) (lead.Rule, error) {
	var r lead.Rule
	err := row.Scan(&r.ID, &r.Territory, &r.AssigneeIDs, &r.Capacity, &r.CreateTime, &r.UpdateTime, &r.Revision)
	return r, err
}

const insertRuleSQL = `
INSERT INTO lead_assignment_rules (tenant_id, rule_id, territory, assignee_ids, capacity, request_id)
VALUES ($1, $2, $3, $4, $5, nullif($6, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + ruleColumns

const ruleByRequestSQL = `SELECT ` + ruleColumns + ` FROM lead_assignment_rules WHERE tenant_id = $1 AND request_id = $2`

func territoryErr(err error) error {
	if code, constraint, ok := pgdb.Constraint(err); ok && code == "23505" && constraint == "lead_assignment_rules_territory" {
		return fmt.Errorf("%w: %w", lead.ErrTerritoryTaken, err)
	}
	return err
}

// CreateRule implements lead.Store.
func (s *LeadStore) CreateRule(ctx context.Context, caller auth.Caller, requestID string, r lead.Rule) (lead.Rule, error) {
	var saved lead.Rule
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var inserted bool
		var err error
		saved, inserted, err = pgdb.InsertOnce(ctx, tx, insertRuleSQL,
			[]any{caller.TenantID, r.ID, r.Territory, r.AssigneeIDs, r.Capacity, requestID},
			ruleByRequestSQL, []any{caller.TenantID, requestID}, scanRule)
		if err != nil || !inserted {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: lead.EventRuleCreated, Resource: saved.Resource(), After: protoconv.LeadAssignmentRule(saved)})
	})
	if err != nil {
		return lead.Rule{}, fmt.Errorf("create lead assignment rule: %w", territoryErr(err))
	}
	return saved, nil
}

var rules = listing[lead.Rule]{
	table: "lead_assignment_rules", columns: ruleColumns, idColumn: "rule_id",
	scan: scanRule, id: func(r lead.Rule) uuid.UUID { return r.ID },
}

var ruleOrder = sortKey[lead.Rule]{expr: "create_time", sqlType: "timestamptz", desc: true,
	key: func(r lead.Rule) string { return r.CreateTime.Format(time.RFC3339Nano) }}

// ListRules implements lead.Store.
func (s *LeadStore) ListRules(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) (lead.RulePage, error) {
	rows, next, err := rules.page(ctx, s.pool, caller.TenantID, ruleOrder,
		listRequest{pageToken: pageToken, pageSize: pageSize, query: "leadAssignmentRules"})
	if err != nil {
		return lead.RulePage{}, err
	}
	return lead.RulePage{Rules: rows, NextPageToken: next}, nil
}

const lockRuleSQL = `SELECT ` + ruleColumns + ` FROM lead_assignment_rules WHERE tenant_id = $1 AND rule_id = $2 FOR UPDATE`

// A new set of assignees starts its turns from the first.
const saveRuleSQL = `
UPDATE lead_assignment_rules SET assignee_ids = $3, capacity = $4,
    next_turn = CASE WHEN assignee_ids = $3 THEN next_turn ELSE 0 END,
    revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND rule_id = $2
RETURNING ` + ruleColumns

// MutateRule implements lead.Store.
func (s *LeadStore) MutateRule(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(*lead.Rule) error) (lead.Rule, error) {
	var saved lead.Rule
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockRuleSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanRule)
		if errors.Is(err, pgx.ErrNoRows) {
			return lead.ErrRuleNotFound
		}
		if err != nil {
			return err
		}
		r := before
		r.AssigneeIDs = append([]uuid.UUID(nil), before.AssigneeIDs...)
		if err := m(&r); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, saveRuleSQL, caller.TenantID, id, r.AssigneeIDs, r.Capacity)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanRule); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: lead.EventRuleUpdated, Resource: saved.Resource(), Before: protoconv.LeadAssignmentRule(before), After: protoconv.LeadAssignmentRule(saved)})
	})
	if err != nil {
		return lead.Rule{}, fmt.Errorf("change lead assignment rule %s: %w", id, err)
	}
	return saved, nil
}
