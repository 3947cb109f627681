// Command partner runs the channel-partner service. Subcommands: "serve"
// (default) and "migrate".
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rapportcrm/rapport/pkg/app"
	"github.com/rapportcrm/rapport/pkg/eventfeed"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/iamclient"
	"github.com/rapportcrm/rapport/pkg/migrate"
	"github.com/rapportcrm/rapport/pkg/pgdb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	iamv1 "github.com/rapportcrm/rapport/gen/go/rapport/iam/v1"
	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	customerclient "github.com/rapportcrm/rapport/services/partner/internal/clients/customer"
	pipelineclient "github.com/rapportcrm/rapport/services/partner/internal/clients/pipeline"
	"github.com/rapportcrm/rapport/services/partner/internal/dealreg"
	"github.com/rapportcrm/rapport/services/partner/internal/enablement"
	"github.com/rapportcrm/rapport/services/partner/internal/feed"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
	"github.com/rapportcrm/rapport/services/partner/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/partner/internal/leadoffer"
	"github.com/rapportcrm/rapport/services/partner/internal/mdf"
	"github.com/rapportcrm/rapport/services/partner/internal/partner"
	"github.com/rapportcrm/rapport/services/partner/internal/postgres"
	"github.com/rapportcrm/rapport/services/partner/internal/program"
	"github.com/rapportcrm/rapport/services/partner/internal/scorecard"
	"github.com/rapportcrm/rapport/services/partner/internal/sellthrough"
)

func main() {
	app.Main("partner", func(ctx context.Context, getenv func(string) string, log *slog.Logger) error {
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
	}
	return fmt.Errorf("unknown command %q (want serve or migrate)", cmd)
}

func serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	log.InfoContext(ctx, "starting", "grpc_addr", cfg.Server.Addr, "db", cfg.DB.LogValue(), "customer_target", cfg.CustomerTarget, "pipeline_target", cfg.PipelineTarget, "ticket_target", cfg.TicketTarget)
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
	authn, err := cfg.Auth.Build(iamclient.New(conn))
	if err != nil {
		return err
	}
	srv := grpcserver.New(cfg.Server, log, authn)
	store := postgres.New(pool)
	partnerv1.RegisterPartnerServiceServer(srv, grpcapi.NewPartners(partner.New(store), pool, cfg.EventPoll))
	opportunities := pipelineclient.New(pipelineConn)
	deals := dealreg.New(store.DealRegistrations(), customerclient.New(conn), opportunities, time.Now)
	partnerv1.RegisterDealRegistrationServiceServer(srv, grpcapi.NewDealRegistrations(deals))
	orders := pipelineclient.NewOrders(pipelineConn)
	partnerv1.RegisterPartnerFinanceServiceServer(srv, grpcapi.NewFinance(finance.New(store.Finance(), orders, time.Now)))
	partnerv1.RegisterPartnerProgramServiceServer(srv, grpcapi.NewProgram(program.New(store.Program(), orders, time.Now)))
	partnerv1.RegisterLeadDistributionServiceServer(srv, grpcapi.NewLeadOffers(leadoffer.New(store.LeadOffers(), time.Now)))
	partnerv1.RegisterMarketingFundServiceServer(srv, grpcapi.NewFunds(mdf.New(store.Funds())))
	partnerv1.RegisterEnablementServiceServer(srv, grpcapi.NewEnablement(enablement.New(store.Enablement())))
	partnerv1.RegisterSellThroughServiceServer(srv, grpcapi.NewSellThrough(sellthrough.New(store.SellThrough())))
	directory := iamclient.NewTenantDirectory(iamv1.NewIdentityServiceClient(conn), cfg.APIKey, cfg.Tenant)
	figures := pipelineclient.NewFigures(pipelineConn, directory)
	partnerv1.RegisterPartnerScorecardServiceServer(srv, grpcapi.NewScorecards(scorecard.New(store.Scorecards(), figures, figures)))
	follower := feed.New(store.Satisfaction(), directory, feed.Config{Refresh: cfg.TenantRefresh, MinBackoff: cfg.MinBackoff, MaxBackoff: cfg.MaxBackoff},
		log, eventfeed.CustomerSource(customerv1.NewCustomerServiceClient(conn)), eventfeed.TicketSource(ticketv1.NewTicketServiceClient(ticketConn)))
	lis, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(ctx, lis, pool.Ping) })
	g.Go(func() error { return follower.Run(ctx) })
	return g.Wait()
}
