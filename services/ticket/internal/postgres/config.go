package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/keyset"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/ticket/internal/bizclock"
	"github.com/rapportcrm/rapport/services/ticket/internal/protoconv"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

// interval is a working interval as stored in business_calendars.working_hours;
// its JSON names are the stored format.
type interval struct {
	Weekday int `json:"d"`
	Start   int `json:"s"`
	End     int `json:"e"`
}

func toIntervals(ivs []bizclock.Interval) []interval {
	out := make([]interval, len(ivs))
	for i, iv := range ivs {
		out[i] = interval{int(iv.Weekday), iv.Start, iv.End}
	}
	return out
}

func toDates(ds []bizclock.Date) []time.Time {
	out := make([]time.Time, len(ds))
	for i, d := range ds {
		out[i] = time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)
	}
	return out
}

const calendarColumns = `calendar_id, display_name, time_zone, working_hours, holidays, create_time, update_time, revision`

func scanCalendar(row pgx.CollectableRow) (ticket.Calendar, error) {
	var c ticket.Calendar
	var hours []interval
	var holidays []time.Time
	err := row.Scan(&c.ID, &c.DisplayName, &c.TimeZone, &hours, &holidays, &c.CreateTime, &c.UpdateTime, &c.Revision)
	c.Hours = make([]bizclock.Interval, len(hours))
	for i, h := range hours {
		c.Hours[i] = bizclock.Interval{Weekday: time.Weekday(h.Weekday), Start: h.Start, End: h.End}
	}
	c.Holidays = make([]bizclock.Date, len(holidays))
	for i, h := range holidays {
		c.Holidays[i] = bizclock.Date{Year: h.Year(), Month: h.Month(), Day: h.Day()}
	}
	return c, err
}

const insertCalendarSQL = `
INSERT INTO business_calendars (tenant_id, calendar_id, display_name, time_zone, working_hours, holidays, request_id)
VALUES ($1, $2, $3, $4, $5, $6, nullif($7, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + calendarColumns

const calendarByRequestSQL = `SELECT ` + calendarColumns + ` FROM business_calendars WHERE tenant_id = $1 AND request_id = $2`

// record writes a configuration change's event and audit row.
func record(ctx context.Context, tx pgx.Tx, caller auth.Caller, event, resource string, before, after proto.Message) error {
	return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: event,
		Resource: resource, Before: before, After: after})
}

// CreateCalendar implements ticket.ConfigStore.
func (s *Store) CreateCalendar(ctx context.Context, caller auth.Caller, c ticket.Calendar, requestID string) (ticket.Calendar, error) {
	var saved ticket.Calendar
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var inserted bool
		var err error
		saved, inserted, err = pgdb.InsertOnce(ctx, tx, insertCalendarSQL,
			[]any{caller.TenantID, c.ID, c.DisplayName, c.TimeZone, toIntervals(c.Hours), toDates(c.Holidays), requestID},
			calendarByRequestSQL, []any{caller.TenantID, requestID}, scanCalendar)
		if err != nil || !inserted {
			return err
		}
		return record(ctx, tx, caller, ticket.EventCalendarCreated, saved.Resource(), nil, protoconv.Calendar(saved))
	})
	if err != nil {
		return ticket.Calendar{}, fmt.Errorf("create calendar: %w", err)
	}
	return saved, nil
}

const calendarByIDSQL = `SELECT ` + calendarColumns + ` FROM business_calendars WHERE tenant_id = $1 AND calendar_id = $2`

// Calendar implements ticket.ConfigStore.
func (s *Store) Calendar(ctx context.Context, caller auth.Caller, id uuid.UUID) (ticket.Calendar, error) {
	c, err := pgdb.Row(ctx, s.pool, caller.TenantID, calendarByIDSQL, []any{caller.TenantID, id}, scanCalendar)
	if errors.Is(err, pgx.ErrNoRows) {
		return ticket.Calendar{}, ticket.ErrCalendarNotFound
	}
	if err != nil {
		return ticket.Calendar{}, fmt.Errorf("get calendar %s: %w", id, err)
	}
	return c, nil
}

var listCalendars = keyset.Query[ticket.Calendar]{
	Table: "business_calendars", Columns: calendarColumns, IDColumn: "calendar_id", Scan: scanCalendar,
	Key: func(c ticket.Calendar) (time.Time, uuid.UUID) { return c.CreateTime, c.ID },
}

// ListCalendars implements ticket.ConfigStore.
func (s *Store) ListCalendars(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) ([]ticket.Calendar, string, error) {
	return keyset.NewestFirst(ctx, s.pool, caller.TenantID, listCalendars, "", pageToken, pageSize)
}

const lockCalendarSQL = calendarByIDSQL + ` FOR UPDATE`

const saveCalendarSQL = `
UPDATE business_calendars SET display_name = $3, time_zone = $4, working_hours = $5, holidays = $6,
    revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND calendar_id = $2
