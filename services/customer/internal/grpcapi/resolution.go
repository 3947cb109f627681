package grpcapi

import (
	"context"
	"errors"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/protoconv"
	"github.com/rapportcrm/rapport/services/customer/internal/resolution"
)

// Resolution implements customerv1.ResolutionServiceServer.
type Resolution struct {
	customerv1.UnimplementedResolutionServiceServer
	svc *resolution.Service
}

// NewResolution returns the server.
func NewResolution(svc *resolution.Service) *Resolution { return &Resolution{svc: svc} }

// ListDuplicateCandidates implements the RPC.
func (s *Resolution) ListDuplicateCandidates(ctx context.Context, req *customerv1.ListDuplicateCandidatesRequest) (*customerv1.ListDuplicateCandidatesResponse, error) {
	id, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	matches, err := s.svc.Candidates(ctx, caller(ctx), id, int(req.GetPageSize()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.ListDuplicateCandidatesResponse{Candidates: protoconv.DuplicateCandidates(matches)}, nil
}

// StartDuplicateScan implements the RPC.
func (s *Resolution) StartDuplicateScan(ctx context.Context, req *customerv1.StartDuplicateScanRequest) (*customerv1.StartDuplicateScanResponse, error) {
	scan, err := s.svc.StartScan(ctx, caller(ctx), req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.StartDuplicateScanResponse{DuplicateScan: protoconv.DuplicateScan(scan)}, nil
}

// GetDuplicateScan implements the RPC.
func (s *Resolution) GetDuplicateScan(ctx context.Context, req *customerv1.GetDuplicateScanRequest) (*customerv1.GetDuplicateScanResponse, error) {
	id, err := parseID("scan_id", req.GetScanId())
	if err != nil {
		return nil, toStatus(err)
	}
	scan, err := s.svc.Scan(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.GetDuplicateScanResponse{DuplicateScan: protoconv.DuplicateScan(scan)}, nil
}

// ListDuplicatePairs implements the RPC.
func (s *Resolution) ListDuplicatePairs(ctx context.Context, req *customerv1.ListDuplicatePairsRequest) (*customerv1.ListDuplicatePairsResponse, error) {
	pairs, next, err := s.svc.ListPairs(ctx, caller(ctx), resolution.PairQuery{
		State: resolution.PairState(req.GetState()), MinScore: req.GetMinScore(), PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListDuplicatePairsResponse{NextPageToken: next, DuplicatePairs: make([]*customerv1.DuplicatePair, len(pairs))}
	for i, p := range pairs {
		out.DuplicatePairs[i] = protoconv.DuplicatePair(p)
	}
	return out, nil
}

// GetDuplicatePair implements the RPC.
func (s *Resolution) GetDuplicatePair(ctx context.Context, req *customerv1.GetDuplicatePairRequest) (*customerv1.GetDuplicatePairResponse, error) {
	id, err := parseID("pair_id", req.GetPairId())
	if err != nil {
		return nil, toStatus(err)
	}
	p, err := s.svc.Pair(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.GetDuplicatePairResponse{DuplicatePair: protoconv.DuplicatePair(p)}, nil
}

// DismissDuplicatePair implements the RPC.
func (s *Resolution) DismissDuplicatePair(ctx context.Context, req *customerv1.DismissDuplicatePairRequest) (*customerv1.DismissDuplicatePairResponse, error) {
	id, err := parseID("pair_id", req.GetPairId())
	if err != nil {
		return nil, toStatus(err)
	}
	p, err := s.svc.Dismiss(ctx, caller(ctx), id, req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.DismissDuplicatePairResponse{DuplicatePair: protoconv.DuplicatePair(p)}, nil
}

// MergeCustomers implements the RPC.
func (s *Resolution) MergeCustomers(ctx context.Context, req *customerv1.MergeCustomersRequest) (*customerv1.MergeCustomersResponse, error) {
	survivor, err1 := parseID("survivor_id", req.GetSurvivorId())
	loser, err2 := parseID("loser_id", req.GetLoserId())
	if err := joinViolations(err1, err2); err != nil {
		return nil, toStatus(err)
	}
	m, c, err := s.svc.Merge(ctx, caller(ctx), resolution.MergeInput{
		SurvivorID: survivor, LoserID: loser, Rules: protoconv.FromFieldRules(req.GetFieldRules()),
		SurvivorEtag: req.GetSurvivorEtag(), LoserEtag: req.GetLoserEtag(), RequestID: req.GetRequestId(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.MergeCustomersResponse{Merge: protoconv.Merge(m), Survivor: protoconv.Customer(c)}, nil
}

// GetMerge implements the RPC.
func (s *Resolution) GetMerge(ctx context.Context, req *customerv1.GetMergeRequest) (*customerv1.GetMergeResponse, error) {
	id, err := parseID("merge_id", req.GetMergeId())
	if err != nil {
		return nil, toStatus(err)
	}
	m, err := s.svc.GetMerge(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.GetMergeResponse{Merge: protoconv.Merge(m)}, nil
}

// UnmergeCustomers implements the RPC.
func (s *Resolution) UnmergeCustomers(ctx context.Context, req *customerv1.UnmergeCustomersRequest) (*customerv1.UnmergeCustomersResponse, error) {
	id, err := parseID("merge_id", req.GetMergeId())
	if err != nil {
		return nil, toStatus(err)
	}
	m, survivor, loser, err := s.svc.Unmerge(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.UnmergeCustomersResponse{Merge: protoconv.Merge(m), Survivor: protoconv.Customer(survivor), Loser: protoconv.Customer(loser)}, nil
}

// joinViolations reports the field violations of several checks at once.
func joinViolations(errs ...error) error {
	all := &validation.Error{}
	for _, err := range errs {
		var v *validation.Error
		if errors.As(err, &v) {
			all.Violations = append(all.Violations, v.Violations...)
		}
	}
	return all.Err()
}
