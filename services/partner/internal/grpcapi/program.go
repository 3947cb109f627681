package grpcapi

import (
	"context"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/partner/internal/program"
	"github.com/rapportcrm/rapport/services/partner/internal/protoconv"
)

// Program implements partnerv1.PartnerProgramServiceServer.
type Program struct {
	partnerv1.UnimplementedPartnerProgramServiceServer
	svc *program.Service
}

// NewProgram returns the server.
func NewProgram(svc *program.Service) *Program { return &Program{svc: svc} }

// GetTierSchedule implements the RPC.
func (s *Program) GetTierSchedule(ctx context.Context, _ *partnerv1.GetTierScheduleRequest) (*partnerv1.GetTierScheduleResponse, error) {
	sched, err := s.svc.Schedule(ctx, caller(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.GetTierScheduleResponse{TierSchedule: protoconv.TierSchedule(sched)}, nil
}

// UpdateTierSchedule implements the RPC.
func (s *Program) UpdateTierSchedule(ctx context.Context, req *partnerv1.UpdateTierScheduleRequest) (*partnerv1.UpdateTierScheduleResponse, error) {
	if req.GetTierSchedule() == nil {
		return nil, toStatus(validation.Field("tier_schedule", "is required"))
	}
	saved, err := s.svc.UpdateSchedule(ctx, caller(ctx), protoconv.FromTierSchedule(req.GetTierSchedule()), req.GetTierSchedule().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.UpdateTierScheduleResponse{TierSchedule: protoconv.TierSchedule(saved)}, nil
}

// CreateCertification implements the RPC.
func (s *Program) CreateCertification(ctx context.Context, req *partnerv1.CreateCertificationRequest) (*partnerv1.CreateCertificationResponse, error) {
	if req.GetCertification() == nil {
		return nil, toStatus(validation.Field("certification", "is required"))
	}
	c, err := protoconv.FromCertification(req.GetCertification())
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.CreateCertification(ctx, caller(ctx), c, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.CreateCertificationResponse{Certification: protoconv.Certification(saved)}, nil
}

// ListCertifications implements the RPC.
func (s *Program) ListCertifications(ctx context.Context, req *partnerv1.ListCertificationsRequest) (*partnerv1.ListCertificationsResponse, error) {
	page, err := s.svc.ListCertifications(ctx, caller(ctx), program.CertificationQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &partnerv1.ListCertificationsResponse{NextPageToken: page.NextPageToken, Certifications: make([]*partnerv1.Certification, len(page.Certifications))}
	for i, c := range page.Certifications {
		out.Certifications[i] = protoconv.Certification(c)
	}
	return out, nil
}

// EvaluatePartnerTier implements the RPC.
func (s *Program) EvaluatePartnerTier(ctx context.Context, req *partnerv1.EvaluatePartnerTierRequest) (*partnerv1.EvaluatePartnerTierResponse, error) {
	id, err := parseID("partner_id", req.GetPartnerId())
	if err != nil {
		return nil, toStatus(err)
	}
	e, err := s.svc.Evaluate(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.EvaluatePartnerTierResponse{Evaluation: protoconv.Evaluation(e)}, nil
}
