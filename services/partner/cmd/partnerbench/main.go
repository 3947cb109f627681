// Command partnerbench times partner statement computation (and, with
// -deals, deal registration with conflict detection): it creates (once)
// a database migrated with the partner service's own migrations, seeds
// partners and commission rules through the service's store, then calls the
// real ComputePartnerStatement gRPC handler for every partner, connected as
// the service's role so that row-level security applies as in production,
// and prints the total time, statements and lines per second, and p50/p99
// per statement. It prints figures and asserts nothing.
//
//	go run ./services/partner/cmd/partnerbench -db postgres://postgres@127.0.0.1:55462/postgres
//
// The attributed orders come from an in-process generator standing in for
// the sales-pipeline service (deterministic per partner), so the figures are
// the partner service's own cost: rule selection, line explanation, and the
// statement and line writes with their event; the paging of ListOrders over
// the network is not in them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/migrate"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
	"github.com/rapportcrm/rapport/services/partner/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/partner/internal/partner"
	"github.com/rapportcrm/rapport/services/partner/internal/postgres"
)

// benchTenant owns every generated row, fixed so that a second run finds
// the first one's partners and rules.
var benchTenant = uuid.MustParse("0190a000-0000-7000-8000-0000000bea7e")

// tiers are the tiers partners are spread over.
var tiers = []string{"bronze", "silver", "gold"}

func main() {
	var (
		dbURL    = flag.String("db", "postgres://postgres@127.0.0.1:55462/postgres?sslmode=disable", "superuser URL of a loopback PostgreSQL cluster")
		dbName   = flag.String("dbname", "partnerbench", "database to create and seed in that cluster")
		partners = flag.Int("partners", 1000, "partners to compute a statement for")
		orders   = flag.Int("orders", 50, "attributed orders per partner in the period")
		lines    = flag.Int("lines", 3, "product lines per order")
		workers  = flag.Int("workers", 4, "statements (or registrations) computed at once")
		deals    = flag.Int("deals", 0, "instead of statements, register this many deals")
		custs    = flag.Int("customers", 1_000_000, "customers conflict detection matches against (with -deals)")
		opps     = flag.Int("opportunities", 100_000, "open opportunities conflict detection finds (with -deals)")
	)
	flag.Parse()
	if err := run(context.Background(), *dbURL, *dbName, *partners, *orders, *lines, *workers, dealsConfig{n: *deals, customers: *custs, opportunities: *opps}); err != nil {
		fmt.Fprintln(os.Stderr, "partnerbench:", err)
		os.Exit(1)
	}
}

// dealsConfig sizes the deal-registration run; n 0 runs statements instead.
type dealsConfig struct{ n, customers, opportunities int }

