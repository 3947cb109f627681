package email

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/sync/errgroup"
)

// Recipient is what the customer service knows of a customer to write to.
type Recipient struct {
	Address  string
	Name     string
	Language string // BCP 47, "" when unknown
	TimeZone string // IANA name, "" when unknown
}

// Customers looks customers up in the customer service, acting in tenant.
type Customers interface {
	// Recipient returns ErrCustomerNotFound for a customer that is gone.
	Recipient(ctx context.Context, tenant, customerID uuid.UUID) (Recipient, error)
	// MarketingConsent reports whether the customer granted e-mail marketing.
	MarketingConsent(ctx context.Context, tenant, customerID uuid.UUID) (bool, error)
}

// Outgoing is one message handed to the relay.
type Outgoing struct {
	From, To, MessageID, Subject, Text, HTML string
	Date                                     time.Time
}

// Sender hands messages to the relay.
type Sender interface {
	Send(ctx context.Context, m Outgoing) error
	// Domain is the sender address's domain, for Message-IDs.
	Domain() string
}

// ReplyError is an SMTP reply refusing a message: 4xx is transient, 5xx
// permanent.
type ReplyError struct {
	Code int
	Text string
}

func (e *ReplyError) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Text) }

// Job is a claimed message with its template (nil when deleted since).
type Job struct {
	TenantID uuid.UUID
	Message  Message
	Template *Template
}

// Settlement is what came of one attempt.
type Settlement struct {
	MessageID uuid.UUID
	Attempt   int
	State     State
	Reply     string
	Recipient string
	Locale    string
	RetryIn   time.Duration
}

// WorkerStore is what the workers need of storage.
type WorkerStore interface {
	DueEmailTenants(ctx context.Context, limit int) ([]uuid.UUID, error)
	// ClaimEmails leases up to limit due messages of tenant, counting an
	// attempt for each: a worker that dies mid-send leaves them due again
	// once the lease ends, to be retried under the same Message-ID.
	ClaimEmails(ctx context.Context, tenant uuid.UUID, limit int, lease time.Duration) ([]Job, error)
	// SettleEmail records an attempt's outcome unless a later claim superseded it.
	SettleEmail(ctx context.Context, tenant uuid.UUID, s Settlement) error
	EmailBacklog(ctx context.Context) (int64, error)
}

// WorkerConfig tunes sending.
type WorkerConfig struct {
	From                   string
	Poll, Lease            time.Duration
	Attempts               int // attempts before a transiently refused message fails
	MinBackoff, MaxBackoff time.Duration
	// Batch is how many messages one claim takes; their sends, Senders at
	// a time, must end within the lease, or another worker could claim
	// them again while they are still being sent.
	Batch int
	// Senders is how many messages of a claim are sent at once, each over
	// its own connection to the relay; 0 means 1.
	Senders int
}

// Worker sends queued messages.
type Worker struct {
	store     WorkerStore
	customers Customers
	sender    Sender
	cfg       WorkerConfig
	log       *slog.Logger
	outcomes  metric.Int64Counter
	backlog   metric.Int64ObservableGauge
	meter     metric.Meter
}

// NewWorker returns a Worker.
func NewWorker(store WorkerStore, customers Customers, sender Sender, cfg WorkerConfig, log *slog.Logger, meter metric.Meter) (*Worker, error) {
	outcomes, err := meter.Int64Counter("rapport.email.attempts",
		metric.WithDescription("E-mail attempts by outcome (sent, retry, failed, suppressed)."))
	if err != nil {
		return nil, fmt.Errorf("attempts counter: %w", err)
	}
	backlog, err := meter.Int64ObservableGauge("rapport.email.backlog",
		metric.WithDescription("Pending e-mail messages of every tenant."))
	if err != nil {
		return nil, fmt.Errorf("backlog gauge: %w", err)
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 1
	}
	if cfg.Senders <= 0 {
		cfg.Senders = 1
	}
	return &Worker{store: store, customers: customers, sender: sender, cfg: cfg, log: log,
		outcomes: outcomes, backlog: backlog, meter: meter}, nil
}

