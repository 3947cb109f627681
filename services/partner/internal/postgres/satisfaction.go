package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/services/partner/internal/satisfaction"
)

// Satisfaction implements satisfaction.Store: the projection of partner
// links, ticket customers and help-desk answers. It writes as the service
// itself (no caller), from the event follower.
type Satisfaction struct{ pool *pgxpool.Pool }

// Satisfaction returns the satisfaction projection on the same pool.
func (s *Store) Satisfaction() *Satisfaction { return &Satisfaction{pool: s.pool} }

const (
	checkpointSQL     = `SELECT cursor FROM feed_checkpoints WHERE tenant_id = $1 AND source = $2`
	saveCheckpointSQL = `
INSERT INTO feed_checkpoints (tenant_id, source, cursor) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id, source) DO UPDATE SET cursor = excluded.cursor, update_time = now()`
	linkSQL = `
INSERT INTO customer_partner_links (tenant_id, customer_id, partner_id, link_time) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING`
	// unlinkSQL ends the link the event names; a replayed unlink finds it
	// ended already and changes nothing.
	unlinkSQL = `
UPDATE customer_partner_links SET unlink_time = greatest($5::timestamptz, link_time)
WHERE tenant_id = $1 AND customer_id = $2 AND partner_id = $3 AND link_time = $4 AND unlink_time IS NULL`
	ticketCustomerSQL = `
INSERT INTO ticket_customers (tenant_id, ticket_id, customer_id) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET customer_id = excluded.customer_id`
	// answerSQL takes a CSAT answer's customer from its ticket (none: the
	// answer is dropped, as the ticket named no customer this projection
	// saw) and keeps the latest answer per key.
	answerSQL = `
INSERT INTO help_desk_answers (tenant_id, kind, answer_key, customer_id, score, answer_time)
SELECT $1, $2, $3, coalesce($4, (SELECT customer_id FROM ticket_customers WHERE tenant_id = $1 AND ticket_id = $5)), $6, $7
WHERE coalesce($4, (SELECT customer_id FROM ticket_customers WHERE tenant_id = $1 AND ticket_id = $5)) IS NOT NULL
ON CONFLICT (tenant_id, kind, answer_key) DO UPDATE SET score = excluded.score, answer_time = excluded.answer_time`
)

// Checkpoint implements satisfaction.Store.
func (s *Satisfaction) Checkpoint(ctx context.Context, tenant uuid.UUID, source string) (string, error) {
	cursor, err := pgdb.Row(ctx, s.pool, tenant.String(), checkpointSQL, []any{tenant, source}, pgx.RowTo[string])
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("checkpoint of %s: %w", source, err)
	}
	return cursor, nil
}

// Apply implements satisfaction.Store.
func (s *Satisfaction) Apply(ctx context.Context, tenant uuid.UUID, source, cursor string, c satisfaction.Change) error {
	err := pgdb.InTx(ctx, s.pool, tenant.String(), func(tx pgx.Tx) error {
		var err error
		switch {
		case c.Linked != nil:
			_, err = tx.Exec(ctx, linkSQL, tenant, c.Linked.CustomerID, c.Linked.PartnerID, c.Linked.LinkTime)
		case c.Unlinked != nil:
			u := c.Unlinked
			_, err = tx.Exec(ctx, unlinkSQL, tenant, u.CustomerID, u.PartnerID, u.LinkTime, u.UnlinkTime)
		case c.Ticket != nil:
			_, err = tx.Exec(ctx, ticketCustomerSQL, tenant, c.Ticket.TicketID, c.Ticket.CustomerID)
		case c.Answer != nil:
			a := c.Answer
			_, err = tx.Exec(ctx, answerSQL, tenant, a.Kind, a.Key, nullID(a.CustomerID), nullID(a.TicketID), a.Score, a.AnswerTime)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, saveCheckpointSQL, tenant, source, cursor)
		return err
	})
	if err != nil {
		return fmt.Errorf("apply %s event at %s: %w", source, cursor, err)
	}
	return nil
}

// helpDeskSQL reads, through customer_partner_links_partner and
// help_desk_answers_customer, the answers of the partner's customers given
// while they were linked to it, in [$3, $4).
const helpDeskSQL = `
SELECT coalesce(sum(a.score) FILTER (WHERE a.kind = 1), 0)::bigint, count(*) FILTER (WHERE a.kind = 1),
       count(*) FILTER (WHERE a.kind = 2 AND a.score >= 9), count(*) FILTER (WHERE a.kind = 2 AND a.score <= 6),
       count(*) FILTER (WHERE a.kind = 2)
FROM customer_partner_links l
JOIN help_desk_answers a ON a.tenant_id = l.tenant_id AND a.customer_id = l.customer_id
    AND a.answer_time >= greatest(l.link_time, $3) AND a.answer_time < least(coalesce(l.unlink_time, 'infinity'), $4)
WHERE l.tenant_id = $1 AND l.partner_id = $2`

// HelpDesk implements scorecard.Store.
func (s *Scorecards) HelpDesk(ctx context.Context, caller auth.Caller, partner uuid.UUID, from, to time.Time) (satisfaction.Figures, error) {
	f, err := pgdb.Row(ctx, s.pool, caller.TenantID, helpDeskSQL, []any{caller.TenantID, partner, from, to}, pgx.RowToStructByPos[satisfaction.Figures])
	if err != nil {
		return satisfaction.Figures{}, fmt.Errorf("help-desk satisfaction of partner %s: %w", partner, err)
	}
	return f, nil
}
