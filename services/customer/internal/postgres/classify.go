package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/keyset"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/classify"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/protoconv"
)

// principalID is the caller's principal as a nullable uuid column value.
func principalID(caller auth.Caller) *uuid.UUID {
	id, err := uuid.Parse(caller.PrincipalID)
	if err != nil {
		return nil
	}
	return &id
}

// translateFilter renders a stored or submitted customer filter; field names
// the caller's violation under field.
func translateFilter(filter, field string, offset int) (sqlfilter.Condition, error) {
	cond, err := sqlfilter.Translate(filter, filterFields, offset)
	var fe *sqlfilter.Error
	if errors.As(err, &fe) {
		return cond, validation.Field(field, "%s", fe.Reason)
	}
	return cond, err
}

const insertTransitionSQL = `
INSERT INTO lifecycle_transitions (tenant_id, customer_id, transition_id, from_stage, to_stage, principal_id, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7)`

// afterCustomerWrite keeps what derives from a customer in step with it,
// inside the write's transaction: the stage log, the tier the rules give
// and the segments the customer is in. before is nil on create.
func afterCustomerWrite(ctx context.Context, tx pgx.Tx, caller auth.Caller, before *customer.Customer, after customer.Customer, reason string) error {
	from := customer.StageUnspecified
	if before != nil {
		from = before.Stage
	}
	if after.Stage != from {
		if _, err := tx.Exec(ctx, insertTransitionSQL, caller.TenantID, after.ID, uuid.Must(uuid.NewV7()),
			from, after.Stage, principalID(caller), reason); err != nil {
			return fmt.Errorf("log stage transition: %w", err)
		}
	}
	return reclassify(ctx, tx, caller, after)
}

// definition is a tier rule or a segment as reclassification needs it.
type definition struct {
	segment bool
	id      uuid.UUID
	tier    string
	filter  string
}

const definitionsSQL = `
SELECT false, rule_id, tier, filter, rank FROM value_tier_rules WHERE tenant_id = $1 AND delete_time IS NULL
UNION ALL
SELECT true, segment_id, '', filter, 0 FROM segments WHERE tenant_id = $1 AND delete_time IS NULL
ORDER BY 1, 5, 2`

func definitions(ctx context.Context, tx pgx.Tx, tenant string) ([]definition, error) {
	rows, err := tx.Query(ctx, definitionsSQL, tenant)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (definition, error) {
		var d definition
		var rank int32
		err := row.Scan(&d.segment, &d.id, &d.tier, &d.filter, &rank)
		return d, err
	})
}

// matches evaluates every definition's filter against one customer in one
// statement. A deleted customer matches nothing.
func matches(ctx context.Context, tx pgx.Tx, tenant string, id uuid.UUID, defs []definition) ([]bool, error) {
	args := []any{tenant, id}
	exprs := make([]string, len(defs))
	for i, d := range defs {
		cond, err := sqlfilter.Translate(d.filter, filterFields, len(args))
		if err != nil {
			// Filters are checked when saved and fields are only ever added,
			// so this cannot happen; matching nothing is the safe reading.
			exprs[i] = "false"
			continue
		}
		exprs[i] = "coalesce((" + cond.SQL + "), false)"
		args = append(args, cond.Args...)
	}
	sql := "SELECT ARRAY[" + strings.Join(exprs, ", ") + "]::boolean[] FROM customers WHERE tenant_id = $1 AND customer_id = $2 AND delete_time IS NULL"
	var out []bool
	err := tx.QueryRow(ctx, sql, args...).Scan(&out)
	if errors.Is(err, pgx.ErrNoRows) {
		return make([]bool, len(defs)), nil
	}
	return out, err
}

// reclassify re-tiers one customer and moves it in or out of segments,
// emitting an event for each change.
func reclassify(ctx context.Context, tx pgx.Tx, caller auth.Caller, c customer.Customer) error {
	defs, err := definitions(ctx, tx, caller.TenantID)
	if err != nil {
		return fmt.Errorf("read classification rules: %w", err)
	}
	var in []bool
	if len(defs) > 0 {
		if in, err = matches(ctx, tx, caller.TenantID, c.ID, defs); err != nil {
			return fmt.Errorf("evaluate classification rules: %w", err)
		}
	}
	wanted := map[uuid.UUID]bool{}
	var rule *definition
	for i, d := range defs {
		switch {
		case d.segment && in[i]:
			wanted[d.id] = true
		case !d.segment && in[i] && rule == nil && c.DeleteTime == nil:
			rule = &defs[i]
		}
	}
	if err := moveSegments(ctx, tx, caller, c.ID, wanted); err != nil {
		return err
	}
	if c.DeleteTime != nil {
		return nil // a deleted customer keeps its last tier, for the record
	}
	return applyRuleTier(ctx, tx, caller, c.ID, rule)
}

const currentSegmentsSQL = `
SELECT segment_id FROM segment_members WHERE tenant_id = $1 AND customer_id = $2 AND leave_time IS NULL`

const enterSegmentSQL = `
INSERT INTO segment_members (tenant_id, segment_id, customer_id, stay_id) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING
RETURNING enter_time`

