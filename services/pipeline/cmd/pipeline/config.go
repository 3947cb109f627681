package main

import (
	"errors"
	"time"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/env"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/pgdb"
)

// Config is the pipeline service's configuration, from the environment.
type Config struct {
	Server grpcserver.Config
	DB     pgdb.Config
	Auth   auth.Config
	// CustomerTarget is the customer service's address (CUSTOMER_GRPC_TARGET),
	// which verifies API keys and answers whether customers exist.
	CustomerTarget string
	// EventPoll is how often WatchEvents looks for new events (EVENT_POLL_INTERVAL).
	EventPoll time.Duration
	// WebFormKeyRate and WebFormClientRate are how many public web-form
	// submissions a minute one form key (WEB_FORM_KEY_RATE) and one client
	// address (WEB_FORM_CLIENT_RATE) may make in this process.
	WebFormKeyRate, WebFormClientRate int
	// SnapshotInterval is how often the daily pipeline snapshots are
	// looked for (SNAPSHOT_INTERVAL); each tenant gets one per UTC day.
	SnapshotInterval time.Duration
}

// Load reads the serving configuration and reports every problem at once.
func Load(getenv func(string) string) (Config, error) {
	r := env.New(getenv)
	c := Config{
		Server:            grpcserver.LoadConfig(r),
		DB:                pgdb.LoadConfig(r),
		Auth:              auth.LoadConfig(r),
		CustomerTarget:    r.Required("CUSTOMER_GRPC_TARGET"),
		EventPoll:         r.Duration("EVENT_POLL_INTERVAL", 200*time.Millisecond),
		WebFormKeyRate:    r.Int("WEB_FORM_KEY_RATE", 120),
		WebFormClientRate: r.Int("WEB_FORM_CLIENT_RATE", 20),
	}
	c.SnapshotInterval = r.Duration("SNAPSHOT_INTERVAL", time.Hour)
	if c.WebFormKeyRate < 1 || c.WebFormClientRate < 1 {
		return c, errors.Join(r.Err(), errors.New("WEB_FORM_KEY_RATE and WEB_FORM_CLIENT_RATE must be at least 1"))
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
