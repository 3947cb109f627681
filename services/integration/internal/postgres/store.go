// Package postgres stores the integration service's data in PostgreSQL.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	integrationv1 "github.com/rapportcrm/rapport/gen/go/rapport/integration/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/keyset"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/services/integration/internal/protoconv"
	"github.com/rapportcrm/rapport/services/integration/internal/webhook"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the service's goose migrations.
var Migrations, _ = fs.Sub(migrationFiles, "migrations")

// Role is the database role the service connects as.
const Role = "rapport_integration"

// Store implements webhook.Store and what the follower and the delivery
// workers need.
type Store struct{ pool *pgxpool.Pool }

// New returns a Store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// webhookColumns end with the endpoint breaker's state, read by scalar
// subqueries so that the list works in RETURNING clauses too.
const webhookColumns = `webhook_id, display_name, target_url, event_types, filter, state, state_reason, create_time, update_time, revision,
(SELECT b.open_until FROM endpoint_breakers b WHERE b.tenant_id = webhooks.tenant_id AND b.endpoint = webhooks.endpoint),
(SELECT b.probe_until FROM endpoint_breakers b WHERE b.tenant_id = webhooks.tenant_id AND b.endpoint = webhooks.endpoint)`

func scanWebhook(row pgx.CollectableRow) (webhook.Webhook, error) {
	var w webhook.Webhook
	err := row.Scan(&w.ID, &w.DisplayName, &w.TargetURL, &w.EventTypes, &w.Filter, &w.State, &w.StateReason,
		&w.CreateTime, &w.UpdateTime, &w.Revision, &w.BreakerOpenUntil, &w.ProbeUntil)
	return w, err
}

