package ticket

import (
	"context"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

func checkRequestID(requestID string) error {
	if utf8.RuneCountInString(requestID) > maxRequestID {
		return validation.Field("request_id", "must be at most %d characters", maxRequestID)
	}
	return nil
}

func checkMask(mask, updatable []string) error {
	v := &validation.Error{}
	if len(mask) == 0 {
		v.Add("update_mask", "must name at least one field")
	}
	for _, f := range mask {
		if !slices.Contains(updatable, f) {
			v.Add("update_mask", "%q cannot be updated; updatable fields: %v", f, updatable)
		}
	}
	return v.Err()
}

// CreateCalendar validates and stores a business calendar.
func (s *Service) CreateCalendar(ctx context.Context, caller auth.Caller, c Calendar, requestID string) (Calendar, error) {
	if err := allow(caller, configurers); err != nil {
		return Calendar{}, err
	}
	c.normalize()
	v := &validation.Error{}
	c.validate("business_calendar.", v)
	if err := v.Err(); err != nil {
		return Calendar{}, err
	}
	if err := checkRequestID(requestID); err != nil {
		return Calendar{}, err
	}
	c.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateCalendar(ctx, caller, c, requestID)
}

// Calendar returns a business calendar.
func (s *Service) Calendar(ctx context.Context, caller auth.Caller, id uuid.UUID) (Calendar, error) {
	if err := allow(caller, readers); err != nil {
		return Calendar{}, err
	}
	return s.store.Calendar(ctx, caller, id)
}

// ListCalendars returns a page of calendars, newest first.
func (s *Service) ListCalendars(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) ([]Calendar, string, error) {
	if err := allow(caller, readers); err != nil {
		return nil, "", err
	}
	size, err := pageSizeOf(pageSize)
	if err != nil {
		return nil, "", err
	}
	return s.store.ListCalendars(ctx, caller, size, pageToken)
}

var calendarUpdatable = []string{"display_name", "time_zone", "working_hours", "holidays"}

// UpdateCalendar changes the fields in mask.
func (s *Service) UpdateCalendar(ctx context.Context, caller auth.Caller, in Calendar, mask []string, etag string) (Calendar, error) {
	if err := allow(caller, configurers); err != nil {
		return Calendar{}, err
	}
	if err := checkMask(mask, calendarUpdatable); err != nil {
		return Calendar{}, err
	}
	return s.store.MutateCalendar(ctx, caller, in.ID, func(c *Calendar) error {
		if err := checkEtag(c.Etag(), etag); err != nil {
			return err
		}
		for _, f := range mask {
			switch f {
			case "display_name":
				c.DisplayName = in.DisplayName
			case "time_zone":
				c.TimeZone = in.TimeZone
			case "working_hours":
				c.Hours = in.Hours
			case "holidays":
				c.Holidays = in.Holidays
			}
		}
		c.normalize()
		v := &validation.Error{}
		c.validate("business_calendar.", v)
		return v.Err()
	})
}

// DeleteCalendar deletes a calendar that nothing uses.
func (s *Service) DeleteCalendar(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) error {
	if err := allow(caller, configurers); err != nil {
		return err
	}
	return s.store.DeleteCalendar(ctx, caller, id, func(c Calendar) error { return checkEtag(c.Etag(), etag) })
}

// CreatePolicy validates and stores an SLA policy.
func (s *Service) CreatePolicy(ctx context.Context, caller auth.Caller, p Policy, requestID string) (Policy, error) {
	if err := allow(caller, configurers); err != nil {
		return Policy{}, err
	}
	p.normalize()
	v := &validation.Error{}
	p.validate("sla_policy.", v)
	if err := v.Err(); err != nil {
		return Policy{}, err
	}
	if err := checkRequestID(requestID); err != nil {
		return Policy{}, err
	}
	p.ID = uuid.Must(uuid.NewV7())
	return s.store.CreatePolicy(ctx, caller, p, requestID)
}

// Policy returns an SLA policy.
func (s *Service) Policy(ctx context.Context, caller auth.Caller, id uuid.UUID) (Policy, error) {
	if err := allow(caller, readers); err != nil {
		return Policy{}, err
	}
	return s.store.Policy(ctx, caller, id)
}

// ListPolicies returns a page of policies, newest first.
func (s *Service) ListPolicies(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) ([]Policy, string, error) {
	if err := allow(caller, readers); err != nil {
		return nil, "", err
	}
	size, err := pageSizeOf(pageSize)
	if err != nil {
		return nil, "", err
	}
	return s.store.ListPolicies(ctx, caller, size, pageToken)
}

var policyUpdatable = []string{"display_name", "priority", "customer_tier", "calendar_id", "first_response_target",
	"resolution_target", "warning_percent", "pause_on_hold", "escalation_level"}

// UpdatePolicy changes the fields in mask; tickets keep the targets they
// were created with.
func (s *Service) UpdatePolicy(ctx context.Context, caller auth.Caller, in Policy, mask []string, etag string) (Policy, error) {
	if err := allow(caller, configurers); err != nil {
		return Policy{}, err
	}
	if err := checkMask(mask, policyUpdatable); err != nil {
		return Policy{}, err
	}
	return s.store.MutatePolicy(ctx, caller, in.ID, func(p *Policy) error {
		if err := checkEtag(p.Etag(), etag); err != nil {
			return err
		}
		for _, f := range mask {
			switch f {
			case "display_name":
				p.DisplayName = in.DisplayName
			case "priority":
				p.Priority = in.Priority
			case "customer_tier":
				p.CustomerTier = in.CustomerTier
			case "calendar_id":
				p.CalendarID = in.CalendarID
			case "first_response_target":
				p.FirstResponseTarget = in.FirstResponseTarget
			case "resolution_target":
				p.ResolutionTarget = in.ResolutionTarget
			case "warning_percent":
				p.WarningPercent = in.WarningPercent
			case "pause_on_hold":
				p.PauseOnHold = in.PauseOnHold
			case "escalation_level":
				p.EscalationLevel = in.EscalationLevel
			}
		}
		p.normalize()
		v := &validation.Error{}
		p.validate("sla_policy.", v)
		return v.Err()
	})
}

// DeletePolicy deletes an SLA policy; tickets keep their targets.
func (s *Service) DeletePolicy(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) error {
	if err := allow(caller, configurers); err != nil {
		return err
	}
	return s.store.DeletePolicy(ctx, caller, id, func(p Policy) error { return checkEtag(p.Etag(), etag) })
}

// Settings returns the tenant's help desk settings.
func (s *Service) Settings(ctx context.Context, caller auth.Caller) (Settings, error) {
	if err := allow(caller, readers); err != nil {
		return Settings{}, err
	}
	return s.store.Settings(ctx, caller)
}

// UpdateSettings changes the fields in mask (reopen_window, partner_access,
// csat_survey_ttl).
func (s *Service) UpdateSettings(ctx context.Context, caller auth.Caller, in Settings, mask []string, etag string) (Settings, error) {
	if err := allow(caller, configurers); err != nil {
		return Settings{}, err
	}
	if err := checkMask(mask, []string{"reopen_window", "partner_access", "csat_survey_ttl"}); err != nil {
		return Settings{}, err
	}
	in.ReopenWindow = in.ReopenWindow.Truncate(time.Second)
	in.CSATTTL = in.CSATTTL.Truncate(time.Second)
	v := &validation.Error{}
	if slices.Contains(mask, "reopen_window") && (in.ReopenWindow <= 0 || in.ReopenWindow > maxTarget) {
		v.Add("settings.reopen_window", "must be at least a second and at most %v", maxTarget)
	}
	if slices.Contains(mask, "csat_survey_ttl") && (in.CSATTTL < time.Hour || in.CSATTTL > maxTarget) {
		v.Add("settings.csat_survey_ttl", "must be at least an hour and at most %v", maxTarget)
	}
	if err := v.Err(); err != nil {
		return Settings{}, err
	}
	return s.store.UpdateSettings(ctx, caller, func(st *Settings) error {
		if err := checkEtag(st.Etag(), etag); err != nil {
			return err
		}
		for _, f := range mask {
			switch f {
			case "reopen_window":
				st.ReopenWindow = in.ReopenWindow
			case "partner_access":
				st.PartnerAccess = in.PartnerAccess
			case "csat_survey_ttl":
				st.CSATTTL = in.CSATTTL
			}
		}
		return nil
	})
}
