// Package rule holds the rules of automation: what a rule may trigger on
// and do, how its templates render, and when a match is rate limited.
package rule

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/integration/internal/email"
	"github.com/rapportcrm/rapport/services/integration/internal/webhook"
)

// Events of rules, and the principal their actions act as.
const (
	EventCreated    = "rule.created"
	EventUpdated    = "rule.updated"
	EventDeleted    = "rule.deleted"
	EventRunQueued  = "rule.run_queued"
	ActionPrincipal = "system:automation"
)

// Limits of a rule.
const (
	maxDisplayName   = 200
	maxActions       = 10
	maxTemplate      = 4000
	maxRequestID     = 64
	defaultRateLimit = 60
	maxRateLimit     = 10000
	defaultPageSize  = 50
	maxPageSize      = 1000
	defaultDryRun    = 100
	maxDryRun        = 1000
	maxDueDays       = 365
)

// MaxChain is how many rule actions deep a chain of events may go: an
// event caused by the third action of a chain runs no rule.
const MaxChain = 3

// FollowUpCreated is the customer service's event for a new follow-up, the
// one a CREATE_FOLLOW_UP action causes.
const FollowUpCreated = "customer.follow_up.created"

// Errors of the rule use cases.
var (
	ErrNotFound     = errors.New("rule not found")
	ErrEtagMismatch = errors.New("the rule changed since it was read (etag mismatch)")
	// ErrEmailNotConfigured refuses an e-mail action when the operator set
	// no SMTP relay.
	ErrEmailNotConfigured = errors.New("e-mail is not configured: the operator set no SMTP relay")
)

// ActionKind is what an action does, numbered as in the API.
type ActionKind int32

// Action kinds.
const (
	SendNotification ActionKind = 1
	CallWebhook      ActionKind = 2
	SendEmail        ActionKind = 3
	CreateFollowUp   ActionKind = 4
	AssignOwner      ActionKind = 5
	MoveStage        ActionKind = 6
	SetField         ActionKind = 7
	AddToCampaign    ActionKind = 8
)

// Remote says whether actions of kind k change another service's data, so
// run after the execution is recorded rather than inside it.
func (k ActionKind) Remote() bool { return k >= CreateFollowUp && k <= AddToCampaign }

// Lifecycle stages a MoveStage action may name, numbered as the customer
// service's LifecycleStage.
const (
	firstStage = 1 // LEAD
	lastStage  = 6 // WON_BACK
)

// The events the customer, ticket and pipeline services emit for the
// changes this service's actions make: a rule triggered by the event its
// own action causes would loop.
const (
	CustomerUpdated     = "customer.updated"
	StageChanged        = "customer.lifecycle_stage.changed"
	TicketAssigned      = "ticket.assigned"
	CampaignMemberAdded = "campaign.member_added"
)

// Action is one thing a rule does.
type Action struct {
	Kind                 ActionKind `json:"kind"`
	RecipientPrincipalID string     `json:"recipient,omitempty"`
	TitleTemplate        string     `json:"title,omitempty"`
	BodyTemplate         string     `json:"body,omitempty"`
	WebhookID            uuid.UUID  `json:"webhook,omitempty"`
	DueDays              int        `json:"due_days,omitempty"`
	AssigneePrincipalID  string     `json:"assignee,omitempty"`
	// EmailTemplateID and EmailAddress (empty: the event's customer) are
	// SendEmail's.
	EmailTemplateID uuid.UUID `json:"email_template,omitempty"`
	EmailAddress    string    `json:"email_address,omitempty"`
	// OwnerPrincipalID and QueueID are AssignOwner's: a customer's new
	// owner, or a ticket's agent and queue.
	OwnerPrincipalID string    `json:"owner,omitempty"`
	QueueID          uuid.UUID `json:"queue,omitempty"`
	// LifecycleStage is MoveStage's, numbered as the customer service's.
	LifecycleStage int32 `json:"stage,omitempty"`
	// AttributeKey and ValueTemplate are SetField's.
	AttributeKey  string `json:"attribute,omitempty"`
	ValueTemplate string `json:"value,omitempty"`
	// CampaignID is AddToCampaign's.
	CampaignID uuid.UUID `json:"campaign,omitempty"`
}

