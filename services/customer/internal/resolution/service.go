package resolution

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
)

// Who may do what. Candidates of a customer are for everyone who reads
// customers with their personal data (PostgreSQL shows each caller only the
// customers it may see);
// the review queue, scans and the journal span every customer, so they are
// for the roles that see every customer; merging and scanning change data
// at scale, so only admins and sales managers do them.
var (
	readers   = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleSupportAgent, auth.RolePartnerUser}
	reviewers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSupportAgent, auth.RoleAnalyst}
	mergers   = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
)

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

// Service holds the identity resolution use cases.
type Service struct {
	store     Store
	retention time.Duration
	scanner   *Scanner
}

// New returns a Service over store. Merges stay undoable for retention
// (30 days when zero); scanner, when not nil, is woken when a scan starts.
func New(store Store, retention time.Duration, scanner *Scanner) *Service {
	if retention <= 0 {
		retention = defaultRetention
	}
	return &Service{store: store, retention: retention, scanner: scanner}
}

// Candidates returns up to limit live customers (10 when zero, at most 50)
// that probably duplicate customer id, best first.
func (s *Service) Candidates(ctx context.Context, caller auth.Caller, id uuid.UUID, limit int) ([]Match, error) {
	if err := allow(caller, readers); err != nil {
		return nil, err
	}
	switch {
	case limit < 0:
		return nil, validation.Field("page_size", "must not be negative")
	case limit == 0:
		limit = defaultCandidates
	case limit > maxCandidates:
		limit = maxCandidates
	}
	matches, err := s.candidates(ctx, caller, id)
	if len(matches) > limit {
		matches = matches[:limit]
	}
	return matches, err
}

func (s *Service) candidates(ctx context.Context, caller auth.Caller, id uuid.UUID) ([]Match, error) {
	p, others, err := s.store.Candidates(ctx, caller, id)
	if err != nil {
		return nil, err
	}
	return rank(p, others), nil
}

// rank scores p against others and keeps those at or above Threshold,
// best first (ties by id, for a stable order).
func rank(p Profile, others []Profile) []Match {
	var out []Match
	for _, o := range others {
		if m := Score(p, o); m.Score >= Threshold {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b Match) int {
		if a.Score != b.Score {
			if a.Score > b.Score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.CustomerID.String(), b.CustomerID.String())
	})
	return out
}

// pairsOf turns p's candidates at or above Threshold into queue pairs.
func pairsOf(p Profile, others []Profile) []Pair {
	matches := rank(p, others)
	out := make([]Pair, len(matches))
	for i, m := range matches {
		out[i] = newPair(p.ID, m)
	}
	return out
}

// Created finds the duplicate candidates of a customer just created and
// queues them for review. It merges nothing.
func (s *Service) Created(ctx context.Context, caller auth.Caller, id uuid.UUID) ([]Match, error) {
	if err := allow(caller, readers); err != nil {
		return nil, err
	}
	p, others, err := s.store.Candidates(ctx, caller, id)
	if err != nil {
		return nil, err
	}
	matches := rank(p, others)
	if len(matches) == 0 {
		return nil, nil
	}
	pairs := make([]Pair, len(matches))
	for i, m := range matches {
		pairs[i] = newPair(id, m)
	}
	if _, err := s.store.QueuePairs(ctx, caller, pairs); err != nil {
		return nil, err
	}
	if len(matches) > defaultCandidates {
		matches = matches[:defaultCandidates]
	}
	return matches, nil
}

// StartScan starts a duplicate scan of the caller's tenant.
func (s *Service) StartScan(ctx context.Context, caller auth.Caller, requestID string) (Scan, error) {
	if err := allow(caller, mergers); err != nil {
		return Scan{}, err
	}
	if utf8.RuneCountInString(requestID) > maxRequestID {
		return Scan{}, validation.Field("request_id", "must be at most %d characters", maxRequestID)
	}
	scan, err := s.store.StartScan(ctx, caller, uuid.Must(uuid.NewV7()), requestID)
	if err == nil && s.scanner != nil {
		s.scanner.Wake()
	}
	return scan, err
}

// Scan returns a duplicate scan.
func (s *Service) Scan(ctx context.Context, caller auth.Caller, id uuid.UUID) (Scan, error) {
	if err := allow(caller, reviewers); err != nil {
		return Scan{}, err
	}
	return s.store.Scan(ctx, caller, id)
}

// Pair returns a queued pair.
func (s *Service) Pair(ctx context.Context, caller auth.Caller, id uuid.UUID) (Pair, error) {
	if err := allow(caller, reviewers); err != nil {
		return Pair{}, err
	}
	return s.store.Pair(ctx, caller, id)
}

