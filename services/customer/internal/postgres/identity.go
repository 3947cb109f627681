package postgres

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/services/customer/internal/identity"
)

// switchTenantSQL moves a transaction into a tenant it is creating, acting
// there as the system (no caller settings), not as the operator.
const switchTenantSQL = `SELECT set_config('` + pgdb.TenantSetting + `', $1, true), set_config('` + pgdb.PrincipalSetting + `', '', true),
set_config('` + pgdb.RolesSetting + `', '', true), set_config('` + pgdb.TeamsSetting + `', '', true), set_config('` + pgdb.PartnerSetting + `', '', true)`

const (
	tenantColumns    = `tenant_id, display_name, operator, create_time`
	principalColumns = `principal_id, tenant_id, display_name, roles, team_ids, partner_id, create_time`
	teamColumns      = `team_id, tenant_id, display_name, create_time`
	apiKeyColumns    = `api_key_id, tenant_id, principal_id, display_name, prefix, create_time, revoke_time, last_use_time`
)

func scanTenant(row pgx.CollectableRow) (identity.Tenant, error) {
	var t identity.Tenant
	return t, row.Scan(&t.ID, &t.DisplayName, &t.Operator, &t.CreateTime)
}

func scanPrincipal(row pgx.CollectableRow) (identity.Principal, error) {
	var p identity.Principal
	return p, row.Scan(&p.ID, &p.TenantID, &p.DisplayName, &p.Roles, &p.TeamIDs, &p.PartnerID, &p.CreateTime)
}

func scanTeam(row pgx.CollectableRow) (identity.Team, error) {
	var t identity.Team
	return t, row.Scan(&t.ID, &t.TenantID, &t.DisplayName, &t.CreateTime)
}

const knownTeamsSQL = `SELECT coalesce(array_agg(team_id), '{}') FROM teams WHERE tenant_id = $1 AND team_id = ANY($2)`

// checkTeams fails with ErrUnknownTeams naming the ids that are not teams
// of the tenant.
func checkTeams(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, ids []uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	var known []uuid.UUID
	if err := tx.QueryRow(ctx, knownTeamsSQL, tenant, ids).Scan(&known); err != nil {
		return fmt.Errorf("check teams: %w", err)
	}
	for _, id := range ids {
		if !slices.Contains(known, id) {
			return fmt.Errorf("%w %s", identity.ErrUnknownTeams, id)
		}
	}
	return nil
}

func scanAPIKey(row pgx.CollectableRow) (identity.APIKey, error) {
	var k identity.APIKey
	return k, row.Scan(&k.ID, &k.TenantID, &k.PrincipalID, &k.DisplayName, &k.Prefix, &k.CreateTime, &k.RevokeTime, &k.LastUseTime)
}