RETURNING ` + calendarColumns

func lockCalendar(ctx context.Context, tx pgx.Tx, caller auth.Caller, id uuid.UUID) (ticket.Calendar, error) {
	rows, err := tx.Query(ctx, lockCalendarSQL, caller.TenantID, id)
	if err != nil {
		return ticket.Calendar{}, err
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanCalendar)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ticket.ErrCalendarNotFound
	}
	return c, err
}

// MutateCalendar implements ticket.ConfigStore.
func (s *Store) MutateCalendar(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(*ticket.Calendar) error) (ticket.Calendar, error) {
	var saved ticket.Calendar
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := lockCalendar(ctx, tx, caller, id)
		if err != nil {
			return err
		}
		c := before
		if err := m(&c); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, saveCalendarSQL, caller.TenantID, id, c.DisplayName, c.TimeZone, toIntervals(c.Hours), toDates(c.Holidays))
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanCalendar); err != nil {
			return err
		}
		return record(ctx, tx, caller, ticket.EventCalendarUpdated, saved.Resource(), protoconv.Calendar(before), protoconv.Calendar(saved))
	})
	if err != nil {
		return ticket.Calendar{}, fmt.Errorf("change calendar %s: %w", id, err)
	}
	return saved, nil
}

const deleteCalendarSQL = `DELETE FROM business_calendars WHERE tenant_id = $1 AND calendar_id = $2`

// DeleteCalendar implements ticket.ConfigStore.
func (s *Store) DeleteCalendar(ctx context.Context, caller auth.Caller, id uuid.UUID, check func(ticket.Calendar) error) error {
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := lockCalendar(ctx, tx, caller, id)
		if err != nil {
			return err
		}
		if err := check(before); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, deleteCalendarSQL, caller.TenantID, id); err != nil {
			if code, _, ok := pgdb.Constraint(err); ok && code == "23503" {
				return ticket.ErrCalendarInUse
			}
			return err
		}
		// The event's payload is the calendar as it was.
		return record(ctx, tx, caller, ticket.EventCalendarDeleted, before.Resource(), protoconv.Calendar(before), protoconv.Calendar(before))
	})
	if err != nil {
		return fmt.Errorf("delete calendar %s: %w", id, err)
	}
	return nil
}

const policyColumns = `policy_id, display_name, priority, customer_tier, calendar_id, first_response_target,
resolution_target, warning_percent, pause_on_hold, escalation_level, create_time, update_time, revision`

func scanPolicy(row pgx.CollectableRow) (ticket.Policy, error) {
	var p ticket.Policy
	var fr, res int64
	err := row.Scan(&p.ID, &p.DisplayName, &p.Priority, &p.CustomerTier, &p.CalendarID, &fr, &res,
		&p.WarningPercent, &p.PauseOnHold, &p.EscalationLevel, &p.CreateTime, &p.UpdateTime, &p.Revision)
	p.FirstResponseTarget, p.ResolutionTarget = fromMicros(fr), fromMicros(res)
	return p, err
}

const insertPolicySQL = `
INSERT INTO sla_policies (tenant_id, policy_id, display_name, priority, customer_tier, calendar_id, first_response_target,
    resolution_target, warning_percent, pause_on_hold, escalation_level, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, nullif($12, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + policyColumns

const policyByRequestSQL = `SELECT ` + policyColumns + ` FROM sla_policies WHERE tenant_id = $1 AND request_id = $2`

// policyError maps the constraints a policy write can break.
func policyError(err error) error {
	code, constraint, ok := pgdb.Constraint(err)
	switch {
	case ok && code == "23505" && constraint == "sla_policies_match":
		return ticket.ErrPolicyConflict
	case ok && code == "23503":
		return validation.Field("sla_policy.calendar_id", "no such business calendar")
	}
	return err
}

// CreatePolicy implements ticket.ConfigStore.
func (s *Store) CreatePolicy(ctx context.Context, caller auth.Caller, p ticket.Policy, requestID string) (ticket.Policy, error) {
	var saved ticket.Policy
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var inserted bool
		var err error
		saved, inserted, err = pgdb.InsertOnce(ctx, tx, insertPolicySQL,
			[]any{caller.TenantID, p.ID, p.DisplayName, p.Priority, p.CustomerTier, p.CalendarID, micros(p.FirstResponseTarget),
				micros(p.ResolutionTarget), p.WarningPercent, p.PauseOnHold, p.EscalationLevel, requestID},
			policyByRequestSQL, []any{caller.TenantID, requestID}, scanPolicy)
		if err != nil || !inserted {
			return policyError(err)
		}
		return record(ctx, tx, caller, ticket.EventPolicyCreated, saved.Resource(), nil, protoconv.Policy(saved))
	})
	if err != nil {
		return ticket.Policy{}, fmt.Errorf("create SLA policy: %w", err)
	}
	return saved, nil
}

