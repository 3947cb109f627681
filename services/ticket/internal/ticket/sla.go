package ticket

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
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/ticket/internal/bizclock"
)

// Event types of the SLA clock and of the help desk's configuration.
const (
	EventSLAWarning      = "ticket.sla.warning"
	EventSLABreached     = "ticket.sla.breached"
	EventEscalated       = "ticket.escalated"
	EventCalendarCreated = "business_calendar.created"
	EventCalendarUpdated = "business_calendar.updated"
	EventCalendarDeleted = "business_calendar.deleted"
	EventPolicyCreated   = "sla_policy.created"
	EventPolicyUpdated   = "sla_policy.updated"
	EventPolicyDeleted   = "sla_policy.deleted"
	EventSettingsUpdated = "ticket_settings.updated"
	defaultReopenWindow  = 7 * 24 * time.Hour
	defaultCSATTTL       = 14 * 24 * time.Hour
	maxTarget            = 365 * 24 * time.Hour
	maxEscalationLevel   = 10
	maxCalendarIntervals = 100
	maxHolidays          = 1000
	maxConfigDisplayName = 200
)

// WatcherPrincipal is the principal the SLA watcher's changes are audited as.
const WatcherPrincipal = "system:sla-watcher"

// Errors of the SLA configuration.
var (
	ErrCalendarNotFound = errors.New("business calendar not found")
	ErrCalendarInUse    = errors.New("the business calendar is used by an SLA policy or a ticket")
	ErrPolicyNotFound   = errors.New("SLA policy not found")
	// ErrPolicyConflict means another policy has the same priority and tier.
	ErrPolicyConflict = errors.New("an SLA policy for this priority and customer tier exists")
)

// SLA is a ticket's service-level clock. The targets are the policy's,
// copied when the ticket was created; due times are business time after
// creation plus the business time the clock stood still.
type SLA struct {
	PolicyID            uuid.UUID // uuid.Nil: no policy matched
	CalendarID          uuid.UUID
	FirstResponseTarget time.Duration
	ResolutionTarget    time.Duration
	WarningPercent      int32
	PauseOnHold         bool
	EscalationLevel     int32
	Paused              time.Duration
	PausedSince         *time.Time
	// Derived from the above.
	FirstResponseWarning, FirstResponseDue *time.Time
	ResolutionWarning, ResolutionDue       *time.Time
	// Set once each by the watcher.
	FirstResponseWarned, FirstResponseBreached *time.Time
	ResolutionWarned, ResolutionBreached       *time.Time
	// NextDue is the earliest time above not yet raised while the clock
	// runs; nil when none is pending.
	NextDue *time.Time
}

// running reports whether the clock runs in status s.
func (c SLA) running(s Status) bool {
	switch s {
	case StatusNew, StatusOpen, StatusReopened:
		return true
	case StatusOnHold:
		return !c.PauseOnHold
	}
	return false
}

// start sets up the clock of a ticket created at now in status s.
func (t *Ticket) startClock(p Policy, cal bizclock.Calendar, now time.Time) {
	t.SLA = SLA{PolicyID: p.ID, CalendarID: p.CalendarID, FirstResponseTarget: p.FirstResponseTarget,
		ResolutionTarget: p.ResolutionTarget, WarningPercent: p.WarningPercent, PauseOnHold: p.PauseOnHold,
		EscalationLevel: p.EscalationLevel}
	t.SLA.recompute(cal, now)
	if !t.SLA.running(t.Status) {
		t.SLA.PausedSince = &now
	}
	t.SLA.NextDue = t.nextDue()
}

// recompute derives the due times from start, the targets and the pause.
func (c *SLA) recompute(cal bizclock.Calendar, start time.Time) {
	at := func(d time.Duration) *time.Time {
		v := cal.Add(start, d+c.Paused)
		return &v
	}
	c.FirstResponseDue, c.FirstResponseWarning, c.ResolutionDue, c.ResolutionWarning = nil, nil, nil, nil
	if c.FirstResponseTarget > 0 {
		c.FirstResponseDue = at(c.FirstResponseTarget)
		if c.WarningPercent > 0 {
			c.FirstResponseWarning = at(c.FirstResponseTarget * time.Duration(c.WarningPercent) / 100)
		}
	}
	if c.ResolutionTarget > 0 {
		c.ResolutionDue = at(c.ResolutionTarget)
		if c.WarningPercent > 0 {
			c.ResolutionWarning = at(c.ResolutionTarget * time.Duration(c.WarningPercent) / 100)
		}
	}
}

// slaPoint is one time the watcher raises.
type slaPoint struct {
	at     *time.Time
	marker **time.Time
	event  string
}

// points lists the times still to be raised, in no particular order.
func (t *Ticket) points() []slaPoint {
	c := &t.SLA
	var out []slaPoint
	add := func(at *time.Time, marker **time.Time, event string) {
		if at != nil && *marker == nil {
			out = append(out, slaPoint{at, marker, event})
		}
	}
	if t.FirstResponseTime == nil {
		add(c.FirstResponseWarning, &c.FirstResponseWarned, EventSLAWarning)
		add(c.FirstResponseDue, &c.FirstResponseBreached, EventSLABreached)
	}
	add(c.ResolutionWarning, &c.ResolutionWarned, EventSLAWarning)
	add(c.ResolutionDue, &c.ResolutionBreached, EventSLABreached)
	return out
}

