// Command searchbench times SearchCustomers over a large tenant. It creates
// (once) a database of generated customers in one tenant, migrated with the
// customer service's own migrations, then calls the real SearchCustomers
// gRPC handler, connected as the service's role so that row-level security
// applies as in production, many times for each form of query, and prints
// p50/p95/p99 per form. It prints figures and asserts nothing.
//
//	go run ./services/customer/cmd/searchbench -db postgres://postgres@127.0.0.1:55454/postgres
//
// Seeding copies customers straight into the customers table (COPY) and
// builds their search rows with the same view the service's writes use
// (customer_search_source), so the rows are exactly what the service would
// have written; it runs with the tables' indexes dropped and rebuilds them
// from their own definitions afterwards, which is only faster, not different.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/migrate"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/services/customer/benchseed"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/customer/internal/postgres"
	"github.com/rapportcrm/rapport/services/customer/internal/search"
)

// benchTenant is the tenant every generated customer belongs to, fixed so
// that a second run finds the first one's data (-tenant changes it).
var benchTenant = uuid.MustParse("0190a000-0000-7000-8000-00000000beef")

// seedChannel marks the generated customers, so that a tenant holding
// others too (make bench's) is seeded once.
const seedChannel = "searchbench"

func main() {
	var (
		dbURL     = flag.String("db", "postgres://postgres@127.0.0.1:55454/postgres?sslmode=disable", "superuser URL of a loopback PostgreSQL cluster")
		dbName    = flag.String("dbname", "searchbench", "database to create and seed in that cluster")
		customers = flag.Int("customers", 1_000_000, "customers to seed")
		runs      = flag.Int("runs", 100, "timed searches per query form; 0 only seeds")
		forms     = flag.String("forms", "", "comma-separated query forms to time (default all)")
		slowest   = flag.Int("slowest", 0, "also list this many slowest queries of each form")
		tenant    = flag.String("tenant", benchTenant.String(), "tenant to seed; another than the default adds the customers to an existing tenant, such as make bench's")
		queries   = flag.String("queries-out", "", "write the fuzzy queries to this file, one per line, for a load generator")
	)
	flag.Parse()
	ctx := context.Background()
	var err error
	if benchTenant, err = uuid.Parse(*tenant); err != nil {
		fmt.Fprintln(os.Stderr, "searchbench: -tenant:", err)
		os.Exit(2)
	}
	gen := people(benchseed.Generate(*customers))
	if *queries != "" {
		if err := os.WriteFile(*queries, []byte(strings.Join(gen.forms()[0].queries, "\n")+"\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "searchbench:", err)
			os.Exit(1)
		}
	}
	if err := run(ctx, *dbURL, *dbName, gen, *runs, *forms, *slowest); err != nil {
		fmt.Fprintln(os.Stderr, "searchbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, adminURL, dbName string, gen people, runs int, only string, slowest int) error {
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
	owner, err := pgxpool.New(ctx, benchURL)
	if err != nil {
		return err
	}
	defer owner.Close()
	if err := benchseed.Seed(ctx, owner, benchTenant, seedChannel, gen); err != nil {
		return err
	}
	if runs == 0 {
		return nil
	}
	// The service's connections: the superuser switches to the service role
	// on connect, so row-level security and grants are those of production
	// without the bench needing the role's password.
	app, err := pgdb.OpenAs(ctx, benchURL, postgres.Role, 2)
	if err != nil {
		return err
	}
	defer app.Close()
	store := postgres.New(app)
	handler := grpcapi.NewCustomers(customer.New(store), search.New(store), app, time.Second)
	caller := auth.Caller{TenantID: benchTenant.String(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAdmin}}
	cctx := auth.WithCaller(ctx, caller)

	fmt.Printf("%d customers in tenant %s; %d searches per form through SearchCustomers (page_size 20)\n", len(gen), benchTenant, runs)
	fmt.Printf("%-16s %9s %9s %9s %9s %8s  %s\n", "form", "p50", "p95", "p99", "max", "results", "example")
	for _, f := range gen.forms() {
		if only != "" && !slices.Contains(strings.Split(only, ","), f.name) {
			continue
		}
		times := make([]time.Duration, 0, runs)
		type timed struct {
			q string
			d time.Duration
		}
		var each []timed
		results := 0
		// One untimed pass over a few queries warms the caches and the pool.
		for i := range min(3, len(f.queries)) {
			if _, err := handler.SearchCustomers(cctx, &customerv1.SearchCustomersRequest{Query: f.queries[i]}); err != nil {
				return fmt.Errorf("%s %q: %w", f.name, f.queries[i], err)
			}
		}
		for i := range runs {
			q := f.queries[i%len(f.queries)]
			start := time.Now()
			resp, err := handler.SearchCustomers(cctx, &customerv1.SearchCustomersRequest{Query: q})
			times = append(times, time.Since(start))
			each = append(each, timed{q, times[len(times)-1]})
			if err != nil {
				return fmt.Errorf("%s %q: %w", f.name, q, err)
			}
			results += len(resp.GetResults())
		}
		slices.Sort(times)
		fmt.Printf("%-16s %9s %9s %9s %9s %8.1f  %q\n", f.name, ms(pct(times, 50)), ms(pct(times, 95)), ms(pct(times, 99)),
			ms(times[len(times)-1]), float64(results)/float64(runs), f.queries[0])
		slices.SortFunc(each, func(a, b timed) int { return int(b.d - a.d) })
		for _, e := range each[:min(slowest, len(each))] {
			fmt.Printf("%18s %9s  %q\n", "", ms(e.d), e.q)
		}
	}
	return nil
}

// pct is the p-th percentile of sorted (nearest rank).
func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(i, 0)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

// forms returns the query forms timed, each with queries about customers
// spread over the table (so that the timings are not those of one hot row).
// people are the generated customers the queries are about.
type people []benchseed.Person

type form struct {
	name    string
	queries []string
}

func (g people) forms() []form {
	const each = 50
	sample := make([]benchseed.Person, 0, each)
	for i := 0; len(sample) < each; i++ {
		p := g[(i*7919+13)%len(g)]
		if p.Kind == int16(customer.KindPerson) {
			sample = append(sample, p)
		}
	}
	var fuzzy, fulltext, rare, email, phone, common, prefix, typo []string
	for i, p := range sample {
		fuzzy = append(fuzzy, benchseed.Misspell(p.Name))
		fulltext = append(fulltext, p.Name)
		email = append(email, p.Email)
		phone = append(phone, p.National)
		// The most common surnames and first names, one word each.
		common = append(common, strings.ToLower([]string{benchseed.LastNames[i%5], benchseed.FirstNames[i%5]}[i%2]))
		prefix = append(prefix, strings.ToLower(string([]rune(p.Last)[:min(4, utf8.RuneCountInString(p.Last))])))
		typo = append(typo, benchseed.Misspell(p.Last))
		rare = append(rare, benchseed.FirstNames[len(benchseed.FirstNames)-1-i%10]+" "+benchseed.LastNames[len(benchseed.LastNames)-1-i%10])
	}
	return []form{
		{"fuzzy", fuzzy},
		{"fulltext", fulltext},
		{"fulltext_rare", rare},
		{"email", email},
		{"phone", phone},
		{"common_word", common},
		{"prefix", prefix},
		{"fuzzy_one_word", typo},
	}
}
