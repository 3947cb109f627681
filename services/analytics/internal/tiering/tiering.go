// Package tiering suggests a value tier per customer back to the customer
// service: model runs score customers (insight's RFM figures) and queue the
// suggestions that changed; a worker delivers the queue at least once. The
// tenant controls it through its Settings (see tier_suggestion.proto).
package tiering

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/analytics/internal/insight"
)

// Errors the use cases return.
var (
	// ErrEtagMismatch refuses a change based on stale settings.
	ErrEtagMismatch = errors.New("the settings changed since they were read (etag mismatch)")
	// ErrManualTierKept is the customer service keeping a tier set by hand.
	ErrManualTierKept = errors.New("the customer's tier was set by hand")
	// ErrCustomerGone is the customer service no longer having the customer.
	ErrCustomerGone = errors.New("the customer service no longer has the customer")
	// ErrDeliveryFailed is any other failure to deliver: retried later.
	ErrDeliveryFailed = errors.New("the customer service did not take the suggestion")
)

var (
	readers  = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleAnalyst}
	runners  = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
	settlers = []auth.Role{auth.RoleAdmin}
)

// Window is how far back a run looks for purchases.
const Window = 365 * 24 * time.Hour

// Retry bounds: a failed delivery waits MinRetry, doubling up to MaxRetry.
const (
	MinRetry = 30 * time.Second
	MaxRetry = time.Hour
)

// State is where a suggestion's delivery stands; the values match the API's enum.
type State int32

// States.
const (
	StateUnspecified State = iota
	StatePending
	StateDelivered
	StateKeptManual
	StateCustomerGone
)

// Thresholds are the minimum sums of the RFM scores (3–15) of the tiers.
type Thresholds struct {
	VIP, A, B int32
}

// DefaultThresholds are insight.SuggestTier's.
var DefaultThresholds = Thresholds{VIP: 15, A: 12, B: 8}

// Tier maps scores to a tier; unscored customers (r == 0) get none.
func (t Thresholds) Tier(r, f, m int32) string {
	switch sum := r + f + m; {
	case r == 0:
		return ""
	case sum >= t.VIP:
		return "VIP"
	case sum >= t.A:
		return "A"
	case sum >= t.B:
		return "B"
	}
	return "C"
}

func (t Thresholds) validate(v *validation.Error) {
	if t.B < 3 || t.B >= t.A || t.A > t.VIP || t.VIP > 15 {
		v.Add("settings.b_min_score", "must satisfy 3 ≤ b_min_score < a_min_score ≤ vip_min_score ≤ 15 (got %d, %d, %d)", t.B, t.A, t.VIP)
	}
}

// Settings are a tenant's control over suggestions.
type Settings struct {
	Enabled        bool
	OverrideManual bool
	Thresholds     Thresholds
	UpdateTime     time.Time
	// Revision is 0 for the defaults of a tenant that never changed them.
	Revision int64
}

// DefaultSettings are a tenant's until it changes them.
func DefaultSettings() Settings {
	return Settings{Enabled: true, Thresholds: DefaultThresholds}
}

// Etag is the settings' concurrency token.
func (s Settings) Etag() string { return strconv.FormatInt(s.Revision, 10) }

// SettingsFields are the fields UpdateSettings may change.
var SettingsFields = []string{"enabled", "override_manual", "vip_min_score", "a_min_score", "b_min_score"}

// Suggestion is the latest suggested tier of a customer.
type Suggestion struct {
	CustomerID      uuid.UUID
	Tier            string
	Reason          string
	RunID           uuid.UUID
	State           State
	Attempts        int32
	LastError       string
	NextAttemptTime time.Time
	UpdateTime      time.Time
}

// RequestID is what the customer service deduplicates a delivery on: the
// customer and the run, 43 characters.
func (s Suggestion) RequestID() string {
	return base64.RawURLEncoding.EncodeToString(append(s.CustomerID[:], s.RunID[:]...))
}

// Run is a model run's result.
type Run struct {
	ID           uuid.UUID
	CurrencyCode string
	Scored       int
	Queued       int
}

// Page is a page of suggestions.
type Page struct {
	Suggestions   []Suggestion
	NextPageToken string
}

