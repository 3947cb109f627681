// Command customer runs the customer service, which also hosts the identity
// service. Subcommands: "serve" (default), "migrate", and "bootstrap", which
// creates the first operator tenant and prints its admin API key.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/rapportcrm/rapport/pkg/app"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/migrate"
	"github.com/rapportcrm/rapport/pkg/pgdb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	iamv1 "github.com/rapportcrm/rapport/gen/go/rapport/iam/v1"
	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/services/customer/internal/classify"
	"github.com/rapportcrm/rapport/services/customer/internal/clients/peerevents"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/document"
	"github.com/rapportcrm/rapport/services/customer/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/customer/internal/identity"
	"github.com/rapportcrm/rapport/services/customer/internal/imports"
	"github.com/rapportcrm/rapport/services/customer/internal/loyalty"
	"github.com/rapportcrm/rapport/services/customer/internal/partnerlink"
	"github.com/rapportcrm/rapport/services/customer/internal/postgres"
	"github.com/rapportcrm/rapport/services/customer/internal/privacy"
	"github.com/rapportcrm/rapport/services/customer/internal/profile"
	"github.com/rapportcrm/rapport/services/customer/internal/relationship"
	"github.com/rapportcrm/rapport/services/customer/internal/resolution"
	"github.com/rapportcrm/rapport/services/customer/internal/search"
)

func main() {
	app.Main("customer", func(ctx context.Context, getenv func(string) string, log *slog.Logger) error {
		return run(ctx, os.Args[1:], getenv, log)
	})
}

func run(ctx context.Context, args []string, getenv func(string) string, log *slog.Logger) error {
	cfg, err := Load(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, cfg, log)
	case "migrate":
		return migrate.Up(ctx, cfg.DB.MigrateURL, postgres.Migrations, log)
	case "bootstrap":
		return bootstrap(ctx, cfg, args)
	}
	return fmt.Errorf("unknown command %q (want serve, migrate or bootstrap)", cmd)
}

func signer(cfg Config) (*auth.Signer, error) {
	if cfg.JWTPrivateKey == "" {
		return nil, nil
	}
	s, err := auth.NewSigner(cfg.JWTPrivateKey)
	if err != nil {
		return nil, fmt.Errorf("RAPPORT_JWT_PRIVATE_KEY: %w", err)
	}
	return s, nil
}

func serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	log.InfoContext(ctx, "starting", "grpc_addr", cfg.Server.Addr, "db", cfg.DB.LogValue())
	pool, err := pgdb.Open(ctx, cfg.DB.URL, cfg.DB.MaxConns)
	if err != nil {
		return err
	}
	defer pool.Close()
	sign, err := signer(cfg)
	if err != nil {
		return err
	}
	if cfg.Auth.PublicKey == "" && sign != nil {
		cfg.Auth.PublicKey = sign.PublicKey()
	}
	store := postgres.New(pool)
	var tokenSigner identity.TokenSigner
	if sign != nil {
		tokenSigner = sign
	}
	ids := identity.New(store, tokenSigner)
	authn, err := cfg.Auth.Build(ids)
	if err != nil {
		return err
	}
	srv := grpcserver.New(cfg.Server, log, authn, grpcapi.AuthenticateApiKeyMethod, grpcapi.DownloadSharedDocumentMethod)
	scanner := resolution.NewScanner(store, cfg.DuplicateScanInterval, 0)
	resolver := resolution.New(store, cfg.MergeRetention, scanner)
	customers := customer.New(store)
	importer := imports.New(store, customers, 0)
	customerv1.RegisterCustomerServiceServer(srv, grpcapi.NewCustomers(customers, search.New(store), pool, cfg.EventPoll).WithDuplicates(resolver))
	customerv1.RegisterImportServiceServer(srv, grpcapi.NewImports(importer))
	customerv1.RegisterResolutionServiceServer(srv, grpcapi.NewResolution(resolver))
	customerv1.RegisterDocumentServiceServer(srv, grpcapi.NewDocuments(document.New(store.Documents(), cfg.DocumentMaxBytes)))
	customerv1.RegisterProfileServiceServer(srv, grpcapi.NewProfiles(profile.New(store)))
	iamv1.RegisterIdentityServiceServer(srv, grpcapi.NewIdentity(ids, authn.Keys()))
	customerv1.RegisterClassificationServiceServer(srv, grpcapi.NewClassification(classify.New(store)))
	customerv1.RegisterPrivacyServiceServer(srv, grpcapi.NewPrivacy(privacy.New(store)))
	customerv1.RegisterRelationshipServiceServer(srv, grpcapi.NewRelationship(relationship.New(store)))
	customerv1.RegisterLoyaltyServiceServer(srv, grpcapi.NewLoyalty(loyalty.New(store)))
	customerv1.RegisterPartnerLinkServiceServer(srv, grpcapi.NewPartnerLinks(partnerlink.New(store)))
	sources, closePeers, err := planSources(ctx, cfg, store, sign, log)
	if err != nil {
		return err
	}
	defer closePeers()
	runner := relationship.NewRunner(store, relationship.RunnerConfig{
		Refresh: cfg.PlanRefresh, MinBackoff: time.Second, MaxBackoff: 30 * time.Second, CheckpointEvery: 5 * time.Second,
	}, log, sources...)
	lis, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return runner.Run(gctx) })
	g.Go(func() error { return loyalty.NewSweeper(store, cfg.LoyaltySweep, log).Run(gctx) })
	// A scan stopped midway resumes after its last committed batch.
	g.Go(func() error {
		scanner.Run(gctx, func(err error) { log.ErrorContext(gctx, "duplicate scan", "error", err.Error()) })
		return nil
	})
	// Imports a crash interrupted resume beside serving; a job cut short
	// again resumes on the next start.
	g.Go(func() error {
		n, err := importer.Resume(gctx)
		if err != nil {
			log.ErrorContext(gctx, "resume import jobs", "resumed", n, "error", err.Error())
		} else if n > 0 {
			log.InfoContext(gctx, "resumed import jobs", "resumed", n)
		}
		return nil
	})
	g.Go(func() error { return srv.Run(gctx, lis, pool.Ping) })
	return g.Wait()
}

