package postgres_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
	"github.com/rapportcrm/rapport/services/partner/internal/partner"
	"github.com/rapportcrm/rapport/services/partner/internal/postgres"
)

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestRulesFor checks which rules a statement period reads: those of the
// tier or of every tier in force on some day of the period.
func TestRulesFor(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	fin := postgres.New(db.App).Finance()
	caller := auth.Caller{TenantID: uuid.NewString(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAdmin}}
	ctx := auth.WithCaller(t.Context(), caller)
	add := func(name, tier, from, until string) {
		t.Helper()
		r := finance.Rule{ID: uuid.Must(uuid.NewV7()), Kind: finance.KindCommission, Tier: tier, ValidFrom: date(from), RateBPS: 100, DisplayName: name}
		if until != "" {
			r.ValidUntil = date(until)
		}
		if _, err := fin.CreateRule(ctx, caller, r, ""); err != nil {
			t.Fatalf("CreateRule(%s): %v", name, err)
		}
	}
	add("ended before", "gold", "2026-01-01", "2027-01-01")
	add("ends on the first day", "", "2026-01-01", "2027-01-02")
	add("open", "", "2027-01-02", "")
	add("starts on the end", "gold", "2027-02-01", "")
	add("silver", "silver", "2027-01-01", "")
	tests := []struct {
		tier string
		want []string
	}{
		{"gold", []string{"ends on the first day", "open"}},
		{"silver", []string{"ends on the first day", "open", "silver"}},
		{"", []string{"ends on the first day", "open"}},
	}
	for _, tt := range tests {
		rules, err := fin.RulesFor(ctx, caller, tt.tier, date("2027-01-01"), date("2027-02-01"))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, r := range rules {
			got[r.DisplayName] = true
		}
		if len(got) != len(tt.want) {
			t.Errorf("RulesFor(%q) = %v, want %v", tt.tier, got, tt.want)
		}
		for _, w := range tt.want {
			if !got[w] {
				t.Errorf("RulesFor(%q) lacks %q", tt.tier, w)
			}
		}
	}
	err := func() error {
		_, err := fin.CreateRule(ctx, caller, finance.Rule{ID: uuid.Must(uuid.NewV7()), Kind: finance.KindCommission, ValidFrom: date("2030-01-01"), RateBPS: 1}, "")
		return err
	}()
	if !errors.Is(err, finance.ErrRuleOverlap) {
		t.Fatalf("CreateRule inside the open rule = %v, want ErrRuleOverlap", err)
	}
}

// TestSaveStatementReplacesLines saves more lines than one insert batch
// holds, then fewer: the second computation leaves exactly its own lines.
func TestSaveStatementReplacesLines(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	store := postgres.New(db.App)
	fin := store.Finance()
	caller := auth.Caller{TenantID: uuid.NewString(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAdmin}}
	ctx := auth.WithCaller(t.Context(), caller)
	p, _, err := store.Create(ctx, caller, partner.Partner{ID: uuid.Must(uuid.NewV7()), DisplayName: "P", Type: partner.TypeReseller, Status: partner.StatusActive}, "")
	if err != nil {
		t.Fatal(err)
	}
	lines := func(n int) []finance.Line {
		out := make([]finance.Line, n)
		for i := range out {
			out[i] = finance.Line{Number: i + 1, OrderID: uuid.Must(uuid.NewV7()), OrderTime: date("2027-01-05"), CurrencyCode: "USD",
				RevenueMinor: 100, Kind: finance.KindCommission, Explanation: "no rule"}
		}
		return out
	}
	st := finance.Statement{ID: uuid.Must(uuid.NewV7()), PartnerID: p.ID, PeriodStart: date("2027-01-01"), PeriodEnd: date("2027-02-01"),
		LineCount: 12_001, ComputeTime: time.Now()}
	first, err := fin.SaveStatement(ctx, caller, st, lines(12_001))
	if err != nil {
		t.Fatalf("SaveStatement: %v", err)
	}
	got, err := fin.Lines(ctx, caller, first.ID, 12_000, 10)
	if err != nil || len(got) != 1 || got[0].Number != 12_001 {
		t.Fatalf("Lines after 12000 = %v, %v, want line 12001", got, err)
	}
	st.ID, st.LineCount = uuid.Must(uuid.NewV7()), 3
	second, err := fin.SaveStatement(ctx, caller, st, lines(3))
	if err != nil {
		t.Fatalf("SaveStatement again: %v", err)
	}
	if second.ID != first.ID || second.Revision != 2 || second.LineCount != 3 {
		t.Fatalf("recomputed = %+v, want id %s, revision 2, 3 lines", second, first.ID)
	}
	var n int
	if err := db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM partner_statement_lines`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("lines stored = %d, %v, want 3", n, err)
	}
}
