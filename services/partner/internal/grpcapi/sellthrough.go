package grpcapi

import (
	"context"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/partner/internal/protoconv"
	"github.com/rapportcrm/rapport/services/partner/internal/sellthrough"
)

// SellThrough implements partnerv1.SellThroughServiceServer.
type SellThrough struct {
	partnerv1.UnimplementedSellThroughServiceServer
	svc *sellthrough.Service
}

// NewSellThrough returns the server.
func NewSellThrough(svc *sellthrough.Service) *SellThrough { return &SellThrough{svc: svc} }

// CreateSellThroughReport implements the RPC.
func (s *SellThrough) CreateSellThroughReport(ctx context.Context, req *partnerv1.CreateSellThroughReportRequest) (*partnerv1.CreateSellThroughReportResponse, error) {
	if req.GetSellThroughReport() == nil {
		return nil, toStatus(validation.Field("sell_through_report", "is required"))
	}
	r, err := protoconv.FromSellThroughReport(req.GetSellThroughReport())
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.Create(ctx, caller(ctx), r, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.CreateSellThroughReportResponse{SellThroughReport: protoconv.SellThroughReport(saved, true)}, nil
}

// GetSellThroughReport implements the RPC.
func (s *SellThrough) GetSellThroughReport(ctx context.Context, req *partnerv1.GetSellThroughReportRequest) (*partnerv1.GetSellThroughReportResponse, error) {
	id, err := parseID("sell_through_report_id", req.GetSellThroughReportId())
	if err != nil {
		return nil, toStatus(err)
	}
	r, err := s.svc.Get(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.GetSellThroughReportResponse{SellThroughReport: protoconv.SellThroughReport(r, true)}, nil
}

// ListSellThroughReports implements the RPC.
func (s *SellThrough) ListSellThroughReports(ctx context.Context, req *partnerv1.ListSellThroughReportsRequest) (*partnerv1.ListSellThroughReportsResponse, error) {
	page, err := s.svc.List(ctx, caller(ctx), sellthrough.ListQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &partnerv1.ListSellThroughReportsResponse{NextPageToken: page.NextPageToken, SellThroughReports: make([]*partnerv1.SellThroughReport, len(page.Reports))}
	for i, r := range page.Reports {
		out.SellThroughReports[i] = protoconv.SellThroughReport(r, false)
	}
	return out, nil
}
