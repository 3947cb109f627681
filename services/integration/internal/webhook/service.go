package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Who may do what. Subscriptions send every field of every resource out of
// the suite, so only admins manage them; analysts may read the log.
var (
	readers = []auth.Role{auth.RoleAdmin, auth.RoleAnalyst}
	writers = []auth.Role{auth.RoleAdmin}
)

// updatable are the fields UpdateWebhook may change.
var updatable = []string{"display_name", "target_url", "event_types", "filter", "state"}

// Store is what the use cases need of storage.
type Store interface {
	// Create stores w with its secret; a repeated requestID returns the
	// first webhook and created false.
	Create(ctx context.Context, caller auth.Caller, w Webhook, endpoint, secret, requestID string) (saved Webhook, created bool, err error)
	Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Webhook, error)
	List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error)
	// Update locks the webhook, lets change edit it (it returns the new
	// endpoint, or an error that aborts), and stores the result.
	Update(ctx context.Context, caller auth.Caller, id uuid.UUID, change func(*Webhook) (string, error)) (Webhook, error)
	Delete(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) error
	Delivery(ctx context.Context, caller auth.Caller, webhookID, deliveryID uuid.UUID) (Delivery, error)
	Deliveries(ctx context.Context, caller auth.Caller, webhookID uuid.UUID, q ListQuery) (DeliveryPage, error)
	Redeliver(ctx context.Context, caller auth.Caller, webhookID, deliveryID uuid.UUID) (Delivery, error)
	RedeliverRange(ctx context.Context, caller auth.Caller, webhookID uuid.UUID, start, end time.Time) (int, error)
	Policy(ctx context.Context, tenant uuid.UUID) (Policy, error)
	SetPolicy(ctx context.Context, caller auth.Caller, p Policy) (Policy, error)
}

// Config holds the operator's rules for subscriptions.
type Config struct {
	// RequireHTTPS refuses http target URLs: production mode.
	RequireHTTPS bool
}

// Service holds the webhook use cases.
type Service struct {
	store Store
	cfg   Config
}

// New returns a Service over store.
func New(store Store, cfg Config) *Service { return &Service{store: store, cfg: cfg} }

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

// Create validates and stores a new subscription and returns it with its
// secret; a repeated requestID returns the first subscription without one.
func (s *Service) Create(ctx context.Context, caller auth.Caller, w Webhook, requestID string) (Webhook, string, error) {
	if err := allow(caller, writers); err != nil {
		return Webhook{}, "", err
	}
	if w.State == 0 {
		w.State = StateActive
	}
	tenant, err := uuid.Parse(caller.TenantID)
	if err != nil {
		return Webhook{}, "", fmt.Errorf("caller tenant: %w", err)
	}
	policy, err := s.store.Policy(ctx, tenant)
	if err != nil {
		return Webhook{}, "", err
	}
	v := &validation.Error{}
	endpoint := s.validate(&w, "webhook.", policy, v)
	if w.State == StateDisabled {
		v.Add("webhook.state", "only the service disables a webhook")
	}
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Webhook{}, "", err
	}
	w.ID = uuid.Must(uuid.NewV7())
	secret := NewSecret()
	saved, created, err := s.store.Create(ctx, caller, w, endpoint, secret, requestID)
	if err != nil {
		return Webhook{}, "", err
	}
	if !created {
		secret = ""
	}
	return saved, secret, nil
}

