// Command slabench times the SLA watcher over many open tickets. It creates
// (once) a database migrated with the ticket service's own migrations,
// copies open tickets with running SLA clocks into it (COPY), a given number
// of them past their first-response target, and then runs the watcher's own
// sweep (ticket.Service.SweepDue: sla_due_tickets to find, then one locked
// transaction per ticket to raise the breach with its event and audit row),
// connected as the service's role so that row-level security applies as in
// production. It prints how long finding and raising every breach took; it
// asserts nothing.
//
//	make bench-sla   (or: go run ./services/ticket/cmd/slabench -db <superuser URL of a loopback cluster>)
//
// Every time in the data is relative to a fixed instant (epoch), and the
// sweep runs "at" that instant, so a rerun sees the same tickets due: before
// each timed sweep the breaches a previous run raised are undone and its
// events removed.
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
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rapportcrm/rapport/pkg/migrate"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/services/ticket/internal/postgres"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

// epoch is the instant the generated SLA clocks are measured against and
// the sweep runs at.
var epoch = time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)

// seedSubject marks the generated tickets.
const seedSubject = "slabench"

func main() {
	var (
		dbURL   = flag.String("db", "postgres://postgres@127.0.0.1:55469/postgres?sslmode=disable", "superuser URL of a loopback PostgreSQL cluster")
		dbName  = flag.String("dbname", "slabench", "database to create and seed in that cluster")
		tickets = flag.Int("tickets", 1_000_000, "open tickets to seed")
		due     = flag.Int("due", 10_000, "of those, how many are past their first-response target")
		tenants = flag.Int("tenants", 20, "tenants the tickets are spread over")
		runs    = flag.Int("runs", 1, "timed sweeps")
	)
	flag.Parse()
	if err := run(context.Background(), *dbURL, *dbName, *tickets, *due, *tenants, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "slabench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, adminURL, dbName string, n, due, tenants, runs int) error {
	if due > n || tenants < 1 {
		return errors.New("-due must not exceed -tickets, and -tenants must be at least 1")
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return fmt.Errorf("parse -db: %w", err)
	}
	if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" && h != "::1" {
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
	if err := seed(ctx, owner, n, due, tenants); err != nil {
		return err
	}
	// The service's connections: the superuser switches to the service role
	// on connect, so grants and row-level security are those of production.
	app, err := pgdb.OpenAs(ctx, benchURL, postgres.Role, 4)
	if err != nil {
		return err
	}
	defer app.Close()
	store := postgres.New(app)
	svc := ticket.New(store, nil, nil, nil)

	fmt.Printf("%d open tickets over %d tenants, %d past their first-response target; sweeps of up to %d\n", n, tenants, due, ticket.SweepBatch)
	for r := range runs {
		if err := reset(ctx, owner); err != nil {
			return err
		}
		start := time.Now()
		first, err := store.DueTickets(ctx, epoch, ticket.SweepBatch)
		if err != nil {
			return err
		}
		find := time.Since(start)
		start = time.Now()
		fired, err := svc.SweepDue(ctx, epoch)
		if err != nil {
			return err
		}
		took := time.Since(start)
		var breaches, left int
		if err := owner.QueryRow(ctx, `SELECT (SELECT count(*) FROM outbox WHERE type = $1), (SELECT count(*) FROM tickets WHERE sla_next_due <= $2)`,
			ticket.EventSLABreached, epoch).Scan(&breaches, &left); err != nil {
			return err
		}
		fmt.Printf("run %d: first batch found in %s (%d due); every breach raised in %s: %d tickets, %d breach events, %.0f tickets/s; %d still due\n",
			r+1, ms(find), len(first), took.Round(time.Millisecond), fired, breaches, float64(fired)/took.Seconds(), left)
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

// seed copies the tickets unless a previous run already did. Ticket i
// belongs to tenant i mod tenants; the first due ones were created five
// hours before the epoch with a four-hour first-response target (so they
// are an hour late), the rest within the last four hours with an
// eight-hour target. All have a 48-hour resolution target, and
// sla_next_due is their first-response due time, as the service sets it.
func seed(ctx context.Context, db *pgxpool.Pool, n, due, tenants int) error {
	var have int
	if err := db.QueryRow(ctx, "SELECT count(*) FROM tickets WHERE subject = $1", seedSubject).Scan(&have); err != nil {
		return err
	}
	if have == n {
		return nil
	}
	if have != 0 {
		return fmt.Errorf("the bench database holds %d tickets, not %d: drop it to reseed", have, n)
	}
	fmt.Fprintf(os.Stderr, "seeding %d tickets …\n", n)
	start := time.Now()
	ids := make([]uuid.UUID, tenants)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7())
	}
	policy := uuid.Must(uuid.NewV7())
	const hour = int64(time.Hour / time.Microsecond)
	i := 0
	_, err := db.CopyFrom(ctx, pgx.Identifier{"tickets"},
		[]string{"tenant_id", "ticket_id", "customer_id", "subject", "priority", "status", "channel", "create_time", "update_time",
			"sla_policy_id", "sla_first_response_target", "sla_resolution_target", "first_response_due_time", "resolution_due_time", "sla_next_due"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			created := epoch.Add(-5 * time.Hour)
			firstTarget := 4 * hour
			if i >= due {
				created = epoch.Add(-time.Duration(rand.Int64N(int64(4 * time.Hour))))
				firstTarget = 8 * hour
			}
			created = created.Truncate(time.Microsecond)
			firstDue := created.Add(time.Duration(firstTarget) * time.Microsecond)
			row := []any{ids[i%tenants], uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7()), seedSubject, int16(2), int16(ticket.StatusOpen), int16(1),
				created, created, policy, firstTarget, 48 * hour, firstDue, created.Add(48 * time.Hour), firstDue}
			i++
			return row, nil
		}))
	if err != nil {
		return fmt.Errorf("copy tickets: %w", err)
	}
	if _, err := db.Exec(ctx, "ANALYZE tickets"); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "seeded in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// reset undoes what an earlier sweep raised, so every run finds the same
// breaches.
func reset(ctx context.Context, db *pgxpool.Pool) error {
	for _, q := range []string{
		`UPDATE tickets SET first_response_breached_time = NULL, sla_next_due = first_response_due_time, revision = 1
		 WHERE first_response_breached_time IS NOT NULL`,
		`DELETE FROM outbox`,
		`DELETE FROM audit_log`,
		`VACUUM ANALYZE tickets`,
	} {
		if _, err := db.Exec(ctx, q); err != nil {
			return fmt.Errorf("reset: %s: %w", strings.Fields(q)[0], err)
		}
	}
	return nil
}
