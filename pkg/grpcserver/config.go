// Package grpcserver builds the gRPC server every Rapport service runs: the
// interceptor chain, health, reflection, OpenTelemetry and the shutdown order.
package grpcserver

import (
	"time"

	"github.com/rapportcrm/rapport/pkg/env"
)

// Config is the server's part of a service's configuration.
type Config struct {
	// Addr is the listen address (GRPC_ADDR, default ":9090").
	Addr string
	// DefaultDeadline applies to calls that arrive without one.
	DefaultDeadline time.Duration
	// DrainDelay is how long the server reports NOT_SERVING before it stops
	// accepting calls, so load balancers notice first.
	DrainDelay time.Duration
	// ShutdownTimeout bounds the graceful drain of in-flight calls.
	ShutdownTimeout time.Duration
	// Reflection serves grpc.reflection (GRPC_REFLECTION, default true).
	Reflection bool
}

// LoadConfig reads GRPC_ADDR, DEFAULT_DEADLINE, DRAIN_DELAY, SHUTDOWN_TIMEOUT and GRPC_REFLECTION.
func LoadConfig(r *env.Reader) Config {
	return Config{
		Addr:            r.String("GRPC_ADDR", ":9090"),
		DefaultDeadline: r.Duration("DEFAULT_DEADLINE", 10*time.Second),
		DrainDelay:      r.Duration("DRAIN_DELAY", 0),
		ShutdownTimeout: r.Duration("SHUTDOWN_TIMEOUT", 15*time.Second),
		Reflection:      r.Bool("GRPC_REFLECTION", true),
	}
}
