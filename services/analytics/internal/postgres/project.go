package postgres

import (
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

// The figures' projections. Like the state upserts, the last event applied
// wins, except where noted.

// opportunityFactsSQL runs after the opportunity's state upsert in the same batch.
const opportunityFactsSQL = `
UPDATE opportunity_state SET
    owner_id = $3, partner_id = $4, campaign_id = $5, stage_id = $6, stage_kind = $7, forecast_category = $8,
    product_ids = $9, engage_date = nullif($10, '')::date, expected_close_date = nullif($11, '')::date,
    create_time = $12, close_time = $13, deleted = $14
WHERE tenant_id = $1 AND opportunity_id = $2`

// stageReachedSQL keeps the first time an opportunity was seen in a stage.
const stageReachedSQL = `
INSERT INTO opportunity_stage_reached (tenant_id, opportunity_id, stage_id, stage_kind, enter_time)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (tenant_id, opportunity_id, stage_id) DO UPDATE SET
    stage_kind = EXCLUDED.stage_kind, enter_time = least(opportunity_stage_reached.enter_time, EXCLUDED.enter_time)`

const ticketFactsSQL = `
UPDATE ticket_state SET
    channel = $3, priority = $4, assignee_id = $5, partner_id = $6, has_sla = $7,
    first_response_breached = $8, resolution_breached = $9, create_time = $10, first_response_time = $11, resolve_time = $12
WHERE tenant_id = $1 AND ticket_id = $2`

const upsertSatisfactionSQL = `
INSERT INTO satisfaction_response (tenant_id, kind, response_key, score, ticket_id, customer_id, answer_time)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (tenant_id, kind, response_key) DO UPDATE SET
    score = EXCLUDED.score, ticket_id = EXCLUDED.ticket_id, customer_id = EXCLUDED.customer_id, answer_time = EXCLUDED.answer_time`

const upsertCampaignSQL = `
INSERT INTO campaign_state (tenant_id, campaign_id, channel, currency_code, cost_minor, update_time)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (tenant_id, campaign_id) DO UPDATE SET
    channel = EXCLUDED.channel, currency_code = EXCLUDED.currency_code, cost_minor = EXCLUDED.cost_minor,
    update_time = greatest(campaign_state.update_time, EXCLUDED.update_time)`

const upsertRegistrationSQL = `
INSERT INTO deal_registration_state (tenant_id, deal_registration_id, partner_id, state, currency_code, amount_minor, create_time, update_time)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (tenant_id, deal_registration_id) DO UPDATE SET
    partner_id = EXCLUDED.partner_id, state = EXCLUDED.state, currency_code = EXCLUDED.currency_code,
    amount_minor = EXCLUDED.amount_minor, update_time = greatest(deal_registration_state.update_time, EXCLUDED.update_time)`

const upsertQuotaSQL = `
INSERT INTO quota_state (tenant_id, quota_id, assignee, period_start, period_end, currency_code, target_minor, attained_minor, update_time)
VALUES ($1, $2, $3, $4::date, $5::date, $6, $7, $8, $9)
ON CONFLICT (tenant_id, quota_id) DO UPDATE SET
    assignee = EXCLUDED.assignee, period_start = EXCLUDED.period_start, period_end = EXCLUDED.period_end,
    currency_code = EXCLUDED.currency_code, target_minor = EXCLUDED.target_minor, attained_minor = EXCLUDED.attained_minor,
    update_time = greatest(quota_state.update_time, EXCLUDED.update_time)`

// upsertSnapshotSQL keeps the latest snapshot taken of a day.
const upsertSnapshotSQL = `
INSERT INTO pipeline_snapshot (tenant_id, snapshot_date, opportunity_count, take_time)
VALUES ($1, $2::date, $3, $4)
ON CONFLICT (tenant_id, snapshot_date) DO UPDATE SET
    opportunity_count = EXCLUDED.opportunity_count, take_time = EXCLUDED.take_time
WHERE EXCLUDED.take_time >= pipeline_snapshot.take_time`

// upsertRatesSQL stores a load of rates; a rate loaded again for the same
// pair and day replaces the earlier one, as in the pipeline service.
const upsertRatesSQL = `
INSERT INTO exchange_rate (tenant_id, base_currency, quote_currency, rate_date, rate)
SELECT $1, r.base, r.quote, r.day::date, r.rate::numeric
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS r (base, quote, day, rate)
ON CONFLICT (tenant_id, base_currency, quote_currency, rate_date) DO UPDATE SET rate = EXCLUDED.rate`

// upsertReportingSQL keeps the latest settings by their update time.
const upsertReportingSQL = `
INSERT INTO reporting_setting (tenant_id, reporting_currency, update_time) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id) DO UPDATE SET reporting_currency = EXCLUDED.reporting_currency, update_time = EXCLUDED.update_time
WHERE EXCLUDED.update_time >= reporting_setting.update_time`

// queueFigures adds e's figure projections to b, after e's state upserts.
func queueFigures(b *pgx.Batch, e analytics.Event) {
	if o := e.Opportunity; o != nil {
		f := o.Sales
		products := f.ProductIDs
		if products == nil {
			products = []string{}
		}
		b.Queue(opportunityFactsSQL, e.TenantID, o.ID, f.OwnerID, f.PartnerID, f.CampaignID, f.StageID, f.StageKind,
			f.ForecastCategory, products, f.EngageDate, f.ExpectedCloseDate, nullTime(f.CreateTime), nullTime(f.CloseTime), f.Deleted)
		if f.StageID != "" {
			enter := f.StageEnterTime
			if enter.IsZero() {
				enter = e.Time
			}
			b.Queue(stageReachedSQL, e.TenantID, o.ID, f.StageID, f.StageKind, enter)
		}
	}
	if t := e.Ticket; t != nil {
		f := t.Service
		b.Queue(ticketFactsSQL, e.TenantID, t.ID, f.Channel, f.Priority, f.AssigneeID, f.PartnerID, f.HasSLA,
			f.FirstResponseBreached, f.ResolutionBreached, nullTime(f.CreateTime), nullTime(f.FirstResponseTime), nullTime(f.ResolveTime))
	}
	if s := e.Satisfaction; s != nil {
		b.Queue(upsertSatisfactionSQL, e.TenantID, s.Kind, s.Key, s.Score, nullUUID(s.TicketID), nullUUID(s.CustomerID), s.AnswerTime)
	}
	if c := e.Campaign; c != nil {
		b.Queue(upsertCampaignSQL, e.TenantID, c.ID, c.Channel, c.Cost.CurrencyCode, c.Cost.AmountMinor, e.Time)
	}
	if r := e.DealRegistration; r != nil {
		b.Queue(upsertRegistrationSQL, e.TenantID, r.ID, r.PartnerID, r.State, r.Amount.CurrencyCode, r.Amount.AmountMinor, r.CreateTime, e.Time)
	}
	if q := e.Quota; q != nil {
		b.Queue(upsertQuotaSQL, e.TenantID, q.ID, q.Assignee, q.PeriodStart, q.PeriodEnd, q.Target.CurrencyCode,
			q.Target.AmountMinor, q.Attained.AmountMinor, e.Time)
	}
	if s := e.Snapshot; s != nil {
		b.Queue(upsertSnapshotSQL, e.TenantID, s.Date, s.OpportunityCount, s.TakeTime)
	}
	if len(e.Rates) > 0 {
		n := len(e.Rates)
		base, quote, day, rate := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		for i, r := range e.Rates {
			base[i], quote[i], day[i], rate[i] = r.Base, r.Quote, r.Date, r.Rate
		}
		b.Queue(upsertRatesSQL, e.TenantID, base, quote, day, rate)
	}
	if r := e.Reporting; r != nil {
		b.Queue(upsertReportingSQL, e.TenantID, r.ReportingCurrency, r.UpdateTime)
	}
	if x := e.Erasure; x != nil {
		for _, sql := range eraseSQL {
			b.Queue(sql, e.TenantID, x.CustomerID)
		}
		b.Queue(markErasedSQL, e.TenantID, x.CustomerID, e.Time)
	}
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nullUUID[T ~[16]byte](id T) *T {
	var zero T
	if id == zero {
		return nil
	}
	return &id
}

// resetFiguresSQL empties the figures' projections. Behaviour events came
// through the API, not from a stream, so a rebuild keeps them.
const resetFiguresSQL = `TRUNCATE opportunity_stage_reached, satisfaction_response, campaign_state, deal_registration_state,
    quota_state, pipeline_snapshot, exchange_rate, reporting_setting`

// markErasedSQL marks an erased customer deleted, so behaviour naming it
// is refused from now on, as for any deleted customer.
const markErasedSQL = `
INSERT INTO customer_state (tenant_id, customer_id, deleted, update_time) VALUES ($1, $2, true, $3)
ON CONFLICT (tenant_id, customer_id) DO UPDATE SET
    deleted = true, update_time = greatest(customer_state.update_time, EXCLUDED.update_time)`

// eraseSQL removes what the read model holds of an erased customer ($2):
// its profile (country, contract, tenure, charges, tier), segment
// memberships, interactions, follow-ups and loyalty, its web and app
// behaviour (its own events and those of every anonymous id stitched to
// it, and the stitches), and quarantined events whose payload carries its
// id (they may hold anything the event held). Kept, under the id alone:
// orders and their lines, opportunities, tickets, survey scores and offer
// outcomes (which carry no text), so revenue, cohorts, win rates, SLA,
// CSAT/NPS and offer acceptance stay right; the customer service keeps its
// anonymised record under the same id. Every statement is a delete, so a
// replayed erasure changes nothing more.
var eraseSQL = []string{
	`DELETE FROM customer_profile WHERE tenant_id = $1 AND customer_id = $2`,
	`DELETE FROM segment_membership WHERE tenant_id = $1 AND customer_id = $2`,
	`DELETE FROM interaction_fact WHERE tenant_id = $1 AND customer_id = $2`,
	`DELETE FROM follow_up_fact WHERE tenant_id = $1 AND customer_id = $2`,
	`DELETE FROM loyalty_fact WHERE tenant_id = $1 AND customer_id = $2`,
	`DELETE FROM behaviour_event e WHERE e.tenant_id = $1 AND (e.customer_id = $2 OR e.anonymous_id IN (
    SELECT i.anonymous_id FROM behaviour_identity i WHERE i.tenant_id = $1 AND i.customer_id = $2))`,
	`DELETE FROM behaviour_identity WHERE tenant_id = $1 AND customer_id = $2`,
	`DELETE FROM quarantined_events WHERE tenant_id = $1 AND position(convert_to($2::text, 'UTF8') IN payload) > 0`,
}
