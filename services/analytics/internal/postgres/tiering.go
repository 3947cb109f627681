package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/analytics/internal/protoconv"
	"github.com/rapportcrm/rapport/services/analytics/internal/tiering"
)

// Events of the tier suggestions.
const (
	EventTierSettingsUpdated = "analytics.tier_suggestion_settings.updated"
	EventTierRunQueued       = "analytics.tier_suggestions.queued"
	// EventTierSuggestionSettled reports each delivery attempt's outcome;
	// the part after the last dot is the audit action.
	EventTierSuggestionSettled = "analytics.tier_suggestion.settled"
)

const tierSettingsSQL = `
SELECT enabled, override_manual, vip_min_score, a_min_score, b_min_score, update_time, revision
FROM tier_suggestion_settings WHERE tenant_id = $1`

func scanTierSettings(row pgx.CollectableRow) (tiering.Settings, error) {
	var s tiering.Settings
	err := row.Scan(&s.Enabled, &s.OverrideManual, &s.Thresholds.VIP, &s.Thresholds.A, &s.Thresholds.B, &s.UpdateTime, &s.Revision)
	return s, err
}

// TierSettings implements tiering.Store.
func (s *Store) TierSettings(ctx context.Context, tenant uuid.UUID) (tiering.Settings, error) {
	st, err := pgdb.Row(ctx, s.pool, tenant.String(), tierSettingsSQL, []any{tenant}, scanTierSettings)
	if errors.Is(err, pgx.ErrNoRows) {
		return tiering.DefaultSettings(), nil
	}
	if err != nil {
		return tiering.Settings{}, fmt.Errorf("tier suggestion settings: %w", err)
	}
	return st, nil
}

// saveTierSettingsSQL inserts the first settings (revision 0 → 1) or
// updates the stored ones at revision $8; no row back means a stale revision.
const saveTierSettingsSQL = `
INSERT INTO tier_suggestion_settings AS t (tenant_id, enabled, override_manual, vip_min_score, a_min_score, b_min_score, revision)
VALUES ($1, $2, $3, $4, $5, $6, $8 + 1)
ON CONFLICT (tenant_id) DO UPDATE
SET enabled = excluded.enabled, override_manual = excluded.override_manual, vip_min_score = excluded.vip_min_score,
    a_min_score = excluded.a_min_score, b_min_score = excluded.b_min_score, revision = t.revision + 1, update_time = now()
WHERE t.revision = $8 AND $7
RETURNING enabled, override_manual, vip_min_score, a_min_score, b_min_score, update_time, revision`

// requeueKeptSQL makes the suggestions kept out by manual tiers pending again.
const requeueKeptSQL = `
UPDATE tier_suggestions SET state = 1, attempts = 0, last_error = '', next_attempt_time = $2, update_time = now()
WHERE tenant_id = $1 AND state = 3`

// SaveTierSettings implements tiering.Store.
func (s *Store) SaveTierSettings(ctx context.Context, tenant uuid.UUID, principal string, in tiering.Settings, now time.Time) (tiering.Settings, error) {
	var saved tiering.Settings
	err := pgdb.InTx(ctx, s.pool, tenant.String(), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, tierSettingsSQL+` FOR UPDATE`, tenant)
		if err != nil {
			return err
		}
		before, err := pgx.CollectOneRow(rows, scanTierSettings)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			before = tiering.DefaultSettings()
		case err != nil:
			return err
		}
		if before.Revision != in.Revision {
			return tiering.ErrEtagMismatch
		}
		t := in.Thresholds
		rows, err = tx.Query(ctx, saveTierSettingsSQL, tenant, in.Enabled, in.OverrideManual, t.VIP, t.A, t.B, in.Revision > 0, in.Revision)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectOneRow(rows, scanTierSettings); errors.Is(err, pgx.ErrNoRows) {
			return tiering.ErrEtagMismatch
		} else if err != nil {
			return err
		}
		if saved.OverrideManual && !before.OverrideManual {
			if _, err := tx.Exec(ctx, requeueKeptSQL, tenant, now); err != nil {
				return fmt.Errorf("requeue kept suggestions: %w", err)
			}
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: tenant.String(), PrincipalID: principal, Type: EventTierSettingsUpdated,
			Resource: "tierSuggestionSettings", Before: protoconv.TierSettings(before), After: protoconv.TierSettings(saved)})
	})
	if err != nil {
		return tiering.Settings{}, fmt.Errorf("save tier suggestion settings: %w", err)
	}
	return saved, nil
}

// queueSuggestionsSQL replaces a customer's suggestion only when its tier
// changed, so an unchanged suggestion is never sent again.
const queueSuggestionsSQL = `
INSERT INTO tier_suggestions AS t (tenant_id, customer_id, tier, reason, run_id, state, next_attempt_time)
SELECT $1, c, tier, reason, $5, 1, $6 FROM unnest($2::uuid[], $3::text[], $4::text[]) AS x(c, tier, reason)
ON CONFLICT (tenant_id, customer_id) DO UPDATE
SET tier = excluded.tier, reason = excluded.reason, run_id = excluded.run_id, state = 1, attempts = 0,
    last_error = '', next_attempt_time = excluded.next_attempt_time, update_time = now()
WHERE t.tier <> excluded.tier`

