// Command dealbench times deal registration with conflict detection
// against the real suite: it boots every service (deploy/dev/internal/suite)
// on a PostgreSQL cluster of its own, seeds one tenant, once, with generated
// customers (copied in as the customer service's search benchmark does) and
// open opportunities spread over them (bulk-loaded as the pipeline
// benchmark does), and then sends CreateDealRegistration over gRPC from
// several workers, so every registration pays for the partner service's
// calls to the customer service's identity resolution (ListCustomers by
// e-mail, phone or name) and to the pipeline's open opportunities. It
// prints registrations per second, p50/p95/p99, the conflicts found by kind
// and the services' memory. It prints figures and asserts nothing.
//
//	make build && url=$(deploy/dev/pg.sh start .rapport/dealbench-pg 55472) && \
//	  go run ./deploy/dev/cmd/dealbench -db "$url"
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rapportcrm/rapport/deploy/dev/internal/suite"
	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
	custseed "github.com/rapportcrm/rapport/services/customer/benchseed"
	pipeseed "github.com/rapportcrm/rapport/services/pipeline/benchseed"
)

// Marks of the seeded rows, so that a later run finds and reuses them.
const (
	seedChannel  = "dealbench"
	seedPipeline = "dealbench"
	dbPrefix     = "dealbench"
)

type config struct {
	adminURL, root, state, bin, httpAddr string
	grpcPort                             int
	customers, opportunities             int
	partners, n, workers                 int
	seedOnly                             bool
}

