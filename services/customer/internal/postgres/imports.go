package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/keyset"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/classify"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/imports"
	"github.com/rapportcrm/rapport/services/customer/internal/profile"
	"github.com/rapportcrm/rapport/services/customer/internal/protoconv"
)

const jobColumns = `job_id, request_id, principal_id, roles, state, mode, format, dry_run, columns, rows_read,
applied_rows, created, updated, unchanged, failed, duplicates, create_time, start_time, finish_time`

func scanJob(row pgx.CollectableRow) (imports.Job, error) {
	var j imports.Job
	var roles []string
	err := row.Scan(&j.ID, &j.RequestID, &j.PrincipalID, &roles, &j.State, &j.Mode, &j.Format, &j.DryRun, &j.Columns, &j.RowsRead,
		&j.AppliedRows, &j.Created, &j.Updated, &j.Unchanged, &j.Failed, &j.Duplicates, &j.CreateTime, &j.StartTime, &j.FinishTime)
	for _, r := range roles {
		j.Roles = append(j.Roles, auth.Role(r))
	}
	return j, err
}

const (
	insertJobSQL = `
INSERT INTO import_jobs (tenant_id, job_id, request_id, principal_id, roles, state, mode, format, dry_run, columns)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (tenant_id, request_id) DO NOTHING
RETURNING ` + jobColumns
	jobByRequestSQL = `SELECT ` + jobColumns + ` FROM import_jobs WHERE tenant_id = $1 AND request_id = $2`
	jobByIDSQL      = `SELECT ` + jobColumns + ` FROM import_jobs WHERE tenant_id = $1 AND job_id = $2`
	lockJobSQL      = jobByIDSQL + ` FOR UPDATE`
	startJobSQL     = `
UPDATE import_jobs SET state = 2, start_time = now() WHERE tenant_id = $1 AND job_id = $2
RETURNING ` + jobColumns
	finishJobSQL = `
UPDATE import_jobs SET state = $3, finish_time = now() WHERE tenant_id = $1 AND job_id = $2
RETURNING ` + jobColumns
	stageRowsSQL = `
INSERT INTO import_rows (tenant_id, job_id, row_number, vals, external_id, email_key, phone_key)
SELECT $1, $2, r.n, r.v, r.x, r.e, r.p FROM jsonb_to_recordset($3) AS r(n bigint, v text[], x text, e text, p text)`
	countReadSQL = `
UPDATE import_jobs SET rows_read = rows_read + $3 WHERE tenant_id = $1 AND job_id = $2
RETURNING ` + jobColumns
	interruptedSQL = `SELECT tenant_id::text, job_id FROM import_jobs_interrupted()`
)

// CreateJob implements imports.Store.
func (s *Store) CreateJob(ctx context.Context, caller auth.Caller, j imports.Job) (imports.Job, bool, error) {
	var saved imports.Job
	var created bool
	roles := make([]string, len(j.Roles))
	for i, r := range j.Roles {
		roles[i] = string(r)
	}
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertJobSQL, []any{caller.TenantID, j.ID, j.RequestID, j.PrincipalID, roles,
			j.State, j.Mode, j.Format, j.DryRun, j.Columns}, jobByRequestSQL, []any{caller.TenantID, j.RequestID}, scanJob)
		if err != nil || !created {
			return err
		}
		return recordJob(ctx, tx, caller, imports.EventJobCreated, nil, saved)
	})
	if err != nil {
		return imports.Job{}, false, fmt.Errorf("create import job: %w", err)
	}
	return saved, created, nil
}

func recordJob(ctx context.Context, tx pgx.Tx, caller auth.Caller, event string, before *imports.Job, after imports.Job) error {
	c := outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: event, Resource: after.Resource(), After: protoconv.ImportJob(after)}
	if before != nil {
		c.Before = protoconv.ImportJob(*before)
	}
	return outbox.Record(ctx, tx, c)
}

// Job implements imports.Store.
func (s *Store) Job(ctx context.Context, caller auth.Caller, id uuid.UUID) (imports.Job, error) {
	j, err := pgdb.Row(ctx, s.pool, caller.TenantID, jobByIDSQL, []any{caller.TenantID, id}, scanJob)
	if errors.Is(err, pgx.ErrNoRows) {
		return imports.Job{}, imports.ErrJobNotFound
	}
	if err != nil {
		return imports.Job{}, fmt.Errorf("get import job %s: %w", id, err)
	}
	return j, nil
}

var jobsQuery = keyset.Query[imports.Job]{
	Table:    "import_jobs",
	Columns:  jobColumns,
	IDColumn: "job_id",
	Fields: map[string]sqlfilter.Field{
		"state":      {Column: "state", Kind: sqlfilter.Enum, Enum: customerv1.ImportJobState_value},
		"request_id": {Column: "request_id", Kind: sqlfilter.String},
	},
	Scan: scanJob,
	Key:  func(j imports.Job) (time.Time, uuid.UUID) { return j.CreateTime, j.ID },
}

