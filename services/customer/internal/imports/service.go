package imports

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
)

// Who may do what: admins and sales managers import and follow their jobs;
// those who work with customers' personal data export (analysts read
// customers without it, so they do not).
var (
	importers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
	exporters = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleSupportAgent, auth.RolePartnerUser}
)

const (
	// stageBatch rows are staged per transaction.
	stageBatch = 2000
	// DefaultApplyBatch rows are applied per transaction.
	DefaultApplyBatch = 1000
	// exportChunk is the size the export flushes CSV at.
	exportChunk = 64 << 10
	// exportPage customers are read per query of the export.
	exportPage   = 1000
	maxRequestID = 64
)

// Source yields an import's rows as values, io.EOF after the last. A CSV
// source yields the header first.
type Source interface {
	Next() ([]string, error)
}

// Service holds the import and export use cases.
type Service struct {
	store      Store
	customers  Customers
	applyBatch int
}

// New returns a Service over store that exports through customers and
// applies batchSize rows per transaction (0 means DefaultApplyBatch).
func New(store Store, customers Customers, batchSize int) *Service {
	if batchSize <= 0 {
		batchSize = DefaultApplyBatch
	}
	return &Service{store: store, customers: customers, applyBatch: batchSize}
}

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

// Import stages the rows of src under the job named by opts.RequestID, then
// applies them and returns the finished job. A request_id seen before
// resumes its job: rows it already holds are skipped, and a job already
// applying is applied on from its last committed batch.
func (s *Service) Import(ctx context.Context, caller auth.Caller, opts Options, src Source) (Job, error) {
	if err := allow(caller, importers); err != nil {
		return Job{}, err
	}
	v := &validation.Error{}
	switch n := utf8.RuneCountInString(opts.RequestID); {
	case n == 0:
		v.Add("options.request_id", "is required: it names the job so that it can be resumed")
	case n > maxRequestID:
		v.Add("options.request_id", "must be at most %d characters", maxRequestID)
	}
	if opts.Mode != ModeCreateOnly && opts.Mode != ModeUpsert {
		v.Add("options.mode", "must be IMPORT_MODE_CREATE_ONLY or IMPORT_MODE_UPSERT")
	}
	if opts.Format != FormatCustomers && opts.Format != FormatCSV {
		v.Add("options.format", "must be IMPORT_FORMAT_CUSTOMERS or IMPORT_FORMAT_CSV")
	}
	if opts.FirstRow < 0 {
		v.Add("options.first_row", "must not be negative")
	}
	if err := v.Err(); err != nil {
		return Job{}, err
	}
	defs, err := s.store.AttributeDefs(ctx, caller)
	if err != nil {
		return Job{}, err
	}
	columns := TypedColumns
	if opts.Format == FormatCSV {
		header, err := src.Next()
		if errors.Is(err, io.EOF) {
			return Job{}, validation.Field("csv_chunk", "the CSV has no header line")
		}
		if err != nil {
			return Job{}, err
		}
		if columns, err = mapHeader(header, opts.ColumnMapping, defs); err != nil {
			return Job{}, err
		}
	}
	job, created, err := s.store.CreateJob(ctx, caller, Job{
		ID: uuid.Must(uuid.NewV7()), RequestID: opts.RequestID, PrincipalID: caller.PrincipalID, Roles: caller.Roles,
		State: StateStaging, Mode: opts.Mode, Format: opts.Format, DryRun: opts.DryRun, Columns: columns,
	})
	if err != nil {
		return Job{}, err
	}
	if !created && (job.Mode != opts.Mode || job.Format != opts.Format || job.DryRun != opts.DryRun || !slices.Equal(job.Columns, columns)) {
		return Job{}, ErrJobMismatch
	}
	if job.State == StateStaging {
		if job, err = s.stage(ctx, caller, job, max(opts.FirstRow, 1), src); err != nil {
			return Job{}, err
		}
		if job, err = s.store.StartApplying(ctx, caller, job.ID); err != nil {
			return Job{}, err
		}
	}
	if job.State != StateApplying {
		return job, nil
	}
	return s.apply(ctx, caller, job, defs)
}

// stage appends src's rows from row number first to the job, skipping those
// it already holds.
func (s *Service) stage(ctx context.Context, caller auth.Caller, job Job, first int64, src Source) (Job, error) {
	if first > job.NextRow() {
		return Job{}, fmt.Errorf("%w: the job's next_row is %d, the stream starts at row %d", ErrRowGap, job.NextRow(), first)
	}
	batch := make([]Row, 0, stageBatch)
	for n := first; ; n++ {
		values, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Job{}, err
		}
		if n < job.NextRow() {
			continue
		}
		ext, email, phone := keys(job.Columns, values)
		batch = append(batch, Row{Number: n, Values: values, ExternalID: ext, EmailKey: email, PhoneKey: phone})
		if len(batch) == stageBatch {
			if job, err = s.store.StageRows(ctx, caller, job.ID, batch); err != nil {
				return Job{}, err
			}
			batch = batch[:0]
		}
	}
	if len(batch) == 0 {
		return job, nil
	}
	return s.store.StageRows(ctx, caller, job.ID, batch)
}

