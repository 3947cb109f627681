package main

import (
	"errors"
	"time"

	"github.com/google/uuid"

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
	// TicketTarget is the ticket service, whose CSAT and NPS answers the
	// scorecards' help-desk satisfaction comes from (TICKET_GRPC_TARGET).
	TicketTarget string
	// EventPoll is how often WatchEvents looks for new events (EVENT_POLL_INTERVAL).
	EventPoll time.Duration
	// APIKey is the service's own credential (PARTNER_API_KEY), of a
	// principal with the analyst role: it follows the customer and ticket
	// streams with it and reads scorecard figures from the sales pipeline.
	// An operator tenant's key serves every tenant; any other its own.
	APIKey string
	// Tenant is the tenant APIKey belongs to, read from the key itself.
	Tenant uuid.UUID
	// MinBackoff and MaxBackoff bound the reconnection delay of a broken
	// stream (FEED_MIN_BACKOFF, FEED_MAX_BACKOFF).
	MinBackoff, MaxBackoff time.Duration
	// TenantRefresh is how often new tenants are looked for (TENANT_REFRESH).
	TenantRefresh time.Duration
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

		MinBackoff:    r.Duration("FEED_MIN_BACKOFF", 200*time.Millisecond),
		MaxBackoff:    r.Duration("FEED_MAX_BACKOFF", 10*time.Second),
		TenantRefresh: r.Duration("TENANT_REFRESH", 30*time.Second),
	}
	var errs []error
	if cmd == "serve" {
		c.CustomerTarget = r.Required("CUSTOMER_GRPC_TARGET")
		c.PipelineTarget = r.Required("PIPELINE_GRPC_TARGET")
		c.TicketTarget = r.Required("TICKET_GRPC_TARGET")
		c.APIKey = r.Required("PARTNER_API_KEY")
		if key, ok := auth.ParseAPIKey(c.APIKey); ok {
			c.Tenant = key.TenantID
		} else if c.APIKey != "" {
			errs = append(errs, errors.New("PARTNER_API_KEY is not a Rapport API key (rk_…)"))
		}
	}
	if c.TenantRefresh <= 0 {
		errs = append(errs, errors.New("TENANT_REFRESH must be positive"))
	}
	if c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff {
		errs = append(errs, errors.New("FEED_MIN_BACKOFF must be positive and at most FEED_MAX_BACKOFF"))
	}
	return c, errors.Join(append([]error{r.Err()}, errs...)...)
}