// Jobs implements imports.Store.
func (s *Store) Jobs(ctx context.Context, caller auth.Caller, q imports.ListQuery) ([]imports.Job, string, error) {
	return keyset.NewestFirst(ctx, s.pool, caller.TenantID, jobsQuery, q.Filter, q.PageToken, q.PageSize)
}

const rowErrorsSQL = `
SELECT e.row_number, e.reason, e.violations, e.duplicate_customer_id, e.duplicate_row_number, r.vals
FROM import_row_errors e
JOIN import_rows r ON r.tenant_id = e.tenant_id AND r.job_id = e.job_id AND r.row_number = e.row_number
WHERE e.tenant_id = $1 AND e.job_id = $2 AND e.row_number > $3
ORDER BY e.row_number
LIMIT $4`

func scanRowError(row pgx.CollectableRow) (imports.RowError, error) {
	var e imports.RowError
	err := row.Scan(&e.Row, &e.Reason, &e.Violations, &e.DuplicateCustomerID, &e.DuplicateRow, &e.Values)
	return e, err
}

// RowErrors implements imports.Store with keyset pagination on row number.
func (s *Store) RowErrors(ctx context.Context, caller auth.Caller, id uuid.UUID, pageSize int, pageToken string) ([]imports.RowError, string, error) {
	if _, err := s.Job(ctx, caller, id); err != nil {
		return nil, "", err
	}
	query := "rowErrors|" + id.String()
	var after int64
	if pageToken != "" {
		if err := pagetoken.Decode(pageToken, query, &after); err != nil {
			return nil, "", validation.Field("page_token", "is not a token from this list; start again without it")
		}
	}
	rows, err := pgdb.Rows(ctx, s.pool, caller.TenantID, rowErrorsSQL, []any{caller.TenantID, id, after, pageSize + 1}, scanRowError)
	if err != nil {
		return nil, "", fmt.Errorf("list import row errors: %w", err)
	}
	if len(rows) <= pageSize {
		return rows, "", nil
	}
	rows = rows[:pageSize]
	next, err := pagetoken.Encode(query, rows[pageSize-1].Row)
	return rows, next, err
}

func lockJob(ctx context.Context, tx pgx.Tx, caller auth.Caller, id uuid.UUID) (imports.Job, error) {
	return rowOr(ctx, tx, imports.ErrJobNotFound, scanJob, lockJobSQL, caller.TenantID, id)
}

// stagedRow is a row as the staging statement reads it.
type stagedRow struct {
	N int64    `json:"n"`
	V []string `json:"v"`
	X string   `json:"x"`
	E string   `json:"e"`
	P string   `json:"p"`
}

// StageRows implements imports.Store: one statement stages the whole batch.
func (s *Store) StageRows(ctx context.Context, caller auth.Caller, id uuid.UUID, rows []imports.Row) (imports.Job, error) {
	staged := make([]stagedRow, len(rows))
	for i, r := range rows {
		staged[i] = stagedRow{N: r.Number, V: r.Values, X: r.ExternalID, E: r.EmailKey, P: r.PhoneKey}
	}
	doc, err := json.Marshal(staged)
	if err != nil {
		return imports.Job{}, fmt.Errorf("encode staged rows: %w", err)
	}
	var job imports.Job
	err = pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		j, err := lockJob(ctx, tx, caller, id)
		switch {
		case err != nil:
			return err
		case j.State == imports.StateCancelled:
			return imports.ErrJobFinished
		case j.State != imports.StateStaging:
			return imports.ErrJobBusy // another stream staged every row meanwhile
		case len(rows) > 0 && rows[0].Number != j.NextRow():
			return imports.ErrJobBusy
		}
		if _, err := tx.Exec(ctx, stageRowsSQL, caller.TenantID, id, doc); err != nil {
			return err
		}
		job, err = rowOr(ctx, tx, imports.ErrJobNotFound, scanJob, countReadSQL, caller.TenantID, id, len(rows))
		return err
	})
	if err != nil {
		return imports.Job{}, fmt.Errorf("stage rows of import job %s: %w", id, err)
	}
	return job, nil
}

// StartApplying implements imports.Store.
func (s *Store) StartApplying(ctx context.Context, caller auth.Caller, id uuid.UUID) (imports.Job, error) {
	var job imports.Job
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := lockJob(ctx, tx, caller, id)
		if err != nil || before.State != imports.StateStaging {
			job = before
			return err
		}
		if job, err = rowOr(ctx, tx, imports.ErrJobNotFound, scanJob, startJobSQL, caller.TenantID, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, refreshStatisticsSQL); err != nil {
			return err
		}
		return recordJob(ctx, tx, caller, imports.EventJobApplying, &before, job)
	})
	if err != nil {
		return imports.Job{}, fmt.Errorf("start import job %s: %w", id, err)
	}
	return job, nil
}

