package pgdb

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// InsertOnce makes a create idempotent. insertSQL is an
// INSERT … ON CONFLICT (…) DO NOTHING RETURNING statement; when it returns a
// row, that row is the result and created is true. When the conflict skipped
// it, an earlier request with the same key won, and the result is the row
// existingSQL (a SELECT of that earlier row) returns, with created false, so
// the caller records no second change.
func InsertOnce[T any](ctx context.Context, tx pgx.Tx, insertSQL string, insertArgs []any, existingSQL string, existingArgs []any, to pgx.RowToFunc[T]) (row T, created bool, err error) {
	rows, err := tx.Query(ctx, insertSQL, insertArgs...)
	if err != nil {
		return row, false, err
	}
	row, err = pgx.CollectExactlyOneRow(rows, to)
	if !errors.Is(err, pgx.ErrNoRows) {
		return row, err == nil, err
	}
	if rows, err = tx.Query(ctx, existingSQL, existingArgs...); err != nil {
		return row, false, err
	}
	row, err = pgx.CollectExactlyOneRow(rows, to)
	return row, false, err
}
