package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/marketing"
	"github.com/rapportcrm/rapport/services/pipeline/internal/protoconv"
)

// MarketingStore implements marketing.Store.
type MarketingStore struct{ *Store }

// Marketing returns the marketing store over the same pool.
func (s *Store) Marketing() MarketingStore { return MarketingStore{s} }

const campaignColumns = `campaign_id, display_name, channel, segment_id, currency_code, budget_minor, cost_minor,
to_char(start_date, 'YYYY-MM-DD'), to_char(end_date, 'YYYY-MM-DD'), create_time, update_time, revision`

func scanCampaign(row pgx.CollectableRow) (marketing.Campaign, error) {
	var c marketing.Campaign
	err := row.Scan(&c.ID, &c.DisplayName, &c.Channel, &c.SegmentID, &c.Budget.CurrencyCode, &c.Budget.AmountMinor, &c.CostMinor,
		&c.StartDate, &c.EndDate, &c.CreateTime, &c.UpdateTime, &c.Revision)
	return c, err
}

const insertCampaignSQL = `
INSERT INTO campaigns (tenant_id, campaign_id, display_name, channel, segment_id, currency_code, budget_minor, cost_minor,
    start_date, end_date, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::date, $10::text::date, nullif($11, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + campaignColumns

const campaignByRequestSQL = `SELECT ` + campaignColumns + ` FROM campaigns WHERE tenant_id = $1 AND request_id = $2`

const campaignByIDSQL = `SELECT ` + campaignColumns + ` FROM campaigns WHERE tenant_id = $1 AND campaign_id = $2`

// CreateCampaign implements marketing.Store.
func (s MarketingStore) CreateCampaign(ctx context.Context, caller auth.Caller, c marketing.Campaign, requestID string) (marketing.Campaign, error) {
	var saved marketing.Campaign
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var created bool
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertCampaignSQL,
			[]any{caller.TenantID, c.ID, c.DisplayName, c.Channel, c.SegmentID, c.Budget.CurrencyCode, c.Budget.AmountMinor, c.CostMinor,
				c.StartDate, c.EndDate, requestID},
			campaignByRequestSQL, []any{caller.TenantID, requestID}, scanCampaign)
		if err != nil || !created {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: marketing.EventCampaignCreated,
			Resource: saved.Resource(), After: protoconv.Campaign(saved),
		})
	})
	if err != nil {
		return marketing.Campaign{}, fmt.Errorf("create campaign: %w", err)
	}
	return saved, nil
}

// Campaign implements marketing.Store.
func (s MarketingStore) Campaign(ctx context.Context, caller auth.Caller, id uuid.UUID) (marketing.Campaign, error) {
	c, err := pgdb.Row(ctx, s.pool, caller.TenantID, campaignByIDSQL, []any{caller.TenantID, id}, scanCampaign)
	if errors.Is(err, pgx.ErrNoRows) {
		return marketing.Campaign{}, marketing.ErrCampaignNotFound
	}
	if err != nil {
		return marketing.Campaign{}, fmt.Errorf("get campaign %s: %w", id, err)
	}
	return c, nil
}

var campaigns = listing[marketing.Campaign]{
	table: "campaigns", columns: campaignColumns, idColumn: "campaign_id", scan: scanCampaign,
	id: func(c marketing.Campaign) uuid.UUID { return c.ID },
	fields: map[string]sqlfilter.Field{
		"channel":    {Column: "channel", Kind: sqlfilter.Enum, Enum: pipelinev1.CampaignChannel_value},
		"segment_id": {Column: "segment_id", Kind: sqlfilter.UUID},
		"start_date": {Column: "start_date", Kind: sqlfilter.Date},
	},
}

var newestFirst = sortKey[marketing.Campaign]{expr: "create_time", sqlType: "timestamptz", desc: true,
	key: func(c marketing.Campaign) string { return c.CreateTime.Format(time.RFC3339Nano) }}

// Campaigns implements marketing.Store.
func (s MarketingStore) Campaigns(ctx context.Context, caller auth.Caller, filter string, pageSize int, pageToken string) (marketing.CampaignPage, error) {
	rows, next, err := campaigns.page(ctx, s.pool, caller.TenantID, newestFirst, listRequest{filter: filter, pageToken: pageToken, pageSize: pageSize, query: filter})
	if err != nil {
		return marketing.CampaignPage{}, err
	}
	return marketing.CampaignPage{Campaigns: rows, NextPageToken: next}, nil
}

const lockCampaignSQL = `SELECT ` + campaignColumns + ` FROM campaigns WHERE tenant_id = $1 AND campaign_id = $2 FOR UPDATE`

const saveCampaignSQL = `
UPDATE campaigns SET display_name = $3, channel = $4, segment_id = $5, currency_code = $6, budget_minor = $7,
    cost_minor = $8, start_date = $9::text::date, end_date = $10::text::date, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND campaign_id = $2