// Store is what tiering needs of the read model; every method is scoped to one tenant.
type Store interface {
	MainCurrency(ctx context.Context, tenant uuid.UUID) (string, error)
	PurchaseStats(ctx context.Context, tenant uuid.UUID, currency string, w insight.Window) ([]insight.PurchaseStats, error)
	// TierSettings returns the tenant's settings, DefaultSettings() if never changed.
	TierSettings(ctx context.Context, tenant uuid.UUID) (Settings, error)
	// SaveTierSettings stores s if the stored revision is still s.Revision
	// (else ErrEtagMismatch), with its event and audit row; turning
	// OverrideManual on makes kept suggestions pending again, due at now.
	SaveTierSettings(ctx context.Context, tenant uuid.UUID, principal string, s Settings, now time.Time) (Settings, error)
	// QueueSuggestions stores those of suggs whose tier differs from the
	// customer's previous suggestion as pending, due at now, with one event
	// for the run; it returns how many it queued.
	QueueSuggestions(ctx context.Context, tenant uuid.UUID, principal string, run Run, suggs []Suggestion, now time.Time) (int, error)
	// DueSuggestions returns up to limit pending suggestions due at now.
	DueSuggestions(ctx context.Context, tenant uuid.UUID, now time.Time, limit int) ([]Suggestion, error)
	// SettleSuggestion records a delivery's outcome (state, attempts,
	// next attempt, error) unless a newer run replaced the suggestion.
	SettleSuggestion(ctx context.Context, tenant uuid.UUID, s Suggestion) error
	// Suggestions lists suggestions by customer id, optionally of one state.
	Suggestions(ctx context.Context, tenant uuid.UUID, state State, pageToken string, pageSize int) ([]Suggestion, string, error)
}

// Sink delivers a suggestion to the customer service in tenant; it returns
// ErrManualTierKept or ErrCustomerGone for those outcomes, any other error
// for a failure worth retrying.
type Sink interface {
	SuggestTier(ctx context.Context, tenant uuid.UUID, s Suggestion, overrideManual bool) error
}

// Service holds the tier suggestion use cases.
type Service struct {
	store Store
	sink  Sink
	now   func() time.Time
}

// New returns a Service over store delivering to sink.
func New(store Store, sink Sink, now func() time.Time) *Service {
	return &Service{store: store, sink: sink, now: now}
}

func tenantOf(c auth.Caller, roles []auth.Role) (uuid.UUID, error) {
	if !c.HasAny(roles...) {
		return uuid.Nil, auth.ErrForbidden
	}
	tenant, err := uuid.Parse(c.TenantID)
	if err != nil {
		return uuid.Nil, auth.ErrUnauthenticated
	}
	return tenant, nil
}

// Settings returns the caller's tenant's settings.
func (s *Service) Settings(ctx context.Context, caller auth.Caller) (Settings, error) {
	tenant, err := tenantOf(caller, readers)
	if err != nil {
		return Settings{}, err
	}
	return s.store.TierSettings(ctx, tenant)
}

// UpdateSettings changes the fields of in named by mask; a non-empty etag
// must be the current one.
func (s *Service) UpdateSettings(ctx context.Context, caller auth.Caller, in Settings, mask []string, etag string) (Settings, error) {
	tenant, err := tenantOf(caller, settlers)
	if err != nil {
		return Settings{}, err
	}
	v := &validation.Error{}
	if len(mask) == 0 {
		v.Add("update_mask", "must name at least one of %v", SettingsFields)
	}
	for _, f := range mask {
		if !slices.Contains(SettingsFields, f) {
			v.Add("update_mask", "%q is not one of %v", f, SettingsFields)
		}
	}
	if err := v.Err(); err != nil {
		return Settings{}, err
	}
	cur, err := s.store.TierSettings(ctx, tenant)
	if err != nil {
		return Settings{}, err
	}
	if etag != "" && etag != cur.Etag() {
		return Settings{}, ErrEtagMismatch
	}
	next := cur
	for _, f := range mask {
		switch f {
		case "enabled":
			next.Enabled = in.Enabled
		case "override_manual":
			next.OverrideManual = in.OverrideManual
		case "vip_min_score":
			next.Thresholds.VIP = in.Thresholds.VIP
		case "a_min_score":
			next.Thresholds.A = in.Thresholds.A
		case "b_min_score":
			next.Thresholds.B = in.Thresholds.B
		}
	}
	next.Thresholds.validate(v)
	if err := v.Err(); err != nil {
		return Settings{}, err
	}
	return s.store.SaveTierSettings(ctx, tenant, caller.PrincipalID, next, s.now())
}

// MaxPageSize caps a list; DefaultPageSize is used when none is asked.
const (
	MaxPageSize     = 1000
	DefaultPageSize = 100
)

