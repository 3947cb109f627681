// Package keyset lists one tenant's rows of a table newest first, a page at a
// time, with keyset pagination on (create_time, id): a page costs the same
// however deep it is, and rows written meanwhile neither repeat nor go
// missing. The caller's filter becomes parameterised SQL through sqlfilter,
// and page tokens are bound to that filter through pagetoken.
package keyset

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Query describes a newest-first list over one table that has tenant_id,
// create_time and a uuid id column. Table, Columns and IDColumn are spliced
// into the SQL, so they must be the store's constants, never caller input.
type Query[T any] struct {
	// Table is the table listed, also used in error messages ("list <Table>").
	Table string
	// Columns is the select list that Scan reads.
	Columns string
	// IDColumn is the uuid key that breaks ties between equal create_times.
	IDColumn string
	// Fields are the fields the filter may name.
	Fields map[string]sqlfilter.Field
	// Scan reads one row of Columns.
	Scan pgx.RowToFunc[T]
	// Key returns a row's create_time and id, the position the next page starts after.
	Key func(T) (time.Time, uuid.UUID)
}

// cursor is the keyset position after the last row of a page. Its JSON names
// are part of every token handed out, so they must not change.
type cursor struct {
	Time time.Time `json:"t"`
	ID   uuid.UUID `json:"i"`
}

// NewestFirst returns up to pageSize (which must be positive) rows of tenant
// that match filter, starting after pageToken, and the token of the next page
// ("" on the last). A filter or token the caller got wrong is a
// validation.Error on "filter" or "page_token"; a token only works with the
// filter it was made for.
func NewestFirst[T any](ctx context.Context, pool *pgxpool.Pool, tenant string, q Query[T], filter, pageToken string, pageSize int) ([]T, string, error) {
	cond, err := sqlfilter.Translate(filter, q.Fields, 1)
	if err != nil {
		var fe *sqlfilter.Error
		if errors.As(err, &fe) {
			return nil, "", validation.Field("filter", "%s", fe.Reason)
		}
		return nil, "", err
	}
	args := append([]any{tenant}, cond.Args...)
	where := "tenant_id = $1 AND " + cond.SQL
	if pageToken != "" {
		var cur cursor
		if err := pagetoken.Decode(pageToken, filter, &cur); err != nil {
			return nil, "", validation.Field("page_token", "is not a token from this query; start again without it")
		}
		args = append(args, cur.Time, cur.ID)
		where += fmt.Sprintf(" AND (create_time, %s) < ($%d, $%d)", q.IDColumn, len(args)-1, len(args))
	}
	// One row more than the page shows whether another page follows.
	args = append(args, pageSize+1)
	sql := fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY create_time DESC, %s DESC LIMIT $%d",
		q.Columns, q.Table, where, q.IDColumn, len(args))
	rows, err := pgdb.Rows(ctx, pool, tenant, sql, args, q.Scan)
	if err != nil {
		return nil, "", fmt.Errorf("list %s: %w", q.Table, err)
	}
	if len(rows) <= pageSize {
		return rows, "", nil
	}
	rows = rows[:pageSize]
	var cur cursor
	cur.Time, cur.ID = q.Key(rows[pageSize-1])
	next, err := pagetoken.Encode(filter, cur)
	if err != nil {
		return nil, "", err
	}
	return rows, next, nil
}
