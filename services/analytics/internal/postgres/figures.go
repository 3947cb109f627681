package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

// figureSource is how one metric is computed: the rows it reads and how it
// aggregates them. $1 is the tenant and [$2, $3) the time range; percentile
// metrics read the percentile as a fraction from $4.
type figureSource struct {
	from   string
	tenant string
	// time is the column the range applies to; empty when from applies it.
	time  string
	where string
	value string
	// currency is set for money metrics.
	currency string
	dims     map[analytics.Dimension]string
	fields   map[string]sqlfilter.Field
	// product joins the opportunity's products, when grouped by product.
	product string
	// money are the minor-unit amount columns value reads as {m0}, {m1}…,
	// in the currency column, and day is the date they are converted on.
	money []string
	day   string
	// reportFrom replaces from, in the reporting currency, for a source
	// that converts inside it (with reportCurrency as the $ placeholder
	// {rc}); reportOK says which of its rows were converted.
	reportFrom, reportOK string
}

// month renders a timestamptz column as its UTC calendar month.
func month(col string) string { return "to_char(" + col + " AT TIME ZONE 'UTC', 'YYYY-MM')" }

// dateTime turns a date column into the timestamptz of its UTC midnight.
func dateTime(col string) string { return "(" + col + "::timestamp AT TIME ZONE 'UTC')" }

var (
	dealFields = map[string]sqlfilter.Field{
		"owner_id": {Column: "o.owner_id"}, "partner_id": {Column: "o.partner_id"}, "campaign_id": {Column: "o.campaign_id"},
		"stage_id": {Column: "o.stage_id"}, "currency_code": {Column: "o.currency_code"},
		"product_id": {Column: "o.product_ids", Kind: sqlfilter.StringArray},
	}
	ticketFields = map[string]sqlfilter.Field{
		"channel":     {Column: "t.channel", Kind: sqlfilter.Enum, Enum: ticketv1.Channel_value},
		"priority":    {Column: "t.priority", Kind: sqlfilter.Enum, Enum: ticketv1.Priority_value},
		"assignee_id": {Column: "t.assignee_id"}, "partner_id": {Column: "t.partner_id"},
	}
)

func dealDims(timeCol string) map[analytics.Dimension]string {
	return map[analytics.Dimension]string{
		analytics.DimensionOwner: "o.owner_id", analytics.DimensionProduct: "coalesce(p.product_id, '')",
		analytics.DimensionPartner: "o.partner_id", analytics.DimensionCampaign: "o.campaign_id",
		analytics.DimensionMonth: month(timeCol),
	}
}

func ticketDims(timeCol string) map[analytics.Dimension]string {
	return map[analytics.Dimension]string{
		analytics.DimensionChannel: "t.channel::text", analytics.DimensionAgent: "t.assignee_id",
		analytics.DimensionPriority: "t.priority::text", analytics.DimensionPartner: "t.partner_id",
		analytics.DimensionMonth: month(timeCol),
	}
}

func deals(timeCol, where, value, currency string) figureSource {
	return figureSource{from: "opportunity_state o", tenant: "o.tenant_id = $1 AND NOT o.deleted", time: timeCol, where: where,
		value: value, currency: currency, dims: dealDims(timeCol), fields: dealFields,
		product: " LEFT JOIN LATERAL unnest(o.product_ids) AS p(product_id) ON true"}
}

func tickets(timeCol, where, value string) figureSource {
	return figureSource{from: "ticket_state t", tenant: "t.tenant_id = $1", time: timeCol, where: where, value: value,
		dims: ticketDims(timeCol), fields: ticketFields}
}

// hours is the percentile, in hours, of the time from a ticket's creation to col.
func hours(col string) string {
	return "percentile_cont($4::float8) WITHIN GROUP (ORDER BY extract(epoch FROM " + col + " - t.create_time) / 3600)"
}

