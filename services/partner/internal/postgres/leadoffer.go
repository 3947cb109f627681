package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/keyset"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/services/partner/internal/leadoffer"
	"github.com/rapportcrm/rapport/services/partner/internal/partner"
	"github.com/rapportcrm/rapport/services/partner/internal/protoconv"
)

// LeadOffers implements leadoffer.Store.
type LeadOffers struct{ pool *pgxpool.Pool }

// LeadOffers returns the lead offer store on the same pool.
func (s *Store) LeadOffers() *LeadOffers { return &LeadOffers{pool: s.pool} }

const offerColumns = `lead_offer_id, lead_id, partner_id, state, region, industry, tier, expire_time,
coalesce(decide_time, 'epoch'), decided_by, decline_reason, offered_by, create_time, revision`

func scanOffer(row pgx.CollectableRow) (leadoffer.Offer, error) {
	var o leadoffer.Offer
	err := row.Scan(&o.ID, &o.LeadID, &o.PartnerID, &o.State, &o.Region, &o.Industry, &o.Tier, &o.ExpireTime,
		&o.DecideTime, &o.DecidedBy, &o.DeclineReason, &o.OfferedBy, &o.CreateTime, &o.Revision)
	if o.DecideTime.Equal(time.Unix(0, 0)) {
		o.DecideTime = time.Time{}
	}
	return o, err
}

const (
	// lockOffersSQL makes a tenant's offers one at a time, so two offers
	// cannot both take a partner's last unit of capacity.
	lockOffersSQL  = `SELECT pg_advisory_xact_lock(hashtextextended($1::text || '/lead_offers', 0))`
	offerByLeadSQL = `SELECT ` + offerColumns + ` FROM lead_offers WHERE tenant_id = $1 AND lead_id = $2 AND state IN (1, 2)`
	offerByRequest = `SELECT ` + offerColumns + ` FROM lead_offers WHERE tenant_id = $1 AND request_id = $2`
	// candidateSQL picks the partner: active, with a territory covering the
	// lead's region ($3) and industry ($4) (an empty side covers all), not
	// offered the lead ($2) before, under its tier's monthly capacity
	// (offers pending or accepted since $5); highest tier (by its band's
	// floor) first, then the fewest offers this month, then id.
	candidateSQL = `
WITH tiers AS (
    SELECT t->>'name' AS name, (t->>'min_revenue_minor')::bigint AS floor,
           coalesce((t->>'monthly_lead_capacity')::int, 0) AS capacity
    FROM tier_schedules s, jsonb_array_elements(s.tiers) t WHERE s.tenant_id = $1
), load AS (
    SELECT partner_id, count(*) AS n FROM lead_offers
    WHERE tenant_id = $1 AND create_time >= $5 AND state IN (1, 2) GROUP BY partner_id
)
SELECT p.partner_id, p.tier FROM partners p
LEFT JOIN tiers ON tiers.name = p.tier
LEFT JOIN load ON load.partner_id = p.partner_id
WHERE p.tenant_id = $1 AND p.status = $6
  AND EXISTS (SELECT 1 FROM jsonb_array_elements(p.territories) tr
              WHERE ($3 = '' OR coalesce(tr->>'region', '') IN ('', $3))
                AND ($4 = '' OR coalesce(tr->>'industry', '') IN ('', $4)))
  AND NOT EXISTS (SELECT 1 FROM lead_offers o WHERE o.tenant_id = $1 AND o.lead_id = $2 AND o.partner_id = p.partner_id)
  AND (coalesce(tiers.capacity, 0) = 0 OR coalesce(load.n, 0) < tiers.capacity)
ORDER BY tiers.floor DESC NULLS LAST, coalesce(load.n, 0), p.partner_id
LIMIT 1`
	insertOfferSQL = `
INSERT INTO lead_offers (tenant_id, lead_offer_id, lead_id, partner_id, state, region, industry, tier, expire_time, offered_by, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, nullif($11, ''))
RETURNING ` + offerColumns
)