const leaveSegmentSQL = `
UPDATE segment_members SET leave_time = now()
WHERE tenant_id = $1 AND segment_id = $2 AND customer_id = $3 AND leave_time IS NULL
RETURNING enter_time`

func moveSegments(ctx context.Context, tx pgx.Tx, caller auth.Caller, id uuid.UUID, wanted map[uuid.UUID]bool) error {
	rows, err := tx.Query(ctx, currentSegmentsSQL, caller.TenantID, id)
	if err != nil {
		return err
	}
	current, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return fmt.Errorf("read segment memberships: %w", err)
	}
	for _, seg := range current {
		if wanted[seg] {
			delete(wanted, seg)
			continue
		}
		if err := moveSegment(ctx, tx, caller, leaveSegmentSQL, classify.EventSegmentLeft, seg, id); err != nil {
			return err
		}
	}
	entering := make([]uuid.UUID, 0, len(wanted))
	for seg := range wanted {
		entering = append(entering, seg)
	}
	slices.SortFunc(entering, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	for _, seg := range entering {
		if err := moveSegment(ctx, tx, caller, enterSegmentSQL, classify.EventSegmentEntered, seg, id); err != nil {
			return err
		}
	}
	return nil
}

// moveSegment runs an enter or leave statement and emits its event when it
// changed something (a concurrent bulk refresh may have been first).
func moveSegment(ctx context.Context, tx pgx.Tx, caller auth.Caller, sql, event string, seg, id uuid.UUID) error {
	args := []any{caller.TenantID, seg, id}
	if event == classify.EventSegmentEntered {
		args = append(args, uuid.Must(uuid.NewV7()))
	}
	var enter time.Time
	err := tx.QueryRow(ctx, sql, args...).Scan(&enter)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", event, err)
	}
	m := classify.Membership{SegmentID: seg, CustomerID: id, EnterTime: enter}
	return outbox.Record(ctx, tx, outbox.Change{
		TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: event,
		Resource: "customers/" + id.String() + "/segmentMemberships/" + seg.String(), After: protoconv.Membership(m),
	})
}

const currentTierSQL = `
SELECT tier, rule_id, manual, suggested FROM customer_value_tiers WHERE tenant_id = $1 AND customer_id = $2 FOR UPDATE`

const upsertTierSQL = `
INSERT INTO customer_value_tiers (tenant_id, customer_id, tier, rule_id, manual, principal_id, suggested)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (tenant_id, customer_id) DO UPDATE
SET tier = excluded.tier, rule_id = excluded.rule_id, manual = excluded.manual,
    principal_id = excluded.principal_id, suggested = excluded.suggested, change_time = now()`

const deleteTierSQL = `DELETE FROM customer_value_tiers WHERE tenant_id = $1 AND customer_id = $2`

const insertTierChangeSQL = `
INSERT INTO value_tier_changes (tenant_id, customer_id, change_id, from_tier, to_tier, rule_id, principal_id, reason, suggested, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, nullif($10, ''))
RETURNING create_time`

// lockSuggestedSQL locks the customer for a suggestion. It names the table
// itself, not the analyst's masked view of the same name (which cannot be
// locked), and reads no personal column: suggestions also come from analysts.
const lockSuggestedSQL = `SELECT delete_time FROM public.customers WHERE tenant_id = $1 AND customer_id = $2 FOR UPDATE`

// tierRequestDoneSQL finds whether a request already changed a tier.
const tierRequestDoneSQL = `SELECT true FROM value_tier_changes WHERE tenant_id = $1 AND request_id = $2`

type currentTier struct {
	tier      string
	rule      *uuid.UUID
	manual    bool
	suggested bool
}

// source says who set the tier.
func (t currentTier) source() classify.TierSource {
	switch {
	case t.tier == "":
		return classify.TierSourceUnspecified
	case t.suggested:
		return classify.TierSourceAnalytics
	case t.manual:
		return classify.TierSourceManual
	}
	return classify.TierSourceRule
}

func readTier(ctx context.Context, tx pgx.Tx, tenant string, id uuid.UUID) (currentTier, error) {
	var t currentTier
	err := tx.QueryRow(ctx, currentTierSQL, tenant, id).Scan(&t.tier, &t.rule, &t.manual, &t.suggested)
	if errors.Is(err, pgx.ErrNoRows) {
		return currentTier{}, nil
	}
	return t, err
}

// applyRuleTier gives the customer the tier of the first matching rule (or
// none), unless a manual tier overrides the rules.
func applyRuleTier(ctx context.Context, tx pgx.Tx, caller auth.Caller, id uuid.UUID, rule *definition) error {
	cur, err := readTier(ctx, tx, caller.TenantID, id)
	if err != nil {
		return fmt.Errorf("read value tier: %w", err)
	}
	if cur.manual {
		return nil
	}
	next := currentTier{}
	if rule != nil {
		next = currentTier{tier: rule.tier, rule: &rule.id}
	}
	if next.tier == cur.tier && (next.rule == nil) == (cur.rule == nil) && (next.rule == nil || *next.rule == *cur.rule) {
		return nil
	}
	return changeTier(ctx, tx, caller, id, cur, next, "", "")
}

