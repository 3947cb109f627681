// Command rapport-dev runs the whole Rapport suite on one machine, as `make
// run` does: PostgreSQL (a local cluster unless DATABASE_URL names one),
// migrations, the services and the edge, and demo data loaded through the
// public API. Ctrl-C stops everything it started.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/rapportcrm/rapport/deploy/dev/internal/demo"
	"github.com/rapportcrm/rapport/deploy/dev/internal/suite"
)

func main() {
	root := flag.String("root", ".", "repository root")
	state := flag.String("state", ".rapport", "state folder: cluster, keys, logs")
	bin := flag.String("bin", ".rapport/bin", "folder of the built binaries")
	data := flag.String("data", "../shared/data", "folder of the demo data sets")
	loadDemo := flag.Bool("demo", true, "load demo data through the API")
	importLimit := flag.Int("demo-import-limit", 1000, "customers the demo imports from each of Online Retail and Telco churn through the import API (0: all, -1: none)")
	retail := flag.Int("retail", 0, "also import this many Online Retail invoices as orders (-1: all; 0: none, which keeps start-up fast)")
	flag.Parse()
	if err := run(*root, *state, *bin, *data, *loadDemo, *importLimit, *retail); err != nil {
		log.Fatal(err)
	}
}

func run(root, state, bin, data string, loadDemo bool, importLimit, retail int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	o := suite.Options{
		Root: abs(root), StateDir: abs(state), BinDir: abs(bin), AdminURL: os.Getenv("DATABASE_URL"),
		PGPort: 55432, DBPrefix: "rapport", GRPCBasePort: 9091, HTTPAddr: "127.0.0.1:8080",
	}
	fmt.Println("starting Rapport: PostgreSQL, migrations, services and the edge …")
	s, err := suite.Start(ctx, o)
	if err != nil {
		return err
	}
	defer s.Stop()
	if loadDemo {
		fmt.Println("loading demo data through the REST API (idempotent: a second run adds nothing) …")
		st, err := demo.Load(ctx, demo.Options{BaseURL: s.HTTPURL, APIKey: s.AdminKey, DataDir: data})
		if err != nil {
			fmt.Fprintln(os.Stderr, "demo data:", err)
		} else {
			fmt.Printf("demo data: %d sales teams with %d people, %d accounts, %d opportunities, %d leads (deals without account), %d partners, %d support customers with %d tickets in %s\n",
				st.Teams, st.Principals, st.Customers, st.Opportunities, st.Leads, st.Partners, st.SupportCustomers, st.Tickets, st.Elapsed.Round(1e8))
		}
	}
	if retail != 0 {
		fmt.Println("importing Online Retail invoices as orders through the REST API …")
		st, err := demo.LoadRetail(ctx, demo.Options{BaseURL: s.HTTPURL, APIKey: s.AdminKey, DataDir: data}, max(retail, 0))
		if err != nil {
			fmt.Fprintln(os.Stderr, "retail data:", err)
		} else {
			fmt.Printf("retail data: %d products, %d customers, %d sales, %d returns, %d adjustments (%d guest orders), %d lines in %s (%.0f lines/s); %d stock write-off lines left out\n",
				st.Products, st.Customers, st.Sales, st.Returns, st.Adjustments, st.GuestOrders, st.Lines, st.Elapsed.Round(1e8), st.RowsPerSecond(), st.StockWriteOffs)
		}
	}
	if loadDemo && importLimit >= 0 {
		fmt.Println("importing Online Retail customers and Telco subscribers through the import API …")
		st, err := demo.Import(ctx, demo.ImportOptions{BaseURL: s.HTTPURL, APIKey: s.AdminKey, DataDir: data, RetailLimit: importLimit, TelcoLimit: importLimit})
		if err != nil {
			fmt.Fprintln(os.Stderr, "demo import:", err)
		} else {
			fmt.Printf("demo import: %d retail customers (job %s: %d created, %d unchanged, %d failed, %d duplicates), %d telco subscribers (job %s: %d created, %d unchanged, %d failed) in %s\n",
				st.RetailCustomers, st.Retail.JobID, st.Retail.Created, st.Retail.Unchanged, st.Retail.Failed, st.Retail.Duplicates,
				st.Subscribers, st.Telco.JobID, st.Telco.Created, st.Telco.Unchanged, st.Telco.Failed, st.Elapsed.Round(1e8))
		}
	}
	fmt.Printf(`
Rapport is running.
  REST edge       %[1]s            (API reference %[1]s/docs, OpenAPI %[1]s/openapi.json)
  gRPC            customer %[2]s  pipeline %[3]s  ticket %[4]s  partner %[5]s  analytics %[6]s  integration %[9]s
  admin API key   %[7]s
  logs            %[8]s
  e-mail          %[10]s (the local SMTP relay %[11]s keeps every message sent as a .eml file)

  curl -H "Authorization: Bearer $(cat %[7]s)" %[1]s/v1/customers?page_size=5

Press Ctrl-C to stop.
`, s.HTTPURL, s.GRPC["customer"], s.GRPC["pipeline"], s.GRPC["ticket"], s.GRPC["partner"], s.GRPC["analytics"],
		filepath.Join(state, "admin-api-key"), s.Logs, s.GRPC["integration"], s.MailDir, s.Mail.Addr)
	<-ctx.Done()
	fmt.Println("stopping …")
	return nil
}
