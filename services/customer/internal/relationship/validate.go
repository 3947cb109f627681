package relationship

import (
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/validation"
)

// Limits on field sizes and values.
const (
	maxShort        = 300
	maxNotes        = 20000
	maxOutcome      = 4000
	maxParticipants = 50
	maxRequestID    = 64
	maxDuration     = 7 * 24 * time.Hour
	maxDelay        = 366 * 24 * time.Hour
	maxPageSize     = 1000
	defaultPageSize = 50
)

// eventTypeRE matches event types such as "ticket.created" or "customer.follow_up.completed".
var eventTypeRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

func checkLen(v *validation.Error, field, s string, limit int) {
	if utf8.RuneCountInString(s) > limit {
		v.Add(field, "must be at most %d characters", limit)
	}
}

func checkRequestID(v *validation.Error, requestID string) {
	checkLen(v, "request_id", requestID, maxRequestID)
}

// pageSize applies the default and the cap, reporting a negative size.
func pageSize(v *validation.Error, n int) int {
	switch {
	case n < 0:
		v.Add("page_size", "must not be negative")
	case n == 0:
		return defaultPageSize
	case n > maxPageSize:
		return maxPageSize
	}
	return n
}

// normalize trims the free-text fields and drops empty and repeated participants.
func (i *Interaction) normalize() {
	i.Channel = strings.TrimSpace(i.Channel)
	i.Subject = strings.TrimSpace(i.Subject)
	i.Outcome = strings.TrimSpace(i.Outcome)
	names := make([]string, 0, len(i.ParticipantNames))
	for _, n := range i.ParticipantNames {
		if n = strings.TrimSpace(n); n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	i.ParticipantNames = names
	i.ParticipantPrincipalIDs = dedupe(i.ParticipantPrincipalIDs)
	i.ParticipantCustomerIDs = dedupe(i.ParticipantCustomerIDs)
	if i.Location != nil {
		i.Location.Address = strings.TrimSpace(i.Location.Address)
	}
}

func (i Interaction) validate(prefix string, v *validation.Error) {
	if i.Kind < KindCall || i.Kind > KindNote {
		v.Add(prefix+"kind", "is required")
	}
	if i.Direction < DirectionInbound || i.Direction > DirectionInternal {
		v.Add(prefix+"direction", "is required")
	}
	if i.OccurTime.IsZero() {
		v.Add(prefix+"occur_time", "is required")
	}
	if i.Duration < 0 || i.Duration > maxDuration {
		v.Add(prefix+"duration", "must be between 0 and %s", maxDuration)
	}
	checkLen(v, prefix+"channel", i.Channel, maxShort)
	checkLen(v, prefix+"subject", i.Subject, maxShort)
	checkLen(v, prefix+"notes", i.Notes, maxNotes)
	checkLen(v, prefix+"outcome", i.Outcome, maxOutcome)
	if len(i.ParticipantPrincipalIDs) > maxParticipants {
		v.Add(prefix+"participant_principal_ids", "must hold at most %d ids", maxParticipants)
	}
	if len(i.ParticipantCustomerIDs) > maxParticipants {
		v.Add(prefix+"participant_customer_ids", "must hold at most %d ids", maxParticipants)
	}
	if len(i.ParticipantNames) > maxParticipants {
		v.Add(prefix+"participant_names", "must hold at most %d names", maxParticipants)
	}
	for _, n := range i.ParticipantNames {
		if utf8.RuneCountInString(n) > maxShort {
			v.Add(prefix+"participant_names", "each name must be at most %d characters", maxShort)
			break
		}
	}
	if l := i.Location; l != nil {
		if i.Kind != KindVisit {
			v.Add(prefix+"location", "is only for visits (INTERACTION_KIND_VISIT)")
		}
		if math.IsNaN(l.Latitude) || l.Latitude < -90 || l.Latitude > 90 {
			v.Add(prefix+"location.latitude", "must be between -90 and 90")
		}
		if math.IsNaN(l.Longitude) || l.Longitude < -180 || l.Longitude > 180 {
			v.Add(prefix+"location.longitude", "must be between -180 and 180")
		}
		checkLen(v, prefix+"location.address", l.Address, maxShort)
	}
}

func (f *FollowUp) normalize() {
	f.Title = strings.TrimSpace(f.Title)
}

func (f FollowUp) validate(prefix string, v *validation.Error) {
	if f.CustomerID == uuid.Nil {
		v.Add(prefix+"customer_id", "is required")
	}
	switch {
	case f.Title == "":
		v.Add(prefix+"title", "is required")
	default:
		checkLen(v, prefix+"title", f.Title, maxShort)
	}
	checkLen(v, prefix+"notes", f.Notes, maxNotes)
	if f.DueTime.IsZero() {
		v.Add(prefix+"due_time", "is required")
	}
	if f.RemindTime != nil && !f.DueTime.IsZero() && f.RemindTime.After(f.DueTime) {
		v.Add(prefix+"remind_time", "must not be after due_time")
	}
}

func (p *Plan) normalize() {
	p.DisplayName = strings.TrimSpace(p.DisplayName)
	p.EventType = strings.TrimSpace(p.EventType)
	p.Title = strings.TrimSpace(p.Title)
}

func (p Plan) validate(prefix string, v *validation.Error) {
	switch {
	case p.DisplayName == "":
		v.Add(prefix+"display_name", "is required")
	default:
		checkLen(v, prefix+"display_name", p.DisplayName, maxShort)
	}
	if p.Source.Name() == "" {
		v.Add(prefix+"event_source", "is required")
	}
	switch {
	case p.EventType == "":
		v.Add(prefix+"event_type", "is required")
	case len(p.EventType) > maxShort || !eventTypeRE.MatchString(p.EventType):
		v.Add(prefix+"event_type", "must be an event type such as ticket.created")
	case p.Source == SourceCustomer && strings.HasPrefix(p.EventType, "customer.follow_up."):
		// Plans create follow-ups; following their events would feed on itself.
		v.Add(prefix+"event_type", "follow-up events cannot trigger plans")
	}
	if p.Delay < 0 || p.Delay > maxDelay {
		v.Add(prefix+"delay", "must be between 0 and %s", maxDelay)
	}
	if p.RemindBefore < 0 || p.RemindBefore > maxDelay {
		v.Add(prefix+"remind_before", "must be between 0 and %s", maxDelay)
	}
	switch {
	case p.Title == "":
		v.Add(prefix+"title", "is required")
	default:
		checkLen(v, prefix+"title", p.Title, maxShort)
	}
	checkLen(v, prefix+"notes", p.Notes, maxNotes)
	switch p.AssigneeRule {
	case AssigneeFixed:
		if p.AssigneeID == nil {
			v.Add(prefix+"assignee_id", "is required with ASSIGNEE_RULE_FIXED")
		}
	case AssigneeCustomerOwner:
	default:
		v.Add(prefix+"assignee_rule", "is required")
	}
}

func dedupe(ids []uuid.UUID) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
