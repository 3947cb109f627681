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

// Config is the integration service's configuration, from the environment.
type Config struct {
	Server grpcserver.Config
	DB     pgdb.Config
	Auth   auth.Config
	// CustomerTarget, PipelineTarget, TicketTarget and PartnerTarget are the
	// event sources; the customer service also verifies API keys.
	CustomerTarget, PipelineTarget, TicketTarget, PartnerTarget string
	// APIKey is the credential the streams are followed with
	// (INTEGRATION_API_KEY): an operator tenant's analyst follows every
	// tenant, any other admin or analyst its own tenant.
	APIKey string
	// Tenant is the tenant APIKey belongs to, read from the key itself.
	Tenant uuid.UUID
	// TenantRefresh is how often new tenants are looked for (TENANT_REFRESH).
	TenantRefresh time.Duration
	// FeedMinBackoff and FeedMaxBackoff bound the reconnection delay of a
	// broken stream (FEED_MIN_BACKOFF, FEED_MAX_BACKOFF).
	FeedMinBackoff, FeedMaxBackoff time.Duration
	// RequireHTTPS refuses http target URLs (WEBHOOK_REQUIRE_HTTPS, on:
	// production mode).
	RequireHTTPS bool
	// Workers, Poll, Timeout and Lease tune delivery (WEBHOOK_WORKERS,
	// WEBHOOK_POLL_INTERVAL, WEBHOOK_TIMEOUT, WEBHOOK_LEASE).
	Workers                int
	Poll, Timeout, Lease   time.Duration
	RetryBudget            int           // WEBHOOK_RETRY_BUDGET: attempts before a dead letter
	MinBackoff, MaxBackoff time.Duration // WEBHOOK_MIN_BACKOFF, WEBHOOK_MAX_BACKOFF
	BreakerThreshold       int           // WEBHOOK_BREAKER_THRESHOLD: failures in a row that open it
	BreakerCooldown        time.Duration // WEBHOOK_BREAKER_COOLDOWN: how long it stays open
	// NotificationPoll is how often a notification stream looks for new
	// ones (NOTIFICATION_POLL_INTERVAL).
	NotificationPoll time.Duration
	// RulePoll is how often due scheduled rules are looked for
	// (RULE_SCHEDULER_POLL); RuleLease how long a run stays with a
	// scheduler that makes no progress (RULE_RUN_LEASE).
	RulePoll, RuleLease time.Duration
}

// Load reads the configuration for cmd and reports every problem at once;
// migrate needs nothing but its database URL.
func Load(getenv func(string) string, cmd string) (Config, error) {
	r := env.New(getenv)
	c := Config{
		Server: grpcserver.LoadConfig(r), DB: pgdb.LoadConfig(r), Auth: auth.LoadConfig(r),
		TenantRefresh:    r.Duration("TENANT_REFRESH", 30*time.Second),
		FeedMinBackoff:   r.Duration("FEED_MIN_BACKOFF", 200*time.Millisecond),
		FeedMaxBackoff:   r.Duration("FEED_MAX_BACKOFF", 10*time.Second),
		RequireHTTPS:     r.Bool("WEBHOOK_REQUIRE_HTTPS", true),
		Workers:          r.Int("WEBHOOK_WORKERS", 16),
		Poll:             r.Duration("WEBHOOK_POLL_INTERVAL", 200*time.Millisecond),
		Timeout:          r.Duration("WEBHOOK_TIMEOUT", 10*time.Second),
		Lease:            r.Duration("WEBHOOK_LEASE", time.Minute),
		RetryBudget:      r.Int("WEBHOOK_RETRY_BUDGET", 12),
		MinBackoff:       r.Duration("WEBHOOK_MIN_BACKOFF", 5*time.Second),
		MaxBackoff:       r.Duration("WEBHOOK_MAX_BACKOFF", time.Hour),
		BreakerThreshold: r.Int("WEBHOOK_BREAKER_THRESHOLD", 5),
		BreakerCooldown:  r.Duration("WEBHOOK_BREAKER_COOLDOWN", 30*time.Second),
		NotificationPoll: r.Duration("NOTIFICATION_POLL_INTERVAL", time.Second),
		RulePoll:         r.Duration("RULE_SCHEDULER_POLL", 15*time.Second),
		RuleLease:        r.Duration("RULE_RUN_LEASE", 2*time.Minute),
	}
	var errs []error
	if cmd == "serve" {
		c.CustomerTarget = r.Required("CUSTOMER_GRPC_TARGET")
		c.PipelineTarget = r.Required("PIPELINE_GRPC_TARGET")
		c.TicketTarget = r.Required("TICKET_GRPC_TARGET")
		c.PartnerTarget = r.Required("PARTNER_GRPC_TARGET")
		c.APIKey = r.Required("INTEGRATION_API_KEY")
		if key, ok := auth.ParseAPIKey(c.APIKey); ok {
			c.Tenant = key.TenantID
		} else if c.APIKey != "" {
			errs = append(errs, errors.New("INTEGRATION_API_KEY is not a Rapport API key (rk_…)"))
		}
	}
	if c.TenantRefresh <= 0 || c.Poll <= 0 || c.NotificationPoll <= 0 {
		errs = append(errs, errors.New("TENANT_REFRESH, WEBHOOK_POLL_INTERVAL and NOTIFICATION_POLL_INTERVAL must be positive"))
	}
	if c.RulePoll <= 0 || c.RuleLease < time.Minute {
		errs = append(errs, errors.New("RULE_SCHEDULER_POLL must be positive and RULE_RUN_LEASE at least 1m"))
	}
	if c.FeedMinBackoff <= 0 || c.FeedMaxBackoff < c.FeedMinBackoff {
		errs = append(errs, errors.New("FEED_MIN_BACKOFF must be positive and at most FEED_MAX_BACKOFF"))
	}
	if c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff {
		errs = append(errs, errors.New("WEBHOOK_MIN_BACKOFF must be positive and at most WEBHOOK_MAX_BACKOFF"))
	}
	if c.Workers < 1 || c.RetryBudget < 1 || c.BreakerThreshold < 1 {
		errs = append(errs, errors.New("WEBHOOK_WORKERS, WEBHOOK_RETRY_BUDGET and WEBHOOK_BREAKER_THRESHOLD must be at least 1"))
	}
	if c.Timeout <= 0 || c.Lease <= c.Timeout || c.BreakerCooldown <= 0 {
		errs = append(errs, errors.New("WEBHOOK_TIMEOUT and WEBHOOK_BREAKER_COOLDOWN must be positive and WEBHOOK_LEASE longer than WEBHOOK_TIMEOUT"))
	}
	return c, errors.Join(append([]error{r.Err()}, errs...)...)
}
