// Package resolution is identity resolution: finding customers recorded
// more than once (explainable match scores over blocked candidates), the
// review queue of likely pairs, long-running duplicate scans, and merging
// with per-field survivorship, undoable from a journal.
package resolution

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
)

// Errors the use cases return besides customer.ErrNotFound,
// customer.ErrDeleted, customer.ErrMerged, customer.ErrEtagMismatch,
// auth.ErrForbidden and validation errors.
var (
	ErrPairNotFound     = errors.New("duplicate pair not found")
	ErrPairNotOpen      = errors.New("the duplicate pair is no longer open")
	ErrScanNotFound     = errors.New("duplicate scan not found")
	ErrScanRunning      = errors.New("a duplicate scan is already running for the tenant")
	ErrMergeNotFound    = errors.New("merge not found")
	ErrKindMismatch     = errors.New("a person cannot be merged with an organisation")
	ErrRetentionExpired = errors.New("the merge is older than the retention window and can no longer be undone")
	ErrUnmerged         = errors.New("the merge was already undone")
	ErrSurvivorGone     = errors.New("the survivor was deleted or merged since; undo that first")
	ErrEtagMismatch     = errors.New("the resource changed since it was read (etag mismatch)")
)

// Event types identity resolution emits besides the customers' own.
const (
	// EventMerged carries the Merge: survivor and loser, so that other
	// services re-point their references from the loser to the survivor.
	EventMerged = "customer.merged"
	// EventUnmerged carries the Merge being undone.
	EventUnmerged       = "customer.unmerged"
	EventPairQueued     = "customer.duplicate_pair.queued"
	EventPairDismissed  = "customer.duplicate_pair.dismissed"
	EventPairMerged     = "customer.duplicate_pair.merged"
	EventPairReopened   = "customer.duplicate_pair.reopened"
	EventScanStarted    = "customer.duplicate_scan.started"
	EventScanSucceeded  = "customer.duplicate_scan.succeeded"
	defaultRetention    = 30 * 24 * time.Hour
	defaultCandidates   = 10
	maxCandidates       = 50
	defaultPageSize     = 50
	maxPageSize         = 1000
	maxRequestID        = 64
	defaultScanBatch    = 500
	defaultScanInterval = 5 * time.Second
)

// PairState is where a queued pair stands; the numbers match the API's enum.
type PairState int32

// Pair states.
const (
	PairStateUnspecified PairState = iota
	PairOpen
	PairMerged
	PairDismissed
)

// Pair is a pair of customers in the review queue, smaller id first.
type Pair struct {
	ID         uuid.UUID
	First      uuid.UUID
	Second     uuid.UUID
	Score      float64
	Features   []Feature
	State      PairState
	ScanID     *uuid.UUID
	MergeID    *uuid.UUID
	CreateTime time.Time
	UpdateTime time.Time
	Revision   int64
}

// Etag is the pair's concurrency token.
func (p Pair) Etag() string { return strconv.FormatInt(p.Revision, 10) }

// Resource is the pair's resource name.
func (p Pair) Resource() string { return "duplicatePairs/" + p.ID.String() }

// newPair orders a match of a and b canonically (smaller id first).
func newPair(a uuid.UUID, m Match) Pair {
	p := Pair{ID: uuid.Must(uuid.NewV7()), First: a, Second: m.CustomerID, Score: m.Score, Features: m.Features, State: PairOpen}
	if p.Second.String() < p.First.String() {
		p.First, p.Second = p.Second, p.First
	}
	return p
}

// PairQuery selects a page of the review queue.
type PairQuery struct {
	State     PairState
	MinScore  float64
	PageSize  int
	PageToken string
}

// ScanState is where a scan stands; the numbers match the API's enum.
type ScanState int32

// Scan states.
const (
	ScanStateUnspecified ScanState = iota
	ScanRunning
	ScanSucceeded
)

// Scan is a long-running duplicate scan of a tenant's customers.
type Scan struct {
	ID         uuid.UUID
	State      ScanState
	Processed  int64
	Total      int64
	PairsFound int64
	CreateTime time.Time
	UpdateTime time.Time
	FinishTime *time.Time
}

// Resource is the scan's resource name.
func (s Scan) Resource() string { return "duplicateScans/" + s.ID.String() }