// nextDue is the earliest time to raise while the clock runs.
func (t *Ticket) nextDue() *time.Time {
	if t.SLA.PolicyID == uuid.Nil || t.SLA.PausedSince != nil {
		return nil
	}
	var next *time.Time
	for _, p := range t.points() {
		if next == nil || p.at.Before(*next) {
			v := *p.at
			next = &v
		}
	}
	return next
}

// moveClock pauses or resumes the clock for a change of status to s at
// now; cal is asked for only when the clock resumes.
func (t *Ticket) moveClock(s Status, now time.Time, cal func() (bizclock.Calendar, error)) error {
	c := &t.SLA
	if c.PolicyID == uuid.Nil {
		return nil
	}
	was, is := c.running(t.Status), c.running(s)
	switch {
	case was && !is:
		c.PausedSince = &now
	case !was && is && c.PausedSince != nil:
		k, err := cal()
		if err != nil {
			return err
		}
		c.Paused += k.Between(*c.PausedSince, now)
		c.PausedSince = nil
		c.recompute(k, t.CreateTime)
	}
	return nil
}

// fireSLA raises every warning and breach due at now, earliest first, and
// escalates on each breach; it returns the event types to record.
func (t *Ticket) fireSLA(now time.Time) []string {
	var events []string
	if t.SLA.PausedSince == nil {
		pts := t.points()
		slices.SortStableFunc(pts, func(a, b slaPoint) int { return a.at.Compare(*b.at) })
		for _, p := range pts {
			if p.at.After(now) {
				break
			}
			*p.marker = &now
			events = append(events, p.event)
			if p.event == EventSLABreached && t.SLA.EscalationLevel > 0 {
				t.EscalationLevel = max(t.EscalationLevel, t.SLA.EscalationLevel)
				events = append(events, EventEscalated)
			}
		}
	}
	t.SLA.NextDue = t.nextDue()
	return events
}

// Calendar is a tenant's business calendar.
type Calendar struct {
	ID          uuid.UUID
	DisplayName string
	TimeZone    string
	Hours       []bizclock.Interval
	Holidays    []bizclock.Date
	CreateTime  time.Time
	UpdateTime  time.Time
	Revision    int64
}

// Etag is the calendar's concurrency token.
func (c Calendar) Etag() string { return fmt.Sprint(c.Revision) }

// Resource is the calendar's resource name.
func (c Calendar) Resource() string { return "businessCalendars/" + c.ID.String() }

// Clock returns the calendar's business-time arithmetic; the calendar must
// be valid.
func (c Calendar) Clock() (bizclock.Calendar, error) {
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return bizclock.Calendar{}, fmt.Errorf("calendar %s time zone: %w", c.ID, err)
	}
	return bizclock.New(loc, c.Hours, c.Holidays), nil
}

func (c *Calendar) normalize() {
	c.DisplayName = strings.TrimSpace(c.DisplayName)
	c.TimeZone = strings.TrimSpace(c.TimeZone)
	slices.SortFunc(c.Holidays, func(a, b bizclock.Date) int { return strings.Compare(a.String(), b.String()) })
	c.Holidays = slices.Compact(c.Holidays)
}

func (c Calendar) validate(prefix string, v *validation.Error) {
	validName(c.DisplayName, prefix+"display_name", v)
	if c.TimeZone == "" || c.TimeZone == "Local" {
		v.Add(prefix+"time_zone", "must be an IANA time zone such as Europe/London")
	} else if _, err := time.LoadLocation(c.TimeZone); err != nil {
		v.Add(prefix+"time_zone", "is not a known IANA time zone")
	}
	switch {
	case len(c.Hours) == 0:
		v.Add(prefix+"working_hours", "must hold at least one interval")
	case len(c.Hours) > maxCalendarIntervals:
		v.Add(prefix+"working_hours", "must hold at most %d intervals", maxCalendarIntervals)
	}
	valid := true
	for i, iv := range c.Hours {
		if iv.Start < 0 || iv.End > bizclock.MinutesPerDay || iv.Start >= iv.End {
			v.Add(fmt.Sprintf("%sworking_hours[%d]", prefix, i), "must have 0 <= start_minute < end_minute <= %d", bizclock.MinutesPerDay)
			valid = false
		}
	}
	if valid {
		if a, b, found := bizclock.Overlaps(c.Hours); found {
			v.Add(fmt.Sprintf("%sworking_hours[%d]", prefix, b), "overlaps working_hours[%d] on the same weekday", a)
		}
	}
	if len(c.Holidays) > maxHolidays {
		v.Add(prefix+"holidays", "must hold at most %d dates", maxHolidays)
	}
}

func validName(name, field string, v *validation.Error) {
	switch {
	case name == "":
		v.Add(field, "is required")
	case utf8.RuneCountInString(name) > maxConfigDisplayName:
		v.Add(field, "must be at most %d characters", maxConfigDisplayName)
	}
}

