// Command gateway runs the REST/JSON edge of Rapport.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/rapportcrm/rapport/pkg/app"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
	"github.com/rapportcrm/rapport/pkg/iamclient"
	"github.com/rapportcrm/rapport/services/gateway/internal/edge"
)

func main() { app.Main("gateway", run) }

func run(ctx context.Context, getenv func(string) string, log *slog.Logger) error {
	cfg, err := Load(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	var conns []*grpc.ClientConn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	dial := func(target string) *grpc.ClientConn {
		c, derr := grpcclient.New(target)
		if derr != nil {
			err = errors.Join(err, derr)
			return nil
		}
		conns = append(conns, c)
		return c
	}
	b := edge.Backends{
		Customer: dial(cfg.CustomerTarget), Pipeline: dial(cfg.PipelineTarget), Ticket: dial(cfg.TicketTarget),
		Partner: dial(cfg.PartnerTarget), Analytics: dial(cfg.AnalyticsTarget), Integration: dial(cfg.IntegrationTarget),
	}
	if err != nil {
		return err
	}
	authn, err := cfg.Auth.Build(iamclient.New(b.Customer))
	if err != nil {
		return err
	}
	runtime.DefaultContextTimeout = cfg.CallTimeout // the library's knob is a package variable
	h, err := edge.New(ctx, b, authn, log)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Addr: cfg.HTTPAddr, Handler: h,
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second,
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	lis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "serving", "http_addr", lis.Addr().String())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		time.Sleep(cfg.DrainDelay)
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), cfg.ShutdownTimeout)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return g.Wait()
}