// Cancel implements imports.Store.
func (s *Store) Cancel(ctx context.Context, caller auth.Caller, id uuid.UUID) (imports.Job, error) {
	var job imports.Job
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := lockJob(ctx, tx, caller, id)
		if err != nil {
			return err
		}
		if before.State != imports.StateStaging && before.State != imports.StateApplying {
			return imports.ErrJobFinished
		}
		if job, err = rowOr(ctx, tx, imports.ErrJobNotFound, scanJob, finishJobSQL, caller.TenantID, id, imports.StateCancelled); err != nil {
			return err
		}
		return recordJob(ctx, tx, caller, imports.EventJobCancelled, &before, job)
	})
	if err != nil {
		return imports.Job{}, fmt.Errorf("cancel import job %s: %w", id, err)
	}
	return job, nil
}

// Interrupted implements imports.Store through a security-definer function
// that reads across tenants and returns ids only.
func (s *Store) Interrupted(ctx context.Context) ([]imports.JobRef, error) {
	rows, err := s.pool.Query(ctx, interruptedSQL)
	if err != nil {
		return nil, fmt.Errorf("list interrupted import jobs: %w", err)
	}
	refs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (imports.JobRef, error) {
		var r imports.JobRef
		err := row.Scan(&r.TenantID, &r.JobID)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("list interrupted import jobs: %w", err)
	}
	return refs, nil
}

const (
	batchRowsSQL = `
SELECT row_number, vals, external_id, email_key, phone_key FROM import_rows
WHERE tenant_id = $1 AND job_id = $2 AND row_number > $3
ORDER BY row_number
LIMIT $4`
	byExternalIDSQL = `SELECT ` + customerColumns + ` FROM customers
WHERE tenant_id = $1 AND external_id = ANY($2) AND external_id <> '' AND delete_time IS NULL
ORDER BY create_time, customer_id
FOR UPDATE`
	byEmailSQL = `SELECT ` + customerColumns + ` FROM customers
WHERE tenant_id = $1 AND email_lower = ANY($2) AND email <> '' AND delete_time IS NULL
ORDER BY create_time, customer_id`
	byPhoneSQL = `SELECT ` + customerColumns + ` FROM customers
WHERE tenant_id = $1 AND phone = ANY($2) AND phone <> '' AND delete_time IS NULL
ORDER BY create_time, customer_id`
	// earlierRowsSQL finds, for each row of a batch, the first earlier row
	// of the job with its e-mail or phone under another external_id.
	earlierRowsSQL = `
SELECT DISTINCT ON (n) n, m, f FROM (
    SELECT b.row_number AS n, e.row_number AS m, 'email' AS f FROM import_rows b
    JOIN import_rows e ON e.tenant_id = b.tenant_id AND e.job_id = b.job_id AND e.email_key = b.email_key
        AND e.email_key <> '' AND e.row_number < b.row_number AND (b.external_id = '' OR e.external_id <> b.external_id)
    WHERE b.tenant_id = $1 AND b.job_id = $2 AND b.row_number > $3 AND b.row_number <= $4 AND b.email_key <> ''
    UNION ALL
    SELECT b.row_number, e.row_number, 'phone' FROM import_rows b
    JOIN import_rows e ON e.tenant_id = b.tenant_id AND e.job_id = b.job_id AND e.phone_key = b.phone_key
        AND e.phone_key <> '' AND e.row_number < b.row_number AND (b.external_id = '' OR e.external_id <> b.external_id)
    WHERE b.tenant_id = $1 AND b.job_id = $2 AND b.row_number > $3 AND b.row_number <= $4 AND b.phone_key <> ''
) d ORDER BY n, m, f`
	// refreshStatisticsSQL lets the planner see the staged rows before the
	// first batch is applied (see 00019_import_statistics.sql).
	refreshStatisticsSQL = `SELECT refresh_import_row_statistics()`
	progressSQL          = `
UPDATE import_jobs SET applied_rows = $3, created = created + $4, updated = updated + $5, unchanged = unchanged + $6,
    failed = failed + $7, duplicates = duplicates + $8
WHERE tenant_id = $1 AND job_id = $2
RETURNING ` + jobColumns
	insertRowErrorsSQL = `
INSERT INTO import_row_errors (tenant_id, job_id, row_number, reason, violations, duplicate_customer_id, duplicate_row_number)
SELECT $1, $2, r.n, r.r, r.v, r.c, r.d FROM jsonb_to_recordset($3) AS r(n bigint, r smallint, v jsonb, c uuid, d bigint)`
)

