package classify

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
)

// Who may do what: everyone who reads customers reads their classification;
// those who write customers move stages; tiers by hand, rules and segments
// are decisions for admins and sales managers.
var (
	readers   = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleSupportAgent, auth.RoleAnalyst}
	movers    = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleSupportAgent}
	designers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
	// suggesters may send suggested tiers: the analytics service follows a
	// tenant with an analyst's credential (a tenant token is an analyst's).
	suggesters = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleAnalyst}
)

const (
	maxReason      = 500
	maxTier        = 40
	maxName        = 200
	maxDescription = 2000
	maxRank        = 1000
	maxRequestID   = 64
)

// Service holds the classification use cases.
type Service struct{ store Store }

// New returns a Service over store.
func New(store Store) *Service { return &Service{store: store} }

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

func pageQuery(q PageQuery) PageQuery {
	switch {
	case q.PageSize <= 0:
		q.PageSize = 50
	case q.PageSize > 1000:
		q.PageSize = 1000
	}
	return q
}

// Transition moves a customer to stage to. WON_BACK is only reachable from
// CHURNED: it means a churned customer came back, and reporting on win-back
// campaigns depends on it meaning nothing else.
func (s *Service) Transition(ctx context.Context, caller auth.Caller, id uuid.UUID, to customer.Stage, reason, etag string) (customer.Customer, error) {
	if err := allow(caller, movers); err != nil {
		return customer.Customer{}, err
	}
	v := &validation.Error{}
	if to <= customer.StageUnspecified || to > customer.StageWonBack {
		v.Add("lifecycle_stage", "must be a lifecycle stage other than LIFECYCLE_STAGE_UNSPECIFIED")
	}
	reason = strings.TrimSpace(reason)
	if utf8.RuneCountInString(reason) > maxReason {
		v.Add("reason", "must be at most %d characters", maxReason)
	}
	if err := v.Err(); err != nil {
		return customer.Customer{}, err
	}
	return s.store.Transition(ctx, caller, id, func(c *customer.Customer) (string, error) {
		if etag != "" && etag != c.Etag() {
			return "", fmt.Errorf("%w: current etag is %s", customer.ErrEtagMismatch, c.Etag())
		}
		if c.DeleteTime != nil {
			return "", customer.ErrDeleted
		}
		if to == customer.StageWonBack && c.Stage != customer.StageChurned {
			return "", fmt.Errorf("%w: only a churned customer can be won back", ErrTransitionNotAllowed)
		}
		if to == c.Stage {
			return "", fmt.Errorf("%w: the customer is already at this stage", ErrTransitionNotAllowed)
		}
		c.Stage = to
		return EventStageChanged, nil
	}, reason)
}

// Transitions lists a customer's stage transitions, newest first.
func (s *Service) Transitions(ctx context.Context, caller auth.Caller, id uuid.UUID, q PageQuery) (Page[Transition], error) {
	if err := allow(caller, readers); err != nil {
		return Page[Transition]{}, err
	}
	return s.store.Transitions(ctx, caller, id, pageQuery(q))
}

// Classification returns how a customer is classified now.
func (s *Service) Classification(ctx context.Context, caller auth.Caller, id uuid.UUID) (Classification, error) {
	if err := allow(caller, readers); err != nil {
		return Classification{}, err
	}
	return s.store.Classification(ctx, caller, id)
}

// SetTier sets a manual tier, or clears it when the tier is empty; with
// source analytics the tier is a suggestion (see ErrManualTierKept).
func (s *Service) SetTier(ctx context.Context, caller auth.Caller, id uuid.UUID, r TierRequest) (Classification, error) {
	who := designers
	if r.Suggested() {
		who = suggesters
	}
	if err := allow(caller, who); err != nil {
		return Classification{}, err
	}
	r.Tier, r.Reason, r.RequestID = strings.TrimSpace(r.Tier), strings.TrimSpace(r.Reason), strings.TrimSpace(r.RequestID)
	v := &validation.Error{}
	if utf8.RuneCountInString(r.Tier) > maxTier {
		v.Add("tier", "must be at most %d characters", maxTier)
	}
	if r.Suggested() && r.Tier == "" {
		v.Add("tier", "is required for a suggestion")
	}
	if utf8.RuneCountInString(r.Reason) > maxReason {
		v.Add("reason", "must be at most %d characters", maxReason)
	}
	if r.Source == TierSourceRule || r.Source < TierSourceUnspecified || r.Source > TierSourceAnalytics {
		v.Add("source", "must be MANUAL or ANALYTICS: rules set tiers through value tier rules")
	}
	if r.OverrideManual && !r.Suggested() {
		v.Add("override_manual", "applies to suggestions (source ANALYTICS) only")
	}
	if len(r.RequestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Classification{}, err
	}
	return s.store.SetTier(ctx, caller, id, r)
}