const (
	csatFrom = `satisfaction_response s
    LEFT JOIN ticket_state t ON t.tenant_id = s.tenant_id AND t.ticket_id = s.ticket_id`
	// campaignFrom sums, per campaign, the opportunities attributed to it
	// and won in the range in the campaign's currency.
	campaignFrom = `(SELECT c.tenant_id, c.campaign_id, c.channel, c.currency_code, c.cost_minor, coalesce(w.amount, 0) AS won_minor
    FROM campaign_state c
    LEFT JOIN LATERAL (
        SELECT sum(o.amount_minor) AS amount FROM opportunity_state o
        WHERE o.tenant_id = c.tenant_id AND o.campaign_id = c.campaign_id AND o.stage_kind = 2 AND NOT o.deleted
          AND o.currency_code = c.currency_code AND o.close_time >= $2 AND o.close_time < $3) w ON true) c`
	// campaignReportFrom is campaignFrom in the reporting currency ({rc}):
	// every won opportunity of the campaign converted on its close date,
	// the cost on the range's last day; a campaign with any amount lacking
	// a rate is unconverted.
	campaignReportFrom = `(SELECT z.tenant_id, z.campaign_id, z.channel, z.currency_code, z.unconverted,
        CASE WHEN NOT z.unconverted THEN z.cost_minor END AS cost_minor,
        CASE WHEN NOT z.unconverted THEN z.won_minor END AS won_minor
    FROM (SELECT c.tenant_id, c.campaign_id, c.channel, c.currency_code, k.cost AS cost_minor, coalesce(w.amount, 0) AS won_minor,
            k.cost IS NULL OR coalesce(w.missing, 0) > 0 AS unconverted
        FROM campaign_state c
        CROSS JOIN LATERAL (SELECT fx_convert($1, c.cost_minor, c.currency_code, {rc},
            (($3::timestamptz AT TIME ZONE 'UTC') - interval '1 day')::date) AS cost) k
        LEFT JOIN LATERAL (
            SELECT sum(x.v) AS amount, count(*) FILTER (WHERE x.v IS NULL) AS missing
            FROM opportunity_state o
            CROSS JOIN LATERAL (SELECT fx_convert($1, o.amount_minor, o.currency_code, {rc},
                (o.close_time AT TIME ZONE 'UTC')::date) AS v) x
            WHERE o.tenant_id = c.tenant_id AND o.campaign_id = c.campaign_id AND o.stage_kind = 2 AND NOT o.deleted
              AND o.close_time >= $2 AND o.close_time < $3) w ON true) z) c`
)

