package main

import (
	"time"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/env"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/pgdb"
)

// Config is the ticket service's configuration, from the environment.
type Config struct {
	Server grpcserver.Config
	DB     pgdb.Config
	Auth   auth.Config
	// CustomerTarget is the customer service's address (CUSTOMER_GRPC_TARGET),
	// which verifies API keys and answers whether customers exist.
	CustomerTarget string
	// EventPoll is how often WatchEvents looks for new events (EVENT_POLL_INTERVAL).
	EventPoll time.Duration
	// SLAPoll is how often the SLA watcher looks for warnings and breaches
	// that fell due (SLA_POLL_INTERVAL).
	SLAPoll time.Duration
}

// Load reads the serving configuration and reports every problem at once.
func Load(getenv func(string) string) (Config, error) {
	r := env.New(getenv)
	c := Config{
		Server:         grpcserver.LoadConfig(r),
		DB:             pgdb.LoadConfig(r),
		Auth:           auth.LoadConfig(r),
		CustomerTarget: r.Required("CUSTOMER_GRPC_TARGET"),
		EventPoll:      r.Duration("EVENT_POLL_INTERVAL", 200*time.Millisecond),
		SLAPoll:        r.Duration("SLA_POLL_INTERVAL", 10*time.Second),
	}
	return c, r.Err()
}

// LoadDB reads only the database configuration: the migrate step runs as an
// init container that is given nothing else.
func LoadDB(getenv func(string) string) (pgdb.Config, error) {
	r := env.New(getenv)
	c := pgdb.LoadConfig(r)
	return c, r.Err()
}