const policyByIDSQL = `SELECT ` + policyColumns + ` FROM sla_policies WHERE tenant_id = $1 AND policy_id = $2`

// Policy implements ticket.ConfigStore.
func (s *Store) Policy(ctx context.Context, caller auth.Caller, id uuid.UUID) (ticket.Policy, error) {
	p, err := pgdb.Row(ctx, s.pool, caller.TenantID, policyByIDSQL, []any{caller.TenantID, id}, scanPolicy)
	if errors.Is(err, pgx.ErrNoRows) {
		return ticket.Policy{}, ticket.ErrPolicyNotFound
	}
	if err != nil {
		return ticket.Policy{}, fmt.Errorf("get SLA policy %s: %w", id, err)
	}
	return p, nil
}

// matchPolicySQL reads at most four rows of sla_policies_match.
const matchPolicySQL = `SELECT ` + policyColumns + ` FROM sla_policies
WHERE tenant_id = $1 AND customer_tier IN ($2, '') AND priority IN ($3, 0)
ORDER BY customer_tier = '', priority = 0
LIMIT 1`

// MatchPolicy implements ticket.ConfigStore.
func (s *Store) MatchPolicy(ctx context.Context, caller auth.Caller, priority ticket.Priority, tier string) (ticket.Policy, error) {
	p, err := pgdb.Row(ctx, s.pool, caller.TenantID, matchPolicySQL, []any{caller.TenantID, tier, priority}, scanPolicy)
	if errors.Is(err, pgx.ErrNoRows) {
		return ticket.Policy{}, ticket.ErrPolicyNotFound
	}
	if err != nil {
		return ticket.Policy{}, fmt.Errorf("match SLA policy: %w", err)
	}
	return p, nil
}

var listPolicies = keyset.Query[ticket.Policy]{
	Table: "sla_policies", Columns: policyColumns, IDColumn: "policy_id", Scan: scanPolicy,
	Key: func(p ticket.Policy) (time.Time, uuid.UUID) { return p.CreateTime, p.ID },
}

// ListPolicies implements ticket.ConfigStore.
func (s *Store) ListPolicies(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) ([]ticket.Policy, string, error) {
	return keyset.NewestFirst(ctx, s.pool, caller.TenantID, listPolicies, "", pageToken, pageSize)
}

const lockPolicySQL = policyByIDSQL + ` FOR UPDATE`

const savePolicySQL = `
UPDATE sla_policies SET display_name = $3, priority = $4, customer_tier = $5, calendar_id = $6,
    first_response_target = $7, resolution_target = $8, warning_percent = $9, pause_on_hold = $10,
    escalation_level = $11, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND policy_id = $2
RETURNING ` + policyColumns

func lockPolicy(ctx context.Context, tx pgx.Tx, caller auth.Caller, id uuid.UUID) (ticket.Policy, error) {
	rows, err := tx.Query(ctx, lockPolicySQL, caller.TenantID, id)
	if err != nil {
		return ticket.Policy{}, err
	}
	p, err := pgx.CollectExactlyOneRow(rows, scanPolicy)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, ticket.ErrPolicyNotFound
	}
	return p, err
}

