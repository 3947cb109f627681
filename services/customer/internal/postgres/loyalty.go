package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/loyalty"
	"github.com/rapportcrm/rapport/services/customer/internal/protoconv"
)

// Kinds of loyalty account.
const (
	accountMember int16 = iota + 1
	accountIssued
	accountRedeemed
	accountExpired
	accountAdjustment
)

// programAccount is the program account the other side of a posting of
// kind k goes to.
func programAccount(k loyalty.Kind) int16 {
	switch k {
	case loyalty.KindEarn:
		return accountIssued
	case loyalty.KindRedeem:
		return accountRedeemed
	case loyalty.KindExpire:
		return accountExpired
	}
	return accountAdjustment
}

const programColumns = `program_id, display_name, expiry_months, active, create_time, update_time, revision`

func scanProgram(row pgx.CollectableRow) (loyalty.Program, error) {
	var p loyalty.Program
	err := row.Scan(&p.ID, &p.DisplayName, &p.ExpiryMonths, &p.Active, &p.CreateTime, &p.UpdateTime, &p.Revision)
	return p, err
}

const insertProgramSQL = `
INSERT INTO loyalty_programs (tenant_id, program_id, display_name, expiry_months, active, request_id)
VALUES ($1, $2, $3, $4, $5, nullif($6, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + programColumns

const programByRequestSQL = `SELECT ` + programColumns + ` FROM loyalty_programs WHERE tenant_id = $1 AND request_id = $2`

const insertProgramAccountsSQL = `
INSERT INTO loyalty_accounts (tenant_id, account_id, program_id, kind)
SELECT $1, gen_random_uuid(), $2, k FROM unnest($3::smallint[]) AS k`

// CreateProgram implements loyalty.Store; the program's own accounts are
// opened with it.
func (s *Store) CreateProgram(ctx context.Context, caller auth.Caller, p loyalty.Program, requestID string) (loyalty.Program, error) {
	var saved loyalty.Program
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var created bool
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertProgramSQL,
			[]any{caller.TenantID, p.ID, p.DisplayName, p.ExpiryMonths, p.Active, requestID},
			programByRequestSQL, []any{caller.TenantID, requestID}, scanProgram)
		if err != nil || !created {
			return err
		}
		kinds := []int16{accountIssued, accountRedeemed, accountExpired, accountAdjustment}
		if _, err := tx.Exec(ctx, insertProgramAccountsSQL, caller.TenantID, saved.ID, kinds); err != nil {
			return fmt.Errorf("open program accounts: %w", err)
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: loyalty.EventProgramCreated,
			Resource: saved.Resource(), After: protoconv.LoyaltyProgram(saved),
		})
	})
	if err != nil {
		return loyalty.Program{}, fmt.Errorf("create loyalty program: %w", err)
	}
	return saved, nil
}

const programByIDSQL = `SELECT ` + programColumns + ` FROM loyalty_programs WHERE tenant_id = $1 AND program_id = $2`

// Program implements loyalty.Store.
func (s *Store) Program(ctx context.Context, caller auth.Caller, id uuid.UUID) (loyalty.Program, error) {
	p, err := pgdb.Row(ctx, s.pool, caller.TenantID, programByIDSQL, []any{caller.TenantID, id}, scanProgram)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, loyalty.ErrProgramNotFound
	}
	return p, err
}

// Programs implements loyalty.Store.
func (s *Store) Programs(ctx context.Context, caller auth.Caller) ([]loyalty.Program, error) {
	return pgdb.Rows(ctx, s.pool, caller.TenantID, `SELECT `+programColumns+` FROM loyalty_programs WHERE tenant_id = $1 ORDER BY display_name, program_id`,
		[]any{caller.TenantID}, scanProgram)
}

const saveProgramSQL = `
UPDATE loyalty_programs SET display_name = $3, expiry_months = $4, active = $5, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND program_id = $2
RETURNING ` + programColumns

// MutateProgram implements loyalty.Store.
func (s *Store) MutateProgram(ctx context.Context, caller auth.Caller, id uuid.UUID, m loyalty.ProgramMutation) (loyalty.Program, error) {
	var saved loyalty.Program
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, programByIDSQL+" FOR UPDATE", caller.TenantID, id)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanProgram)
		if errors.Is(err, pgx.ErrNoRows) {
			return loyalty.ErrProgramNotFound
		}
		if err != nil {
			return err
		}
		p := before
		if err := m(&p); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, saveProgramSQL, caller.TenantID, id, p.DisplayName, p.ExpiryMonths, p.Active)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanProgram); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: loyalty.EventProgramUpdated,
			Resource: saved.Resource(), Before: protoconv.LoyaltyProgram(before), After: protoconv.LoyaltyProgram(saved),
		})
	})
	if err != nil {
		return loyalty.Program{}, fmt.Errorf("update loyalty program %s: %w", id, err)
	}
	return saved, nil
}

const tierColumns = `tier_id, program_id, display_name, rank, rule_kind, window_days, threshold_points, benefits, create_time`

func scanTier(row pgx.CollectableRow) (loyalty.Tier, error) {
	var t loyalty.Tier
	err := row.Scan(&t.ID, &t.ProgramID, &t.DisplayName, &t.Rank, &t.Rule, &t.WindowDays, &t.Threshold, &t.Benefits, &t.CreateTime)
	return t, err
}

// CreateTier implements loyalty.Store. Members move to the new tier with
// their next posting or the next background run.
func (s *Store) CreateTier(ctx context.Context, caller auth.Caller, t loyalty.Tier) (loyalty.Tier, error) {
	var saved loyalty.Tier
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if _, err := lockProgram(ctx, tx, caller, t.ProgramID, false); err != nil {
			return err
		}
		benefits := t.Benefits
		if benefits == nil {
			benefits = []string{}
		}
		rows, err := tx.Query(ctx, `
