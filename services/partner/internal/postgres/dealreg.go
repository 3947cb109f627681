package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	"github.com/rapportcrm/rapport/services/partner/internal/dealreg"
	"github.com/rapportcrm/rapport/services/partner/internal/partner"
	"github.com/rapportcrm/rapport/services/partner/internal/protoconv"
)

// DealRegistrations implements dealreg.Store.
type DealRegistrations struct{ pool *pgxpool.Pool }

// DealRegistrations returns the deal registration store on the same pool.
func (s *Store) DealRegistrations() *DealRegistrations { return &DealRegistrations{pool: s.pool} }

const registrationColumns = `deal_registration_id, partner_id, coalesce(customer_id, '00000000-0000-0000-0000-000000000000'),
company_name, email, phone, display_name, currency_code, amount_minor, coalesce(to_char(expected_close_date, 'YYYY-MM-DD'), ''),
state, conflicts, coalesce(opportunity_id, '00000000-0000-0000-0000-000000000000'), expire_time, decision_note, decided_by,
coalesce(decide_time, 'epoch'), arbitration_outcome, registered_by, create_time, update_time, revision`

func scanRegistration(row pgx.CollectableRow) (dealreg.Registration, error) {
	var r dealreg.Registration
	err := row.Scan(&r.ID, &r.PartnerID, &r.CustomerID, &r.Prospect.CompanyName, &r.Prospect.Email, &r.Prospect.Phone,
		&r.DisplayName, &r.Amount.CurrencyCode, &r.Amount.AmountMinor, &r.ExpectedCloseDate, &r.State, &r.Conflicts,
		&r.OpportunityID, &r.ExpireTime, &r.DecisionNote, &r.DecidedBy, &r.DecideTime, &r.Outcome, &r.RegisteredBy,
		&r.CreateTime, &r.UpdateTime, &r.Revision)
	if r.DecideTime.Equal(time.Unix(0, 0)) {
		r.DecideTime = time.Time{}
	}
	return r, err
}

// conflicts keeps the conflicts column a JSON array, never null.
func conflicts(c []dealreg.Conflict) []dealreg.Conflict {
	if c == nil {
		return []dealreg.Conflict{}
	}
	return c
}

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

const (
	rulesSQL = `SELECT protection_days, direct_owner_conflicts, open_opportunity_conflicts, update_time, revision
FROM engagement_rules WHERE tenant_id = $1`
	lockRulesSQL   = rulesSQL + ` FOR UPDATE`
	upsertRulesSQL = `
INSERT INTO engagement_rules (tenant_id, protection_days, direct_owner_conflicts, open_opportunity_conflicts)
VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id) DO UPDATE SET protection_days = $2, direct_owner_conflicts = $3, open_opportunity_conflicts = $4,
    revision = engagement_rules.revision + 1, update_time = now()
RETURNING protection_days, direct_owner_conflicts, open_opportunity_conflicts, update_time, revision`
)

func scanRules(row pgx.CollectableRow) (dealreg.Rules, error) {
	var r dealreg.Rules
	err := row.Scan(&r.ProtectionDays, &r.DirectOwnerConflicts, &r.OpenOpportunityConflicts, &r.UpdateTime, &r.Revision)
	return r, err
}

// Rules implements dealreg.Store.
func (s *DealRegistrations) Rules(ctx context.Context, caller auth.Caller) (dealreg.Rules, error) {
	r, err := pgdb.Row(ctx, s.pool, caller.TenantID, rulesSQL, []any{caller.TenantID}, scanRules)
	if errors.Is(err, pgx.ErrNoRows) {
		return dealreg.DefaultRules, nil
	}
	if err != nil {
		return dealreg.Rules{}, fmt.Errorf("get engagement rules: %w", err)
	}
	return r, nil
}

// UpdateRules implements dealreg.Store. A tenant on the defaults has no
// row; its first update inserts one, and concurrent first updates meet in
// the upsert.
func (s *DealRegistrations) UpdateRules(ctx context.Context, caller auth.Caller, m func(*dealreg.Rules) error) (dealreg.Rules, error) {
	var saved dealreg.Rules
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockRulesSQL, caller.TenantID)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanRules)
		if errors.Is(err, pgx.ErrNoRows) {
			before = dealreg.DefaultRules
		} else if err != nil {
			return err
		}
		r := before
		if err := m(&r); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, upsertRulesSQL, caller.TenantID, r.ProtectionDays, r.DirectOwnerConflicts, r.OpenOpportunityConflicts)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanRules); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: dealreg.EventRules,
			Resource: "engagementRules", Before: protoconv.Rules(before), After: protoconv.Rules(saved),
		})
	})
	if err != nil {
		return dealreg.Rules{}, fmt.Errorf("update engagement rules: %w", err)
	}
	return saved, nil
}