// validate normalises w and records its problems under prefix; it returns
// the target's endpoint.
func (s *Service) validate(w *Webhook, prefix string, policy Policy, v *validation.Error) string {
	w.DisplayName = strings.TrimSpace(w.DisplayName)
	switch n := utf8.RuneCountInString(w.DisplayName); {
	case n == 0:
		v.Add(prefix+"display_name", "is required")
	case n > maxDisplayName:
		v.Add(prefix+"display_name", "must be at most %d characters", maxDisplayName)
	}
	endpoint := ""
	u, err := checkTarget(strings.TrimSpace(w.TargetURL), s.cfg.RequireHTTPS, policy.AllowPrivateTargets)
	if err != nil {
		v.Add(prefix+"target_url", "%s", err.Error())
	} else {
		w.TargetURL = u.String()
		endpoint = Endpoint(u)
	}
	w.EventTypes = NormaliseTypes(w.EventTypes)
	switch {
	case len(w.EventTypes) == 0:
		v.Add(prefix+"event_types", "is required: name event types, prefixes such as \"customer.*\", or \"*\"")
	case len(w.EventTypes) > maxEventTypes:
		v.Add(prefix+"event_types", "must list at most %d entries", maxEventTypes)
	}
	for _, t := range w.EventTypes {
		if !ValidType(t) {
			v.Add(prefix+"event_types", "%q is not an event type, a prefix ending in \".*\" or \"*\"", t)
		}
	}
	w.Filter = strings.TrimSpace(w.Filter)
	if _, err := sqlfilter.Translate(w.Filter, EventFields, 0); err != nil {
		var fe *sqlfilter.Error
		if errors.As(err, &fe) {
			v.Add(prefix+"filter", "%s", fe.Reason)
		} else {
			v.Add(prefix+"filter", "cannot be used")
		}
	}
	if w.State < StateActive || w.State > StateDisabled {
		v.Add(prefix+"state", "is not a webhook state")
	}
	return endpoint
}

// NormaliseTypes trims event types and drops empty and repeated ones.
func NormaliseTypes(in []string) []string {
	out := make([]string, 0, len(in))
	for _, t := range in {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// ValidType accepts "*", "a.b" and "a.*": lower-case dotted words.
func ValidType(t string) bool {
	if t == "*" {
		return true
	}
	if len(t) > maxEventTypeLength {
		return false
	}
	parts := strings.Split(t, ".")
	for i, p := range parts {
		if p == "*" && i == len(parts)-1 && i > 0 {
			continue
		}
		if p == "" {
			return false
		}
		for _, r := range p {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
				return false
			}
		}
	}
	return true
}

// Matches reports whether an event of type t is one of types.
func Matches(types []string, t string) bool {
	for _, want := range types {
		switch {
		case want == "*", want == t:
			return true
		case strings.HasSuffix(want, ".*") && strings.HasPrefix(t, want[:len(want)-1]):
			return true
		}
	}
	return false
}

// Get returns one subscription.
func (s *Service) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Webhook, error) {
	if err := allow(caller, readers); err != nil {
		return Webhook{}, err
	}
	return s.store.Get(ctx, caller, id)
}

func pageSize(n int, v *validation.Error) int {
	switch {
	case n < 0:
		v.Add("page_size", "must not be negative")
	case n == 0:
		return defaultPageSize
	}
	return min(n, maxPageSize)
}

// List returns a page of subscriptions, newest first.
func (s *Service) List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error) {
	if err := allow(caller, readers); err != nil {
		return Page{}, err
	}
	v := &validation.Error{}
	q.PageSize = pageSize(q.PageSize, v)
	if err := v.Err(); err != nil {
		return Page{}, err
	}
	return s.store.List(ctx, caller, q)
}

// Update changes the fields in mask to in's values; etag, when not empty,
// must be the current one. A caller may pause or resume a subscription but
// not disable it: that is the service's answer to a 410.
func (s *Service) Update(ctx context.Context, caller auth.Caller, in Webhook, mask []string, etag string) (Webhook, error) {
	if err := allow(caller, writers); err != nil {
		return Webhook{}, err
	}
	v := &validation.Error{}
	if len(mask) == 0 {
		v.Add("update_mask", "names no field")
	}
	for _, f := range mask {
		if !slices.Contains(updatable, f) {
			v.Add("update_mask", "%q cannot be changed; updatable: %s", f, strings.Join(updatable, ", "))
		}
	}
	if slices.Contains(mask, "state") && in.State != StateActive && in.State != StatePaused {
		v.Add("webhook.state", "must be WEBHOOK_STATE_ACTIVE or WEBHOOK_STATE_PAUSED")
	}
	if err := v.Err(); err != nil {
		return Webhook{}, err
	}
	tenant, err := uuid.Parse(caller.TenantID)
	if err != nil {
		return Webhook{}, fmt.Errorf("caller tenant: %w", err)
	}
	policy, err := s.store.Policy(ctx, tenant)
	if err != nil {
		return Webhook{}, err
	}
	return s.store.Update(ctx, caller, in.ID, func(w *Webhook) (string, error) {
		if etag != "" && etag != w.Etag() {
			return "", ErrEtagMismatch
		}
		for _, f := range mask {
			switch f {
			case "display_name":
				w.DisplayName = in.DisplayName
			case "target_url":
				w.TargetURL = in.TargetURL
			case "event_types":
				w.EventTypes = in.EventTypes
			case "filter":
				w.Filter = in.Filter
			case "state":
				if w.State != in.State {
					w.StateReason = ""
				}
				w.State = in.State
			}
		}
		v := &validation.Error{}
		endpoint := s.validate(w, "webhook.", policy, v)
		return endpoint, v.Err()
	})
}