INSERT INTO loyalty_tiers (tenant_id, tier_id, program_id, display_name, rank, rule_kind, window_days, threshold_points, benefits)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING `+tierColumns, caller.TenantID, t.ID, t.ProgramID, t.DisplayName, t.Rank, t.Rule, t.WindowDays, t.Threshold, benefits)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanTier); err != nil {
			if code, _, ok := pgdb.Constraint(err); ok && code == "23505" {
				return loyalty.ErrTierTaken
			}
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: loyalty.EventTierCreated,
			Resource: "loyaltyPrograms/" + t.ProgramID.String() + "/tiers/" + saved.ID.String(), After: protoconv.LoyaltyTier(saved),
		})
	})
	if err != nil {
		return loyalty.Tier{}, fmt.Errorf("create loyalty tier: %w", err)
	}
	return saved, nil
}

// Tiers implements loyalty.Store.
func (s *Store) Tiers(ctx context.Context, caller auth.Caller, program uuid.UUID) ([]loyalty.Tier, error) {
	if _, err := s.Program(ctx, caller, program); err != nil {
		return nil, err
	}
	return pgdb.Rows(ctx, s.pool, caller.TenantID, `SELECT `+tierColumns+` FROM loyalty_tiers WHERE tenant_id = $1 AND program_id = $2 ORDER BY rank`,
		[]any{caller.TenantID, program}, scanTier)
}

// programState is what postings need of a program.
type programState struct {
	active       bool
	expiryMonths int32
}

// lockProgram reads a program, share-locked so that it cannot change under
// a posting; requireActive refuses an inactive one.
func lockProgram(ctx context.Context, tx pgx.Tx, caller auth.Caller, id uuid.UUID, requireActive bool) (programState, error) {
	var p programState
	err := tx.QueryRow(ctx, `SELECT active, expiry_months FROM loyalty_programs WHERE tenant_id = $1 AND program_id = $2 FOR SHARE`,
		caller.TenantID, id).Scan(&p.active, &p.expiryMonths)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, loyalty.ErrProgramNotFound
	}
	if err == nil && requireActive && !p.active {
		return p, loyalty.ErrProgramInactive
	}
	return p, err
}

const membershipColumns = `m.program_id, m.customer_id, a.balance, m.tier_id, m.tier_time, m.enroll_time`

const membershipFrom = ` FROM loyalty_memberships m JOIN loyalty_accounts a ON a.tenant_id = m.tenant_id AND a.account_id = m.account_id`

func scanMembership(row pgx.CollectableRow) (loyalty.Membership, error) {
	var m loyalty.Membership
	err := row.Scan(&m.ProgramID, &m.CustomerID, &m.Balance, &m.TierID, &m.TierTime, &m.EnrollTime)
	return m, err
}

const membershipSQL = `SELECT ` + membershipColumns + membershipFrom + ` WHERE m.tenant_id = $1 AND m.program_id = $2 AND m.customer_id = $3`

// Enroll implements loyalty.Store. The customer must be one the caller
// sees and not deleted.
func (s *Store) Enroll(ctx context.Context, caller auth.Caller, program, id uuid.UUID) (loyalty.Membership, error) {
	var saved loyalty.Membership
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if _, err := lockProgram(ctx, tx, caller, program, true); err != nil {
			return err
		}
		var deleted *time.Time
		err := tx.QueryRow(ctx, `SELECT delete_time FROM customers WHERE tenant_id = $1 AND customer_id = $2 FOR SHARE`, caller.TenantID, id).Scan(&deleted)
		if errors.Is(err, pgx.ErrNoRows) {
			return customer.ErrNotFound
		}
		if err != nil {
			return err
		}
		if deleted != nil {
			return customer.ErrDeleted
		}
		account := uuid.Must(uuid.NewV7())
		tag, err := tx.Exec(ctx, `INSERT INTO loyalty_accounts (tenant_id, account_id, program_id, kind, customer_id)