// ApplyBatch implements imports.Store. One transaction locks the job, reads
// the next staged rows and what they match, lets plan decide, writes the
// outcome set-based (see applyDecisions), and records the progress: a crash
// loses at most the batch in flight, which the next run repeats.
func (s *Store) ApplyBatch(ctx context.Context, caller auth.Caller, id uuid.UUID, size int, plan imports.Planner) (imports.Job, bool, error) {
	var job imports.Job
	var done bool
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := lockJob(ctx, tx, caller, id)
		if err != nil {
			return err
		}
		job, done = before, before.State != imports.StateApplying
		if done {
			return nil
		}
		rows, err := stagedRows(ctx, tx, caller, before, size)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			done = true
			if job, err = rowOr(ctx, tx, imports.ErrJobNotFound, scanJob, finishJobSQL, caller.TenantID, id, imports.StateSucceeded); err != nil {
				return err
			}
			return recordJob(ctx, tx, caller, imports.EventJobSucceeded, &before, job)
		}
		found, err := findMatches(ctx, tx, caller, id, rows)
		if err != nil {
			return err
		}
		decisions := plan(before, rows, found)
		if len(decisions) == 0 {
			return errors.New("the import planner decided no row")
		}
		var counts [5]int64
		for _, d := range decisions {
			switch {
			case d.Action == imports.ActionFail && d.Error.Reason == imports.ReasonDuplicate:
				counts[4]++
			default:
				counts[d.Action-1]++
			}
		}
		if !before.DryRun {
			if err := applyDecisions(ctx, tx, caller, decisions); err != nil {
				return err
			}
		}
		if err := saveRowErrors(ctx, tx, caller, id, decisions); err != nil {
			return err
		}
		last := decisions[len(decisions)-1].Row
		job, err = rowOr(ctx, tx, imports.ErrJobNotFound, scanJob, progressSQL, caller.TenantID, id, last,
			counts[imports.ActionCreate-1], counts[imports.ActionUpdate-1], counts[imports.ActionUnchanged-1], counts[imports.ActionFail-1], counts[4])
		return err
	})
	if err != nil {
		return imports.Job{}, false, fmt.Errorf("apply batch: %w", err)
	}
	return job, done, nil
}

func stagedRows(ctx context.Context, tx pgx.Tx, caller auth.Caller, job imports.Job, size int) ([]imports.Row, error) {
	rows, err := tx.Query(ctx, batchRowsSQL, caller.TenantID, job.ID, job.AppliedRows, size)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (imports.Row, error) {
		var r imports.Row
		err := row.Scan(&r.Number, &r.Values, &r.ExternalID, &r.EmailKey, &r.PhoneKey)
		return r, err
	})
}

// findMatches reads, in four statements for the whole batch, the live
// customers its rows match and the earlier rows they repeat.
func findMatches(ctx context.Context, tx pgx.Tx, caller auth.Caller, id uuid.UUID, rows []imports.Row) (imports.Found, error) {
	var ext, emails, phones []string
	for _, r := range rows {
		ext = appendNonEmpty(ext, r.ExternalID)
		emails = appendNonEmpty(emails, r.EmailKey)
		phones = appendNonEmpty(phones, r.PhoneKey)
	}
	found := imports.Found{EarlierRow: map[int64]imports.Earlier{}}
	var err error
	if found.ByExternalID, err = customersBy(ctx, tx, byExternalIDSQL, caller, ext, func(c customer.Customer) string { return c.ExternalID }); err != nil {
		return found, err
	}
	if found.ByEmail, err = customersBy(ctx, tx, byEmailSQL, caller, emails, func(c customer.Customer) string { e, _ := customer.NormalizeEmail(c.Email); return e }); err != nil {
		return found, err
	}
	if found.ByPhone, err = customersBy(ctx, tx, byPhoneSQL, caller, phones, func(c customer.Customer) string { return c.Phone }); err != nil {
		return found, err
	}
	res, err := tx.Query(ctx, earlierRowsSQL, caller.TenantID, id, rows[0].Number-1, rows[len(rows)-1].Number)
	if err != nil {
		return found, err
	}
	type repeat struct {
		row int64
		of  imports.Earlier
	}
	repeats, err := pgx.CollectRows(res, func(row pgx.CollectableRow) (repeat, error) {
		var r repeat
		err := row.Scan(&r.row, &r.of.Row, &r.of.Field)
		return r, err
	})
	if err != nil {
		return found, fmt.Errorf("find repeated rows: %w", err)
	}
	for _, r := range repeats {
		found.EarlierRow[r.row] = r.of
	}
	return found, nil
}

