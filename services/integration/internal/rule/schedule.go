package rule

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Scheduled rules.
const (
	// ScheduledEventType is the type of the synthetic event a scheduled
	// rule's actions see for each selected resource.
	ScheduledEventType = "rapport.integration.v1.rule.scheduled"
	// ScheduledSource is that event's source.
	ScheduledSource = "integration"

	minInterval    = time.Hour
	maxInterval    = 366 * 24 * time.Hour
	minInactiveFor = 24 * time.Hour
	maxInactiveFor = 10 * 365 * 24 * time.Hour
	maxFilter      = 2000
)

// Errors of scheduled rules.
var (
	ErrNotScheduled  = errors.New("the rule has no schedule")
	ErrDisabled      = errors.New("the rule is disabled")
	ErrRunInProgress = errors.New("a run of the rule is already in progress")
	// ErrSelectorUnavailable reports that the service owning a selection
	// could not be asked.
	ErrSelectorUnavailable = errors.New("the service owning the selection is unavailable")
)

// Collection is what a scheduled rule selects, numbered as in the API.
type Collection int32

// Collections.
const (
	Customers Collection = 1
)

// Schedule says when a scheduled rule runs: every Interval, or daily at
// DailyTime ("HH:MM") in TimeZone.
type Schedule struct {
	Interval  time.Duration `json:"interval,omitempty"`
	DailyTime string        `json:"daily_time,omitempty"`
	TimeZone  string        `json:"time_zone,omitempty"`
}

// Selection is what a scheduled rule acts on.
type Selection struct {
	Collection  Collection    `json:"collection"`
	Filter      string        `json:"filter,omitempty"`
	InactiveFor time.Duration `json:"inactive_for,omitempty"`
}

// CustomerFields are the ListCustomers filter fields a selection may use:
// the customer service checks the filter again, this only catches what
// cannot parse or names no such field before the rule is saved.
var CustomerFields = map[string]sqlfilter.Field{
	"display_name": {Kind: sqlfilter.String}, "email": {Kind: sqlfilter.Lowercase}, "phone": {Kind: sqlfilter.String},
	"kind": {Kind: sqlfilter.String}, "lifecycle_stage": {Kind: sqlfilter.String}, "industry": {Kind: sqlfilter.String},
	"country_code": {Kind: sqlfilter.String}, "owner_id": {Kind: sqlfilter.UUID}, "external_id": {Kind: sqlfilter.String},
	"tags": {Kind: sqlfilter.StringArray}, "create_time": {Kind: sqlfilter.Timestamp}, "update_time": {Kind: sqlfilter.Timestamp},
	"source_channel": {Kind: sqlfilter.String}, "last_interaction_time": {Kind: sqlfilter.Timestamp}, "contacted": {Kind: sqlfilter.Bool},
}

var dailyTime = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

// Scheduled reports whether r runs on a schedule rather than on events.
func (r Rule) Scheduled() bool { return r.Schedule != nil }

// validateSchedule checks the schedule and selection of a scheduled rule.
func validateSchedule(r *Rule, v *validation.Error) {
	s := r.Schedule
	switch {
	case s.Interval != 0 && s.DailyTime != "":
		v.Add("rule.schedule", "set either interval or daily_time, not both")
	case s.Interval == 0 && s.DailyTime == "":
		v.Add("rule.schedule", "set interval or daily_time")
	case s.DailyTime != "":
		if !dailyTime.MatchString(s.DailyTime) {
			v.Add("rule.schedule.daily_time", "must be a 24-hour time such as 07:30")
		}
	case s.Interval < minInterval || s.Interval > maxInterval:
		v.Add("rule.schedule.interval", "must be between 1h and %s", maxInterval)
	}
	if _, err := time.LoadLocation(s.TimeZone); err != nil || strings.EqualFold(s.TimeZone, "local") {
		v.Add("rule.schedule.time_zone", "%q is not an IANA time zone such as Europe/Berlin", s.TimeZone)
	}
	if s.Interval != 0 && s.TimeZone != "" {
		v.Add("rule.schedule.time_zone", "applies to daily_time only")
	}
	if r.Selection == nil {
		v.Add("rule.selection", "is required with a schedule")
		return
	}
	sel := r.Selection
	sel.Filter = strings.TrimSpace(sel.Filter)
	if sel.Collection != Customers {
		v.Add("rule.selection.collection", "must be RULE_COLLECTION_CUSTOMERS")
	}
	if len(sel.Filter) > maxFilter {
		v.Add("rule.selection.filter", "must be at most %d characters", maxFilter)
	} else if _, err := sqlfilter.Translate(sel.Filter, CustomerFields, 0); err != nil {
		var fe *sqlfilter.Error
		if errors.As(err, &fe) {
			v.Add("rule.selection.filter", "%s", fe.Reason)
		} else {
			v.Add("rule.selection.filter", "cannot be used")
		}
	}
	if sel.InactiveFor != 0 && (sel.InactiveFor < minInactiveFor || sel.InactiveFor > maxInactiveFor) {
		v.Add("rule.selection.inactive_for", "must be between 24h and %s", maxInactiveFor)
	}
}