// TicketRule says whether r's events are the ticket service's: an
// AssignOwner action then assigns the ticket, else the customer.
func (r Rule) TicketRule() bool {
	if len(r.EventTypes) == 0 {
		return false
	}
	for _, t := range r.EventTypes {
		if !strings.HasPrefix(t, "ticket.") {
			return false
		}
	}
	return true
}

// Rule is "when an event matches, then actions".
type Rule struct {
	ID          uuid.UUID
	DisplayName string
	EventTypes  []string
	Filter      string
	Actions     []Action
	Enabled     bool
	RateLimit   int
	Version     int64
	CreateTime  time.Time
	UpdateTime  time.Time
	// Schedule, when set, makes the rule run on it over Selection instead
	// of on events.
	Schedule  *Schedule
	Selection *Selection
	// NextRunTime is when a scheduled rule is next due.
	NextRunTime *time.Time
}

// Resource is the rule's resource name.
func (r Rule) Resource() string { return "rules/" + r.ID.String() }

// Etag is the rule's version as text.
func (r Rule) Etag() string { return strconv.FormatInt(r.Version, 10) }

// Outcome is what an execution came to, numbered as in the API.
type Outcome int32

// Outcomes.
const (
	Succeeded   Outcome = 1
	RateLimited Outcome = 2
	Failed      Outcome = 3
	Pending     Outcome = 4
	LoopGuarded Outcome = 5
)

// Execution is one event a rule matched.
type Execution struct {
	ID          uuid.UUID
	RuleID      uuid.UUID
	RuleVersion int64
	EventID     uuid.UUID
	EventType   string
	Resource    string
	Outcome     Outcome
	Detail      string
	CreateTime  time.Time
}

// Event is what a rule sees of an event: its envelope.
type Event struct {
	ID          uuid.UUID
	Source      string
	Type        string
	Resource    string
	PrincipalID string
	Time        time.Time
}

// Match is one event a dry run matched, with what each action would do.
type Match struct {
	Event   Event
	Actions []string
}

// ListQuery is one page request.
type ListQuery struct {
	PageSize  int
	PageToken string
	Filter    string
}

// Page is a page of rules.
type Page struct {
	Rules         []Rule
	NextPageToken string
}

// ExecutionPage is a page of a rule's log.
type ExecutionPage struct {
	Executions    []Execution
	NextPageToken string
}

// placeholder finds template placeholders.
var placeholder = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)

// fields are the placeholders a template may use.
var fields = []string{"event.type", "event.resource", "event.source", "event.time", "event.principal_id"}

// checkTemplate names the first unknown placeholder of t.
func checkTemplate(t string) error {
	for _, m := range placeholder.FindAllStringSubmatch(t, -1) {
		if !slices.Contains(fields, m[1]) {
			return fmt.Errorf("unknown placeholder {{%s}}; known: %s", m[1], strings.Join(fields, ", "))
		}
	}
	return nil
}

// Render fills a checked template with e.
func Render(t string, e Event) string {
	return placeholder.ReplaceAllStringFunc(t, func(m string) string {
		switch strings.TrimSpace(m[2 : len(m)-2]) {
		case "event.type":
			return e.Type
		case "event.resource":
			return e.Resource
		case "event.source":
			return e.Source
		case "event.time":
			return e.Time.UTC().Format(time.RFC3339)
		case "event.principal_id":
			return e.PrincipalID
		}
		return m
	})
}

