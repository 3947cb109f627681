// Command insightbench times the customer-insight figures over the whole
// Online Retail data set. It creates a fresh database migrated with the
// analytics service's own migrations, replays every invoice as an
// "order.created" event through the consumer's write path (Store.Apply, one
// transaction per event, as the feed applies them: this is the rebuild of
// the order history), then times RFM and lifetime value over every customer
// (ListCustomerValues computes the whole tenant for each page) and the
// GetCustomer360 handler for random customers. It connects as the service's
// role, so row-level security applies as in production, prints figures and
// asserts nothing.
//
//	go run ./services/analytics/cmd/insightbench -db postgres://postgres@127.0.0.1:55463/postgres -data ../shared/data
//
// Invoices map to orders as the demo's retail import maps them: "C"
// invoices are returns, "A" invoices (bad debt) are left out, negative
// lines of other invoices are stock write-offs and left out, guest invoices
// are orders of no customer, prices are rounded to the penny.
package main

import (
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	analyticsv1 "github.com/rapportcrm/rapport/gen/go/rapport/analytics/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/migrate"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
	"github.com/rapportcrm/rapport/services/analytics/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/analytics/internal/insight"
	"github.com/rapportcrm/rapport/services/analytics/internal/postgres"
)

// benchTenant owns every row the bench writes.
var benchTenant = uuid.MustParse("0194c2a6-8f4c-7000-8000-00000000be7c")

// ids derives stable ids for the data set's invoices, customers and products.
var ids = uuid.MustParse("0b8f0a3e-3f71-4a5c-9a43-5d8e4b1c2a77")

func id(kind, key string) uuid.UUID { return uuid.NewSHA1(ids, []byte(kind+":"+key)) }