// TierChanges lists a customer's tier changes, newest first.
func (s *Service) TierChanges(ctx context.Context, caller auth.Caller, id uuid.UUID, q PageQuery) (Page[TierChange], error) {
	if err := allow(caller, readers); err != nil {
		return Page[TierChange]{}, err
	}
	return s.store.TierChanges(ctx, caller, id, pageQuery(q))
}

func (r *Rule) normalize() {
	r.Tier = strings.TrimSpace(r.Tier)
	r.Filter = strings.TrimSpace(r.Filter)
	r.Description = strings.TrimSpace(r.Description)
}

// validate checks what the domain can; the store checks the filter, which
// only it can translate.
func (r Rule) validate(prefix string, v *validation.Error) {
	if n := utf8.RuneCountInString(r.Tier); n == 0 || n > maxTier {
		v.Add(prefix+"tier", "must be 1 to %d characters", maxTier)
	}
	if r.Rank < 0 || r.Rank > maxRank {
		v.Add(prefix+"rank", "must be between 0 and %d", maxRank)
	}
	if r.Filter == "" {
		v.Add(prefix+"filter", "is required: a rule that matched everyone would be a default tier, which is a rule with a filter such as `create_time > \"1970-01-01T00:00:00Z\"`")
	}
	if utf8.RuneCountInString(r.Description) > maxDescription {
		v.Add(prefix+"description", "must be at most %d characters", maxDescription)
	}
}

// CreateRule adds a tier rule.
func (s *Service) CreateRule(ctx context.Context, caller auth.Caller, r Rule, requestID string) (Rule, error) {
	if err := allow(caller, designers); err != nil {
		return Rule{}, err
	}
	r.normalize()
	v := &validation.Error{}
	r.validate("rule.", v)
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Rule{}, err
	}
	r.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateRule(ctx, caller, r, requestID)
}

// Rules lists the tier rules in rank order.
func (s *Service) Rules(ctx context.Context, caller auth.Caller) ([]Rule, error) {
	if err := allow(caller, readers); err != nil {
		return nil, err
	}
	return s.store.Rules(ctx, caller)
}

// RuleFields are the fields UpdateValueTierRule may change.
var RuleFields = []string{"tier", "rank", "filter", "description"}

// UpdateRule changes the fields in mask. An empty etag skips the check.
func (s *Service) UpdateRule(ctx context.Context, caller auth.Caller, in Rule, mask []string, etag string) (Rule, error) {
	if err := allow(caller, designers); err != nil {
		return Rule{}, err
	}
	if err := checkMask(mask, RuleFields); err != nil {
		return Rule{}, err
	}
	return s.store.MutateRule(ctx, caller, in.ID, func(r *Rule) error {
		if etag != "" && etag != r.Etag() {
			return fmt.Errorf("%w: current etag is %s", ErrEtagMismatch, r.Etag())
		}
		for _, f := range mask {
			switch f {
			case "tier":
				r.Tier = in.Tier
			case "rank":
				r.Rank = in.Rank
			case "filter":
				r.Filter = in.Filter
			case "description":
				r.Description = in.Description
			}
		}
		r.normalize()
		v := &validation.Error{}
		r.validate("rule.", v)
		return v.Err()
	})
}

// DeleteRule removes a tier rule; tiers it set stay until customers are
// re-tiered.
func (s *Service) DeleteRule(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) error {
	if err := allow(caller, designers); err != nil {
		return err
	}
	return s.store.DeleteRule(ctx, caller, id, etag)
}

// ApplyRules re-tiers every customer of the tenant.
func (s *Service) ApplyRules(ctx context.Context, caller auth.Caller) (int64, error) {
	if err := allow(caller, designers); err != nil {
		return 0, err
	}
	return s.store.ApplyRules(ctx, caller)
}

