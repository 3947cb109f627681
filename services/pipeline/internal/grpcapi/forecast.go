package grpcapi

import (
	"context"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/forecast"
	"github.com/rapportcrm/rapport/services/pipeline/internal/protoconv"
	"github.com/rapportcrm/rapport/services/pipeline/internal/rules"
)

// ForecastServer implements pipelinev1.ForecastServiceServer.
type ForecastServer struct {
	pipelinev1.UnimplementedForecastServiceServer
	svc *forecast.Service
}

// NewForecast returns the forecast server.
func NewForecast(svc *forecast.Service) *ForecastServer { return &ForecastServer{svc: svc} }

// GetForecast implements the RPC.
func (s *ForecastServer) GetForecast(ctx context.Context, req *pipelinev1.GetForecastRequest) (*pipelinev1.GetForecastResponse, error) {
	v := &validation.Error{}
	q := forecast.Query{PeriodKind: forecast.PeriodKind(req.GetPeriodKind()), Start: req.GetStartDate(), End: req.GetEndDate(),
		TimeZone: req.GetTimeZone(), PipelineID: rules.OptionalID(req.GetPipelineId(), "pipeline_id", v),
		OwnerID: rules.OptionalID(req.GetOwnerId(), "owner_id", v)}
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	rows, err := s.svc.Forecast(ctx, caller(ctx), q)
	if err != nil {
		return nil, toStatus(err)
	}
	reporting, err := s.svc.Reporting(ctx, caller(ctx), q)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pipelinev1.GetForecastResponse{UnconvertedCount: reporting.Unconverted}
	for _, r := range rows {
		out.Rows = append(out.Rows, protoconv.ForecastRow(r))
	}
	for _, r := range reporting.Rows {
		out.ReportingRows = append(out.ReportingRows, protoconv.ForecastRow(r))
	}
	return out, nil
}

// CreatePipelineSnapshot implements the RPC.
func (s *ForecastServer) CreatePipelineSnapshot(ctx context.Context, req *pipelinev1.CreatePipelineSnapshotRequest) (*pipelinev1.CreatePipelineSnapshotResponse, error) {
	snap, created, err := s.svc.TakeSnapshot(ctx, caller(ctx), req.GetTimeZone())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.CreatePipelineSnapshotResponse{Snapshot: protoconv.PipelineSnapshot(snap), Created: created}, nil
}

// ListPipelineSnapshots implements the RPC.
func (s *ForecastServer) ListPipelineSnapshots(ctx context.Context, req *pipelinev1.ListPipelineSnapshotsRequest) (*pipelinev1.ListPipelineSnapshotsResponse, error) {
	page, err := s.svc.Snapshots(ctx, caller(ctx), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pipelinev1.ListPipelineSnapshotsResponse{NextPageToken: page.NextPageToken}
	for _, sn := range page.Snapshots {
		out.Snapshots = append(out.Snapshots, protoconv.PipelineSnapshot(sn))
	}
	return out, nil
}

// GetForecastTrend implements the RPC.
func (s *ForecastServer) GetForecastTrend(ctx context.Context, req *pipelinev1.GetForecastTrendRequest) (*pipelinev1.GetForecastTrendResponse, error) {
	points, err := s.svc.Trend(ctx, caller(ctx), forecast.TrendQuery{Start: req.GetStartDate(), End: req.GetEndDate(),
		CloseStart: req.GetCloseStartDate(), CloseEnd: req.GetCloseEndDate()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pipelinev1.GetForecastTrendResponse{}
	for _, p := range points {
		out.Points = append(out.Points, protoconv.TrendPoint(p))
	}
	return out, nil
}

// GetForecastAccuracy implements the RPC.
func (s *ForecastServer) GetForecastAccuracy(ctx context.Context, req *pipelinev1.GetForecastAccuracyRequest) (*pipelinev1.GetForecastAccuracyResponse, error) {
	acc, err := s.svc.Accuracy(ctx, caller(ctx), forecast.AccuracyQuery{SnapshotDate: req.GetSnapshotDate(),
		PeriodStart: req.GetPeriodStart(), PeriodEnd: req.GetPeriodEnd(), TimeZone: req.GetTimeZone()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pipelinev1.GetForecastAccuracyResponse{}
	for _, a := range acc {
		out.Currencies = append(out.Currencies, protoconv.ForecastAccuracy(a))
	}
	return out, nil
}

// CreateQuota implements the RPC.
func (s *ForecastServer) CreateQuota(ctx context.Context, req *pipelinev1.CreateQuotaRequest) (*pipelinev1.CreateQuotaResponse, error) {
	if req.GetQuota() == nil {
		return nil, toStatus(validation.Field("quota", "is required"))
	}
	q, err := protoconv.FromQuota(req.GetQuota())
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.CreateQuota(ctx, caller(ctx), q, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.CreateQuotaResponse{Quota: protoconv.Quota(saved)}, nil
}

// GetQuota implements the RPC.
func (s *ForecastServer) GetQuota(ctx context.Context, req *pipelinev1.GetQuotaRequest) (*pipelinev1.GetQuotaResponse, error) {
	id, err := parseID("quota_id", req.GetQuotaId())
	if err != nil {
		return nil, toStatus(err)
	}
	q, err := s.svc.Quota(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.GetQuotaResponse{Quota: protoconv.Quota(q)}, nil
}

// ListQuotas implements the RPC.
func (s *ForecastServer) ListQuotas(ctx context.Context, req *pipelinev1.ListQuotasRequest) (*pipelinev1.ListQuotasResponse, error) {
	page, err := s.svc.Quotas(ctx, caller(ctx), req.GetFilter(), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pipelinev1.ListQuotasResponse{NextPageToken: page.NextPageToken}
	for _, q := range page.Quotas {
		out.Quotas = append(out.Quotas, protoconv.Quota(q))
	}
	return out, nil
}

// UpdateQuota implements the RPC.
func (s *ForecastServer) UpdateQuota(ctx context.Context, req *pipelinev1.UpdateQuotaRequest) (*pipelinev1.UpdateQuotaResponse, error) {
	if req.GetQuota() == nil {
		return nil, toStatus(validation.Field("quota", "is required"))
	}
	id, err := parseID("quota.quota_id", req.GetQuota().GetQuotaId())
	if err != nil {
		return nil, toStatus(err)
	}
	in, err := protoconv.FromQuota(req.GetQuota())
	if err != nil {
		return nil, toStatus(err)
	}
	in.ID = id
	mask := dropOutputOnly(maskPaths(req.GetUpdateMask().GetPaths()), "quota_id", "assignee_kind", "assignee", "attained",
		"attained.currency_code", "attained.amount_minor", "attainment_bps", "create_time", "update_time")
	saved, err := s.svc.UpdateQuota(ctx, caller(ctx), in, mask, req.GetQuota().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.UpdateQuotaResponse{Quota: protoconv.Quota(saved)}, nil
}
