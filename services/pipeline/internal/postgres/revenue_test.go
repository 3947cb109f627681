package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/pipeline/internal/commission"
	"github.com/rapportcrm/rapport/services/pipeline/internal/forecast"
	"github.com/rapportcrm/rapport/services/pipeline/internal/postgres"
	"github.com/rapportcrm/rapport/services/pipeline/internal/rules"
)

// seedSQL gives tenant $1 a default pipeline of six stages ($2) and $3
// opportunities spread evenly over the stages, 50 owners (rep(0) … rep(49))
// and the days of 2026; closed ones closed on their expected day. One in a
// hundred won opportunities was then moved out of won on the same day.
const seedSQL = `
WITH p AS (
    INSERT INTO pipelines (tenant_id, pipeline_id, display_name, currency_code, is_default)
    VALUES ($1, $2, 'Sales', 'USD', true) RETURNING tenant_id, pipeline_id),
s AS (
    INSERT INTO pipeline_stages (tenant_id, pipeline_id, stage_id, position, display_name, probability, kind, legacy_stage)
    SELECT p.tenant_id, p.pipeline_id, gen_random_uuid(), v.pos, v.name, v.prob, v.kind, v.legacy
    FROM p, (VALUES (0, 'Prospecting', 10, 1, 1), (1, 'Qualification', 25, 1, 2), (2, 'Proposal', 50, 1, 3),
                    (3, 'Negotiation', 75, 1, 4), (4, 'Won', 100, 2, 5), (5, 'Lost', 0, 3, 6)) AS v (pos, name, prob, kind, legacy)
    RETURNING *)
INSERT INTO opportunities (tenant_id, opportunity_id, customer_id, display_name, currency_code, amount_minor, stage,
    expected_close_date, owner_id, pipeline_id, stage_id, stage_kind, engage_date, close_time, stage_enter_time)
SELECT s.tenant_id, gen_random_uuid(), gen_random_uuid(), 'Deal ' || g, 'USD', 1000 + (g * 7919) % 1000000, s.legacy_stage,
    date '2026-01-01' + g % 365, ('00000000-0000-0000-0000-' || lpad((g % 50)::text, 12, '0'))::uuid, s.pipeline_id,
    s.stage_id, s.kind, date '2025-12-01',
    CASE WHEN s.kind IN (2, 3) THEN (date '2026-01-01' + g % 365)::timestamp AT TIME ZONE 'UTC' END, now()
FROM generate_series(1, $3) g JOIN s ON s.position = g % 6`

const seedHistorySQL = `
INSERT INTO opportunity_stage_history (tenant_id, opportunity_id, entry_id, pipeline_id, stage_id, stage_name, stage_kind,
    principal_id, enter_time, exit_time)
SELECT tenant_id, opportunity_id, gen_random_uuid(), pipeline_id, stage_id, 'Won', 2, '', close_time, close_time + interval '2 days'
FROM opportunities WHERE tenant_id = $1 AND stage_kind = 2 AND amount_minor % 100 = 0`

// seed fills a fresh tenant with n opportunities and returns it.
func seed(tb testing.TB, db *pgtest.DB, n int) string {
	tb.Helper()
	tenant := uuid.NewString()
	if _, err := db.Owner.Exec(tb.Context(), seedSQL, tenant, uuid.New(), n); err != nil {
		tb.Fatalf("seed: %v", err)
	}
	if _, err := db.Owner.Exec(tb.Context(), seedHistorySQL, tenant); err != nil {
		tb.Fatalf("seed history: %v", err)
	}
	return tenant
}

func seededRep(i int) uuid.UUID {
	return uuid.MustParse(fmt.Sprintf("00000000-0000-0000-0000-%012d", i))
}

// as puts the caller in ctx, where pkg/pgdb reads the settings row-level security uses.
func as(ctx context.Context, c auth.Caller) context.Context { return auth.WithCaller(ctx, c) }

func manager(tenant string) auth.Caller {
	return auth.Caller{TenantID: tenant, PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleSalesManager}}
}