// CreateTenant implements identity.Store.
func (s *Store) CreateTenant(ctx context.Context, operator uuid.UUID, t identity.Tenant, admin identity.Principal, k identity.APIKey, hash []byte, requestID string) (identity.Tenant, identity.Principal, identity.APIKey, bool, error) {
	created := false
	scope := t.ID
	if operator != uuid.Nil {
		scope = operator
	}
	err := pgdb.InTx(ctx, s.pool, scope.String(), func(tx pgx.Tx) error {
		if requestID != "" {
			err := tx.QueryRow(ctx, `SELECT created_tenant_id, admin_id, api_key_id FROM tenant_requests WHERE tenant_id = $1 AND request_id = $2`,
				operator, requestID).Scan(&t.ID, &admin.ID, &k.ID)
			if err == nil {
				return readTenant(ctx, tx, &t, &admin, &k)
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO tenant_requests (tenant_id, request_id, created_tenant_id, admin_id, api_key_id) VALUES ($1, $2, $3, $4, $5)`,
				operator, requestID, t.ID, admin.ID, k.ID); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, switchTenantSQL, t.ID.String()); err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO tenants (tenant_id, display_name, operator) VALUES ($1, $2, $3)`, t.ID, t.DisplayName, t.Operator)
		b.Queue(`INSERT INTO principals (tenant_id, principal_id, display_name, roles) VALUES ($1, $2, $3, $4)`, t.ID, admin.ID, admin.DisplayName, admin.Roles)
		b.Queue(`INSERT INTO api_keys (tenant_id, api_key_id, principal_id, display_name, prefix, secret_sha256) VALUES ($1, $2, $3, $4, $5, $6)`,
			t.ID, k.ID, admin.ID, k.DisplayName, k.Prefix, hash)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		created = true
		return readTenant(ctx, tx, &t, &admin, &k)
	})
	if err != nil {
		return identity.Tenant{}, identity.Principal{}, identity.APIKey{}, false, fmt.Errorf("create tenant: %w", err)
	}
	return t, admin, k, created, nil
}

// readTenant reloads the rows of a tenant creation, switching the
// transaction to that tenant.
func readTenant(ctx context.Context, tx pgx.Tx, t *identity.Tenant, admin *identity.Principal, k *identity.APIKey) error {
	if _, err := tx.Exec(ctx, switchTenantSQL, t.ID.String()); err != nil {
		return err
	}
	var err error
	if *t, err = one(ctx, tx, scanTenant, `SELECT `+tenantColumns+` FROM tenants WHERE tenant_id = $1`, t.ID); err != nil {
		return err
	}
	if *admin, err = one(ctx, tx, scanPrincipal, `SELECT `+principalColumns+` FROM principals WHERE tenant_id = $1 AND principal_id = $2`, t.ID, admin.ID); err != nil {
		return err
	}
	*k, err = one(ctx, tx, scanAPIKey, `SELECT `+apiKeyColumns+` FROM api_keys WHERE tenant_id = $1 AND api_key_id = $2`, t.ID, k.ID)
	return err
}

func one[T any](ctx context.Context, tx pgx.Tx, to pgx.RowToFunc[T], sql string, args ...any) (T, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		var zero T
		return zero, err
	}
	return pgx.CollectExactlyOneRow(rows, to)
}

// CreatePrincipal implements identity.Store.
func (s *Store) CreatePrincipal(ctx context.Context, p identity.Principal, requestID string) (identity.Principal, error) {
	var saved identity.Principal
	err := pgdb.InTx(ctx, s.pool, p.TenantID.String(), func(tx pgx.Tx) error {
		var err error
		if err := checkTeams(ctx, tx, p.TenantID, p.TeamIDs); err != nil {
			return err
		}
		saved, err = one(ctx, tx, scanPrincipal, `
INSERT INTO principals (tenant_id, principal_id, display_name, roles, team_ids, partner_id, request_id)
VALUES ($1, $2, $3, $4, $5, $6, nullif($7, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING `+principalColumns, p.TenantID, p.ID, p.DisplayName, p.Roles, teamIDs(p.TeamIDs), p.PartnerID, requestID)
		if errors.Is(err, pgx.ErrNoRows) {
			saved, err = one(ctx, tx, scanPrincipal, `SELECT `+principalColumns+` FROM principals WHERE tenant_id = $1 AND request_id = $2`, p.TenantID, requestID)
		}
		return err
	})
	if err != nil {
		return identity.Principal{}, fmt.Errorf("create principal: %w", err)
	}
	return saved, nil
}

// Principal implements identity.Store.
func (s *Store) Principal(ctx context.Context, tenant, id uuid.UUID) (identity.Principal, error) {
	p, err := pgdb.Row(ctx, s.pool, tenant.String(), `SELECT `+principalColumns+` FROM principals WHERE tenant_id = $1 AND principal_id = $2`,
		[]any{tenant, id}, scanPrincipal)
	if errors.Is(err, pgx.ErrNoRows) {
		return identity.Principal{}, identity.ErrPrincipalNotFound
	}
	return p, err
}

// ListPrincipals implements identity.Store.
func (s *Store) ListPrincipals(ctx context.Context, tenant, after uuid.UUID, limit int) ([]identity.Principal, error) {
	return pgdb.Rows(ctx, s.pool, tenant.String(), `SELECT `+principalColumns+` FROM principals
WHERE tenant_id = $1 AND principal_id > $2 ORDER BY principal_id LIMIT $3`, []any{tenant, after, limit}, scanPrincipal)
}

// teamIDs never passes nil, which would be NULL in a NOT NULL column.
func teamIDs(ids []uuid.UUID) []uuid.UUID {
	if ids == nil {
		return []uuid.UUID{}
	}
	return ids
}

const lockPrincipalSQL = `SELECT ` + principalColumns + ` FROM principals WHERE tenant_id = $1 AND principal_id = $2 FOR UPDATE`

