package protoconv

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/services/customer/internal/resolution"
)

// MatchFeatures renders a match's explanation.
func MatchFeatures(fs []resolution.Feature) []*customerv1.MatchFeature {
	out := make([]*customerv1.MatchFeature, len(fs))
	for i, f := range fs {
		out[i] = &customerv1.MatchFeature{Name: f.Name, Similarity: f.Similarity, Weight: f.Weight, Contribution: f.Contribution(), Reason: f.Reason}
	}
	return out
}

// DuplicateCandidate renders a match as a candidate.
func DuplicateCandidate(m resolution.Match) *customerv1.DuplicateCandidate {
	return &customerv1.DuplicateCandidate{CustomerId: m.CustomerID.String(), Score: m.Score, Features: MatchFeatures(m.Features)}
}

// DuplicateCandidates renders matches as candidates.
func DuplicateCandidates(ms []resolution.Match) []*customerv1.DuplicateCandidate {
	out := make([]*customerv1.DuplicateCandidate, len(ms))
	for i, m := range ms {
		out[i] = DuplicateCandidate(m)
	}
	return out
}

// DuplicatePair renders a queued pair.
func DuplicatePair(p resolution.Pair) *customerv1.DuplicatePair {
	out := &customerv1.DuplicatePair{
		PairId: p.ID.String(), FirstCustomerId: p.First.String(), SecondCustomerId: p.Second.String(),
		Score: p.Score, Features: MatchFeatures(p.Features), State: customerv1.DuplicatePairState(p.State),
		CreateTime: timestamppb.New(p.CreateTime), UpdateTime: timestamppb.New(p.UpdateTime), Etag: p.Etag(),
	}
	if p.ScanID != nil {
		out.ScanId = p.ScanID.String()
	}
	if p.MergeID != nil {
		out.MergeId = p.MergeID.String()
	}
	return out
}

// DuplicateScan renders a scan.
func DuplicateScan(s resolution.Scan) *customerv1.DuplicateScan {
	out := &customerv1.DuplicateScan{
		ScanId: s.ID.String(), State: customerv1.DuplicateScanState(s.State), ProcessedCount: s.Processed,
		TotalCount: s.Total, PairsFound: s.PairsFound, CreateTime: timestamppb.New(s.CreateTime), UpdateTime: timestamppb.New(s.UpdateTime),
	}
	if s.FinishTime != nil {
		out.FinishTime = timestamppb.New(*s.FinishTime)
	}
	return out
}

// FieldRules renders survivorship rules.
func FieldRules(rs []resolution.FieldRule) []*customerv1.FieldRule {
	out := make([]*customerv1.FieldRule, len(rs))
	for i, r := range rs {
		out[i] = &customerv1.FieldRule{Field: r.Field, Rule: customerv1.SurvivorshipRule(r.Rule)}
	}
	return out
}

// FromFieldRules reads requested survivorship rules; the domain checks them.
func FromFieldRules(rs []*customerv1.FieldRule) []resolution.FieldRule {
	out := make([]resolution.FieldRule, len(rs))
	for i, r := range rs {
		out[i] = resolution.FieldRule{Field: r.GetField(), Rule: resolution.Rule(r.GetRule())}
	}
	return out
}

// Merge renders a journal entry; it is also the merge events' payload.
func Merge(m resolution.Merge) *customerv1.Merge {
	out := &customerv1.Merge{
		MergeId: m.ID.String(), SurvivorId: m.SurvivorID.String(), LoserId: m.LoserID.String(), State: customerv1.MergeState(m.State),
		FieldRules: FieldRules(m.Rules), MovedRowCount: m.MovedRows, CreateTime: timestamppb.New(m.CreateTime), ExpireTime: timestamppb.New(m.ExpireTime),
	}
	if m.PairID != nil {
		out.PairId = m.PairID.String()
	}
	if m.UnmergeTime != nil {
		out.UnmergeTime = timestamppb.New(*m.UnmergeTime)
	}
	return out
}