// lineageSQL lists the partner and its ancestors, nearest first; the
// partner row is read under the caller's access policy.
const lineageSQL = `
SELECT p.status, t.ancestor_id FROM partners p
JOIN partner_tree t ON t.tenant_id = p.tenant_id AND t.descendant_id = p.partner_id
WHERE p.tenant_id = $1 AND p.partner_id = $2
ORDER BY t.depth`

// Partner implements dealreg.Store.
func (s *DealRegistrations) Partner(ctx context.Context, caller auth.Caller, id uuid.UUID) (dealreg.PartnerInfo, error) {
	type row struct {
		status   partner.Status
		ancestor uuid.UUID
	}
	rows, err := pgdb.Rows(ctx, s.pool, caller.TenantID, lineageSQL, []any{caller.TenantID, id}, func(r pgx.CollectableRow) (row, error) {
		var out row
		err := r.Scan(&out.status, &out.ancestor)
		return out, err
	})
	if err != nil {
		return dealreg.PartnerInfo{}, fmt.Errorf("get partner %s: %w", id, err)
	}
	if len(rows) == 0 {
		return dealreg.PartnerInfo{}, dealreg.ErrPartnerNotFound
	}
	info := dealreg.PartnerInfo{ID: id, Active: rows[0].status == partner.StatusActive}
	for _, r := range rows {
		info.Lineage = append(info.Lineage, r.ancestor)
	}
	return info, nil
}

const (
	insertRegistrationSQL = `
INSERT INTO deal_registrations (tenant_id, deal_registration_id, partner_id, customer_id, company_name, email, phone,
    display_name, currency_code, amount_minor, expected_close_date, state, conflicts, expire_time, registered_by, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, nullif($11, '')::date, $12, $13, $14, $15, nullif($16, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + registrationColumns
	registrationByRequestSQL = `SELECT ` + registrationColumns + ` FROM deal_registrations WHERE tenant_id = $1 AND request_id = $2`
	registrationByIDSQL      = `SELECT ` + registrationColumns + ` FROM deal_registrations WHERE tenant_id = $1 AND deal_registration_id = $2`
	lockRegistrationSQL      = registrationByIDSQL + ` FOR UPDATE`
	// lockKeySQL serialises registrations that claim the same key, so each
	// sees the other's claim (transaction-scoped advisory lock).
	lockKeySQL = `SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))`
	// otherClaimsSQL reads every partner's live claims; claims carry no
	// registration details, so the access policy on registrations does not
	// apply to them.
	otherClaimsSQL = `
SELECT claim_key, deal_registration_id, partner_id FROM deal_claims
WHERE tenant_id = $1 AND claim_key = ANY($2) AND partner_id <> $3 AND expire_time > now()
ORDER BY deal_registration_id, claim_key`
	insertClaimsSQL = `
INSERT INTO deal_claims (tenant_id, claim_key, deal_registration_id, partner_id, expire_time)
SELECT $1, k, $2, $3, $4 FROM unnest($5::text[]) AS k
ON CONFLICT DO NOTHING`
	releaseClaimsSQL      = `DELETE FROM deal_claims WHERE tenant_id = $1 AND deal_registration_id = $2`
	extendClaimsSQL       = `UPDATE deal_claims SET expire_time = $3 WHERE tenant_id = $1 AND deal_registration_id = $2`
	updateRegistrationSQL = `
UPDATE deal_registrations SET customer_id = $3, state = $4, conflicts = $5, opportunity_id = $6, expire_time = $7,
    decision_note = $8, decided_by = $9, decide_time = $10, arbitration_outcome = $11,
    revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND deal_registration_id = $2