// changeTier stores next as the customer's tier, logs and emits the change.
// requestID, when not empty, marks the change as that request's.
func changeTier(ctx context.Context, tx pgx.Tx, caller auth.Caller, id uuid.UUID, cur, next currentTier, reason, requestID string) error {
	var err error
	if next.tier == "" {
		_, err = tx.Exec(ctx, deleteTierSQL, caller.TenantID, id)
	} else {
		_, err = tx.Exec(ctx, upsertTierSQL, caller.TenantID, id, next.tier, next.rule, next.manual, principalID(caller), next.suggested)
	}
	if err != nil {
		return fmt.Errorf("set value tier: %w", err)
	}
	change := classify.TierChange{ID: uuid.Must(uuid.NewV7()), From: cur.tier, To: next.tier, RuleID: next.rule, PrincipalID: principalID(caller), Reason: reason,
		Source: next.source()}
	if err := tx.QueryRow(ctx, insertTierChangeSQL, caller.TenantID, id, change.ID, change.From, change.To,
		change.RuleID, change.PrincipalID, reason, next.suggested, requestID).Scan(&change.Time); err != nil {
		return fmt.Errorf("log value tier change: %w", err)
	}
	return outbox.Record(ctx, tx, outbox.Change{
		TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: classify.EventTierChanged,
		Resource: "customers/" + id.String() + "/valueTierChanges/" + change.ID.String(), After: protoconv.TierChange(change),
	})
}

// Transition implements classify.Store.
func (s *Store) Transition(ctx context.Context, caller auth.Caller, id uuid.UUID, m customer.Mutation, reason string) (customer.Customer, error) {
	return s.mutate(ctx, caller, id, m, reason)
}

const customerExistsSQL = `SELECT true FROM customers WHERE tenant_id = $1 AND customer_id = $2`

func (s *Store) customerExists(ctx context.Context, caller auth.Caller, id uuid.UUID) error {
	_, err := pgdb.Row(ctx, s.pool, caller.TenantID, customerExistsSQL, []any{caller.TenantID, id}, pgx.RowTo[bool])
	if errors.Is(err, pgx.ErrNoRows) {
		return customer.ErrNotFound
	}
	return err
}

// byCustomer is the filter a per-customer history lists with; keyset binds
// page tokens to it, so a token of one customer's list fails on another's.
var byCustomer = map[string]sqlfilter.Field{"customer_id": {Column: "customer_id", Kind: sqlfilter.UUID}}

var transitionsQuery = keyset.Query[classify.Transition]{
	Table:    "lifecycle_transitions",
	Columns:  "transition_id, from_stage, to_stage, principal_id, reason, create_time",
	IDColumn: "transition_id",
	Fields:   byCustomer,
	Scan: func(row pgx.CollectableRow) (classify.Transition, error) {
		var t classify.Transition
		err := row.Scan(&t.ID, &t.From, &t.To, &t.PrincipalID, &t.Reason, &t.Time)
		return t, err
	},
	Key: func(t classify.Transition) (time.Time, uuid.UUID) { return t.Time, t.ID },
}

// Transitions implements classify.Store.
func (s *Store) Transitions(ctx context.Context, caller auth.Caller, id uuid.UUID, q classify.PageQuery) (classify.Page[classify.Transition], error) {
	if err := s.customerExists(ctx, caller, id); err != nil {
		return classify.Page[classify.Transition]{}, err
	}
	items, next, err := keyset.NewestFirst(ctx, s.pool, caller.TenantID, transitionsQuery, fmt.Sprintf("customer_id = %q", id), q.PageToken, q.PageSize)
	return classify.Page[classify.Transition]{Items: items, NextPageToken: next}, err
}

var tierChangesQuery = keyset.Query[classify.TierChange]{
	Table:    "value_tier_changes",
	Columns:  "change_id, from_tier, to_tier, rule_id, principal_id, reason, create_time, suggested",
	IDColumn: "change_id",
	Fields:   byCustomer,
	Scan: func(row pgx.CollectableRow) (classify.TierChange, error) {
		var c classify.TierChange
		var suggested bool
		err := row.Scan(&c.ID, &c.From, &c.To, &c.RuleID, &c.PrincipalID, &c.Reason, &c.Time, &suggested)
		c.Source = currentTier{tier: c.To, rule: c.RuleID, manual: c.RuleID == nil, suggested: suggested}.source()
		return c, err
	},
	Key: func(c classify.TierChange) (time.Time, uuid.UUID) { return c.Time, c.ID },
}

// TierChanges implements classify.Store.
func (s *Store) TierChanges(ctx context.Context, caller auth.Caller, id uuid.UUID, q classify.PageQuery) (classify.Page[classify.TierChange], error) {
	if err := s.customerExists(ctx, caller, id); err != nil {
		return classify.Page[classify.TierChange]{}, err
	}
	items, next, err := keyset.NewestFirst(ctx, s.pool, caller.TenantID, tierChangesQuery, fmt.Sprintf("customer_id = %q", id), q.PageToken, q.PageSize)
	return classify.Page[classify.TierChange]{Items: items, NextPageToken: next}, err
}

