package main

import (
	"time"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/env"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/pgdb"
)

// Config is the customer service's configuration, from the environment.
type Config struct {
	Server grpcserver.Config
	DB     pgdb.Config
	Auth   auth.Config
	// JWTPrivateKey is the base64 Ed25519 seed the identity service signs
	// tokens with (RAPPORT_JWT_PRIVATE_KEY); without it IssueToken is off.
	JWTPrivateKey string
	// EventPoll is how often WatchEvents looks for new events (EVENT_POLL_INTERVAL).
	EventPoll time.Duration
	// MergeRetention is how long a merge can be undone (MERGE_RETENTION).
	MergeRetention time.Duration
	// DuplicateScanInterval is how often the scan worker looks for
	// running duplicate scans it has not been told about (DUPLICATE_SCAN_INTERVAL).
	DuplicateScanInterval time.Duration
}

// Load reads the configuration and reports every problem at once.
func Load(getenv func(string) string) (Config, error) {
	r := env.New(getenv)
	c := Config{
		Server:                grpcserver.LoadConfig(r),
		DB:                    pgdb.LoadConfig(r),
		Auth:                  auth.LoadConfig(r),
		JWTPrivateKey:         r.String("RAPPORT_JWT_PRIVATE_KEY", ""),
		EventPoll:             r.Duration("EVENT_POLL_INTERVAL", 200*time.Millisecond),
		MergeRetention:        r.Duration("MERGE_RETENTION", 30*24*time.Hour),
		DuplicateScanInterval: r.Duration("DUPLICATE_SCAN_INTERVAL", 5*time.Second),
	}
	return c, r.Err()
}
