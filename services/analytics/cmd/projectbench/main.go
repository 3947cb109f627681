// Command projectbench measures how fast the analytics read model applies
// events: it feeds generated pipeline, ticket and partner events through the
// store's Apply (the consumer's write path: one transaction per event,
// exactly-once claim, projections and checkpoint), one goroutine per source
// and tenant as the consumer runs them, and prints events/s and per-event
// apply latency, then times a few figure queries over what it applied. It
// connects as the service's role, so row-level security applies. It prints
// figures and asserts nothing.
//
//	go run ./services/analytics/cmd/projectbench -db postgres://postgres@127.0.0.1:55464/postgres -events 40000
//
// It measures the projection alone, not the end-to-end lag from a write in
// another service: the feeds' own streaming is not part of it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/migrate"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
	"github.com/rapportcrm/rapport/services/analytics/internal/postgres"
)

func main() {
	var (
		dbURL   = flag.String("db", "postgres://postgres@127.0.0.1:55464/postgres?sslmode=disable", "superuser URL of a loopback PostgreSQL cluster")
		dbName  = flag.String("dbname", "projectbench", "database to (re)create in that cluster")
		events  = flag.Int("events", 20000, "events to apply in all")
		tenants = flag.Int("tenants", 2, "tenants; each has a pipeline, a ticket and a partner stream")
		queries = flag.Int("queries", 20, "timed runs of each figure query")
	)
	flag.Parse()
	if err := run(context.Background(), *dbURL, *dbName, *events, *tenants, *queries); err != nil {
		fmt.Fprintln(os.Stderr, "projectbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, adminURL, dbName string, n, tenants, queries int) error {
	if !strings.Contains(adminURL, "127.0.0.1") && !strings.Contains(adminURL, "localhost") && !strings.Contains(adminURL, "[::1]") {
		return errors.New("-db must be a loopback address")
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return fmt.Errorf("parse -db: %w", err)
	}
	u.Path = "/" + dbName
	benchURL := u.String()
	if err := recreate(ctx, adminURL, dbName); err != nil {
		return err
	}
	if err := migrate.Up(ctx, benchURL, postgres.Migrations, slog.New(slog.DiscardHandler)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// The superuser switches to the service role on connect, so grants and
	// row-level security are production's.
	pool, err := pgdb.OpenAs(ctx, benchURL, postgres.Role, 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := postgres.New(pool)

	streams := generate(n, tenants)
	var (
		mu        sync.Mutex
		latencies []time.Duration
		wg        sync.WaitGroup
		errs      = make([]error, len(streams))
	)
	start := time.Now()
	for i, s := range streams {
		wg.Go(func() {
			own := make([]time.Duration, 0, len(s))
			for _, e := range s {
				t := time.Now()
				if _, err := store.Apply(ctx, e); err != nil {
					errs[i] = err
					return
				}
				own = append(own, time.Since(t))
			}
			mu.Lock()
			latencies = append(latencies, own...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	slices.Sort(latencies)
	fmt.Printf("applied %d events over %d streams (%d tenants × pipeline, ticket, partner) in %s\n", len(latencies), len(streams), tenants, elapsed.Round(time.Millisecond))
	fmt.Printf("throughput %.0f events/s (%.0f per stream); apply p50 %s p99 %s max %s\n",
		float64(len(latencies))/elapsed.Seconds(), float64(len(latencies))/elapsed.Seconds()/float64(len(streams)),
		pct(latencies, 0.50), pct(latencies, 0.99), latencies[len(latencies)-1])

	tenant := streams[0][0].TenantID
	year := analytics.FigureQuery{Start: t0.AddDate(0, -1, 0), End: t0.AddDate(1, 0, 0)}
	for _, q := range []struct {
		name string
		q    analytics.FigureQuery
	}{
		{"win rate by owner", analytics.FigureQuery{Metric: analytics.MetricWinRate, GroupBy: []analytics.Dimension{analytics.DimensionOwner}}},
		{"won amount by owner, month", analytics.FigureQuery{Metric: analytics.MetricWonAmount, GroupBy: []analytics.Dimension{analytics.DimensionOwner, analytics.DimensionMonth}}},
		{"resolution p90 by channel", analytics.FigureQuery{Metric: analytics.MetricResolutionHours, Percentile: 90, GroupBy: []analytics.Dimension{analytics.DimensionChannel}}},
		{"csat by agent", analytics.FigureQuery{Metric: analytics.MetricCSATAverage, GroupBy: []analytics.Dimension{analytics.DimensionAgent}}},
		{"registrations by partner", analytics.FigureQuery{Metric: analytics.MetricDealRegistrationApprovalRate, GroupBy: []analytics.Dimension{analytics.DimensionPartner}}},
	} {
		q.q.Start, q.q.End = year.Start, year.End
		times := make([]time.Duration, 0, queries)
		rows := 0
		for range queries {
			t := time.Now()
			out, err := store.Figures(ctx, tenant, q.q, analytics.MaxRows)
			if err != nil {
				return fmt.Errorf("%s: %w", q.name, err)
			}
			times = append(times, time.Since(t))
			rows = len(out)
		}
		slices.Sort(times)
		fmt.Printf("query %-28s p50 %9s p99 %9s (%d rows)\n", q.name, pct(times, 0.5), pct(times, 0.99), rows)
	}
	return nil
}

func pct(d []time.Duration, p float64) time.Duration {
	return d[min(len(d)-1, int(p*float64(len(d))))].Round(10 * time.Microsecond)
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// generate makes n events spread over tenants × three sources: pipeline
// (opportunities moving through stages, campaigns), ticket (tickets and
// their CSAT answers) and partner (deal registrations).
func generate(n, tenants int) [][]analytics.Event {
	r := rand.New(rand.NewPCG(1, 2))
	var streams [][]analytics.Event
	per := n / (tenants * 3)
	for range tenants {
		tenant := uuid.New()
		next := func(source string, s *[]analytics.Event, typ string, at time.Time) *analytics.Event {
			*s = append(*s, analytics.Event{ID: uuid.Must(uuid.NewV7()), TenantID: tenant, Source: source,
				Cursor: strconv.Itoa(len(*s) + 1), Type: typ, Time: at})
			return &(*s)[len(*s)-1]
		}
		var pipe, tick, part []analytics.Event
		for len(pipe) < per {
			id, at := uuid.New(), t0.Add(time.Duration(r.IntN(300*24))*time.Hour)
			f := analytics.SalesFacts{OwnerID: "rep-" + strconv.Itoa(r.IntN(40)), CampaignID: "c" + strconv.Itoa(r.IntN(10)),
				ProductIDs: []string{"p" + strconv.Itoa(r.IntN(7))}, CreateTime: at, StageKind: analytics.StageKindOpen}
			amount := analytics.Money{CurrencyCode: "USD", AmountMinor: int64(r.IntN(100000))}
			for step, stage := range []string{"prospect", "qualify", "propose"} {
				if step > 0 && r.IntN(3) == 0 {
					break
				}
				f.StageID, f.StageEnterTime = stage, at.Add(time.Duration(step)*72*time.Hour)
				e := next("pipeline", &pipe, "opportunity.stage_changed", f.StageEnterTime)
				e.Opportunity = &analytics.Opportunity{ID: id, CustomerID: uuid.New(), Amount: amount, Sales: f}
			}
			f.StageID, f.StageKind, f.CloseTime = "won", analytics.StageKindWon, at.Add(time.Duration(10+r.IntN(90))*24*time.Hour)
			if r.IntN(2) == 0 {
				f.StageID, f.StageKind = "lost", analytics.StageKindLost
			}
			e := next("pipeline", &pipe, "opportunity.stage_changed", f.CloseTime)
			e.Opportunity = &analytics.Opportunity{ID: id, CustomerID: uuid.New(), Amount: amount, Sales: f}
		}
		for len(tick) < per {
			id, at := uuid.New(), t0.Add(time.Duration(r.IntN(300*24))*time.Hour)
			f := analytics.ServiceFacts{Channel: int16(1 + r.IntN(6)), Priority: int16(1 + r.IntN(4)), AssigneeID: "agent-" + strconv.Itoa(r.IntN(30)),
				HasSLA: true, CreateTime: at, FirstResponseTime: at.Add(time.Duration(r.IntN(240)) * time.Minute)}
			e := next("ticket", &tick, "ticket.first_responded", f.FirstResponseTime)
			e.Ticket = &analytics.Ticket{ID: id, CustomerID: uuid.New(), Status: analytics.TicketStatusOpen, Service: f}
			f.ResolveTime, f.ResolutionBreached = at.Add(time.Duration(r.IntN(96))*time.Hour), r.IntN(5) == 0
			e = next("ticket", &tick, "ticket.transitioned", f.ResolveTime)
			e.Ticket = &analytics.Ticket{ID: id, CustomerID: uuid.New(), Status: analytics.TicketStatusResolved, Service: f}
			e = next("ticket", &tick, "csat_survey.answered", f.ResolveTime.Add(time.Hour))
			e.Satisfaction = &analytics.Satisfaction{Kind: analytics.SatisfactionCSAT, Key: uuid.NewString(), Score: int16(1 + r.IntN(5)),
				TicketID: id, AnswerTime: e.Time}
		}
		for len(part) < per {
			at := t0.Add(time.Duration(r.IntN(300*24)) * time.Hour)
			e := next("partner", &part, "deal_registration.created", at)
			e.DealRegistration = &analytics.DealRegistration{ID: uuid.New(), PartnerID: "partner-" + strconv.Itoa(r.IntN(50)),
				State: int16(1 + r.IntN(4)), Amount: analytics.Money{CurrencyCode: "USD", AmountMinor: int64(r.IntN(50000))}, CreateTime: at}
		}
		streams = append(streams, pipe, tick, part)
	}
	return streams
}

func recreate(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database: %w", err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	return nil
}
