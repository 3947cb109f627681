package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/keyset"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/services/ticket/internal/protoconv"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

const feedbackColumns = `feedback_item_id, customer_id, channel, body, topics, status, ticket_id, resolution, create_time, update_time, revision`

func scanFeedback(row pgx.CollectableRow) (ticket.Feedback, error) {
	var f ticket.Feedback
	var cust, tk uuid.NullUUID
	err := row.Scan(&f.ID, &cust, &f.Channel, &f.Body, &f.Topics, &f.Status, &tk, &f.Resolution, &f.CreateTime, &f.UpdateTime, &f.Revision)
	f.CustomerID, f.TicketID = cust.UUID, tk.UUID
	return f, err
}

func topicsOf(f ticket.Feedback) []string {
	if f.Topics == nil {
		return []string{}
	}
	return f.Topics
}

const insertFeedbackSQL = `
INSERT INTO feedback_items (tenant_id, feedback_item_id, customer_id, channel, body, topics, status, ticket_id, resolution, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, nullif($10, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + feedbackColumns

const feedbackByRequestSQL = `SELECT ` + feedbackColumns + ` FROM feedback_items WHERE tenant_id = $1 AND request_id = $2`

// CreateFeedback implements ticket.FeedbackStore.
func (s *Store) CreateFeedback(ctx context.Context, caller auth.Caller, f ticket.Feedback, requestID string) (ticket.Feedback, error) {
	var saved ticket.Feedback
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var inserted bool
		var err error
		saved, inserted, err = pgdb.InsertOnce(ctx, tx, insertFeedbackSQL,
			[]any{caller.TenantID, f.ID, nullID(f.CustomerID), f.Channel, f.Body, topicsOf(f), f.Status, nullID(f.TicketID), f.Resolution, requestID},
			feedbackByRequestSQL, []any{caller.TenantID, requestID}, scanFeedback)
		if err != nil || !inserted {
			return err
		}
		return record(ctx, tx, caller, ticket.EventFeedbackCreated, saved.Resource(), nil, protoconv.Feedback(saved))
	})
	if err != nil {
		return ticket.Feedback{}, fmt.Errorf("create feedback item: %w", err)
	}
	return saved, nil
}

const feedbackByIDSQL = `SELECT ` + feedbackColumns + ` FROM feedback_items WHERE tenant_id = $1 AND feedback_item_id = $2`

// Feedback implements ticket.FeedbackStore.
func (s *Store) Feedback(ctx context.Context, caller auth.Caller, id uuid.UUID) (ticket.Feedback, error) {
	f, err := pgdb.Row(ctx, s.pool, caller.TenantID, feedbackByIDSQL, []any{caller.TenantID, id}, scanFeedback)
	if errors.Is(err, pgx.ErrNoRows) {
		return ticket.Feedback{}, ticket.ErrFeedbackNotFound
	}
	if err != nil {
		return ticket.Feedback{}, fmt.Errorf("get feedback item %s: %w", id, err)
	}
	return f, nil
}

// listFeedback filters on indexed columns only.
var listFeedback = keyset.Query[ticket.Feedback]{
	Table: "feedback_items", Columns: feedbackColumns, IDColumn: "feedback_item_id", Scan: scanFeedback,
	Fields: map[string]sqlfilter.Field{
		"status":      {Column: "status", Kind: sqlfilter.Enum, Enum: ticketv1.FeedbackStatus_value},
		"channel":     {Column: "channel", Kind: sqlfilter.Enum, Enum: ticketv1.Channel_value},
		"customer_id": {Column: "customer_id", Kind: sqlfilter.UUID},
	},
	Key: func(f ticket.Feedback) (time.Time, uuid.UUID) { return f.CreateTime, f.ID },
}

// ListFeedback implements ticket.FeedbackStore.
func (s *Store) ListFeedback(ctx context.Context, caller auth.Caller, q ticket.FeedbackQuery) ([]ticket.Feedback, string, error) {
	return keyset.NewestFirst(ctx, s.pool, caller.TenantID, listFeedback, q.Filter, q.PageToken, q.PageSize)
}

const saveFeedbackSQL = `
UPDATE feedback_items SET topics = $3, status = $4, ticket_id = $5, resolution = $6, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND feedback_item_id = $2
RETURNING ` + feedbackColumns

// MutateFeedback implements ticket.FeedbackStore.
func (s *Store) MutateFeedback(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(*ticket.Feedback) error) (ticket.Feedback, error) {
	var saved ticket.Feedback
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, feedbackByIDSQL+` FOR UPDATE`, caller.TenantID, id)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanFeedback)
		if errors.Is(err, pgx.ErrNoRows) {
			return ticket.ErrFeedbackNotFound
		}
		if err != nil {
			return err
		}
		f := before
		f.Topics = append([]string{}, before.Topics...)
		if err := m(&f); err != nil {
			return err
		}
		if rows, err = tx.Query(ctx, saveFeedbackSQL, caller.TenantID, id, topicsOf(f), f.Status, nullID(f.TicketID), f.Resolution); err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanFeedback); err != nil {
			return err
		}
		return record(ctx, tx, caller, ticket.EventFeedbackUpdated, saved.Resource(), protoconv.Feedback(before), protoconv.Feedback(saved))
	})
	if err != nil {
		return ticket.Feedback{}, fmt.Errorf("change feedback item %s: %w", id, err)
	}
	return saved, nil
}
