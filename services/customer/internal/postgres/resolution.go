package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/protoconv"
	"github.com/rapportcrm/rapport/services/customer/internal/resolution"
)

// Candidate blocking. A customer is compared only with the customers that
// share one of its blocking keys, each looked up through an index: the
// normalised e-mail and E.164 phone of the record and of its contact points,
// the folded name by trigram similarity (the 20 most alike of at most 200
// that pass the threshold: a common name matches thousands, and ranking them
// all made every create cost ~100 ms of database time), and the postal code
// of its addresses (50 at most). A scan is therefore n index probes, not n²
// comparisons. The e-mail and phone indexes are partial (non-empty values),
// so each lookup says of the other side's value that it is not empty too:
// the planner does not infer it from the equality, and without it the phone
// lookup read every customer of the tenant (0.2 s at a million).
const candidateIDsSQL = `
SELECT s.customer_id, x.customer_id
FROM customers s
CROSS JOIN LATERAL (
    SELECT o.customer_id FROM customers o
    WHERE o.tenant_id = s.tenant_id AND s.email <> '' AND o.email_lower = s.email_lower AND o.email <> ''
    UNION
    SELECT o.customer_id FROM customers o
    WHERE o.tenant_id = s.tenant_id AND s.phone <> '' AND o.phone = s.phone AND o.phone <> ''
    UNION
    SELECT q.customer_id FROM contact_points p
    JOIN contact_points q ON q.tenant_id = p.tenant_id AND q.type = p.type AND q.value = p.value
    WHERE p.tenant_id = s.tenant_id AND p.customer_id = s.customer_id AND p.type IN (1, 2) AND p.value <> '' AND q.value <> ''
    UNION
    (SELECT n.customer_id FROM (
        SELECT o.customer_id, similarity(o.name_key, s.name_key) AS sim FROM customers o
        WHERE o.tenant_id = s.tenant_id AND s.name_key <> '' AND o.name_key % s.name_key AND o.kind = s.kind AND o.delete_time IS NULL
        LIMIT 200) n
     ORDER BY n.sim DESC LIMIT 20)
    UNION
    (SELECT q.customer_id FROM contact_points p
     JOIN contact_points q ON q.tenant_id = p.tenant_id AND q.type = 3 AND q.country_code = p.country_code
         AND q.postal_code = p.postal_code AND q.postal_code <> ''
     WHERE p.tenant_id = s.tenant_id AND p.customer_id = s.customer_id AND p.type = 3 AND p.postal_code <> ''
     LIMIT 50)
) x
WHERE s.tenant_id = $1 AND s.customer_id = ANY($2) AND x.customer_id <> s.customer_id`

// profilesSQL reads what the scorer compares of the customers in $2; $3
// keeps deleted ones too.
const profilesSQL = `
SELECT c.customer_id, c.kind, c.display_name,
    array(SELECT DISTINCT v FROM (SELECT c.email_lower AS v UNION ALL
        SELECT p.value FROM contact_points p WHERE p.tenant_id = c.tenant_id AND p.customer_id = c.customer_id AND p.type = 1) e WHERE v <> ''),
    array(SELECT DISTINCT v FROM (SELECT c.phone AS v UNION ALL
        SELECT p.value FROM contact_points p WHERE p.tenant_id = c.tenant_id AND p.customer_id = c.customer_id AND p.type = 2) e WHERE v <> ''),
    array(SELECT p.country_code FROM contact_points p
        WHERE p.tenant_id = c.tenant_id AND p.customer_id = c.customer_id AND p.type = 3 AND p.postal_code <> '' ORDER BY p.contact_point_id),
    array(SELECT p.postal_code FROM contact_points p
        WHERE p.tenant_id = c.tenant_id AND p.customer_id = c.customer_id AND p.type = 3 AND p.postal_code <> '' ORDER BY p.contact_point_id),
    array(SELECT coalesce(p.address_lines[1], '') FROM contact_points p
        WHERE p.tenant_id = c.tenant_id AND p.customer_id = c.customer_id AND p.type = 3 AND p.postal_code <> '' ORDER BY p.contact_point_id),
    array(SELECT o.organization_id FROM organization_contacts o WHERE o.tenant_id = c.tenant_id AND o.person_id = c.customer_id)
FROM customers c
WHERE c.tenant_id = $1 AND c.customer_id = ANY($2) AND ($3 OR c.delete_time IS NULL)`

func scanProfile(row pgx.CollectableRow) (resolution.Profile, error) {
	var p resolution.Profile
	var countries, codes, lines []string
	err := row.Scan(&p.ID, &p.Kind, &p.Name, &p.Emails, &p.Phones, &countries, &codes, &lines, &p.OrganizationIDs)
	for i := range codes {
		p.Addresses = append(p.Addresses, resolution.Address{CountryCode: countries[i], PostalCode: codes[i], Line: lines[i]})
	}
	return p, err
}