func appendNonEmpty(s []string, v string) []string {
	if v == "" {
		return s
	}
	return append(s, v)
}

// customersBy indexes the customers sql finds for keys by key; the oldest
// customer wins a shared key.
func customersBy(ctx context.Context, tx pgx.Tx, sql string, caller auth.Caller, keys []string, key func(customer.Customer) string) (map[string]customer.Customer, error) {
	out := map[string]customer.Customer{}
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := tx.Query(ctx, sql, caller.TenantID, keys)
	if err != nil {
		return nil, err
	}
	found, err := pgx.CollectRows(rows, scanCustomer)
	if err != nil {
		return nil, fmt.Errorf("match customers: %w", err)
	}
	for _, c := range found {
		if _, ok := out[key(c)]; !ok {
			out[key(c)] = c
		}
	}
	return out, nil
}

// rowErrorDoc is a row error as insertRowErrorsSQL reads it.
type rowErrorDoc struct {
	N int64               `json:"n"`
	R imports.Reason      `json:"r"`
	V []imports.Violation `json:"v"`
	C *uuid.UUID          `json:"c"`
	D int64               `json:"d"`
}

func saveRowErrors(ctx context.Context, tx pgx.Tx, caller auth.Caller, id uuid.UUID, decisions []imports.Decision) error {
	var docs []rowErrorDoc
	for _, d := range decisions {
		if e := d.Error; e != nil {
			docs = append(docs, rowErrorDoc{N: d.Row, R: e.Reason, V: e.Violations, C: e.DuplicateCustomerID, D: e.DuplicateRow})
		}
	}
	if len(docs) == 0 {
		return nil
	}
	doc, err := json.Marshal(docs)
	if err != nil {
		return fmt.Errorf("encode row errors: %w", err)
	}
	if _, err := tx.Exec(ctx, insertRowErrorsSQL, caller.TenantID, id, doc); err != nil {
		return fmt.Errorf("save row errors: %w", err)
	}
	return nil
}

// customerDoc is a customer as the bulk statements read it; the short names
// keep them apart from the customers columns in RETURNING.
type customerDoc struct {
	ID      uuid.UUID      `json:"id"`
	Kind    customer.Kind  `json:"k"`
	Name    string         `json:"dn"`
	Email   string         `json:"em"`
	Phone   string         `json:"ph"`
	Stage   customer.Stage `json:"st"`
	Ind     string         `json:"ind"`
	Country string         `json:"cc"`
	Owner   *uuid.UUID     `json:"ow"`
	Tags    []string       `json:"tg"`
	Ext     string         `json:"ex"`
	Source  string         `json:"sc"`
	Attrs   map[string]any `json:"ca"`
}

const customerDocColumns = `r(id uuid, k smallint, dn text, em text, ph text, st smallint, ind text, cc text, ow uuid,
    tg text[], ex text, sc text, ca jsonb)`

const (
	bulkInsertCustomersSQL = `
INSERT INTO customers (tenant_id, customer_id, kind, display_name, email, phone, lifecycle_stage,
    industry, country_code, owner_id, tags, external_id, source_channel, custom_attributes)
SELECT $1, r.id, r.k, r.dn, r.em, r.ph, r.st, r.ind, r.cc, r.ow, r.tg, r.ex, r.sc, r.ca
FROM jsonb_to_recordset($2) AS ` + customerDocColumns + `
RETURNING ` + customerColumns
	bulkUpdateCustomersSQL = `
UPDATE customers SET kind = r.k, display_name = r.dn, email = r.em, phone = r.ph, lifecycle_stage = r.st,
    industry = r.ind, country_code = r.cc, owner_id = r.ow, tags = r.tg, external_id = r.ex, source_channel = r.sc,
    custom_attributes = r.ca, revision = revision + 1, update_time = now()
FROM jsonb_to_recordset($2) AS ` + customerDocColumns + `
WHERE tenant_id = $1 AND customer_id = r.id
RETURNING ` + customerColumns
	bulkInsertContactPointsSQL = `
INSERT INTO contact_points (tenant_id, contact_point_id, customer_id, type, value, is_primary, verification_state, source)
SELECT $1, r.id, r.cu, r.ty, r.va, true, r.vs, r.so
FROM jsonb_to_recordset($2) AS r(id uuid, cu uuid, ty smallint, va text, vs smallint, so text)
RETURNING ` + contactPointColumns
	bulkInsertTransitionsSQL = `
INSERT INTO lifecycle_transitions (tenant_id, customer_id, transition_id, from_stage, to_stage, principal_id, reason)
SELECT $1, r.cu, r.id, 0, r.st, $3, '' FROM jsonb_to_recordset($2) AS r(cu uuid, id uuid, st smallint)`
)