// NextRun is the first time after t that s is due.
func (s Schedule) NextRun(t time.Time) time.Time {
	if s.Interval > 0 {
		return t.Add(s.Interval)
	}
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		loc = time.UTC // validated on save; a zone database that lost it falls back rather than stops the rule
	}
	var hh, mm int
	fmt.Sscanf(s.DailyTime, "%d:%d", &hh, &mm)
	local := t.In(loc)
	next := time.Date(local.Year(), local.Month(), local.Day(), hh, mm, 0, 0, loc)
	for !next.After(t) {
		local = local.AddDate(0, 0, 1)
		next = time.Date(local.Year(), local.Month(), local.Day(), hh, mm, 0, 0, loc)
	}
	return next
}

// Query is the filter a run passes to the collection's List RPC when it
// starts at start: the selection's filter, narrowed by inactive_for.
func (sel Selection) Query(start time.Time) string {
	if sel.InactiveFor == 0 {
		return sel.Filter
	}
	cutoff := start.Add(-sel.InactiveFor).UTC().Format(time.RFC3339Nano)
	inactive := fmt.Sprintf(`(last_interaction_time < %q OR (contacted = false AND create_time < %q))`, cutoff, cutoff)
	if sel.Filter == "" {
		return inactive
	}
	return "(" + sel.Filter + ") AND " + inactive
}

// Resource is one selected resource.
type Resource struct {
	// Name is the resource name, for example "customers/{id}".
	Name string
	// Episode identifies the stretch of time the resource has matched: a
	// resource fires once per rule version and episode. For customers it is
	// the last_interaction_time ("" when never contacted).
	Episode string
}

// SelectionPage is one page of a selection.
type SelectionPage struct {
	Resources     []Resource
	NextPageToken string
}

// Selector reads selections from the services that own the resources.
type Selector interface {
	// Select returns the page at pageToken of collection c filtered by
	// filter, as the tenant's service principal sees it.
	Select(ctx context.Context, tenant uuid.UUID, c Collection, filter, pageToken string) (SelectionPage, error)
}

// RunTrigger is what started a run, numbered as in the API.
type RunTrigger int32

// Run triggers.
const (
	BySchedule RunTrigger = 1
	Manually   RunTrigger = 2
)

// RunState is where a run stands, numbered as in the API.
type RunState int32

// Run states.
const (
	Running      RunState = 1
	RunSucceeded RunState = 2
	RunFailed    RunState = 3
)

// Run is one pass of a scheduled rule over its selection.
type Run struct {
	ID          uuid.UUID
	RuleID      uuid.UUID
	RuleVersion int64
	Trigger     RunTrigger
	State       RunState
	Selected    int
	Fired       int
	Detail      string
	StartTime   time.Time
	EndTime     *time.Time
}

// RunPage is a page of a rule's runs.
type RunPage struct {
	Runs          []Run
	NextPageToken string
}

// RunNow queues a run of a scheduled, enabled rule.
func (s *Service) RunNow(ctx context.Context, caller auth.Caller, id uuid.UUID) (Run, error) {
	if err := allow(caller, writers); err != nil {
		return Run{}, err
	}
	return s.store.QueueRun(ctx, caller, id)
}

// Runs returns a page of a rule's runs, newest first.
func (s *Service) Runs(ctx context.Context, caller auth.Caller, id uuid.UUID, q ListQuery) (RunPage, error) {
	if err := allow(caller, readers); err != nil {
		return RunPage{}, err
	}
	var err error
	if q.PageSize, err = pageSize(q.PageSize); err != nil {
		return RunPage{}, err
	}
	if _, err := s.store.Get(ctx, caller, id); err != nil {
		return RunPage{}, err
	}
	return s.store.Runs(ctx, caller, id, q)
}

// dryRunScheduled lists the first page of r's selection as it would run
// now, with what each action would do.
func (s *Service) dryRunScheduled(ctx context.Context, caller auth.Caller, r Rule, limit int) ([]Match, int, error) {
	tenant, err := uuid.Parse(caller.TenantID)
	if err != nil {
		return nil, 0, fmt.Errorf("tenant: %w", err)
	}
	page, err := s.selector.Select(ctx, tenant, r.Selection.Collection, r.Selection.Query(time.Now()), "")
	if err != nil {
		return nil, 0, err
	}
	resources := page.Resources[:min(len(page.Resources), limit)]
	out := make([]Match, len(resources))
	for i, res := range resources {
		e := Event{Source: ScheduledSource, Type: ScheduledEventType, Resource: res.Name, PrincipalID: ActionPrincipal, Time: time.Now()}
		out[i].Event = e
		for _, a := range r.Actions {
			out[i].Actions = append(out[i].Actions, Describe(a, e))
		}
	}
	return out, len(resources), nil
}
