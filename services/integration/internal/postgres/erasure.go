package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/services/integration/internal/delivery"
	"github.com/rapportcrm/rapport/services/integration/internal/notification"
	"github.com/rapportcrm/rapport/services/integration/internal/protoconv"
	"github.com/rapportcrm/rapport/services/integration/internal/webhook"
)

const (
	// The events about the customer and the resources under it, except
	// erasure events ($3), whose bodies are the anonymised tombstone.
	eraseEventsSQL = `
UPDATE webhook_events SET body = ''
WHERE tenant_id = $1 AND (resource = $2 OR resource LIKE $4) AND type <> $3 AND body <> ''
RETURNING event_id`
	// Every delivery of those events leaves the queue and the redelivery
	// ranges; its row and attempts stay, so the log stays truthful.
	// eraseDeliveriesSQL answers the queues it took deliveries out of
	// (their heads move on), with how many each.
	eraseDeliveriesSQL = `
WITH erased AS (
    UPDATE webhook_deliveries SET state = 4, last_error = 'customer erased', update_time = now()
    WHERE tenant_id = $1 AND event_id = ANY($2) AND state <> 4
    RETURNING webhook_id, resource
)
SELECT webhook_id, resource, count(*) FROM erased GROUP BY webhook_id, resource`
	eraseNotificationsSQL = `
UPDATE notifications SET title = '', body = '', link = ''
WHERE tenant_id = $1 AND (resource = $2 OR resource LIKE $3) AND (title <> '' OR body <> '' OR link <> '')
RETURNING notification_id`
	// E-mails to the customer lose their address; pending ones fail, so
	// no worker sends them (the address would come from the erased record).
	eraseEmailsSQL = `
UPDATE email_messages SET recipient = '', update_time = now(),
    state = CASE WHEN state = 1 THEN 3 ELSE state END,
    last_reply = CASE WHEN state = 1 THEN 'customer erased' ELSE last_reply END
WHERE tenant_id = $1 AND customer_id = $2 AND (recipient <> '' OR state = 1)`
)

// likeEscaper makes a resource name a literal LIKE pattern.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// erase removes, in the transaction that takes the erasure event e in,
// the personal data the service copied of e's customer: the stored bodies
// of the events about it (so no delivery sends them, now or on a
// redelivery), the deliveries of those events (marked erased, never sent),
// the texts of the notifications rules made of them, with those
// notifications' own events and audit rows, and the addresses of the
// e-mails to the customer (pending ones fail). It runs once per erasure
// event, and changes nothing when there is nothing left to erase.
func erase(ctx context.Context, tx pgx.Tx, e delivery.Event) error {
	prefix := likeEscaper.Replace(e.Resource) + "/%"
	rows, err := tx.Query(ctx, eraseEventsSQL, e.TenantID, e.Resource, webhook.CustomerErasedType, prefix)
	if err != nil {
		return fmt.Errorf("erase event bodies: %w", err)
	}
	events, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return fmt.Errorf("erase event bodies: %w", err)
	}
	queues, erased, err := queuesOf(ctx, tx, eraseDeliveriesSQL, e.TenantID, events)
	if err != nil {
		return fmt.Errorf("erase deliveries: %w", err)
	}
	if err := reseat(ctx, tx, e.TenantID.String(), queues); err != nil {
		return err
	}
	if rows, err = tx.Query(ctx, eraseNotificationsSQL, e.TenantID, e.Resource, prefix); err != nil {
		return fmt.Errorf("erase notifications: %w", err)
	}
	notes, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return fmt.Errorf("erase notifications: %w", err)
	}
	var emails int64
	if customer, err := uuid.Parse(strings.TrimPrefix(e.Resource, "customers/")); err == nil {
		tag, err := tx.Exec(ctx, eraseEmailsSQL, e.TenantID, customer)
		if err != nil {
			return fmt.Errorf("erase e-mails: %w", err)
		}
		emails = tag.RowsAffected()
	}
	tenant := e.TenantID.String()
	for _, id := range notes {
		if _, err := outbox.Redact(ctx, tx, tenant, notification.Notification{ID: id}.Resource()); err != nil {
			return fmt.Errorf("redact notification events: %w", err)
		}
	}
	if len(events) == 0 && erased == 0 && len(notes) == 0 && emails == 0 {
		return nil
	}
	return outbox.Record(ctx, tx, outbox.Change{TenantID: tenant, PrincipalID: webhook.DeliveryPrincipal,
		Type: webhook.EventCustomerErased, Resource: e.Resource,
		After: protoconv.CustomerErasure(e.Resource, len(events), erased, len(notes), int(emails))})
}