const classificationSQL = `
SELECT c.lifecycle_stage, coalesce(v.tier, ''), v.rule_id, coalesce(v.manual, false), coalesce(v.suggested, false), v.change_time,
       coalesce((SELECT array_agg(m.segment_id ORDER BY m.enter_time, m.segment_id) FROM segment_members m
                 WHERE m.tenant_id = c.tenant_id AND m.customer_id = c.customer_id AND m.leave_time IS NULL), '{}'),
       coalesce((SELECT array_agg(m.enter_time ORDER BY m.enter_time, m.segment_id) FROM segment_members m
                 WHERE m.tenant_id = c.tenant_id AND m.customer_id = c.customer_id AND m.leave_time IS NULL), '{}')
FROM customers c
LEFT JOIN customer_value_tiers v ON v.tenant_id = c.tenant_id AND v.customer_id = c.customer_id
WHERE c.tenant_id = $1 AND c.customer_id = $2`

func scanClassification(id uuid.UUID) pgx.RowToFunc[classify.Classification] {
	return func(row pgx.CollectableRow) (classify.Classification, error) {
		c := classify.Classification{CustomerID: id}
		var segs []uuid.UUID
		var enters []time.Time
		var suggested bool
		if err := row.Scan(&c.Stage, &c.Tier, &c.TierRuleID, &c.TierManual, &suggested, &c.TierTime, &segs, &enters); err != nil {
			return c, err
		}
		c.TierSource = currentTier{tier: c.Tier, rule: c.TierRuleID, manual: c.TierManual, suggested: suggested}.source()
		for i := range segs {
			c.Segments = append(c.Segments, classify.Membership{SegmentID: segs[i], CustomerID: id, EnterTime: enters[i]})
		}
		return c, nil
	}
}

// Classification implements classify.Store.
func (s *Store) Classification(ctx context.Context, caller auth.Caller, id uuid.UUID) (classify.Classification, error) {
	c, err := pgdb.Row(ctx, s.pool, caller.TenantID, classificationSQL, []any{caller.TenantID, id}, scanClassification(id))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, customer.ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("classification of %s: %w", id, err)
	}
	return c, nil
}

// SetTier implements classify.Store. Clearing a manual tier hands the
// customer back to the rules at once.
func (s *Store) SetTier(ctx context.Context, caller auth.Caller, id uuid.UUID, r classify.TierRequest) (classify.Classification, error) {
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var c customer.Customer
		var err error
		if r.Suggested() {
			err = tx.QueryRow(ctx, lockSuggestedSQL, caller.TenantID, id).Scan(&c.DeleteTime)
			if errors.Is(err, pgx.ErrNoRows) {
				err = customer.ErrNotFound
			}
		} else {
			c, err = lockCustomer(ctx, tx, caller, id)
		}
		if err != nil {
			return err
		}
		if c.DeleteTime != nil {
			return customer.ErrDeleted
		}
		// Checked under the customer's lock, so two deliveries of one
		// request cannot both change the tier.
		if r.RequestID != "" {
			var done bool
			if err := tx.QueryRow(ctx, tierRequestDoneSQL, caller.TenantID, r.RequestID).Scan(&done); err == nil {
				return nil
			} else if !errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("find request %q: %w", r.RequestID, err)
			}
		}
		cur, err := readTier(ctx, tx, caller.TenantID, id)
		if err != nil {
			return err
		}
		if r.Suggested() {
			if cur.manual && !cur.suggested && !r.OverrideManual {
				return classify.ErrManualTierKept
			}
			if cur.suggested && cur.tier == r.Tier {
				return nil
			}
			return changeTier(ctx, tx, caller, id, cur, currentTier{tier: r.Tier, manual: true, suggested: true}, r.Reason, r.RequestID)
		}
		if r.Tier == "" {
			if !cur.manual {
				return nil
			}
			if err := changeTier(ctx, tx, caller, id, cur, currentTier{}, r.Reason, r.RequestID); err != nil {
				return err
			}
			return reclassify(ctx, tx, caller, c)
		}
		if cur.manual && !cur.suggested && cur.tier == r.Tier {
			return nil
		}
		return changeTier(ctx, tx, caller, id, cur, currentTier{tier: r.Tier, manual: true}, r.Reason, r.RequestID)
	})
	if err != nil {
		return classify.Classification{}, fmt.Errorf("set value tier of %s: %w", id, err)
	}
	return s.Classification(ctx, caller, id)
}

const ruleColumns = `rule_id, tier, rank, filter, description, create_time, update_time, revision`

func scanRule(row pgx.CollectableRow) (classify.Rule, error) {
	var r classify.Rule
	err := row.Scan(&r.ID, &r.Tier, &r.Rank, &r.Filter, &r.Description, &r.CreateTime, &r.UpdateTime, &r.Revision)
	return r, err
}

