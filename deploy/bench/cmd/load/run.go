package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// A target is one kind of request under load. newCall is called once per
// worker, so each worker picks its connection up front.
type target struct {
	name    string
	newCall func(worker int) func(ctx context.Context) error
}

// result is what the measured phases of one target saw.
type result struct {
	ok, errors int
	elapsed    time.Duration
	// latencies of the successful calls; sorted once all phases are in.
	latencies []time.Duration
	firstErr  error
}

// add merges the result of another phase of the same target.
func (r *result) add(o result) {
	r.ok += o.ok
	r.errors += o.errors
	r.elapsed += o.elapsed
	r.latencies = append(r.latencies, o.latencies...)
	r.firstErr = cmp.Or(r.firstErr, o.firstErr)
}

func (r result) rps() float64 { return float64(r.ok) / r.elapsed.Seconds() }

// percentile returns the latency that fraction p of the calls did not
// exceed (nearest rank); the latencies must be sorted.
func (r result) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(r.latencies)))) - 1
	return r.latencies[max(i, 0)]
}

// targetOrder is the default order: the three GetCustomer variants run
// back to back so they see the same database state, and creates run last
// so the rows they add and the events they cause (consumed by other
// services in the background) cannot disturb the reads.
var targetOrder = []string{"grpc-get", "baseline-get", "rest-get", "grpc-list", "rest-list", "grpc-search", "rest-search", "grpc-create", "rest-create"}

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	var cfg config
	fs.StringVar(&cfg.grpcAddr, "grpc", "127.0.0.1:9091", "customer service address")
	fs.StringVar(&cfg.restURL, "rest", "http://127.0.0.1:8080", "REST edge base URL")
	fs.StringVar(&cfg.baselineAddr, "baseline", "127.0.0.1:9191", "baseline server address")
	fs.StringVar(&cfg.ticketAddr, "ticket-grpc", "127.0.0.1:9093", "ticket service address, for the ticket targets ("+strings.Join(ticketTargets, ", ")+")")
	keyFile := fs.String("key-file", ".rapport/admin-api-key", "file holding the admin API key")
	idsFile := fs.String("ids", ".rapport/bench/ids", "customer ids to read, one a line (from load seed)")
	queriesFile := fs.String("queries", "", "search queries, one a line, for the search targets")
	fs.IntVar(&cfg.conns, "conns", 4, "gRPC connections per server; worker i uses connection i mod conns")
	conc := fs.Int("c", 50, "concurrent workers")
	duration := fs.Duration("d", 15*time.Second, "measured duration of each target")
	rounds := fs.Int("rounds", 1, "split each target's duration into this many phases and take the targets in turn, so that a machine whose speed drifts treats them alike")
	warmup := fs.Duration("warmup", 2*time.Second, "unmeasured load before each phase")
	targets := fs.String("targets", strings.Join(targetOrder, ","), "targets to load, in order")
	watch := fs.String("watch", "", "processes to report the CPU use of, with their children, as name=pid,name=pid (this process always is, as load)")
	summary := fs.String("summary", "", "file to write one tab-separated line per target to: name, rps, p50, p90, p99 and max in ms, errors")
	_ = fs.Parse(args)
	if *rounds < 1 {
		return fmt.Errorf("-rounds must be at least 1")
	}

	var err error
	if cfg.key, err = readKey(*keyFile); err != nil {
		return err
	}
	b, err := os.ReadFile(*idsFile)
	if err != nil {
		return fmt.Errorf("customer ids (run load seed first): %w", err)
	}
	cfg.ids = strings.Fields(string(b))
	if len(cfg.ids) == 0 {
		return fmt.Errorf("no customer ids in %s", *idsFile)
	}
	if strings.Contains(*targets, "search") {
		b, err := os.ReadFile(*queriesFile)
		if err != nil {
			return fmt.Errorf("search queries: %w", err)
		}
		if cfg.queries = strings.FieldsFunc(string(b), func(r rune) bool { return r == '\n' }); len(cfg.queries) == 0 {
			return fmt.Errorf("no search queries in %s", *queriesFile)
		}
	}
	cpu, err := parseWatch(*watch)
	if err != nil {
		return err
	}
	tt, closeAll, err := newTargets(cfg, strings.Split(*targets, ","))
	if err != nil {
		return err
	}
	defer closeAll()

	type state struct {
		calls []func(context.Context) error
		r     result
		used  cpuUse
	}
	states := make([]state, len(tt))
	for i, t := range tt {
		states[i].calls = make([]func(context.Context) error, *conc)
		for w := range states[i].calls {
			states[i].calls[w] = t.newCall(w)
		}
	}
	var lines []string
	fmt.Printf("%d workers, %s per target", *conc, *duration)
	if *rounds > 1 {
		fmt.Printf(" in %d rounds", *rounds)
	}
	fmt.Printf(", %s warm-up before each phase, %d ids\n", *warmup, len(cfg.ids))
	fmt.Printf("%-14s %9s %9s %9s %9s %9s %8s\n", "target", "rps", "p50", "p90", "p99", "max", "errors")
	for round := range *rounds {
		for i, t := range tt {
			s := &states[i]
			drive(s.calls, *warmup)
			before := cpu.sample()
			s.r.add(drive(s.calls, *duration/time.Duration(*rounds)))
			s.used.add(before, cpu.sample())
			if round < *rounds-1 {
				continue
			}
			r := s.r
			slices.Sort(r.latencies)
			fmt.Printf("%-14s %9.0f %9s %9s %9s %9s %8d\n", t.name, r.rps(), ms(r.percentile(.5)), ms(r.percentile(.9)),
				ms(r.percentile(.99)), ms(r.percentile(1)), r.errors)
			if r.firstErr != nil {
				fmt.Printf("%-14s first error: %v\n", "", r.firstErr)
			}
			fmt.Printf("%-14s %s\n", "", cpu.report(s.used, r.ok))
			lines = append(lines, fmt.Sprintf("%s\t%.1f\t%.3f\t%.3f\t%.3f\t%.3f\t%d", t.name, r.rps(), msf(r.percentile(.5)),
				msf(r.percentile(.9)), msf(r.percentile(.99)), msf(r.percentile(1)), r.errors))
		}
	}
	if *summary != "" {
		return os.WriteFile(*summary, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	}
	return nil
}

