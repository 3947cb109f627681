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

// EventContextSchema records with each event where it came from: the W3C
// traceparent of the transaction's span and its request's causation id
// (pkg/causation). Both default to settings pkg/pgdb makes at the start of
// every transaction, so no writer passes them.
const EventContextSchema = `
ALTER TABLE outbox
    ADD COLUMN trace_parent text NOT NULL DEFAULT coalesce(current_setting('rapport.trace_parent', true), ''),
    ADD COLUMN causation_id text NOT NULL DEFAULT coalesce(current_setting('rapport.causation_id', true), '')`

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

// Queue adds c's event and audit row to b, for a writer that sends other
// statements of the same change in one round trip; sending b in the
// change's transaction records them.
func Queue(b *pgx.Batch, c Change) error {
	e, err := encode(c)
	if err != nil {
		return err
	}
	b.Queue(insertEventSQL, c.TenantID, uuid.Must(uuid.NewV7()), c.Type, c.Resource, c.PrincipalID, e.payloadType, e.payload)
	b.Queue(insertAuditSQL, c.TenantID, uuid.Must(uuid.NewV7()), c.PrincipalID, e.action, c.Resource, e.before, e.after)
	return nil
}

// Bulk collects many changes' events and audit rows and writes them with
// two statements, for writers that change thousands of resources in one
// transaction (imports): one statement per row cost a parse, bind and
// execute each, which outweighed writing the rows themselves. The events
// keep the order in which they were added.
type Bulk struct {
	tenants, events, audits, types, actions, resources, principals, payloadTypes []string
	payloads                                                                     [][]byte
	befores, afters                                                              []*string
}

// Add adds c's event and audit row.
func (b *Bulk) Add(c Change) error {
	e, err := encode(c)
	if err != nil {
		return err
	}
	b.tenants = append(b.tenants, c.TenantID)
	b.events = append(b.events, uuid.Must(uuid.NewV7()).String())
	b.audits = append(b.audits, uuid.Must(uuid.NewV7()).String())
	b.types = append(b.types, c.Type)
	b.actions = append(b.actions, e.action)
	b.resources = append(b.resources, c.Resource)
	b.principals = append(b.principals, c.PrincipalID)
	b.payloadTypes = append(b.payloadTypes, e.payloadType)
	b.payloads = append(b.payloads, e.payload)
	b.befores = append(b.befores, nullable(e.before))
	b.afters = append(b.afters, nullable(e.after))
	return nil
}

// Len is the number of changes added.
func (b *Bulk) Len() int { return len(b.events) }

const (
	bulkEventsSQL = `
INSERT INTO outbox (tenant_id, event_id, type, resource, principal_id, payload_type, payload)
SELECT r.t::uuid, r.e::uuid, r.ty, r.re, r.pr, r.pt, r.pa
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[])
    WITH ORDINALITY AS r(t, e, ty, re, pr, pt, pa, n)
ORDER BY r.n`
	bulkAuditSQL = `
INSERT INTO audit_log (tenant_id, audit_id, principal_id, action, resource, before, after)
SELECT r.t::uuid, r.a::uuid, r.pr, r.ac, r.re, r.b::jsonb, r.af::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
    AS r(t, a, pr, ac, re, b, af)`
)

// Write records every change added in tx and empties b.
func (b *Bulk) Write(ctx context.Context, tx pgx.Tx) error {
	if b.Len() == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, bulkEventsSQL, b.tenants, b.events, b.types, b.resources, b.principals, b.payloadTypes, b.payloads); err != nil {
		return fmt.Errorf("record %d events: %w", b.Len(), err)
	}
	if _, err := tx.Exec(ctx, bulkAuditSQL, b.tenants, b.audits, b.principals, b.actions, b.resources, b.befores, b.afters); err != nil {
		return fmt.Errorf("record %d audit rows: %w", b.Len(), err)
	}
	*b = Bulk{}
	return nil
}

func nullable(doc []byte) *string {
	if doc == nil {
		return nil
	}
	s := string(doc)
	return &s
}

// encoded is a change as its event and audit row store it.
type encoded struct {
	payloadType, action string
	payload             []byte
	before, after       []byte
}

func encode(c Change) (encoded, error) {
	e := encoded{
		payloadType: string(c.After.ProtoReflect().Descriptor().FullName()),
		action:      c.Type[strings.LastIndexByte(c.Type, '.')+1:],
	}
	var err error
	if e.payload, err = proto.Marshal(c.After); err != nil {
		return e, fmt.Errorf("marshal event payload: %w", err)
	}
	if e.before, err = auditJSON(c.Before); err != nil {
		return e, err
	}
	e.after, err = auditJSON(c.After)
	return e, err
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
	// TraceParent is the W3C traceparent of the change's transaction, or "".
	TraceParent string
	// CausationID is the causation id of the change's request, or "".
	CausationID string
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
SELECT txid::text::bigint, seq, event_id, tenant_id, type, resource, principal_id, occurred_at, payload_type, payload,
    trace_parent, causation_id
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
	err := row.Scan(&tx, &seq, &s.EventID, &s.TenantID, &s.Type, &s.Resource, &s.PrincipalID, &s.Time, &s.PayloadType, &s.Payload, &s.TraceParent, &s.CausationID)
	s.pos = position{uint64(tx), uint64(seq)}
	s.Cursor = fmt.Sprintf("%d.%d", tx, seq)
	return s, err
}
