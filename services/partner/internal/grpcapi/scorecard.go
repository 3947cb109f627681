package grpcapi

import (
	"context"

	"github.com/google/uuid"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/partner/internal/protoconv"
	"github.com/rapportcrm/rapport/services/partner/internal/scorecard"
)

// Scorecards implements partnerv1.PartnerScorecardServiceServer.
type Scorecards struct {
	partnerv1.UnimplementedPartnerScorecardServiceServer
	svc *scorecard.Service
}

// NewScorecards returns the server.
func NewScorecards(svc *scorecard.Service) *Scorecards { return &Scorecards{svc: svc} }

// GetPartnerScorecard implements the RPC.
func (s *Scorecards) GetPartnerScorecard(ctx context.Context, req *partnerv1.GetPartnerScorecardRequest) (*partnerv1.GetPartnerScorecardResponse, error) {
	v := &validation.Error{}
	id, err := parseID("partner_id", req.GetPartnerId())
	if err != nil {
		v.Add("partner_id", "must be a UUID")
	}
	from := protoconv.Date(v, "period_start", req.GetPeriodStart())
	to := protoconv.Date(v, "period_end", req.GetPeriodEnd())
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	sc, err := s.svc.Get(ctx, caller(ctx), id, from, to)
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.GetPartnerScorecardResponse{Scorecard: protoconv.Scorecard(sc)}, nil
}

// ListPartnerScorecards implements the RPC. The page token holds the last
// partner id, bound to the period.
func (s *Scorecards) ListPartnerScorecards(ctx context.Context, req *partnerv1.ListPartnerScorecardsRequest) (*partnerv1.ListPartnerScorecardsResponse, error) {
	v := &validation.Error{}
	from := protoconv.Date(v, "period_start", req.GetPeriodStart())
	to := protoconv.Date(v, "period_end", req.GetPeriodEnd())
	query := "scorecards " + req.GetPeriodStart() + " " + req.GetPeriodEnd()
	var after uuid.UUID
	if req.GetPageToken() != "" {
		if err := pagetoken.Decode(req.GetPageToken(), query, &after); err != nil {
			v.Add("page_token", "is not a token from this query; start again without it")
		}
	}
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	cards, more, err := s.svc.List(ctx, caller(ctx), from, to, int(req.GetPageSize()), after)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &partnerv1.ListPartnerScorecardsResponse{Scorecards: make([]*partnerv1.PartnerScorecard, len(cards))}
	for i, sc := range cards {
		resp.Scorecards[i] = protoconv.Scorecard(sc)
	}
	if more {
		if resp.NextPageToken, err = pagetoken.Encode(query, cards[len(cards)-1].PartnerID); err != nil {
			return nil, toStatus(err)
		}
	}
	return resp, nil
}