RETURNING ` + campaignColumns

// MutateCampaign implements marketing.Store.
func (s MarketingStore) MutateCampaign(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(*marketing.Campaign) error) (marketing.Campaign, error) {
	var saved marketing.Campaign
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockCampaignSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanCampaign)
		if errors.Is(err, pgx.ErrNoRows) {
			return marketing.ErrCampaignNotFound
		}
		if err != nil {
			return err
		}
		c := before
		if err := m(&c); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, saveCampaignSQL, caller.TenantID, id, c.DisplayName, c.Channel, c.SegmentID, c.Budget.CurrencyCode,
			c.Budget.AmountMinor, c.CostMinor, c.StartDate, c.EndDate)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanCampaign); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: marketing.EventCampaignUpdated,
			Resource: saved.Resource(), Before: protoconv.Campaign(before), After: protoconv.Campaign(saved),
		})
	})
	if err != nil {
		return marketing.Campaign{}, fmt.Errorf("update campaign %s: %w", id, err)
	}
	return saved, nil
}

const addMembersSQL = `
INSERT INTO campaign_members (tenant_id, campaign_id, customer_id)
SELECT $1, $2, m FROM unnest($3::uuid[]) m
ON CONFLICT DO NOTHING`

const countMembersSQL = `SELECT count(*) FROM campaign_members WHERE tenant_id = $1 AND campaign_id = $2`

// AddMembers implements marketing.Store. The campaign's row lock orders
// concurrent syncs and their events.
func (s MarketingStore) AddMembers(ctx context.Context, caller auth.Caller, campaign uuid.UUID, customers []uuid.UUID) (int64, int64, error) {
	var added, total int64
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockCampaignSQL, caller.TenantID, campaign)
		if err != nil {
			return err
		}
		c, err := pgx.CollectExactlyOneRow(rows, scanCampaign)
		if errors.Is(err, pgx.ErrNoRows) {
			return marketing.ErrCampaignNotFound
		}
		if err != nil {
			return err
		}
		if customers == nil {
			customers = []uuid.UUID{}
		}
		tag, err := tx.Exec(ctx, addMembersSQL, caller.TenantID, campaign, customers)
		if err != nil {
			return err
		}
		added = tag.RowsAffected()
		if err := tx.QueryRow(ctx, countMembersSQL, caller.TenantID, campaign).Scan(&total); err != nil {
			return err
		}
		if added == 0 {
			return nil
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: marketing.EventMembersSynced,
			Resource: c.Resource(), After: &pipelinev1.SyncCampaignMembersResponse{Added: added, MemberCount: total},
		})
	})
	if err != nil {
		return 0, 0, fmt.Errorf("add members to campaign %s: %w", campaign, err)
	}
	return added, total, nil
}

const addMemberSQL = `
INSERT INTO campaign_members (tenant_id, campaign_id, customer_id) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING
RETURNING customer_id, add_time`

const memberSQL = `SELECT customer_id, add_time FROM campaign_members WHERE tenant_id = $1 AND campaign_id = $2 AND customer_id = $3`

// AddMember implements marketing.Store, under the campaign's row lock like
// AddMembers.
func (s MarketingStore) AddMember(ctx context.Context, caller auth.Caller, campaign, customer uuid.UUID, ended func(marketing.Campaign) bool) (marketing.Member, bool, error) {
	var (
		m     marketing.Member
		added bool
	)
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockCampaignSQL, caller.TenantID, campaign)
		if err != nil {
			return err
		}
		c, err := pgx.CollectExactlyOneRow(rows, scanCampaign)
		if errors.Is(err, pgx.ErrNoRows) {
			return marketing.ErrCampaignNotFound
		}
		if err != nil {
			return err
		}
		if rows, err = tx.Query(ctx, memberSQL, caller.TenantID, campaign, customer); err != nil {
			return err
		}
		if m, err = pgx.CollectExactlyOneRow(rows, scanMember); err == nil {
			return nil
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if ended(c) {
			return marketing.ErrCampaignEnded
		}
		if rows, err = tx.Query(ctx, addMemberSQL, caller.TenantID, campaign, customer); err != nil {
			return err
		}
		if m, err = pgx.CollectExactlyOneRow(rows, scanMember); err != nil {
			return err
		}
		added = true
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: marketing.EventMemberAdded,
			Resource: c.Resource(), After: protoconv.CampaignMember(campaign.String(), m),
		})
	})
	if err != nil {
		return marketing.Member{}, false, fmt.Errorf("add customer %s to campaign %s: %w", customer, campaign, err)
	}
	return m, added, nil
}

type memberCursor struct {
	ID uuid.UUID `json:"c"`
}

const membersSQL = `
SELECT customer_id, add_time FROM campaign_members
WHERE tenant_id = $1 AND campaign_id = $2 AND customer_id > $3
ORDER BY customer_id LIMIT $4`

func scanMember(row pgx.CollectableRow) (marketing.Member, error) {
	var m marketing.Member
	err := row.Scan(&m.CustomerID, &m.AddTime)
	return m, err
}

// Members implements marketing.Store, by customer id on the primary key.
func (s MarketingStore) Members(ctx context.Context, caller auth.Caller, campaign uuid.UUID, pageSize int, pageToken string) (marketing.MemberPage, error) {
	if _, err := s.Campaign(ctx, caller, campaign); err != nil {
		return marketing.MemberPage{}, err
	}
	var cur memberCursor
	if err := decodeToken(pageToken, "members|"+campaign.String(), &cur); err != nil {
		return marketing.MemberPage{}, err
	}
	rows, err := pgdb.Rows(ctx, s.pool, caller.TenantID, membersSQL, []any{caller.TenantID, campaign, cur.ID, pageSize + 1}, scanMember)
	if err != nil {
		return marketing.MemberPage{}, fmt.Errorf("list members of campaign %s: %w", campaign, err)
	}
	if len(rows) <= pageSize {
		return marketing.MemberPage{Members: rows}, nil
	}
	rows = rows[:pageSize]
	next, err := encodeToken("members|"+campaign.String(), memberCursor{ID: rows[pageSize-1].CustomerID})
	return marketing.MemberPage{Members: rows, NextPageToken: next}, err
}

const responseColumns = `response_id, campaign_id, customer_id, kind, respond_time`

func scanResponse(row pgx.CollectableRow) (marketing.Response, error) {
	var r marketing.Response
	err := row.Scan(&r.ID, &r.CampaignID, &r.CustomerID, &r.Kind, &r.RespondTime)
	return r, err
}

const insertResponseSQL = `
INSERT INTO campaign_responses (tenant_id, campaign_id, response_id, customer_id, kind, respond_time, request_id)
VALUES ($1, $2, $3, $4, $5, $6, nullif($7, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + responseColumns

const responseByRequestSQL = `SELECT ` + responseColumns + ` FROM campaign_responses WHERE tenant_id = $1 AND request_id = $2`

// CreateResponse implements marketing.Store.
func (s MarketingStore) CreateResponse(ctx context.Context, caller auth.Caller, r marketing.Response, requestID string) (marketing.Response, error) {
	var saved marketing.Response
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var created bool
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertResponseSQL,
			[]any{caller.TenantID, r.CampaignID, r.ID, r.CustomerID, r.Kind, r.RespondTime, requestID},
			responseByRequestSQL, []any{caller.TenantID, requestID}, scanResponse)
		if err != nil || !created {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: marketing.EventResponseRecorded,
			Resource: "campaigns/" + saved.CampaignID.String() + "/responses/" + saved.ID.String(), After: protoconv.CampaignResponse(saved),
		})
	})
	if code, _, ok := pgdb.Constraint(err); ok && code == "23503" {
		return marketing.Response{}, marketing.ErrCampaignNotFound
	}
	if err != nil {
		return marketing.Response{}, fmt.Errorf("record campaign response: %w", err)
	}
	return saved, nil
}