// Describe says what a action would do for e, for dry runs.
func Describe(a Action, e Event) string {
	switch a.Kind {
	case CallWebhook:
		return "deliver to webhooks/" + a.WebhookID.String()
	case CreateFollowUp:
		return fmt.Sprintf("schedule a follow-up for %s due in %d days: %q", e.Resource, a.DueDays, Render(a.TitleTemplate, e))
	case AssignOwner:
		if a.QueueID != uuid.Nil {
			return fmt.Sprintf("assign %s to queues/%s, agent %q", e.Resource, a.QueueID, a.OwnerPrincipalID)
		}
		return fmt.Sprintf("make %s the owner of %s", a.OwnerPrincipalID, e.Resource)
	case MoveStage:
		return fmt.Sprintf("move %s to lifecycle stage %d", e.Resource, a.LifecycleStage)
	case SetField:
		return fmt.Sprintf("set %s's %s to %q", e.Resource, a.AttributeKey, Render(a.ValueTemplate, e))
	case AddToCampaign:
		return fmt.Sprintf("add %s to campaigns/%s", e.Resource, a.CampaignID)
	case SendEmail:
		to := "the event's customer"
		if a.EmailAddress != "" {
			to = "a fixed address"
		}
		return "e-mail emailTemplates/" + a.EmailTemplateID.String() + " to " + to
	}
	return fmt.Sprintf("notify %s: %q", a.RecipientPrincipalID, Render(a.TitleTemplate, e))
}

// ownTypes are the prefixes of the events this service emits itself. It
// does not follow its own stream, so a rule on them would never run, and a
// rule whose actions trigger it again would loop: both are refused.
var ownTypes = []string{"notification.", "webhook.", "webhook_policy.", "rule."}

func validate(r *Rule, v *validation.Error) {
	r.DisplayName = strings.TrimSpace(r.DisplayName)
	switch n := utf8.RuneCountInString(r.DisplayName); {
	case n == 0:
		v.Add("rule.display_name", "is required")
	case n > maxDisplayName:
		v.Add("rule.display_name", "must be at most %d characters", maxDisplayName)
	}
	r.EventTypes, r.Filter = webhook.NormaliseTypes(r.EventTypes), strings.TrimSpace(r.Filter)
	switch {
	case r.Schedule != nil:
		if len(r.EventTypes) > 0 {
			v.Add("rule.event_types", "must be empty with a schedule: a rule runs on events or on a schedule")
		}
		if r.Filter != "" {
			v.Add("rule.filter", "must be empty with a schedule: selection.filter selects what it runs on")
		}
		validateSchedule(r, v)
	case r.Selection != nil:
		v.Add("rule.selection", "applies only with a schedule")
	case len(r.EventTypes) == 0:
		v.Add("rule.event_types", "is required, unless the rule has a schedule")
	}
	validateActions(r, v)
}

// validateActions checks the event types and filter, the actions and the
// rate limit.
func validateActions(r *Rule, v *validation.Error) {
	for _, t := range r.EventTypes {
		switch {
		case !webhook.ValidType(t):
			v.Add("rule.event_types", "%q is not an event type, a prefix ending in \".*\" or \"*\"", t)
		case t == "*":
			v.Add("rule.event_types", "\"*\" would match the service's own notifications: name the types")
		default:
			for _, own := range ownTypes {
				if strings.HasPrefix(t, own) || strings.HasPrefix(own, strings.TrimSuffix(t, "*")) {
					v.Add("rule.event_types", "%q would trigger on this service's own events, which rule actions cause: a loop", t)
					break
				}
			}
		}
	}
	if _, err := sqlfilter.Translate(r.Filter, webhook.EventFields, 0); err != nil {
		var fe *sqlfilter.Error
		if errors.As(err, &fe) {
			v.Add("rule.filter", "%s", fe.Reason)
		} else {
			v.Add("rule.filter", "cannot be used")
		}
	}
	switch {
	case len(r.Actions) == 0:
		v.Add("rule.actions", "is required")
	case len(r.Actions) > maxActions:
		v.Add("rule.actions", "must list at most %d actions", maxActions)
	}
	for i, a := range r.Actions {
		f := fmt.Sprintf("rule.actions[%d].", i)
		switch a.Kind {
		case SendNotification:
			if strings.TrimSpace(a.RecipientPrincipalID) == "" {
				v.Add(f+"recipient_principal_id", "is required")
			}
			if strings.TrimSpace(a.TitleTemplate) == "" {
				v.Add(f+"title_template", "is required")
			}
			for name, t := range map[string]string{"title_template": a.TitleTemplate, "body_template": a.BodyTemplate} {
				if utf8.RuneCountInString(t) > maxTemplate {
					v.Add(f+name, "must be at most %d characters", maxTemplate)
				} else if err := checkTemplate(t); err != nil {
					v.Add(f+name, "%s", err.Error())
				}
			}
		case CallWebhook:
			if a.WebhookID == uuid.Nil {
				v.Add(f+"webhook_id", "is required")
			}
		case CreateFollowUp:
			validateFollowUp(r, a, f, v)
		case AssignOwner, MoveStage, SetField, AddToCampaign:
			validateChange(r, a, f, v)
		case SendEmail:
			if a.EmailTemplateID == uuid.Nil {
				v.Add(f+"email_template_id", "is required")
			}
			if a.EmailAddress != "" {
				if err := email.CheckAddress(a.EmailAddress); err != nil {
					v.Add(f+"email_address", "%s", err.Error())
				}
			}
		default:
			v.Add(f+"kind", "is required")
		}
	}
	switch {
	case r.RateLimit == 0:
		r.RateLimit = defaultRateLimit
	case r.RateLimit < 0 || r.RateLimit > maxRateLimit:
		v.Add("rule.max_executions_per_minute", "must be between 1 and %d", maxRateLimit)
	}
}

