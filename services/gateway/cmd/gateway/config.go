package main

import (
	"time"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/env"
)

// Config is the edge's configuration, from the environment.
type Config struct {
	// HTTPAddr is the REST listen address (HTTP_ADDR, default 127.0.0.1:8080).
	HTTPAddr string
	// Targets of the services (<PEER>_GRPC_TARGET).
	CustomerTarget, PipelineTarget, TicketTarget, PartnerTarget, AnalyticsTarget, IntegrationTarget string
	Auth                                                                                            auth.Config
	// ShutdownTimeout bounds the drain of in-flight requests (SHUTDOWN_TIMEOUT).
	ShutdownTimeout time.Duration
	// DrainDelay keeps /readyz failing before the listener closes (DRAIN_DELAY).
	DrainDelay time.Duration
	// CallTimeout bounds each call to a service unless the client sends a
	// shorter Grpc-Timeout header (CALL_TIMEOUT, default 10s); REST event
	// streams end after it too, and the client resumes from its last cursor.
	CallTimeout time.Duration
}

// Load reads the configuration and reports every problem at once.
func Load(getenv func(string) string) (Config, error) {
	r := env.New(getenv)
	c := Config{
		HTTPAddr:          r.String("HTTP_ADDR", "127.0.0.1:8080"),
		CustomerTarget:    r.Required("CUSTOMER_GRPC_TARGET"),
		PipelineTarget:    r.Required("PIPELINE_GRPC_TARGET"),
		TicketTarget:      r.Required("TICKET_GRPC_TARGET"),
		PartnerTarget:     r.Required("PARTNER_GRPC_TARGET"),
		AnalyticsTarget:   r.Required("ANALYTICS_GRPC_TARGET"),
		IntegrationTarget: r.Required("INTEGRATION_GRPC_TARGET"),
		Auth:              auth.LoadConfig(r),
		ShutdownTimeout:   r.Duration("SHUTDOWN_TIMEOUT", 15*time.Second),
		DrainDelay:        r.Duration("DRAIN_DELAY", 0),
		CallTimeout:       r.Duration("CALL_TIMEOUT", 10*time.Second),
	}
	return c, r.Err()
}