func main() {
	db := flag.String("db", "", "superuser URL of a PostgreSQL cluster on loopback (required)")
	dbName := flag.String("dbname", "insightbench", "database to (re)create")
	data := flag.String("data", "../shared/data", "folder holding online-retail/online_retail.csv.gz")
	calls := flag.Int("calls", 2000, "GetCustomer360 calls")
	workers := flag.Int("workers", 4, "concurrent GetCustomer360 callers")
	appliers := flag.Int("appliers", 1, "concurrent appliers of the replay (a feed applies its stream with one)")
	flag.Parse()
	if err := run(context.Background(), *db, *dbName, *data, *calls, *workers, *appliers); err != nil {
		fmt.Fprintln(os.Stderr, "insightbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, adminURL, dbName, data string, calls, workers, appliers int) error {
	if !strings.Contains(adminURL, "127.0.0.1") && !strings.Contains(adminURL, "localhost") && !strings.Contains(adminURL, "[::1]") {
		return errors.New("-db must be a loopback address")
	}
	invoices, err := readInvoices(filepath.Join(data, "online-retail", "online_retail.csv.gz"))
	if err != nil {
		return err
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return err
	}
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	name := pgx.Identifier{dbName}.Sanitize()
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return err
	}
	_ = admin.Close(ctx)
	u.Path = "/" + dbName
	benchURL := u.String()
	if err := migrate.Up(ctx, benchURL, postgres.Migrations, slog.New(slog.DiscardHandler)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// The superuser switches to the service role on connect, so row-level
	// security and grants are those of production.
	pool, err := pgdb.OpenAs(ctx, benchURL, postgres.Role, int32(max(workers, appliers)))
	if err != nil {
		return err
	}
	defer pool.Close()
	store := postgres.New(pool)

	customers := map[uuid.UUID]bool{}
	for _, e := range invoices {
		if c := e.Fact.Order.CustomerID; c != uuid.Nil {
			customers[c] = true
		}
	}
	fmt.Printf("Online Retail: %d orders (%d customers) from the file\n", len(invoices), len(customers))
	elapsed, err := replay(ctx, store, invoices, appliers)
	if err != nil {
		return err
	}
	fmt.Printf("rebuild: replay of %d order events into an empty read model, %d applier(s): %.1f s (%.0f events/s)\n",
		len(invoices), appliers, elapsed.Seconds(), float64(len(invoices))/elapsed.Seconds())
	if _, err := pool.Exec(ctx, "ANALYZE"); err != nil {
		fmt.Println("(ANALYZE as the service role skipped tables it does not own)")
	}

	end := time.Date(2011, 12, 10, 0, 0, 0, 0, time.UTC)
	// The 360 view acts on nothing, so no customer service is needed.
	svc := insight.New(store, nil, func() time.Time { return end })
	caller := auth.Caller{TenantID: benchTenant.String(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAnalyst}}
	cctx := auth.WithCaller(ctx, caller)
	// Cold: the store's aggregate and the scoring, as a ListCustomerValues
	// page or a 360 view pays for them once a minute per tenant.
	w := insight.Window{Start: time.Date(2010, 12, 1, 0, 0, 0, 0, time.UTC), End: end}
	var rfm []time.Duration
	var values int
	for range 7 {
		start := time.Now()
		stats, err := store.PurchaseStats(ctx, benchTenant, "GBP", w)
		if err != nil {
			return err
		}
		values = len(insight.Compute(stats, "GBP", w))
		rfm = append(rfm, time.Since(start))
	}
	slices.Sort(rfm)
	fmt.Printf("RFM + lifetime value of all %d customers with orders (7 runs): min %s, median %s, max %s\n",
		values, ms(rfm[0]), ms(rfm[3]), ms(rfm[6]))

	handler := grpcapi.NewInsight(svc)
	list := make([]uuid.UUID, 0, len(customers))
	for c := range customers {
		list = append(list, c)
	}
	lat, err := load(cctx, handler, list, calls, workers)
	if err != nil {
		return err
	}
	fmt.Printf("GetCustomer360 handler, %d calls, %d workers: p50 %s, p95 %s, p99 %s, max %s\n", len(lat), workers,
		ms(pct(lat, 0.50)), ms(pct(lat, 0.95)), ms(pct(lat, 0.99)), ms(lat[len(lat)-1]))
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

// pct is the p-quantile (nearest rank) of sorted durations.
func pct(sorted []time.Duration, p float64) time.Duration {
	return sorted[int(math.Ceil(p*float64(len(sorted))))-1]
}

// replay applies events with workers appliers, each a share of customers,
// so that every customer's orders keep their order.
func replay(ctx context.Context, store *postgres.Store, events []analytics.Event, workers int) (time.Duration, error) {
	shares := make([][]analytics.Event, workers)
	for _, e := range events {
		k := int(e.Fact.Order.CustomerID[15]) % workers
		shares[k] = append(shares[k], e)
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for i, share := range shares {
		wg.Go(func() {
			for _, e := range share {
				if _, err := store.Apply(ctx, e); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}

func load(ctx context.Context, h *grpcapi.Insight, customers []uuid.UUID, calls, workers int) ([]time.Duration, error) {
	lat := make([][]time.Duration, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for range calls / workers {
				c := customers[r.IntN(len(customers))]
				start := time.Now()
				if _, err := h.GetCustomer360(ctx, &analyticsv1.GetCustomer360Request{CustomerId: c.String()}); err != nil {
					errs[w] = err
					return
				}
				lat[w] = append(lat[w], time.Since(start))
			}
		})
	}
	wg.Wait()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return nil, errors.Join(append(errs, errors.New("no call succeeded"))...)
	}
	return all, errors.Join(errs...)
}

// readInvoices reads the data set into one order event per invoice, in
// file order.
func readInvoices(path string) ([]analytics.Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(gz)
	if _, err := r.Read(); err != nil {
		return nil, err
	}
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		return nil, err
	}
	byNumber := map[string]*analytics.Order{}
	var numbers []string
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		no, code, cust := rec[0], rec[1], strings.TrimSpace(rec[6])
		if strings.HasPrefix(no, "A") {
			continue
		}
		qty, err1 := strconv.ParseInt(rec[3], 10, 64)
		price, err2 := strconv.ParseFloat(rec[5], 64)
		at, err3 := time.ParseInLocation("2006-01-02 15:04:05", rec[4], london)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		ret := strings.HasPrefix(no, "C")
		if !ret && qty < 0 {
			continue
		}
		o := byNumber[no]
		if o == nil {
			o = &analytics.Order{ID: id("order", no), Number: no, Kind: analytics.OrderKindSale, Status: analytics.OrderStatusPlaced,
				Value: analytics.Money{CurrencyCode: "GBP"}, OrderTime: at}
			if ret {
				o.Kind = analytics.OrderKindReturn
			}
			if cust != "" {
				o.CustomerID = id("customer", cust)
			}
			byNumber[no] = o
			numbers = append(numbers, no)
		}
		o.Value.AmountMinor += qty * int64(math.Round(price*100))
		o.Products = append(o.Products, analytics.OrderLine{ProductID: id("product", code), Quantity: qty})
	}
	out := make([]analytics.Event, len(numbers))
	for i, no := range numbers {
		o := byNumber[no]
		out[i] = analytics.Event{ID: id("event", no), TenantID: benchTenant, Source: "pipeline", Cursor: strconv.Itoa(i + 1),
			Type: "order.created", Time: o.OrderTime, Fact: &analytics.Fact{Order: o}}
	}
	return out, nil
}