RETURNING ` + registrationColumns
)

// Create implements dealreg.Store.
func (s *DealRegistrations) Create(ctx context.Context, caller auth.Caller, r dealreg.Registration, keys []string, requestID string,
	decide func(*dealreg.Registration, []dealreg.Claim)) (dealreg.Registration, bool, error) {
	var saved dealreg.Registration
	created := false
	// Locks are taken in key order, so registrations sharing keys never deadlock.
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if requestID != "" {
			rows, err := tx.Query(ctx, registrationByRequestSQL, caller.TenantID, requestID)
			if err != nil {
				return err
			}
			earlier, err := pgx.CollectExactlyOneRow(rows, scanRegistration)
			if err == nil {
				saved = earlier
				return nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		for _, k := range keys {
			if _, err := tx.Exec(ctx, lockKeySQL, caller.TenantID, k); err != nil {
				return fmt.Errorf("lock claim: %w", err)
			}
		}
		rows, err := tx.Query(ctx, otherClaimsSQL, caller.TenantID, keys, r.PartnerID)
		if err != nil {
			return err
		}
		others, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (dealreg.Claim, error) {
			var c dealreg.Claim
			err := row.Scan(&c.Key, &c.RegistrationID, &c.PartnerID)
			return c, err
		})
		if err != nil {
			return err
		}
		r := r
		r.Conflicts = slices.Clone(r.Conflicts)
		decide(&r, others)
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertRegistrationSQL, []any{caller.TenantID, r.ID, r.PartnerID, nullID(r.CustomerID),
			r.Prospect.CompanyName, r.Prospect.Email, r.Prospect.Phone, r.DisplayName, r.Amount.CurrencyCode, r.Amount.AmountMinor,
			r.ExpectedCloseDate, r.State, conflicts(r.Conflicts), r.ExpireTime, r.RegisteredBy, requestID},
			registrationByRequestSQL, []any{caller.TenantID, requestID}, scanRegistration)
		if code, _, ok := pgdb.Constraint(err); ok && code == "23503" {
			return dealreg.ErrPartnerNotFound
		}
		if err != nil || !created {
			return err
		}
		if _, err := tx.Exec(ctx, insertClaimsSQL, caller.TenantID, saved.ID, saved.PartnerID, saved.ExpireTime, keys); err != nil {
			return fmt.Errorf("insert claims: %w", err)
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: dealreg.EventCreated,
			Resource: saved.Resource(), After: protoconv.Registration(saved),
		})
	})
	if err != nil {
		return dealreg.Registration{}, false, fmt.Errorf("create deal registration: %w", err)
	}
	return saved, created, nil
}

// Get implements dealreg.Store.
func (s *DealRegistrations) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (dealreg.Registration, error) {
	r, err := pgdb.Row(ctx, s.pool, caller.TenantID, registrationByIDSQL, []any{caller.TenantID, id}, scanRegistration)
	if errors.Is(err, pgx.ErrNoRows) {
		return dealreg.Registration{}, dealreg.ErrNotFound
	}
	if err != nil {
		return dealreg.Registration{}, fmt.Errorf("get deal registration %s: %w", id, err)
	}
	return r, nil
}

// registrationFields are the fields ListDealRegistrations filters on, each backed by an index.
var registrationFields = map[string]sqlfilter.Field{
	"state":       {Column: "state", Kind: sqlfilter.Enum, Enum: partnerv1.DealRegistrationState_value},
	"partner_id":  {Column: "partner_id", Kind: sqlfilter.UUID},
	"customer_id": {Column: "customer_id", Kind: sqlfilter.UUID},
}

var listRegistrations = keyset.Query[dealreg.Registration]{
	Table: "deal_registrations", Columns: registrationColumns, IDColumn: "deal_registration_id", Fields: registrationFields,
	Scan: scanRegistration,
	Key:  func(r dealreg.Registration) (time.Time, uuid.UUID) { return r.CreateTime, r.ID },
}

// List implements dealreg.Store.
func (s *DealRegistrations) List(ctx context.Context, caller auth.Caller, q dealreg.ListQuery) (dealreg.Page, error) {
	rows, next, err := keyset.NewestFirst(ctx, s.pool, caller.TenantID, listRegistrations, q.Filter, q.PageToken, q.PageSize)
	if err != nil {
		return dealreg.Page{}, err
	}
	return dealreg.Page{Registrations: rows, NextPageToken: next}, nil
}

// Mutate implements dealreg.Store.
func (s *DealRegistrations) Mutate(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(*dealreg.Registration) (string, error)) (dealreg.Registration, error) {
	var saved dealreg.Registration
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockRegistrationSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanRegistration)
		if errors.Is(err, pgx.ErrNoRows) {
			return dealreg.ErrNotFound
		}
		if err != nil {
			return err
		}
		r := before
		r.Conflicts = slices.Clone(before.Conflicts)
		event, err := m(&r)
		if err != nil {
			return err
		}
		rows, err = tx.Query(ctx, updateRegistrationSQL, caller.TenantID, id, nullID(r.CustomerID), r.State, conflicts(r.Conflicts),
			nullID(r.OpportunityID), r.ExpireTime, r.DecisionNote, r.DecidedBy, nullTime(r.DecideTime), r.Outcome)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanRegistration); err != nil {
			return err
		}
		if saved.State == dealreg.StateRejected {
			_, err = tx.Exec(ctx, releaseClaimsSQL, caller.TenantID, id)
		} else {
			_, err = tx.Exec(ctx, extendClaimsSQL, caller.TenantID, id, saved.ExpireTime)
			if err == nil && saved.CustomerID != uuid.Nil {
				_, err = tx.Exec(ctx, insertClaimsSQL, caller.TenantID, id, saved.PartnerID, saved.ExpireTime, []string{dealreg.CustomerKey(saved.CustomerID)})
			}
		}
		if err != nil {
			return fmt.Errorf("update claims: %w", err)
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: event,
			Resource: saved.Resource(), Before: protoconv.Registration(before), After: protoconv.Registration(saved),
		})
	})
	if err != nil {
		return dealreg.Registration{}, fmt.Errorf("change deal registration %s: %w", id, err)
	}
	return saved, nil
}

var _ dealreg.Store = (*DealRegistrations)(nil)