VALUES ($1, $2, $3, 1, $4) ON CONFLICT DO NOTHING`, caller.TenantID, account, program, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			if _, err := tx.Exec(ctx, `INSERT INTO loyalty_memberships (tenant_id, program_id, customer_id, account_id) VALUES ($1, $2, $3, $4)`,
				caller.TenantID, program, id, account); err != nil {
				return err
			}
		}
		rows, err := tx.Query(ctx, membershipSQL, caller.TenantID, program, id)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanMembership); err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: loyalty.EventMemberEnrolled,
			Resource: saved.Resource(), After: protoconv.LoyaltyMembership(saved),
		})
	})
	if err != nil {
		return loyalty.Membership{}, fmt.Errorf("enrol %s in %s: %w", id, program, err)
	}
	return saved, nil
}

// Membership implements loyalty.Store. Its customer must be one the caller sees.
func (s *Store) Membership(ctx context.Context, caller auth.Caller, program, id uuid.UUID) (loyalty.Membership, error) {
	if _, err := s.Program(ctx, caller, program); err != nil {
		return loyalty.Membership{}, err
	}
	if err := s.customerExists(ctx, caller, id); err != nil {
		return loyalty.Membership{}, err
	}
	m, err := pgdb.Row(ctx, s.pool, caller.TenantID, membershipSQL, []any{caller.TenantID, program, id}, scanMembership)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, loyalty.ErrNotMember
	}
	return m, err
}

// memberIDCursor is the keyset position in a member list (by customer id).
type memberIDCursor struct {
	ID uuid.UUID `json:"i"`
}

// Memberships implements loyalty.Store, by customer id.
func (s *Store) Memberships(ctx context.Context, caller auth.Caller, program uuid.UUID, tier *uuid.UUID, q loyalty.PageQuery) ([]loyalty.Membership, string, error) {
	if _, err := s.Program(ctx, caller, program); err != nil {
		return nil, "", err
	}
	query := fmt.Sprintf("members|%s|%v", program, tier)
	var cur memberIDCursor
	if q.PageToken != "" {
		if err := pagetoken.Decode(q.PageToken, query, &cur); err != nil {
			return nil, "", validation.Field("page_token", "is not a token from this query; start again without it")
		}
	}
	sql := `SELECT ` + membershipColumns + membershipFrom + `