// ListPairs returns a page of the review queue, highest score first.
func (s *Service) ListPairs(ctx context.Context, caller auth.Caller, q PairQuery) ([]Pair, string, error) {
	if err := allow(caller, reviewers); err != nil {
		return nil, "", err
	}
	v := &validation.Error{}
	switch {
	case q.PageSize < 0:
		v.Add("page_size", "must not be negative")
	case q.PageSize == 0:
		q.PageSize = defaultPageSize
	case q.PageSize > maxPageSize:
		q.PageSize = maxPageSize
	}
	if q.MinScore < 0 || q.MinScore > 1 {
		v.Add("min_score", "must be between 0 and 1")
	}
	switch {
	case q.State == PairStateUnspecified:
		q.State = PairOpen
	case q.State < PairStateUnspecified || q.State > PairDismissed:
		v.Add("state", "is not a known pair state")
	}
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	return s.store.ListPairs(ctx, caller, q)
}

// Dismiss marks an open pair as two different customers.
func (s *Service) Dismiss(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) (Pair, error) {
	if err := allow(caller, mergers); err != nil {
		return Pair{}, err
	}
	return s.store.MutatePair(ctx, caller, id, EventPairDismissed, func(p *Pair) error {
		if etag != "" && etag != p.Etag() {
			return fmt.Errorf("%w: current etag is %s", ErrEtagMismatch, p.Etag())
		}
		if p.State != PairOpen {
			return ErrPairNotOpen
		}
		p.State = PairDismissed
		return nil
	})
}

// MergeInput is a merge as the caller asks for it.
type MergeInput struct {
	SurvivorID, LoserID     uuid.UUID
	Rules                   []FieldRule
	SurvivorEtag, LoserEtag string
	RequestID               string
}

// Merge merges the loser into the survivor.
func (s *Service) Merge(ctx context.Context, caller auth.Caller, in MergeInput) (Merge, customer.Customer, error) {
	if err := allow(caller, mergers); err != nil {
		return Merge{}, customer.Customer{}, err
	}
	v := &validation.Error{}
	if in.SurvivorID == in.LoserID {
		v.Add("loser_id", "must differ from survivor_id: a customer cannot be merged with itself")
	}
	if utf8.RuneCountInString(in.RequestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	rules := resolveRules(in.Rules, v)
	if err := v.Err(); err != nil {
		return Merge{}, customer.Customer{}, err
	}
	r := MergeRequest{ID: uuid.Must(uuid.NewV7()), SurvivorID: in.SurvivorID, LoserID: in.LoserID, Rules: rules,
		RequestID: in.RequestID, Retention: s.retention}
	return s.store.Merge(ctx, caller, r, func(sv, lo customer.Customer) (customer.Customer, error) {
		for _, c := range []struct {
			c    customer.Customer
			etag string
		}{{sv, in.SurvivorEtag}, {lo, in.LoserEtag}} {
			switch {
			case c.c.MergedInto != nil:
				return customer.Customer{}, fmt.Errorf("customer %s: %w", c.c.ID, customer.ErrMerged)
			case c.c.DeleteTime != nil:
				return customer.Customer{}, fmt.Errorf("customer %s: %w", c.c.ID, customer.ErrDeleted)
			case c.etag != "" && c.etag != c.c.Etag():
				return customer.Customer{}, fmt.Errorf("customer %s: %w: current etag is %s", c.c.ID, customer.ErrEtagMismatch, c.c.Etag())
			}
		}
		if sv.Kind != lo.Kind {
			return customer.Customer{}, ErrKindMismatch
		}
		return survive(sv, lo, rules), nil
	})
}

// GetMerge returns a merge from the journal.
func (s *Service) GetMerge(ctx context.Context, caller auth.Caller, id uuid.UUID) (Merge, error) {
	if err := allow(caller, reviewers); err != nil {
		return Merge{}, err
	}
	return s.store.GetMerge(ctx, caller, id)
}

// Unmerge undoes a merge within the retention window.
func (s *Service) Unmerge(ctx context.Context, caller auth.Caller, id uuid.UUID) (Merge, customer.Customer, customer.Customer, error) {
	if err := allow(caller, mergers); err != nil {
		return Merge{}, customer.Customer{}, customer.Customer{}, err
	}
	return s.store.Unmerge(ctx, caller, id, func(m Merge, before, merged, now customer.Customer) (customer.Customer, error) {
		switch {
		case m.State == MergeUnmerged:
			return customer.Customer{}, ErrUnmerged
		case !time.Now().Before(m.ExpireTime):
			return customer.Customer{}, fmt.Errorf("%w (expired %s)", ErrRetentionExpired, m.ExpireTime.UTC().Format(time.RFC3339))
		case now.DeleteTime != nil || now.MergedInto != nil:
			return customer.Customer{}, ErrSurvivorGone
		}
		return restore(before, merged, now), nil
	})
}