// blocked returns the profiles of sources, which may be deleted when
// withDeleted, and of their live candidates, keyed by id, and each
// source's candidate ids.
func blocked(ctx context.Context, tx pgx.Tx, tenant string, sources []uuid.UUID, withDeleted bool) (map[uuid.UUID]resolution.Profile, map[uuid.UUID][]uuid.UUID, error) {
	rows, err := tx.Query(ctx, candidateIDsSQL, tenant, sources)
	if err != nil {
		return nil, nil, fmt.Errorf("block candidates: %w", err)
	}
	pairs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) ([2]uuid.UUID, error) {
		var p [2]uuid.UUID
		return p, row.Scan(&p[0], &p[1])
	})
	if err != nil {
		return nil, nil, fmt.Errorf("block candidates: %w", err)
	}
	links := map[uuid.UUID][]uuid.UUID{}
	var others []uuid.UUID
	for _, p := range pairs {
		links[p[0]] = append(links[p[0]], p[1])
		others = append(others, p[1])
	}
	profiles := map[uuid.UUID]resolution.Profile{}
	for _, q := range []struct {
		ids     []uuid.UUID
		deleted bool
	}{{sources, withDeleted}, {others, false}} {
		if len(q.ids) == 0 {
			continue
		}
		rows, err := tx.Query(ctx, profilesSQL, tenant, q.ids, q.deleted)
		if err != nil {
			return nil, nil, fmt.Errorf("read profiles: %w", err)
		}
		ps, err := pgx.CollectRows(rows, scanProfile)
		if err != nil {
			return nil, nil, fmt.Errorf("read profiles: %w", err)
		}
		for _, p := range ps {
			profiles[p.ID] = p
		}
	}
	return profiles, links, nil
}

// profilesOf picks the profiles of ids that were found (live ones).
func profilesOf(profiles map[uuid.UUID]resolution.Profile, ids []uuid.UUID) []resolution.Profile {
	out := make([]resolution.Profile, 0, len(ids))
	for _, id := range ids {
		if p, ok := profiles[id]; ok {
			out = append(out, p)
		}
	}
	return out
}

// Candidates implements resolution.Store.
func (s *Store) Candidates(ctx context.Context, caller auth.Caller, id uuid.UUID) (resolution.Profile, []resolution.Profile, error) {
	var src resolution.Profile
	var others []resolution.Profile
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		profiles, links, err := blocked(ctx, tx, caller.TenantID, []uuid.UUID{id}, true)
		if err != nil {
			return err
		}
		var ok bool
		if src, ok = profiles[id]; !ok {
			return customer.ErrNotFound
		}
		others = profilesOf(profiles, links[id])
		return nil
	})
	if err != nil {
		return resolution.Profile{}, nil, fmt.Errorf("duplicate candidates of %s: %w", id, err)
	}
	return src, others, nil
}

// The review queue.

const pairColumns = `pair_id, first_customer_id, second_customer_id, score, features, state, scan_id, merge_id, create_time, update_time, revision`

func scanPair(row pgx.CollectableRow) (resolution.Pair, error) {
	var p resolution.Pair
	err := row.Scan(&p.ID, &p.First, &p.Second, &p.Score, &p.Features, &p.State, &p.ScanID, &p.MergeID, &p.CreateTime, &p.UpdateTime, &p.Revision)
	return p, err
}

const (
	// insertPairSQL queues a pair once: a pair already queued, in whatever
	// state, is left alone, so a dismissed pair stays dismissed.
	insertPairSQL = `
INSERT INTO duplicate_pairs (tenant_id, pair_id, first_customer_id, second_customer_id, score, features, state, scan_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (tenant_id, first_customer_id, second_customer_id) DO NOTHING
RETURNING ` + pairColumns
	pairSQL     = `SELECT ` + pairColumns + ` FROM duplicate_pairs WHERE tenant_id = $1 AND pair_id = $2`
	lockPairSQL = pairSQL + ` FOR UPDATE`
	savePairSQL = `
UPDATE duplicate_pairs SET state = $3, merge_id = $4, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND pair_id = $2
RETURNING ` + pairColumns
	// pairOfSQL finds the queued pair of two customers, in canonical order.
	pairOfSQL = `SELECT ` + pairColumns + ` FROM duplicate_pairs
WHERE tenant_id = $1 AND first_customer_id = least($2::uuid, $3::uuid) AND second_customer_id = greatest($2::uuid, $3::uuid) FOR UPDATE`
)

// queuePairs inserts the pairs not yet queued, recording each, and returns
// how many it added.
func queuePairs(ctx context.Context, tx pgx.Tx, caller auth.Caller, pairs []resolution.Pair, scanID *uuid.UUID) (int, error) {
	added := 0
	seen := map[[2]uuid.UUID]bool{}
	for _, p := range pairs {
		if seen[[2]uuid.UUID{p.First, p.Second}] {
			continue
		}
		seen[[2]uuid.UUID{p.First, p.Second}] = true
		rows, err := tx.Query(ctx, insertPairSQL, caller.TenantID, p.ID, p.First, p.Second, p.Score, features(p.Features), resolution.PairOpen, scanID)
		if err != nil {
			return 0, err
		}
		saved, err := pgx.CollectExactlyOneRow(rows, scanPair)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("queue pair: %w", err)
		}
		added++
		if err := record(ctx, tx, caller, resolution.EventPairQueued, saved.Resource(), nil, protoconv.DuplicatePair(saved)); err != nil {
			return 0, err
		}
	}
	return added, nil
}

// features keeps a pair's explanation a JSON array, never null.
func features(f []resolution.Feature) []resolution.Feature {
	if f == nil {
		return []resolution.Feature{}
	}
	return f
}

// QueuePairs implements resolution.Store.
func (s *Store) QueuePairs(ctx context.Context, caller auth.Caller, pairs []resolution.Pair) (int, error) {
	var added int
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var err error
		added, err = queuePairs(ctx, tx, caller, pairs, nil)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("queue duplicate pairs: %w", err)
	}
	return added, nil
}

