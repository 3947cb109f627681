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

// Config is the analytics service's configuration, from the environment.
type Config struct {
	Server grpcserver.Config
	DB     pgdb.Config
	Auth   auth.Config
	// CustomerTarget, PipelineTarget, TicketTarget and PartnerTarget are the
	// sources (CUSTOMER_GRPC_TARGET, PIPELINE_GRPC_TARGET, TICKET_GRPC_TARGET,
	// PARTNER_GRPC_TARGET); the customer service also verifies API keys.
	CustomerTarget, PipelineTarget, TicketTarget, PartnerTarget string
	// APIKey is the credential analytics follows the streams with
	// (ANALYTICS_API_KEY); its principal needs the admin or analyst role.
	// The key of an operator tenant's principal follows every tenant (with
	// short-lived tenant tokens the identity service issues); any other key
	// follows its own tenant only.
	APIKey string
	// Tenant is the tenant APIKey belongs to, read from the key itself.
	Tenant uuid.UUID
	// MinBackoff and MaxBackoff bound the reconnection delay of a broken
	// stream (FEED_MIN_BACKOFF, FEED_MAX_BACKOFF).
	MinBackoff, MaxBackoff time.Duration
	// TenantRefresh is how often new tenants are looked for (TENANT_REFRESH).
	TenantRefresh time.Duration
	// TierInterval is the time between a tenant's tier suggestion runs
	// (TIER_SUGGEST_INTERVAL); TierPoll between looks at the delivery
	// queue (TIER_DELIVER_POLL).
	TierInterval, TierPoll time.Duration
}

// Load reads the configuration for cmd and reports every problem at once.
// The sources and the key are required only to serve, so the migrate step
// (an init container) and rebuild need nothing but their database URL.
func Load(getenv func(string) string, cmd string) (Config, error) {
	r := env.New(getenv)
	c := Config{
		Server:     grpcserver.LoadConfig(r),
		DB:         pgdb.LoadConfig(r),
		Auth:       auth.LoadConfig(r),
		MinBackoff: r.Duration("FEED_MIN_BACKOFF", 200*time.Millisecond),
		MaxBackoff: r.Duration("FEED_MAX_BACKOFF", 10*time.Second),

		TenantRefresh: r.Duration("TENANT_REFRESH", 30*time.Second),
		TierInterval:  r.Duration("TIER_SUGGEST_INTERVAL", time.Hour),
		TierPoll:      r.Duration("TIER_DELIVER_POLL", 5*time.Second),
	}
	var errs []error
	if cmd == "serve" {
		c.CustomerTarget = r.Required("CUSTOMER_GRPC_TARGET")
		c.PipelineTarget = r.Required("PIPELINE_GRPC_TARGET")
		c.TicketTarget = r.Required("TICKET_GRPC_TARGET")
		c.PartnerTarget = r.Required("PARTNER_GRPC_TARGET")
		c.APIKey = r.Required("ANALYTICS_API_KEY")
		if key, ok := auth.ParseAPIKey(c.APIKey); ok {
			c.Tenant = key.TenantID
		} else if c.APIKey != "" {
			errs = append(errs, errors.New("ANALYTICS_API_KEY is not a Rapport API key (rk_…)"))
		}
	}
	if c.TenantRefresh <= 0 {
		errs = append(errs, errors.New("TENANT_REFRESH must be positive"))
	}
	if c.TierInterval <= 0 || c.TierPoll <= 0 {
		errs = append(errs, errors.New("TIER_SUGGEST_INTERVAL and TIER_DELIVER_POLL must be positive"))
	}
	if c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff {
		errs = append(errs, errors.New("FEED_MIN_BACKOFF must be positive and at most FEED_MAX_BACKOFF"))
	}
	return c, errors.Join(append([]error{r.Err()}, errs...)...)
}
