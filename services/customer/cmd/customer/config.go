package main

import (
	"errors"
	"fmt"
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
	// DocumentMaxBytes bounds one uploaded document version (DOCUMENT_MAX_BYTES, default 25 MiB).
	DocumentMaxBytes int64
	// TicketTarget and PipelineTarget are the peers whose event streams
	// drive follow-up plans (TICKET_GRPC_TARGET, PIPELINE_GRPC_TARGET). Each
	// is optional: unset, plans on that source never fire, and only the
	// customer service's own events (and the configured peers') drive plans.
	TicketTarget, PipelineTarget string
	// PlanRefresh is how often the plan runner looks for tenants whose
	// plans were turned on or off (FOLLOW_UP_PLAN_REFRESH).
	PlanRefresh time.Duration
	// LoyaltySweep is how often due loyalty points expire and window tiers
	// are recomputed in the background (LOYALTY_SWEEP_INTERVAL).
	LoyaltySweep time.Duration
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
		DocumentMaxBytes:      int64(r.Int("DOCUMENT_MAX_BYTES", 25<<20)),
		TicketTarget:          r.String("TICKET_GRPC_TARGET", ""),
		PipelineTarget:        r.String("PIPELINE_GRPC_TARGET", ""),
		PlanRefresh:           r.Duration("FOLLOW_UP_PLAN_REFRESH", 30*time.Second),
		LoyaltySweep:          r.Duration("LOYALTY_SWEEP_INTERVAL", time.Hour),
		MergeRetention:        r.Duration("MERGE_RETENTION", 30*24*time.Hour),
		DuplicateScanInterval: r.Duration("DUPLICATE_SCAN_INTERVAL", 5*time.Second),
	}
	err := r.Err()
	if c.LoyaltySweep <= 0 {
		err = errors.Join(err, fmt.Errorf("LOYALTY_SWEEP_INTERVAL=%s must be positive", c.LoyaltySweep))
	}
	if c.DocumentMaxBytes <= 0 {
		err = errors.Join(err, fmt.Errorf("DOCUMENT_MAX_BYTES=%d must be positive", c.DocumentMaxBytes))
	}
	return c, err
}