// QueueSuggestions implements tiering.Store.
func (s *Store) QueueSuggestions(ctx context.Context, tenant uuid.UUID, principal string, run tiering.Run, suggs []tiering.Suggestion, now time.Time) (int, error) {
	ids := make([]uuid.UUID, len(suggs))
	tiers := make([]string, len(suggs))
	reasons := make([]string, len(suggs))
	for i, sg := range suggs {
		ids[i], tiers[i], reasons[i] = sg.CustomerID, sg.Tier, sg.Reason
	}
	queued := 0
	err := pgdb.InTx(ctx, s.pool, tenant.String(), func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, queueSuggestionsSQL, tenant, ids, tiers, reasons, run.ID, now)
		if err != nil {
			return err
		}
		queued = int(tag.RowsAffected())
		if queued == 0 {
			return nil
		}
		run.Queued = queued
		return outbox.Record(ctx, tx, outbox.Change{TenantID: tenant.String(), PrincipalID: principal, Type: EventTierRunQueued,
			Resource: "tierSuggestions", After: protoconv.TierRun(run)})
	})
	if err != nil {
		return 0, fmt.Errorf("queue %d tier suggestions: %w", len(suggs), err)
	}
	return queued, nil
}

const suggestionColumns = `customer_id, tier, reason, run_id, state, attempts, last_error, next_attempt_time, update_time`

func scanSuggestion(row pgx.CollectableRow) (tiering.Suggestion, error) {
	var sg tiering.Suggestion
	err := row.Scan(&sg.CustomerID, &sg.Tier, &sg.Reason, &sg.RunID, &sg.State, &sg.Attempts, &sg.LastError, &sg.NextAttemptTime, &sg.UpdateTime)
	return sg, err
}

const dueSuggestionsSQL = `SELECT ` + suggestionColumns + ` FROM tier_suggestions
WHERE tenant_id = $1 AND state = 1 AND next_attempt_time <= $2 ORDER BY next_attempt_time, customer_id LIMIT $3`

// DueSuggestions implements tiering.Store.
func (s *Store) DueSuggestions(ctx context.Context, tenant uuid.UUID, now time.Time, limit int) ([]tiering.Suggestion, error) {
	out, err := pgdb.Rows(ctx, s.pool, tenant.String(), dueSuggestionsSQL, []any{tenant, now, limit}, scanSuggestion)
	if err != nil {
		return nil, fmt.Errorf("due tier suggestions: %w", err)
	}
	return out, nil
}

// settleSuggestionSQL records an outcome for the run that made the
// suggestion only: a newer run's suggestion is left for its own delivery.
const settleSuggestionSQL = `
UPDATE tier_suggestions SET state = $4, attempts = $5, last_error = $6, next_attempt_time = $7, update_time = now()
WHERE tenant_id = $1 AND customer_id = $2 AND run_id = $3 AND state = 1
RETURNING ` + suggestionColumns

// SettleSuggestion implements tiering.Store.
func (s *Store) SettleSuggestion(ctx context.Context, tenant uuid.UUID, sg tiering.Suggestion) error {
	err := pgdb.InTx(ctx, s.pool, tenant.String(), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, settleSuggestionSQL, tenant, sg.CustomerID, sg.RunID, sg.State, sg.Attempts, sg.LastError, sg.NextAttemptTime)
		if err != nil {
			return err
		}
		saved, err := pgx.CollectOneRow(rows, scanSuggestion)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: tenant.String(), Type: EventTierSuggestionSettled,
			Resource: "tierSuggestions/" + sg.CustomerID.String(), After: protoconv.TierSuggestion(saved)})
	})
	if err != nil {
		return fmt.Errorf("settle tier suggestion of %s: %w", sg.CustomerID, err)
	}
	return nil
}

const suggestionsSQL = `SELECT ` + suggestionColumns + ` FROM tier_suggestions
WHERE tenant_id = $1 AND ($2 = 0 OR state = $2) AND customer_id > $3 ORDER BY customer_id LIMIT $4`

// Suggestions implements tiering.Store.
func (s *Store) Suggestions(ctx context.Context, tenant uuid.UUID, state tiering.State, pageToken string, pageSize int) ([]tiering.Suggestion, string, error) {
	query := "tierSuggestions " + strconv.Itoa(int(state))
	var after uuid.UUID
	if pageToken != "" {
		if err := pagetoken.Decode(pageToken, query, &after); err != nil {
			return nil, "", validation.Field("page_token", "is not a token from this query; start again without it")
		}
	}
	out, err := pgdb.Rows(ctx, s.pool, tenant.String(), suggestionsSQL, []any{tenant, state, after, pageSize + 1}, scanSuggestion)
	if err != nil {
		return nil, "", fmt.Errorf("list tier suggestions: %w", err)
	}
	if len(out) <= pageSize {
		return out, "", nil
	}
	out = out[:pageSize]
	next, err := pagetoken.Encode(query, out[pageSize-1].CustomerID)
	return out, next, err
}
