// Command lagbench measures how far the analytics read model trails the
// other services under write load: it starts its own PostgreSQL cluster and
// the real suite (deploy/dev/internal/suite), offers writes at a fixed rate
// spread over the customer, pipeline and ticket services for a fixed time,
// then reads, for every event those writes caused, the commit time of the
// source transaction that wrote it and of the analytics transaction that
// applied it (the cluster runs with track_commit_timestamp, so both are
// PostgreSQL's own commit timestamps, on one clock), and prints the lag
// percentiles per source with the achieved write rates and the analytics
// process's CPU and memory.
// It never polls the API per write: both times are read from the databases
// once the load is over. It prints figures and never fails on a timing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rapportcrm/rapport/deploy/dev/internal/suite"
	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
)

type config struct {
	rate      int
	duration  time.Duration
	drain     time.Duration
	workers   int
	customers int
	state     string
	bin       string
	pgPort    int
	grpcBase  int
	httpAddr  string
	env       string
	webhook   bool
}

func main() {
	var c config
	flag.IntVar(&c.rate, "rate", 1000, "writes per second offered, spread evenly over the write kinds")
	flag.DurationVar(&c.duration, "d", 30*time.Second, "how long to offer writes")
	flag.DurationVar(&c.drain, "drain", time.Minute, "how long to wait for analytics to apply the last events")
	flag.IntVar(&c.workers, "workers", 128, "concurrent writers (a write waiting for a free writer past its slot is not offered)")
	flag.IntVar(&c.customers, "customers", 200, "customers (each with two opportunities and a ticket) the writes go to")
	flag.StringVar(&c.state, "state", ".rapport/lagbench", "state folder: the cluster, keys and logs")
	flag.StringVar(&c.bin, "bin", ".rapport/bin", "folder of the built service binaries (make build)")
	flag.IntVar(&c.pgPort, "pg-port", 55477, "port of the bench's own PostgreSQL cluster")
	flag.IntVar(&c.grpcBase, "grpc-base", 19200, "gRPC port of the customer service; the others follow")
	flag.StringVar(&c.httpAddr, "http", "127.0.0.1:19206", "the edge's address")
	flag.StringVar(&c.env, "env", "", "extra environment for every service, comma-separated (e.g. EVENT_POLL_INTERVAL=50ms)")
	flag.BoolVar(&c.webhook, "webhook", false, "also subscribe a loopback receiver to every event and print source commit → webhook arrival")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "lagbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	state, err := filepath.Abs(c.state)
	if err != nil {
		return err
	}
	bin, err := filepath.Abs(c.bin)
	if err != nil {
		return err
	}
	admin, stopPG, err := startCluster(ctx, root, filepath.Join(state, "pg"), c.pgPort)
	if err != nil {
		return err
	}
	defer stopPG()
	o := suite.Options{Root: root, StateDir: state, BinDir: bin, AdminURL: admin, DBPrefix: "lagbench",
		GRPCBasePort: c.grpcBase, HTTPAddr: c.httpAddr, Env: []string{"DRAIN_DELAY=0s", "LOG_LEVEL=warn"}}
	if c.env != "" {
		o.Env = append(o.Env, strings.Split(c.env, ",")...)
	}
	fmt.Printf("starting the suite (cluster on 127.0.0.1:%d, gRPC from %d, edge %s; logs in %s/logs)\n", c.pgPort, c.grpcBase, c.httpAddr, state)
	startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	s, err := suite.Start(startCtx, o)
	cancel()
	if err != nil {
		return fmt.Errorf("start suite: %w", err)
	}
	defer s.Stop()

	conns := map[string]*grpc.ClientConn{}
	for _, slug := range []string{"customer", "pipeline", "ticket", "integration"} {
		conn, err := grpc.NewClient(s.GRPC[slug], grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer conn.Close()
		conns[slug] = conn
	}
	w := &writer{
		customers: customerv1.NewCustomerServiceClient(conns["customer"]),
		relations: customerv1.NewRelationshipServiceClient(conns["customer"]),
		pipeline:  pipelinev1.NewPipelineServiceClient(conns["pipeline"]),
		tickets:   ticketv1.NewTicketServiceClient(conns["ticket"]),
	}
	actx := grpcclient.WithBearer(ctx, s.AdminKey)
	fmt.Printf("seeding %d customers, %d opportunities and %d tickets\n", c.customers, 2*c.customers, c.customers)
	if err := w.seed(actx, c.customers); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	dbs, err := openDatabases(ctx, c.pgPort)
	if err != nil {
		return err
	}
	defer func() {
		for _, db := range dbs {
			db.Close(context.WithoutCancel(ctx))
		}
	}()
	var hook *receiver
	if c.webhook {
		if hook, err = subscribe(ctx, s.AdminKey, conns["customer"], conns["integration"]); err != nil {
			return fmt.Errorf("webhook: %w", err)
		}
		defer hook.Close()
	}
	// Let analytics apply the seed first, so the window holds only the load.
	time.Sleep(3 * time.Second)

	pid, err := findProcess(filepath.Join(bin, "analytics"))
	if err != nil {
		return err
	}
	var start time.Time
	if err := dbs["analytics"].QueryRow(ctx, `SELECT now()`).Scan(&start); err != nil {
		return err
	}
	cpu0, wall0 := cpuTicks(pid), time.Now()
	fmt.Printf("offering %d writes/s for %v with %d writers\n", c.rate, c.duration, c.workers)
	stats, peakRSS := w.load(actx, c, pid)
	cpu1, wall1 := cpuTicks(pid), time.Now()

	fmt.Printf("\n%-22s %8s %8s %8s %9s %9s\n", "write", "offered", "done", "errors", "writes/s", "p99 call")
	total := 0
	for _, k := range kinds {
		st := stats[k]
		total += st.done
		fmt.Printf("%-22s %8d %8d %8d %9.0f %9s\n", k, st.offered, st.done, st.errors, float64(st.done)/c.duration.Seconds(), pct(st.latencies, 0.99))
		if st.lastErr != "" {
			fmt.Printf("    last error: %s\n", st.lastErr)
		}
	}
	fmt.Printf("%-22s %8s %8d %8s %9.0f\n", "all", "", total, "", float64(total)/c.duration.Seconds())
	fmt.Printf("not offered (every writer busy at its slot): %d\n", w.skipped.Load())

	events, err := sourceEvents(ctx, dbs, start)
	if err != nil {
		return err
	}
	applied, err := waitApplied(ctx, dbs["analytics"], events, c.drain)
	if err != nil {
		return err
	}
	fmt.Printf("\nlag from the source's commit to the commit of analytics applying it (%d events caused by the load)\n", len(events))
	fmt.Printf("%-10s %8s %8s %9s %9s %9s %9s\n", "source", "events", "applied", "p50", "p95", "p99", "max")
	var all []time.Duration
	for _, src := range []string{"customer", "pipeline", "ticket"} {
		var lags []time.Duration
		n := 0
		for id, e := range events {
			if e.source != src {
				continue
			}
			n++
			if at, ok := applied[id]; ok {
				lags = append(lags, max(0, at.Sub(e.time)))
			}
		}
		all = append(all, lags...)
		printLags(src, n, lags)
	}
	printLags("all", len(events), all)
	if hook != nil {
		arrived := hook.wait(events, c.drain)
		fmt.Printf("\nlag from the source's commit to the webhook receiver's arrival (stream poll, integration ingest, claim, signed POST)\n")
		fmt.Printf("%-10s %8s %8s %9s %9s %9s %9s\n", "source", "events", "arrived", "p50", "p95", "p99", "max")
		var lags []time.Duration
		for id, e := range events {
			if at, ok := arrived[id]; ok {
				lags = append(lags, max(0, at.Sub(e.time)))
			}
		}
		printLags("all", len(events), lags)
	}
	secs := wall1.Sub(wall0).Seconds()
	fmt.Printf("\nanalytics process during the load: %.2f cores, VmRSS peak %d MiB\n", float64(cpu1-cpu0)/clockTicks/secs, peakRSS>>10)
	return nil
}

func printLags(name string, n int, lags []time.Duration) {
	slices.Sort(lags)
	fmt.Printf("%-10s %8d %8d %9s %9s %9s %9s\n", name, n, len(lags), pct(lags, 0.5), pct(lags, 0.95), pct(lags, 0.99), pct(lags, 1))
}

// pct is the nearest-rank percentile of sorted durations.
func pct(d []time.Duration, p float64) string {
	if len(d) == 0 {
		return "-"
	}
	if !slices.IsSorted(d) {
		d = slices.Sorted(slices.Values(d))
	}
	i := max(0, int(float64(len(d))*p+0.999999)-1)
	return d[min(i, len(d)-1)].Round(100 * time.Microsecond).String()
}

// kinds are the writes offered, in turn.
var kinds = []string{"customer.interaction", "customer.update", "pipeline.stage_move", "ticket.create", "ticket.reply"}

type kindStats struct {
	offered, done, errors int
	lastErr               string
	latencies             []time.Duration
}

type opportunity struct {
	id, etag, stage string
}

// writer holds the clients and the seeded resources the writes go to.
type writer struct {
	customers customerv1.CustomerServiceClient
	relations customerv1.RelationshipServiceClient
	pipeline  pipelinev1.PipelineServiceClient
	tickets   ticketv1.TicketServiceClient

	customerIDs []string
	ticketIDs   []string
	// opps hands each opportunity to one writer at a time: a stage move
	// needs its current etag.
	opps chan opportunity
	// stages are two open stages the moves alternate between.
	stages  [2]string
	skipped atomic.Int64
}

func (w *writer) seed(ctx context.Context, n int) error {
	w.opps = make(chan opportunity, 2*n)
	var mu sync.Mutex
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := w.customers.CreateCustomer(ctx, &customerv1.CreateCustomerRequest{RequestId: "lag-c-" + strconv.Itoa(i),
				Customer: &customerv1.Customer{Kind: customerv1.CustomerKind_CUSTOMER_KIND_PERSON, DisplayName: "Lag " + strconv.Itoa(i)}})
			if err != nil {
				fail(fmt.Errorf("create customer: %w", err))
				return
			}
			id := c.GetCustomer().GetCustomerId()
			var opps []opportunity
			for j := range 2 {
				o, err := w.pipeline.CreateOpportunity(ctx, &pipelinev1.CreateOpportunityRequest{RequestId: fmt.Sprintf("lag-o-%d-%d", i, j),
					Opportunity: &pipelinev1.Opportunity{CustomerId: id, DisplayName: "Lag deal", Stage: pipelinev1.Stage_STAGE_PROSPECTING,
						Amount: &typesv1.Money{CurrencyCode: "EUR", AmountMinor: 1000}}})
				if err != nil {
					fail(fmt.Errorf("create opportunity: %w", err))
					return
				}
				opps = append(opps, opportunity{id: o.GetOpportunity().GetOpportunityId(), etag: o.GetOpportunity().GetEtag(), stage: o.GetOpportunity().GetStageId()})
				if i == 0 && j == 0 {
					if err := w.findStages(ctx, o.GetOpportunity().GetPipelineId()); err != nil {
						fail(err)
						return
					}
				}
			}
			t, err := w.tickets.CreateTicket(ctx, &ticketv1.CreateTicketRequest{RequestId: "lag-t-" + strconv.Itoa(i),
				Ticket: &ticketv1.Ticket{CustomerId: id, Subject: "Lag ticket"}})
			if err != nil {
				fail(fmt.Errorf("create ticket: %w", err))
				return
			}
			mu.Lock()
			w.customerIDs = append(w.customerIDs, id)
			w.ticketIDs = append(w.ticketIDs, t.GetTicket().GetTicketId())
			mu.Unlock()
			for _, o := range opps {
				w.opps <- o
			}
		})
	}
	wg.Wait()
	return firstErr
}