WHERE m.tenant_id = $1 AND m.program_id = $2 AND ($3::uuid IS NULL OR m.tier_id = $3) AND m.customer_id > $4
ORDER BY m.customer_id LIMIT $5`
	rows, err := pgdb.Rows(ctx, s.pool, caller.TenantID, sql, []any{caller.TenantID, program, tier, cur.ID, q.PageSize + 1}, scanMembership)
	if err != nil || len(rows) <= q.PageSize {
		return rows, "", err
	}
	rows = rows[:q.PageSize]
	next, err := pagetoken.Encode(query, memberIDCursor{ID: rows[q.PageSize-1].CustomerID})
	return rows, next, err
}

const transactionColumns = `transaction_id, program_id, customer_id, kind, points, external_reference, reason, balance_after, create_time`

func scanTransaction(row pgx.CollectableRow) (loyalty.Transaction, error) {
	var t loyalty.Transaction
	err := row.Scan(&t.ID, &t.ProgramID, &t.CustomerID, &t.Kind, &t.Points, &t.ExternalReference, &t.Reason, &t.BalanceAfter, &t.CreateTime)
	return t, err
}

const lockLoyaltyAccountSQL = `
SELECT a.account_id, a.balance FROM loyalty_memberships m
JOIN loyalty_accounts a ON a.tenant_id = m.tenant_id AND a.account_id = m.account_id
WHERE m.tenant_id = $1 AND m.program_id = $2 AND m.customer_id = $3
FOR UPDATE OF a`

const insertTransactionSQL = `
INSERT INTO loyalty_transactions (tenant_id, transaction_id, program_id, customer_id, kind, points, external_reference, reason, balance_after, principal_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (tenant_id, program_id, external_reference) DO NOTHING
RETURNING ` + transactionColumns

const transactionByReferenceSQL = `SELECT ` + transactionColumns + ` FROM loyalty_transactions WHERE tenant_id = $1 AND program_id = $2 AND external_reference = $3`

const insertEntriesSQL = `
INSERT INTO loyalty_entries (tenant_id, transaction_id, account_id, amount)
SELECT $1::uuid, $2::uuid, $3::uuid, $4::bigint
UNION ALL
SELECT $1::uuid, $2::uuid, a.account_id, -$4::bigint FROM loyalty_accounts a
WHERE a.tenant_id = $1::uuid AND a.program_id = $5::uuid AND a.kind = $6::smallint AND a.customer_id IS NULL`

const spendLotsSQL = `SELECT lot_id, remaining FROM loyalty_lots
WHERE tenant_id = $1 AND program_id = $2 AND customer_id = $3 AND remaining > 0
ORDER BY expire_time NULLS LAST, create_time, lot_id
FOR UPDATE`

const insertLotSQL = `
INSERT INTO loyalty_lots (tenant_id, lot_id, program_id, customer_id, transaction_id, points, remaining, expire_time)
VALUES ($1, $2, $3, $4, $5, $6, $6, CASE WHEN $7::integer > 0 THEN now() + make_interval(months => $7) END)`

// Post implements loyalty.Store. The member's account row is locked first,
// so postings of one member are serial and a repeat of a reference finds
// the first posting; the entries are checked to balance at commit.
func (s *Store) Post(ctx context.Context, caller auth.Caller, t loyalty.Transaction) (loyalty.Transaction, loyalty.Membership, error) {
	var saved loyalty.Transaction
	var member loyalty.Membership
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		prog, err := lockProgram(ctx, tx, caller, t.ProgramID, true)
		if err != nil {
			return err
		}
		if err := s.customerVisible(ctx, tx, caller, t.CustomerID); err != nil {
			return err
		}
		var account uuid.UUID
		var balance int64
		err = tx.QueryRow(ctx, lockLoyaltyAccountSQL, caller.TenantID, t.ProgramID, t.CustomerID).Scan(&account, &balance)
		if errors.Is(err, pgx.ErrNoRows) {
			return loyalty.ErrNotMember
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, insertTransactionSQL, caller.TenantID, t.ID, t.ProgramID, t.CustomerID, t.Kind, t.Points,
			t.ExternalReference, t.Reason, balance+t.Points, principalID(caller))
		if err != nil {
			return err
		}
		saved, err = pgx.CollectExactlyOneRow(rows, scanTransaction)
		if errors.Is(err, pgx.ErrNoRows) {
			// The reference was used before: the same posting again is
			// answered with the first; anything else is a mistake.
			rows, err := tx.Query(ctx, transactionByReferenceSQL, caller.TenantID, t.ProgramID, t.ExternalReference)
			if err != nil {
				return err
			}
			if saved, err = pgx.CollectExactlyOneRow(rows, scanTransaction); err != nil {
				return err
			}
			if saved.CustomerID != t.CustomerID || saved.Kind != t.Kind || saved.Points != t.Points {
				return loyalty.ErrReferenceReused
			}
			member, err = readMembership(ctx, tx, caller, t.ProgramID, t.CustomerID)
			return err
		}
		if err != nil {
			return err
		}
		if balance+t.Points < 0 {
			return fmt.Errorf("%w: the balance is %d", loyalty.ErrInsufficientPoints, balance)
		}
		if err := applyPosting(ctx, tx, caller, saved, account, prog); err != nil {
			return err
		}
		if err := outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: loyalty.EventPointsPosted,
			Resource: saved.Resource(), After: protoconv.PointsTransaction(saved),
		}); err != nil {
			return err
		}
		if err := retier(ctx, tx, caller, t.ProgramID, t.CustomerID); err != nil {
			return err
		}
		member, err = readMembership(ctx, tx, caller, t.ProgramID, t.CustomerID)
		return err
	})
	if err != nil {
		return loyalty.Transaction{}, loyalty.Membership{}, fmt.Errorf("post points: %w", err)
	}
	return saved, member, nil
}

// customerVisible checks, inside tx, that the caller may see the customer.
func (s *Store) customerVisible(ctx context.Context, tx pgx.Tx, caller auth.Caller, id uuid.UUID) error {
	var ok bool
	err := tx.QueryRow(ctx, customerExistsSQL, caller.TenantID, id).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return customer.ErrNotFound
	}
	return err
}

func readMembership(ctx context.Context, tx pgx.Tx, caller auth.Caller, program, id uuid.UUID) (loyalty.Membership, error) {
	rows, err := tx.Query(ctx, membershipSQL, caller.TenantID, program, id)
	if err != nil {
		return loyalty.Membership{}, err
	}
	return pgx.CollectExactlyOneRow(rows, scanMembership)
}

// applyPosting writes a new transaction's entries and moves the member's
// balance and lots: points in open a lot, points out spend lots
// first-to-expire first.
func applyPosting(ctx context.Context, tx pgx.Tx, caller auth.Caller, t loyalty.Transaction, account uuid.UUID, prog programState) error {
	if _, err := tx.Exec(ctx, insertEntriesSQL, caller.TenantID, t.ID, account, t.Points, t.ProgramID, programAccount(t.Kind)); err != nil {
		return fmt.Errorf("write entries: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE loyalty_accounts SET balance = balance + $3 WHERE tenant_id = $1 AND account_id = $2`,
		caller.TenantID, account, t.Points); err != nil {
		if code, constraint, ok := pgdb.Constraint(err); ok && code == "23514" && constraint == "loyalty_member_balance_not_negative" {
			return loyalty.ErrInsufficientPoints
		}
		return err
	}
	if t.Points > 0 {
		_, err := tx.Exec(ctx, insertLotSQL, caller.TenantID, uuid.Must(uuid.NewV7()), t.ProgramID, t.CustomerID, t.ID, t.Points, prog.expiryMonths)
		return err
	}
	rows, err := tx.Query(ctx, spendLotsSQL, caller.TenantID, t.ProgramID, t.CustomerID)
	if err != nil {
		return err
	}
	type lot struct {
		id        uuid.UUID
		remaining int64
	}
	lots, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (lot, error) {
		var l lot
		return l, r.Scan(&l.id, &l.remaining)
	})
	if err != nil {
		return err
	}
	due := -t.Points
	for _, l := range lots {
		if due == 0 {
			break
		}
		take := min(due, l.remaining)
		if _, err := tx.Exec(ctx, `UPDATE loyalty_lots SET remaining = remaining - $3 WHERE tenant_id = $1 AND lot_id = $2`,
			caller.TenantID, l.id, take); err != nil {
			return err
		}
		due -= take
	}
	return nil
}

