package grpcapi

import (
	"context"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
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