func docOf(c customer.Customer) customerDoc {
	return customerDoc{ID: c.ID, Kind: c.Kind, Name: c.DisplayName, Email: c.Email, Phone: c.Phone, Stage: c.Stage, Ind: c.Industry,
		Country: c.CountryCode, Owner: c.OwnerID, Tags: nonNil(c.Tags), Ext: c.ExternalID, Source: c.SourceChannel, Attrs: attributesOrEmpty(c.CustomAttributes)}
}

// bulkWrite runs a bulk customers statement over docs and returns the saved
// customers by id.
func bulkWrite(ctx context.Context, tx pgx.Tx, caller auth.Caller, sql string, docs []customerDoc) (map[uuid.UUID]customer.Customer, error) {
	doc, err := json.Marshal(docs)
	if err != nil {
		return nil, fmt.Errorf("encode customers: %w", err)
	}
	rows, err := tx.Query(ctx, sql, caller.TenantID, doc)
	if err != nil {
		return nil, err
	}
	saved, err := pgx.CollectRows(rows, scanCustomer)
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]customer.Customer, len(saved))
	for _, c := range saved {
		out[c.ID] = c
	}
	return out, nil
}

// applyDecisions writes a batch's creates and updates with what
// CreateCustomer and UpdateCustomer give a customer: the row, its event and
// audit row, its lifecycle log entry, its primary contact points and its
// classification. Creates, the common case, take a fixed number of round
// trips per batch: one statement inserts every customer, one their contact
// points, one their stage log entries, one pipelined batch all events and
// audit rows, and one statement evaluates every classification rule for all
// of them; only a segment entry or a tier assignment is a statement of its
// own. Updates share the bulk write and the event batch, then reuse the
// per-customer contact point and classification steps, since they depend
// on each customer's previous state.
func applyDecisions(ctx context.Context, tx pgx.Tx, caller auth.Caller, decisions []imports.Decision) error {
	var creates, updates []customerDoc
	var order []uuid.UUID
	before := map[uuid.UUID]customer.Customer{}
	for _, d := range decisions {
		switch d.Action {
		case imports.ActionCreate:
			creates = append(creates, docOf(d.Customer))
		case imports.ActionUpdate:
			updates = append(updates, docOf(d.Customer))
			before[d.Customer.ID] = d.Before
		default:
			continue
		}
		order = append(order, d.Customer.ID)
	}
	created, updated := map[uuid.UUID]customer.Customer{}, map[uuid.UUID]customer.Customer{}
	var err error
	if len(creates) > 0 {
		if created, err = bulkWrite(ctx, tx, caller, bulkInsertCustomersSQL, creates); err != nil {
			return fmt.Errorf("insert imported customers: %w", err)
		}
	}
	if len(updates) > 0 {
		if updated, err = bulkWrite(ctx, tx, caller, bulkUpdateCustomersSQL, updates); err != nil {
			return fmt.Errorf("update imported customers: %w", err)
		}
	}
	events := &outbox.Bulk{}
	var fresh []customer.Customer
	for _, id := range order {
		change := outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Resource: "customers/" + id.String()}
		if c, ok := created[id]; ok {
			change.Type, change.After = customer.EventCreated, protoconv.Customer(c)
			fresh = append(fresh, c)
		} else {
			change.Type, change.Before, change.After = customer.EventUpdated, protoconv.Customer(before[id]), protoconv.Customer(updated[id])
		}
		if err := events.Add(change); err != nil {
			return err
		}
	}
	if err := createdExtras(ctx, tx, caller, fresh, events); err != nil {
		return err
	}
	if err := events.Write(ctx, tx); err != nil {
		return fmt.Errorf("record import events: %w", err)
	}
	if err := classifyCreated(ctx, tx, caller, fresh); err != nil {
		return err
	}
	for _, id := range order {
		after, ok := updated[id]
		if !ok {
			continue
		}
		b := before[id]
		if err := adoptCustomerContacts(ctx, tx, caller, &b, after); err != nil {
			return err
		}
		if err := afterCustomerWrite(ctx, tx, caller, &b, after, ""); err != nil {
			return err
		}
	}
	return nil
}

// contactDoc is a primary contact point as bulkInsertContactPointsSQL reads it.
type contactDoc struct {
	ID       uuid.UUID            `json:"id"`
	Customer uuid.UUID            `json:"cu"`
	Type     profile.ContactType  `json:"ty"`
	Value    string               `json:"va"`
	State    profile.Verification `json:"vs"`
	Source   string               `json:"so"`
}

// transitionDoc is a stage log entry as bulkInsertTransitionsSQL reads it.
type transitionDoc struct {
	Customer uuid.UUID      `json:"cu"`
	ID       uuid.UUID      `json:"id"`
	Stage    customer.Stage `json:"st"`
}