// Pair implements resolution.Store.
func (s *Store) Pair(ctx context.Context, caller auth.Caller, id uuid.UUID) (resolution.Pair, error) {
	p, err := read(ctx, s, caller, resolution.ErrPairNotFound, scanPair, pairSQL, id)
	if err != nil {
		return p, fmt.Errorf("get duplicate pair %s: %w", id, err)
	}
	return p, nil
}

// pairCursor is the keyset position after the last pair of a page.
type pairCursor struct {
	Score float64   `json:"s"`
	ID    uuid.UUID `json:"i"`
}

const listPairsSQL = `SELECT ` + pairColumns + ` FROM duplicate_pairs
WHERE tenant_id = $1 AND state = $2 AND score >= $3 AND ($4::boolean OR (score, pair_id) < ($5, $6))
ORDER BY score DESC, pair_id DESC LIMIT $7`

// ListPairs implements resolution.Store: highest score first, with keyset
// pagination on (score, pair_id) over duplicate_pairs_queue.
func (s *Store) ListPairs(ctx context.Context, caller auth.Caller, q resolution.PairQuery) ([]resolution.Pair, string, error) {
	scope := fmt.Sprintf("pairs|%d|%g", q.State, q.MinScore)
	var cur pairCursor
	first := q.PageToken == ""
	if !first {
		if err := pagetoken.Decode(q.PageToken, scope, &cur); err != nil {
			return nil, "", validation.Field("page_token", "is not a token from this query; start again without it")
		}
	}
	rows, err := pgdb.Rows(ctx, s.pool, caller.TenantID, listPairsSQL,
		[]any{caller.TenantID, q.State, q.MinScore, first, cur.Score, cur.ID, q.PageSize + 1}, scanPair)
	if err != nil {
		return nil, "", fmt.Errorf("list duplicate pairs: %w", err)
	}
	if len(rows) <= q.PageSize {
		return rows, "", nil
	}
	rows = rows[:q.PageSize]
	last := rows[q.PageSize-1]
	next, err := pagetoken.Encode(scope, pairCursor{Score: last.Score, ID: last.ID})
	return rows, next, err
}

// MutatePair implements resolution.Store.
func (s *Store) MutatePair(ctx context.Context, caller auth.Caller, id uuid.UUID, eventType string, m func(*resolution.Pair) error) (resolution.Pair, error) {
	var saved resolution.Pair
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := rowOr(ctx, tx, resolution.ErrPairNotFound, scanPair, lockPairSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		p := before
		if err := m(&p); err != nil {
			return err
		}
		if saved, err = rowOr(ctx, tx, resolution.ErrPairNotFound, scanPair, savePairSQL, caller.TenantID, id, p.State, p.MergeID); err != nil {
			return err
		}
		return record(ctx, tx, caller, eventType, saved.Resource(), protoconv.DuplicatePair(before), protoconv.DuplicatePair(saved))
	})
	if err != nil {
		return resolution.Pair{}, fmt.Errorf("change duplicate pair %s: %w", id, err)
	}
	return saved, nil
}

// Duplicate scans.

const scanColumns = `scan_id, state, processed_count, total_count, pairs_found, create_time, update_time, finish_time`

func scanScan(row pgx.CollectableRow) (resolution.Scan, error) {
	var s resolution.Scan
	err := row.Scan(&s.ID, &s.State, &s.Processed, &s.Total, &s.PairsFound, &s.CreateTime, &s.UpdateTime, &s.FinishTime)
	return s, err
}

