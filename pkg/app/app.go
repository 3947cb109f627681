// Package app runs a Rapport process: signal handling, the JSON logger and
// OpenTelemetry, flushed last at shutdown.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/rapportcrm/rapport/pkg/telemetry"
)

// Version is the build's version, set with -ldflags "-X github.com/rapportcrm/rapport/pkg/app.Version=…".
var Version = "dev"

// defaultGCPercent is the GOGC the services run with unless told otherwise.
const defaultGCPercent = 400

// Main runs fn until SIGINT or SIGTERM and exits 1 if it fails. fn gets
// os.Getenv and a logger carrying trace ids.
func Main(service string, fn func(ctx context.Context, getenv func(string) string, log *slog.Logger) error) {
	log := telemetry.NewLogger(os.Stdout, os.Getenv("LOG_LEVEL"), service)
	if err := run(service, log, fn); err != nil {
		log.Error("exit", "error", err.Error())
		os.Exit(1)
	}
}

func run(service string, log *slog.Logger, fn func(context.Context, func(string) string, *slog.Logger) error) error {
	if os.Getenv("GOGC") == "" {
		// A service's live heap is a few MB, so Go's default (collect at
		// twice it) collected every few ms under load and cost 10-15 % of
		// the CPU; GOGC and GOMEMLIMIT still override this.
		debug.SetGCPercent(defaultGCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	shutdown, err := telemetry.Setup(ctx, service, Version)
	if err != nil {
		return err
	}
	defer func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := shutdown(fctx); err != nil {
			log.Warn("telemetry flush", "error", err.Error())
		}
	}()
	if addr := os.Getenv("DEBUG_ADDR"); addr != "" {
		stopDebug, err := serveDebug(addr, log)
		if err != nil {
			return err
		}
		defer stopDebug()
	}
	if err := fn(ctx, os.Getenv, log); err != nil {
		return fmt.Errorf("%s: %w", service, err)
	}
	return nil
}

// serveDebug serves Go's runtime profiles (/debug/pprof/) on addr, for
// operators who set DEBUG_ADDR; it is off by default because profiles
// expose internals and cost CPU while taken.
func serveDebug(addr string, log *slog.Logger) (func(), error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("DEBUG_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
			log.Warn("debug server", "error", err.Error())
		}
	}()
	log.Info("debug server listening", "addr", lis.Addr().String())
	return func() { _ = srv.Close() }, nil
}