func (w *writer) findStages(ctx context.Context, pipelineID string) error {
	p, err := w.pipeline.GetPipeline(ctx, &pipelinev1.GetPipelineRequest{PipelineId: pipelineID})
	if err != nil {
		return fmt.Errorf("get pipeline: %w", err)
	}
	var open []string
	for _, st := range p.GetPipeline().GetStages() {
		if st.GetKind() == pipelinev1.StageKind_STAGE_KIND_OPEN && len(st.GetRequiredFields()) == 0 {
			open = append(open, st.GetStageId())
		}
	}
	if len(open) < 2 {
		return errors.New("the default pipeline has fewer than two open stages without required fields")
	}
	w.stages = [2]string{open[0], open[1]}
	return nil
}

// write performs the n-th write of kind.
func (w *writer) write(ctx context.Context, kind string, n int) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	customer := w.customerIDs[n%len(w.customerIDs)]
	switch kind {
	case "customer.interaction":
		_, err := w.relations.CreateInteraction(cctx, &customerv1.CreateInteractionRequest{CustomerId: customer,
			Interaction: &customerv1.Interaction{Kind: customerv1.InteractionKind_INTERACTION_KIND_CALL, Channel: "phone",
				Direction: customerv1.InteractionDirection_INTERACTION_DIRECTION_INBOUND, OccurTime: timestamppb.Now(), Subject: "Lag call"}})
		return err
	case "customer.update":
		_, err := w.customers.UpdateCustomer(cctx, &customerv1.UpdateCustomerRequest{
			Customer:   &customerv1.Customer{CustomerId: customer, Industry: "industry " + strconv.Itoa(n)},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"industry"}}})
		return err
	case "pipeline.stage_move":
		o := <-w.opps
		next := w.stages[0]
		if o.stage == next {
			next = w.stages[1]
		}
		resp, err := w.pipeline.MoveOpportunityStage(cctx, &pipelinev1.MoveOpportunityStageRequest{OpportunityId: o.id, StageId: next, Etag: o.etag})
		if err == nil {
			o.etag, o.stage = resp.GetOpportunity().GetEtag(), resp.GetOpportunity().GetStageId()
		} else if g, gerr := w.pipeline.GetOpportunity(cctx, &pipelinev1.GetOpportunityRequest{OpportunityId: o.id}); gerr == nil {
			o.etag, o.stage = g.GetOpportunity().GetEtag(), g.GetOpportunity().GetStageId()
		}
		w.opps <- o
		return err
	case "ticket.create":
		_, err := w.tickets.CreateTicket(cctx, &ticketv1.CreateTicketRequest{Ticket: &ticketv1.Ticket{CustomerId: customer, Subject: "Lag ticket"}})
		return err
	case "ticket.reply":
		_, err := w.tickets.CreateTicketMessage(cctx, &ticketv1.CreateTicketMessageRequest{TicketId: w.ticketIDs[n%len(w.ticketIDs)],
			Message: &ticketv1.TicketMessage{Visibility: ticketv1.MessageVisibility_MESSAGE_VISIBILITY_PUBLIC, Body: "Lag reply"}})
		return err
	}
	return fmt.Errorf("unknown write %q", kind)
}

