package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
)

// seed creates customers bench-0 … bench-(n-1) through CreateCustomer. The
// request_id makes each create idempotent, so a rerun returns the existing
// customers and adds none; either way their ids end up in the ids file.
func seed(args []string) error {
	fs := flag.NewFlagSet("seed", flag.ExitOnError)
	addr := fs.String("grpc", "127.0.0.1:9091", "customer service address")
	keyFile := fs.String("key-file", ".rapport/admin-api-key", "file holding the admin API key")
	n := fs.Int("n", 10000, "number of bench customers")
	conc := fs.Int("c", 50, "concurrent creates")
	idsFile := fs.String("ids", ".rapport/bench/ids", "file to write the customer ids to, one a line")
	_ = fs.Parse(args)

	key, err := readKey(*keyFile)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx = grpcclient.WithBearer(ctx, key)
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := customerv1.NewCustomerServiceClient(conn)

	start := time.Now()
	ids := make([]string, *n)
	var next, created atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for range *conc {
		g.Go(func() error {
			for i := int(next.Add(1) - 1); i < *n; i = int(next.Add(1) - 1) {
				resp, err := client.CreateCustomer(gctx, benchCustomer(i))
				if err != nil {
					return fmt.Errorf("create bench-%d: %w", i, err)
				}
				ids[i] = resp.GetCustomer().GetCustomerId()
				// A customer made before this run began was there already.
				if !resp.GetCustomer().GetCreateTime().AsTime().Before(start) {
					created.Add(1)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := writeLines(*idsFile, ids); err != nil {
		return err
	}
	fmt.Printf("seed: %d bench customers (%d new) in %s; ids in %s\n",
		*n, created.Load(), time.Since(start).Round(time.Millisecond), *idsFile)
	return nil
}

// benchCustomer is the request for bench customer i: a plausible record,
// so reads return rows of a realistic size.
func benchCustomer(i int) *customerv1.CreateCustomerRequest {
	kind := customerv1.CustomerKind_CUSTOMER_KIND_PERSON
	if i%4 == 0 {
		kind = customerv1.CustomerKind_CUSTOMER_KIND_ORGANIZATION
	}
	n := strconv.Itoa(i)
	return &customerv1.CreateCustomerRequest{
		RequestId: "bench-" + n,
		Customer: &customerv1.Customer{
			Kind:           kind,
			DisplayName:    personName(int64(i)),
			Email:          "bench" + n + "@example.com",
			LifecycleStage: customerv1.LifecycleStage(1 + i%6),
			Industry:       []string{"Retail", "Manufacturing", "Software", "Logistics"}[i%4],
			CountryCode:    []string{"GB", "DE", "FR", "US", "CN"}[i%5],
			Tags:           []string{"bench"},
		},
	}
}

func writeLines(file string, lines []string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, l := range lines {
		w.WriteString(l)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