// TestSnapshotConcurrent takes one day's snapshot from many callers at
// once: exactly one creates it, and it holds every live opportunity once.
func TestSnapshotConcurrent(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	tenant := seed(t, db, 600)
	const callers = 8
	var wg sync.WaitGroup
	created := make(chan bool, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := manager(tenant)
			snap, ok, err := s.Forecast().TakeSnapshot(as(t.Context(), c), c, "2026-05-01", "UTC")
			if err != nil || snap.OpportunityCount != 600 {
				t.Errorf("TakeSnapshot = %v, %v, %v; want 600 opportunities", snap, ok, err)
			}
			created <- ok
		}()
	}
	wg.Wait()
	close(created)
	n := 0
	for ok := range created {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d callers created the snapshot, want 1", n)
	}
	if got := count(t, db, `SELECT count(*) FROM pipeline_snapshot_rows WHERE tenant_id = $1`, tenant); got != 600 {
		t.Errorf("snapshot rows = %d, want 600", got)
	}
	if got := count(t, db, `SELECT count(*) FROM outbox WHERE tenant_id = $1 AND type = 'pipeline_snapshot.taken'`, tenant); got != 1 {
		t.Errorf("snapshot events = %d, want 1", got)
	}
}

// TestStatementAccess checks that row-level security, not only the Go
// code, keeps a statement from reps other than its own, and from other
// tenants; and that concurrent computes leave one statement.
func TestStatementAccess(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	tenant := seed(t, db, 300)
	rep := seededRep(4) // owns won opportunities: g ≡ 4 (mod 50) and (mod 6)
	mgr := manager(tenant)
	ctx := as(t.Context(), mgr)
	plan := commission.Plan{ID: uuid.Must(uuid.NewV7()), DisplayName: "Flat", CurrencyCode: "USD", TimeZone: "UTC",
		Tiers: []commission.Tier{{RateBps: 300}}, MemberIDs: []uuid.UUID{rep}}
	if _, err := s.Commission().CreatePlan(ctx, mgr, plan, ""); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	ids := make(chan uuid.UUID, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := s.Commission().Compute(ctx, mgr, rep, "2026-01-01", "2026-12-31")
			if err != nil {
				t.Errorf("Compute: %v", err)
				return
			}
			ids <- st.ID
		}()
	}
	wg.Wait()
	close(ids)
	id := <-ids
	for other := range ids {
		if other != id {
			t.Errorf("concurrent computes made statements %s and %s, want one", id, other)
		}
	}
	if got := count(t, db, `SELECT count(*) FROM commission_statements WHERE tenant_id = $1`, tenant); got != 1 {
		t.Errorf("statements = %d, want 1", got)
	}
	for _, tt := range []struct {
		name    string
		caller  auth.Caller
		wantErr error
	}{
		{"own rep", auth.Caller{TenantID: tenant, PrincipalID: rep.String(), Roles: []auth.Role{auth.RoleSalesRep}}, nil},
		{"manager", manager(tenant), nil},
		{"other rep", auth.Caller{TenantID: tenant, PrincipalID: seededRep(8).String(), Roles: []auth.Role{auth.RoleSalesRep}}, commission.ErrStatementNotFound},
		{"other tenant", manager(uuid.NewString()), commission.ErrStatementNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, err := s.Commission().Statement(as(t.Context(), tt.caller), tt.caller, id)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Statement(%s) error = %v, want %v", tt.name, err, tt.wantErr)
			}
			if err == nil && (len(st.Lines) == 0 || st.TotalMinor <= 0) {
				t.Errorf("Statement(%s) = %d lines totalling %d, want earnings", tt.name, len(st.Lines), st.TotalMinor)
			}
			// The lines are guarded by the same policy.
			if tt.wantErr != nil {
				n, err := s.Commission().Statements(as(t.Context(), tt.caller), tt.caller, "", 10, "")
				if err != nil || len(n.Statements) != 0 {
					t.Errorf("Statements(%s) = %v, %v; want none", tt.name, n, err)
				}
			}
		})
	}
}

