package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
)

// scan starts a duplicate scan of the bench tenant through the API and
// reports its progress until it finishes or the time limit passes, then
// prints customers scanned per second and, when it finished, the total time.
func scan(args []string) error {
	fs := flag.NewFlagSet("scan", flag.ExitOnError)
	addr := fs.String("grpc", "127.0.0.1:9091", "customer service address")
	keyFile := fs.String("key-file", ".rapport/admin-api-key", "file holding the admin API key")
	limit := fs.Duration("limit", 20*time.Minute, "stop watching after this long (the scan goes on in the service)")
	every := fs.Duration("every", 30*time.Second, "progress report interval")
	_ = fs.Parse(args)
	key, err := readKey(*keyFile)
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	c := customerv1.NewResolutionServiceClient(conn)
	ctx := metadata.NewOutgoingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+key))
	start := time.Now()
	started, err := c.StartDuplicateScan(ctx, &customerv1.StartDuplicateScanRequest{RequestId: fmt.Sprintf("bench-scan-%d", start.UnixNano())})
	if err != nil {
		return fmt.Errorf("start scan: %w", err)
	}
	id := started.GetDuplicateScan().GetScanId()
	last := start
	for {
		time.Sleep(time.Second)
		got, err := c.GetDuplicateScan(ctx, &customerv1.GetDuplicateScanRequest{ScanId: id})
		if err != nil {
			return fmt.Errorf("get scan: %w", err)
		}
		s := got.GetDuplicateScan()
		elapsed := time.Since(start)
		rate := float64(s.GetProcessedCount()) / elapsed.Seconds()
		done := s.GetState() != customerv1.DuplicateScanState_DUPLICATE_SCAN_STATE_RUNNING &&
			s.GetState() != customerv1.DuplicateScanState_DUPLICATE_SCAN_STATE_UNSPECIFIED
		if done || time.Since(last) >= *every || elapsed >= *limit {
			fmt.Printf("scan %s: %s, %d of %d customers, %d pairs, %.0f customers/s after %s\n", id, s.GetState(),
				s.GetProcessedCount(), s.GetTotalCount(), s.GetPairsFound(), rate, elapsed.Round(time.Second))
			last = time.Now()
		}
		switch {
		case done:
			fmt.Printf("duplicate scan of %d customers: %s\n", s.GetTotalCount(), elapsed.Round(time.Second))
			return nil
		case elapsed >= *limit:
			if rate > 0 {
				fmt.Printf("stopped watching after %s; at this rate the whole scan takes about %s\n", *limit,
					(time.Duration(float64(s.GetTotalCount())/rate) * time.Second).Round(time.Minute))
			}
			return nil
		}
	}
}