const insertRuleSQL = `
INSERT INTO value_tier_rules (tenant_id, rule_id, tier, rank, filter, description, request_id)
VALUES ($1, $2, $3, $4, $5, $6, nullif($7, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + ruleColumns

const ruleByRequestSQL = `SELECT ` + ruleColumns + ` FROM value_tier_rules WHERE tenant_id = $1 AND request_id = $2`

// CreateRule implements classify.Store. Existing customers are re-tiered
// by ApplyRules or as they change, not here: a rule is often one of a set
// being put in place.
func (s *Store) CreateRule(ctx context.Context, caller auth.Caller, r classify.Rule, requestID string) (classify.Rule, error) {
	if _, err := translateFilter(r.Filter, "rule.filter", 0); err != nil {
		return classify.Rule{}, err
	}
	var saved classify.Rule
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var created bool
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertRuleSQL,
			[]any{caller.TenantID, r.ID, r.Tier, r.Rank, r.Filter, r.Description, requestID},
			ruleByRequestSQL, []any{caller.TenantID, requestID}, scanRule)
		if err != nil || !created {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: classify.EventTierRuleCreated,
			Resource: saved.Resource(), After: protoconv.Rule(saved),
		})
	})
	if err != nil {
		return classify.Rule{}, fmt.Errorf("create value tier rule: %w", err)
	}
	return saved, nil
}

const rulesSQL = `SELECT ` + ruleColumns + ` FROM value_tier_rules WHERE tenant_id = $1 AND delete_time IS NULL ORDER BY rank, rule_id`

// Rules implements classify.Store.
func (s *Store) Rules(ctx context.Context, caller auth.Caller) ([]classify.Rule, error) {
	rules, err := pgdb.Rows(ctx, s.pool, caller.TenantID, rulesSQL, []any{caller.TenantID}, scanRule)
	if err != nil {
		return nil, fmt.Errorf("list value tier rules: %w", err)
	}
	return rules, nil
}

const lockRuleSQL = `SELECT ` + ruleColumns + ` FROM value_tier_rules WHERE tenant_id = $1 AND rule_id = $2 AND delete_time IS NULL FOR UPDATE`

const saveRuleSQL = `
UPDATE value_tier_rules SET tier = $3, rank = $4, filter = $5, description = $6,
    revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND rule_id = $2