// tierFiguresSQL gives, for each tier of the program (best first), the
// points its rule counts for the member: earned and positively adjusted
// points, ever or within the tier's window.
const tierFiguresSQL = `
SELECT t.tier_id, t.threshold_points,
       (SELECT coalesce(sum(x.points), 0) FROM loyalty_transactions x
        WHERE x.tenant_id = $1 AND x.program_id = $2 AND x.customer_id = $3 AND x.points > 0 AND x.kind IN (1, 4)
          AND (t.rule_kind = 1 OR x.create_time >= now() - make_interval(days => t.window_days)))
FROM loyalty_tiers t WHERE t.tenant_id = $1 AND t.program_id = $2
ORDER BY t.rank DESC`

// retier puts the member in the best tier it qualifies for, recording and
// emitting a change.
func retier(ctx context.Context, tx pgx.Tx, caller auth.Caller, program, id uuid.UUID) error {
	rows, err := tx.Query(ctx, tierFiguresSQL, caller.TenantID, program, id)
	if err != nil {
		return err
	}
	type figure struct {
		tier             uuid.UUID
		threshold, value int64
	}
	figures, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (figure, error) {
		var f figure
		return f, r.Scan(&f.tier, &f.threshold, &f.value)
	})
	if err != nil {
		return fmt.Errorf("tier figures: %w", err)
	}
	var next *uuid.UUID
	var points int64
	for _, f := range figures {
		if f.value >= f.threshold {
			next, points = &f.tier, f.value
			break
		}
	}
	var current *uuid.UUID
	if err := tx.QueryRow(ctx, `SELECT tier_id FROM loyalty_memberships WHERE tenant_id = $1 AND program_id = $2 AND customer_id = $3 FOR UPDATE`,
		caller.TenantID, program, id).Scan(&current); err != nil {
		return err
	}
	if (current == nil && next == nil) || (current != nil && next != nil && *current == *next) {
		return nil
	}
	if _, err := tx.Exec(ctx, `UPDATE loyalty_memberships SET tier_id = $4, tier_time = now() WHERE tenant_id = $1 AND program_id = $2 AND customer_id = $3`,
		caller.TenantID, program, id, next); err != nil {
		return err
	}
	change := loyalty.TierChange{ID: uuid.Must(uuid.NewV7()), From: current, To: next, QualifyingPoints: points}
	if err := tx.QueryRow(ctx, `INSERT INTO loyalty_tier_changes (tenant_id, change_id, program_id, customer_id, from_tier_id, to_tier_id, qualifying_points)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING create_time`, caller.TenantID, change.ID, program, id, current, next, points).Scan(&change.Time); err != nil {
		return err
	}
	return outbox.Record(ctx, tx, outbox.Change{
		TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: loyalty.EventTierChanged,
		Resource: "customers/" + id.String() + "/loyaltyMemberships/" + program.String() + "/tierChanges/" + change.ID.String(),
		After:    protoconv.LoyaltyTierChange(change),
	})
}

