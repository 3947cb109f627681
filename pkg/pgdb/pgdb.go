// Package pgdb opens traced PostgreSQL pools and runs tenant-scoped work on
// them: every statement runs with the tenant in the transaction-local setting
// that the row-level security policies read.
package pgdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/causation"
)

// TenantSetting is the transaction-local setting that RLS policies compare
// tenant_id with: current_setting('rapport.tenant_id', true).
const TenantSetting = "rapport.tenant_id"

// The caller settings PostgreSQL policies read for record-level access
// (who may see which rows within a tenant). They are empty for work the
// service does on its own behalf, such as consuming events.
const (
	PrincipalSetting = "rapport.principal_id"
	RolesSetting     = "rapport.roles"    // comma-separated role names
	TeamsSetting     = "rapport.team_ids" // comma-separated team ids
	PartnerSetting   = "rapport.partner_id"
)

// The settings that annotate a transaction's changes: the W3C traceparent
// of the span it runs in and the causation id of its request
// (pkg/causation). The outbox's columns of the same names default to them,
// so every event records where it came from without each writer passing it.
const (
	TraceParentSetting = "rapport.trace_parent"
	CausationSetting   = "rapport.causation_id"
)

// AnalystSearchPath is the search path of a transaction run as an
// analyst: a service that keeps personal data puts views of its tables that
// blank it in this schema, under the tables' names.
const AnalystSearchPath = "analyst_view, public"

// setTenantSQL sets the tenant and caller settings, and for an analyst-only
// caller ($6) switches to the service role's "_analyst" role where the
// service's migrations created one: that role may not read personal
// columns, so the database itself keeps them from analysts.
const setTenantSQL = `SELECT set_config('` + TenantSetting + `', $1, true), set_config('` + PrincipalSetting + `', $2, true),
set_config('` + RolesSetting + `', $3, true), set_config('` + TeamsSetting + `', $4, true), set_config('` + PartnerSetting + `', $5, true),
set_config('` + TraceParentSetting + `', $7, true), set_config('` + CausationSetting + `', $8, true),
(SELECT set_config('role', r, true) || set_config('search_path', '` + AnalystSearchPath + `', true)
 FROM (SELECT to_regrole(current_user || '_analyst')::text AS r WHERE $6) a WHERE r IS NOT NULL)`

// scopeArgs are the arguments of setTenantSQL: tenant, and the caller of
// ctx when it belongs to that tenant (a service acting for itself in
// another tenant's scope gets no caller settings).
func scopeArgs(ctx context.Context, tenant string) []any {
	trace, cause := traceParent(ctx), causation.From(ctx)
	c, ok := auth.CallerFrom(ctx)
	if !ok || c.TenantID != tenant {
		return []any{tenant, "", "", "", "", false, trace, cause}
	}
	roles := make([]string, len(c.Roles))
	for i, r := range c.Roles {
		roles[i] = string(r)
	}
	return []any{tenant, c.PrincipalID, strings.Join(roles, ","), strings.Join(c.TeamIDs, ","), c.PartnerID, analystOnly(c), trace, cause}
}

// traceParent renders the span of ctx as a W3C traceparent, or "" when
// ctx has none.
func traceParent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return fmt.Sprintf("00-%s-%s-%s", sc.TraceID(), sc.SpanID(), sc.TraceFlags())
}

// analystOnly reports whether c works with records only as an analyst, the
// role that reads them without personal data.
func analystOnly(c auth.Caller) bool {
	return c.HasAny(auth.RoleAnalyst) &&
		!c.HasAny(auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleSupportAgent, auth.RolePartnerUser)
}

// Open connects a pool to url (a libpq URL or keyword string; empty means the
// PG* variables) configured by PoolConfig.
func Open(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := PoolConfig(url, maxConns)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	return pool, nil
}

// OpenAs is Open for a connection URL of a superuser, with every connection
// switched to role as it connects: a benchmark that stands in for a service
// then works under that service role's grants and row-level security
// without knowing its password.
func OpenAs(ctx context.Context, url, role string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := PoolConfig(url, maxConns)
	if err != nil {
		return nil, err
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "SET ROLE "+pgx.Identifier{role}.Sanitize())
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	return pool, nil
}

