package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
)

// TestAnalystsCannotReadPersonalColumns checks the database, not the Go
// code, keeps personal data from analysts: in an analyst's transaction the
// customers and contact points it reads are blanked views, and a query that
// names the tables themselves for a personal column is refused.
func TestAnalystsCannotReadPersonalColumns(t *testing.T) {
	t.Parallel()
	w := newWorld(t, time.Hour)
	person := w.person(t, "Ada Lovelace", "ada@example.com", "+441632960961")
	org, err := w.customers.Create(t.Context(), w.admin, customer.Customer{Kind: customer.KindOrganization, DisplayName: "Analytical Engines"}, "")
	if err != nil {
		t.Fatal(err)
	}
	analyst := w.admin
	analyst.Roles = []auth.Role{auth.RoleAnalyst}
	read := func(c auth.Caller, sql string, args ...any) (string, error) {
		var s string
		err := pgdb.InTx(auth.WithCaller(t.Context(), c), w.db.App, c.TenantID, func(tx pgx.Tx) error {
			return tx.QueryRow(context.Background(), sql, args...).Scan(&s)
		})
		return s, err
	}
	for _, q := range []struct{ name, sql, want string }{
		{"person's name", `SELECT display_name FROM customers WHERE customer_id = $1`, ""},
		{"e-mail", `SELECT email FROM customers WHERE customer_id = $1`, ""},
		{"phone", `SELECT phone FROM customers WHERE customer_id = $1`, ""},
		{"contact point", `SELECT string_agg(value, '') FROM contact_points WHERE customer_id = $1`, ""},
		{"lifecycle", `SELECT lifecycle_stage::text FROM customers WHERE customer_id = $1`, "1"},
	} {
		if got, err := read(analyst, q.sql, person.ID); err != nil || got != q.want {
			t.Errorf("analyst reads %s = %q, %v; want %q", q.name, got, err, q.want)
		}
	}
	if got, err := read(analyst, `SELECT display_name FROM customers WHERE customer_id = $1`, org.ID); err != nil || got != "Analytical Engines" {
		t.Errorf("analyst reads an organisation's name = %q, %v; want it", got, err)
	}
	for _, sql := range []string{
		`SELECT email FROM public.customers WHERE customer_id = $1`,
		`SELECT value FROM public.contact_points WHERE customer_id = $1 LIMIT 1`,
		`SELECT after::text FROM audit_log WHERE resource = 'customers/' || $1 LIMIT 1`,
		`SELECT names FROM customer_search WHERE customer_id = $1`,
	} {
		var pe *pgconn.PgError
		if _, err := read(analyst, sql, person.ID); !errors.As(err, &pe) || pe.Code != "42501" {
			t.Errorf("analyst runs %q: %v; want permission denied", sql, err)
		}
	}
	if got, err := read(w.admin, `SELECT email FROM customers WHERE customer_id = $1`, person.ID); err != nil || got != "ada@example.com" {
		t.Errorf("admin reads the e-mail = %q, %v; want it", got, err)
	}
	both := analyst
	both.Roles = []auth.Role{auth.RoleAnalyst, auth.RoleSupportAgent}
	if got, err := read(both, `SELECT email FROM customers WHERE customer_id = $1`, person.ID); err != nil || got != "ada@example.com" {
		t.Errorf("an analyst who is also a support agent reads the e-mail = %q, %v; want it", got, err)
	}
}