// ScanRef names a running scan of a tenant, for the background worker.
type ScanRef struct {
	TenantID string
	ScanID   uuid.UUID
}

// MergeState is where a merge stands; the numbers match the API's enum.
type MergeState int32

// Merge states.
const (
	MergeStateUnspecified MergeState = iota
	MergeMerged
	MergeUnmerged
)

// Merge is one entry of the merge journal.
type Merge struct {
	ID          uuid.UUID
	SurvivorID  uuid.UUID
	LoserID     uuid.UUID
	PairID      *uuid.UUID
	State       MergeState
	Rules       []FieldRule
	MovedRows   int64
	CreateTime  time.Time
	ExpireTime  time.Time
	UnmergeTime *time.Time
}

// Resource is the merge's resource name.
func (m Merge) Resource() string { return "merges/" + m.ID.String() }

// MergeRequest is a merge as the store carries it out.
type MergeRequest struct {
	// ID is the new merge's id.
	ID         uuid.UUID
	SurvivorID uuid.UUID
	LoserID    uuid.UUID
	Rules      []FieldRule
	RequestID  string
	// Retention is how long the merge stays undoable.
	Retention time.Duration
}

// MergePlan checks the two customers as locked in the merge's transaction
// and returns the survivor as the merge leaves it.
type MergePlan func(survivor, loser customer.Customer) (customer.Customer, error)

// UnmergePlan checks a merge as locked in the unmerge's transaction and
// returns the survivor to restore, from its images before and after the
// merge and as it is now.
type UnmergePlan func(m Merge, before, merged, now customer.Customer) (customer.Customer, error)

// Store keeps the review queue, scans and merge journal. Every method but
// RunningScans and ScanBatch is scoped to the caller's tenant and sees the
// customers the caller may see.
type Store interface {
	// Candidates returns the customer's profile and the profiles of the live
	// customers that share a blocking key with it: a normalised e-mail, an
	// E.164 phone, a name trigram-alike or a postal code.
	Candidates(ctx context.Context, caller auth.Caller, id uuid.UUID) (Profile, []Profile, error)
	// QueuePairs adds the pairs not yet queued and reports how many it added.
	QueuePairs(ctx context.Context, caller auth.Caller, pairs []Pair) (int, error)
	Pair(ctx context.Context, caller auth.Caller, id uuid.UUID) (Pair, error)
	ListPairs(ctx context.Context, caller auth.Caller, q PairQuery) ([]Pair, string, error)
	// MutatePair loads and locks the pair, applies m and saves it with its
	// event and audit row.
	MutatePair(ctx context.Context, caller auth.Caller, id uuid.UUID, eventType string, m func(*Pair) error) (Pair, error)
	// StartScan creates a running scan over the tenant's live customers, or
	// returns the scan an earlier request with the same non-empty requestID
	// started.
	StartScan(ctx context.Context, caller auth.Caller, id uuid.UUID, requestID string) (Scan, error)
	Scan(ctx context.Context, caller auth.Caller, id uuid.UUID) (Scan, error)
	// RunningScans lists every tenant's running scans.
	RunningScans(ctx context.Context) ([]ScanRef, error)
	// ScanBatch compares the next batch of up to size customers of a
	// running scan with their candidates, queues the pairs that pairs
	// returns and records the progress, in one transaction. done reports
	// that the scan has finished (or was finished by another worker).
	ScanBatch(ctx context.Context, ref ScanRef, size int, pairs func(p Profile, candidates []Profile) []Pair) (done bool, err error)
	// Merge carries out a merge in one transaction: it locks both
	// customers, applies plan, re-parents the loser's rows, soft-deletes
	// the loser with merged_into set, journals everything and records the
	// events. A repeated non-empty RequestID returns the earlier merge.
	Merge(ctx context.Context, caller auth.Caller, r MergeRequest, plan MergePlan) (Merge, customer.Customer, error)
	GetMerge(ctx context.Context, caller auth.Caller, id uuid.UUID) (Merge, error)
	// Unmerge undoes a merge in one transaction: plan checks it and gives
	// the survivor to restore; the rows the merge moved go back to the
	// loser, which becomes live again.
	Unmerge(ctx context.Context, caller auth.Caller, id uuid.UUID, plan UnmergePlan) (m Merge, survivor, loser customer.Customer, err error)
}
