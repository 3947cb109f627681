// Package outbox records a change's domain event and audit row in the
// transaction that makes the change, and streams a tenant's events in a
// stable order that a consumer can resume from.
//
// Order. Events are read in (transaction id, sequence) order, and only from
// transactions older than the oldest one still running, so nothing can later
// appear before a cursor already handed out: resuming after a cursor loses
// nothing. Changes to one resource keep their order as long as a transaction
// writes (and so locks) the resource's row before anything else, which every
// store here does. A long-running transaction holds the stream back until it
// ends.
//
// The tables (Schema) are created by pkg/migrate as every service's first
// migration, with row-level security on tenant_id.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/rapportcrm/rapport/pkg/pgdb"
)

// Schema is the DDL of the outbox and audit tables.
const Schema = `
CREATE TABLE outbox (
    tenant_id    uuid        NOT NULL,
    txid         xid8        NOT NULL DEFAULT pg_current_xact_id(),
    seq          bigint      GENERATED ALWAYS AS IDENTITY,
    event_id     uuid        NOT NULL,
    type         text        NOT NULL,
    resource     text        NOT NULL,
    principal_id text        NOT NULL,
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    payload_type text        NOT NULL,
    payload      bytea       NOT NULL,
    PRIMARY KEY (tenant_id, txid, seq)
);
CREATE TABLE audit_log (
    tenant_id    uuid        NOT NULL,
    audit_id     uuid        NOT NULL,
    principal_id text        NOT NULL,
    action       text        NOT NULL,
    resource     text        NOT NULL,
    before       jsonb,
    after        jsonb,
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, audit_id)
);
CREATE INDEX audit_log_resource ON audit_log (tenant_id, resource, occurred_at);
ALTER TABLE outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON outbox
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);`

// Change is one domain change: the event it emits and the audit row it leaves.
type Change struct {
	TenantID    string
	PrincipalID string
	// Type is the event type, for example "customer.created"; the part after
	// the last dot is the audit action.
	Type string
	// Resource is the resource name, for example "customers/0190…".
	Resource string
	// Before and After are the resource around the change; Before is nil on
	// create. After is also the event's payload.
	Before, After proto.Message
}

const insertEventSQL = `
INSERT INTO outbox (tenant_id, event_id, type, resource, principal_id, payload_type, payload)
VALUES ($1, $2, $3, $4, $5, $6, $7)`

const insertAuditSQL = `
INSERT INTO audit_log (tenant_id, audit_id, principal_id, action, resource, before, after)
VALUES ($1, $2, $3, $4, $5, $6, $7)`

// Record writes c's event and audit row in tx.
func Record(ctx context.Context, tx pgx.Tx, c Change) error {
	b := &pgx.Batch{}
	if err := Queue(b, c); err != nil {
		return err
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("record %s: %w", c.Type, err)
	}
	return nil
}

// Queue adds c's event and audit row to b, so that a bulk writer records
// many changes in one round trip; sending b in the change's transaction
// records them.
func Queue(b *pgx.Batch, c Change) error {
	payload, err := proto.Marshal(c.After)
	if err != nil {
		return fmt.Errorf("marshal event payload: %w", err)
	}
	before, err := auditJSON(c.Before)
	if err != nil {
		return err
	}
	after, err := auditJSON(c.After)
	if err != nil {
		return err
	}
	b.Queue(insertEventSQL, c.TenantID, uuid.Must(uuid.NewV7()), c.Type, c.Resource, c.PrincipalID,
		string(c.After.ProtoReflect().Descriptor().FullName()), payload)
	action := c.Type[strings.LastIndexByte(c.Type, '.')+1:]
	b.Queue(insertAuditSQL, c.TenantID, uuid.Must(uuid.NewV7()), c.PrincipalID, action, c.Resource, before, after)
	return nil
}

func auditJSON(m proto.Message) ([]byte, error) {
	if m == nil {
		return nil, nil
	}
	b, err := protojson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("marshal audit row: %w", err)
	}
	return b, nil
}

// Event is one stored event.
type Event struct {
	Cursor      string
	EventID     uuid.UUID
	TenantID    uuid.UUID
	Type        string
	Resource    string
	PrincipalID string
	Time        time.Time
	PayloadType string
	Payload     []byte
}

// ErrBadCursor means a cursor was not made by this package.
var ErrBadCursor = errors.New("malformed cursor")

type position struct{ txid, seq uint64 }

func parseCursor(s string) (position, error) {
	if s == "" {
		return position{}, nil
	}
	a, b, ok := strings.Cut(s, ".")
	tx, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return position{}, ErrBadCursor
	}
	return position{tx, seq}, nil
}

// ValidCursor reports whether s can be passed to Watch.
func ValidCursor(s string) bool {
	_, err := parseCursor(s)
	return err == nil
}

// batchSize bounds one read of the outbox.
const batchSize = 500

const readSQL = `
SELECT txid::text::bigint, seq, event_id, tenant_id, type, resource, principal_id, occurred_at, payload_type, payload
FROM outbox
WHERE (txid, seq) > ($1::text::xid8, $2)
  AND txid < pg_snapshot_xmin(pg_current_snapshot())
  AND (cardinality($3::text[]) = 0 OR type = ANY($3))
ORDER BY txid, seq
LIMIT 500`

// Watch sends tenant's events after cursor to send, in order, then keeps
// polling every poll for new ones until ctx ends or send fails.
func Watch(ctx context.Context, pool *pgxpool.Pool, tenant, cursor string, types []string, poll time.Duration, send func(Event) error) error {
	pos, err := parseCursor(cursor)
	if err != nil {
		return err
	}
	if types == nil {
		types = []string{}
	}
	for {
		events, err := pgdb.Rows(ctx, pool, tenant, readSQL, []any{strconv.FormatUint(pos.txid, 10), pos.seq, types}, scanEvent)
		if err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		for _, e := range events {
			if err := send(e.Event); err != nil {
				return err
			}
			pos = e.pos
		}
		if len(events) == batchSize {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

type stored struct {
	Event
	pos position
}

func scanEvent(row pgx.CollectableRow) (stored, error) {
	var s stored
	var tx, seq int64
	err := row.Scan(&tx, &seq, &s.EventID, &s.TenantID, &s.Type, &s.Resource, &s.PrincipalID, &s.Time, &s.PayloadType, &s.Payload)
	s.pos = position{uint64(tx), uint64(seq)}
	s.Cursor = fmt.Sprintf("%d.%d", tx, seq)
	return s, err
}
