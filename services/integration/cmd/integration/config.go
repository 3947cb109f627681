package main

import (
	"errors"
	"net"
	"net/mail"
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
	BreakerMaxCooldown     time.Duration // WEBHOOK_BREAKER_MAX_COOLDOWN: the cap as failed probes double the cool-down
	BreakerThreshold       int           // WEBHOOK_BREAKER_THRESHOLD: failures in a row that open it
	BreakerCooldown        time.Duration // WEBHOOK_BREAKER_COOLDOWN: how long it stays open
	// NotificationPoll is how often a notification stream looks for new
	// ones (NOTIFICATION_POLL_INTERVAL).
	NotificationPoll time.Duration
	// RulePoll is how often due scheduled rules are looked for
	// (RULE_SCHEDULER_POLL); RuleLease how long a run stays with a
	// scheduler that makes no progress (RULE_RUN_LEASE).
	RulePoll, RuleLease time.Duration
	// Email is the SMTP relay; with no SMTP_ADDR, e-mail is off and every
	// e-mail set-up is refused with EMAIL_NOT_CONFIGURED.
	Email EmailConfig
}

// EmailConfig is the operator's SMTP relay and how messages are retried.
type EmailConfig struct {
	Addr               string        // SMTP_ADDR: host:port of the relay
	From               string        // SMTP_FROM: sender address
	StartTLS           bool          // SMTP_STARTTLS: upgrade before AUTH and MAIL
	Username, Password string        // SMTP_USERNAME, SMTP_PASSWORD: AUTH PLAIN
	Timeout            time.Duration // SMTP_TIMEOUT: one message exchange
	Poll               time.Duration // EMAIL_POLL_INTERVAL
	Lease              time.Duration // EMAIL_LEASE: a claimed message is retried after it
	Attempts           int           // EMAIL_MAX_ATTEMPTS before a 4xx-refused message fails
	MinBackoff         time.Duration // EMAIL_MIN_BACKOFF
	MaxBackoff         time.Duration // EMAIL_MAX_BACKOFF
	Senders            int           // EMAIL_SENDERS: messages sent at once
}

// Configured says whether the operator set a relay.
func (e EmailConfig) Configured() bool { return e.Addr != "" }

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
		Email: EmailConfig{
			Addr: r.String("SMTP_ADDR", ""), From: r.String("SMTP_FROM", ""), StartTLS: r.Bool("SMTP_STARTTLS", false),
			Username: r.String("SMTP_USERNAME", ""), Password: r.String("SMTP_PASSWORD", ""),
			Timeout: r.Duration("SMTP_TIMEOUT", 30*time.Second), Poll: r.Duration("EMAIL_POLL_INTERVAL", time.Second),
			Lease: r.Duration("EMAIL_LEASE", 2*time.Minute), Attempts: r.Int("EMAIL_MAX_ATTEMPTS", 8),
			MinBackoff: r.Duration("EMAIL_MIN_BACKOFF", 30*time.Second), MaxBackoff: r.Duration("EMAIL_MAX_BACKOFF", time.Hour),
			Senders: r.Int("EMAIL_SENDERS", 4),
		},
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
	c.BreakerMaxCooldown = r.Duration("WEBHOOK_BREAKER_MAX_COOLDOWN", 30*time.Minute)
	if c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff {
		errs = append(errs, errors.New("WEBHOOK_MIN_BACKOFF must be positive and at most WEBHOOK_MAX_BACKOFF"))
	}
	if c.Workers < 1 || c.RetryBudget < 1 || c.BreakerThreshold < 1 {
		errs = append(errs, errors.New("WEBHOOK_WORKERS, WEBHOOK_RETRY_BUDGET and WEBHOOK_BREAKER_THRESHOLD must be at least 1"))
	}
	if c.Timeout <= 0 || c.Lease <= c.Timeout || c.BreakerCooldown <= 0 {
		errs = append(errs, errors.New("WEBHOOK_TIMEOUT and WEBHOOK_BREAKER_COOLDOWN must be positive and WEBHOOK_LEASE longer than WEBHOOK_TIMEOUT"))
	}
	if e := c.Email; e.Configured() {
		if _, _, err := net.SplitHostPort(e.Addr); err != nil {
			errs = append(errs, errors.New("SMTP_ADDR must be host:port"))
		}
		if a, err := mail.ParseAddress(e.From); err != nil || a.Address != e.From {
			errs = append(errs, errors.New("SMTP_FROM must be a bare e-mail address when SMTP_ADDR is set"))
		}
		if e.Username != "" && !e.StartTLS && !loopback(e.Addr) {
			errs = append(errs, errors.New("SMTP_USERNAME needs SMTP_STARTTLS: credentials never cross the network in clear"))
		}
		if e.Timeout <= 0 || e.Poll <= 0 || e.Lease <= e.Timeout || e.Attempts < 1 || e.MinBackoff <= 0 || e.MaxBackoff < e.MinBackoff || e.Senders < 1 {
			errs = append(errs, errors.New("SMTP_TIMEOUT, EMAIL_POLL_INTERVAL and EMAIL_MIN_BACKOFF must be positive, EMAIL_LEASE longer than SMTP_TIMEOUT, "+
				"EMAIL_MAX_ATTEMPTS and EMAIL_SENDERS at least 1 and EMAIL_MAX_BACKOFF at least EMAIL_MIN_BACKOFF"))
		}
	}
	return c, errors.Join(append([]error{r.Err()}, errs...)...)
}

// loopback says whether a host:port names this machine, where net/smtp
// allows AUTH PLAIN without TLS.
func loopback(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}
