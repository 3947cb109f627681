package postgres_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/postgres"
	"github.com/rapportcrm/rapport/services/customer/internal/relationship"
)

// TestRelationshipTablesEnforceRLS checks that the service role neither sees
// nor writes another tenant's rows, whatever the Go code asks for.
func TestRelationshipTablesEnforceRLS(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	mine, theirs := uuid.NewString(), uuid.NewString()
	// The owner arranges one row of theirs in every table, behind RLS.
	c := uuid.New()
	setup := []string{
		`INSERT INTO customers (tenant_id, customer_id, kind, display_name, lifecycle_stage) VALUES ($1, $2, 1, 'x', 1)`,
		`INSERT INTO interactions (tenant_id, interaction_id, customer_id, kind, direction, occur_time, author_id) VALUES ($1, $2, $2, 1, 1, now(), 'a')`,
		`INSERT INTO follow_up_plans (tenant_id, follow_up_plan_id, display_name, event_source, event_type, delay_ms, title, assignee_rule, active) VALUES ($1, $2, 'p', 2, 'ticket.created', 0, 't', 2, true)`,
		`INSERT INTO follow_ups (tenant_id, follow_up_id, customer_id, title, due_time, status) VALUES ($1, $2, $2, 't', now(), 1)`,
		`INSERT INTO plan_checkpoints (tenant_id, source, cursor) VALUES ($1, $2::text, '1.1')`,
	}
	for _, sql := range setup {
		if _, err := db.Owner.Exec(t.Context(), sql, theirs, c); err != nil {
			t.Fatalf("arrange %q: %v", sql, err)
		}
	}
	tests := []struct {
		table  string
		insert string
	}{
		{"interactions", `INSERT INTO interactions (tenant_id, interaction_id, customer_id, kind, direction, occur_time, author_id) VALUES ($1, $2, $2, 1, 1, now(), 'a')`},
		{"follow_up_plans", `INSERT INTO follow_up_plans (tenant_id, follow_up_plan_id, display_name, event_source, event_type, delay_ms, title, assignee_rule, active) VALUES ($1, $2, 'p', 2, 'ticket.created', 0, 't', 2, true)`},
		{"follow_ups", `INSERT INTO follow_ups (tenant_id, follow_up_id, customer_id, title, due_time, status) VALUES ($1, $2, $2, 't', now(), 1)`},
		{"plan_checkpoints", `INSERT INTO plan_checkpoints (tenant_id, source, cursor) VALUES ($1, $2::text, '1.1')`},
	}
	for _, tt := range tests {
		t.Run(tt.table, func(t *testing.T) {
			t.Parallel()
			err := pgdb.InTx(t.Context(), db.App, mine, func(tx pgx.Tx) error {
				var n int
				if err := tx.QueryRow(t.Context(), `SELECT count(*) FROM `+tt.table).Scan(&n); err != nil {
					return err
				}
				if n != 0 {
					t.Errorf("%s: tenant %s sees %d of another tenant's rows", tt.table, mine, n)
				}
				_, err := tx.Exec(t.Context(), tt.insert, theirs, uuid.New())
				return err
			})
			if !errors.Is(err, auth.ErrForbidden) {
				t.Fatalf("%s: writing another tenant's row = %v, want the RLS refusal as auth.ErrForbidden", tt.table, err)
			}
		})
	}
}

// TestInteractionsPageThroughTies checks the keyset breaks equal occur_times
// by id: no row repeats or goes missing across pages.
func TestInteractionsPageThroughTies(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	s := postgres.New(db.App)
	caller := auth.Caller{TenantID: uuid.NewString(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleSalesRep}}
	c, err := customer.New(s).Create(t.Context(), caller, customer.Customer{Kind: customer.KindPerson, DisplayName: "Ada"}, "")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	const n = 7
	for range n {
		if _, err := s.CreateInteraction(t.Context(), caller, relationship.Interaction{ID: uuid.Must(uuid.NewV7()), CustomerID: c.ID,
			Kind: relationship.KindNote, Direction: relationship.DirectionInternal, OccurTime: at, AuthorID: caller.PrincipalID}, ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, size := range []int{1, 2, 3, n} {
		seen := map[uuid.UUID]bool{}
		q := relationship.InteractionQuery{CustomerID: c.ID, PageSize: size}
		for pages := 0; ; pages++ {
			page, err := s.Interactions(t.Context(), caller, q)
			if err != nil {
				t.Fatalf("Interactions(size %d): %v", size, err)
			}
			for _, i := range page.Interactions {
				if seen[i.ID] {
					t.Fatalf("Interactions(size %d) repeated %s", size, i.ID)
				}
				seen[i.ID] = true
			}
			if page.NextPageToken == "" || pages > n {
				break
			}
			q.PageToken = page.NextPageToken
		}
		if len(seen) != n {
			t.Fatalf("Interactions(size %d) gave %d rows, want %d", size, len(seen), n)
		}
	}
}

// TestEraseCoversTheRelationship checks that erasing a customer scrubs the
// text of its timeline and follow-ups and redacts their histories.
func TestEraseCoversTheRelationship(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	s := postgres.New(db.App)
	caller := auth.Caller{TenantID: uuid.NewString(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAdmin}}
	c, err := customer.New(s).Create(t.Context(), caller, customer.Customer{Kind: customer.KindPerson, DisplayName: "Ada"}, "")
	if err != nil {
		t.Fatal(err)
	}
	const secret = "Ada's private matter"
	svc := relationship.New(s)
	if _, err := svc.CreateInteraction(t.Context(), caller, relationship.Interaction{CustomerID: c.ID, Kind: relationship.KindVisit,
		Direction: relationship.DirectionOutbound, OccurTime: time.Now(), Notes: secret,
		Location: &relationship.Location{Latitude: 1, Longitude: 2, Address: secret}}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateFollowUp(t.Context(), caller, relationship.FollowUp{CustomerID: c.ID, Title: secret, Notes: secret, DueTime: time.Now()}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Erase(t.Context(), caller, c.ID, "asked to be forgotten", ""); err != nil {
		t.Fatalf("Erase: %v", err)
	}
	checks := []struct {
		name, sql string
	}{
		{"interactions", `SELECT count(*) FROM interactions WHERE notes <> '' OR address <> '' OR latitude IS NOT NULL`},
		{"follow-ups", `SELECT count(*) FROM follow_ups WHERE notes <> '' OR title <> 'Erased'`},
		{"events", `SELECT count(*) FROM outbox WHERE position(convert_to($1, 'UTF8') in payload) > 0`},
		{"audit", `SELECT count(*) FROM audit_log WHERE coalesce(before::text, '') || coalesce(after::text, '') LIKE '%' || $1 || '%'`},
	}
	for _, tt := range checks {
		args := []any{}
		if tt.name == "events" || tt.name == "audit" {
			args = append(args, secret)
		}
		var n int
		if err := db.Owner.QueryRow(t.Context(), tt.sql, args...).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%s still holding the erased text: %d rows (%v)", tt.name, n, err)
		}
	}
}
