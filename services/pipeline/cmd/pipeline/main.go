// Command pipeline runs the sales-pipeline service. Subcommands: "serve"
// (default) and "migrate".
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/rapportcrm/rapport/pkg/app"
	"github.com/rapportcrm/rapport/pkg/customerclient"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/iamclient"
	"github.com/rapportcrm/rapport/pkg/migrate"
	"github.com/rapportcrm/rapport/pkg/pgdb"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/services/pipeline/internal/clients/customer"
	"github.com/rapportcrm/rapport/services/pipeline/internal/clients/segments"
	"github.com/rapportcrm/rapport/services/pipeline/internal/commission"
	"github.com/rapportcrm/rapport/services/pipeline/internal/forecast"
	"github.com/rapportcrm/rapport/services/pipeline/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/pipeline/internal/lead"
	"github.com/rapportcrm/rapport/services/pipeline/internal/marketing"
	"github.com/rapportcrm/rapport/services/pipeline/internal/order"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
	"github.com/rapportcrm/rapport/services/pipeline/internal/postgres"
	"github.com/rapportcrm/rapport/services/pipeline/internal/quote"
	"github.com/rapportcrm/rapport/services/pipeline/internal/ratelimit"
)

func main() {
	app.Main("pipeline", func(ctx context.Context, getenv func(string) string, log *slog.Logger) error {
		return run(ctx, os.Args[1:], getenv, log)
	})
}

func run(ctx context.Context, args []string, getenv func(string) string, log *slog.Logger) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve":
		cfg, err := Load(getenv)
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		return serve(ctx, cfg, log)
	case "migrate":
		db, err := LoadDB(getenv)
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		return migrate.Up(ctx, db.MigrateURL, postgres.Migrations, log)
	}
	return fmt.Errorf("unknown command %q (want serve or migrate)", cmd)
}

// serve runs until ctx ends; the deferred closes run after the server has
// drained, peers before the pool.
func serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	log.InfoContext(ctx, "starting", "grpc_addr", cfg.Server.Addr, "db", cfg.DB.LogValue(), "customer_target", cfg.CustomerTarget)
	pool, err := pgdb.Open(ctx, cfg.DB.URL, cfg.DB.MaxConns)
	if err != nil {
		return err
	}
	defer pool.Close()
	conn, err := grpcclient.New(cfg.CustomerTarget)
	if err != nil {
		return err
	}
	defer conn.Close()
	authn, err := cfg.Auth.Build(iamclient.New(conn))
	if err != nil {
		return err
	}
	srv := grpcserver.New(cfg.Server, log, authn, grpcapi.SubmitWebFormMethod)
	customers := customerclient.New(conn, pipeline.ErrCustomerLookup)
	store := postgres.New(pool)
	svc := pipeline.New(store, customers)
	pipelinev1.RegisterPipelineServiceServer(srv, grpcapi.New(svc, pool, cfg.EventPoll))
	leads := lead.New(postgres.NewLeadStore(pool), customer.New(conn), svc)
	pipelinev1.RegisterLeadServiceServer(srv, grpcapi.NewLeadServer(leads, perMinute(cfg.WebFormKeyRate), perMinute(cfg.WebFormClientRate)))
	pipelinev1.RegisterOrderServiceServer(srv, grpcapi.NewOrderServer(order.New(postgres.NewOrderStore(pool), customers)))
	pipelinev1.RegisterQuoteServiceServer(srv, grpcapi.NewQuoteServer(quote.New(postgres.NewQuoteStore(pool), customers)))
	forecasts := forecast.New(store.Forecast())
	pipelinev1.RegisterForecastServiceServer(srv, grpcapi.NewForecast(forecasts))
	pipelinev1.RegisterCommissionServiceServer(srv, grpcapi.NewCommission(commission.New(store.Commission())))
	pipelinev1.RegisterMarketingServiceServer(srv, grpcapi.NewMarketing(marketing.New(store.Marketing(), segments.New(conn), customers)))
	lis, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return err
	}
	// The snapshot loop stops with the server, before the pool closes.
	snapCtx, stopSnap := context.WithCancel(ctx)
	snapped := make(chan struct{})
	go func() {
		defer close(snapped)
		forecasts.RunSnapshots(snapCtx, cfg.SnapshotInterval, log)
	}()
	defer func() {
		stopSnap()
		<-snapped
	}()
	return srv.Run(ctx, lis, pool.Ping)
}

// perMinute limits to n requests a minute with bursts of a quarter of that,
// remembering up to 100 000 keys.
func perMinute(n int) *ratelimit.Limiter {
	return ratelimit.New(float64(n)/60, max(1, n/4), 100_000)
}
