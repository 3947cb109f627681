// Command baseline is the yardstick `make bench` measures the customer
// service against: a bare grpc-go server whose GetCustomer is one
// primary-key SELECT through pgx, and nothing else. It has no
// authentication, tracing, logging, interceptors or tenant setting, so
// the gap between it and the real service is what those cost. It connects
// as the superuser, which row-level security does not apply to, and serves
// the one tenant given on the command line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9191", "gRPC listen address")
	db := flag.String("db", "postgres://postgres@127.0.0.1:55432/rapport_customer?sslmode=disable", "superuser URL of the customer database")
	tenant := flag.String("tenant", "", "tenant whose customers GetCustomer reads (required)")
	flag.Parse()
	if err := run(*addr, *db, *tenant); err != nil {
		log.Fatal(err)
	}
}

func run(addr, db, tenant string) error {
	tenantID, err := uuid.Parse(tenant)
	if err != nil {
		return fmt.Errorf("-tenant: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// pgx's default pool size (the larger of 4 and the core count) is also
	// what the customer service runs with, so both sides have as many
	// connections to PostgreSQL.
	pool, err := pgxpool.New(ctx, db)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		return err
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	customerv1.RegisterCustomerServiceServer(srv, &server{pool: pool, tenant: tenantID})
	go func() {
		<-ctx.Done()
		srv.GracefulStop()
	}()
	fmt.Println("baseline serving on", lis.Addr())
	return srv.Serve(lis)
}

// server implements GetCustomer only; the embedded Unimplemented server
// answers every other method.
type server struct {
	customerv1.UnimplementedCustomerServiceServer
	pool   *pgxpool.Pool
	tenant uuid.UUID
}

// customerByIDSQL reads the same columns as the customer service's store.
const customerByIDSQL = `SELECT customer_id, kind, display_name, email, phone, lifecycle_stage, industry,
country_code, owner_id, tags, external_id, create_time, update_time, delete_time, revision
FROM customers WHERE tenant_id = $1 AND customer_id = $2`

// GetCustomer implements the RPC.
func (s *server) GetCustomer(ctx context.Context, req *customerv1.GetCustomerRequest) (*customerv1.GetCustomerResponse, error) {
	id, err := uuid.Parse(req.GetCustomerId())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, "customer_id must be a UUID")
	}
	var (
		c                      customerv1.Customer
		cid                    uuid.UUID
		kind, stage            int16
		owner                  *uuid.UUID
		createTime, updateTime time.Time
		deleteTime             *time.Time
		revision               int64
	)
	err = s.pool.QueryRow(ctx, customerByIDSQL, s.tenant, id).Scan(&cid, &kind, &c.DisplayName, &c.Email, &c.Phone,
		&stage, &c.Industry, &c.CountryCode, &owner, &c.Tags, &c.ExternalId, &createTime, &updateTime, &deleteTime, &revision)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, status.Error(codes.NotFound, "customer not found")
	}
	if err != nil {
		// The cause goes to the caller: the load generator prints the
		// first error of a target, and this server has no log.
		return nil, status.Error(codes.Internal, err.Error())
	}
	c.CustomerId = cid.String()
	c.Kind = customerv1.CustomerKind(kind)
	c.LifecycleStage = customerv1.LifecycleStage(stage)
	c.CreateTime = timestamppb.New(createTime)
	c.UpdateTime = timestamppb.New(updateTime)
	c.Etag = strconv.FormatInt(revision, 10)
	if owner != nil {
		c.OwnerId = owner.String()
	}
	if deleteTime != nil {
		c.DeleteTime = timestamppb.New(*deleteTime)
	}
	return &customerv1.GetCustomerResponse{Customer: &c}, nil
}