const (
	insertWebhookSQL = `
INSERT INTO webhooks (tenant_id, webhook_id, display_name, target_url, endpoint, event_types, filter, state, secret, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, nullif($10, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + webhookColumns
	webhookByRequestSQL = `SELECT ` + webhookColumns + ` FROM webhooks WHERE tenant_id = $1 AND request_id = $2`
	webhookByIDSQL      = `SELECT ` + webhookColumns + ` FROM webhooks WHERE tenant_id = $1 AND webhook_id = $2`
	lockWebhookSQL      = webhookByIDSQL + ` FOR UPDATE`
	updateWebhookSQL    = `
UPDATE webhooks SET display_name = $3, target_url = $4, endpoint = $5, event_types = $6, filter = $7, state = $8,
    state_reason = $9, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND webhook_id = $2
RETURNING ` + webhookColumns
	deleteWebhookSQL = `DELETE FROM webhooks WHERE tenant_id = $1 AND webhook_id = $2`
)

// Create implements webhook.Store.
func (s *Store) Create(ctx context.Context, caller auth.Caller, w webhook.Webhook, endpoint, secret, requestID string) (webhook.Webhook, bool, error) {
	var saved webhook.Webhook
	created := false
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx,
			insertWebhookSQL, []any{caller.TenantID, w.ID, w.DisplayName, w.TargetURL, endpoint, w.EventTypes, w.Filter, w.State, secret, requestID},
			webhookByRequestSQL, []any{caller.TenantID, requestID}, scanWebhook)
		if err != nil || !created {
			// A repeated request_id gets the earlier webhook, whose event is already recorded.
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: webhook.EventCreated, Resource: saved.Resource(), After: protoconv.Webhook(saved)})
	})
	if err != nil {
		return webhook.Webhook{}, false, fmt.Errorf("create webhook: %w", err)
	}
	return saved, created, nil
}

// Get implements webhook.Store.
func (s *Store) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (webhook.Webhook, error) {
	w, err := pgdb.Row(ctx, s.pool, caller.TenantID, webhookByIDSQL, []any{caller.TenantID, id}, scanWebhook)
	if errors.Is(err, pgx.ErrNoRows) {
		return webhook.Webhook{}, webhook.ErrNotFound
	}
	if err != nil {
		return webhook.Webhook{}, fmt.Errorf("get webhook %s: %w", id, err)
	}
	return w, nil
}

var listWebhooks = keyset.Query[webhook.Webhook]{
	Table: "webhooks", Columns: webhookColumns, IDColumn: "webhook_id",
	Fields: map[string]sqlfilter.Field{
		"state": {Column: "state", Kind: sqlfilter.Enum, Enum: integrationv1.WebhookState_value},
	},
	Scan: scanWebhook,
	Key:  func(w webhook.Webhook) (time.Time, uuid.UUID) { return w.CreateTime, w.ID },
}

// List implements webhook.Store.
func (s *Store) List(ctx context.Context, caller auth.Caller, q webhook.ListQuery) (webhook.Page, error) {
	rows, next, err := keyset.NewestFirst(ctx, s.pool, caller.TenantID, listWebhooks, q.Filter, q.PageToken, q.PageSize)
	if err != nil {
		return webhook.Page{}, err
	}
	return webhook.Page{Webhooks: rows, NextPageToken: next}, nil
}

// lock reads and locks one webhook in tx.
func lock(ctx context.Context, tx pgx.Tx, tenant string, id uuid.UUID) (webhook.Webhook, error) {
	rows, err := tx.Query(ctx, lockWebhookSQL, tenant, id)
	if err != nil {
		return webhook.Webhook{}, err
	}
	w, err := pgx.CollectExactlyOneRow(rows, scanWebhook)
	if errors.Is(err, pgx.ErrNoRows) {
		return webhook.Webhook{}, webhook.ErrNotFound
	}
	return w, err
}

// Update implements webhook.Store.
func (s *Store) Update(ctx context.Context, caller auth.Caller, id uuid.UUID, change func(*webhook.Webhook) (string, error)) (webhook.Webhook, error) {
	var saved webhook.Webhook
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := lock(ctx, tx, caller.TenantID, id)
		if err != nil {
			return err
		}
		w := before
		w.EventTypes = append([]string(nil), before.EventTypes...)
		endpoint, err := change(&w)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, updateWebhookSQL, caller.TenantID, id, w.DisplayName, w.TargetURL, endpoint,
			w.EventTypes, w.Filter, w.State, w.StateReason)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanWebhook); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: webhook.EventUpdated, Resource: saved.Resource(), Before: protoconv.Webhook(before), After: protoconv.Webhook(saved)})
	})
	if err != nil {
		return webhook.Webhook{}, fmt.Errorf("update webhook %s: %w", id, err)
	}
	return saved, nil
}

// Delete implements webhook.Store.
func (s *Store) Delete(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) error {
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := lock(ctx, tx, caller.TenantID, id)
		if err != nil {
			return err
		}
		if etag != "" && etag != before.Etag() {
			return webhook.ErrEtagMismatch
		}
		if _, err := tx.Exec(ctx, deleteWebhookSQL, caller.TenantID, id); err != nil {
			return err
		}
		// The event carries the last state: a consumer learns what went away.
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: webhook.EventDeleted, Resource: before.Resource(), Before: protoconv.Webhook(before), After: protoconv.Webhook(before)})
	})
	if err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, err)
	}
	return nil
}

const (
	policySQL    = `SELECT allow_private_targets, update_time FROM webhook_policies WHERE tenant_id = $1`
	setPolicySQL = `
INSERT INTO webhook_policies (tenant_id, allow_private_targets) VALUES ($1, $2)
ON CONFLICT (tenant_id) DO UPDATE SET allow_private_targets = excluded.allow_private_targets, update_time = now()
RETURNING allow_private_targets, update_time`
)

// Policy implements webhook.Store; a tenant without a row gets the default.
func (s *Store) Policy(ctx context.Context, tenant uuid.UUID) (webhook.Policy, error) {
	p, err := pgdb.Row(ctx, s.pool, tenant.String(), policySQL, []any{tenant}, func(row pgx.CollectableRow) (webhook.Policy, error) {
		p := webhook.Policy{TenantID: tenant}
		return p, row.Scan(&p.AllowPrivateTargets, &p.UpdateTime)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return webhook.Policy{TenantID: tenant}, nil
	}
	if err != nil {
		return webhook.Policy{}, fmt.Errorf("webhook policy of %s: %w", tenant, err)
	}
	return p, nil
}

// SetPolicy implements webhook.Store. It writes in the target tenant's
// scope, where the audit row of the operator's change belongs.
func (s *Store) SetPolicy(ctx context.Context, caller auth.Caller, p webhook.Policy) (webhook.Policy, error) {
	tenant := p.TenantID.String()
	err := pgdb.InTx(ctx, s.pool, tenant, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, setPolicySQL, p.TenantID, p.AllowPrivateTargets).Scan(&p.AllowPrivateTargets, &p.UpdateTime); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: tenant, PrincipalID: caller.PrincipalID,
			Type: webhook.EventPolicyUpdated, Resource: "webhookPolicies/" + tenant, After: protoconv.Policy(p)})
	})
	if err != nil {
		return webhook.Policy{}, fmt.Errorf("set webhook policy of %s: %w", tenant, err)
	}
	return p, nil
}
