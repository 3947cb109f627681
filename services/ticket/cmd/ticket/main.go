// Command ticket runs the service-ticket (help desk) service. Subcommands:
// "serve" (default) and "migrate".
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

	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/services/ticket/internal/clients/customer"
	"github.com/rapportcrm/rapport/services/ticket/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/ticket/internal/postgres"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

func main() {
	app.Main("ticket", func(ctx context.Context, getenv func(string) string, log *slog.Logger) error {
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
	log.InfoContext(ctx, "starting", "grpc_addr", cfg.Server.Addr, "db", cfg.DB.LogValue(), "customer_target", cfg.CustomerTarget, "sla_poll", cfg.SLAPoll.String())
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
	srv := grpcserver.New(cfg.Server, log, authn, grpcapi.GetCsatSurveyMethod, grpcapi.AnswerCsatSurveyMethod)
	svc := ticket.New(postgres.New(pool), customerclient.New(conn, ticket.ErrCustomerLookup), customer.NewPartnerLinks(conn), customer.NewSegments(conn))
	ticketv1.RegisterTicketServiceServer(srv, grpcapi.New(svc, pool, cfg.EventPoll))
	lis, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return err
	}
	// The watcher stops with the server, before the pool closes.
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		svc.WatchSLA(watchCtx, cfg.SLAPoll, log)
	}()
	defer func() {
		stopWatch()
		<-watched
	}()
	return srv.Run(ctx, lis, pool.Ping)
}