RETURNING ` + ruleColumns

func lockRule(ctx context.Context, tx pgx.Tx, caller auth.Caller, id uuid.UUID) (classify.Rule, error) {
	rows, err := tx.Query(ctx, lockRuleSQL, caller.TenantID, id)
	if err != nil {
		return classify.Rule{}, err
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanRule)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, classify.ErrRuleNotFound
	}
	return r, err
}

// MutateRule implements classify.Store.
func (s *Store) MutateRule(ctx context.Context, caller auth.Caller, id uuid.UUID, m classify.RuleMutation) (classify.Rule, error) {
	var saved classify.Rule
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := lockRule(ctx, tx, caller, id)
		if err != nil {
			return err
		}
		r := before
		if err := m(&r); err != nil {
			return err
		}
		if _, err := translateFilter(r.Filter, "rule.filter", 0); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, saveRuleSQL, caller.TenantID, id, r.Tier, r.Rank, r.Filter, r.Description)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanRule); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: classify.EventTierRuleUpdated,
			Resource: saved.Resource(), Before: protoconv.Rule(before), After: protoconv.Rule(saved),
		})
	})
	if err != nil {
		return classify.Rule{}, fmt.Errorf("update value tier rule %s: %w", id, err)
	}
	return saved, nil
}

const deleteRuleSQL = `UPDATE value_tier_rules SET delete_time = now(), revision = revision + 1 WHERE tenant_id = $1 AND rule_id = $2`

// DeleteRule implements classify.Store.
func (s *Store) DeleteRule(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) error {
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		r, err := lockRule(ctx, tx, caller, id)
		if err != nil {
			return err
		}
		if etag != "" && etag != r.Etag() {
			return fmt.Errorf("%w: current etag is %s", classify.ErrEtagMismatch, r.Etag())
		}
		if _, err := tx.Exec(ctx, deleteRuleSQL, caller.TenantID, id); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: classify.EventTierRuleDeleted,
			Resource: r.Resource(), Before: protoconv.Rule(r), After: protoconv.Rule(r),
		})
	})
	if err != nil {
		return fmt.Errorf("delete value tier rule %s: %w", id, err)
	}
	return nil
}

// applyRulesSQL re-tiers every live customer without a manual tier in one
// statement: the CASE picks the first matching rule by rank ($2 and $3 hold
// the rules' ids and tiers in that order), and only customers whose tier
// changes are written and logged. %s is the CASE's WHEN arms.
const applyRulesSQL = `
WITH target AS (
    SELECT customer_id, CASE %s ELSE NULL::integer END AS idx
    FROM customers WHERE tenant_id = $1 AND delete_time IS NULL
), changed AS (
    SELECT t.customer_id, ($2::uuid[])[t.idx] AS rule_id, ($3::text[])[t.idx] AS tier, coalesce(v.tier, '') AS old_tier
    FROM target t
    LEFT JOIN customer_value_tiers v ON v.tenant_id = $1 AND v.customer_id = t.customer_id
    WHERE NOT coalesce(v.manual, false)
      AND (coalesce(($3::text[])[t.idx], '') <> coalesce(v.tier, '') OR ($2::uuid[])[t.idx] IS DISTINCT FROM v.rule_id)
), upserted AS (
    INSERT INTO customer_value_tiers (tenant_id, customer_id, tier, rule_id, manual, principal_id)
    SELECT $1, customer_id, tier, rule_id, false, $4 FROM changed WHERE tier IS NOT NULL
    ON CONFLICT (tenant_id, customer_id) DO UPDATE
    SET tier = excluded.tier, rule_id = excluded.rule_id, manual = false, principal_id = excluded.principal_id, change_time = now()
), removed AS (
    DELETE FROM customer_value_tiers v USING changed c
    WHERE v.tenant_id = $1 AND v.customer_id = c.customer_id AND c.tier IS NULL
), logged AS (
    INSERT INTO value_tier_changes (tenant_id, customer_id, change_id, from_tier, to_tier, rule_id, principal_id, reason)
    SELECT $1, customer_id, gen_random_uuid(), old_tier, coalesce(tier, ''), rule_id, $4, 'value tier rules applied' FROM changed
    RETURNING 1
)
SELECT count(*) FROM logged`

// ApplyRules implements classify.Store. It writes in bulk and emits one
// summary event rather than one per customer.
func (s *Store) ApplyRules(ctx context.Context, caller auth.Caller) (int64, error) {
	var changed int64
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		defs, err := definitions(ctx, tx, caller.TenantID)
		if err != nil {
			return err
		}
		args := []any{caller.TenantID, nil, nil, principalID(caller)}
		var ids []uuid.UUID
		var tiers []string
		arms := "WHEN false THEN NULL"
		for _, d := range defs {
			if d.segment {
				continue
			}
			cond, err := sqlfilter.Translate(d.filter, filterFields, len(args))
			if err != nil {
				continue // see matches: stored filters always translate
			}
			args = append(args, cond.Args...)
			ids, tiers = append(ids, d.id), append(tiers, d.tier)
			arms += fmt.Sprintf(" WHEN coalesce((%s), false) THEN %d", cond.SQL, len(ids))
		}
		args[1], args[2] = ids, tiers
		if err := tx.QueryRow(ctx, fmt.Sprintf(applyRulesSQL, arms), args...).Scan(&changed); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: classify.EventTierRulesApplied,
			Resource: "valueTierRules", After: &customerv1.ApplyValueTierRulesResponse{Changed: changed},
		})
	})
	if err != nil {
		return 0, fmt.Errorf("apply value tier rules: %w", err)
	}
	return changed, nil
}

const segmentColumns = `s.segment_id, s.display_name, s.description, s.filter,
(SELECT count(*) FROM segment_members m WHERE m.tenant_id = s.tenant_id AND m.segment_id = s.segment_id AND m.leave_time IS NULL),
s.refresh_time, s.create_time, s.update_time, s.revision`

func scanSegment(row pgx.CollectableRow) (classify.Segment, error) {
	var g classify.Segment
	err := row.Scan(&g.ID, &g.DisplayName, &g.Description, &g.Filter, &g.MemberCount, &g.RefreshTime, &g.CreateTime, &g.UpdateTime, &g.Revision)
	return g, err
}

const insertSegmentSQL = `
INSERT INTO segments AS s (tenant_id, segment_id, display_name, description, filter, request_id)
VALUES ($1, $2, $3, $4, $5, nullif($6, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + segmentColumns

const segmentByRequestSQL = `SELECT ` + segmentColumns + ` FROM segments s WHERE s.tenant_id = $1 AND s.request_id = $2`

// CreateSegment implements classify.Store.
func (s *Store) CreateSegment(ctx context.Context, caller auth.Caller, g classify.Segment, requestID string) (classify.Segment, error) {
	if _, err := translateFilter(g.Filter, "segment.filter", 0); err != nil {
		return classify.Segment{}, err
	}
	var saved classify.Segment
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var created bool
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertSegmentSQL,
			[]any{caller.TenantID, g.ID, g.DisplayName, g.Description, g.Filter, requestID},
			segmentByRequestSQL, []any{caller.TenantID, requestID}, scanSegment)
		if err != nil || !created {
			return segmentError(err)
		}
		if err := outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: classify.EventSegmentCreated,
			Resource: saved.Resource(), After: protoconv.Segment(saved),
		}); err != nil {
			return err
		}
		saved, err = refresh(ctx, tx, caller, saved, nil)
		return err
	})
	if err != nil {
		return classify.Segment{}, fmt.Errorf("create segment: %w", err)
	}
	return saved, nil
}

func segmentError(err error) error {
	if code, constraint, ok := pgdb.Constraint(err); ok && code == "23505" && constraint == "segments_name" {
		return classify.ErrSegmentNameTaken
	}
	return err
}