// BenchmarkRevenue100k seeds 100 000 opportunities and times the
// set-based computations over them: the forecast, a daily snapshot and
// commission statements.
func BenchmarkRevenue100k(b *testing.B) {
	db := pgtest.New(b, postgres.Migrations, postgres.Role)
	s := postgres.New(db.App)
	start := time.Now()
	tenant := seed(b, db, 100000)
	if _, err := db.Owner.Exec(b.Context(), `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded 100000 opportunities in %v", time.Since(start))
	mgr := manager(tenant)
	ctx := as(b.Context(), mgr)
	reps := make([]uuid.UUID, 50)
	for i := range reps {
		reps[i] = seededRep(i)
	}
	plan := commission.Plan{ID: uuid.Must(uuid.NewV7()), DisplayName: "AE", CurrencyCode: "USD", TimeZone: "UTC", ClawbackDays: 30,
		Tiers:     []commission.Tier{{ToBps: 10000, RateBps: 500}, {FromBps: 10000, ToBps: 15000, RateBps: 800}, {FromBps: 15000, RateBps: 1200}},
		MemberIDs: reps}
	if _, err := s.Commission().CreatePlan(ctx, mgr, plan, ""); err != nil {
		b.Fatal(err)
	}
	for _, rep := range reps {
		q := forecast.Quota{ID: uuid.Must(uuid.NewV7()), AssigneeKind: forecast.AssigneePrincipal, Assignee: rep.String(),
			PeriodStart: "2026-01-01", PeriodEnd: "2026-12-31", TimeZone: "UTC", Target: rules.Money{CurrencyCode: "USD", AmountMinor: 200000000}}
		if _, err := s.Forecast().CreateQuota(ctx, mgr, q, ""); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("forecast", func(b *testing.B) {
		for b.Loop() {
			rows, err := s.Forecast().Forecast(ctx, mgr, forecast.Query{PeriodKind: forecast.PeriodQuarter, Start: "2026-01-01", End: "2026-12-31", TimeZone: "Europe/Berlin"})
			if err != nil || len(rows) == 0 {
				b.Fatalf("Forecast = %d rows, %v", len(rows), err)
			}
		}
	})
	b.Run("forecast_reporting_currency", func(b *testing.B) {
		if _, err := db.Owner.Exec(b.Context(), `INSERT INTO reporting_settings (tenant_id, reporting_currency) VALUES ($1, 'EUR')
			ON CONFLICT (tenant_id) DO NOTHING`, tenant); err != nil {
			b.Fatal(err)
		}
		if _, err := db.Owner.Exec(b.Context(), `INSERT INTO exchange_rates (tenant_id, base_currency, quote_currency, rate_date, rate)
			SELECT $1, 'EUR', 'USD', d::date, 1.1 FROM generate_series(date '2025-01-01', date '2026-12-31', interval '1 day') d
			ON CONFLICT DO NOTHING`, tenant); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			groups, err := s.Forecast().ReportingGroups(ctx, mgr, forecast.Query{PeriodKind: forecast.PeriodQuarter, Start: "2026-01-01", End: "2026-12-31", TimeZone: "Europe/Berlin"})
			if err != nil || len(groups) == 0 || groups[0].Rate == nil {
				b.Fatalf("ReportingGroups = %v, %v", groups, err)
			}
		}
	})
	b.Run("snapshot", func(b *testing.B) {
		day := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		for b.Loop() {
			snap, created, err := s.Forecast().TakeSnapshot(ctx, mgr, day.Format(time.DateOnly), "UTC")
			if err != nil || !created || snap.OpportunityCount != 100000 {
				b.Fatalf("TakeSnapshot = %v, %v, %v", snap, created, err)
			}
			day = day.AddDate(0, 0, 1)
		}
	})
	b.Run("statement_one_rep", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Commission().Compute(ctx, mgr, reps[1], "2026-01-01", "2026-12-31"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("statements_all_50_reps", func(b *testing.B) {
		for b.Loop() {
			for _, rep := range reps {
				if _, err := s.Commission().Compute(ctx, mgr, rep, "2026-01-01", "2026-12-31"); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// TestSnapshotAll runs the background loop's sweep as the service role:
// it finds every tenant through the security-definer function and takes
// each tenant's day once.
func TestSnapshotAll(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	a, b := seed(t, db, 12), seed(t, db, 30)
	svc := forecast.New(s.Forecast())
	for i, want := range []int{2, 0} {
		taken, err := svc.SnapshotAll(t.Context())
		if err != nil || taken != want {
			t.Fatalf("SnapshotAll #%d = %d, %v; want %d", i, taken, err, want)
		}
	}
	for tenant, want := range map[string]int{a: 12, b: 30} {
		if got := count(t, db, `SELECT opportunity_count FROM pipeline_snapshots WHERE tenant_id = $1`, tenant); got != want {
			t.Errorf("snapshot of %s holds %d, want %d", tenant, got, want)
		}
	}
}