// txCursor is the keyset position in a transaction list.
type txCursor struct {
	Time time.Time `json:"t"`
	ID   uuid.UUID `json:"i"`
}

// Transactions implements loyalty.Store, newest first.
func (s *Store) Transactions(ctx context.Context, caller auth.Caller, program, id uuid.UUID, q loyalty.PageQuery) ([]loyalty.Transaction, string, error) {
	if _, err := s.Membership(ctx, caller, program, id); err != nil {
		return nil, "", err
	}
	query := "transactions|" + program.String() + "|" + id.String()
	args := []any{caller.TenantID, program, id}
	sql := `SELECT ` + transactionColumns + ` FROM loyalty_transactions WHERE tenant_id = $1 AND program_id = $2 AND customer_id = $3`
	if q.PageToken != "" {
		var cur txCursor
		if err := pagetoken.Decode(q.PageToken, query, &cur); err != nil {
			return nil, "", validation.Field("page_token", "is not a token from this query; start again without it")
		}
		args = append(args, cur.Time, cur.ID)
		sql += ` AND (create_time, transaction_id) < ($4, $5)`
	}
	args = append(args, q.PageSize+1)
	sql += fmt.Sprintf(` ORDER BY create_time DESC, transaction_id DESC LIMIT $%d`, len(args))
	rows, err := pgdb.Rows(ctx, s.pool, caller.TenantID, sql, args, scanTransaction)
	if err != nil || len(rows) <= q.PageSize {
		return rows, "", err
	}
	rows = rows[:q.PageSize]
	last := rows[q.PageSize-1]
	next, err := pagetoken.Encode(query, txCursor{Time: last.CreateTime, ID: last.ID})
	return rows, next, err
}