func main() {
	var c config
	flag.StringVar(&c.adminURL, "db", "postgres://postgres@127.0.0.1:55472/postgres?sslmode=disable", "superuser URL of the bench's loopback PostgreSQL cluster")
	flag.StringVar(&c.root, "root", ".", "repository root")
	flag.StringVar(&c.state, "state", ".rapport/dealbench", "folder for the suite's keys and logs")
	flag.StringVar(&c.bin, "bin", ".rapport/bin", "built service binaries (make build)")
	flag.IntVar(&c.grpcPort, "grpc-port", 19100, "first gRPC port of the suite (the others follow)")
	flag.StringVar(&c.httpAddr, "http", "127.0.0.1:19106", "the edge's listen address")
	flag.IntVar(&c.customers, "customers", 1_000_000, "customers in the tenant")
	flag.IntVar(&c.opportunities, "opportunities", 100_000, "open opportunities over them")
	flag.IntVar(&c.partners, "partners", 50, "registering partners")
	flag.IntVar(&c.n, "n", 20_000, "registrations to send")
	flag.IntVar(&c.workers, "workers", 8, "registrations in flight at once")
	flag.BoolVar(&c.seedOnly, "seed-only", false, "seed and stop")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "dealbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	if !strings.Contains(c.adminURL, "127.0.0.1") && !strings.Contains(c.adminURL, "localhost") {
		return errors.New("-db must be a loopback address")
	}
	opts := suite.Options{Root: c.root, StateDir: c.state, BinDir: c.bin, AdminURL: c.adminURL, DBPrefix: dbPrefix,
		GRPCBasePort: c.grpcPort, HTTPAddr: c.httpAddr}
	begin := time.Now()
	s, err := suite.Start(ctx, opts)
	if err != nil {
		return fmt.Errorf("start the suite: %w", err)
	}
	defer s.Stop()
	fmt.Printf("suite up in %.1f s (gRPC from 127.0.0.1:%d, edge %s)\n", time.Since(begin).Seconds(), c.grpcPort, c.httpAddr)
	ctx = grpcclient.WithBearer(ctx, s.AdminKey)

	customerConn, err := grpc.NewClient(s.GRPC["customer"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer customerConn.Close()
	partnerConn, err := grpc.NewClient(s.GRPC["partner"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer partnerConn.Close()

	people := custseed.Generate(c.customers)
	tenant, err := seed(ctx, c, customerv1.NewCustomerServiceClient(customerConn), people)
	if err != nil {
		return err
	}
	if c.seedOnly {
		return nil
	}
	withOpp, err := customersWithOpportunities(ctx, c.adminURL, tenant)
	if err != nil {
		return err
	}
	partners, err := ensurePartners(ctx, partnerv1.NewPartnerServiceClient(partnerConn), c.partners)
	if err != nil {
		return err
	}
	before := memory(s.PIDs())
	res := register(ctx, partnerv1.NewDealRegistrationServiceClient(partnerConn), c, people, withOpp, partners)
	res.print(c)
	printMemory(before, memory(s.PIDs()))
	return res.err
}

// seed makes sure the admin's tenant holds the generated customers and the
// open opportunities, and returns the tenant.
func seed(ctx context.Context, c config, customers customerv1.CustomerServiceClient, people []custseed.Person) (uuid.UUID, error) {
	// The tenant is the admin key's; one customer created through the API
	// names it.
	anchor, err := customers.CreateCustomer(ctx, &customerv1.CreateCustomerRequest{RequestId: "dealbench-anchor",
		Customer: &customerv1.Customer{Kind: customerv1.CustomerKind_CUSTOMER_KIND_ORGANIZATION, DisplayName: "Deal bench anchor"}})
	if err != nil {
		return uuid.Nil, fmt.Errorf("anchor customer: %w", err)
	}
	cdb, err := pgxpool.New(ctx, withDB(c.adminURL, dbPrefix+"_customer"))
	if err != nil {
		return uuid.Nil, err
	}
	defer cdb.Close()
	var tenant uuid.UUID
	if err := cdb.QueryRow(ctx, `SELECT tenant_id FROM customers WHERE customer_id = $1`, anchor.GetCustomer().GetCustomerId()).Scan(&tenant); err != nil {
		return uuid.Nil, fmt.Errorf("find the tenant: %w", err)
	}
	start := time.Now()
	if err := custseed.Seed(ctx, cdb, tenant, seedChannel, people); err != nil {
		return uuid.Nil, err
	}
	fmt.Printf("customers: %d in tenant %s (%.1f s)\n", len(people), tenant, time.Since(start).Seconds())

	pdb, err := pgx.Connect(ctx, withDB(c.adminURL, dbPrefix+"_pipeline"))
	if err != nil {
		return uuid.Nil, err
	}
	defer pdb.Close(ctx)
	var have int
	if err := pdb.QueryRow(ctx, `
SELECT count(*) FROM opportunities o JOIN pipelines p USING (tenant_id, pipeline_id)
WHERE o.tenant_id = $1 AND p.display_name = 'Bench ' || $2`, tenant, seedPipeline).Scan(&have); err != nil {
		return uuid.Nil, fmt.Errorf("count opportunities: %w", err)
	}
	if have == 0 {
		start = time.Now()
		rows, err := cdb.Query(ctx, `SELECT customer_id FROM customers WHERE tenant_id = $1 AND source_channel = $2 ORDER BY create_time`, tenant, seedChannel)
		if err != nil {
			return uuid.Nil, err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return uuid.Nil, fmt.Errorf("customer ids: %w", err)
		}
		// A stride through the customers, so that the opportunities fall on
		// customers spread over the whole table, one each.
		rnd := rand.New(rand.NewPCG(3, 5))
		rnd.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		if err := pipeseed.Load(ctx, pdb, pipeseed.Opportunities{Tenant: tenant, N: c.opportunities, Label: seedPipeline,
			Customers: ids[:min(len(ids), c.opportunities)], Reps: 50, FirstRep: 1}); err != nil {
			return uuid.Nil, err
		}
		have = c.opportunities
		fmt.Printf("opportunities: %d open, loaded in %.1f s\n", have, time.Since(start).Seconds())
	} else {
		fmt.Printf("opportunities: %d open, seeded before\n", have)
	}
	if _, err := cdb.Exec(ctx, `ANALYZE customers, customer_search`); err != nil {
		return uuid.Nil, fmt.Errorf("analyze customers: %w", err)
	}
	return tenant, nil
}

// customersWithOpportunities returns the e-mails of the seeded customers
// holding an open opportunity; registrations for them must conflict.
func customersWithOpportunities(ctx context.Context, adminURL string, tenant uuid.UUID) (map[string]bool, error) {
	pdb, err := pgx.Connect(ctx, withDB(adminURL, dbPrefix+"_pipeline"))
	if err != nil {
		return nil, err
	}
	defer pdb.Close(ctx)
	rows, err := pdb.Query(ctx, `SELECT DISTINCT customer_id FROM opportunities WHERE tenant_id = $1 AND stage_kind = 1 AND delete_time IS NULL`, tenant)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("opportunity customers: %w", err)
	}
	cdb, err := pgx.Connect(ctx, withDB(adminURL, dbPrefix+"_customer"))
	if err != nil {
		return nil, err
	}
	defer cdb.Close(ctx)
	rows, err = cdb.Query(ctx, `SELECT email FROM customers WHERE tenant_id = $1 AND customer_id = ANY ($2)`, tenant, ids)
	if err != nil {
		return nil, err
	}
	emails, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("opportunity customers' e-mails: %w", err)
	}
	out := make(map[string]bool, len(emails))
	for _, e := range emails {
		out[e] = true
	}
	return out, nil
}

// ensurePartners returns n active resellers, created once (request ids).
func ensurePartners(ctx context.Context, partners partnerv1.PartnerServiceClient, n int) ([]string, error) {
	ids := make([]string, n)
	for i := range ids {
		p, err := partners.CreatePartner(ctx, &partnerv1.CreatePartnerRequest{RequestId: fmt.Sprintf("dealbench-partner-%d", i),
			Partner: &partnerv1.Partner{DisplayName: fmt.Sprintf("Bench reseller %d", i), Type: partnerv1.PartnerType_PARTNER_TYPE_RESELLER,
				Status: partnerv1.PartnerStatus_PARTNER_STATUS_ACTIVE}})
		if err != nil {
			return nil, fmt.Errorf("partner %d: %w", i, err)
		}
		ids[i] = p.GetPartner().GetPartnerId()
	}
	return ids, nil
}

// Kinds of registration in the mix, by i % 10.
const (
	kindExisting  = "existing customer, same e-mail"     // 0–3
	kindDuplicate = "existing customer, spelt otherwise" // 4–5
	kindNew       = "new prospect"                       // 6–8
	kindRepeat    = "repeat by another partner"          // 9
)

var kinds = []string{kindExisting, kindDuplicate, kindNew, kindRepeat}

func kindOf(i int) string {
	switch i % 10 {
	case 0, 1, 2, 3:
		return kindExisting
	case 4, 5:
		return kindDuplicate
	case 9:
		return kindRepeat
	}
	return kindNew
}

// outcome is one registration's result.
type outcome struct {
	latency time.Duration
	failed  bool
	// mustConflict is set when the prospect is a customer with an open
	// opportunity or repeats an earlier registration.
	mustConflict bool
	conflicts    []partnerv1.ConflictKind
}

type results struct {
	took time.Duration
	out  []outcome
	err  error
}

// register sends c.n registrations from c.workers workers. Half the
// existing customers picked hold an open opportunity (10 % of all do), so
// that the conflicts found show whether identity resolution found them.
func register(ctx context.Context, regs partnerv1.DealRegistrationServiceClient, c config, people []custseed.Person,
	withOpp map[string]bool, partners []string) results {
	var holders []int
	for i, p := range people {
		if withOpp[p.Email] {
			holders = append(holders, i)
		}
	}
	run := uuid.NewString()[:8]
	prospect := func(i int) string { return fmt.Sprintf("buyer-%s-%d@prospect.example", run, i) }
	out := make([]outcome, c.n)
	next := make(chan int)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	begin := time.Now()
	for w := range c.workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 17))
			for i := range next {
				partner := partners[i%len(partners)]
				var pr partnerv1.Prospect
				o := &out[i]
				switch kindOf(i) {
				case kindExisting, kindDuplicate:
					p := people[r.IntN(len(people))]
					if r.IntN(2) == 0 && len(holders) > 0 {
						p = people[holders[r.IntN(len(holders))]]
					}
					o.mustConflict = withOpp[p.Email]
					pr = partnerv1.Prospect{CompanyName: company(p), Email: p.Email}
					if kindOf(i) == kindDuplicate {
						pr = respell(p, i)
					}
				case kindNew:
					pr = partnerv1.Prospect{CompanyName: fmt.Sprintf("Prospect %s %d Ltd", run, i), Email: prospect(i)}
				case kindRepeat:
					// The prospect of registration i-53 (a new one, by another
					// partner), far enough back to have been sent already.
					j := max(i-53, 6)
					pr = partnerv1.Prospect{CompanyName: fmt.Sprintf("Prospect %s %d Ltd", run, j), Email: prospect(j)}
					partner = partners[(j+1)%len(partners)]
					o.mustConflict = i >= 59
				}
				t0 := time.Now()
				resp, err := regs.CreateDealRegistration(ctx, &partnerv1.CreateDealRegistrationRequest{DealRegistration: &partnerv1.DealRegistration{
					PartnerId: partner, DisplayName: "Bench deal", Prospect: &pr,
					Amount: &typesv1.Money{CurrencyCode: "USD", AmountMinor: 100_000}, ExpectedCloseDate: "2027-06-30"}})
				o.latency = time.Since(t0)
				if err != nil {
					o.failed = true
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("registration %d: %w", i, err)
					}
					mu.Unlock()
					continue
				}
				for _, cf := range resp.GetDealRegistration().GetConflicts() {
					o.conflicts = append(o.conflicts, cf.GetKind())
				}
			}
		})
	}
	for i := range c.n {
		select {
		case next <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	return results{took: time.Since(begin), out: out, err: first}
}

// company is the company name a partner gives for a customer: an
// organisation's name; none for a person, whose namesakes are no conflict.
func company(p custseed.Person) string {
	if p.Kind == organization {
		return p.Name
	}
	return ""
}

// organization is the customer service's kind of organisations.
const organization = int16(customerv1.CustomerKind_CUSTOMER_KIND_ORGANIZATION)

// respell writes an existing customer's identity as another hand would:
// the e-mail in other case with stray spaces, or no e-mail but the phone
// in its spaced international form (an organisation's name in lower case).
func respell(p custseed.Person, i int) partnerv1.Prospect {
	name := strings.ToLower(company(p))
	if i%20 < 10 || p.Phone == "" {
		return partnerv1.Prospect{CompanyName: name, Email: "  " + strings.ToUpper(p.Email[:1]) + p.Email[1:] + " "}
	}
	digits := p.Phone[1:]
	return partnerv1.Prospect{CompanyName: name, Phone: "+" + digits[:2] + " " + digits[2:6] + " " + digits[6:]}
}

func (r results) print(c config) {
	var lat []time.Duration
	failed := 0
	byKind := map[partnerv1.ConflictKind]int{}
	type tally struct{ sent, conflicted, expected, found int }
	per := map[string]*tally{}
	for _, k := range kinds {
		per[k] = &tally{}
	}
	for i, o := range r.out {
		if o.latency == 0 {
			continue
		}
		t := per[kindOf(i)]
		t.sent++
		if o.failed {
			failed++
			continue
		}
		lat = append(lat, o.latency)
		for _, k := range o.conflicts {
			byKind[k]++
		}
		if len(o.conflicts) > 0 {
			t.conflicted++
		}
		if o.mustConflict {
			t.expected++
			if len(o.conflicts) > 0 {
				t.found++
			}
		}
	}
	slices.Sort(lat)
	fmt.Printf("\n%d registrations (%d failed) from %d workers over %d partners in %.1f s: %.0f registrations/s\n",
		len(lat)+failed, failed, c.workers, c.partners, r.took.Seconds(), float64(len(lat))/r.took.Seconds())
	if len(lat) > 0 {
		fmt.Printf("latency p50 %s  p95 %s  p99 %s  max %s\n", ms(pct(lat, 50)), ms(pct(lat, 95)), ms(pct(lat, 99)), ms(lat[len(lat)-1]))
	}
	fmt.Printf("%-38s %7s %10s %22s\n", "mix", "sent", "conflicted", "expected conflicts found")
	for _, k := range kinds {
		t := per[k]
		fmt.Printf("%-38s %7d %10d %15d of %d\n", k, t.sent, t.conflicted, t.found, t.expected)
	}
	fmt.Println("conflicts by kind:")
	for _, k := range []partnerv1.ConflictKind{partnerv1.ConflictKind_CONFLICT_KIND_OPEN_OPPORTUNITY,
		partnerv1.ConflictKind_CONFLICT_KIND_DIRECT_OWNER, partnerv1.ConflictKind_CONFLICT_KIND_PARTNER_REGISTRATION} {
		fmt.Printf("  %-36s %7d\n", k, byKind[k])
	}
	if r.err != nil {
		fmt.Printf("first error: %v\n", r.err)
	}
}

// memory reads each process's resident set and its peak (VmRSS, VmHWM) in
// kB from /proc.
func memory(pids map[string]int) map[string][2]int {
	out := map[string][2]int{}
	for name, pid := range pids {
		f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		var m [2]int
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var kb int
			if n, _ := fmt.Sscanf(sc.Text(), "VmRSS: %d kB", &kb); n == 1 {
				m[0] = kb
			}
			if n, _ := fmt.Sscanf(sc.Text(), "VmHWM: %d kB", &kb); n == 1 {
				m[1] = kb
			}
		}
		f.Close()
		out[name] = m
	}
	return out
}

func printMemory(before, after map[string][2]int) {
	fmt.Printf("%-12s %12s %12s %12s\n", "process", "RSS before", "RSS after", "peak RSS")
	for _, name := range append(slices.Clone(suite.Services), "gateway") {
		b, a := before[name], after[name]
		fmt.Printf("%-12s %9.1f MB %9.1f MB %9.1f MB\n", name, float64(b[0])/1024, float64(a[0])/1024, float64(a[1])/1024)
	}
}

// pct is the p-th percentile of sorted (nearest rank).
func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(i, 0)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// withDB points the admin URL at another database of the cluster.
func withDB(admin, db string) string {
	i := strings.LastIndex(admin, "/")
	rest := ""
	if q := strings.Index(admin[i:], "?"); q >= 0 {
		rest = admin[i+q:]
	}
	return admin[:i+1] + db + rest
}