// Run sends until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	reg, err := w.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		n, err := w.store.EmailBacklog(ctx)
		if err == nil {
			o.ObserveInt64(w.backlog, n)
		}
		return err
	}, w.backlog)
	if err != nil {
		return fmt.Errorf("backlog gauge: %w", err)
	}
	defer func() { _ = reg.Unregister() }()
	t := time.NewTicker(w.cfg.Poll)
	defer t.Stop()
	for {
		if _, err := w.Process(ctx); err != nil && ctx.Err() == nil {
			w.log.ErrorContext(ctx, "e-mail round failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Process runs one round: every due message of every tenant is attempted
// once. It returns how many were attempted.
func (w *Worker) Process(ctx context.Context) (int, error) {
	tenants, err := w.store.DueEmailTenants(ctx, 100)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, tenant := range tenants {
		// Small claims, several per round: a claim never outlives its lease
		// while its messages wait their turn, and one tenant's backlog
		// yields to the next after maxClaims.
		for range maxClaims {
			jobs, err := w.store.ClaimEmails(ctx, tenant, w.cfg.Batch, w.cfg.Lease)
			if err != nil {
				return n, err
			}
			if len(jobs) == 0 {
				break
			}
			// Every send of the claim runs to its end and is recorded, even
			// when another's record fails: a send cut short would go out
			// again.
			var g errgroup.Group
			g.SetLimit(w.cfg.Senders)
			for _, j := range jobs {
				g.Go(func() error {
					s := w.attempt(ctx, j)
					w.outcomes.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcomeLabel(s))))
					return w.store.SettleEmail(ctx, tenant, s)
				})
			}
			if err := g.Wait(); err != nil {
				return n, err
			}
			n += len(jobs)
		}
	}
	return n, nil
}

// maxClaims bounds the claims of one tenant in one round.
const maxClaims = 20

func outcomeLabel(s Settlement) string {
	switch s.State {
	case Sent:
		return "sent"
	case Failed:
		return "failed"
	case SuppressedNoConsent:
		return "suppressed"
	}
	return "retry"
}

// attempt resolves the recipient, checks consent for marketing, renders
// and sends one message.
func (w *Worker) attempt(ctx context.Context, j Job) Settlement {
	m := j.Message
	s := Settlement{MessageID: m.ID, Attempt: m.Attempts, Recipient: m.Recipient}
	if j.Template == nil {
		s.State, s.Reply = Failed, "the template was deleted"
		return s
	}
	v := Values{Event: m.Event}
	if m.CustomerID != uuid.Nil {
		r, err := w.customers.Recipient(ctx, j.TenantID, m.CustomerID)
		switch {
		case errors.Is(err, ErrCustomerNotFound):
			s.State, s.Reply = Failed, "the customer does not exist"
			return s
		case err != nil:
			return w.retry(s, "customer look-up failed")
		case r.Address == "":
			s.State, s.Reply = Failed, ErrNoAddress.Error()
			return s
		}
		s.Recipient, v.CustomerName, v.Recipient, v.Locale = r.Address, r.Name, r.Name, r.Language
		if zone, err := time.LoadLocation(r.TimeZone); err == nil && r.TimeZone != "" {
			v.TimeZone = zone
		}
	}
	if j.Template.Purpose == Marketing {
		ok := false
		if m.CustomerID != uuid.Nil {
			var err error
			if ok, err = w.customers.MarketingConsent(ctx, j.TenantID, m.CustomerID); err != nil {
				return w.retry(s, "consent look-up failed")
			}
		}
		if !ok {
			s.State, s.Reply = SuppressedNoConsent, "no e-mail marketing consent"
			return s
		}
	}
	out := j.Template.Render(v)
	s.Locale = out.Locale
	err := w.sender.Send(ctx, Outgoing{From: w.cfg.From, To: s.Recipient, MessageID: m.MessageIDHeader(w.sender.Domain()),
		Subject: out.Subject, Text: out.Text, HTML: out.HTML, Date: time.Now()})
	var reply *ReplyError
	switch {
	case err == nil:
		s.State, s.Reply = Sent, "250 accepted"
	case errors.As(err, &reply) && reply.Code >= 500:
		s.State, s.Reply = Failed, reply.Error()
	case errors.As(err, &reply):
		return w.retry(s, reply.Error())
	default:
		return w.retry(s, "relay unreachable or connection lost")
	}
	return s
}

// retry schedules the next attempt with exponential backoff, or fails the
// message once its attempts are spent.
func (w *Worker) retry(s Settlement, reply string) Settlement {
	s.Reply = reply
	if s.Attempt >= w.cfg.Attempts {
		s.State = Failed
		return s
	}
	s.State, s.RetryIn = Pending, Backoff(s.Attempt, w.cfg.MinBackoff, w.cfg.MaxBackoff)
	return s
}

// Backoff is the wait after the n-th attempt: min doubled n-1 times, at most max.
func Backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}