// LoyaltyTierChanges implements loyalty.Store, newest first.
func (s *Store) LoyaltyTierChanges(ctx context.Context, caller auth.Caller, program, id uuid.UUID) ([]loyalty.TierChange, error) {
	if _, err := s.Membership(ctx, caller, program, id); err != nil {
		return nil, err
	}
	return pgdb.Rows(ctx, s.pool, caller.TenantID, `SELECT change_id, from_tier_id, to_tier_id, qualifying_points, create_time
FROM loyalty_tier_changes WHERE tenant_id = $1 AND program_id = $2 AND customer_id = $3 ORDER BY create_time DESC, change_id DESC`,
		[]any{caller.TenantID, program, id}, func(r pgx.CollectableRow) (loyalty.TierChange, error) {
			var c loyalty.TierChange
			return c, r.Scan(&c.ID, &c.From, &c.To, &c.QualifyingPoints, &c.Time)
		})
}

// expiryBatch bounds the lots one expiry transaction posts.
const expiryBatch = 500

const dueLotsSQL = `
SELECT l.lot_id, l.customer_id, l.remaining FROM loyalty_lots l
WHERE l.tenant_id = $1 AND l.program_id = $2 AND l.remaining > 0 AND l.expire_time <= now()
ORDER BY l.expire_time, l.lot_id
LIMIT $3
FOR UPDATE SKIP LOCKED`

// Expire implements loyalty.Store: due lots expire in batches, each lot
// once (its reference is "expire:<lot id>"), and the program's members are
// re-tiered, since tiers earned within a window lapse with time alone.
func (s *Store) Expire(ctx context.Context, caller auth.Caller, program uuid.UUID) (loyalty.Expiry, error) {
	var total loyalty.Expiry
	for {
		var batch loyalty.Expiry
		err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
			batch = loyalty.Expiry{}
			prog, err := lockProgram(ctx, tx, caller, program, false)
			if err != nil {
				return err
			}
			rows, err := tx.Query(ctx, dueLotsSQL, caller.TenantID, program, expiryBatch)
			if err != nil {
				return err
			}
			type lot struct {
				id, customer uuid.UUID
				remaining    int64
			}
			lots, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (lot, error) {
				var l lot
				return l, r.Scan(&l.id, &l.customer, &l.remaining)
			})
			if err != nil {
				return err
			}
			for _, l := range lots {
				if err := expireLot(ctx, tx, caller, program, l.id, l.customer, l.remaining, prog); err != nil {
					return err
				}
				batch.Lots++
				batch.Points += l.remaining
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("expire points of %s: %w", program, err)
		}
		total.Lots += batch.Lots
		total.Points += batch.Points
		if batch.Lots < expiryBatch {
			break
		}
	}
	return total, s.retierProgram(ctx, caller, program)
}