// planSources are the event streams follow-up plans react to: the
// service's own outbox always, and each peer whose target is configured,
// which also needs the token signer (peer streams are tenant-scoped).
func planSources(ctx context.Context, cfg Config, store *postgres.Store, sign *auth.Signer, log *slog.Logger) ([]relationship.EventSource, func(), error) {
	sources := []relationship.EventSource{store.OutboxEvents(cfg.EventPoll, log)}
	var conns []*grpc.ClientConn
	closeAll := func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}
	peers := []struct {
		name, env, target string
		source            func(*grpc.ClientConn) relationship.EventSource
	}{
		{"ticket", "TICKET_GRPC_TARGET", cfg.TicketTarget, func(c *grpc.ClientConn) relationship.EventSource {
			return peerevents.Ticket(ticketv1.NewTicketServiceClient(c), sign, log)
		}},
		{"pipeline", "PIPELINE_GRPC_TARGET", cfg.PipelineTarget, func(c *grpc.ClientConn) relationship.EventSource {
			return peerevents.Pipeline(pipelinev1.NewPipelineServiceClient(c), sign, log)
		}},
	}
	for _, p := range peers {
		switch {
		case p.target == "":
			log.InfoContext(ctx, "follow-up plans on "+p.name+" events are off: "+p.env+" is not set", "source", p.name)
			continue
		case sign == nil:
			log.WarnContext(ctx, "follow-up plans on "+p.name+" events are off: RAPPORT_JWT_PRIVATE_KEY is needed to sign stream tokens", "source", p.name)
			continue
		}
		conn, err := grpcclient.New(p.target)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("%s: %w", p.env, err)
		}
		conns = append(conns, conn)
		sources = append(sources, p.source(conn))
		log.InfoContext(ctx, "follow-up plans follow "+p.name+" events", "source", p.name, "target", p.target)
	}
	return sources, closeAll, nil
}

func bootstrap(ctx context.Context, cfg Config, args []string) error {
	fs := flag.NewFlagSet("bootstrap", flag.ContinueOnError)
	tenant := fs.String("tenant", "Demo", "display name of the operator tenant")
	admin := fs.String("admin", "Administrator", "display name of its first admin")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pool, err := pgdb.Open(ctx, cfg.DB.URL, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	t, _, key, err := identity.New(postgres.New(pool), nil).Bootstrap(ctx, *tenant, *admin)
	if err != nil {
		return err
	}
	if key.Secret == "" {
		return errors.New("bootstrap returned no key")
	}
	fmt.Fprintf(os.Stderr, "created operator tenant %s; its admin API key follows on stdout\n", t.ID)
	fmt.Println(key.Secret)
	return nil
}