// apply applies the job's staged rows batch by batch until none is left or
// the job is cancelled.
func (s *Service) apply(ctx context.Context, caller auth.Caller, job Job, defs []customer.AttributeDef) (Job, error) {
	plan := planner(defs)
	for {
		next, done, err := s.store.ApplyBatch(ctx, caller, job.ID, s.applyBatch, plan)
		if err != nil {
			return Job{}, fmt.Errorf("apply import job %s: %w", job.ID, err)
		}
		if done {
			return next, nil
		}
	}
}

// Resume applies the jobs a crash left applying, in every tenant, as the
// principals who started them. It stops at the first failure.
func (s *Service) Resume(ctx context.Context) (int, error) {
	refs, err := s.store.Interrupted(ctx)
	if err != nil {
		return 0, err
	}
	for i, ref := range refs {
		job, err := s.store.Job(ctx, auth.Caller{TenantID: ref.TenantID}, ref.JobID)
		if err != nil {
			return i, err
		}
		caller := job.Caller(ref.TenantID)
		defs, err := s.store.AttributeDefs(ctx, caller)
		if err != nil {
			return i, err
		}
		if _, err := s.apply(ctx, caller, job, defs); err != nil {
			return i, err
		}
	}
	return len(refs), nil
}

// planner decides rows as CreateCustomer and UpdateCustomer would, one at
// a time. A batch stops before a row whose external_id an earlier row of
// the batch carries: that row must see the earlier one applied.
func planner(defs []customer.AttributeDef) Planner {
	return func(job Job, rows []Row, found Found) []Decision {
		seen := map[string]bool{}
		out := make([]Decision, 0, len(rows))
		for _, r := range rows {
			if r.ExternalID != "" {
				if seen[r.ExternalID] {
					break
				}
				seen[r.ExternalID] = true
			}
			d := decide(job, defs, r, found)
			if d.Error != nil {
				d.Error.Row, d.Error.Values = r.Number, r.Values
			}
			out = append(out, d)
		}
		return out
	}
}

func invalid(row int64, columns []string, err error) Decision {
	e := &RowError{Reason: ReasonInvalid}
	var verr *validation.Error
	if errors.As(err, &verr) {
		for _, fv := range verr.Violations {
			e.Violations = append(e.Violations, Violation{Field: columnOf(fv.Field, columns), Description: fv.Description})
		}
	}
	return Decision{Row: row, Action: ActionFail, Error: e}
}

func duplicate(row int64, field string, of *uuid.UUID, ofRow int64) Decision {
	desc := fmt.Sprintf("matches row %d of this import", ofRow)
	if of != nil {
		desc = "matches customer " + of.String()
	}
	return Decision{Row: row, Action: ActionFail, Error: &RowError{
		Reason: ReasonDuplicate, Violations: []Violation{{Field: field, Description: desc}}, DuplicateCustomerID: of, DuplicateRow: ofRow,
	}}
}

// decide plans one row.
func decide(job Job, defs []customer.AttributeDef, r Row, found Found) Decision {
	in, mask, bad := parseRow(job.Columns, r.Values, defs)
	if len(bad) > 0 {
		return Decision{Row: r.Number, Action: ActionFail, Error: &RowError{Reason: ReasonInvalid, Violations: bad}}
	}
	existing, matched := found.ByExternalID[r.ExternalID]
	matched = matched && r.ExternalID != ""
	c, attrs := in, true
	if matched && job.Mode == ModeUpsert {
		attrs = slices.ContainsFunc(mask, func(f string) bool { return strings.HasPrefix(f, "custom_attributes") })
		c = existing
		c.Tags = slices.Clone(existing.Tags)
		c.CustomAttributes = maps.Clone(existing.CustomAttributes)
		for _, f := range mask {
			customer.ApplyField(&c, in, f)
		}
	}
	if err := customer.Prepare(&c, defs, attrs); err != nil {
		return invalid(r.Number, job.Columns, err)
	}
	if matched && job.Mode == ModeCreateOnly {
		return duplicate(r.Number, colExternalID, &existing.ID, 0)
	}
	self := uuid.Nil
	if matched {
		self = existing.ID
	}
	if email, ok := customer.NormalizeEmail(c.Email); ok {
		if other, hit := found.ByEmail[email]; hit && other.ID != self {
			return duplicate(r.Number, colEmail, &other.ID, 0)
		}
	}
	if other, hit := found.ByPhone[c.Phone]; c.Phone != "" && hit && other.ID != self {
		return duplicate(r.Number, colPhone, &other.ID, 0)
	}
	if earlier, hit := found.EarlierRow[r.Number]; hit {
		return duplicate(r.Number, earlier.Field, nil, earlier.Row)
	}
	switch {
	case !matched:
		c.ID = uuid.Must(uuid.NewV7())
		return Decision{Row: r.Number, Action: ActionCreate, Customer: c}
	case sameContent(existing, c):
		return Decision{Row: r.Number, Action: ActionUnchanged, Customer: c, Before: existing}
	}
	return Decision{Row: r.Number, Action: ActionUpdate, Customer: c, Before: existing}
}

