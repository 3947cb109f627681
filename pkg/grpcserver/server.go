package grpcserver

import (
	"context"
	"log/slog"
	"net"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

// streamWorkers is how many calls run at once on reused goroutines; calls
// beyond it get a goroutine of their own, as without workers.
const streamWorkers = 64

// Server is a gRPC server with its health service.
type Server struct {
	*grpc.Server
	Health *health.Server
	cfg    Config
	log    *slog.Logger
	chain  *chain
}

// New builds a server whose calls are traced and measured (otelgrpc gives the
// RED metrics per RPC), pass through the interceptor chain, and must carry
// credentials unless their full method name is in public.
func New(cfg Config, log *slog.Logger, authn Authenticator, public ...string) *Server {
	c := &chain{log: log, authn: authn, public: publicMethods(public), deadline: cfg.DefaultDeadline, draining: make(chan struct{})}
	srv := grpc.NewServer(
		grpc.StatsHandler(otelgrpc.NewServerHandler()),
		grpc.ChainUnaryInterceptor(c.unary),
		grpc.ChainStreamInterceptor(c.stream),
		// Long-lived workers run the calls: a goroutine per call would grow
		// its stack anew every time (copystack was 6 % of a read's CPU).
		grpc.NumStreamWorkers(streamWorkers),
	)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	if cfg.Reflection {
		reflection.Register(srv)
	}
	return &Server{Server: srv, Health: hs, cfg: cfg, log: log, chain: c}
}

// Run serves on lis until ctx ends, then shuts down in order: health
// NOT_SERVING → drain delay → open streams told to end → GracefulStop (unary
// calls in flight finish) bounded by the shutdown timeout → Stop. While it runs, ready is polled every few seconds and health follows it.
func (s *Server) Run(ctx context.Context, lis net.Listener, ready func(context.Context) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Serve(lis) })
	g.Go(func() error {
		s.watch(ctx, ready)
		s.Health.Shutdown()
		s.log.InfoContext(ctx, "shutting down", "drain_delay", s.cfg.DrainDelay.String())
		time.Sleep(s.cfg.DrainDelay)
		close(s.chain.draining)
		defer time.AfterFunc(s.cfg.ShutdownTimeout, s.Stop).Stop()
		s.GracefulStop()
		return nil
	})
	return g.Wait()
}

// watch sets SERVING while ready succeeds and NOT_SERVING while it fails, until ctx ends.
func (s *Server) watch(ctx context.Context, ready func(context.Context) error) {
	t := time.NewTicker(3 * time.Second)
	defer t.Stop()
	last := healthpb.HealthCheckResponse_UNKNOWN
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := ready(pctx)
		cancel()
		st := healthpb.HealthCheckResponse_SERVING
		if err != nil {
			st = healthpb.HealthCheckResponse_NOT_SERVING
		}
		if st != last && ctx.Err() == nil {
			s.Health.SetServingStatus("", st)
			if err != nil {
				s.log.WarnContext(ctx, "not ready", "error", err.Error())
			} else {
				s.log.InfoContext(ctx, "serving", "addr", s.cfg.Addr)
			}
			last = st
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