// Delete removes a subscription and its delivery log.
func (s *Service) Delete(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) error {
	if err := allow(caller, writers); err != nil {
		return err
	}
	return s.store.Delete(ctx, caller, id, etag)
}

// Delivery returns one delivery with its attempts and body.
func (s *Service) Delivery(ctx context.Context, caller auth.Caller, webhookID, deliveryID uuid.UUID) (Delivery, error) {
	if err := allow(caller, readers); err != nil {
		return Delivery{}, err
	}
	return s.store.Delivery(ctx, caller, webhookID, deliveryID)
}

// Deliveries returns a page of a subscription's delivery log, newest first.
func (s *Service) Deliveries(ctx context.Context, caller auth.Caller, webhookID uuid.UUID, q ListQuery) (DeliveryPage, error) {
	if err := allow(caller, readers); err != nil {
		return DeliveryPage{}, err
	}
	v := &validation.Error{}
	q.PageSize = pageSize(q.PageSize, v)
	if err := v.Err(); err != nil {
		return DeliveryPage{}, err
	}
	if _, err := s.store.Get(ctx, caller, webhookID); err != nil {
		return DeliveryPage{}, err
	}
	return s.store.Deliveries(ctx, caller, webhookID, q)
}

// Redeliver queues a finished delivery again with a fresh budget.
func (s *Service) Redeliver(ctx context.Context, caller auth.Caller, webhookID, deliveryID uuid.UUID) (Delivery, error) {
	if err := allow(caller, writers); err != nil {
		return Delivery{}, err
	}
	return s.store.Redeliver(ctx, caller, webhookID, deliveryID)
}

// RedeliverRange queues again every finished delivery of a subscription
// created in [start, end).
func (s *Service) RedeliverRange(ctx context.Context, caller auth.Caller, webhookID uuid.UUID, start, end time.Time) (int, error) {
	if err := allow(caller, writers); err != nil {
		return 0, err
	}
	v := &validation.Error{}
	if start.IsZero() {
		v.Add("start_time", "is required")
	}
	if end.IsZero() {
		v.Add("end_time", "is required")
	}
	if !start.IsZero() && !end.IsZero() {
		switch {
		case !end.After(start):
			v.Add("end_time", "must be after start_time")
		case end.Sub(start) > maxRedeliveryWindow:
			v.Add("end_time", "must be at most %s after start_time", maxRedeliveryWindow)
		}
	}
	if err := v.Err(); err != nil {
		return 0, err
	}
	return s.store.RedeliverRange(ctx, caller, webhookID, start, end)
}

// Policy returns a tenant's policy: operator admins see any tenant's,
// a tenant's admins their own.
func (s *Service) Policy(ctx context.Context, caller auth.Caller, tenant uuid.UUID) (Policy, error) {
	if err := allow(caller, writers); err != nil {
		return Policy{}, err
	}
	if !caller.Operator && caller.TenantID != tenant.String() {
		return Policy{}, auth.ErrForbidden
	}
	return s.store.Policy(ctx, tenant)
}

// SetPolicy changes a tenant's policy; only an operator's admins may, as
// the allowance lets the tenant's webhooks reach the operator's network.
func (s *Service) SetPolicy(ctx context.Context, caller auth.Caller, p Policy) (Policy, error) {
	if err := allow(caller, writers); err != nil {
		return Policy{}, err
	}
	if !caller.Operator {
		return Policy{}, auth.ErrForbidden
	}
	return s.store.SetPolicy(ctx, caller, p)
}
