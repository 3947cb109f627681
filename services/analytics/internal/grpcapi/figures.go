package grpcapi

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	analyticsv1 "github.com/rapportcrm/rapport/gen/go/rapport/analytics/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
	"github.com/rapportcrm/rapport/services/analytics/internal/protoconv"
)

// Figures implements analyticsv1.FiguresServiceServer.
type Figures struct {
	analyticsv1.UnimplementedFiguresServiceServer
	svc *analytics.Figures
}

// NewFigures returns the server.
func NewFigures(svc *analytics.Figures) *Figures { return &Figures{svc: svc} }

// QueryFigures implements the RPC.
func (s *Figures) QueryFigures(ctx context.Context, req *analyticsv1.QueryFiguresRequest) (*analyticsv1.QueryFiguresResponse, error) {
	res, err := s.svc.Query(ctx, caller(ctx), protoconv.FigureQuery(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return &analyticsv1.QueryFiguresResponse{Rows: protoconv.FigureRows(res.Rows), ReportingCurrency: res.ReportingCurrency}, nil
}

// QueryCohortRetention implements the RPC.
func (s *Figures) QueryCohortRetention(ctx context.Context, req *analyticsv1.QueryCohortRetentionRequest) (*analyticsv1.QueryCohortRetentionResponse, error) {
	cohorts, err := s.svc.CohortRetention(ctx, caller(ctx), protoconv.CohortQuery(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return &analyticsv1.QueryCohortRetentionResponse{Cohorts: protoconv.Cohorts(cohorts)}, nil
}

// Behaviour implements analyticsv1.BehaviourServiceServer.
type Behaviour struct {
	analyticsv1.UnimplementedBehaviourServiceServer
	svc *analytics.Behaviour
}

// NewBehaviour returns the server.
func NewBehaviour(svc *analytics.Behaviour) *Behaviour { return &Behaviour{svc: svc} }

// BatchCreateBehaviourEvents implements the RPC.
func (s *Behaviour) BatchCreateBehaviourEvents(ctx context.Context, req *analyticsv1.BatchCreateBehaviourEventsRequest) (*analyticsv1.BatchCreateBehaviourEventsResponse, error) {
	events := make([]analytics.BehaviourEvent, len(req.GetEvents()))
	bad := &validation.Error{}
	for i, m := range req.GetEvents() {
		var badCustomer bool
		events[i], badCustomer = protoconv.BehaviourEvent(m)
		if badCustomer {
			bad.Add(fmt.Sprintf("events[%d].customer_id", i), "must be a UUID")
		}
	}
	if err := bad.Err(); err != nil {
		return nil, toStatus(err)
	}
	res, err := s.svc.Ingest(ctx, caller(ctx), events)
	if err != nil {
		return nil, toStatus(err)
	}
	return &analyticsv1.BatchCreateBehaviourEventsResponse{CreatedCount: int32(res.Created), DuplicateCount: int32(res.Duplicates)}, nil
}

// GetCustomerBehaviour implements the RPC.
func (s *Behaviour) GetCustomerBehaviour(ctx context.Context, req *analyticsv1.GetCustomerBehaviourRequest) (*analyticsv1.GetCustomerBehaviourResponse, error) {
	id, err := uuid.Parse(req.GetCustomerId())
	if err != nil {
		return nil, toStatus(validation.Field("customer_id", "must be a UUID"))
	}
	b, err := s.svc.CustomerBehaviour(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &analyticsv1.GetCustomerBehaviourResponse{Behaviour: protoconv.CustomerBehaviour(b)}, nil
}