// Policy is an SLA policy: targets for tickets of a priority and customer
// tier, counted in a calendar.
type Policy struct {
	ID                  uuid.UUID
	DisplayName         string
	Priority            Priority // unspecified: any
	CustomerTier        string   // empty: any
	CalendarID          uuid.UUID
	FirstResponseTarget time.Duration
	ResolutionTarget    time.Duration
	WarningPercent      int32
	PauseOnHold         bool
	EscalationLevel     int32
	CreateTime          time.Time
	UpdateTime          time.Time
	Revision            int64
}

// Etag is the policy's concurrency token.
func (p Policy) Etag() string { return fmt.Sprint(p.Revision) }

// Resource is the policy's resource name.
func (p Policy) Resource() string { return "slaPolicies/" + p.ID.String() }

func (p *Policy) normalize() {
	p.DisplayName = strings.TrimSpace(p.DisplayName)
	p.CustomerTier = strings.TrimSpace(p.CustomerTier)
}

func (p Policy) validate(prefix string, v *validation.Error) {
	validName(p.DisplayName, prefix+"display_name", v)
	if p.Priority < PriorityUnspecified || p.Priority > PriorityUrgent {
		v.Add(prefix+"priority", "is not a known priority")
	}
	if utf8.RuneCountInString(p.CustomerTier) > maxTier {
		v.Add(prefix+"customer_tier", "must be at most %d characters", maxTier)
	}
	if p.CalendarID == uuid.Nil {
		v.Add(prefix+"calendar_id", "is required")
	}
	if p.FirstResponseTarget <= 0 && p.ResolutionTarget <= 0 {
		v.Add(prefix+"first_response_target", "a policy needs a first-response or a resolution target")
		v.Add(prefix+"resolution_target", "a policy needs a first-response or a resolution target")
	}
	for field, d := range map[string]time.Duration{"first_response_target": p.FirstResponseTarget, "resolution_target": p.ResolutionTarget} {
		if d < 0 || d > maxTarget || d%time.Second != 0 {
			v.Add(prefix+field, "must be whole seconds between 0 and %v", maxTarget)
		}
	}
	if p.WarningPercent < 0 || p.WarningPercent > 99 {
		v.Add(prefix+"warning_percent", "must be 0 (no warning) to 99")
	}
	if p.EscalationLevel < 0 || p.EscalationLevel > maxEscalationLevel {
		v.Add(prefix+"escalation_level", "must be 0 to %d", maxEscalationLevel)
	}
}

// Settings are a tenant's help desk settings.
type Settings struct {
	ReopenWindow time.Duration
	// PartnerAccess lets partner users see their partner's tickets.
	PartnerAccess bool
	// CSATTTL is how long a survey link stays valid after resolution.
	CSATTTL  time.Duration
	Revision int64 // 0 until first saved
}

// Etag is the settings' concurrency token.
func (s Settings) Etag() string { return fmt.Sprint(s.Revision) }

// DefaultSettings are a tenant's settings until an admin changes them.
func DefaultSettings() Settings {
	return Settings{ReopenWindow: defaultReopenWindow, CSATTTL: defaultCSATTTL}
}

// ConfigStore keeps calendars, policies and settings, scoped to the caller's tenant.
type ConfigStore interface {
	CreateCalendar(ctx context.Context, caller auth.Caller, c Calendar, requestID string) (Calendar, error)
	Calendar(ctx context.Context, caller auth.Caller, id uuid.UUID) (Calendar, error)
	ListCalendars(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) ([]Calendar, string, error)
	// MutateCalendar applies m to the locked calendar and saves it.
	MutateCalendar(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(*Calendar) error) (Calendar, error)
	// DeleteCalendar deletes the calendar if check passes; ErrCalendarInUse
	// when a policy or ticket refers to it.
	DeleteCalendar(ctx context.Context, caller auth.Caller, id uuid.UUID, check func(Calendar) error) error
	// CreatePolicy returns ErrPolicyConflict or a validation error on
	// calendar_id when the calendar does not exist.
	CreatePolicy(ctx context.Context, caller auth.Caller, p Policy, requestID string) (Policy, error)
	Policy(ctx context.Context, caller auth.Caller, id uuid.UUID) (Policy, error)
	ListPolicies(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) ([]Policy, string, error)
	MutatePolicy(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(*Policy) error) (Policy, error)
	DeletePolicy(ctx context.Context, caller auth.Caller, id uuid.UUID, check func(Policy) error) error
	// MatchPolicy returns the most specific policy for priority and tier:
	// tier and priority, then tier, then priority, then neither; ErrPolicyNotFound if none.
	MatchPolicy(ctx context.Context, caller auth.Caller, priority Priority, tier string) (Policy, error)
	Settings(ctx context.Context, caller auth.Caller) (Settings, error)
	// UpdateSettings applies m to the current (or default) settings and saves them.
	UpdateSettings(ctx context.Context, caller auth.Caller, m func(*Settings) error) (Settings, error)
}
