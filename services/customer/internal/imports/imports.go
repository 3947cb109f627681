// Package imports brings customers into the customer master in bulk and
// takes them out again: import jobs that stage rows durably, apply them in
// committed batches under the same rules as CreateCustomer and
// UpdateCustomer, report bad and duplicate rows, and survive a crash; and a
// streaming CSV export.
package imports

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
)

// Mode says what a row does to an existing customer; the numbers match the API's enum.
type Mode int32

// Import modes.
const (
	ModeUnspecified Mode = iota
	// ModeCreateOnly creates a customer per row; matches are duplicates.
	ModeCreateOnly
	// ModeUpsert updates the customer with the row's external_id, or creates one.
	ModeUpsert
)

// Format is how rows arrive; the numbers match the API's enum.
type Format int32

// Row formats.
const (
	FormatUnspecified Format = iota
	FormatCustomers
	FormatCSV
)

// State is where a job is in its life; the numbers match the API's enum.
type State int32

// Job states.
const (
	StateUnspecified State = iota
	StateStaging
	StateApplying
	StateSucceeded
	StateCancelled
)

// Reason says why a row was not applied; the numbers match the API's enum.
type Reason int32

// Row error reasons.
const (
	ReasonUnspecified Reason = iota
	ReasonInvalid
	ReasonDuplicate
)

// Event types of import jobs. Imported customers emit customer.created and
// customer.updated, as API writes do.
const (
	EventJobCreated   = "customer.import_job.created"
	EventJobApplying  = "customer.import_job.applying"
	EventJobSucceeded = "customer.import_job.succeeded"
	EventJobCancelled = "customer.import_job.cancelled"
)

// Errors the use cases return.
var (
	ErrJobNotFound = errors.New("import job not found")
	// ErrJobFinished refuses to cancel a job that already ended.
	ErrJobFinished = errors.New("the import job has already finished or was cancelled")
	// ErrJobMismatch refuses to resume a job with different options.
	ErrJobMismatch = errors.New("an import job with this request_id exists with other options")
	// ErrRowGap refuses rows that would leave a hole in a job's rows.
	ErrRowGap = errors.New("rows must continue from the job's next_row")
	// ErrJobBusy means another stream is staging rows of the same job.
	ErrJobBusy = errors.New("another stream is adding rows to this import job")
)

// Job is one import.
type Job struct {
	ID        uuid.UUID
	RequestID string
	// PrincipalID and Roles are the starter's: a job resumed after a crash
	// writes as them.
	PrincipalID string
	Roles       []auth.Role
	State       State
	Mode        Mode
	Format      Format
	DryRun      bool
	// Columns are the row values' meaning, in order.
	Columns     []string
	RowsRead    int64
	AppliedRows int64
	Created     int64
	Updated     int64
	Unchanged   int64
	Failed      int64
	Duplicates  int64
	CreateTime  time.Time
	StartTime   *time.Time
	FinishTime  *time.Time
}

// NextRow is the number of the next row the job expects.
func (j Job) NextRow() int64 { return j.RowsRead + 1 }

// Progress is the share of staged rows applied, 1 when finished.
func (j Job) Progress() float64 {
	if j.State == StateSucceeded || j.RowsRead == 0 && j.State != StateStaging {
		return 1
	}
	if j.RowsRead == 0 {
		return 0
	}
	return float64(j.AppliedRows) / float64(j.RowsRead)
}

// Resource is the job's resource name.
func (j Job) Resource() string { return "importJobs/" + j.ID.String() }

// Caller is who the job acts as.
func (j Job) Caller(tenant string) auth.Caller {
	return auth.Caller{TenantID: tenant, PrincipalID: j.PrincipalID, Roles: j.Roles}
}

// Options open an import.
type Options struct {
	RequestID string
	Mode      Mode
	DryRun    bool
	Format    Format
	// ColumnMapping maps CSV header names to column names.
	ColumnMapping map[string]string
	// FirstRow is the number of the first row the stream carries.
	FirstRow int64
}

