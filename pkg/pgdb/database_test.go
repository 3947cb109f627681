package pgdb_test

import (
	"context"
	"os"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/pgtest"
)

// TestEnsureDatabase creates a database once and finds it the second time.
func TestEnsureDatabase(t *testing.T) {
	t.Parallel()
	admin := os.Getenv(pgtest.EnvURL)
	if admin == "" {
		t.Fatalf("%s is not set: run the tests with `make test`", pgtest.EnvURL)
	}
	name := "ensure_" + uuid.NewString()[:8]
	first, err := pgdb.EnsureDatabase(t.Context(), admin, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// t.Context() has ended by the time cleanups run.
		ctx := context.Background()
		if conn, err := pgx.Connect(ctx, admin); err == nil {
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
			_ = conn.Close(ctx)
		}
	})
	second, err := pgdb.EnsureDatabase(t.Context(), admin, name)
	if err != nil || second != first {
		t.Fatalf("second EnsureDatabase = %q, %v; want %q", second, err, first)
	}
	conn, err := pgx.Connect(t.Context(), first)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var db string
	if err := conn.QueryRow(t.Context(), "SELECT current_database()").Scan(&db); err != nil || db != name {
		t.Fatalf("connected to %q (%v), want %q", db, err, name)
	}
}
