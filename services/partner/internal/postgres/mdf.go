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
	"github.com/rapportcrm/rapport/services/partner/internal/mdf"
	"github.com/rapportcrm/rapport/services/partner/internal/protoconv"
)

// Funds implements mdf.Store.
type Funds struct{ pool *pgxpool.Pool }

// Funds returns the market development fund store on the same pool.
func (s *Store) Funds() *Funds { return &Funds{pool: s.pool} }

const budgetColumns = `mdf_budget_id, partner_id, display_name, period_start, period_end, currency_code, amount_minor,
committed_minor, spent_minor, create_time, revision`

func scanBudget(row pgx.CollectableRow) (mdf.Budget, error) {
	var b mdf.Budget
	err := row.Scan(&b.ID, &b.PartnerID, &b.DisplayName, &b.PeriodStart, &b.PeriodEnd, &b.CurrencyCode, &b.AmountMinor,
		&b.CommittedMinor, &b.SpentMinor, &b.CreateTime, &b.Revision)
	return b, err
}

const requestColumns = `mdf_request_id, mdf_budget_id, partner_id, activity, requested_minor, state, approved_minor, claimed_minor,
claim_evidence, decision_note, requested_by, decided_by, create_time, update_time, revision`

func scanRequest(row pgx.CollectableRow) (mdf.Request, error) {
	var r mdf.Request
	err := row.Scan(&r.ID, &r.BudgetID, &r.PartnerID, &r.Activity, &r.RequestedMinor, &r.State, &r.ApprovedMinor, &r.ClaimedMinor,
		&r.ClaimEvidence, &r.DecisionNote, &r.RequestedBy, &r.DecidedBy, &r.CreateTime, &r.UpdateTime, &r.Revision)
	return r, err
}

const (
	insertBudgetSQL = `
INSERT INTO mdf_budgets (tenant_id, mdf_budget_id, partner_id, display_name, period_start, period_end, currency_code, amount_minor, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + budgetColumns
	budgetByRequestSQL = `SELECT ` + budgetColumns + ` FROM mdf_budgets WHERE tenant_id = $1 AND request_id = $2`
	budgetByIDSQL      = `SELECT ` + budgetColumns + ` FROM mdf_budgets WHERE tenant_id = $1 AND mdf_budget_id = $2`
)

// CreateBudget implements mdf.Store.
func (s *Funds) CreateBudget(ctx context.Context, caller auth.Caller, b mdf.Budget, requestID string) (mdf.Budget, error) {
	var saved mdf.Budget
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var tier string
		if err := tx.QueryRow(ctx, visiblePartnerSQL, caller.TenantID, b.PartnerID).Scan(&tier); errors.Is(err, pgx.ErrNoRows) {
			return mdf.ErrPartnerNotFound
		} else if err != nil {
			return err
		}
		var created bool
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertBudgetSQL,
			[]any{caller.TenantID, b.ID, b.PartnerID, b.DisplayName, b.PeriodStart, b.PeriodEnd, b.CurrencyCode, b.AmountMinor, requestID},
			budgetByRequestSQL, []any{caller.TenantID, requestID}, scanBudget)
		if err != nil || !created {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: mdf.EventBudgetCreated,
			Resource: saved.Resource(), After: protoconv.MdfBudget(saved),
		})
	})
	if err != nil {
		return mdf.Budget{}, fmt.Errorf("create MDF budget: %w", err)
	}
	return saved, nil
}

// Budget implements mdf.Store.
func (s *Funds) Budget(ctx context.Context, caller auth.Caller, id uuid.UUID) (mdf.Budget, error) {
	b, err := pgdb.Row(ctx, s.pool, caller.TenantID, budgetByIDSQL, []any{caller.TenantID, id}, scanBudget)
	if errors.Is(err, pgx.ErrNoRows) {
		return mdf.Budget{}, mdf.ErrBudgetNotFound
	}
	if err != nil {
		return mdf.Budget{}, fmt.Errorf("get MDF budget %s: %w", id, err)
	}
	return b, nil
}

var listBudgets = keyset.Query[mdf.Budget]{
	Table: "mdf_budgets", Columns: budgetColumns, IDColumn: "mdf_budget_id", Scan: scanBudget,
	Fields: map[string]sqlfilter.Field{"partner_id": {Column: "partner_id", Kind: sqlfilter.UUID}},
	Key:    func(b mdf.Budget) (time.Time, uuid.UUID) { return b.CreateTime, b.ID },
}

// ListBudgets implements mdf.Store.
func (s *Funds) ListBudgets(ctx context.Context, caller auth.Caller, q mdf.ListQuery) (mdf.BudgetPage, error) {
	rows, next, err := keyset.NewestFirst(ctx, s.pool, caller.TenantID, listBudgets, q.Filter, q.PageToken, q.PageSize)
	if err != nil {
		return mdf.BudgetPage{}, err
	}
	return mdf.BudgetPage{Budgets: rows, NextPageToken: next}, nil
}

const (
	insertRequestSQL = `
INSERT INTO mdf_requests (tenant_id, mdf_request_id, mdf_budget_id, partner_id, activity, requested_minor, state, requested_by, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + requestColumns
	requestByRequestSQL = `SELECT ` + requestColumns + ` FROM mdf_requests WHERE tenant_id = $1 AND request_id = $2`
	requestByIDSQL      = `SELECT ` + requestColumns + ` FROM mdf_requests WHERE tenant_id = $1 AND mdf_request_id = $2`
)

// CreateRequest implements mdf.Store.
func (s *Funds) CreateRequest(ctx context.Context, caller auth.Caller, r mdf.Request, requestID string) (mdf.Request, error) {
	var saved mdf.Request
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, budgetByIDSQL, caller.TenantID, r.BudgetID)
		if err != nil {
			return err
		}
		b, err := pgx.CollectExactlyOneRow(rows, scanBudget)
		if errors.Is(err, pgx.ErrNoRows) {
			return mdf.ErrBudgetNotFound
		}
		if err != nil {
			return err
		}
		var created bool
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertRequestSQL,
			[]any{caller.TenantID, r.ID, b.ID, b.PartnerID, r.Activity, r.RequestedMinor, r.State, r.RequestedBy, requestID},
			requestByRequestSQL, []any{caller.TenantID, requestID}, scanRequest)
		if err != nil || !created {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: mdf.EventRequested,
			Resource: saved.Resource(), After: protoconv.MdfRequest(saved),
		})
	})
	if err != nil {
		return mdf.Request{}, fmt.Errorf("create MDF request: %w", err)
	}
	return saved, nil
}

