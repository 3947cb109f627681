package postgres_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/postgres"
	"github.com/rapportcrm/rapport/services/customer/internal/profile"
)

// TestContactPointWritesAreAtomic checks that a repeated or refused write
// leaves no trace: no demoted primary, no event, no audit row.
func TestContactPointWritesAreAtomic(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	store := postgres.New(db.App)
	ctx := t.Context()
	caller := auth.Caller{TenantID: uuid.NewString(), PrincipalID: "p1", Roles: []auth.Role{auth.RoleAdmin}}
	c, _, err := store.Create(ctx, caller, customer.Customer{ID: uuid.Must(uuid.NewV7()), Kind: customer.KindPerson, DisplayName: "Ada", Stage: customer.StageLead, Tags: []string{}}, "")
	if err != nil {
		t.Fatal(err)
	}
	email := func(v string) profile.ContactPoint {
		return profile.ContactPoint{ID: uuid.Must(uuid.NewV7()), CustomerID: c.ID, Type: profile.ContactEmail, Value: v, Primary: true, Verification: profile.Unverified}
	}
	first, err := store.CreateContactPoint(ctx, caller, email("a@x.example"), "req")
	if err != nil {
		t.Fatal(err)
	}
	events := func() int {
		var n int
		if err := db.Owner.QueryRow(ctx, "SELECT count(*) FROM outbox").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := events()
	again, err := store.CreateContactPoint(ctx, caller, email("b@x.example"), "req")
	if err != nil || again.ID != first.ID || !again.Primary {
		t.Fatalf("repeat = %+v, %v; want the first contact point, still primary", again, err)
	}
	refused := errors.New("refused")
	if _, err := store.MutateContactPoint(ctx, caller, c.ID, first.ID, func(cp *profile.ContactPoint) error {
		cp.Value = "changed@x.example"
		return refused
	}); !errors.Is(err, refused) {
		t.Fatalf("refused mutation = %v, want the refusal", err)
	}
	if n := events(); n != before {
		t.Fatalf("%d events after a repeat and a refusal, want %d", n, before)
	}
	got, err := store.ContactPoint(ctx, caller, c.ID, first.ID)
	if err != nil || got.Value != "a@x.example" || !got.Primary {
		t.Fatalf("contact point = %+v, %v; want unchanged", got, err)
	}
	other := auth.Caller{TenantID: uuid.NewString(), PrincipalID: "p2"}
	if _, err := store.ContactPoint(ctx, other, c.ID, first.ID); !errors.Is(err, profile.ErrContactPointNotFound) {
		t.Fatalf("another tenant reads it: %v, want not found", err)
	}
	if _, err := store.CreateContactPoint(ctx, other, email("c@x.example"), ""); !errors.Is(err, customer.ErrNotFound) {
		t.Fatalf("another tenant writes it: %v, want customer not found", err)
	}
}