// MutatePolicy implements ticket.ConfigStore.
func (s *Store) MutatePolicy(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(*ticket.Policy) error) (ticket.Policy, error) {
	var saved ticket.Policy
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := lockPolicy(ctx, tx, caller, id)
		if err != nil {
			return err
		}
		p := before
		if err := m(&p); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, savePolicySQL, caller.TenantID, id, p.DisplayName, p.Priority, p.CustomerTier, p.CalendarID,
			micros(p.FirstResponseTarget), micros(p.ResolutionTarget), p.WarningPercent, p.PauseOnHold, p.EscalationLevel)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanPolicy); err != nil {
			return policyError(err)
		}
		return record(ctx, tx, caller, ticket.EventPolicyUpdated, saved.Resource(), protoconv.Policy(before), protoconv.Policy(saved))
	})
	if err != nil {
		return ticket.Policy{}, fmt.Errorf("change SLA policy %s: %w", id, err)
	}
	return saved, nil
}

const deletePolicySQL = `DELETE FROM sla_policies WHERE tenant_id = $1 AND policy_id = $2`

// DeletePolicy implements ticket.ConfigStore.
func (s *Store) DeletePolicy(ctx context.Context, caller auth.Caller, id uuid.UUID, check func(ticket.Policy) error) error {
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := lockPolicy(ctx, tx, caller, id)
		if err != nil {
			return err
		}
		if err := check(before); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, deletePolicySQL, caller.TenantID, id); err != nil {
			return err
		}
		return record(ctx, tx, caller, ticket.EventPolicyDeleted, before.Resource(), protoconv.Policy(before), protoconv.Policy(before))
	})
	if err != nil {
		return fmt.Errorf("delete SLA policy %s: %w", id, err)
	}
	return nil
}

const settingsSQL = `SELECT reopen_window, partner_access, csat_survey_ttl, revision FROM ticket_settings WHERE tenant_id = $1`

func scanSettings(row pgx.CollectableRow) (ticket.Settings, error) {
	var st ticket.Settings
	var window, ttl int64
	err := row.Scan(&window, &st.PartnerAccess, &ttl, &st.Revision)
	st.ReopenWindow, st.CSATTTL = fromMicros(window), fromMicros(ttl)
	return st, err
}

// Settings implements ticket.ConfigStore.
func (s *Store) Settings(ctx context.Context, caller auth.Caller) (ticket.Settings, error) {
	st, err := pgdb.Row(ctx, s.pool, caller.TenantID, settingsSQL, []any{caller.TenantID}, scanSettings)
	if errors.Is(err, pgx.ErrNoRows) {
		return ticket.DefaultSettings(), nil
	}
	if err != nil {
		return ticket.Settings{}, fmt.Errorf("get ticket settings: %w", err)
	}
	return st, nil
}

// upsertSettingsSQL creates the row on first save; the lock of the
// ON CONFLICT update orders concurrent saves.
const upsertSettingsSQL = `
INSERT INTO ticket_settings AS s (tenant_id, reopen_window, partner_access, csat_survey_ttl) VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id) DO UPDATE SET reopen_window = excluded.reopen_window,
    partner_access = excluded.partner_access, csat_survey_ttl = excluded.csat_survey_ttl,
    revision = s.revision + 1, update_time = now()
RETURNING reopen_window, partner_access, csat_survey_ttl, revision`

const lockSettingsSQL = settingsSQL + ` FOR UPDATE`

// UpdateSettings implements ticket.ConfigStore.
func (s *Store) UpdateSettings(ctx context.Context, caller auth.Caller, m func(*ticket.Settings) error) (ticket.Settings, error) {
	var saved ticket.Settings
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockSettingsSQL, caller.TenantID)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanSettings)
		if errors.Is(err, pgx.ErrNoRows) {
			before = ticket.DefaultSettings()
		} else if err != nil {
			return err
		}
		st := before
		if err := m(&st); err != nil {
			return err
		}
		if rows, err = tx.Query(ctx, upsertSettingsSQL, caller.TenantID, micros(st.ReopenWindow), st.PartnerAccess, micros(st.CSATTTL)); err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanSettings); err != nil {
			return err
		}
		return record(ctx, tx, caller, ticket.EventSettingsUpdated, "ticketSettings", protoconv.Settings(before), protoconv.Settings(saved))
	})
	if err != nil {
		return ticket.Settings{}, fmt.Errorf("update ticket settings: %w", err)
	}
	return saved, nil
}
