package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/keyset"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/services/integration/internal/notification"
	"github.com/rapportcrm/rapport/services/integration/internal/protoconv"
)

// Notifications implements notification.Store.
type Notifications struct{ pool *pgxpool.Pool }

// Notifications returns the notification store on the same pool.
func (s *Store) Notifications() *Notifications { return &Notifications{pool: s.pool} }

const notificationColumns = `notification_id, recipient_id, title, body, link, read, coalesce(read_time, 'epoch'::timestamptz), create_time`

func scanNotification(row pgx.CollectableRow) (notification.Notification, error) {
	var n notification.Notification
	err := row.Scan(&n.ID, &n.RecipientID, &n.Title, &n.Body, &n.Link, &n.Read, &n.ReadTime, &n.CreateTime)
	if !n.Read {
		n.ReadTime = time.Time{}
	}
	return n, err
}

const (
	insertNotificationSQL = `
INSERT INTO notifications (tenant_id, notification_id, recipient_id, title, body, link, request_id)
VALUES ($1, $2, $3, $4, $5, $6, nullif($7, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + notificationColumns
	notificationByRequestSQL = `SELECT ` + notificationColumns + ` FROM notifications WHERE tenant_id = $1 AND request_id = $2`
	lockOwnNotificationSQL   = `SELECT ` + notificationColumns + ` FROM notifications
WHERE tenant_id = $1 AND notification_id = $2 AND recipient_id = $3 FOR UPDATE`
	markReadSQL = `UPDATE notifications SET read = true, read_time = now() WHERE tenant_id = $1 AND notification_id = $2
RETURNING ` + notificationColumns
	sinceSQL = `SELECT ` + notificationColumns + ` FROM notifications
WHERE tenant_id = $1 AND recipient_id = $2 AND create_time > $3 ORDER BY create_time, notification_id LIMIT $4`
)

// Create implements notification.Store.
func (s *Notifications) Create(ctx context.Context, caller auth.Caller, n notification.Notification, requestID string) (notification.Notification, error) {
	var saved notification.Notification
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var created bool
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx,
			insertNotificationSQL, []any{caller.TenantID, n.ID, n.RecipientID, n.Title, n.Body, n.Link, requestID},
			notificationByRequestSQL, []any{caller.TenantID, requestID}, scanNotification)
		if err != nil || !created {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: notification.EventCreated, Resource: saved.Resource(), After: protoconv.Notification(saved)})
	})
	if err != nil {
		return notification.Notification{}, fmt.Errorf("create notification: %w", err)
	}
	return saved, nil
}

var listNotifications = keyset.Query[notification.Notification]{
	Table: "notifications", Columns: notificationColumns, IDColumn: "notification_id",
	Fields: map[string]sqlfilter.Field{
		"recipient_id": {Column: "recipient_id", Kind: sqlfilter.String},
		"read":         {Column: "read", Kind: sqlfilter.Bool},
		"create_time":  {Column: "create_time", Kind: sqlfilter.Timestamp},
	},
	Scan: scanNotification,
	Key:  func(n notification.Notification) (time.Time, uuid.UUID) { return n.CreateTime, n.ID },
}

// List implements notification.Store: the caller's own, whatever the
// filter says, as the recipient is one more condition of it.
func (s *Notifications) List(ctx context.Context, caller auth.Caller, q notification.ListQuery) (notification.Page, error) {
	filter := "recipient_id = " + strconv.Quote(caller.PrincipalID)
	if q.Filter != "" {
		filter += " AND (" + q.Filter + ")"
	}
	rows, next, err := keyset.NewestFirst(ctx, s.pool, caller.TenantID, listNotifications, filter, q.PageToken, q.PageSize)
	if err != nil {
		return notification.Page{}, err
	}
	return notification.Page{Notifications: rows, NextPageToken: next}, nil
}

// MarkRead implements notification.Store.
func (s *Notifications) MarkRead(ctx context.Context, caller auth.Caller, id uuid.UUID) (notification.Notification, error) {
	var saved notification.Notification
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockOwnNotificationSQL, caller.TenantID, id, caller.PrincipalID)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanNotification)
		if errors.Is(err, pgx.ErrNoRows) {
			return notification.ErrNotFound
		}
		if err != nil {
			return err
		}
		if before.Read {
			saved = before
			return nil
		}
		if rows, err = tx.Query(ctx, markReadSQL, caller.TenantID, id); err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanNotification); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: notification.EventRead, Resource: saved.Resource(), Before: protoconv.Notification(before), After: protoconv.Notification(saved)})
	})
	if err != nil {
		return notification.Notification{}, fmt.Errorf("mark notification %s read: %w", id, err)
	}
	return saved, nil
}

// Since implements notification.Store.
func (s *Notifications) Since(ctx context.Context, caller auth.Caller, t time.Time, limit int) ([]notification.Notification, error) {
	rows, err := pgdb.Rows(ctx, s.pool, caller.TenantID, sinceSQL, []any{caller.TenantID, caller.PrincipalID, t, limit}, scanNotification)
	if err != nil {
		return nil, fmt.Errorf("notifications since %s: %w", t, err)
	}
	return rows, nil
}
