// Package delivery makes webhook deliveries: workers claim due deliveries
// from the store, send each signed request through an HTTP client that
// refuses forbidden addresses at connect time, and record the outcome.
package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/rapportcrm/rapport/services/integration/internal/webhook"
)

// Event is one event taken in from a source stream.
type Event struct {
	ID          uuid.UUID
	TenantID    uuid.UUID
	Source      string
	Cursor      string
	Type        string
	Resource    string
	PrincipalID string
	Time        time.Time
	// Body is the CloudEvents JSON every delivery of the event sends.
	Body string
	// TraceParent is the W3C traceparent of the change that emitted the
	// event, or "": its deliveries join that trace.
	TraceParent string
	// CausationID is the causation id of that change's request, or "".
	CausationID string
}

// Job is one claimed attempt of a delivery.
type Job struct {
	TenantID     uuid.UUID
	DeliveryID   uuid.UUID
	WebhookID    uuid.UUID
	EventID      uuid.UUID
	EventType    string
	Resource     string
	PrincipalID  string
	Attempt      int // this attempt's number over the delivery's life
	Used         int // attempts of the current budget, this one included
	Endpoint     string
	TargetURL    string
	Secret       string
	Body         string
	AllowPrivate bool
	// Probe: the one delivery a half-open breaker lets through.
	Probe bool
	// TraceParent is the event's (see Event).
	TraceParent string
}

// Result is what an attempt got.
type Result struct {
	RequestTime        time.Time
	SignatureTimestamp int64
	ResponseCode       int
	Latency            time.Duration
	Error              string
}

// Store is what the workers need of storage.
type Store interface {
	DueTenants(ctx context.Context, limit int) ([]uuid.UUID, error)
	Claim(ctx context.Context, tenant uuid.UUID, limit int, lease time.Duration) ([]Job, error)
	Finish(ctx context.Context, j Job, r Result, o webhook.Outcome, retryIn time.Duration, bp webhook.BreakerPolicy) error
	Backlog(ctx context.Context) (int64, error)
}

// Config tunes the workers.
type Config struct {
	// Workers is how many requests may be in flight at once.
	Workers int
	// Poll is how often the store is asked for due deliveries when the
	// last look found none.
	Poll time.Duration
	// Timeout bounds one request; Lease (longer) is how long a claimed
	// delivery stays with its worker before another may take it.
	Timeout, Lease time.Duration
	Retry          webhook.RetryPolicy
	Breaker        webhook.BreakerPolicy
}

// Deliverer runs the delivery workers.
type Deliverer struct {
	store  Store
	cfg    Config
	log    *slog.Logger
	tracer trace.Tracer
	// strict refuses private addresses at connect time; open is for
	// tenants the operator allowed them.
	strict, open *http.Client

	attempts metric.Int64Counter
	latency  metric.Float64Histogram
	backlog  metric.Int64ObservableGauge
	meter    metric.Meter
}

// New returns a Deliverer.
func New(store Store, cfg Config, log *slog.Logger, meter metric.Meter, tracer trace.Tracer) (*Deliverer, error) {
	attempts, err := meter.Int64Counter("rapport.webhook.attempts",
		metric.WithDescription("Webhook delivery attempts by outcome (delivered, retry, dead_letter, gone)."))
	if err != nil {
		return nil, fmt.Errorf("attempts counter: %w", err)
	}
	latency, err := meter.Float64Histogram("rapport.webhook.latency", metric.WithUnit("s"),
		metric.WithDescription("Time from a webhook request to its response headers."))
	if err != nil {
		return nil, fmt.Errorf("latency histogram: %w", err)
	}
	backlog, err := meter.Int64ObservableGauge("rapport.webhook.backlog",
		metric.WithDescription("Pending webhook deliveries of every tenant."))
	if err != nil {
		return nil, fmt.Errorf("backlog gauge: %w", err)
	}
	return &Deliverer{store: store, cfg: cfg, log: log, tracer: tracer,
		strict: Client(cfg.Timeout, false), open: Client(cfg.Timeout, true),
		attempts: attempts, latency: latency, backlog: backlog, meter: meter}, nil
}

// ErrForbiddenAddress means a target resolved to an address its tenant may
// not reach.
var ErrForbiddenAddress = errors.New("target address is private, loopback or link-local")

// Client returns the HTTP client deliveries go through. Unless
// allowPrivate, its dialer checks every address it connects to, after DNS
// resolution, so a name that resolves to a private address (or is rebound
// to one) is refused. Redirects are not followed: a receiver answers for
// itself.
func Client(timeout time.Duration, allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: timeout}
	if !allowPrivate {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || webhook.Blocked(ap.Addr()) {
				return ErrForbiddenAddress
			}
			return nil
		}
	}
	tr := &http.Transport{
		DialContext: d.DialContext, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 8,
		IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: timeout, ResponseHeaderTimeout: timeout,
		// No proxy from the environment: the dialer must see the receiver's
		// own address to check it.
		Proxy: nil,
	}
	return &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Run delivers until ctx ends: it claims due deliveries tenant by tenant