// List lists the caller's tenant's suggestions by customer id.
func (s *Service) List(ctx context.Context, caller auth.Caller, state State, pageToken string, pageSize int32) (Page, error) {
	tenant, err := tenantOf(caller, readers)
	if err != nil {
		return Page{}, err
	}
	v := &validation.Error{}
	if pageSize < 0 {
		v.Add("page_size", "must not be negative")
	}
	if state < StateUnspecified || state > StateCustomerGone {
		v.Add("state", "is not a known state")
	}
	if err := v.Err(); err != nil {
		return Page{}, err
	}
	n := DefaultPageSize
	if pageSize > 0 {
		n = min(int(pageSize), MaxPageSize)
	}
	items, next, err := s.store.Suggestions(ctx, tenant, state, pageToken, n)
	return Page{Suggestions: items, NextPageToken: next}, err
}

// RunNow runs the model for the caller's tenant.
func (s *Service) RunNow(ctx context.Context, caller auth.Caller) (Run, error) {
	tenant, err := tenantOf(caller, runners)
	if err != nil {
		return Run{}, err
	}
	return s.run(ctx, tenant, caller.PrincipalID)
}

// RunModel runs the model for tenant as the system (the worker's schedule).
func (s *Service) RunModel(ctx context.Context, tenant uuid.UUID) (Run, error) {
	return s.run(ctx, tenant, "")
}

// run scores the tenant's customers and queues the changed suggestions; a
// tenant that turned suggestions off, or has no orders, gets an empty run.
func (s *Service) run(ctx context.Context, tenant uuid.UUID, principal string) (Run, error) {
	settings, err := s.store.TierSettings(ctx, tenant)
	if err != nil {
		return Run{}, err
	}
	run := Run{ID: uuid.Must(uuid.NewV7())}
	if !settings.Enabled {
		return run, nil
	}
	if run.CurrencyCode, err = s.store.MainCurrency(ctx, tenant); err != nil || run.CurrencyCode == "" {
		return run, err
	}
	end := s.now().UTC().Truncate(time.Minute)
	w := insight.Window{Start: end.Add(-Window), End: end}
	stats, err := s.store.PurchaseStats(ctx, tenant, run.CurrencyCode, w)
	if err != nil {
		return Run{}, err
	}
	var suggs []Suggestion
	for _, v := range insight.Compute(stats, run.CurrencyCode, w) {
		tier := settings.Thresholds.Tier(v.RecencyScore, v.FrequencyScore, v.MonetaryScore)
		if tier == "" {
			continue
		}
		t := settings.Thresholds
		suggs = append(suggs, Suggestion{CustomerID: v.CustomerID, Tier: tier, RunID: run.ID,
			Reason: fmt.Sprintf("analytics: RFM %d-%d-%d (sum %d) in %s over %s to %s; tiers VIP ≥ %d, A ≥ %d, B ≥ %d, else C",
				v.RecencyScore, v.FrequencyScore, v.MonetaryScore, v.RecencyScore+v.FrequencyScore+v.MonetaryScore,
				run.CurrencyCode, w.Start.Format(time.DateOnly), w.End.Format(time.DateOnly), t.VIP, t.A, t.B)})
	}
	run.Scored = len(suggs)
	if run.Queued, err = s.store.QueueSuggestions(ctx, tenant, principal, run, suggs, s.now()); err != nil {
		return Run{}, err
	}
	return run, nil
}

// Deliver sends up to limit due suggestions of tenant and records each
// outcome; it returns how many it settled for good (delivered, kept or
// gone). Errors of single deliveries are recorded for retry, not returned.
func (s *Service) Deliver(ctx context.Context, tenant uuid.UUID, limit int) (int, error) {
	settings, err := s.store.TierSettings(ctx, tenant)
	if err != nil {
		return 0, err
	}
	due, err := s.store.DueSuggestions(ctx, tenant, s.now(), limit)
	if err != nil {
		return 0, err
	}
	done := 0
	for _, sg := range due {
		err := s.sink.SuggestTier(ctx, tenant, sg, settings.OverrideManual)
		if ctx.Err() != nil {
			return done, ctx.Err()
		}
		sg.LastError = ""
		switch {
		case err == nil:
			sg.State = StateDelivered
		case errors.Is(err, ErrManualTierKept):
			sg.State = StateKeptManual
		case errors.Is(err, ErrCustomerGone):
			sg.State = StateCustomerGone
		default:
			sg.Attempts++
			sg.LastError = err.Error()
			sg.NextAttemptTime = s.now().Add(backoff(sg.Attempts))
		}
		if err := s.store.SettleSuggestion(ctx, tenant, sg); err != nil {
			return done, err
		}
		if sg.State != StatePending {
			done++
		}
	}
	return done, nil
}

// backoff is the wait after the attempts-th failure in a row.
func backoff(attempts int32) time.Duration {
	d := MinRetry
	for range attempts - 1 {
		if d *= 2; d >= MaxRetry {
			return MaxRetry
		}
	}
	return d
}