const (
	insertScanSQL = `
INSERT INTO duplicate_scans (tenant_id, scan_id, state, total_count, principal_id, request_id)
SELECT $1, $2, 1, count(*), $3, nullif($4, '') FROM customers WHERE tenant_id = $1 AND delete_time IS NULL
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + scanColumns
	scanByRequestSQL = `SELECT ` + scanColumns + ` FROM duplicate_scans WHERE tenant_id = $1 AND request_id = $2`
	scanSQL          = `SELECT ` + scanColumns + ` FROM duplicate_scans WHERE tenant_id = $1 AND scan_id = $2`
	runningScansSQL  = `SELECT tenant_id::text, scan_id FROM resolution_running_scans()`
	// lockScanSQL skips a scan another worker is busy with.
	lockScanSQL = `SELECT state, cursor_id FROM duplicate_scans WHERE tenant_id = $1 AND scan_id = $2 FOR UPDATE SKIP LOCKED`
	// scanBatchSQL walks live customers in id order along the primary key.
	scanBatchSQL = `
SELECT customer_id FROM customers
WHERE tenant_id = $1 AND delete_time IS NULL AND ($2::uuid IS NULL OR customer_id > $2)
ORDER BY customer_id LIMIT $3`
	advanceScanSQL = `
UPDATE duplicate_scans SET cursor_id = $3, processed_count = processed_count + $4, pairs_found = pairs_found + $5,
    total_count = greatest(total_count, processed_count + $4), update_time = now(),
    state = CASE WHEN $6 THEN 2 ELSE state END, finish_time = CASE WHEN $6 THEN now() END
WHERE tenant_id = $1 AND scan_id = $2
RETURNING ` + scanColumns
)

// StartScan implements resolution.Store.
func (s *Store) StartScan(ctx context.Context, caller auth.Caller, id uuid.UUID, requestID string) (resolution.Scan, error) {
	var saved resolution.Scan
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var created bool
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertScanSQL, []any{caller.TenantID, id, caller.PrincipalID, requestID},
			scanByRequestSQL, []any{caller.TenantID, requestID}, scanScan)
		if _, name, ok := pgdb.Constraint(err); ok && name == "duplicate_scans_running" {
			return resolution.ErrScanRunning
		}
		if err != nil || !created {
			return err
		}
		return record(ctx, tx, caller, resolution.EventScanStarted, saved.Resource(), nil, protoconv.DuplicateScan(saved))
	})
	if err != nil {
		return resolution.Scan{}, fmt.Errorf("start duplicate scan: %w", err)
	}
	return saved, nil
}

// Scan implements resolution.Store.
func (s *Store) Scan(ctx context.Context, caller auth.Caller, id uuid.UUID) (resolution.Scan, error) {
	sc, err := read(ctx, s, caller, resolution.ErrScanNotFound, scanScan, scanSQL, id)
	if err != nil {
		return sc, fmt.Errorf("get duplicate scan %s: %w", id, err)
	}
	return sc, nil
}

// RunningScans implements resolution.Store through the one function that
// reads across tenants (see migration 00011).
func (s *Store) RunningScans(ctx context.Context) ([]resolution.ScanRef, error) {
	rows, err := s.pool.Query(ctx, runningScansSQL)
	if err != nil {
		return nil, fmt.Errorf("running scans: %w", err)
	}
	refs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (resolution.ScanRef, error) {
		var r resolution.ScanRef
		return r, row.Scan(&r.TenantID, &r.ScanID)
	})
	if err != nil {
		return nil, fmt.Errorf("running scans: %w", err)
	}
	return refs, nil
}

// ScanBatch implements resolution.Store. It runs as the service itself
// (no caller), so it sees every customer of the tenant.
func (s *Store) ScanBatch(ctx context.Context, ref resolution.ScanRef, size int, pairsOf func(resolution.Profile, []resolution.Profile) []resolution.Pair) (bool, error) {
	done := false
	system := auth.Caller{TenantID: ref.TenantID}
	err := pgdb.InTx(ctx, s.pool, ref.TenantID, func(tx pgx.Tx) error {
		var state resolution.ScanState
		var after *uuid.UUID
		err := tx.QueryRow(ctx, lockScanSQL, ref.TenantID, ref.ScanID).Scan(&state, &after)
		if errors.Is(err, pgx.ErrNoRows) || err == nil && state != resolution.ScanRunning {
			done = true
			return nil
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, scanBatchSQL, ref.TenantID, after, size)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return err
		}
		var pairs []resolution.Pair
		if len(ids) > 0 {
			profiles, links, err := blocked(ctx, tx, ref.TenantID, ids, false)
			if err != nil {
				return err
			}
			for _, id := range ids {
				if p, ok := profiles[id]; ok {
					pairs = append(pairs, pairsOf(p, profilesOf(profiles, links[id]))...)
				}
			}
		}
		added, err := queuePairs(ctx, tx, system, pairs, &ref.ScanID)
		if err != nil {
			return err
		}
		cursor := after
		if len(ids) > 0 {
			cursor = &ids[len(ids)-1]
		}
		done = len(ids) < size
		saved, err := rowOr(ctx, tx, resolution.ErrScanNotFound, scanScan, advanceScanSQL, ref.TenantID, ref.ScanID, cursor, len(ids), added, done)
		if err != nil || !done {
			return err
		}
		return record(ctx, tx, system, resolution.EventScanSucceeded, saved.Resource(), nil, protoconv.DuplicateScan(saved))
	})
	if err != nil {
		return false, fmt.Errorf("scan batch: %w", err)
	}
	return done, nil
}

// Merging.

// reference is one column that names a customer. A merge moves every row
// whose column names the loser to the survivor (UPDATE … SET column =
// survivor WHERE column = loser), journalling each moved row's image so an
// unmerge moves exactly those rows back. Tables added to the customer
// service join a merge by adding their entries to references.
type reference struct {
	table  string
	column string
	// keys identify a row within the tenant besides column.
	keys []string
	// keep, a condition on the loser's row r with $3 the survivor, leaves
	// the row with the loser where moving it would break a uniqueness rule
	// or make it name the survivor twice; such rows stay in the loser's history.
	keep string
	// set adds assignments made as the row moves, to honour a uniqueness
	// rule: the survivor's primary stays primary (survivorship of the
	// customer's e-mail and phone then decides which one ends up primary).
	set string
	// restore lists the columns set changes; an unmerge puts them back.
	restore []string
}

// references are every table and column of this service that names a
// customer, except derived rows: the current value tier is recomputed from
// the rules, current segment stays are closed and reopened by
// reclassification, and the stage log and tier history move as history.
var references = []reference{
	{table: "contact_points", column: "customer_id", keys: []string{"contact_point_id"},
		set:     `is_primary = r.is_primary AND NOT EXISTS (SELECT 1 FROM contact_points s WHERE s.tenant_id = r.tenant_id AND s.customer_id = $3 AND s.type = r.type AND s.is_primary)`,
		restore: []string{"is_primary"}},
	{table: "organization_contacts", column: "organization_id", keys: []string{"organization_contact_id"},
		keep:    `r.person_id = $3 OR EXISTS (SELECT 1 FROM organization_contacts s WHERE s.tenant_id = r.tenant_id AND s.organization_id = $3 AND s.person_id = r.person_id)`,
		set:     `is_primary_contact = r.is_primary_contact AND NOT EXISTS (SELECT 1 FROM organization_contacts s WHERE s.tenant_id = r.tenant_id AND s.organization_id = $3 AND s.is_primary_contact)`,
		restore: []string{"is_primary_contact"}},
	{table: "organization_contacts", column: "person_id", keys: []string{"organization_contact_id"},
		keep: `r.organization_id = $3 OR EXISTS (SELECT 1 FROM organization_contacts s WHERE s.tenant_id = r.tenant_id AND s.person_id = $3 AND s.organization_id = r.organization_id)`},
	{table: "group_members", column: "customer_id", keys: []string{"member_id"}},
	{table: "relationships", column: "from_customer_id", keys: []string{"relationship_id"},
		keep: `r.to_customer_id = $3 OR (r.valid_to IS NULL AND EXISTS (SELECT 1 FROM relationships s WHERE s.tenant_id = r.tenant_id
            AND s.from_customer_id = $3 AND s.to_customer_id = r.to_customer_id AND s.type = r.type AND s.custom_label = r.custom_label AND s.valid_to IS NULL))`},
	{table: "relationships", column: "to_customer_id", keys: []string{"relationship_id"},
		keep: `r.from_customer_id = $3 OR (r.valid_to IS NULL AND EXISTS (SELECT 1 FROM relationships s WHERE s.tenant_id = r.tenant_id
            AND s.to_customer_id = $3 AND s.from_customer_id = r.from_customer_id AND s.type = r.type AND s.custom_label = r.custom_label AND s.valid_to IS NULL))`},
	// A consent the survivor also holds stays with the loser; when the
	// loser's is newer, adoptNewerConsents copies it onto the survivor's.
	{table: "consents", column: "customer_id", keys: []string{"channel", "purpose"},
		keep: `EXISTS (SELECT 1 FROM consents s WHERE s.tenant_id = r.tenant_id AND s.customer_id = $3 AND s.channel = r.channel AND s.purpose = r.purpose)`},
	{table: "consent_records", column: "customer_id", keys: []string{"consent_record_id"}},
	{table: "lifecycle_transitions", column: "customer_id", keys: []string{"transition_id"}},
	{table: "value_tier_changes", column: "customer_id", keys: []string{"change_id"}},
	// Closed stays are history and move; the loser's open stays were closed
	// when it was deleted, earlier in the merge.
	{table: "segment_members", column: "customer_id", keys: []string{"stay_id"}, keep: `r.leave_time IS NULL`},
	{table: "customer_partners", column: "customer_id", keys: []string{"partner_id"},
		keep: `EXISTS (SELECT 1 FROM customer_partners s WHERE s.tenant_id = r.tenant_id AND s.customer_id = $3 AND s.partner_id = r.partner_id)`},
	{table: "interactions", column: "customer_id", keys: []string{"interaction_id"}},
	{table: "follow_ups", column: "customer_id", keys: []string{"follow_up_id"}},
	{table: "documents", column: "customer_id", keys: []string{"document_id"}},
	{table: "document_versions", column: "customer_id", keys: []string{"version_id"}},
	{table: "document_transitions", column: "customer_id", keys: []string{"transition_id"}},
	{table: "document_share_links", column: "customer_id", keys: []string{"share_link_id"}},
	// A loyalty membership moves with its member account and point lots
	// when the survivor is not a member of the program (its transactions
	// and tier changes follow by cascade, 00020_loyalty_merge.sql). The
	// account and lots move first, while the memberships still tell which
	// programs the survivor belongs to. Where both are members, the loser's
	// membership stays with it: joining two balances is a posting of its own.
	{table: "loyalty_accounts", column: "customer_id", keys: []string{"account_id"}, keep: loyaltyShared},
	{table: "loyalty_lots", column: "customer_id", keys: []string{"lot_id"}, keep: loyaltyShared},
	{table: "loyalty_memberships", column: "customer_id", keys: []string{"program_id"}, keep: loyaltyShared},
}

// loyaltyShared keeps a loyalty row with the loser when the survivor ($3)
// is a member of the row's program too.
const loyaltyShared = `EXISTS (SELECT 1 FROM loyalty_memberships s WHERE s.tenant_id = r.tenant_id AND s.program_id = r.program_id AND s.customer_id = $3)`

// Kinds of journalled rows.
const (
	rowMoved    = 1 // re-parented from the loser; image is the row before
	rowAdjusted = 2 // a survivor's row overwritten; image is the row before
)

// moveSQL re-parents the rows of ref from $2 (loser) to $3 (survivor) and
// journals them under merge $4.
func (ref reference) moveSQL() string {
	keep := ref.keep
	if keep == "" {
		keep = "false"
	}
	set := ""
	if ref.set != "" {
		set = ", " + ref.set
	}
	match := make([]string, len(ref.keys))
	for i, k := range ref.keys {
		match[i] = fmt.Sprintf("r.%s = p.%s", k, k)
	}
	return fmt.Sprintf(`
WITH prior AS (
    SELECT r.* FROM %[1]s r WHERE r.tenant_id = $1 AND r.%[2]s = $2 AND NOT (%[3]s)
), moved AS (
    UPDATE %[1]s r SET %[2]s = $3%[4]s FROM prior p
    WHERE r.tenant_id = $1 AND r.%[2]s = $2 AND %[5]s
    RETURNING to_jsonb(p) AS image
)
INSERT INTO customer_merge_rows (tenant_id, merge_id, table_name, column_name, kind, image)
SELECT $1, $4, '%[1]s', '%[2]s', %[6]d, image FROM moved`, ref.table, ref.column, keep, set, strings.Join(match, " AND "), rowMoved)
}

// backSQL moves the rows merge $4 journalled for ref from $3 (survivor)
// back to $2 (loser), putting back the columns the move changed. Rows that
// have since left the survivor stay where they are.
func (ref reference) backSQL() string {
	set := ""
	for _, c := range ref.restore {
		set += fmt.Sprintf(", %s = b.%s", c, c)
	}
	match := make([]string, len(ref.keys))
	for i, k := range ref.keys {
		match[i] = fmt.Sprintf("r.%s = b.%s", k, k)
	}
	return fmt.Sprintf(`
UPDATE %[1]s r SET %[2]s = $2%[3]s
FROM (SELECT (jsonb_populate_record(NULL::%[1]s, m.image)).* FROM customer_merge_rows m
      WHERE m.tenant_id = $1 AND m.merge_id = $4 AND m.table_name = '%[1]s' AND m.column_name = '%[2]s' AND m.kind = %[5]d) b
WHERE r.tenant_id = $1 AND r.%[2]s = $3 AND %[4]s`, ref.table, ref.column, set, strings.Join(match, " AND "), rowMoved)
}

const (
	// adoptConsentsSQL copies onto the survivor ($3) each consent of the
	// loser ($2) that is newer than the survivor's for the same channel and
	// purpose, journalling the survivor's row before (with the record it
	// took) under merge $4.
	adoptConsentsSQL = `
WITH newer AS (
    SELECT s.channel, s.purpose, to_jsonb(s) || jsonb_build_object('adopted_record_id', l.consent_record_id) AS image,
           l.state, l.source, l.principal_id, l.consent_record_id, l.record_time
    FROM consents l
    JOIN consents s ON s.tenant_id = l.tenant_id AND s.customer_id = $3 AND s.channel = l.channel AND s.purpose = l.purpose
    WHERE l.tenant_id = $1 AND l.customer_id = $2 AND l.record_time > s.record_time
), adopted AS (
    UPDATE consents r SET state = n.state, source = n.source, principal_id = n.principal_id,
        consent_record_id = n.consent_record_id, record_time = n.record_time
    FROM newer n
    WHERE r.tenant_id = $1 AND r.customer_id = $3 AND r.channel = n.channel AND r.purpose = n.purpose
    RETURNING n.image
)
INSERT INTO customer_merge_rows (tenant_id, merge_id, table_name, column_name, kind, image)
SELECT $1, $4, 'consents', 'customer_id', 2, image FROM adopted`
	// restoreConsentsSQL puts back the survivor's consents a merge
	// overwrote, unless a later decision replaced the adopted one.
	restoreConsentsSQL = `
UPDATE consents r SET state = b.state, source = b.source, principal_id = b.principal_id,
    consent_record_id = b.consent_record_id, record_time = b.record_time
FROM (SELECT (jsonb_populate_record(NULL::consents, m.image)).*, (m.image->>'adopted_record_id')::uuid AS adopted
      FROM customer_merge_rows m
      WHERE m.tenant_id = $1 AND m.merge_id = $3 AND m.table_name = 'consents' AND m.kind = 2) b
WHERE r.tenant_id = $1 AND r.customer_id = $2 AND r.channel = b.channel AND r.purpose = b.purpose AND r.consent_record_id = b.adopted`
)

const mergeColumns = `merge_id, survivor_id, loser_id, pair_id, state, field_rules, moved_row_count, create_time, expire_time, unmerge_time`

func scanMerge(row pgx.CollectableRow) (resolution.Merge, error) {
	var m resolution.Merge
	err := row.Scan(&m.ID, &m.SurvivorID, &m.LoserID, &m.PairID, &m.State, &m.Rules, &m.MovedRows, &m.CreateTime, &m.ExpireTime, &m.UnmergeTime)
	return m, err
}

const (
	mergeByRequestSQL = `SELECT ` + mergeColumns + ` FROM customer_merges WHERE tenant_id = $1 AND request_id = $2`
	mergeSQL          = `SELECT ` + mergeColumns + ` FROM customer_merges WHERE tenant_id = $1 AND merge_id = $2`
	// lockTwoSQL locks both customers in id order, so that concurrent
	// merges sharing a customer queue up instead of deadlocking.
	lockTwoSQL     = `SELECT ` + customerColumns + ` FROM customers WHERE tenant_id = $1 AND customer_id = ANY($2) ORDER BY customer_id FOR UPDATE`
	setMergedSQL   = `UPDATE customers SET merged_into = $3 WHERE tenant_id = $1 AND customer_id = $2 RETURNING ` + customerColumns
	insertMergeSQL = `
INSERT INTO customer_merges (tenant_id, merge_id, survivor_id, loser_id, state, field_rules, survivor_before, survivor_after,
    loser_before, moved_row_count, principal_id, request_id, expire_time)
VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, 0, $9, nullif($10, ''), now() + $11::interval)`
	finishMergeSQL = `
