package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/services/ticket/internal/protoconv"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

const dueDetractorsSQL = `
SELECT source_id, kind, ticket_id, customer_id, score, attempts FROM detractor_followups
WHERE tenant_id = $1 AND done_time IS NULL AND next_attempt_time <= $2 AND attempts < $4
ORDER BY next_attempt_time LIMIT $3`

// DueDetractors implements ticket.DetractorStore.
func (s *Store) DueDetractors(ctx context.Context, tenant string, now time.Time, limit, maxAttempts int) ([]ticket.Detractor, error) {
	out, err := pgdb.Rows(ctx, s.pool, tenant, dueDetractorsSQL, []any{tenant, now, limit, maxAttempts}, func(row pgx.CollectableRow) (ticket.Detractor, error) {
		var d ticket.Detractor
		var tk uuid.NullUUID
		err := row.Scan(&d.SourceID, &d.Kind, &tk, &d.CustomerID, &d.Score, &d.Attempts)
		d.TicketID = tk.UUID
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("find due detractor follow-ups: %w", err)
	}
	return out, nil
}

// deliveredSQL settles a delivery once: a concurrent runner that delivered
// the same row (the peer's request_id made it the same follow-up) finds it
// done and records nothing.
const deliveredSQL = `
UPDATE detractor_followups SET done_time = now(), follow_up_id = $3, attempts = attempts + 1, last_error = ''
WHERE tenant_id = $1 AND source_id = $2 AND done_time IS NULL`

// DetractorDelivered implements ticket.DetractorStore.
func (s *Store) DetractorDelivered(ctx context.Context, tenant string, d ticket.Detractor, followUpID string) error {
	err := pgdb.InTx(ctx, s.pool, tenant, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, deliveredSQL, tenant, d.SourceID, followUpID)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: tenant, PrincipalID: ticket.DetractorPrincipal,
			Type: ticket.EventDetractorFollowedUp, Resource: d.Resource(), After: protoconv.Detractor(d, followUpID)})
	})
	if err != nil {
		return fmt.Errorf("mark detractor follow-up of survey %s: %w", d.SourceID, err)
	}
	return nil
}

const failedSQL = `
UPDATE detractor_followups SET attempts = attempts + 1, last_error = left($3, 1000), next_attempt_time = $4
WHERE tenant_id = $1 AND source_id = $2 AND done_time IS NULL`

// DetractorFailed implements ticket.DetractorStore. A failed attempt is
// delivery bookkeeping, not a change of the help desk's records, so it
// records no event.
func (s *Store) DetractorFailed(ctx context.Context, tenant string, d ticket.Detractor, cause string, next time.Time) error {
	err := pgdb.InTx(ctx, s.pool, tenant, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, failedSQL, tenant, d.SourceID, cause, next)
		return err
	})
	if err != nil {
		return fmt.Errorf("count failed follow-up of survey %s: %w", d.SourceID, err)
	}
	return nil
}