// createdExtras writes the stage log entries and primary contact points of
// new customers, one statement each, queueing the contact points' events.
func createdExtras(ctx context.Context, tx pgx.Tx, caller auth.Caller, fresh []customer.Customer, events *outbox.Bulk) error {
	if len(fresh) == 0 {
		return nil
	}
	var contacts []contactDoc
	transitions := make([]transitionDoc, len(fresh))
	for i, c := range fresh {
		transitions[i] = transitionDoc{Customer: c.ID, ID: uuid.Must(uuid.NewV7()), Stage: c.Stage}
		for _, cp := range []struct {
			typ   profile.ContactType
			value string
		}{{profile.ContactEmail, strings.ToLower(c.Email)}, {profile.ContactPhone, c.Phone}} {
			if cp.value != "" {
				contacts = append(contacts, contactDoc{ID: uuid.Must(uuid.NewV7()), Customer: c.ID, Type: cp.typ, Value: cp.value,
					State: profile.Unverified, Source: profile.SourceCustomerRecord})
			}
		}
	}
	doc, err := json.Marshal(transitions)
	if err != nil {
		return fmt.Errorf("encode stage log: %w", err)
	}
	if _, err := tx.Exec(ctx, bulkInsertTransitionsSQL, caller.TenantID, doc, principalID(caller)); err != nil {
		return fmt.Errorf("log stage transitions: %w", err)
	}
	if len(contacts) == 0 {
		return nil
	}
	if doc, err = json.Marshal(contacts); err != nil {
		return fmt.Errorf("encode contact points: %w", err)
	}
	rows, err := tx.Query(ctx, bulkInsertContactPointsSQL, caller.TenantID, doc)
	if err != nil {
		return err
	}
	saved, err := pgx.CollectRows(rows, scanContactPoint)
	if err != nil {
		return fmt.Errorf("insert contact points: %w", err)
	}
	slices.SortFunc(saved, func(a, b profile.ContactPoint) int { return strings.Compare(a.ID.String(), b.ID.String()) })
	for _, cp := range saved {
		if err := events.Add(outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: profile.EventContactPointCreated, Resource: cp.Resource(), After: protoconv.ContactPoint(cp)}); err != nil {
			return err
		}
	}
	return nil
}

const (
	bulkEnterSegmentsSQL = `
INSERT INTO segment_members (tenant_id, segment_id, customer_id, stay_id)
SELECT $1, r.sg, r.cu, r.id FROM jsonb_to_recordset($2) AS r(sg uuid, cu uuid, id uuid)
ON CONFLICT DO NOTHING
RETURNING segment_id, customer_id, enter_time`
	bulkSetTiersSQL = `
INSERT INTO customer_value_tiers (tenant_id, customer_id, tier, rule_id, manual, principal_id)
SELECT $1, r.cu, r.ti, r.ru, false, $3 FROM jsonb_to_recordset($2) AS r(cu uuid, id uuid, ti text, ru uuid)
ON CONFLICT (tenant_id, customer_id) DO UPDATE
SET tier = excluded.tier, rule_id = excluded.rule_id, manual = excluded.manual,
    principal_id = excluded.principal_id, change_time = now()`
	bulkTierChangesSQL = `
INSERT INTO value_tier_changes (tenant_id, customer_id, change_id, from_tier, to_tier, rule_id, principal_id, reason)
SELECT $1, r.cu, r.id, '', r.ti, r.ru, $3, '' FROM jsonb_to_recordset($2) AS r(cu uuid, id uuid, ti text, ru uuid)
RETURNING customer_id, change_id, create_time`
)

// entryDoc is a segment entry as bulkEnterSegmentsSQL reads it.
type entryDoc struct {
	Segment  uuid.UUID `json:"sg"`
	Customer uuid.UUID `json:"cu"`
	Stay     uuid.UUID `json:"id"`
}

// tierDoc is a rule tier as bulkSetTiersSQL and bulkTierChangesSQL read it.
type tierDoc struct {
	Customer uuid.UUID `json:"cu"`
	Change   uuid.UUID `json:"id"`
	Tier     string    `json:"ti"`
	Rule     uuid.UUID `json:"ru"`
}

