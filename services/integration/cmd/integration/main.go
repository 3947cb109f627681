// Command integration runs the integration service: webhook subscriptions
// and their signed, ordered, retried deliveries of the other services'
// events, in-app notifications, automation rules run on those events, and templated e-mail through an SMTP relay. Subcommands: "serve" (default) and
// "migrate".
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"

	"go.opentelemetry.io/otel"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	iamv1 "github.com/rapportcrm/rapport/gen/go/rapport/iam/v1"
	integrationv1 "github.com/rapportcrm/rapport/gen/go/rapport/integration/v1"
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
	"github.com/rapportcrm/rapport/services/integration/internal/clients/customer"
	"github.com/rapportcrm/rapport/services/integration/internal/clients/selection"
	"github.com/rapportcrm/rapport/services/integration/internal/delivery"
	"github.com/rapportcrm/rapport/services/integration/internal/email"
	"github.com/rapportcrm/rapport/services/integration/internal/follower"
	"github.com/rapportcrm/rapport/services/integration/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/integration/internal/notification"
	"github.com/rapportcrm/rapport/services/integration/internal/peers"
	"github.com/rapportcrm/rapport/services/integration/internal/postgres"
	"github.com/rapportcrm/rapport/services/integration/internal/rule"
	"github.com/rapportcrm/rapport/services/integration/internal/ruleaction"
	"github.com/rapportcrm/rapport/services/integration/internal/scheduler"
	"github.com/rapportcrm/rapport/services/integration/internal/smtpsend"
	"github.com/rapportcrm/rapport/services/integration/internal/webhook"
)

func main() {
	app.Main("integration", func(ctx context.Context, getenv func(string) string, log *slog.Logger) error {
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
	log.InfoContext(ctx, "starting", "grpc_addr", cfg.Server.Addr, "db", cfg.DB.LogValue(), "tenant_id", cfg.Tenant.String(),
		"require_https", cfg.RequireHTTPS, "smtp_configured", cfg.Email.Configured(), "smtp_starttls", cfg.Email.StartTLS, "workers", cfg.Workers, "retry_budget", cfg.RetryBudget)
	pool, err := pgdb.Open(ctx, cfg.DB.URL, poolSize(cfg))
	if err != nil {
		return err
	}
	defer pool.Close()
	conns := map[string]string{"customer": cfg.CustomerTarget, "pipeline": cfg.PipelineTarget, "ticket": cfg.TicketTarget, "partner": cfg.PartnerTarget}
	clients := map[string]*grpc.ClientConn{}
	for name, target := range conns {
		c, err := grpcclient.New(target)
		if err != nil {
			return err
		}
		defer c.Close()
		clients[name] = c
	}
	authn, err := cfg.Auth.Build(iamclient.New(clients["customer"]))
	if err != nil {
		return err
	}
	store := postgres.New(pool)
	directory := iamclient.NewTenantDirectory(iamv1.NewIdentityServiceClient(clients["customer"]), cfg.APIKey, cfg.Tenant)
	feeds := follower.New(store, directory,
		follower.Config{Refresh: cfg.TenantRefresh, MinBackoff: cfg.FeedMinBackoff, MaxBackoff: cfg.FeedMaxBackoff},
		log,
		eventfeed.CustomerSource(customerv1.NewCustomerServiceClient(clients["customer"])),
		eventfeed.PipelineSource(pipelinev1.NewPipelineServiceClient(clients["pipeline"])),
		eventfeed.TicketSource(ticketv1.NewTicketServiceClient(clients["ticket"])),
		eventfeed.PartnerSource(partnerv1.NewPartnerServiceClient(clients["partner"])))
	deliverer, err := delivery.New(store, delivery.Config{
		Workers: cfg.Workers, Poll: cfg.Poll, Timeout: cfg.Timeout, Lease: cfg.Lease,
		Retry:   webhook.RetryPolicy{Budget: cfg.RetryBudget, MinBackoff: cfg.MinBackoff, MaxBackoff: cfg.MaxBackoff},
		Breaker: webhook.BreakerPolicy{Threshold: cfg.BreakerThreshold, Cooldown: cfg.BreakerCooldown, MaxCooldown: cfg.BreakerMaxCooldown},
	}, log, otel.Meter("rapport/integration"), otel.Tracer("rapport/integration"))
	if err != nil {
		return err
	}
	// Rule actions act for each tenant with the directory's credential.
	actions := ruleaction.New(store, peers.New(directory, clients["customer"], clients["ticket"], clients["pipeline"]), ruleaction.Defaults, log)
	srv := grpcserver.New(cfg.Server, log, authn)
	integrationv1.RegisterWebhookServiceServer(srv, grpcapi.NewWebhooks(webhook.New(store, webhook.Config{RequireHTTPS: cfg.RequireHTTPS})))
	integrationv1.RegisterNotificationServiceServer(srv, grpcapi.NewNotifications(notification.New(store.Notifications()), cfg.NotificationPoll))
	selector := selection.New(clients["customer"], directory)
	integrationv1.RegisterAutomationServiceServer(srv, grpcapi.NewRules(rule.New(store.Rules(), selector, cfg.Email.Configured())))
	sender := smtpsend.New(smtpsend.Config{Addr: cfg.Email.Addr, From: cfg.Email.From, StartTLS: cfg.Email.StartTLS,
		Username: cfg.Email.Username, Password: cfg.Email.Password, Timeout: cfg.Email.Timeout})
	integrationv1.RegisterEmailServiceServer(srv, grpcapi.NewEmails(email.New(store.Emails(), cfg.Email.Configured()), sender.Domain()))
	var mailer *email.Worker
	if cfg.Email.Configured() {
		customers := customer.New(customerv1.NewCustomerServiceClient(clients["customer"]), customerv1.NewProfileServiceClient(clients["customer"]),
			directory, cfg.Email.Timeout)
		mailer, err = email.NewWorker(store.Emails(), customers, sender, email.WorkerConfig{From: cfg.Email.From, Poll: cfg.Email.Poll,
			Lease: cfg.Email.Lease, Attempts: cfg.Email.Attempts, MinBackoff: cfg.Email.MinBackoff, MaxBackoff: cfg.Email.MaxBackoff,
			Batch: cfg.Email.Senders * max(1, int(cfg.Email.Lease/(2*cfg.Email.Timeout))), Senders: cfg.Email.Senders},
			log, otel.Meter("rapport/integration"))
		if err != nil {
			return err
		}
	}
	rules := scheduler.New(store.Rules(), selector, scheduler.Config{Poll: cfg.RulePoll, Lease: cfg.RuleLease, Batch: 16}, log)
	lis, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(ctx, lis, pool.Ping) })
	g.Go(func() error { return feeds.Run(ctx) })
	g.Go(func() error { return deliverer.Run(ctx) })
	g.Go(func() error { return actions.Run(ctx) })
	if mailer != nil {
		g.Go(func() error { return mailer.Run(ctx) })
	}
	g.Go(func() error { return rules.Run(ctx) })
	return g.Wait()
}

// poolSize is DB_MAX_CONNS or, unset, a connection for every delivery
// worker and e-mail sender besides those of the streams' ingest, the
// claimers, the rule workers and the API: with pgx's default (4 on two
// cores) workers queued for a connection behind the streams' ingest
// transactions, and delivery in the real suite trailed by many seconds.
func poolSize(cfg Config) int32 {
	if cfg.DB.MaxConns > 0 {
		return cfg.DB.MaxConns
	}
	return int32(cfg.Workers + cfg.Email.Senders + 8)
}
