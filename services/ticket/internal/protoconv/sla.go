package protoconv

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/ticket/internal/bizclock"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

// The API numbers weekdays from Monday (1) to Sunday (7); Go from Sunday (0).
func weekdayOf(w ticketv1.Weekday) time.Weekday { return time.Weekday(int(w) % 7) }

func apiWeekday(w time.Weekday) ticketv1.Weekday {
	if w == time.Sunday {
		return ticketv1.Weekday_WEEKDAY_SUNDAY
	}
	return ticketv1.Weekday(w)
}

// Calendar renders a business calendar.
func Calendar(c ticket.Calendar) *ticketv1.BusinessCalendar {
	m := &ticketv1.BusinessCalendar{
		CalendarId: c.ID.String(), DisplayName: c.DisplayName, TimeZone: c.TimeZone,
		CreateTime: timestamppb.New(c.CreateTime), UpdateTime: timestamppb.New(c.UpdateTime), Etag: c.Etag(),
	}
	for _, iv := range c.Hours {
		m.WorkingHours = append(m.WorkingHours, &ticketv1.WorkingInterval{
			Weekday: apiWeekday(iv.Weekday), StartMinute: int32(iv.Start), EndMinute: int32(iv.End)})
	}
	for _, d := range c.Holidays {
		m.Holidays = append(m.Holidays, d.String())
	}
	return m
}

// FromCalendar reads the writable fields of a calendar; field paths start
// with prefix.
func FromCalendar(m *ticketv1.BusinessCalendar, prefix string) (ticket.Calendar, error) {
	v := &validation.Error{}
	c := ticket.Calendar{DisplayName: m.GetDisplayName(), TimeZone: m.GetTimeZone()}
	for i, iv := range m.GetWorkingHours() {
		if iv.GetWeekday() < ticketv1.Weekday_WEEKDAY_MONDAY || iv.GetWeekday() > ticketv1.Weekday_WEEKDAY_SUNDAY {
			v.Add(fieldf(prefix, "working_hours[%d].weekday", i), "must be a weekday")
		}
		c.Hours = append(c.Hours, bizclock.Interval{Weekday: weekdayOf(iv.GetWeekday()), Start: int(iv.GetStartMinute()), End: int(iv.GetEndMinute())})
	}
	for i, s := range m.GetHolidays() {
		d, ok := bizclock.ParseDate(s)
		if !ok {
			v.Add(fieldf(prefix, "holidays[%d]", i), "must be a date written YYYY-MM-DD")
		}
		c.Holidays = append(c.Holidays, d)
	}
	return c, v.Err()
}

// Policy renders an SLA policy.
func Policy(p ticket.Policy) *ticketv1.SlaPolicy {
	return &ticketv1.SlaPolicy{
		SlaPolicyId: p.ID.String(), DisplayName: p.DisplayName, Priority: ticketv1.Priority(p.Priority),
		CustomerTier: p.CustomerTier, CalendarId: p.CalendarID.String(),
		FirstResponseTarget: dur(p.FirstResponseTarget), ResolutionTarget: dur(p.ResolutionTarget),
		WarningPercent: p.WarningPercent, PauseOnHold: p.PauseOnHold, EscalationLevel: p.EscalationLevel,
		CreateTime: timestamppb.New(p.CreateTime), UpdateTime: timestamppb.New(p.UpdateTime), Etag: p.Etag(),
	}
}

// FromPolicy reads the writable fields of a policy; field paths start with
// prefix.
func FromPolicy(m *ticketv1.SlaPolicy, prefix string) (ticket.Policy, error) {
	v := &validation.Error{}
	p := ticket.Policy{
		DisplayName: m.GetDisplayName(), Priority: ticket.Priority(m.GetPriority()), CustomerTier: m.GetCustomerTier(),
		WarningPercent: m.GetWarningPercent(), PauseOnHold: m.GetPauseOnHold(), EscalationLevel: m.GetEscalationLevel(),
	}
	if _, ok := ticketv1.Priority_name[int32(m.GetPriority())]; !ok {
		v.Add(prefix+"priority", "unknown value %d", m.GetPriority())
	}
	p.CalendarID = optionalID(m.GetCalendarId(), prefix+"calendar_id", v)
	p.FirstResponseTarget = duration(m.GetFirstResponseTarget(), prefix+"first_response_target", v)
	p.ResolutionTarget = duration(m.GetResolutionTarget(), prefix+"resolution_target", v)
	return p, v.Err()
}