var responses = listing[marketing.Response]{
	table: "campaign_responses", columns: responseColumns, idColumn: "response_id", scan: scanResponse,
	id: func(r marketing.Response) uuid.UUID { return r.ID },
}

var responseOrder = sortKey[marketing.Response]{expr: "respond_time", sqlType: "timestamptz",
	key: func(r marketing.Response) string { return r.RespondTime.Format(time.RFC3339Nano) }}

// Responses implements marketing.Store.
func (s MarketingStore) Responses(ctx context.Context, caller auth.Caller, campaign uuid.UUID, pageSize int, pageToken string) (marketing.ResponsePage, error) {
	if _, err := s.Campaign(ctx, caller, campaign); err != nil {
		return marketing.ResponsePage{}, err
	}
	rows, next, err := responses.page(ctx, s.pool, caller.TenantID, responseOrder, listRequest{pageToken: pageToken, pageSize: pageSize,
		where: []string{"campaign_id = $2"}, args: []any{campaign}, query: campaign.String()})
	if err != nil {
		return marketing.ResponsePage{}, err
	}
	return marketing.ResponsePage{Responses: rows, NextPageToken: next}, nil
}

const offerColumns = `offer_id, display_name, campaign_id, segment_ids, value_tiers, discount_bps,
to_char(start_date, 'YYYY-MM-DD'), to_char(end_date, 'YYYY-MM-DD'), create_time, revision`

