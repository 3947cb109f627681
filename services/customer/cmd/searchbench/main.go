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
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/migrate"
	"github.com/rapportcrm/rapport/pkg/pgdb"
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
	gen := newGenerator(*customers)
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

func run(ctx context.Context, adminURL, dbName string, gen *generator, runs int, only string, slowest int) error {
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
	if err := seed(ctx, owner, gen); err != nil {
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

	fmt.Printf("%d customers in tenant %s; %d searches per form through SearchCustomers (page_size 20)\n", len(gen.people), benchTenant, runs)
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

// seed fills the bench tenant with gen's customers unless a previous run
// already did.
func seed(ctx context.Context, db *pgxpool.Pool, gen *generator) error {
	var have int
	if err := db.QueryRow(ctx, "SELECT count(*) FROM customers WHERE tenant_id = $1 AND source_channel = $2", benchTenant, seedChannel).Scan(&have); err != nil {
		return err
	}
	if have == len(gen.people) {
		return nil
	}
	if have != 0 {
		return fmt.Errorf("the bench tenant holds %d customers, not %d: drop the database to reseed", have, len(gen.people))
	}
	start := time.Now()
	fmt.Fprintf(os.Stderr, "seeding %d customers …\n", len(gen.people))
	conn, err := db.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	c := conn.Conn()
	if _, err := c.Exec(ctx, "SET maintenance_work_mem = '1GB'"); err != nil {
		return err
	}
	tx, err := c.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	rebuild, err := dropIndexes(ctx, tx, "customers", "customer_search")
	if err != nil {
		return err
	}
	i := 0
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"customers"},
		[]string{"tenant_id", "customer_id", "kind", "display_name", "email", "phone", "lifecycle_stage", "country_code", "create_time", "update_time", "source_channel"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == len(gen.people) {
				return nil, nil
			}
			p := gen.people[i]
			i++
			return []any{benchTenant, p.id, p.kind, p.name, p.email, p.phone, int16(1 + i%6), p.country, p.created, p.created, seedChannel}, nil
		}))
	if err != nil {
		return fmt.Errorf("copy customers: %w", err)
	}
	if _, err := tx.Exec(ctx, `
INSERT INTO customer_search (tenant_id, customer_id, names, organization, emails, phones, phone_keys, search_text, document)
SELECT tenant_id, customer_id, names, organization, emails, phones, phone_keys, search_text, document
FROM customer_search_source WHERE tenant_id = $1
    AND customer_id IN (SELECT customer_id FROM customers WHERE tenant_id = $1 AND source_channel = $2)`, benchTenant, seedChannel); err != nil {
		return fmt.Errorf("build search rows: %w", err)
	}
	for _, def := range rebuild {
		if _, err := tx.Exec(ctx, def); err != nil {
			return fmt.Errorf("rebuild index: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	if _, err := c.Exec(ctx, "VACUUM (ANALYZE) customers, customer_search"); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	fmt.Fprintf(os.Stderr, "seeded in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// dropIndexes drops the secondary indexes of tables and returns the
// statements that recreate them, taken from the catalogue so that they are
// exactly the migrations' indexes.
func dropIndexes(ctx context.Context, tx pgx.Tx, tables ...string) ([]string, error) {
	rows, err := tx.Query(ctx, `
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid = ANY ($1::regclass[]) AND NOT i.indisprimary`, tables)
	if err != nil {
		return nil, err
	}
	type index struct{ name, def string }
	indexes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (index, error) {
		var ix index
		return ix, r.Scan(&ix.name, &ix.def)
	})
	if err != nil {
		return nil, fmt.Errorf("list indexes: %w", err)
	}
	defs := make([]string, 0, len(indexes))
	for _, ix := range indexes {
		if _, err := tx.Exec(ctx, "DROP INDEX "+ix.name); err != nil {
			return nil, fmt.Errorf("drop index %s: %w", ix.name, err)
		}
		defs = append(defs, ix.def)
	}
	return defs, nil
}

// Name lists. Surnames and first names are drawn with weights falling as
// 1/(rank+10), so the first ones are common (some 3 % of customers are
// Smiths, as in an English-speaking market) and the last ones rare.
var (
	firstNames = strings.Fields(`John Mary James Maria David Sarah Michael Anna Robert Laura Peter Emma
		Thomas Sophie Daniel Julia Richard Olivia Mark Chloé José Lucía Mohammed Fatima Wei Li Olga Ivan
		Lucas Sofia Liam Noah Mia Zoë Björn Søren Ana Carlos Giulia Marco Aisha Omar Yuki Hana Priya
		Arjun Chen Mei Élodie François Jürgen Ingrid Patrick Siobhan Mateo Valentina Kofi Amara Hugo
		Léa Jakub Zofia Matteo Aurora Elif Emre Nia Tariq Leila Kenji Sakura Ravi Ananya Diego Camila
		Sven Astrid Pablo Inés Nikolai Tatiana Kwame Adaeze Yusuf Zainab Minh Linh Jin Soo Ahmed Nadia`)
	lastNames = strings.Fields(`Smith Johnson Williams Brown Jones García Miller Davis Rodríguez Martínez
		Wilson Anderson Taylor Thomas Moore Jackson Martin Lee Thompson White Harris Clark Lewis Walker
		Hall Allen Young King Wright Scott Green Baker Adams Nelson Hill Campbell Mitchell Roberts Carter
		Phillips Evans Turner Torres Parker Collins Edwards Stewart Morris Murphy Cook Rogers Morgan
		Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Rossi Russo Ferrari Esposito Bianchi
		Romano Dubois Lefèvre Moreau Laurent Nowak Kowalski Wiśniewski Novák Svoboda Nielsen Jensen
		Hansen Andersson Johansson Karlsson Nakamura Tanaka Suzuki Wang Zhang Liu Chen Kumar Sharma
		Patel Singh OBrien Kelly Walsh Silva Santos Oliveira Pereira Costa Ivanov Petrov Sidorov Okafor
		Mensah Haddad Khan Ali Nguyen Tran Pham Kim Park Choi Yilmaz Kaya Demir Sato Watanabe Ito
		Fernández González López Hernández Pérez Sánchez Ramírez Flores Rivera Gómez Díaz Reyes Cruz
		Morales Ortiz Gutiérrez Chávez Ramos Ruiz Álvarez Mendoza Castillo Jiménez Vargas Romero Herrera`)
	orgWords  = strings.Fields(`Logistics Bakery Consulting Dental Motors Builders Foods Textiles Analytics Travel Pharmacy Legal Energy Studio Garden`)
	orgTypes  = strings.Fields(`Ltd GmbH SARL Inc BV AB Oy SpA`)
	domains   = []string{"example.com", "example.org", "example.net", "mail.example", "corp.example", "post.example"}
	countries = []struct{ code, prefix string }{{"GB", "44"}, {"US", "1"}, {"DE", "49"}, {"FR", "33"}, {"ES", "34"}, {"IT", "39"}}
)

type person struct {
	id                 uuid.UUID
	kind               int16
	name, email, phone string
	country            string
	last, national     string
	created            time.Time
}

type generator struct {
	rnd    *rand.Rand
	people []person
}

type form struct {
	name    string
	queries []string
}

// newGenerator makes n customers deterministically: a tenth organisations
// ("Smith Logistics Ltd"), the rest people with an e-mail address and a
// phone number each.
func newGenerator(n int) *generator {
	g := &generator{rnd: rand.New(rand.NewPCG(7, 11))}
	first, last := weights(len(firstNames)), weights(len(lastNames))
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	g.people = make([]person, n)
	for i := range g.people {
		created := base.Add(time.Duration(i) * 90 * time.Second)
		f, l := firstNames[g.pick(first)], lastNames[g.pick(last)]
		c := countries[i%len(countries)]
		local := fmt.Sprintf("%d%07d", 200+i%700, i)
		p := person{
			id: uuid.Must(uuid.NewV7()), kind: int16(customer.KindPerson), last: l,
			name: f + " " + l, country: c.code, created: created,
			phone: "+" + c.prefix + local, national: "0" + local[:4] + " " + local[4:],
		}
		p.email = fmt.Sprintf("%s.%s%d@%s", asciiLower(f), asciiLower(l), i, domains[i%len(domains)])
		if i%10 == 9 {
			p.kind = int16(customer.KindOrganization)
			p.name = l + " " + orgWords[g.rnd.IntN(len(orgWords))] + " " + orgTypes[g.rnd.IntN(len(orgTypes))]
			p.email = fmt.Sprintf("info%d@%s.example", i, asciiLower(l))
		}
		g.people[i] = p
	}
	return g
}

func weights(n int) []float64 {
	cum := make([]float64, n)
	total := 0.0
	for i := range cum {
		total += 1 / float64(i+10)
		cum[i] = total
	}
	for i := range cum {
		cum[i] /= total
	}
	return cum
}

func (g *generator) pick(cum []float64) int {
	i, _ := slices.BinarySearch(cum, g.rnd.Float64())
	return min(i, len(cum)-1)
}

func asciiLower(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r < utf8.RuneSelf && r >= 'a' && r <= 'z' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// misspell swaps two neighbouring letters in the middle of each word of s
// ("John Smith" → "Jonh Smiht"), the typo fuzzy search is for.
func misspell(s string) string {
	words := strings.Fields(s)
	for i, w := range words {
		r := []rune(w)
		if len(r) >= 4 {
			j := len(r) - 2
			r[j], r[j+1] = r[j+1], r[j]
		}
		words[i] = string(r)
	}
	return strings.Join(words, " ")
}

// forms returns the query forms timed, each with queries about customers
// spread over the table (so that the timings are not those of one hot row).
func (g *generator) forms() []form {
	const each = 50
	sample := make([]person, 0, each)
	for i := 0; len(sample) < each; i++ {
		p := g.people[(i*7919+13)%len(g.people)]
		if p.kind == int16(customer.KindPerson) {
			sample = append(sample, p)
		}
	}
	var fuzzy, fulltext, rare, email, phone, common, prefix, typo []string
	for i, p := range sample {
		fuzzy = append(fuzzy, misspell(p.name))
		fulltext = append(fulltext, p.name)
		email = append(email, p.email)
		phone = append(phone, p.national)
		// The most common surnames and first names, one word each.
		common = append(common, strings.ToLower([]string{lastNames[i%5], firstNames[i%5]}[i%2]))
		prefix = append(prefix, strings.ToLower(string([]rune(p.last)[:min(4, utf8.RuneCountInString(p.last))])))
		typo = append(typo, misspell(p.last))
		rare = append(rare, firstNames[len(firstNames)-1-i%10]+" "+lastNames[len(lastNames)-1-i%10])
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