// grace is how long calls still in flight at the deadline may take to
// finish; they count, so the elapsed time runs until the last one ends.
const grace = 10 * time.Second

// drive runs one worker per call until d has passed and measures them.
// Each worker records its latencies in its own slice, so measuring takes
// no locks.
func drive(calls []func(context.Context) error, d time.Duration) result {
	start := time.Now()
	end := start.Add(d)
	ctx, cancel := context.WithDeadline(context.Background(), end.Add(grace))
	defer cancel()
	lat := make([][]time.Duration, len(calls))
	errs := make([]int, len(calls))
	firstErr := make([]error, len(calls))
	var wg sync.WaitGroup
	for w, call := range calls {
		wg.Go(func() {
			l := make([]time.Duration, 0, 1<<14)
			for t0 := time.Now(); t0.Before(end); t0 = time.Now() {
				if err := call(ctx); err != nil {
					errs[w]++
					if firstErr[w] == nil {
						firstErr[w] = err
					}
					continue
				}
				l = append(l, time.Since(t0))
			}
			lat[w] = l
		})
	}
	wg.Wait()
	r := result{elapsed: time.Since(start), latencies: slices.Concat(lat...)}
	r.ok = len(r.latencies)
	for w := range calls {
		r.errors += errs[w]
		r.firstErr = cmp.Or(r.firstErr, firstErr[w])
	}
	return r
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", msf(d)) }

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