func (g *Segment) normalize() {
	g.DisplayName = strings.TrimSpace(g.DisplayName)
	g.Description = strings.TrimSpace(g.Description)
	g.Filter = strings.TrimSpace(g.Filter)
}

func (g Segment) validate(prefix string, v *validation.Error) {
	if n := utf8.RuneCountInString(g.DisplayName); n == 0 || n > maxName {
		v.Add(prefix+"display_name", "must be 1 to %d characters", maxName)
	}
	if utf8.RuneCountInString(g.Description) > maxDescription {
		v.Add(prefix+"description", "must be at most %d characters", maxDescription)
	}
	if g.Filter == "" {
		v.Add(prefix+"filter", "is required")
	}
}

// CreateSegment adds a segment and computes its members.
func (s *Service) CreateSegment(ctx context.Context, caller auth.Caller, g Segment, requestID string) (Segment, error) {
	if err := allow(caller, designers); err != nil {
		return Segment{}, err
	}
	g.normalize()
	v := &validation.Error{}
	g.validate("segment.", v)
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Segment{}, err
	}
	g.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateSegment(ctx, caller, g, requestID)
}

// Segment returns a segment with its member count.
func (s *Service) Segment(ctx context.Context, caller auth.Caller, id uuid.UUID) (Segment, error) {
	if err := allow(caller, readers); err != nil {
		return Segment{}, err
	}
	return s.store.Segment(ctx, caller, id)
}

// Segments lists segments by name.
func (s *Service) Segments(ctx context.Context, caller auth.Caller, q PageQuery) (Page[Segment], error) {
	if err := allow(caller, readers); err != nil {
		return Page[Segment]{}, err
	}
	return s.store.Segments(ctx, caller, pageQuery(q))
}

// SegmentFields are the fields UpdateSegment may change.
var SegmentFields = []string{"display_name", "description", "filter"}

// UpdateSegment changes the fields in mask; a changed filter recomputes the
// members. An empty etag skips the check.
func (s *Service) UpdateSegment(ctx context.Context, caller auth.Caller, in Segment, mask []string, etag string) (Segment, error) {
	if err := allow(caller, designers); err != nil {
		return Segment{}, err
	}
	if err := checkMask(mask, SegmentFields); err != nil {
		return Segment{}, err
	}
	return s.store.MutateSegment(ctx, caller, in.ID, func(g *Segment) (bool, error) {
		if etag != "" && etag != g.Etag() {
			return false, fmt.Errorf("%w: current etag is %s", ErrEtagMismatch, g.Etag())
		}
		before := g.Filter
		for _, f := range mask {
			switch f {
			case "display_name":
				g.DisplayName = in.DisplayName
			case "description":
				g.Description = in.Description
			case "filter":
				g.Filter = in.Filter
			}
		}
		g.normalize()
		v := &validation.Error{}
		g.validate("segment.", v)
		return g.Filter != before, v.Err()
	})
}

// DeleteSegment removes a segment; its members leave it.
func (s *Service) DeleteSegment(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) error {
	if err := allow(caller, designers); err != nil {
		return err
	}
	return s.store.DeleteSegment(ctx, caller, id, etag)
}

// RefreshSegment recomputes a segment's members from the current data.
func (s *Service) RefreshSegment(ctx context.Context, caller auth.Caller, id uuid.UUID) (Refresh, error) {
	if err := allow(caller, designers); err != nil {
		return Refresh{}, err
	}
	return s.store.RefreshSegment(ctx, caller, id)
}

// Members lists a segment's current members, earliest entry first.
func (s *Service) Members(ctx context.Context, caller auth.Caller, id uuid.UUID, q PageQuery) (Page[Membership], error) {
	if err := allow(caller, readers); err != nil {
		return Page[Membership]{}, err
	}
	return s.store.Members(ctx, caller, id, pageQuery(q))
}

func checkMask(mask, allowed []string) error {
	v := &validation.Error{}
	if len(mask) == 0 {
		v.Add("update_mask", "must name at least one field")
	}
	for _, f := range mask {
		if !slices.Contains(allowed, f) {
			v.Add("update_mask", "%q cannot be updated; updatable fields: %v", f, allowed)
		}
	}
	return v.Err()
}