// Offer implements leadoffer.Store.
func (s *LeadOffers) Offer(ctx context.Context, caller auth.Caller, r leadoffer.Request, now time.Time, requestID string) (leadoffer.Offer, error) {
	var saved leadoffer.Offer
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockOffersSQL, caller.TenantID); err != nil {
			return fmt.Errorf("lock offers: %w", err)
		}
		if requestID != "" {
			rows, err := tx.Query(ctx, offerByRequest, caller.TenantID, requestID)
			if err != nil {
				return err
			}
			earlier, err := pgx.CollectExactlyOneRow(rows, scanOffer)
			if err == nil {
				saved = earlier
				return nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		rows, err := tx.Query(ctx, offerByLeadSQL, caller.TenantID, r.LeadID)
		if err != nil {
			return err
		}
		if live, err := pgx.CollectExactlyOneRow(rows, scanOffer); err == nil {
			return fmt.Errorf("%w: offer %s to partner %s", leadoffer.ErrAlreadyOffered, live.ID, live.PartnerID)
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		month := time.Date(now.UTC().Year(), now.UTC().Month(), 1, 0, 0, 0, 0, time.UTC)
		var partnerID uuid.UUID
		var tier string
		err = tx.QueryRow(ctx, candidateSQL, caller.TenantID, r.LeadID, r.Region, r.Industry, month, partner.StatusActive).Scan(&partnerID, &tier)
		if errors.Is(err, pgx.ErrNoRows) {
			return leadoffer.ErrNoEligiblePartner
		}
		if err != nil {
			return fmt.Errorf("choose partner: %w", err)
		}
		rows, err = tx.Query(ctx, insertOfferSQL, caller.TenantID, uuid.Must(uuid.NewV7()), r.LeadID, partnerID, leadoffer.StatePending,
			r.Region, r.Industry, tier, now.Add(r.TTL), caller.PrincipalID, requestID)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanOffer); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: leadoffer.EventOffered,
			Resource: saved.Resource(), After: protoconv.LeadOffer(saved),
		})
	})
	if err != nil {
		return leadoffer.Offer{}, fmt.Errorf("offer lead %s: %w", r.LeadID, err)
	}
	return saved, nil
}

const offerByIDSQL = `SELECT ` + offerColumns + ` FROM lead_offers WHERE tenant_id = $1 AND lead_offer_id = $2`

// Get implements leadoffer.Store.
func (s *LeadOffers) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (leadoffer.Offer, error) {
	o, err := pgdb.Row(ctx, s.pool, caller.TenantID, offerByIDSQL, []any{caller.TenantID, id}, scanOffer)
	if errors.Is(err, pgx.ErrNoRows) {
		return leadoffer.Offer{}, leadoffer.ErrNotFound
	}
	if err != nil {
		return leadoffer.Offer{}, fmt.Errorf("get lead offer %s: %w", id, err)
	}
	return o, nil
}

var listOffers = keyset.Query[leadoffer.Offer]{
	Table: "lead_offers", Columns: offerColumns, IDColumn: "lead_offer_id", Scan: scanOffer,
	Fields: map[string]sqlfilter.Field{
		"partner_id": {Column: "partner_id", Kind: sqlfilter.UUID},
		"lead_id":    {Column: "lead_id", Kind: sqlfilter.UUID},
		"state":      {Column: "state", Kind: sqlfilter.Enum, Enum: partnerv1.LeadOfferState_value},
	},
	Key: func(o leadoffer.Offer) (time.Time, uuid.UUID) { return o.CreateTime, o.ID },
}

// List implements leadoffer.Store.
func (s *LeadOffers) List(ctx context.Context, caller auth.Caller, q leadoffer.ListQuery) (leadoffer.Page, error) {
	rows, next, err := keyset.NewestFirst(ctx, s.pool, caller.TenantID, listOffers, q.Filter, q.PageToken, q.PageSize)
	if err != nil {
		return leadoffer.Page{}, err
	}
	return leadoffer.Page{Offers: rows, NextPageToken: next}, nil
}

const (
	lockOfferSQL   = offerByIDSQL + ` FOR UPDATE`
	updateOfferSQL = `
UPDATE lead_offers SET state = $3, decide_time = $4, decided_by = $5, decline_reason = $6, revision = revision + 1
WHERE tenant_id = $1 AND lead_offer_id = $2
RETURNING ` + offerColumns
)

// Answer implements leadoffer.Store.
func (s *LeadOffers) Answer(ctx context.Context, caller auth.Caller, id uuid.UUID, a leadoffer.Answer) (leadoffer.Offer, error) {
	var saved leadoffer.Offer
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockOfferSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanOffer)
		if errors.Is(err, pgx.ErrNoRows) {
			return leadoffer.ErrNotFound
		}
		if err != nil {
			return err
		}
		o := before
		event, err := a(&o)
		if err != nil {
			return err
		}
		rows, err = tx.Query(ctx, updateOfferSQL, caller.TenantID, id, o.State, nullTime(o.DecideTime), o.DecidedBy, o.DeclineReason)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanOffer); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: event,
			Resource: saved.Resource(), Before: protoconv.LeadOffer(before), After: protoconv.LeadOffer(saved),
		})
	})
	if err != nil {
		return leadoffer.Offer{}, fmt.Errorf("answer lead offer %s: %w", id, err)
	}
	return saved, nil
}

// overdueSQL reads lead_offers_pending_expiry; a sweep takes a bounded batch.
const overdueSQL = `SELECT ` + offerColumns + ` FROM lead_offers WHERE tenant_id = $1 AND state = 1 AND expire_time <= $2
ORDER BY expire_time LIMIT 1000`

// Overdue implements leadoffer.Store.
func (s *LeadOffers) Overdue(ctx context.Context, caller auth.Caller, now time.Time) ([]leadoffer.Offer, error) {
	offers, err := pgdb.Rows(ctx, s.pool, caller.TenantID, overdueSQL, []any{caller.TenantID, now}, scanOffer)
	if err != nil {
		return nil, fmt.Errorf("overdue lead offers: %w", err)
	}
	return offers, nil
}