// validateFollowUp checks a CREATE_FOLLOW_UP action a of r, named f.
func validateFollowUp(r *Rule, a Action, f string, v *validation.Error) {
	if strings.TrimSpace(a.TitleTemplate) == "" {
		v.Add(f+"title_template", "is required")
	}
	for name, t := range map[string]string{"title_template": a.TitleTemplate, "body_template": a.BodyTemplate} {
		if utf8.RuneCountInString(t) > maxTemplate {
			v.Add(f+name, "must be at most %d characters", maxTemplate)
		} else if err := checkTemplate(t); err != nil {
			v.Add(f+name, "%s", err.Error())
		}
	}
	if a.DueDays < 0 || a.DueDays > maxDueDays {
		v.Add(f+"follow_up_due_days", "must be between 0 and %d", maxDueDays)
	}
	needCustomerEvents(r, f, v)
	refuseOwnEvent(r, FollowUpCreated, v)
}

// needCustomerEvents checks that an action acting on the customer its
// event is about, named f, is in a rule of customer events only.
func needCustomerEvents(r *Rule, f string, v *validation.Error) {
	for _, t := range r.EventTypes {
		if !strings.HasPrefix(t, "customer.") {
			v.Add(f+"kind", "needs customer events, and %q is not one", t)
		}
	}
}

// refuseOwnEvent refuses a rule whose types match caused, the event its
// action's change emits: it would run again on its own doing.
func refuseOwnEvent(r *Rule, caused string, v *validation.Error) {
	if webhook.Matches(r.EventTypes, caused) {
		v.Add("rule.event_types", "%q would match the change this rule's own action makes: a loop; name other events", caused)
	}
}

// attributeKey is a custom attribute's key, as the customer service takes it.
var attributeKey = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// maxValueTemplate bounds SetField's value.
const maxValueTemplate = 1000

