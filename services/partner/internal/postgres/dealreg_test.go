package postgres_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/partner/internal/dealreg"
	"github.com/rapportcrm/rapport/services/partner/internal/partner"
	"github.com/rapportcrm/rapport/services/partner/internal/postgres"
)

// TestClaims checks which claims a new registration meets: other partners'
// live claims on its keys, not expired ones, not its own partner's, and not
// those of rejected registrations.
func TestClaims(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	store := postgres.New(db.App)
	deals := store.DealRegistrations()
	caller := auth.Caller{TenantID: uuid.NewString(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAdmin}}
	ctx := auth.WithCaller(t.Context(), caller)
	newPartner := func() uuid.UUID {
		p, _, err := store.Create(ctx, caller, partner.Partner{ID: uuid.Must(uuid.NewV7()), DisplayName: "P", Type: partner.TypeReseller, Status: partner.StatusActive}, "")
		if err != nil {
			t.Fatal(err)
		}
		return p.ID
	}
	a, b := newPartner(), newPartner()
	// create registers for p with one key, expiring at expire, and returns
	// the registrations whose claims it met.
	create := func(p uuid.UUID, key string, expire time.Time, requestID string) (dealreg.Registration, []uuid.UUID, bool) {
		t.Helper()
		var met []uuid.UUID
		r := dealreg.Registration{ID: uuid.Must(uuid.NewV7()), PartnerID: p, DisplayName: "Deal", State: dealreg.StateSubmitted,
			ExpireTime: expire, RegisteredBy: caller.PrincipalID, Amount: dealreg.Money{CurrencyCode: "USD"}}
		saved, created, err := deals.Create(ctx, caller, r, []string{key}, requestID, func(r *dealreg.Registration, others []dealreg.Claim) {
			for _, c := range others {
				met = append(met, c.RegistrationID)
			}
		})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		return saved, met, created
	}
	now := time.Now()
	old, _, _ := create(a, "k1", now.Add(-time.Hour), "")
	if _, met, _ := create(b, "k1", now.Add(time.Hour), ""); len(met) != 0 {
		t.Fatalf("claims met over an expired claim = %v, want none (expired: %s)", met, old.ID)
	}
	live, _, _ := create(a, "k2", now.Add(time.Hour), "")
	second, met, _ := create(a, "k2", now.Add(time.Hour), "")
	if len(met) != 0 {
		t.Fatalf("claims met by the same partner = %v, want none", met)
	}
	if _, met, _ := create(b, "k2", now.Add(time.Hour), ""); len(met) != 2 || met[0] != live.ID || met[1] != second.ID {
		t.Fatalf("claims met = %v, want %s and %s", met, live.ID, second.ID)
	}
	if _, err := deals.Mutate(ctx, caller, live.ID, func(r *dealreg.Registration) (string, error) {
		r.State = dealreg.StateRejected
		return dealreg.EventRejected, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, met, _ := create(b, "k2", now.Add(time.Hour), ""); len(met) != 1 || met[0] != second.ID {
		t.Fatalf("claims met after the rejection = %v, want only %s", met, second.ID)
	}
	first, _, created := create(a, "k3", now.Add(time.Hour), "req")
	again, met, createdAgain := create(a, "k3", now.Add(time.Hour), "req")
	if !created || createdAgain || again.ID != first.ID || len(met) != 0 {
		t.Fatalf("repeated request = %s (created %v, met %v), want %s not created", again.ID, createdAgain, met, first.ID)
	}
}
