package grpcapi

import (
	"context"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/order"
	"github.com/rapportcrm/rapport/services/pipeline/internal/protoconv"
)

// OrderServer implements pipelinev1.OrderServiceServer.
type OrderServer struct {
	pipelinev1.UnimplementedOrderServiceServer
	svc *order.Service
}

// NewOrderServer returns the server.
func NewOrderServer(svc *order.Service) *OrderServer { return &OrderServer{svc: svc} }

// CreateOrder implements the RPC.
func (s *OrderServer) CreateOrder(ctx context.Context, req *pipelinev1.CreateOrderRequest) (*pipelinev1.CreateOrderResponse, error) {
	if req.GetOrder() == nil {
		return nil, toStatus(validation.Field("order", "is required"))
	}
	o, err := protoconv.FromOrder(req.GetOrder())
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.Create(ctx, caller(ctx), o, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.CreateOrderResponse{Order: protoconv.Order(saved)}, nil
}

// GetOrder implements the RPC.
func (s *OrderServer) GetOrder(ctx context.Context, req *pipelinev1.GetOrderRequest) (*pipelinev1.GetOrderResponse, error) {
	id, err := parseID("order_id", req.GetOrderId())
	if err != nil {
		return nil, toStatus(err)
	}
	o, err := s.svc.Get(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.GetOrderResponse{Order: protoconv.Order(o)}, nil
}

// ListOrders implements the RPC.
func (s *OrderServer) ListOrders(ctx context.Context, req *pipelinev1.ListOrdersRequest) (*pipelinev1.ListOrdersResponse, error) {
	page, err := s.svc.List(ctx, caller(ctx), order.ListQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pipelinev1.ListOrdersResponse{NextPageToken: page.NextPageToken}
	for _, o := range page.Orders {
		out.Orders = append(out.Orders, protoconv.Order(o))
	}
	return out, nil
}

// CancelOrder implements the RPC.
func (s *OrderServer) CancelOrder(ctx context.Context, req *pipelinev1.CancelOrderRequest) (*pipelinev1.CancelOrderResponse, error) {
	id, err := parseID("order_id", req.GetOrderId())
	if err != nil {
		return nil, toStatus(err)
	}
	o, err := s.svc.Cancel(ctx, caller(ctx), id, req.GetReason(), req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.CancelOrderResponse{Order: protoconv.Order(o)}, nil
}

// LoadExchangeRates implements the RPC.
func (s *OrderServer) LoadExchangeRates(ctx context.Context, req *pipelinev1.LoadExchangeRatesRequest) (*pipelinev1.LoadExchangeRatesResponse, error) {
	rates := make([]order.Rate, len(req.GetRates()))
	for i, r := range req.GetRates() {
		rates[i] = order.Rate{Base: r.GetBaseCurrency(), Quote: r.GetQuoteCurrency(), Date: r.GetRateDate(), Rate: r.GetRate()}
	}
	n, err := s.svc.LoadRates(ctx, caller(ctx), rates)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.LoadExchangeRatesResponse{LoadedCount: int32(n)}, nil
}

// ListExchangeRates implements the RPC.
func (s *OrderServer) ListExchangeRates(ctx context.Context, req *pipelinev1.ListExchangeRatesRequest) (*pipelinev1.ListExchangeRatesResponse, error) {
	page, err := s.svc.ListRates(ctx, caller(ctx), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pipelinev1.ListExchangeRatesResponse{NextPageToken: page.NextPageToken}
	for _, r := range page.Rates {
		out.Rates = append(out.Rates, protoconv.ExchangeRate(r))
	}
	return out, nil
}

// GetReportingSettings implements the RPC.
func (s *OrderServer) GetReportingSettings(ctx context.Context, _ *pipelinev1.GetReportingSettingsRequest) (*pipelinev1.GetReportingSettingsResponse, error) {
	st, err := s.svc.Settings(ctx, caller(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.GetReportingSettingsResponse{ReportingSettings: protoconv.ReportingSettings(st)}, nil
}

// UpdateReportingSettings implements the RPC.
func (s *OrderServer) UpdateReportingSettings(ctx context.Context, req *pipelinev1.UpdateReportingSettingsRequest) (*pipelinev1.UpdateReportingSettingsResponse, error) {
	m := req.GetReportingSettings()
	if m == nil {
		return nil, toStatus(validation.Field("reporting_settings", "is required"))
	}
	mask := dropOutputOnly(maskPaths(req.GetUpdateMask().GetPaths()), "update_time")
	st, err := s.svc.UpdateSettings(ctx, caller(ctx), order.Settings{ReportingCurrency: m.GetReportingCurrency()}, mask, m.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.UpdateReportingSettingsResponse{ReportingSettings: protoconv.ReportingSettings(st)}, nil
}