func scanOffer(row pgx.CollectableRow) (marketing.Offer, error) {
	var o marketing.Offer
	err := row.Scan(&o.ID, &o.DisplayName, &o.CampaignID, &o.SegmentIDs, &o.ValueTiers, &o.DiscountBps, &o.StartDate, &o.EndDate,
		&o.CreateTime, &o.Revision)
	return o, err
}

const insertOfferSQL = `
INSERT INTO offers (tenant_id, offer_id, display_name, campaign_id, segment_ids, value_tiers, discount_bps, start_date, end_date, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::date, $9::text::date, nullif($10, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + offerColumns

const offerByRequestSQL = `SELECT ` + offerColumns + ` FROM offers WHERE tenant_id = $1 AND request_id = $2`

// CreateOffer implements marketing.Store.
func (s MarketingStore) CreateOffer(ctx context.Context, caller auth.Caller, o marketing.Offer, requestID string) (marketing.Offer, error) {
	var saved marketing.Offer
	segments, tiers := memberIDs(o.SegmentIDs), o.ValueTiers
	if tiers == nil {
		tiers = []string{}
	}
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var created bool
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertOfferSQL,
			[]any{caller.TenantID, o.ID, o.DisplayName, o.CampaignID, segments, tiers, o.DiscountBps, o.StartDate, o.EndDate, requestID},
			offerByRequestSQL, []any{caller.TenantID, requestID}, scanOffer)
		if err != nil || !created {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: marketing.EventOfferCreated,
			Resource: saved.Resource(), After: protoconv.Offer(saved),
		})
	})
	if code, constraint, ok := pgdb.Constraint(err); ok && code == "23503" && constraint == "offers_campaign" {
		return marketing.Offer{}, fmt.Errorf("create offer: %w", errNoCampaign("offer.campaign_id"))
	}
	if err != nil {
		return marketing.Offer{}, fmt.Errorf("create offer: %w", err)
	}
	return saved, nil
}

var offers = listing[marketing.Offer]{
	table: "offers", columns: offerColumns, idColumn: "offer_id", scan: scanOffer,
	id: func(o marketing.Offer) uuid.UUID { return o.ID },
	fields: map[string]sqlfilter.Field{
		"campaign_id": {Column: "campaign_id", Kind: sqlfilter.UUID},
	},
}

var offerOrder = sortKey[marketing.Offer]{expr: "create_time", sqlType: "timestamptz", desc: true,
	key: func(o marketing.Offer) string { return o.CreateTime.Format(time.RFC3339Nano) }}

// Offers implements marketing.Store.
func (s MarketingStore) Offers(ctx context.Context, caller auth.Caller, filter string, pageSize int, pageToken string) (marketing.OfferPage, error) {
	rows, next, err := offers.page(ctx, s.pool, caller.TenantID, offerOrder, listRequest{filter: filter, pageToken: pageToken, pageSize: pageSize, query: filter})
	if err != nil {
		return marketing.OfferPage{}, err
	}
	return marketing.OfferPage{Offers: rows, NextPageToken: next}, nil
}

// roiSQL attributes live opportunities to the campaign ($2) by the model
// ($3): explicitly by campaign_id, or by the first or last response of
// their customer at or before their creation; only customers who responded
// to the campaign are candidates for the touch models.
const roiSQL = `
WITH c AS (SELECT currency_code, cost_minor FROM campaigns WHERE tenant_id = $1 AND campaign_id = $2),
attributed AS (
    SELECT o.stage_kind, o.currency_code, o.amount_minor
    FROM opportunities o
    WHERE $3 = 1 AND o.tenant_id = $1 AND o.campaign_id = $2 AND o.delete_time IS NULL
    UNION ALL
    SELECT o.stage_kind, o.currency_code, o.amount_minor
    FROM opportunities o
    WHERE $3 IN (2, 3) AND o.tenant_id = $1 AND o.delete_time IS NULL
      AND o.customer_id IN (SELECT customer_id FROM campaign_responses WHERE tenant_id = $1 AND campaign_id = $2)
      AND (SELECT r.campaign_id FROM campaign_responses r
           WHERE r.tenant_id = o.tenant_id AND r.customer_id = o.customer_id AND r.respond_time <= o.create_time
           ORDER BY CASE WHEN $3 = 2 THEN r.respond_time END, CASE WHEN $3 = 3 THEN r.respond_time END DESC, r.response_id
           LIMIT 1) = $2)