// figureSources defines every metric; the API's Metric comments say the same in words.
var figureSources = map[analytics.Metric]figureSource{
	analytics.MetricOpportunitiesCreated: deals("o.create_time", "TRUE", "count(*)", ""),
	analytics.MetricWinRate:              deals("o.close_time", "o.stage_kind IN (2, 3)", "avg((o.stage_kind = 2)::int)", ""),
	analytics.MetricCycleTimeDays: deals("o.close_time", "o.stage_kind = 2",
		"avg((o.close_time AT TIME ZONE 'UTC')::date - coalesce(o.engage_date, (o.create_time AT TIME ZONE 'UTC')::date))", ""),
	analytics.MetricWonAmount: func() figureSource {
		s := deals("o.close_time", "o.stage_kind = 2", "sum({m0})", "o.currency_code")
		s.money, s.day = []string{"o.amount_minor"}, "(o.close_time AT TIME ZONE 'UTC')::date"
		return s
	}(),
	analytics.MetricFunnelConversion: func() figureSource {
		s := deals("o.create_time", "TRUE", "avg((o.stage_kind = 2)::int)", "")
		s.from += " JOIN opportunity_stage_reached r ON r.tenant_id = o.tenant_id AND r.opportunity_id = o.opportunity_id"
		s.dims[analytics.DimensionStage] = "r.stage_id"
		return s
	}(),
	analytics.MetricForecastAmount: func() figureSource {
		s := deals(dateTime("o.expected_close_date"), "o.stage_kind = 1 AND o.forecast_category <> 5", "sum({m0})", "o.currency_code")
		s.dims[analytics.DimensionForecastCategory] = "o.forecast_category::text"
		s.money, s.day = []string{"o.amount_minor"}, "o.expected_close_date"
		return s
	}(),
	analytics.MetricQuotaAttainment: {from: "quota_state q", tenant: "q.tenant_id = $1", time: dateTime("q.period_start"), where: "TRUE",
		value: "sum({m0})::float8 / nullif(sum({m1}), 0)", currency: "q.currency_code",
		money: []string{"q.attained_minor", "q.target_minor"}, day: "q.period_start",
		dims:   map[analytics.Dimension]string{analytics.DimensionOwner: "q.assignee", analytics.DimensionMonth: "to_char(q.period_start, 'YYYY-MM')"},
		fields: map[string]sqlfilter.Field{"assignee": {Column: "q.assignee"}, "currency_code": {Column: "q.currency_code"}}},
	analytics.MetricPipelineOpenCount: {from: "pipeline_snapshot s", tenant: "s.tenant_id = $1", time: "s.take_time", where: "TRUE",
		value: "(array_agg(s.opportunity_count ORDER BY s.take_time DESC))[1]",
		dims:  map[analytics.Dimension]string{analytics.DimensionMonth: month("s.take_time")}},
	analytics.MetricTicketsCreated: tickets("t.create_time", "TRUE", "count(*)"),
	analytics.MetricSLACompliance: tickets("t.resolve_time", "t.has_sla",
		"avg((NOT t.first_response_breached AND NOT t.resolution_breached)::int)"),
	analytics.MetricFirstResponseHours: tickets("t.first_response_time", "t.create_time IS NOT NULL", hours("t.first_response_time")),
	analytics.MetricResolutionHours:    tickets("t.resolve_time", "t.create_time IS NOT NULL", hours("t.resolve_time")),
	analytics.MetricCSATAverage: {from: csatFrom, tenant: "s.tenant_id = $1", time: "s.answer_time", where: "s.kind = 1",
		value: "avg(s.score)",
		dims: map[analytics.Dimension]string{
			analytics.DimensionChannel: "coalesce(t.channel, 0)::text", analytics.DimensionAgent: "coalesce(t.assignee_id, '')",
			analytics.DimensionPriority: "coalesce(t.priority, 0)::text", analytics.DimensionMonth: month("s.answer_time"),
		},
		fields: ticketFields},
	analytics.MetricNPS: {from: "satisfaction_response s", tenant: "s.tenant_id = $1", time: "s.answer_time", where: "s.kind = 2",
		value: "100 * (avg((s.score >= 9)::int) - avg((s.score <= 6)::int))",
		dims:  map[analytics.Dimension]string{analytics.DimensionMonth: month("s.answer_time")}},
	analytics.MetricDealRegistrations:            registrations("TRUE", "count(*)"),
	analytics.MetricDealRegistrationApprovalRate: registrations("d.state IN (3, 4)", "avg((d.state = 3)::int)"),
	analytics.MetricCampaignROI: {from: campaignFrom, tenant: "c.tenant_id = $1", where: "TRUE",
		value:    "(sum(c.won_minor) - sum(c.cost_minor))::float8 / nullif(sum(c.cost_minor), 0)",
		currency: "c.currency_code", reportFrom: campaignReportFrom, reportOK: "NOT c.unconverted",
		dims:   map[analytics.Dimension]string{analytics.DimensionCampaign: "c.campaign_id", analytics.DimensionCampaignChannel: "c.channel::text"},
		fields: map[string]sqlfilter.Field{"campaign_id": {Column: "c.campaign_id"}, "currency_code": {Column: "c.currency_code"}}},
}

func registrations(where, value string) figureSource {
	return figureSource{from: "deal_registration_state d", tenant: "d.tenant_id = $1", time: "d.create_time", where: where, value: value,
		dims:   map[analytics.Dimension]string{analytics.DimensionPartner: "d.partner_id", analytics.DimensionMonth: month("d.create_time")},
		fields: map[string]sqlfilter.Field{"partner_id": {Column: "d.partner_id"}, "currency_code": {Column: "d.currency_code"}}}
}

// enumNames renders the enum dimensions' numbers as the API's value names.
var enumNames = map[analytics.Dimension]map[int32]string{
	analytics.DimensionChannel:          ticketv1.Channel_name,
	analytics.DimensionPriority:         ticketv1.Priority_name,
	analytics.DimensionForecastCategory: pipelinev1.ForecastCategory_name,
	analytics.DimensionCampaignChannel:  pipelinev1.CampaignChannel_name,
}