// Request implements mdf.Store.
func (s *Funds) Request(ctx context.Context, caller auth.Caller, id uuid.UUID) (mdf.Request, error) {
	r, err := pgdb.Row(ctx, s.pool, caller.TenantID, requestByIDSQL, []any{caller.TenantID, id}, scanRequest)
	if errors.Is(err, pgx.ErrNoRows) {
		return mdf.Request{}, mdf.ErrRequestNotFound
	}
	if err != nil {
		return mdf.Request{}, fmt.Errorf("get MDF request %s: %w", id, err)
	}
	return r, nil
}

var listRequests = keyset.Query[mdf.Request]{
	Table: "mdf_requests", Columns: requestColumns, IDColumn: "mdf_request_id", Scan: scanRequest,
	Fields: map[string]sqlfilter.Field{
		"partner_id":    {Column: "partner_id", Kind: sqlfilter.UUID},
		"mdf_budget_id": {Column: "mdf_budget_id", Kind: sqlfilter.UUID},
		"state":         {Column: "state", Kind: sqlfilter.Enum, Enum: partnerv1.MdfRequestState_value},
	},
	Key: func(r mdf.Request) (time.Time, uuid.UUID) { return r.CreateTime, r.ID },
}

// ListRequests implements mdf.Store.
func (s *Funds) ListRequests(ctx context.Context, caller auth.Caller, q mdf.ListQuery) (mdf.RequestPage, error) {
	rows, next, err := keyset.NewestFirst(ctx, s.pool, caller.TenantID, listRequests, q.Filter, q.PageToken, q.PageSize)
	if err != nil {
		return mdf.RequestPage{}, err
	}
	return mdf.RequestPage{Requests: rows, NextPageToken: next}, nil
}

const (
	lockRequestSQL = requestByIDSQL + ` FOR UPDATE`
	lockBudgetSQL  = budgetByIDSQL + ` FOR UPDATE`
	saveRequestSQL = `
UPDATE mdf_requests SET state = $3, approved_minor = $4, claimed_minor = $5, claim_evidence = $6, decision_note = $7, decided_by = $8,
    revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND mdf_request_id = $2
RETURNING ` + requestColumns
	saveBudgetSQL = `
UPDATE mdf_budgets SET committed_minor = $3, spent_minor = $4, revision = revision + 1
WHERE tenant_id = $1 AND mdf_budget_id = $2`
)

// Change implements mdf.Store. The request is locked before its budget,
// always in that order, so changes of requests of one budget queue up on
// the budget instead of deadlocking.
func (s *Funds) Change(ctx context.Context, caller auth.Caller, id uuid.UUID, c mdf.Change) (mdf.Request, error) {
	var saved mdf.Request
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockRequestSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanRequest)
		if errors.Is(err, pgx.ErrNoRows) {
			return mdf.ErrRequestNotFound
		}
		if err != nil {
			return err
		}
		rows, err = tx.Query(ctx, lockBudgetSQL, caller.TenantID, before.BudgetID)
		if err != nil {
			return err
		}
		budget, err := pgx.CollectExactlyOneRow(rows, scanBudget)
		if err != nil {
			return fmt.Errorf("lock budget %s: %w", before.BudgetID, err)
		}
		r, b := before, budget
		event, err := c(&r, &b)
		if err != nil {
			return err
		}
		rows, err = tx.Query(ctx, saveRequestSQL, caller.TenantID, id, r.State, r.ApprovedMinor, r.ClaimedMinor, r.ClaimEvidence, r.DecisionNote, r.DecidedBy)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanRequest); err != nil {
			return err
		}
		if b != budget {
			if _, err := tx.Exec(ctx, saveBudgetSQL, caller.TenantID, b.ID, b.CommittedMinor, b.SpentMinor); err != nil {
				return fmt.Errorf("save budget %s: %w", b.ID, err)
			}
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: event,
			Resource: saved.Resource(), Before: protoconv.MdfRequest(before), After: protoconv.MdfRequest(saved),
		})
	})
	if err != nil {
		return mdf.Request{}, fmt.Errorf("change MDF request %s: %w", id, err)
	}
	return saved, nil
}