// PoolConfig is the pool configuration of every service: one span per SQL
// statement (statement parameters are never recorded, as they may hold
// personal data) and no JIT. Benchmarks that stand in for a service start
// from it too.
func PoolConfig(url string, maxConns int32) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	// No JIT: these are short transactional statements, and when a
	// statement's estimate passes JIT's cost threshold (a trigram lookup in
	// a large tenant, a common word in search) compiling it took hundreds of
	// milliseconds, ten to twenty times the statement itself.
	cfg.ConnConfig.RuntimeParams["jit"] = "off"
	cfg.ConnConfig.Tracer = statementTracer(otelpgx.NewTracer(otelpgx.WithTrimSQLInSpanName(), otelpgx.WithDisableConnectionDetailsInAttributes()))
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	return cfg, nil
}

// statementTracer is t without its pool-acquire spans: pgxpool traces
// acquisition only when the tracer has TraceAcquireStart, and that span,
// one more per statement, cost some 4 % of a primary-key read's CPU while
// saying nothing the statement's own span does not (its start is the wait).
func statementTracer(t *otelpgx.Tracer) pgx.QueryTracer {
	return struct {
		pgx.QueryTracer
		pgx.BatchTracer
		pgx.CopyFromTracer
		pgx.PrepareTracer
		pgx.ConnectTracer
	}{t, t, t, t, t}
}

// maxAttempts bounds the retries of a transaction that lost a serialization
// conflict or a deadlock.
const maxAttempts = 5

// InTx runs fn in a transaction scoped to tenant, committing when fn returns
// nil. Serialization failures (40001) and deadlocks (40P01) restart the whole
// transaction with a short backoff, so fn must be safe to run again.
func InTx(ctx context.Context, pool *pgxpool.Pool, tenant string, fn func(pgx.Tx) error) error {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, setTenantSQL, scopeArgs(ctx, tenant)...); err != nil {
				return fmt.Errorf("set tenant: %w", err)
			}
			return fn(tx)
		})
		if !retryable(err) {
			return forbidden(err)
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(time.Duration(attempt*attempt) * 5 * time.Millisecond):
		}
	}
	return fmt.Errorf("gave up after %d attempts: %w", maxAttempts, err)
}

// forbidden turns a write that a row-level-security policy refused (the
// caller may not own or see the row it tried to write) into
// auth.ErrForbidden; other errors pass unchanged.
func forbidden(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42501" && strings.Contains(pe.Message, "row-level security") {
		return fmt.Errorf("%w: %s", auth.ErrForbidden, pe.Message)
	}
	return err
}

func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// Rows runs one read-only query scoped to tenant and collects its rows. The
// tenant setting and the query travel in one pipelined round trip, inside the
// implicit transaction the extended protocol gives a batch.
func Rows[T any](ctx context.Context, pool *pgxpool.Pool, tenant, sql string, args []any, to pgx.RowToFunc[T]) ([]T, error) {
	return RowsWith(ctx, pool, tenant, nil, sql, args, to)
}

// Setting is a run-time parameter (GUC) and the value one query needs.
type Setting struct{ Name, Value string }

const setLocalSQL = `SELECT set_config($1, $2, true)`

// RowsWith is Rows with further settings made local to the query's implicit
// transaction, in the same round trip: they never leak to the next user of
// the pooled connection.
func RowsWith[T any](ctx context.Context, pool *pgxpool.Pool, tenant string, settings []Setting, sql string, args []any, to pgx.RowToFunc[T]) ([]T, error) {
	b := &pgx.Batch{}
	b.Queue(setTenantSQL, scopeArgs(ctx, tenant)...)
	for _, s := range settings {
		b.Queue(setLocalSQL, s.Name, s.Value)
	}
	b.Queue(sql, args...)
	br := pool.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return nil, fmt.Errorf("set tenant: %w", err)
	}
	for _, s := range settings {
		if _, err := br.Exec(); err != nil {
			return nil, fmt.Errorf("set %s: %w", s.Name, err)
		}
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, to)
	if err != nil {
		return nil, err
	}
	return out, br.Close()
}

// Row is Rows for a query that yields exactly one row; none is pgx.ErrNoRows.
func Row[T any](ctx context.Context, pool *pgxpool.Pool, tenant, sql string, args []any, to pgx.RowToFunc[T]) (T, error) {
	rows, err := Rows(ctx, pool, tenant, sql, args, to)
	if err != nil {
		var zero T
		return zero, err
	}
	if len(rows) == 0 {
		var zero T
		return zero, pgx.ErrNoRows
	}
	return rows[0], nil
}

// Constraint returns the constraint a unique (23505) or foreign-key (23503)
// violation broke, and which of the two codes it was.
func Constraint(err error) (code, constraint string, ok bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "23503") {
		return pe.Code, pe.ConstraintName, true
	}
	return "", "", false
}
