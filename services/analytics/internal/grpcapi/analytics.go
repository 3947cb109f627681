package grpcapi

import (
	"context"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/rapportcrm/rapport/gen/go/rapport/analytics/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

// Analytics implements analyticsv1.AnalyticsServiceServer.
type Analytics struct {
	analyticsv1.UnimplementedAnalyticsServiceServer
	svc *analytics.Service
}

// NewAnalytics returns the server.
func NewAnalytics(svc *analytics.Service) *Analytics { return &Analytics{svc: svc} }

// GetCustomerSummary implements the RPC.
func (s *Analytics) GetCustomerSummary(ctx context.Context, req *analyticsv1.GetCustomerSummaryRequest) (*analyticsv1.GetCustomerSummaryResponse, error) {
	id, err := uuid.Parse(req.GetCustomerId())
	if err != nil {
		return nil, toStatus(validation.Field("customer_id", "must be a UUID"))
	}
	sum, err := s.svc.CustomerSummary(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &analyticsv1.CustomerSummary{
		CustomerId:           sum.CustomerID.String(),
		OpenOpportunityCount: sum.OpenOpportunities,
		OpenTicketCount:      sum.OpenTickets,
	}
	for _, m := range sum.OpenAmounts {
		out.OpenOpportunityAmounts = append(out.OpenOpportunityAmounts, &typesv1.Money{CurrencyCode: m.CurrencyCode, AmountMinor: m.AmountMinor})
	}
	if !sum.UpdateTime.IsZero() {
		out.UpdateTime = timestamppb.New(sum.UpdateTime)
	}
	return &analyticsv1.GetCustomerSummaryResponse{Summary: out}, nil
}

// ListFeeds implements the RPC.
func (s *Analytics) ListFeeds(ctx context.Context, _ *analyticsv1.ListFeedsRequest) (*analyticsv1.ListFeedsResponse, error) {
	feeds, err := s.svc.Feeds(ctx, caller(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &analyticsv1.ListFeedsResponse{Feeds: make([]*analyticsv1.Feed, len(feeds))}
	for i, f := range feeds {
		out.Feeds[i] = &analyticsv1.Feed{Source: f.Source, Cursor: f.Cursor, LastEventTime: timestamppb.New(f.LastEventTime), AppliedEvents: f.AppliedEvents,
			Lag: durationpb.New(time.Since(f.LastEventTime)), QuarantinedEvents: f.Quarantined}
	}
	return out, nil
}
