package outbox_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/rapportcrm/rapport/pkg/causation"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/pgtest"
)

// migrations give the test role access to the platform tables.
var migrations = fstest.MapFS{"00002_role.sql": {Data: []byte(`-- +goose Up
-- +goose StatementBegin
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rapport_pkgtest') THEN CREATE ROLE rapport_pkgtest NOLOGIN; END IF;
END $$;
-- +goose StatementEnd
CREATE TABLE items (tenant_id uuid NOT NULL, id int NOT NULL, n int NOT NULL DEFAULT 0, PRIMARY KEY (tenant_id, id));
GRANT SELECT, INSERT, UPDATE ON items, outbox, audit_log TO rapport_pkgtest;
-- +goose Down
DROP TABLE items;
`)}}

func record(ctx context.Context, tx pgx.Tx, tenant string, i int) error {
	return outbox.Record(ctx, tx, outbox.Change{TenantID: tenant, PrincipalID: "p", Type: "item.created",
		Resource: fmt.Sprintf("items/%d", i), After: wrapperspb.Int64(int64(i))})
}

// TestWatchSeesEveryEventOnce writes events from many concurrent
// transactions while a watcher follows, and checks the watcher gets each
// exactly once, tenant-scoped, and can resume from any cursor.
func TestWatchSeesEveryEventOnce(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, migrations, "rapport_pkgtest")
	tenant, other := uuid.NewString(), uuid.NewString()
	const writers, each = 8, 25
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	var mu sync.Mutex
	var got []outbox.Event
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan error, 1)
	go func() {
		watched <- outbox.Watch(watchCtx, db.App, tenant, "", nil, 10*time.Millisecond, func(e outbox.Event) error {
			mu.Lock()
			got = append(got, e)
			mu.Unlock()
			return nil
		})
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				n := w*each + i
				for _, tn := range []string{tenant, other} {
					err := pgdb.InTx(ctx, db.App, tn, func(tx pgx.Tx) error {
						time.Sleep(time.Duration(n%3) * time.Millisecond) // vary commit order against id order
						return record(ctx, tx, tn, n)
					})
					if err != nil {
						t.Errorf("write %d: %v", n, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= writers*each || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopWatch()
	<-watched
	seen := map[string]bool{}
	for _, e := range got {
		if e.TenantID.String() != tenant {
			t.Fatalf("watcher of %s got an event of %s", tenant, e.TenantID)
		}
		if seen[e.Resource] {
			t.Fatalf("event for %s delivered twice", e.Resource)
		}
		seen[e.Resource] = true
	}
	if len(seen) != writers*each {
		t.Fatalf("watcher saw %d distinct events, want %d", len(seen), writers*each)
	}
	// Resuming from the middle yields exactly the rest, in the same order.
	mid := got[len(got)/2]
	var rest []outbox.Event
	rctx, rcancel := context.WithCancel(ctx)
	_ = outbox.Watch(rctx, db.App, tenant, mid.Cursor, nil, 10*time.Millisecond, func(e outbox.Event) error {
		rest = append(rest, e)
		if len(rest) == len(got)-len(got)/2-1 {
			rcancel()
		}
		return nil
	})
	rcancel()
	for i, e := range rest {
		if e.EventID != got[len(got)/2+1+i].EventID {
			t.Fatalf("resumed event %d = %s, want %s", i, e.EventID, got[len(got)/2+1+i].EventID)
		}
	}
	var audits int
	if err := db.Owner.QueryRow(ctx, "SELECT count(*) FROM audit_log").Scan(&audits); err != nil || audits != 2*writers*each {
		t.Fatalf("audit rows = %d (%v), want %d", audits, err, 2*writers*each)
	}
}

func TestRLSRejectsForeignTenantWrites(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, migrations, "rapport_pkgtest")
	err := pgdb.InTx(t.Context(), db.App, uuid.NewString(), func(tx pgx.Tx) error {
		return record(t.Context(), tx, uuid.NewString(), 1) // a tenant other than the transaction's
	})
	if err == nil {
		t.Fatal("writing another tenant's event succeeded; RLS should refuse it")
	}
}

func TestInTxRetriesDeadlocks(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, migrations, "rapport_pkgtest")
	tenant := uuid.NewString()
	ctx := t.Context()
	if err := pgdb.InTx(ctx, db.App, tenant, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO items (tenant_id, id) VALUES ($1, 1), ($1, 2)", tenant)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var barrier sync.WaitGroup
	barrier.Add(2)
	bump := func(first, second int) error {
		tries := 0
		return pgdb.InTx(ctx, db.App, tenant, func(tx pgx.Tx) error {
			tries++
			if _, err := tx.Exec(ctx, "UPDATE items SET n = n + 1 WHERE tenant_id = $1 AND id = $2", tenant, first); err != nil {
				return err
			}
			if tries == 1 {
				barrier.Done()
				barrier.Wait() // both hold their first lock: a deadlock follows
			}
			_, err := tx.Exec(ctx, "UPDATE items SET n = n + 1 WHERE tenant_id = $1 AND id = $2", tenant, second)
			return err
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- bump(1, 2) }()
	go func() { errs <- bump(2, 1) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("InTx = %v, want the deadlock retried away", err)
		}
	}
	var total int
	if err := db.Owner.QueryRow(ctx, "SELECT sum(n) FROM items").Scan(&total); err != nil || total != 4 {
		t.Fatalf("sum = %d (%v), want 4: both transactions applied exactly once", total, err)
	}
}

// TestBulkKeepsOrderAndAudit writes many changes with one Bulk and checks
// the stream returns them in the order added, each with its audit row, and
// that an empty Bulk writes nothing.
func TestBulkKeepsOrderAndAudit(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, migrations, "rapport_pkgtest")
	tenant := uuid.NewString()
	ctx := t.Context()
	const n = 300
	err := pgdb.InTx(ctx, db.App, tenant, func(tx pgx.Tx) error {
		var b outbox.Bulk
		if err := b.Write(ctx, tx); err != nil {
			return err
		}
		for i := range n {
			c := outbox.Change{TenantID: tenant, PrincipalID: "p", Type: "item.updated",
				Resource: fmt.Sprintf("items/%d", n-i), After: wrapperspb.Int64(int64(n - i))}
			if i%2 == 0 {
				c.Before = wrapperspb.Int64(int64(i))
			}
			if err := b.Add(c); err != nil {
				return err
			}
		}
		return b.Write(ctx, tx)
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	wctx, cancel := context.WithCancel(ctx)
	_ = outbox.Watch(wctx, db.App, tenant, "", nil, 10*time.Millisecond, func(e outbox.Event) error {
		got = append(got, e.Resource)
		if len(got) == n {
			cancel()
		}
		return nil
	})
	cancel()
	if len(got) != n {
		t.Fatalf("watched %d events, want %d", len(got), n)
	}
	for i, r := range got {
		if want := fmt.Sprintf("items/%d", n-i); r != want {
			t.Fatalf("event %d is for %s, want %s", i, r, want)
		}
	}
	var audits, withBefore int
	if err := db.Owner.QueryRow(ctx, "SELECT count(*), count(before) FROM audit_log WHERE action = 'updated'").Scan(&audits, &withBefore); err != nil {
		t.Fatal(err)
	}
	if audits != n || withBefore != n/2 {
		t.Fatalf("audit rows = %d (%d with before), want %d (%d)", audits, withBefore, n, n/2)
	}
}

// TestEventsCarryTraceAndCausation checks that an event records the span
// and the causation id of the request whose transaction wrote it, with
// nothing passed by the writer, and that an untraced change records none.
func TestEventsCarryTraceAndCausation(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, migrations, "rapport_pkgtest")
	tenant := uuid.NewString()
	traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	spanID, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	traced := trace.ContextWithSpanContext(causation.With(t.Context(), "action-7"),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled}))
	for i, ctx := range []context.Context{traced, t.Context()} {
		if err := pgdb.InTx(ctx, db.App, tenant, func(tx pgx.Tx) error { return record(ctx, tx, tenant, i) }); err != nil {
			t.Fatal(err)
		}
	}
	var got []outbox.Event
	wctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_ = outbox.Watch(wctx, db.App, tenant, "", nil, 10*time.Millisecond, func(e outbox.Event) error {
		if got = append(got, e); len(got) == 2 {
			cancel()
		}
		return nil
	})
	if len(got) != 2 {
		t.Fatalf("watched %d events, want 2", len(got))
	}
	if got[0].TraceParent != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" || got[0].CausationID != "action-7" {
		t.Fatalf("traced event carries %q, %q; want its request's traceparent and causation id", got[0].TraceParent, got[0].CausationID)
	}
	if got[1].TraceParent != "" || got[1].CausationID != "" {
		t.Fatalf("untraced event carries %q, %q; want none", got[1].TraceParent, got[1].CausationID)
	}
}