SELECT c.currency_code, c.cost_minor, count(a.stage_kind),
    count(a.stage_kind) FILTER (WHERE a.stage_kind = 2),
    coalesce(sum(a.amount_minor) FILTER (WHERE a.stage_kind = 2 AND a.currency_code = c.currency_code), 0)::bigint,
    count(a.stage_kind) FILTER (WHERE a.stage_kind = 2 AND a.currency_code <> c.currency_code)
FROM c LEFT JOIN attributed a ON true
GROUP BY c.currency_code, c.cost_minor`

// ROI implements marketing.Store.
func (s MarketingStore) ROI(ctx context.Context, caller auth.Caller, campaign uuid.UUID, model marketing.Model) (marketing.ROI, error) {
	r, err := pgdb.Row(ctx, s.pool, caller.TenantID, roiSQL, []any{caller.TenantID, campaign, model}, func(row pgx.CollectableRow) (marketing.ROI, error) {
		r := marketing.ROI{Model: model}
		err := row.Scan(&r.CurrencyCode, &r.CostMinor, &r.Attributed, &r.Won, &r.WonRevenueMinor, &r.OtherCurrencyWonCount)
		return r, err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return marketing.ROI{}, marketing.ErrCampaignNotFound
	}
	if err != nil {
		return marketing.ROI{}, fmt.Errorf("campaign %s roi: %w", campaign, err)
	}
	return r, nil
}

// decodeToken reads a page token bound to query into cur; empty leaves cur zero.
func decodeToken(token, query string, cur any) error {
	if token == "" {
		return nil
	}
	if err := pagetoken.Decode(token, query, cur); err != nil {
		return validation.Field("page_token", "is not a token from this query; start again without it")
	}
	return nil
}

// encodeToken makes the page token after cur.
func encodeToken(query string, cur any) (string, error) { return pagetoken.Encode(query, cur) }

// errNoCampaign is the violation of a reference to a missing campaign.
func errNoCampaign(field string) error { return validation.Field(field, "no such campaign") }