// and sends them on up to Workers goroutines. A slow or dead endpoint
// holds only the workers its requests occupy, for at most Timeout each,
// and its breaker soon stops it being claimed at all.
func (d *Deliverer) Run(ctx context.Context) error {
	reg, err := d.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		n, err := d.store.Backlog(ctx)
		if err == nil {
			o.ObserveInt64(d.backlog, n)
		}
		return err
	}, d.backlog)
	if err != nil {
		return fmt.Errorf("backlog gauge: %w", err)
	}
	defer func() { _ = reg.Unregister() }()
	slots := make(chan struct{}, d.cfg.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		claimed := d.round(ctx, slots, &wg)
		if claimed > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d.cfg.Poll):
		}
	}
}

// round claims what the free workers can take from each tenant with due
// deliveries and starts them; it returns how many it claimed.
func (d *Deliverer) round(ctx context.Context, slots chan struct{}, wg *sync.WaitGroup) int {
	tenants, err := d.store.DueTenants(ctx, 100)
	if err != nil {
		if ctx.Err() == nil {
			d.log.WarnContext(ctx, "due deliveries unavailable", "error", err.Error())
		}
		return 0
	}
	claimed := 0
	for _, tenant := range tenants {
		// Wait for a free worker before claiming, so a claim never waits
		// out its lease in a queue.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return claimed
		}
		free := 1 + d.cfg.Workers - len(slots)
		jobs, err := d.store.Claim(ctx, tenant, free, d.cfg.Lease)
		if err != nil || len(jobs) == 0 {
			<-slots
			if err != nil && ctx.Err() == nil {
				d.log.WarnContext(ctx, "claim failed", "tenant_id", tenant.String(), "error", err.Error())
			}
			continue
		}
		claimed += len(jobs)
		for i, j := range jobs {
			if i > 0 {
				slots <- struct{}{}
			}
			wg.Go(func() {
				defer func() { <-slots }()
				d.deliver(context.WithoutCancel(ctx), j)
			})
		}
	}
	return claimed
}

// deliver makes one attempt and records it. It runs on a context that
// outlives shutdown, bounded by the request timeout, so an attempt under
// way is recorded rather than repeated.
func (d *Deliverer) deliver(ctx context.Context, j Job) {
	// The attempt is a span of the trace of the change that emitted the
	// event, so a dashboard follows a change to each delivery of it.
	ctx = propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": j.TraceParent})
	ctx, span := d.tracer.Start(ctx, "webhook.deliver", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("rapport.tenant_id", j.TenantID.String()), attribute.String("rapport.webhook_id", j.WebhookID.String()),
		attribute.String("rapport.delivery_id", j.DeliveryID.String()), attribute.String("rapport.event_id", j.EventID.String()),
		attribute.String("rapport.event_type", j.EventType), attribute.Int("rapport.attempt", j.Attempt)))
	defer span.End()
	r := d.send(ctx, j)
	o := d.cfg.Retry.Decide(r.ResponseCode, j.Used)
	retryIn := time.Duration(0)
	if o == webhook.Retry {
		retryIn = d.cfg.Retry.Backoff(j.Used)
	}
	outcome := map[webhook.Outcome]string{webhook.Delivered: "delivered", webhook.Retry: "retry", webhook.DeadLetter: "dead_letter", webhook.Gone: "gone"}[o]
	d.attempts.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
	d.latency.Record(ctx, r.Latency.Seconds(), metric.WithAttributes(attribute.String("outcome", outcome)))
	span.SetAttributes(attribute.Int("http.response.status_code", r.ResponseCode), attribute.String("rapport.outcome", outcome))
	if o != webhook.Delivered {
		span.SetStatus(codes.Error, outcome)
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.store.Finish(fctx, j, r, o, retryIn, d.cfg.Breaker); err != nil {
		// The lease runs out and the delivery is attempted again: at least once.
		d.log.ErrorContext(ctx, "delivery outcome not recorded", "delivery_id", j.DeliveryID.String(), "error", err.Error())
	}
}

// send makes the HTTP request of j.
func (d *Deliverer) send(ctx context.Context, j Job) Result {
	now := time.Now()
	r := Result{RequestTime: now, SignatureTimestamp: now.Unix()}
	body := []byte(j.Body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.TargetURL, bytes.NewReader(body))
	if err != nil {
		r.Error = "bad target URL"
		return r
	}
	id := j.DeliveryID.String()
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set("User-Agent", "Rapport-Webhooks/1")
	req.Header.Set(webhook.HeaderID, id)
	req.Header.Set(webhook.HeaderTimestamp, fmt.Sprint(r.SignatureTimestamp))
	req.Header.Set(webhook.HeaderSignature, webhook.Sign(j.Secret, id, r.SignatureTimestamp, body))
	client := d.strict
	if j.AllowPrivate {
		client = d.open
	}
	resp, err := client.Do(req)
	r.Latency = time.Since(now)
	if err != nil {
		r.Error = describe(err)
		return r
	}
	// Drain a little so the connection can be reused; receivers' bodies are not kept.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	r.ResponseCode = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		r.Error = "receiver answered " + resp.Status
	}
	return r
}

// describe says why a request failed without echoing the URL, whose query
// may carry a receiver's token.
func describe(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, ErrForbiddenAddress):
		return ErrForbiddenAddress.Error()
	case errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return "connection failed: " + oe.Op
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return "name not resolved"
	}
	return "request failed"
}