// validateChange checks an action a of r, named f, that changes the
// customer (or, for AssignOwner, the ticket) its event is about.
func validateChange(r *Rule, a Action, f string, v *validation.Error) {
	switch a.Kind {
	case AssignOwner:
		if r.TicketRule() {
			if a.OwnerPrincipalID == "" && a.QueueID == uuid.Nil {
				v.Add(f+"owner_principal_id", "or queue_id is required to assign a ticket")
			}
			refuseOwnEvent(r, TicketAssigned, v)
			return
		}
		if strings.TrimSpace(a.OwnerPrincipalID) == "" {
			v.Add(f+"owner_principal_id", "is required")
		}
		if a.QueueID != uuid.Nil {
			v.Add(f+"queue_id", "applies to tickets: the rule's events must all be ticket events")
		}
		refuseOwnEvent(r, CustomerUpdated, v)
	case MoveStage:
		if a.LifecycleStage < firstStage || a.LifecycleStage > lastStage {
			v.Add(f+"lifecycle_stage", "is required")
		}
		refuseOwnEvent(r, StageChanged, v)
	case SetField:
		if !attributeKey.MatchString(a.AttributeKey) {
			v.Add(f+"attribute_key", "must be a custom attribute key: a lower-case letter, then letters, digits or \"_\", up to 64")
		}
		if utf8.RuneCountInString(a.ValueTemplate) > maxValueTemplate {
			v.Add(f+"value_template", "must be at most %d characters", maxValueTemplate)
		} else if err := checkTemplate(a.ValueTemplate); err != nil {
			v.Add(f+"value_template", "%s", err.Error())
		}
		refuseOwnEvent(r, CustomerUpdated, v)
	case AddToCampaign:
		if a.CampaignID == uuid.Nil {
			v.Add(f+"campaign_id", "is required")
		}
		refuseOwnEvent(r, CampaignMemberAdded, v)
	}
	needCustomerEvents(r, f, v)
}

// RequestID is the idempotency key of the action at index of rule for
// event: the same on every retry, and different for every action.
func RequestID(ruleID, eventID uuid.UUID, index int) string {
	return uuid.NewSHA1(ruleID, []byte(eventID.String()+"/"+strconv.Itoa(index))).String()
}

// Store is what the use cases need of storage.
type Store interface {
	Create(ctx context.Context, caller auth.Caller, r Rule, requestID string) (Rule, error)
	Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Rule, error)
	List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error)
	// Update locks the rule, lets change edit it, and saves the next version.
	Update(ctx context.Context, caller auth.Caller, id uuid.UUID, change func(*Rule) error) (Rule, error)
	Delete(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) error
	// Matching returns which of the tenant's limit most recent events r
	// matches, newest first, and how many it tried.
	Matching(ctx context.Context, caller auth.Caller, r Rule, limit int) ([]Event, int, error)
	Executions(ctx context.Context, caller auth.Caller, id uuid.UUID, q ListQuery) (ExecutionPage, error)
	// QueueRun queues a manual run of a scheduled, enabled rule with no
	// run in progress.
	QueueRun(ctx context.Context, caller auth.Caller, id uuid.UUID) (Run, error)
	Runs(ctx context.Context, caller auth.Caller, id uuid.UUID, q ListQuery) (RunPage, error)
}

// Who may do what: rules act for the whole tenant.
var (
	readers = []auth.Role{auth.RoleAdmin, auth.RoleAnalyst}
	writers = []auth.Role{auth.RoleAdmin}
)

// updatable are the fields UpdateRule may change.
var updatable = []string{"display_name", "event_types", "filter", "actions", "enabled", "max_executions_per_minute", "schedule", "selection"}

// Service holds the rule use cases.
type Service struct {
	store    Store
	selector Selector
	email    bool
}

// New returns a Service over store; selector reads scheduled rules'
// selections for dry runs, and email says whether the operator set an SMTP
// relay, without which e-mail actions are refused.
func New(store Store, selector Selector, email bool) *Service {
	return &Service{store: store, selector: selector, email: email}
}

// checkEmail refuses e-mail actions when no relay is configured.
func (s *Service) checkEmail(r Rule) error {
	for _, a := range r.Actions {
		if a.Kind == SendEmail && !s.email {
			return ErrEmailNotConfigured
		}
	}
	return nil
}

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

func pageSize(n int) (int, error) {
	if n < 0 {
		return 0, validation.Field("page_size", "must not be negative")
	}
	if n == 0 {
		return defaultPageSize, nil
	}
	return min(n, maxPageSize), nil
}

