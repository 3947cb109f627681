package main

import (
	"time"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/env"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/pgdb"
)

// Config is the partner service's configuration, from the environment.
type Config struct {
	Server grpcserver.Config
	DB     pgdb.Config
	Auth   auth.Config
	// CustomerTarget is the customer service, which hosts the identity
	// service that verifies API keys (CUSTOMER_GRPC_TARGET).
	CustomerTarget string
	// PipelineTarget is the sales-pipeline service, which deal registration
	// checks for open opportunities and creates them in (PIPELINE_GRPC_TARGET).
	PipelineTarget string
	// EventPoll is how often WatchEvents looks for new events (EVENT_POLL_INTERVAL).
	EventPoll time.Duration
}

// Load reads the configuration for cmd and reports every problem at once.
// Peers are required only to serve, so the migrate step (an init container)
// needs nothing but its database URL.
func Load(getenv func(string) string, cmd string) (Config, error) {
	r := env.New(getenv)
	c := Config{
		Server:    grpcserver.LoadConfig(r),
		DB:        pgdb.LoadConfig(r),
		Auth:      auth.LoadConfig(r),
		EventPoll: r.Duration("EVENT_POLL_INTERVAL", 200*time.Millisecond),
	}
	if cmd == "serve" {
		c.CustomerTarget = r.Required("CUSTOMER_GRPC_TARGET")
		c.PipelineTarget = r.Required("PIPELINE_GRPC_TARGET")
	}
	return c, r.Err()
}
