package main

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/services/pipeline/benchseed"
)

// reps own the bulk-loaded opportunities round robin.
const reps = 50

// rep is the i-th rep of a run; each run has its own, since a rep belongs
// to one commission plan.
func rep(run, i int) string { return fmt.Sprintf("00000000-0000-0000-0000-%012d", run+i) }

// computations bulk-loads n opportunities into the tenant of the
// opportunity sample, then times the forecast and commission statements.
func (b *bench) computations(ctx context.Context, dbURL, sample string, n int) error {
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer db.Close(ctx)
	var tenant string
	if err := db.QueryRow(ctx, `SELECT tenant_id FROM opportunities WHERE opportunity_id = $1`, sample).Scan(&tenant); err != nil {
		return fmt.Errorf("find the tenant: %w", err)
	}
	start := time.Now()
	run := int(start.Unix()%1_000_000) * 100
	if err := benchseed.Load(ctx, db, benchseed.Opportunities{Tenant: uuid.MustParse(tenant), N: n, Label: start.Format(time.RFC3339Nano),
		Customers: []uuid.UUID{uuid.MustParse(b.customer)}, Reps: reps, FirstRep: run}); err != nil {
		return err
	}
	var total int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM opportunities WHERE tenant_id = $1 AND delete_time IS NULL`, tenant).Scan(&total); err != nil {
		return err
	}
	fmt.Printf("== computations: bulk-loaded %d opportunities in %v (one INSERT … SELECT); the tenant holds %d\n",
		n, time.Since(start).Round(time.Millisecond), total)

	members := make([]string, reps)
	for i := range members {
		members[i] = rep(run, i)
	}
	stamp := time.Now().UnixNano()
	if _, err := b.commis.CreateCommissionPlan(ctx, &pipelinev1.CreateCommissionPlanRequest{RequestId: fmt.Sprintf("bench-plan-%d", stamp),
		Plan: &pipelinev1.CommissionPlan{DisplayName: fmt.Sprintf("Bench %d", stamp), CurrencyCode: "USD", TimeZone: "UTC", ClawbackDays: 30,
			MemberIds: members, Tiers: []*pipelinev1.CommissionTier{{ToAttainmentBps: 10000, RateBps: 500},
				{FromAttainmentBps: 10000, ToAttainmentBps: 15000, RateBps: 800}, {FromAttainmentBps: 15000, RateBps: 1200}}}}); err != nil {
		return fmt.Errorf("commission plan: %w", err)
	}
	for _, m := range members {
		if _, err := b.forecast.CreateQuota(ctx, &pipelinev1.CreateQuotaRequest{RequestId: fmt.Sprintf("bq-%d-%s", stamp, m[24:]),
			Quota: &pipelinev1.Quota{AssigneeKind: pipelinev1.AssigneeKind_ASSIGNEE_KIND_PRINCIPAL, Assignee: m, PeriodStart: "2026-01-01",
				PeriodEnd: "2026-12-31", TimeZone: "UTC", Target: &typesv1.Money{CurrencyCode: "USD", AmountMinor: 200000000}}}); err != nil {
			return fmt.Errorf("quota: %w", err)
		}
	}
	timeIt := func(name string, times int, f func() error) error {
		var best, sum time.Duration
		for i := range times {
			t := time.Now()
			if err := f(); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			el := time.Since(t)
			sum += el
			if i == 0 || el < best {
				best = el
			}
		}
		fmt.Printf("%-44s best %8.3f s   mean %8.3f s   (%d runs)\n", name, best.Seconds(), (sum / time.Duration(times)).Seconds(), times)
		return nil
	}
	if err := timeIt("GetForecast (quarters of 2026, every owner)", 5, func() error {
		_, err := b.forecast.GetForecast(ctx, &pipelinev1.GetForecastRequest{PeriodKind: pipelinev1.PeriodKind_PERIOD_KIND_QUARTER,
			StartDate: "2026-01-01", EndDate: "2026-12-31", TimeZone: "Europe/Berlin"})
		return err
	}); err != nil {
		return err
	}
	if err := timeIt("ComputeCommissionStatement (one rep, 2026)", 5, func() error {
		_, err := b.commis.ComputeCommissionStatement(ctx, &pipelinev1.ComputeCommissionStatementRequest{PrincipalId: members[1],
			PeriodStart: "2026-01-01", PeriodEnd: "2026-12-31"})
		return err
	}); err != nil {
		return err
	}
	return timeIt("ComputeCommissionStatement (all 50 reps)", 1, func() error {
		for _, m := range members {
			if _, err := b.commis.ComputeCommissionStatement(ctx, &pipelinev1.ComputeCommissionStatementRequest{PrincipalId: m,
				PeriodStart: "2026-01-01", PeriodEnd: "2026-12-31"}); err != nil {
				return err
			}
		}
		return nil
	})
}