type job struct {
	kind string
	n    int
}

type result struct {
	kind    string
	latency time.Duration
	err     error
}

// load offers c.rate writes a second (open loop: each write has its slot;
// one that finds every writer busy is counted as not offered) and samples
// the analytics process's RSS each second; it returns per-kind figures and
// the peak RSS in KiB.
func (w *writer) load(ctx context.Context, c config, pid int) (map[string]*kindStats, int64) {
	jobs := make(chan job, c.workers)
	results := make(chan result, 4*c.workers)
	var wg sync.WaitGroup
	for range c.workers {
		wg.Go(func() {
			for j := range jobs {
				t := time.Now()
				err := w.write(ctx, j.kind, j.n)
				results <- result{kind: j.kind, latency: time.Since(t), err: err}
			}
		})
	}
	stats := map[string]*kindStats{}
	for _, k := range kinds {
		stats[k] = &kindStats{}
	}
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for r := range results {
			st := stats[r.kind]
			if r.err != nil {
				st.errors++
				st.lastErr = r.err.Error()
				continue
			}
			st.done++
			st.latencies = append(st.latencies, r.latency)
		}
	}()
	var peak int64
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	lastSample := start
	issued := 0
	offered := map[string]int{}
	for now := range tick.C {
		if now.Sub(start) >= c.duration || ctx.Err() != nil {
			break
		}
		due := int(now.Sub(start).Seconds() * float64(c.rate))
		for ; issued < due; issued++ {
			k := kinds[issued%len(kinds)]
			select {
			case jobs <- job{kind: k, n: issued / len(kinds)}:
				offered[k]++
			default:
				w.skipped.Add(1)
			}
		}
		if now.Sub(lastSample) >= time.Second {
			peak = max(peak, rssKiB(pid))
			lastSample = now
		}
	}
	close(jobs)
	wg.Wait()
	close(results)
	<-collected
	peak = max(peak, rssKiB(pid))
	for k, n := range offered {
		stats[k].offered = n
	}
	for _, st := range stats {
		slices.Sort(st.latencies)
	}
	return stats, peak
}