const refreshSegmentSQL = `
WITH matched AS (
    SELECT customer_id FROM customers WHERE tenant_id = $1 AND delete_time IS NULL AND coalesce((%s), false)
), gone AS (
    UPDATE segment_members m SET leave_time = now()
    WHERE m.tenant_id = $1 AND m.segment_id = $2 AND m.leave_time IS NULL
      AND NOT EXISTS (SELECT 1 FROM matched x WHERE x.customer_id = m.customer_id)
    RETURNING 1
), entered AS (
    INSERT INTO segment_members (tenant_id, segment_id, customer_id, stay_id)
    SELECT $1, $2, x.customer_id, gen_random_uuid() FROM matched x
    WHERE NOT EXISTS (SELECT 1 FROM segment_members m
                      WHERE m.tenant_id = $1 AND m.segment_id = $2 AND m.customer_id = x.customer_id AND m.leave_time IS NULL)
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM entered), (SELECT count(*) FROM gone)`

const touchSegmentSQL = `UPDATE segments s SET refresh_time = now() WHERE s.tenant_id = $1 AND s.segment_id = $2 RETURNING ` + segmentColumns

// refresh recomputes a segment's members in bulk and emits one summary
// event; counts, when not nil, receives how many entered and left.
func refresh(ctx context.Context, tx pgx.Tx, caller auth.Caller, g classify.Segment, counts *classify.Refresh) (classify.Segment, error) {
	cond, err := translateFilter(g.Filter, "segment.filter", 2)
	if err != nil {
		return g, err
	}
	var entered, left int64
	args := append([]any{caller.TenantID, g.ID}, cond.Args...)
	if err := tx.QueryRow(ctx, fmt.Sprintf(refreshSegmentSQL, cond.SQL), args...).Scan(&entered, &left); err != nil {
		return g, fmt.Errorf("refresh segment members: %w", err)
	}
	rows, err := tx.Query(ctx, touchSegmentSQL, caller.TenantID, g.ID)
	if err != nil {
		return g, err
	}
	if g, err = pgx.CollectExactlyOneRow(rows, scanSegment); err != nil {
		return g, err
	}
	if counts != nil {
		*counts = classify.Refresh{Segment: g, Entered: entered, Left: left}
	}
	return g, outbox.Record(ctx, tx, outbox.Change{
		TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: classify.EventSegmentRefreshed,
		Resource: g.Resource(), After: &customerv1.RefreshSegmentResponse{Segment: protoconv.Segment(g), Entered: entered, Left: left},
	})
}

const segmentByIDSQL = `SELECT ` + segmentColumns + ` FROM segments s WHERE s.tenant_id = $1 AND s.segment_id = $2 AND s.delete_time IS NULL`

// Segment implements classify.Store.
func (s *Store) Segment(ctx context.Context, caller auth.Caller, id uuid.UUID) (classify.Segment, error) {
	g, err := pgdb.Row(ctx, s.pool, caller.TenantID, segmentByIDSQL, []any{caller.TenantID, id}, scanSegment)
	if errors.Is(err, pgx.ErrNoRows) {
		return g, classify.ErrSegmentNotFound
	}
	if err != nil {
		return g, fmt.Errorf("get segment %s: %w", id, err)
	}
	return g, nil
}

// nameCursor is the keyset position in a list ordered by (name, id).
type nameCursor struct {
	Name string    `json:"n"`
	ID   uuid.UUID `json:"i"`
}

const segmentsSQL = `
SELECT ` + segmentColumns + ` FROM segments s
WHERE s.tenant_id = $1 AND s.delete_time IS NULL AND (s.display_name, s.segment_id) > ($2, $3)
ORDER BY s.display_name, s.segment_id
LIMIT $4`

// Segments implements classify.Store.
func (s *Store) Segments(ctx context.Context, caller auth.Caller, q classify.PageQuery) (classify.Page[classify.Segment], error) {
	var cur nameCursor
	if q.PageToken != "" {
		if err := pagetoken.Decode(q.PageToken, "segments", &cur); err != nil {
			return classify.Page[classify.Segment]{}, validation.Field("page_token", "is not a token from this query; start again without it")
		}
	}
	rows, err := pgdb.Rows(ctx, s.pool, caller.TenantID, segmentsSQL, []any{caller.TenantID, cur.Name, cur.ID, q.PageSize + 1}, scanSegment)
	if err != nil {
		return classify.Page[classify.Segment]{}, fmt.Errorf("list segments: %w", err)
	}
	page := classify.Page[classify.Segment]{Items: rows}
	if len(rows) > q.PageSize {
		page.Items = rows[:q.PageSize]
		last := page.Items[q.PageSize-1]
		if page.NextPageToken, err = pagetoken.Encode("segments", nameCursor{Name: last.DisplayName, ID: last.ID}); err != nil {
			return classify.Page[classify.Segment]{}, err
		}
	}
	return page, nil
}

const lockSegmentSQL = `SELECT ` + segmentColumns + ` FROM segments s WHERE s.tenant_id = $1 AND s.segment_id = $2 AND s.delete_time IS NULL FOR UPDATE`

const saveSegmentSQL = `
UPDATE segments s SET display_name = $3, description = $4, filter = $5, revision = revision + 1, update_time = now()
WHERE s.tenant_id = $1 AND s.segment_id = $2
RETURNING ` + segmentColumns

