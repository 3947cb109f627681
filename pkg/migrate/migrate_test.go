package migrate_test

import (
	"io"
	"log/slog"
	"testing"
	"testing/fstest"

	"github.com/rapportcrm/rapport/pkg/migrate"
	"github.com/rapportcrm/rapport/pkg/pgtest"
)

func sqlFile(stmt string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("-- +goose Up\n" + stmt + "\n")}
}

func TestAppliesMigrationsThatArriveOutOfOrder(t *testing.T) {
	t.Parallel()
	first := fstest.MapFS{
		"00002_a.sql": &fstest.MapFile{Data: []byte(`-- +goose Up
-- +goose StatementBegin
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rapport_migrate_test') THEN CREATE ROLE rapport_migrate_test NOLOGIN; END IF;
END $$;
-- +goose StatementEnd
CREATE TABLE a (x int);
`)},
		"00004_c.sql": sqlFile("CREATE TABLE c (x int);"),
	}
	db := pgtest.New(t, first, "rapport_migrate_test")
	later := fstest.MapFS{"00003_b.sql": sqlFile("CREATE TABLE b (x int);")}
	for name, f := range first {
		later[name] = f
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	if err := migrate.Up(t.Context(), db.Owner.Config().ConnString(), later, log); err != nil {
		t.Fatalf("Up with a migration below the latest applied: %v", err)
	}
	var exists bool
	if err := db.Owner.QueryRow(t.Context(), "SELECT to_regclass('b') IS NOT NULL").Scan(&exists); err != nil || !exists {
		t.Fatalf("table b exists = %v (%v), want true", exists, err)
	}
}