func run(ctx context.Context, adminURL, dbName string, n, ordersPer, linesPer, workers int, deals dealsConfig) error {
	if !strings.Contains(adminURL, "127.0.0.1") && !strings.Contains(adminURL, "localhost") && !strings.Contains(adminURL, "[::1]") {
		return errors.New("-db must be a loopback address")
	}
	benchURL, err := pgdb.EnsureDatabase(ctx, adminURL, dbName)
	if err != nil {
		return err
	}
	if err := migrate.Up(ctx, benchURL, postgres.Migrations, slog.New(slog.DiscardHandler)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// The service's connections: the superuser switches to the service role
	// on connect, so row-level security and grants are those of production.
	app, err := pgdb.OpenAs(ctx, benchURL, postgres.Role, 4)
	if err != nil {
		return err
	}
	defer app.Close()
	store := postgres.New(app)
	caller := auth.Caller{TenantID: benchTenant.String(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAdmin}}
	cctx := auth.WithCaller(ctx, caller)

	ids, products, err := seed(cctx, store, caller, n)
	if err != nil {
		return err
	}
	if deals.n > 0 {
		return dealsRun(cctx, store, ids, deals.customers, deals.opportunities, deals.n, workers)
	}
	gen := &generator{products: products, ordersPer: ordersPer, linesPer: linesPer, start: periodStart}
	handler := grpcapi.NewFinance(finance.New(store.Finance(), gen, time.Now))
	fmt.Printf("%d partners, %d orders × %d lines each in the period (%d statement lines per statement), %d workers, pool of %d connections\n",
		n, ordersPer, linesPer, 2*ordersPer*linesPer, workers, app.Config().MaxConns)
	for _, round := range []string{"first computation", "recomputation"} {
		took, lat, total, err := computeAll(cctx, handler, ids, workers)
		if err != nil {
			return err
		}
		slices.Sort(lat)
		fmt.Printf("%-18s %7.2f s  %7.1f statements/s  %9.0f lines/s  p50 %s  p99 %s  max %s\n", round, took.Seconds(),
			float64(len(ids))/took.Seconds(), float64(total)/took.Seconds(), ms(pct(lat, 50)), ms(pct(lat, 99)), ms(lat[len(lat)-1]))
	}
	return nil
}

var (
	periodStart = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	periodEnd   = periodStart.AddDate(0, 1, 0)
)

// computeAll computes every partner's statement with workers at once.
func computeAll(ctx context.Context, h *grpcapi.Finance, ids []uuid.UUID, workers int) (time.Duration, []time.Duration, int, error) {
	lat := make([]time.Duration, len(ids))
	lines := make([]int, len(ids))
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	begin := time.Now()
	for range workers {
		wg.Go(func() {
			for i := range next {
				t0 := time.Now()
				resp, err := h.ComputePartnerStatement(ctx, &partnerv1.ComputePartnerStatementRequest{
					PartnerId: ids[i].String(), PeriodStart: periodStart.Format(time.DateOnly), PeriodEnd: periodEnd.Format(time.DateOnly),
				})
				lat[i] = time.Since(t0)
				if err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, fmt.Errorf("compute statement of %s: %w", ids[i], err))
					mu.Unlock()
					continue
				}
				lines[i] = int(resp.GetPartnerStatement().GetLineCount())
			}
		})
	}
	for i := range ids {
		next <- i
	}
	close(next)
	wg.Wait()
	total := 0
	for _, n := range lines {
		total += n
	}
	return time.Since(begin), lat, total, firstErr
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// seed makes sure the bench tenant has n partners (spread over the tiers)
// and its rules, creating what is missing through the store with request
// ids, and returns the partners' and products' ids.
func seed(ctx context.Context, store *postgres.Store, caller auth.Caller, n int) ([]uuid.UUID, []string, error) {
	begin := time.Now()
	ids := make([]uuid.UUID, n)
	for i := range n {
		p, _, err := store.Create(ctx, caller, partner.Partner{
			ID: uuid.Must(uuid.NewV7()), DisplayName: fmt.Sprintf("Bench partner %d", i), Type: partner.TypeReseller,
			Status: partner.StatusActive, Tier: tiers[i%len(tiers)],
		}, fmt.Sprintf("bench-partner-%d", i))
		if err != nil {
			return nil, nil, err
		}
		ids[i] = p.ID
	}
	products := make([]string, 20)
	for i := range products {
		products[i] = uuid.NewSHA1(benchTenant, fmt.Appendf(nil, "product-%d", i)).String()
	}
	fin := store.Finance()
	from := periodStart.AddDate(-1, 0, 0)
	add := func(key string, r finance.Rule) error {
		r.ID, r.ValidFrom = uuid.Must(uuid.NewV7()), from
		_, err := fin.CreateRule(ctx, caller, r, "bench-rule-"+key)
		return err
	}
	if err := add("base", finance.Rule{Kind: finance.KindCommission, RateBPS: 300, DisplayName: "base"}); err != nil {
		return nil, nil, err
	}
	for i, t := range tiers {
		if err := add("tier-"+t, finance.Rule{Kind: finance.KindCommission, Tier: t, RateBPS: int32(400 + 100*i), DisplayName: t}); err != nil {
			return nil, nil, err
		}
		if err := add("rebate-"+t, finance.Rule{Kind: finance.KindRebate, Tier: t, RateBPS: int32(50 * (i + 1)), DisplayName: t + " rebate"}); err != nil {
			return nil, nil, err
		}
		for j, p := range products[:5] {
			if err := add(fmt.Sprintf("product-%s-%d", t, j), finance.Rule{Kind: finance.KindCommission, Tier: t, ProductID: p, RateBPS: int32(800 + 100*i), DisplayName: t + " focus product"}); err != nil {
				return nil, nil, err
			}
		}
	}
	fmt.Printf("seeded (or found) %d partners and 22 rules in %.1f s\n", n, time.Since(begin).Seconds())
	return ids, products, nil
}

// generator stands in for the sales-pipeline service: ordersPer orders of
// linesPer lines for every partner, spread over the period, the same for
// the same partner on every call. One order in ten is a return.
type generator struct {
	products            []string
	ordersPer, linesPer int
	start               time.Time
}

// Attributed implements finance.Orders.
func (g *generator) Attributed(_ context.Context, p uuid.UUID, from, to time.Time, fn func(finance.Order) error) error {
	r := rand.New(rand.NewPCG(uint64(p.ID())|uint64(p[15])<<32, 7))
	span := to.Sub(from)
	for i := range g.ordersPer {
		o := finance.Order{
			ID: uuid.NewSHA1(p, fmt.Appendf(nil, "order-%d", i)), Kind: finance.OrderSale, CurrencyCode: "USD",
			Time: from.Add(time.Duration(r.Int64N(int64(span)))),
		}
		if i%10 == 9 {
			o.Kind = finance.OrderReturn
		}
		for range g.linesPer {
			o.Lines = append(o.Lines, finance.OrderLine{ProductID: g.products[r.IntN(len(g.products))], TotalMinor: 1000 + r.Int64N(500_000)})
		}
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

// pct is the p-th percentile of sorted (nearest rank).
func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(i, 0)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