func lockSegment(ctx context.Context, tx pgx.Tx, caller auth.Caller, id uuid.UUID) (classify.Segment, error) {
	rows, err := tx.Query(ctx, lockSegmentSQL, caller.TenantID, id)
	if err != nil {
		return classify.Segment{}, err
	}
	g, err := pgx.CollectExactlyOneRow(rows, scanSegment)
	if errors.Is(err, pgx.ErrNoRows) {
		return g, classify.ErrSegmentNotFound
	}
	return g, err
}

// MutateSegment implements classify.Store.
func (s *Store) MutateSegment(ctx context.Context, caller auth.Caller, id uuid.UUID, m classify.SegmentMutation) (classify.Segment, error) {
	var saved classify.Segment
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := lockSegment(ctx, tx, caller, id)
		if err != nil {
			return err
		}
		g := before
		refilter, err := m(&g)
		if err != nil {
			return err
		}
		if _, err := translateFilter(g.Filter, "segment.filter", 0); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, saveSegmentSQL, caller.TenantID, id, g.DisplayName, g.Description, g.Filter)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanSegment); err != nil {
			return segmentError(err)
		}
		if err := outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: classify.EventSegmentUpdated,
			Resource: saved.Resource(), Before: protoconv.Segment(before), After: protoconv.Segment(saved),
		}); err != nil {
			return err
		}
		if refilter {
			saved, err = refresh(ctx, tx, caller, saved, nil)
		}
		return err
	})
	if err != nil {
		return classify.Segment{}, fmt.Errorf("update segment %s: %w", id, err)
	}
	return saved, nil
}

const deleteSegmentSQL = `UPDATE segments SET delete_time = now(), revision = revision + 1 WHERE tenant_id = $1 AND segment_id = $2`

const emptySegmentSQL = `UPDATE segment_members SET leave_time = now() WHERE tenant_id = $1 AND segment_id = $2 AND leave_time IS NULL`

// DeleteSegment implements classify.Store. Members leave with the segment
// in bulk; the deletion event stands for their leaving.
func (s *Store) DeleteSegment(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) error {
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		g, err := lockSegment(ctx, tx, caller, id)
		if err != nil {
			return err
		}
		if etag != "" && etag != g.Etag() {
			return fmt.Errorf("%w: current etag is %s", classify.ErrEtagMismatch, g.Etag())
		}
		if _, err := tx.Exec(ctx, deleteSegmentSQL, caller.TenantID, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, emptySegmentSQL, caller.TenantID, id); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: classify.EventSegmentDeleted,
			Resource: g.Resource(), Before: protoconv.Segment(g), After: protoconv.Segment(g),
		})
	})
	if err != nil {
		return fmt.Errorf("delete segment %s: %w", id, err)
	}
	return nil
}

// RefreshSegment implements classify.Store.
func (s *Store) RefreshSegment(ctx context.Context, caller auth.Caller, id uuid.UUID) (classify.Refresh, error) {
	var out classify.Refresh
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		g, err := lockSegment(ctx, tx, caller, id)
		if err != nil {
			return err
		}
		_, err = refresh(ctx, tx, caller, g, &out)
		return err
	})
	if err != nil {
		return classify.Refresh{}, fmt.Errorf("refresh segment %s: %w", id, err)
	}
	return out, nil
}

// memberCursor is the keyset position in a member list.
type memberCursor struct {
	Time time.Time `json:"t"`
	ID   uuid.UUID `json:"i"`
}

const membersSQL = `
SELECT customer_id, enter_time FROM segment_members
WHERE tenant_id = $1 AND segment_id = $2 AND leave_time IS NULL AND (enter_time, customer_id) > ($3, $4)
ORDER BY enter_time, customer_id
LIMIT $5`

// Members implements classify.Store.
func (s *Store) Members(ctx context.Context, caller auth.Caller, id uuid.UUID, q classify.PageQuery) (classify.Page[classify.Membership], error) {
	if _, err := s.Segment(ctx, caller, id); err != nil {
		return classify.Page[classify.Membership]{}, err
	}
	query := "members|" + id.String()
	var cur memberCursor
	if q.PageToken != "" {
		if err := pagetoken.Decode(q.PageToken, query, &cur); err != nil {
			return classify.Page[classify.Membership]{}, validation.Field("page_token", "is not a token from this query; start again without it")
		}
	}
	rows, err := pgdb.Rows(ctx, s.pool, caller.TenantID, membersSQL, []any{caller.TenantID, id, cur.Time, cur.ID, q.PageSize + 1},
		func(row pgx.CollectableRow) (classify.Membership, error) {
			m := classify.Membership{SegmentID: id}
			err := row.Scan(&m.CustomerID, &m.EnterTime)
			return m, err
		})
	if err != nil {
		return classify.Page[classify.Membership]{}, fmt.Errorf("list segment members: %w", err)
	}
	page := classify.Page[classify.Membership]{Items: rows}
	if len(rows) > q.PageSize {
		page.Items = rows[:q.PageSize]
		last := page.Items[q.PageSize-1]
		if page.NextPageToken, err = pagetoken.Encode(query, memberCursor{Time: last.EnterTime, ID: last.CustomerID}); err != nil {
			return classify.Page[classify.Membership]{}, err
		}
	}
	return page, nil
}
