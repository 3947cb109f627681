package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// sortKey is one order a list supports: keyset pagination on (expr, id).
// The key travels in page tokens as text and is cast back to its SQL type,
// so times, dates and integers share one cursor shape.
type sortKey[T any] struct {
	// expr is the SQL sort expression, a store constant (an index exists on it).
	expr string
	// sqlType is what the key's text form is cast to, e.g. "timestamptz".
	sqlType string
	desc    bool
	// key renders a row's value of expr as text PostgreSQL parses as sqlType.
	key func(T) string
}

// listing describes one tenant table a list RPC pages through.
type listing[T any] struct {
	table, columns, idColumn string
	// fields are the fields the filter may name; nil allows no filter.
	fields map[string]sqlfilter.Field
	scan   pgx.RowToFunc[T]
	id     func(T) uuid.UUID
}

// listCursor is the keyset position after a page's last row. Its JSON names
// are in every token handed out, so they must not change.
type listCursor struct {
	Key string    `json:"k"`
	ID  uuid.UUID `json:"i"`
}

// listRequest is one page request over a listing.
type listRequest struct {
	filter, pageToken string
	pageSize          int
	// where holds extra conditions (store constants) ANDed to the filter, with
	// args numbered after the tenant ($1).
	where []string
	args  []any
	// query identifies filter, order and options, binding the page token to them.
	query string
}

// page returns up to r.pageSize rows in order ord after r.pageToken, and
// the next page's token ("" on the last page).
func (l listing[T]) page(ctx context.Context, pool *pgxpool.Pool, tenant string, ord sortKey[T], r listRequest) ([]T, string, error) {
	args := append([]any{tenant}, r.args...)
	conds := append([]string{"tenant_id = $1"}, r.where...)
	cond, err := sqlfilter.Translate(r.filter, l.fields, len(args))
	if err != nil {
		var fe *sqlfilter.Error
		if errors.As(err, &fe) {
			return nil, "", validation.Field("filter", "%s", fe.Reason)
		}
		return nil, "", err
	}
	args = append(args, cond.Args...)
	conds = append(conds, cond.SQL)
	cmp, dir := ">", "ASC"
	if ord.desc {
		cmp, dir = "<", "DESC"
	}
	if r.pageToken != "" {
		var cur listCursor
		if err := pagetoken.Decode(r.pageToken, r.query, &cur); err != nil {
			return nil, "", validation.Field("page_token", "is not a token from this query; start again without it")
		}
		args = append(args, cur.Key, cur.ID)
		conds = append(conds, fmt.Sprintf("(%s, %s) %s ($%d::text::%s, $%d)", ord.expr, l.idColumn, cmp, len(args)-1, ord.sqlType, len(args)))
	}
	// One row more than the page shows whether another page follows.
	args = append(args, r.pageSize+1)
	sql := fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s %s, %s %s LIMIT $%d",
		l.columns, l.table, strings.Join(conds, " AND "), ord.expr, dir, l.idColumn, dir, len(args))
	rows, err := pgdb.Rows(ctx, pool, tenant, sql, args, l.scan)
	if err != nil {
		return nil, "", fmt.Errorf("list %s: %w", l.table, err)
	}
	if len(rows) <= r.pageSize {
		return rows, "", nil
	}
	rows = rows[:r.pageSize]
	last := rows[r.pageSize-1]
	next, err := pagetoken.Encode(r.query, listCursor{Key: ord.key(last), ID: l.id(last)})
	if err != nil {
		return nil, "", err
	}
	return rows, next, nil
}