// classifyCreated gives new customers their segments and tier as
// reclassify would, set-based: one statement evaluates every rule and
// segment for all of them, one enters the segments, two set and log the
// tiers, and one pipelined batch records the events. A new customer is in
// no segment and has no tier yet, so there is nothing to leave or replace.
func classifyCreated(ctx context.Context, tx pgx.Tx, caller auth.Caller, fresh []customer.Customer) error {
	if len(fresh) == 0 {
		return nil
	}
	defs, err := definitions(ctx, tx, caller.TenantID)
	if err != nil || len(defs) == 0 {
		return err
	}
	ids := make([]uuid.UUID, len(fresh))
	for i, c := range fresh {
		ids[i] = c.ID
	}
	args := []any{caller.TenantID, ids}
	exprs := make([]string, len(defs))
	for i, d := range defs {
		cond, err := sqlfilter.Translate(d.filter, filterFields, len(args))
		if err != nil {
			exprs[i] = "false" // as matches: a stored filter always translates
			continue
		}
		exprs[i] = "coalesce((" + cond.SQL + "), false)"
		args = append(args, cond.Args...)
	}
	rows, err := tx.Query(ctx, "SELECT customer_id, ARRAY["+strings.Join(exprs, ", ")+
		"]::boolean[] FROM customers WHERE tenant_id = $1 AND customer_id = ANY($2) ORDER BY customer_id", args...)
	if err != nil {
		return err
	}
	type verdict struct {
		id uuid.UUID
		in []bool
	}
	verdicts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (verdict, error) {
		var v verdict
		err := row.Scan(&v.id, &v.in)
		return v, err
	})
	if err != nil {
		return fmt.Errorf("evaluate classification rules: %w", err)
	}
	var entries []entryDoc
	var tiers []tierDoc
	for _, v := range verdicts {
		ruled := false
		for i, d := range defs {
			switch {
			case d.segment && v.in[i]:
				entries = append(entries, entryDoc{Segment: d.id, Customer: v.id, Stay: uuid.Must(uuid.NewV7())})
			case !d.segment && v.in[i] && !ruled:
				ruled = true
				tiers = append(tiers, tierDoc{Customer: v.id, Change: uuid.Must(uuid.NewV7()), Tier: d.tier, Rule: d.id})
			}
		}
	}
	events := &outbox.Bulk{}
	if err := enterSegments(ctx, tx, caller, entries, events); err != nil {
		return err
	}
	if err := setRuleTiers(ctx, tx, caller, tiers, events); err != nil {
		return err
	}
	if err := events.Write(ctx, tx); err != nil {
		return fmt.Errorf("record classification events: %w", err)
	}
	return nil
}

func enterSegments(ctx context.Context, tx pgx.Tx, caller auth.Caller, entries []entryDoc, events *outbox.Bulk) error {
	if len(entries) == 0 {
		return nil
	}
	doc, err := json.Marshal(entries)
	if err != nil {
		return fmt.Errorf("encode segment entries: %w", err)
	}
	rows, err := tx.Query(ctx, bulkEnterSegmentsSQL, caller.TenantID, doc)
	if err != nil {
		return err
	}
	entered, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (classify.Membership, error) {
		var m classify.Membership
		err := row.Scan(&m.SegmentID, &m.CustomerID, &m.EnterTime)
		return m, err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", classify.EventSegmentEntered, err)
	}
	for _, m := range entered {
		if err := events.Add(outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: classify.EventSegmentEntered,
			Resource: "segments/" + m.SegmentID.String() + "/members/" + m.CustomerID.String(), After: protoconv.Membership(m)}); err != nil {
			return err
		}
	}
	return nil
}

func setRuleTiers(ctx context.Context, tx pgx.Tx, caller auth.Caller, tiers []tierDoc, events *outbox.Bulk) error {
	if len(tiers) == 0 {
		return nil
	}
	doc, err := json.Marshal(tiers)
	if err != nil {
		return fmt.Errorf("encode value tiers: %w", err)
	}
	if _, err := tx.Exec(ctx, bulkSetTiersSQL, caller.TenantID, doc, principalID(caller)); err != nil {
		return fmt.Errorf("set value tiers: %w", err)
	}
	rows, err := tx.Query(ctx, bulkTierChangesSQL, caller.TenantID, doc, principalID(caller))
	if err != nil {
		return err
	}
	type logged struct {
		customer, change uuid.UUID
		time             time.Time
	}
	changes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (logged, error) {
		var l logged
		err := row.Scan(&l.customer, &l.change, &l.time)
		return l, err
	})
	if err != nil {
		return fmt.Errorf("log value tier changes: %w", err)
	}
	byChange := make(map[uuid.UUID]tierDoc, len(tiers))
	for _, t := range tiers {
		byChange[t.Change] = t
	}
	slices.SortFunc(changes, func(a, b logged) int { return strings.Compare(a.change.String(), b.change.String()) })
	for _, l := range changes {
		t := byChange[l.change]
		change := classify.TierChange{ID: l.change, To: t.Tier, RuleID: &t.Rule, PrincipalID: principalID(caller), Time: l.time}
		if err := events.Add(outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: classify.EventTierChanged,
			Resource: "customers/" + l.customer.String() + "/valueTierChanges/" + l.change.String(), After: protoconv.TierChange(change)}); err != nil {
			return err
		}
	}
	return nil
}
