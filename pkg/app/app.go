// Package app runs a Rapport process: signal handling, the JSON logger and
// OpenTelemetry, flushed last at shutdown.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rapportcrm/rapport/pkg/telemetry"
)

// Version is the build's version, set with -ldflags "-X github.com/rapportcrm/rapport/pkg/app.Version=…".
var Version = "dev"

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
	if err := fn(ctx, os.Getenv, log); err != nil {
		return fmt.Errorf("%s: %w", service, err)
	}
	return nil
}