const savePrincipalSQL = `
UPDATE principals SET display_name = $3, roles = $4, team_ids = $5, partner_id = $6
WHERE tenant_id = $1 AND principal_id = $2
RETURNING ` + principalColumns

// ownedTeamsSQL keeps the teams on the customers a principal owns in step
// with the principal's (the record-access policy reads them there).
const ownedTeamsSQL = `UPDATE customers SET owner_team_ids = $3 WHERE tenant_id = $1 AND owner_id = $2`

// UpdatePrincipal implements identity.Store.
func (s *Store) UpdatePrincipal(ctx context.Context, tenant, id uuid.UUID, m identity.PrincipalMutation) (identity.Principal, error) {
	var saved identity.Principal
	err := pgdb.InTx(ctx, s.pool, tenant.String(), func(tx pgx.Tx) error {
		before, err := one(ctx, tx, scanPrincipal, lockPrincipalSQL, tenant, id)
		if errors.Is(err, pgx.ErrNoRows) {
			return identity.ErrPrincipalNotFound
		}
		if err != nil {
			return err
		}
		p := before
		if err := m(&p); err != nil {
			return err
		}
		if err := checkTeams(ctx, tx, tenant, p.TeamIDs); err != nil {
			return err
		}
		if saved, err = one(ctx, tx, scanPrincipal, savePrincipalSQL, tenant, id, p.DisplayName, p.Roles, teamIDs(p.TeamIDs), p.PartnerID); err != nil {
			return err
		}
		if !slices.Equal(before.TeamIDs, saved.TeamIDs) {
			if _, err := tx.Exec(ctx, ownedTeamsSQL, tenant, id, teamIDs(saved.TeamIDs)); err != nil {
				return fmt.Errorf("share owned customers with the new teams: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return identity.Principal{}, fmt.Errorf("update principal %s: %w", id, err)
	}
	return saved, nil
}

// CreateTeam implements identity.Store.
func (s *Store) CreateTeam(ctx context.Context, t identity.Team, requestID string) (identity.Team, error) {
	var saved identity.Team
	err := pgdb.InTx(ctx, s.pool, t.TenantID.String(), func(tx pgx.Tx) error {
		var err error
		saved, _, err = pgdb.InsertOnce(ctx, tx, `
INSERT INTO teams (tenant_id, team_id, display_name, request_id) VALUES ($1, $2, $3, nullif($4, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING `+teamColumns, []any{t.TenantID, t.ID, t.DisplayName, requestID},
			`SELECT `+teamColumns+` FROM teams WHERE tenant_id = $1 AND request_id = $2`, []any{t.TenantID, requestID}, scanTeam)
		if code, constraint, ok := pgdb.Constraint(err); ok && code == "23505" && constraint == "teams_name" {
			return identity.ErrTeamNameTaken
		}
		return err
	})
	if err != nil {
		return identity.Team{}, fmt.Errorf("create team: %w", err)
	}
	return saved, nil
}

// AllTenants implements identity.Store through a function that sees every
// tenant (the table itself is isolated per tenant).
func (s *Store) AllTenants(ctx context.Context, after uuid.UUID, limit int) ([]identity.Tenant, error) {
	return pgdb.Rows(ctx, s.pool, "", `SELECT tenant_id, display_name, operator, create_time FROM operator_list_tenants($1, $2)`,
		[]any{after, limit}, scanTenant)
}

// AnyTenant implements identity.Store.
func (s *Store) AnyTenant(ctx context.Context, id uuid.UUID) (identity.Tenant, error) {
	t, err := pgdb.Row(ctx, s.pool, "", `SELECT tenant_id, display_name, operator, create_time FROM operator_get_tenant($1)`,
		[]any{id}, scanTenant)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, identity.ErrTenantNotFound
	}
	return t, err
}

// ListTeams implements identity.Store.
func (s *Store) ListTeams(ctx context.Context, tenant uuid.UUID) ([]identity.Team, error) {
	return pgdb.Rows(ctx, s.pool, tenant.String(), `SELECT `+teamColumns+` FROM teams WHERE tenant_id = $1 ORDER BY display_name`,
		[]any{tenant}, scanTeam)
}

// CreateAPIKey implements identity.Store.
func (s *Store) CreateAPIKey(ctx context.Context, k identity.APIKey, hash []byte) (identity.APIKey, error) {
	var saved identity.APIKey
	err := pgdb.InTx(ctx, s.pool, k.TenantID.String(), func(tx pgx.Tx) error {
		var err error
		saved, err = one(ctx, tx, scanAPIKey, `
INSERT INTO api_keys (tenant_id, api_key_id, principal_id, display_name, prefix, secret_sha256) VALUES ($1, $2, $3, $4, $5, $6)
RETURNING `+apiKeyColumns, k.TenantID, k.ID, k.PrincipalID, k.DisplayName, k.Prefix, hash)
		return err
	})
	if err != nil {
		return identity.APIKey{}, fmt.Errorf("create api key: %w", err)
	}
	return saved, nil
}

// ListAPIKeys implements identity.Store.
func (s *Store) ListAPIKeys(ctx context.Context, tenant, after uuid.UUID, limit int) ([]identity.APIKey, error) {
	return pgdb.Rows(ctx, s.pool, tenant.String(), `SELECT `+apiKeyColumns+` FROM api_keys
WHERE tenant_id = $1 AND api_key_id > $2 ORDER BY api_key_id LIMIT $3`, []any{tenant, after, limit}, scanAPIKey)
}

// RevokeAPIKey implements identity.Store.
func (s *Store) RevokeAPIKey(ctx context.Context, tenant, id uuid.UUID) (identity.APIKey, error) {
	var saved identity.APIKey
	err := pgdb.InTx(ctx, s.pool, tenant.String(), func(tx pgx.Tx) error {
		var err error
		saved, err = one(ctx, tx, scanAPIKey, `UPDATE api_keys SET revoke_time = coalesce(revoke_time, now())
WHERE tenant_id = $1 AND api_key_id = $2 RETURNING `+apiKeyColumns, tenant, id)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return identity.APIKey{}, identity.ErrAPIKeyNotFound
	}
	if err != nil {
		return identity.APIKey{}, fmt.Errorf("revoke api key %s: %w", id, err)
	}
	return saved, nil
}

type keyRow struct {
	hash        []byte
	principalID uuid.UUID
	roles       []auth.Role
	teams       []uuid.UUID
	partner     *uuid.UUID
	operator    bool
}

// Authenticate implements identity.Store. It also records the key's last use,
// at most once a minute, in the same round trip.
func (s *Store) Authenticate(ctx context.Context, k auth.ParsedAPIKey) (auth.Caller, error) {
	row, err := pgdb.Row(ctx, s.pool, k.TenantID.String(), `
WITH touched AS (
    UPDATE api_keys SET last_use_time = now()
    WHERE tenant_id = $1 AND api_key_id = $2 AND revoke_time IS NULL
      AND (last_use_time IS NULL OR last_use_time < now() - interval '1 minute')
)
SELECT k.secret_sha256, p.principal_id, p.roles, p.team_ids, p.partner_id, t.operator
FROM api_keys k
JOIN principals p ON p.tenant_id = k.tenant_id AND p.principal_id = k.principal_id
JOIN tenants t ON t.tenant_id = k.tenant_id
WHERE k.tenant_id = $1 AND k.api_key_id = $2 AND k.revoke_time IS NULL`, []any{k.TenantID, k.KeyID},
		func(r pgx.CollectableRow) (keyRow, error) {
			var kr keyRow
			return kr, r.Scan(&kr.hash, &kr.principalID, &kr.roles, &kr.teams, &kr.partner, &kr.operator)
		})
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.Caller{}, auth.ErrUnauthenticated
	}
	if err != nil {
		return auth.Caller{}, fmt.Errorf("authenticate api key: %w", err)
	}
	if subtle.ConstantTimeCompare(row.hash, k.SecretHash) != 1 {
		return auth.Caller{}, auth.ErrUnauthenticated
	}
	c := auth.Caller{TenantID: k.TenantID.String(), PrincipalID: row.principalID.String(), Roles: row.roles,
		APIKeyID: k.KeyID.String(), Operator: row.operator}
	for _, t := range row.teams {
		c.TeamIDs = append(c.TeamIDs, t.String())
	}
	if row.partner != nil {
		c.PartnerID = row.partner.String()
	}
	return c, nil
}
