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

	"github.com/rapportcrm/rapport/pkg/app"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/migrate"
	"github.com/rapportcrm/rapport/pkg/pgdb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	iamv1 "github.com/rapportcrm/rapport/gen/go/rapport/iam/v1"
	"github.com/rapportcrm/rapport/services/customer/internal/classify"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/customer/internal/identity"
	"github.com/rapportcrm/rapport/services/customer/internal/imports"
	"github.com/rapportcrm/rapport/services/customer/internal/postgres"
	"github.com/rapportcrm/rapport/services/customer/internal/profile"
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
	srv := grpcserver.New(cfg.Server, log, authn, grpcapi.AuthenticateApiKeyMethod)
	customers := customer.New(store)
	importer := imports.New(store, customers, 0)
	customerv1.RegisterCustomerServiceServer(srv, grpcapi.NewCustomers(customers, pool, cfg.EventPoll))
	customerv1.RegisterImportServiceServer(srv, grpcapi.NewImports(importer))
	customerv1.RegisterProfileServiceServer(srv, grpcapi.NewProfiles(profile.New(store)))
	iamv1.RegisterIdentityServiceServer(srv, grpcapi.NewIdentity(ids, authn.Keys()))
	customerv1.RegisterClassificationServiceServer(srv, grpcapi.NewClassification(classify.New(store)))
	lis, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return err
	}
	// Imports a crash interrupted resume beside serving; they end with ctx,
	// and a job cut short resumes on the next start.
	go func() {
		n, err := importer.Resume(ctx)
		if err != nil {
			log.ErrorContext(ctx, "resume import jobs", "resumed", n, "error", err)
		} else if n > 0 {
			log.InfoContext(ctx, "resumed import jobs", "resumed", n)
		}
	}()
	return srv.Run(ctx, lis, pool.Ping)
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