// expireLot posts the expiry of what is left of one lot.
func expireLot(ctx context.Context, tx pgx.Tx, caller auth.Caller, program, lotID, id uuid.UUID, remaining int64, prog programState) error {
	var account uuid.UUID
	var balance int64
	if err := tx.QueryRow(ctx, lockLoyaltyAccountSQL, caller.TenantID, program, id).Scan(&account, &balance); err != nil {
		return err
	}
	t := loyalty.Transaction{ID: uuid.Must(uuid.NewV7()), ProgramID: program, CustomerID: id, Kind: loyalty.KindExpire,
		Points: -remaining, ExternalReference: "expire:" + lotID.String(), Reason: "points reached their expiry"}
	rows, err := tx.Query(ctx, insertTransactionSQL, caller.TenantID, t.ID, program, id, t.Kind, t.Points, t.ExternalReference, t.Reason,
		balance+t.Points, principalID(caller))
	if err != nil {
		return err
	}
	saved, err := pgx.CollectExactlyOneRow(rows, scanTransaction)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // expired already
	}
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE loyalty_lots SET remaining = 0 WHERE tenant_id = $1 AND lot_id = $2`, caller.TenantID, lotID); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, insertEntriesSQL, caller.TenantID, saved.ID, account, saved.Points, program, accountExpired); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE loyalty_accounts SET balance = balance + $3 WHERE tenant_id = $1 AND account_id = $2`,
		caller.TenantID, account, saved.Points); err != nil {
		return err
	}
	return outbox.Record(ctx, tx, outbox.Change{
		TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: loyalty.EventPointsExpired,
		Resource: saved.Resource(), After: protoconv.PointsTransaction(saved),
	})
}

// retierProgram re-tiers every member of a program that has tiers, a
// member per transaction.
func (s *Store) retierProgram(ctx context.Context, caller auth.Caller, program uuid.UUID) error {
	members, err := pgdb.Rows(ctx, s.pool, caller.TenantID, `SELECT customer_id FROM loyalty_memberships
WHERE tenant_id = $1 AND program_id = $2 AND EXISTS (SELECT 1 FROM loyalty_tiers WHERE tenant_id = $1 AND program_id = $2)`,
		[]any{caller.TenantID, program}, pgx.RowTo[uuid.UUID])
	if err != nil {
		return err
	}
	for _, id := range members {
		if err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error { return retier(ctx, tx, caller, program, id) }); err != nil {
			return fmt.Errorf("re-tier %s: %w", id, err)
		}
	}
	return nil
}

// LoyaltyDueTenants lists the tenants whose loyalty programs have work for
// the background job: points due to expire, or tiers that lapse with time.
func (s *Store) LoyaltyDueTenants(ctx context.Context) ([]string, error) {
	return pgdb.Rows(ctx, s.pool, "", `SELECT t::text FROM loyalty_due_tenants() AS t`, nil, pgx.RowTo[string])
}

// ActivePrograms lists a tenant's active programs, for the background job.
func (s *Store) ActivePrograms(ctx context.Context, tenant string) ([]uuid.UUID, error) {
	return pgdb.Rows(ctx, s.pool, tenant, `SELECT program_id FROM loyalty_programs WHERE tenant_id = $1 AND active`,
		[]any{tenant}, pgx.RowTo[uuid.UUID])
}