// figuresSQL builds q's statement from its metric's source. Only the
// source's fixed fragments and the filter's parameterised condition go into
// the text; every value is an argument.
func figuresSQL(q analytics.FigureQuery, limit int) (string, []any, error) {
	src, ok := figureSources[q.Metric]
	if !ok {
		return "", nil, validation.Field("metric", "must be one of the Metric values")
	}
	args := []any{q.Start, q.End}
	if strings.Contains(src.value, "$4") {
		args = append(args, float64(q.Percentile)/100)
	}
	cond, err := sqlfilter.Translate(q.Filter, src.fields, len(args)+1)
	if err != nil {
		var fe *sqlfilter.Error
		if errors.As(err, &fe) {
			return "", nil, validation.Field("filter", "%s", fe.Reason)
		}
		return "", nil, err
	}
	args = append(args, cond.Args...)
	// In the reporting currency the source's amounts are converted once
	// per row (a lateral join) and rows without a rate are counted apart.
	value, from, count, unconverted := src.value, src.from, "count(*)", "0"
	currency := src.currency
	convert := src.currency != "" && q.ReportingCurrency != ""
	if convert {
		args = append(args, q.ReportingCurrency)
		rc := "$" + strconv.Itoa(len(args)+1)
		currency = rc + "::text"
		ok := src.reportOK
		if src.reportFrom != "" {
			from = strings.ReplaceAll(src.reportFrom, "{rc}", rc)
		} else {
			conv := make([]string, len(src.money))
			var oks []string
			for i, m := range src.money {
				conv[i] = fmt.Sprintf("fx_convert($1, %s, %s, %s, %s) AS m%d", m, src.currency, rc, src.day, i)
				oks = append(oks, fmt.Sprintf("fx.m%d IS NOT NULL", i))
			}
			from += " CROSS JOIN LATERAL (SELECT " + strings.Join(conv, ", ") + ") fx"
			ok = strings.Join(oks, " AND ")
			for i := range src.money {
				value = strings.ReplaceAll(value, fmt.Sprintf("{m%d}", i), fmt.Sprintf("CASE WHEN %s THEN fx.m%d END", ok, i))
			}
		}
		count = "count(*) FILTER (WHERE " + ok + ")"
		unconverted = "count(*) FILTER (WHERE NOT (" + ok + "))"
	} else {
		for i, m := range src.money {
			value = strings.ReplaceAll(value, fmt.Sprintf("{m%d}", i), m)
		}
	}
	keys := make([]string, len(q.GroupBy))
	for i, d := range q.GroupBy {
		expr, ok := src.dims[d]
		if !ok {
			return "", nil, validation.Field("group_by["+strconv.Itoa(i)+"]", "is not a dimension of this metric")
		}
		keys[i] = expr
	}
	if slices.Contains(q.GroupBy, analytics.DimensionProduct) {
		from += src.product
	}
	where := src.tenant + " AND " + src.where + " AND (" + cond.SQL + ")"
	if src.time != "" {
		where += " AND " + src.time + " >= $2 AND " + src.time + " < $3"
	}
	group := slices.Clone(keys)
	switch {
	case convert:
	case currency != "":
		group = append(group, currency)
	default:
		currency = "''"
	}
	groupBy := ""
	if len(group) > 0 {
		groupBy = "GROUP BY " + strings.Join(group, ", ")
	}
	sql := fmt.Sprintf(`SELECT ARRAY[%s]::text[], %s, coalesce((%s)::float8, 0), %s, %s
FROM %s
WHERE %s
%s
ORDER BY 1, 2
LIMIT %d`, strings.Join(keys, ", "), currency, value, count, unconverted, from, where, groupBy, limit+1)
	return sql, args, nil
}

func scanFigure(row pgx.CollectableRow) (analytics.FigureRow, error) {
	var r analytics.FigureRow
	err := row.Scan(&r.Keys, &r.CurrencyCode, &r.Value, &r.Count, &r.Unconverted)
	return r, err
}

// Figures implements analytics.FigureStore. The tenant is passed both as
// $1 and as the session's tenant, so row-level security and the indexes
// led by tenant_id both apply.
func (s *Store) Figures(ctx context.Context, tenant uuid.UUID, q analytics.FigureQuery, limit int) ([]analytics.FigureRow, error) {
	sql, args, err := figuresSQL(q, limit)
	if err != nil {
		return nil, err
	}
	rows, err := pgdb.Rows(ctx, s.pool, tenant.String(), sql, append([]any{tenant}, args...), scanFigure)
	if err != nil {
		return nil, fmt.Errorf("compute figures (metric %d): %w", q.Metric, err)
	}
	renamed := false
	for i, d := range q.GroupBy {
		names, ok := enumNames[d]
		if !ok {
			continue
		}
		renamed = true
		for _, r := range rows {
			if n, err := strconv.ParseInt(r.Keys[i], 10, 32); err == nil {
				r.Keys[i] = names[int32(n)]
			}
		}
	}
	if renamed {
		slices.SortStableFunc(rows, func(a, b analytics.FigureRow) int {
			if c := slices.Compare(a.Keys, b.Keys); c != 0 {
				return c
			}
			return strings.Compare(a.CurrencyCode, b.CurrencyCode)
		})
	}
	return rows, nil
}
