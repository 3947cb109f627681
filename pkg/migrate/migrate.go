// Package migrate applies a service's embedded goose migrations under a
// PostgreSQL session lock, so parallel migrators wait instead of colliding.
package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/rapportcrm/rapport/pkg/outbox"
)

// platform are the migrations of the tables every service shares: version
// 1 creates the outbox and audit log; later ones are numbered from 90 001,
// above any service's own, so the two series never collide (a database
// that has a service's later migrations applies them out of order).
var platform = []struct {
	version int64
	ddl     string
}{
	{1, outbox.Schema},
	{90001, outbox.EventContextSchema},
}

// Platform is the DDL of the shared tables' migrations, for a caller that
// caches migrated databases by the migrations they ran (pkg/pgtest).
func Platform() string {
	var b strings.Builder
	for _, m := range platform {
		fmt.Fprintf(&b, "%d\x00%s\x00", m.version, m.ddl)
	}
	return b.String()
}

// Up applies every pending migration to the database at url: first the
// platform tables every service shares the shape of (version 1: the outbox
// and audit log), then the service's own migrations (a folder of
// NNNNN_*.sql files at its root, numbered from 00002).
func Up(ctx context.Context, url string, migrations fs.FS, log *slog.Logger) error {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	return UpDB(ctx, db, migrations, log)
}

// UpDB is Up on an open database handle.
func UpDB(ctx context.Context, db *sql.DB, migrations fs.FS, log *slog.Logger) error {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	var shared []*goose.Migration
	for _, m := range platform {
		shared = append(shared, goose.NewGoMigration(m.version, &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, m.ddl)
			return err
		}}, nil))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations,
		goose.WithSessionLocker(locker), goose.WithGoMigrations(shared...),
		// Features land in parallel, so a migration numbered below one a
		// database already has can arrive later; apply it rather than refuse.
		goose.WithAllowOutofOrder(true))
	if err != nil {
		return fmt.Errorf("migration provider: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	for _, r := range results {
		log.InfoContext(ctx, "migration applied", "version", r.Source.Version, "path", r.Source.Path, "duration_ms", r.Duration.Milliseconds())
	}
	return nil
}
