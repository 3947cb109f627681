// Command analytics runs the analytics service: it follows the customer,
// pipeline and ticket services' event streams into a read model and serves
// summaries from it. Subcommands: "serve" (default), "migrate", and
// "rebuild [tenant-id]", which empties the read model and its checkpoints
// (of every tenant, or of one) so the next serve replays the streams from
// the beginning (stop serving replicas first).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"golang.org/x/sync/errgroup"

	analyticsv1 "github.com/rapportcrm/rapport/gen/go/rapport/analytics/v1"
	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	iamv1 "github.com/rapportcrm/rapport/gen/go/rapport/iam/v1"
	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/app"
	"github.com/rapportcrm/rapport/pkg/eventfeed"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/iamclient"
	"github.com/rapportcrm/rapport/pkg/migrate"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
	"github.com/rapportcrm/rapport/services/analytics/internal/clients/customer"
	"github.com/rapportcrm/rapport/services/analytics/internal/consumer"
	"github.com/rapportcrm/rapport/services/analytics/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/analytics/internal/insight"
	"github.com/rapportcrm/rapport/services/analytics/internal/postgres"
	"github.com/rapportcrm/rapport/services/analytics/internal/tiering"
)

func main() {
	app.Main("analytics", func(ctx context.Context, getenv func(string) string, log *slog.Logger) error {
		return run(ctx, os.Args[1:], getenv, log)
	})
}

func run(ctx context.Context, args []string, getenv func(string) string, log *slog.Logger) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	cfg, err := Load(getenv, cmd)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	switch cmd {
	case "serve":
		return serve(ctx, cfg, log)
	case "migrate":
		return migrate.Up(ctx, cfg.DB.MigrateURL, postgres.Migrations, log)
	case "rebuild":
		return rebuild(ctx, cfg, args[1:], log)
	}
	return fmt.Errorf("unknown command %q (want serve, migrate or rebuild)", cmd)
}

func serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	log.InfoContext(ctx, "starting", "grpc_addr", cfg.Server.Addr, "db", cfg.DB.LogValue(), "tenant_id", cfg.Tenant.String(),
		"customer_target", cfg.CustomerTarget, "pipeline_target", cfg.PipelineTarget, "ticket_target", cfg.TicketTarget,
		"partner_target", cfg.PartnerTarget)
	pool, err := pgdb.Open(ctx, cfg.DB.URL, cfg.DB.MaxConns)
	if err != nil {
		return err
	}
	defer pool.Close()
	customerConn, err := grpcclient.New(cfg.CustomerTarget)
	if err != nil {
		return err
	}
	defer customerConn.Close()
	pipelineConn, err := grpcclient.New(cfg.PipelineTarget)
	if err != nil {
		return err
	}
	defer pipelineConn.Close()
	ticketConn, err := grpcclient.New(cfg.TicketTarget)
	if err != nil {
		return err
	}
	defer ticketConn.Close()
	partnerConn, err := grpcclient.New(cfg.PartnerTarget)
	if err != nil {
		return err
	}
	defer partnerConn.Close()

	authn, err := cfg.Auth.Build(iamclient.New(customerConn))
	if err != nil {
		return err
	}
	store := postgres.New(pool)
	dir := iamclient.NewTenantDirectory(iamv1.NewIdentityServiceClient(customerConn), cfg.APIKey, cfg.Tenant)
	feeds := consumer.NewFleet(store, dir,
		consumer.FleetConfig{Refresh: cfg.TenantRefresh, MinBackoff: cfg.MinBackoff, MaxBackoff: cfg.MaxBackoff},
		log, otel.Meter("rapport/analytics"),
		eventfeed.CustomerSource(customerv1.NewCustomerServiceClient(customerConn)),
		eventfeed.PipelineSource(pipelinev1.NewPipelineServiceClient(pipelineConn)),
		eventfeed.TicketSource(ticketv1.NewTicketServiceClient(ticketConn)),
		eventfeed.PartnerSource(partnerv1.NewPartnerServiceClient(partnerConn)))
	srv := grpcserver.New(cfg.Server, log, authn)
	analyticsv1.RegisterAnalyticsServiceServer(srv, grpcapi.NewAnalytics(analytics.New(store)))
	analyticsv1.RegisterCustomerInsightServiceServer(srv, grpcapi.NewInsight(insight.New(store, customer.New(customerConn), time.Now)))
	analyticsv1.RegisterFiguresServiceServer(srv, grpcapi.NewFigures(analytics.NewFigures(store)))
	analyticsv1.RegisterBehaviourServiceServer(srv, grpcapi.NewBehaviour(analytics.NewBehaviour(store, time.Now)))
	tiers := tiering.New(store, customer.NewTierSink(customerConn, dir.Credential), time.Now)
	analyticsv1.RegisterTierSuggestionServiceServer(srv, grpcapi.NewTiering(tiers))
	lis, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(ctx, lis, pool.Ping) })
	g.Go(func() error { return feeds.Run(ctx) })
	g.Go(func() error {
		eventfeed.PerTenant(ctx, dir, cfg.TenantRefresh, log, func(ctx context.Context, tenant uuid.UUID) {
			tiers.Work(ctx, tenant, tiering.WorkerConfig{Interval: cfg.TierInterval, Poll: cfg.TierPoll, Batch: 100},
				log.With("tenant_id", tenant.String()))
		})
		return nil
	})
	return g.Wait()
}

// rebuild connects as the schema owner, like migrate: only the owner may
// empty the tables. "rebuild" empties every tenant's read model; "rebuild
// <tenant-id>" only that tenant's.
func rebuild(ctx context.Context, cfg Config, args []string, log *slog.Logger) error {
	var tenant uuid.UUID
	switch len(args) {
	case 0:
	case 1:
		var err error
		if tenant, err = uuid.Parse(args[0]); err != nil {
			return fmt.Errorf("rebuild: %q is not a tenant id", args[0])
		}
	default:
		return errors.New("rebuild takes at most one argument, a tenant id")
	}
	pool, err := pgdb.Open(ctx, cfg.DB.MigrateURL, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	if tenant != uuid.Nil {
		start := time.Now()
		if err := postgres.ResetTenant(ctx, pool, tenant); err != nil {
			return err
		}
		log.InfoContext(ctx, "tenant read model emptied; the next serve replays its streams from the beginning",
			"tenant_id", tenant.String(), "elapsed", time.Since(start).String())
		return nil
	}
	if err := postgres.Reset(ctx, pool); err != nil {
		return err
	}
	log.InfoContext(ctx, "read model emptied; the next serve replays every stream from the beginning")
	return nil
}