// sameContent reports whether an update would change nothing the API writes.
func sameContent(a, b customer.Customer) bool {
	owner := func(id *uuid.UUID) uuid.UUID {
		if id == nil {
			return uuid.Nil
		}
		return *id
	}
	attrs := func(m map[string]any) map[string]any {
		if m == nil {
			return map[string]any{}
		}
		return m
	}
	return a.Kind == b.Kind && a.DisplayName == b.DisplayName && a.Email == b.Email && a.Phone == b.Phone &&
		a.Stage == b.Stage && a.Industry == b.Industry && a.CountryCode == b.CountryCode &&
		owner(a.OwnerID) == owner(b.OwnerID) && slices.Equal(a.Tags, b.Tags) && a.ExternalID == b.ExternalID &&
		a.SourceChannel == b.SourceChannel && reflect.DeepEqual(attrs(a.CustomAttributes), attrs(b.CustomAttributes))
}

// Job returns one import job.
func (s *Service) Job(ctx context.Context, caller auth.Caller, id uuid.UUID) (Job, error) {
	if err := allow(caller, importers); err != nil {
		return Job{}, err
	}
	return s.store.Job(ctx, caller, id)
}

func pageSize(n int, v *validation.Error) int {
	switch {
	case n < 0:
		v.Add("page_size", "must not be negative")
	case n == 0:
		return 50
	case n > 1000:
		return 1000
	}
	return n
}

// Jobs returns a page of the tenant's import jobs, newest first.
func (s *Service) Jobs(ctx context.Context, caller auth.Caller, q ListQuery) ([]Job, string, error) {
	if err := allow(caller, importers); err != nil {
		return nil, "", err
	}
	v := &validation.Error{}
	q.PageSize = pageSize(q.PageSize, v)
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	return s.store.Jobs(ctx, caller, q)
}

// RowErrors returns a page of a job's row errors in row order.
func (s *Service) RowErrors(ctx context.Context, caller auth.Caller, id uuid.UUID, size int, token string) ([]RowError, string, error) {
	if err := allow(caller, importers); err != nil {
		return nil, "", err
	}
	v := &validation.Error{}
	size = pageSize(size, v)
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	return s.store.RowErrors(ctx, caller, id, size, token)
}

// Cancel stops a job that has not finished.
func (s *Service) Cancel(ctx context.Context, caller auth.Caller, id uuid.UUID) (Job, error) {
	if err := allow(caller, importers); err != nil {
		return Job{}, err
	}
	return s.store.Cancel(ctx, caller, id)
}

// Export writes the customers filter selects as CSV, header first, in
// creation order, handing emit chunks of about exportChunk bytes.
func (s *Service) Export(ctx context.Context, caller auth.Caller, filter string, showDeleted bool, emit func([]byte) error) error {
	if err := allow(caller, exporters); err != nil {
		return err
	}
	defs, err := s.store.AttributeDefs(ctx, caller)
	if err != nil {
		return err
	}
	attrKeys := make([]string, len(defs))
	for i, d := range defs {
		attrKeys[i] = d.Key
	}
	sort.Strings(attrKeys)
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	flush := func(force bool) error {
		w.Flush()
		if buf.Len() == 0 || !force && buf.Len() < exportChunk {
			return w.Error()
		}
		err := emit(bytes.Clone(buf.Bytes()))
		buf.Reset()
		return err
	}
	if err := w.Write(exportHeader(attrKeys)); err != nil {
		return err
	}
	q := customer.ListQuery{PageSize: exportPage, Filter: strings.TrimSpace(filter), OrderBy: "create_time", ShowDeleted: showDeleted}
	for {
		page, err := s.customers.List(ctx, caller, q)
		if err != nil {
			return err
		}
		for _, c := range page.Customers {
			if err := w.Write(exportValues(c, attrKeys)); err != nil {
				return err
			}
		}
		if err := flush(false); err != nil {
			return err
		}
		if page.NextPageToken == "" {
			return flush(true)
		}
		q.PageToken = page.NextPageToken
	}
}