type event struct {
	source string
	time   time.Time
}

func openDatabases(ctx context.Context, port int) (map[string]*pgx.Conn, error) {
	out := map[string]*pgx.Conn{}
	for _, slug := range []string{"customer", "pipeline", "ticket", "analytics"} {
		conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/lagbench_%s?sslmode=disable", port, slug))
		if err != nil {
			return nil, fmt.Errorf("connect to the %s database: %w", slug, err)
		}
		out[slug] = conn
	}
	return out, nil
}

// sourceEvents reads the events the sources wrote since start (as the
// superuser: row-level security does not apply, and the bench reads
// nothing but ids and times).
func sourceEvents(ctx context.Context, dbs map[string]*pgx.Conn, start time.Time) (map[uuid.UUID]event, error) {
	out := map[uuid.UUID]event{}
	for _, src := range []string{"customer", "pipeline", "ticket"} {
		rows, err := dbs[src].Query(ctx, `SELECT event_id, pg_xact_commit_timestamp(txid::text::xid) FROM outbox WHERE occurred_at >= $1`, start)
		if err != nil {
			return nil, fmt.Errorf("read the %s outbox: %w", src, err)
		}
		for rows.Next() {
			var id uuid.UUID
			var at time.Time
			if err := rows.Scan(&id, &at); err != nil {
				return nil, err
			}
			out[id] = event{source: src, time: at}
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// waitApplied waits up to drain for analytics to apply every event and
// returns the apply time of those it applied.
func waitApplied(ctx context.Context, db *pgx.Conn, events map[uuid.UUID]event, drain time.Duration) (map[uuid.UUID]time.Time, error) {
	ids := make([]uuid.UUID, 0, len(events))
	for id := range events {
		ids = append(ids, id)
	}
	deadline := time.Now().Add(drain)
	for {
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM processed_events WHERE event_id = ANY($1)`, ids).Scan(&n); err != nil {
			return nil, err
		}
		if n == len(ids) || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	rows, err := db.Query(ctx, `SELECT event_id, pg_xact_commit_timestamp(xmin) FROM processed_events WHERE event_id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	out := map[uuid.UUID]time.Time{}
	for rows.Next() {
		var id uuid.UUID
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			return nil, err
		}
		out[id] = at
	}
	return out, rows.Err()
}

// startCluster starts the bench's own cluster under dir with
// track_commit_timestamp on (set once, then a restart); it returns the
// superuser URL and how to stop the cluster.
func startCluster(ctx context.Context, root, dir string, port int) (string, func(), error) {
	pg := filepath.Join(root, "deploy/dev/pg.sh")
	start := func() (string, error) {
		out, err := exec.CommandContext(ctx, pg, "start", dir, strconv.Itoa(port)).Output()
		if err != nil {
			return "", fmt.Errorf("start postgres: %w", err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	stop := func() { _ = exec.Command(pg, "stop", dir).Run() }
	url, err := start()
	if err != nil {
		return "", nil, err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		stop()
		return "", nil, err
	}
	var on string
	err = conn.QueryRow(ctx, `SHOW track_commit_timestamp`).Scan(&on)
	if err == nil && on != "on" {
		_, err = conn.Exec(ctx, `ALTER SYSTEM SET track_commit_timestamp = on`)
	}
	conn.Close(ctx)
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("turn on track_commit_timestamp: %w", err)
	}
	if on != "on" {
		stop()
		if url, err = start(); err != nil {
			return "", nil, err
		}
	}
	return url, stop, nil
}

// clockTicks is the kernel's USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// findProcess returns the pid of the process running exe (the suite started it).
func findProcess(exe string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if path, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && path == exe {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no process runs %s", exe)
}

// cpuTicks is the process's user + system time in clock ticks.
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) start after ") ".
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return utime + stime
}

func rssKiB(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