// Row is one staged row.
type Row struct {
	Number int64
	Values []string
	// The keys duplicate detection compares, computed when staged.
	ExternalID, EmailKey, PhoneKey string
}

// Violation is one bad value of a row, named by column.
type Violation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

// RowError is a row that was not applied.
type RowError struct {
	Row        int64
	Reason     Reason
	Violations []Violation
	// DuplicateCustomerID is the existing customer a duplicate matches.
	DuplicateCustomerID *uuid.UUID
	// DuplicateRow is the earlier row of the job a duplicate matches.
	DuplicateRow int64
	Values       []string
}

// Action is what applying a row did.
type Action int

// Row outcomes.
const (
	ActionCreate Action = iota + 1
	ActionUpdate
	ActionUnchanged
	ActionFail
)

// Decision is the outcome planned for one row.
type Decision struct {
	Row    int64
	Action Action
	// Customer is the record to write (create, update) with Before the
	// locked record it replaces (update, unchanged).
	Customer, Before customer.Customer
	// Error is set when Action is ActionFail.
	Error *RowError
}

// Found is what the store found for a batch of rows: live customers by
// external_id (locked for update), by normalised e-mail and by phone, and
// for each row the earliest earlier row of the job sharing its e-mail or
// phone under another external_id.
type Found struct {
	ByExternalID map[string]customer.Customer
	ByEmail      map[string]customer.Customer
	ByPhone      map[string]customer.Customer
	EarlierRow   map[int64]Earlier
}

// Earlier is an earlier row of the job that a row repeats, and the column
// (email or phone) they share.
type Earlier struct {
	Row   int64
	Field string
}

// Planner decides the outcome of a batch's rows, in row order. It may stop
// early (a row that depends on an earlier row of the same batch); the store
// then applies the decided prefix and the next batch starts after it.
type Planner func(job Job, rows []Row, found Found) []Decision

// ListQuery selects a page of jobs.
type ListQuery struct {
	PageSize  int
	PageToken string
	Filter    string
}

// JobRef names a job of some tenant.
type JobRef struct {
	TenantID string
	JobID    uuid.UUID
}

// Store keeps import jobs and applies them. Every method but Interrupted is
// scoped to the caller's tenant.
type Store interface {
	customer.Schema
	// CreateJob inserts j, or returns the job with the same request_id
	// (created is then false).
	CreateJob(ctx context.Context, caller auth.Caller, j Job) (saved Job, created bool, err error)
	Job(ctx context.Context, caller auth.Caller, id uuid.UUID) (Job, error)
	Jobs(ctx context.Context, caller auth.Caller, q ListQuery) ([]Job, string, error)
	RowErrors(ctx context.Context, caller auth.Caller, id uuid.UUID, pageSize int, pageToken string) ([]RowError, string, error)
	// StageRows appends rows, which must start at the job's next row, and
	// counts them read, in one transaction.
	StageRows(ctx context.Context, caller auth.Caller, id uuid.UUID, rows []Row) (Job, error)
	// StartApplying moves a staging job to applying; other states pass unchanged.
	StartApplying(ctx context.Context, caller auth.Caller, id uuid.UUID) (Job, error)
	// ApplyBatch applies up to size rows after the last applied one in one
	// transaction, as plan decides, and records the progress; the last batch
	// marks the job succeeded. done is true when nothing is left to apply.
	ApplyBatch(ctx context.Context, caller auth.Caller, id uuid.UUID, size int, plan Planner) (job Job, done bool, err error)
	Cancel(ctx context.Context, caller auth.Caller, id uuid.UUID) (Job, error)
	// Interrupted lists the jobs of every tenant left applying.
	Interrupted(ctx context.Context) ([]JobRef, error)
}

// Customers lists customers for the export, with the customer service's
// access rules.
type Customers interface {
	List(ctx context.Context, caller auth.Caller, q customer.ListQuery) (customer.Page, error)
}
