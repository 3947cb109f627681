// Package pgtest gives each test its own PostgreSQL database, cloned from a
// template that holds a service's migrations, and connects to it as the
// service's unprivileged role so row-level security is exercised for real.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rapportcrm/rapport/pkg/migrate"
)

// EnvURL names the variable holding a superuser URL of the test cluster.
// `make test` starts a throwaway cluster and sets it.
const EnvURL = "RAPPORT_TEST_DATABASE_URL"

// DB is one test's private database.
type DB struct {
	// App is connected as the service role: RLS applies.
	App *pgxpool.Pool
	// Owner is connected as the cluster superuser, for arranging and
	// inspecting state behind RLS.
	Owner *pgxpool.Pool
	// AppURL connects as the service role, for code that opens its own pool.
	AppURL string
}

// New creates a database from the migrated template of migrations and
// returns pools on it. The database is dropped when the test passes and kept
// (its name logged) when it fails. A missing cluster fails the test: tests
// never skip for want of a database.
func New(t testing.TB, migrations fs.FS, role string) *DB {
	t.Helper()
	admin := os.Getenv(EnvURL)
	if admin == "" {
		t.Fatalf("%s is not set: run the tests with `make test`, which starts a PostgreSQL cluster", EnvURL)
	}
	ctx := context.Background()
	tpl, err := template(ctx, admin, migrations, role)
	if err != nil {
		t.Fatalf("pgtest template: %v", err)
	}
	name := "test_" + randomHex(8)
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, tpl)); err != nil {
		t.Fatalf("pgtest create database: %v", err)
	}
	db := &DB{AppURL: withDB(admin, name, role, rolePassword(role))}
	if db.App, err = pgxpool.New(ctx, db.AppURL); err != nil {
		t.Fatalf("pgtest app pool: %v", err)
	}
	if db.Owner, err = pgxpool.New(ctx, withDB(admin, name, "", "")); err != nil {
		t.Fatalf("pgtest owner pool: %v", err)
	}
	t.Cleanup(func() {
		db.App.Close()
		db.Owner.Close()
		if t.Failed() {
			t.Logf("pgtest: kept database %s for inspection", name)
			return
		}
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("pgtest drop: %v", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, fmt.Sprintf("DROP DATABASE %s WITH (FORCE)", name)); err != nil {
			t.Errorf("pgtest drop %s: %v", name, err)
		}
	})
	return db
}

// template returns the name of the migrated template for migrations,
// creating it under an advisory lock when no test process has yet.
func template(ctx context.Context, admin string, migrations fs.FS, role string) (string, error) {
	sum, err := hashFS(migrations)
	if err != nil {
		return "", err
	}
	name := "tpl_" + role + "_" + sum[:12]
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtext($1))", name); err != nil {
		return "", err
	}
	defer conn.Exec(ctx, "SELECT pg_advisory_unlock(hashtext($1))", name) //nolint:errcheck // the session ends right after
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	// Build under a scratch name and rename at the end, so a half-migrated
	// template left by a crash is never used.
	scratch := "scratch_" + randomHex(8)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+scratch); err != nil {
		return "", err
	}
	quiet := slog.New(slog.DiscardHandler)
	if err := migrate.Up(ctx, withDB(admin, scratch, "", ""), migrations, quiet); err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER ROLE %s LOGIN PASSWORD '%s'", pgx.Identifier{role}.Sanitize(), rolePassword(role))); err != nil {
		return "", fmt.Errorf("enable login for %s: %w", role, err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", scratch, name)); err != nil {
		return "", err
	}
	return name, nil
}

// rolePassword is the fixed password test clusters give a service role.
func rolePassword(role string) string { return "pgtest-" + role }

func hashFS(fsys fs.FS) (string, error) {
	var names []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return err
	})
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	h := sha256.New()
	h.Write([]byte(migrate.Platform()))
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// withDB returns admin with its database (and, when user is set, its credentials) replaced.
func withDB(admin, db, user, password string) string {
	u, err := url.Parse(admin)
	if err != nil {
		return admin
	}
	u.Path = "/" + db
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