UPDATE customer_merges SET moved_row_count = (SELECT count(*) FROM customer_merge_rows m WHERE m.tenant_id = $1 AND m.merge_id = $2 AND m.kind = 1),
    pair_id = $3
WHERE tenant_id = $1 AND merge_id = $2
RETURNING ` + mergeColumns
	imagesSQL   = `SELECT survivor_before, survivor_after, loser_before FROM customer_merges WHERE tenant_id = $1 AND merge_id = $2 FOR UPDATE`
	unmergedSQL = `UPDATE customer_merges SET state = 2, unmerge_time = now() WHERE tenant_id = $1 AND merge_id = $2 RETURNING ` + mergeColumns
)

// lockTwo locks customers a and b and returns them in that order.
func lockTwo(ctx context.Context, tx pgx.Tx, tenant string, a, b uuid.UUID) (customer.Customer, customer.Customer, error) {
	rows, err := tx.Query(ctx, lockTwoSQL, tenant, []uuid.UUID{a, b})
	if err != nil {
		return customer.Customer{}, customer.Customer{}, err
	}
	cs, err := pgx.CollectRows(rows, scanCustomer)
	if err != nil {
		return customer.Customer{}, customer.Customer{}, err
	}
	var ca, cb *customer.Customer
	for i := range cs {
		switch cs[i].ID {
		case a:
			ca = &cs[i]
		case b:
			cb = &cs[i]
		}
	}
	switch {
	case ca == nil:
		return customer.Customer{}, customer.Customer{}, fmt.Errorf("customer %s: %w", a, customer.ErrNotFound)
	case cb == nil:
		return customer.Customer{}, customer.Customer{}, fmt.Errorf("customer %s: %w", b, customer.ErrNotFound)
	}
	return *ca, *cb, nil
}

// saveCustomer writes c over the locked customer before, records its event
// and keeps contact points, the stage log, tier and segments in step.
func saveCustomer(ctx context.Context, tx pgx.Tx, caller auth.Caller, before, c customer.Customer, eventType, reason string) (customer.Customer, error) {
	saved, err := rowOr(ctx, tx, customer.ErrNotFound, scanCustomer, saveCustomerSQL, caller.TenantID, c.ID, c.Kind, c.DisplayName, c.Email, c.Phone, c.Stage,
		c.Industry, c.CountryCode, c.OwnerID, c.Tags, c.ExternalID, c.DeleteTime, c.SourceChannel, attributesOrEmpty(c.CustomAttributes))
	if err != nil {
		return customer.Customer{}, err
	}
	if (before.MergedInto == nil) != (c.MergedInto == nil) {
		if saved, err = rowOr(ctx, tx, customer.ErrNotFound, scanCustomer, setMergedSQL, caller.TenantID, c.ID, c.MergedInto); err != nil {
			return customer.Customer{}, err
		}
	}
	if err := record(ctx, tx, caller, eventType, saved.Resource(), protoconv.Customer(before), protoconv.Customer(saved)); err != nil {
		return customer.Customer{}, err
	}
	if err := adoptCustomerContacts(ctx, tx, caller, &before, saved); err != nil {
		return customer.Customer{}, err
	}
	return saved, afterCustomerWrite(ctx, tx, caller, &before, saved, reason)
}

// Merge implements resolution.Store.
func (s *Store) Merge(ctx context.Context, caller auth.Caller, r resolution.MergeRequest, plan resolution.MergePlan) (resolution.Merge, customer.Customer, error) {
	var m resolution.Merge
	var survivor customer.Customer
	tenant := caller.TenantID
	err := pgdb.InTx(ctx, s.pool, tenant, func(tx pgx.Tx) error {
		if r.RequestID != "" {
			earlier, err := rowOr(ctx, tx, pgx.ErrNoRows, scanMerge, mergeByRequestSQL, tenant, r.RequestID)
			if err == nil {
				m = earlier
				survivor, err = rowOr(ctx, tx, customer.ErrNotFound, scanCustomer, customerByIDSQL, tenant, earlier.SurvivorID)
				return err
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		sv, lo, err := lockTwo(ctx, tx, tenant, r.SurvivorID, r.LoserID)
		if err != nil {
			return err
		}
		after, err := plan(sv, lo)
		if err != nil {
			return err
		}
		rules, survivorBefore, survivorAfter, loserBefore, err := marshalAll(r.Rules, sv, after, lo)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, insertMergeSQL, tenant, r.ID, sv.ID, lo.ID, rules, survivorBefore, survivorAfter, loserBefore,
			caller.PrincipalID, r.RequestID, fmt.Sprintf("%d microseconds", r.Retention.Microseconds())); err != nil {
			return fmt.Errorf("journal merge: %w", err)
		}
		// The loser goes first: deleting it closes its segment stays and
		// drops its tier, so what moves below is history only.
		gone := lo
		now := time.Now().UTC()
		gone.DeleteTime, gone.MergedInto = &now, &sv.ID
		if _, err := saveCustomer(ctx, tx, caller, lo, gone, customer.EventDeleted, "merged into "+sv.ID.String()); err != nil {
			return err
		}
		for _, ref := range references {
			if _, err := tx.Exec(ctx, ref.moveSQL(), tenant, lo.ID, sv.ID, r.ID); err != nil {
				return fmt.Errorf("re-parent %s.%s: %w", ref.table, ref.column, err)
			}
		}
		if _, err := tx.Exec(ctx, adoptConsentsSQL, tenant, lo.ID, sv.ID, r.ID); err != nil {
			return fmt.Errorf("adopt newer consents: %w", err)
		}
		if survivor, err = saveCustomer(ctx, tx, caller, sv, after, customer.EventUpdated, "merged with "+lo.ID.String()); err != nil {
			return err
		}
		pair, err := rowOr(ctx, tx, pgx.ErrNoRows, scanPair, pairOfSQL, tenant, sv.ID, lo.ID)
		var pairID *uuid.UUID
		switch {
		case err == nil && pair.State == resolution.PairOpen:
			merged, err := rowOr(ctx, tx, resolution.ErrPairNotFound, scanPair, savePairSQL, tenant, pair.ID, resolution.PairMerged, r.ID)
			if err != nil {
				return err
			}
			if err := record(ctx, tx, caller, resolution.EventPairMerged, merged.Resource(), protoconv.DuplicatePair(pair), protoconv.DuplicatePair(merged)); err != nil {
				return err
			}
			pairID = &pair.ID
		case err != nil && !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		if m, err = rowOr(ctx, tx, resolution.ErrMergeNotFound, scanMerge, finishMergeSQL, tenant, r.ID, pairID); err != nil {
			return err
		}
		return record(ctx, tx, caller, resolution.EventMerged, m.Resource(), nil, protoconv.Merge(m))
	})
	if err != nil {
		return resolution.Merge{}, customer.Customer{}, fmt.Errorf("merge %s into %s: %w", r.LoserID, r.SurvivorID, err)
	}
	return m, survivor, nil
}

func marshalAll(vs ...any) (rules, survivorBefore, survivorAfter, loserBefore []byte, err error) {
	out := make([][]byte, len(vs))
	for i, v := range vs {
		if out[i], err = json.Marshal(v); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("journal image: %w", err)
		}
	}
	return out[0], out[1], out[2], out[3], nil
}

// GetMerge implements resolution.Store.
func (s *Store) GetMerge(ctx context.Context, caller auth.Caller, id uuid.UUID) (resolution.Merge, error) {
	m, err := read(ctx, s, caller, resolution.ErrMergeNotFound, scanMerge, mergeSQL, id)
	if err != nil {
		return m, fmt.Errorf("get merge %s: %w", id, err)
	}
	return m, nil
}

// Unmerge implements resolution.Store.
func (s *Store) Unmerge(ctx context.Context, caller auth.Caller, id uuid.UUID, plan resolution.UnmergePlan) (resolution.Merge, customer.Customer, customer.Customer, error) {
	var m resolution.Merge
	var survivor, loser customer.Customer
	tenant := caller.TenantID
	err := pgdb.InTx(ctx, s.pool, tenant, func(tx pgx.Tx) error {
		found, err := rowOr(ctx, tx, resolution.ErrMergeNotFound, scanMerge, mergeSQL, tenant, id)
		if err != nil {
			return err
		}
		// The customers are locked before the journal entry, in the same
		// order a merge locks them.
		sv, lo, err := lockTwo(ctx, tx, tenant, found.SurvivorID, found.LoserID)
		if err != nil {
			return err
		}
		var rawBefore, rawAfter, rawLoser []byte
		if err := tx.QueryRow(ctx, imagesSQL, tenant, id).Scan(&rawBefore, &rawAfter, &rawLoser); err != nil {
			return err
		}
		if m, err = rowOr(ctx, tx, resolution.ErrMergeNotFound, scanMerge, mergeSQL, tenant, id); err != nil {
			return err
		}
		var before, merged, loserBefore customer.Customer
		for _, img := range []struct {
			raw []byte
			to  *customer.Customer
		}{{rawBefore, &before}, {rawAfter, &merged}, {rawLoser, &loserBefore}} {
			if err := json.Unmarshal(img.raw, img.to); err != nil {
				return fmt.Errorf("read journal image: %w", err)
			}
		}
		restored, err := plan(m, before, merged, sv)
		if err != nil {
			return err
		}
		for i := len(references) - 1; i >= 0; i-- {
			ref := references[i]
			if _, err := tx.Exec(ctx, ref.backSQL(), tenant, lo.ID, sv.ID, id); err != nil {
				return fmt.Errorf("move back %s.%s: %w", ref.table, ref.column, err)
			}
		}
		if _, err := tx.Exec(ctx, restoreConsentsSQL, tenant, sv.ID, id); err != nil {
			return fmt.Errorf("restore consents: %w", err)
		}
		if survivor, err = saveCustomer(ctx, tx, caller, sv, restored, customer.EventUpdated, "unmerged from "+lo.ID.String()); err != nil {
			return err
		}
		back := loserBefore
		back.ID, back.DeleteTime, back.MergedInto = lo.ID, nil, nil
		if loser, err = saveCustomer(ctx, tx, caller, lo, back, customer.EventUndeleted, "unmerged from "+sv.ID.String()); err != nil {
			return err
		}
		if m.PairID != nil {
			pair, err := rowOr(ctx, tx, resolution.ErrPairNotFound, scanPair, lockPairSQL, tenant, *m.PairID)
			if err != nil {
				return err
			}
			reopened, err := rowOr(ctx, tx, resolution.ErrPairNotFound, scanPair, savePairSQL, tenant, pair.ID, resolution.PairOpen, nil)
			if err != nil {
				return err
			}
			if err := record(ctx, tx, caller, resolution.EventPairReopened, reopened.Resource(), protoconv.DuplicatePair(pair), protoconv.DuplicatePair(reopened)); err != nil {
				return err
			}
		}
		before2 := m
		if m, err = rowOr(ctx, tx, resolution.ErrMergeNotFound, scanMerge, unmergedSQL, tenant, id); err != nil {
			return err
		}
		return record(ctx, tx, caller, resolution.EventUnmerged, m.Resource(), protoconv.Merge(before2), protoconv.Merge(m))
	})
	if err != nil {
		return resolution.Merge{}, customer.Customer{}, customer.Customer{}, fmt.Errorf("unmerge %s: %w", id, err)
	}
	return m, survivor, loser, nil
}