// Create validates and stores a rule as its version 1.
func (s *Service) Create(ctx context.Context, caller auth.Caller, r Rule, requestID string) (Rule, error) {
	if err := allow(caller, writers); err != nil {
		return Rule{}, err
	}
	v := &validation.Error{}
	validate(&r, v)
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Rule{}, err
	}
	if err := s.checkEmail(r); err != nil {
		return Rule{}, err
	}
	r.ID = uuid.Must(uuid.NewV7())
	return s.store.Create(ctx, caller, r, requestID)
}

// Get returns a rule.
func (s *Service) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Rule, error) {
	if err := allow(caller, readers); err != nil {
		return Rule{}, err
	}
	return s.store.Get(ctx, caller, id)
}

// List returns a page of rules, newest first.
func (s *Service) List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error) {
	if err := allow(caller, readers); err != nil {
		return Page{}, err
	}
	var err error
	if q.PageSize, err = pageSize(q.PageSize); err != nil {
		return Page{}, err
	}
	return s.store.List(ctx, caller, q)
}

// Update changes the fields in mask, making the rule's next version.
func (s *Service) Update(ctx context.Context, caller auth.Caller, in Rule, mask []string, etag string) (Rule, error) {
	if err := allow(caller, writers); err != nil {
		return Rule{}, err
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
	if err := v.Err(); err != nil {
		return Rule{}, err
	}
	return s.store.Update(ctx, caller, in.ID, func(r *Rule) error {
		if etag != "" && etag != r.Etag() {
			return ErrEtagMismatch
		}
		for _, f := range mask {
			switch f {
			case "display_name":
				r.DisplayName = in.DisplayName
			case "event_types":
				r.EventTypes = in.EventTypes
			case "filter":
				r.Filter = in.Filter
			case "actions":
				r.Actions = in.Actions
			case "enabled":
				r.Enabled = in.Enabled
			case "max_executions_per_minute":
				r.RateLimit = in.RateLimit
			case "schedule":
				r.Schedule = in.Schedule
			case "selection":
				r.Selection = in.Selection
			}
		}
		v := &validation.Error{}
		validate(r, v)
		if err := v.Err(); err != nil {
			return err
		}
		return s.checkEmail(*r)
	})
}

// Delete removes a rule and its log.
func (s *Service) Delete(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) error {
	if err := allow(caller, writers); err != nil {
		return err
	}
	return s.store.Delete(ctx, caller, id, etag)
}

// DryRun evaluates r against the tenant's limit most recent events and
// says what it would have done; a scheduled rule, against the first page of
// its selection (at most limit resources). Nothing changes.
func (s *Service) DryRun(ctx context.Context, caller auth.Caller, r Rule, limit int) ([]Match, int, error) {
	if err := allow(caller, writers); err != nil {
		return nil, 0, err
	}
	v := &validation.Error{}
	validate(&r, v)
	switch {
	case limit < 0 || limit > maxDryRun:
		v.Add("event_limit", "must be between 0 and %d", maxDryRun)
	case limit == 0:
		limit = defaultDryRun
	}
	if err := v.Err(); err != nil {
		return nil, 0, err
	}
	if r.Scheduled() {
		return s.dryRunScheduled(ctx, caller, r, limit)
	}
	events, tried, err := s.store.Matching(ctx, caller, r, limit)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Match, len(events))
	for i, e := range events {
		out[i].Event = e
		for _, a := range r.Actions {
			out[i].Actions = append(out[i].Actions, Describe(a, e))
		}
	}
	return out, tried, nil
}

// Executions returns a page of a rule's log, newest first.
func (s *Service) Executions(ctx context.Context, caller auth.Caller, id uuid.UUID, q ListQuery) (ExecutionPage, error) {
	if err := allow(caller, readers); err != nil {
		return ExecutionPage{}, err
	}
	var err error
	if q.PageSize, err = pageSize(q.PageSize); err != nil {
		return ExecutionPage{}, err
	}
	if _, err := s.store.Get(ctx, caller, id); err != nil {
		return ExecutionPage{}, err
	}
	return s.store.Executions(ctx, caller, id, q)
}
