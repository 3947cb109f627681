package grpcapi

import (
	"context"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/rapportcrm/rapport/gen/go/rapport/analytics/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/analytics/internal/insight"
	"github.com/rapportcrm/rapport/services/analytics/internal/protoconv"
)

// Insight implements analyticsv1.CustomerInsightServiceServer.
type Insight struct {
	analyticsv1.UnimplementedCustomerInsightServiceServer
	svc *insight.Service
}

// NewInsight returns the server.
func NewInsight(svc *insight.Service) *Insight { return &Insight{svc: svc} }

// customerID parses the request's customer_id.
func customerID(s string, v *validation.Error) uuid.UUID {
	id, err := uuid.Parse(s)
	if err != nil {
		v.Add("customer_id", "must be a UUID")
	}
	return id
}

// timeOf reads an optional timestamp; absent is the zero time.
func timeOf(field string, t *timestamppb.Timestamp, v *validation.Error) time.Time {
	if t == nil {
		return time.Time{}
	}
	if err := t.CheckValid(); err != nil {
		v.Add(field, "must be a valid timestamp")
		return time.Time{}
	}
	return t.AsTime()
}

// GetCustomer360 implements the RPC.
func (s *Insight) GetCustomer360(ctx context.Context, req *analyticsv1.GetCustomer360Request) (*analyticsv1.GetCustomer360Response, error) {
	v := &validation.Error{}
	id := customerID(req.GetCustomerId(), v)
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	c, err := s.svc.Customer360(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &analyticsv1.GetCustomer360Response{Customer360: protoconv.Customer360(c)}, nil
}

// GetCustomerValue implements the RPC.
func (s *Insight) GetCustomerValue(ctx context.Context, req *analyticsv1.GetCustomerValueRequest) (*analyticsv1.GetCustomerValueResponse, error) {
	v := &validation.Error{}
	id := customerID(req.GetCustomerId(), v)
	start, end := timeOf("start_time", req.GetStartTime(), v), timeOf("end_time", req.GetEndTime(), v)
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	val, err := s.svc.CustomerValue(ctx, caller(ctx), id, start, end, req.GetCurrencyCode())
	if err != nil {
		return nil, toStatus(err)
	}
	return &analyticsv1.GetCustomerValueResponse{Value: protoconv.Value(val)}, nil
}

// ListCustomerValues implements the RPC.
func (s *Insight) ListCustomerValues(ctx context.Context, req *analyticsv1.ListCustomerValuesRequest) (*analyticsv1.ListCustomerValuesResponse, error) {
	v := &validation.Error{}
	start, end := timeOf("start_time", req.GetStartTime(), v), timeOf("end_time", req.GetEndTime(), v)
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	page, err := s.svc.ListValues(ctx, caller(ctx), start, end, req.GetCurrencyCode(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &analyticsv1.ListCustomerValuesResponse{NextPageToken: page.NextPageToken, Values: make([]*analyticsv1.CustomerValue, len(page.Values))}
	for i, val := range page.Values {
		out.Values[i] = protoconv.Value(val)
	}
	return out, nil
}

// GetChurnRisk implements the RPC.
func (s *Insight) GetChurnRisk(ctx context.Context, req *analyticsv1.GetChurnRiskRequest) (*analyticsv1.GetChurnRiskResponse, error) {
	v := &validation.Error{}
	id := customerID(req.GetCustomerId(), v)
	ref := timeOf("reference_time", req.GetReferenceTime(), v)
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	r, err := s.svc.ChurnRisk(ctx, caller(ctx), id, ref)
	if err != nil {
		return nil, toStatus(err)
	}
	return &analyticsv1.GetChurnRiskResponse{ChurnRisk: protoconv.ChurnRisk(r)}, nil
}

// ApplyChurnRisk implements the RPC.
func (s *Insight) ApplyChurnRisk(ctx context.Context, req *analyticsv1.ApplyChurnRiskRequest) (*analyticsv1.ApplyChurnRiskResponse, error) {
	v := &validation.Error{}
	id := customerID(req.GetCustomerId(), v)
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	act, err := s.svc.ApplyChurnRisk(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &analyticsv1.ApplyChurnRiskResponse{ChurnRisk: protoconv.ChurnRisk(act.Risk), MovedToAtRisk: act.MovedToAtRisk, FollowUpId: act.FollowUpID}, nil
}

// ListNextBestOffers implements the RPC.
func (s *Insight) ListNextBestOffers(ctx context.Context, req *analyticsv1.ListNextBestOffersRequest) (*analyticsv1.ListNextBestOffersResponse, error) {
	v := &validation.Error{}
	id := customerID(req.GetCustomerId(), v)
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	o, err := s.svc.NextBestOffers(ctx, caller(ctx), id, req.GetMaxOffers())
	if err != nil {
		return nil, toStatus(err)
	}
	return protoconv.Offers(o), nil
}

// CreateOfferFeedback implements the RPC.
func (s *Insight) CreateOfferFeedback(ctx context.Context, req *analyticsv1.CreateOfferFeedbackRequest) (*analyticsv1.CreateOfferFeedbackResponse, error) {
	v := &validation.Error{}
	id := customerID(req.GetCustomerId(), v)
	f := insight.Feedback{CustomerID: id, Outcome: insight.Outcome(req.GetFeedback().GetOutcome())}
	// An unreadable product id stays nil, which the domain reports together
	// with the other fields' problems.
	f.ProductID, _ = uuid.Parse(req.GetFeedback().GetProductId())
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.RecordFeedback(ctx, caller(ctx), f, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &analyticsv1.CreateOfferFeedbackResponse{Feedback: protoconv.Feedback(saved)}, nil
}

// ListQuarantinedEvents implements the RPC.
func (s *Insight) ListQuarantinedEvents(ctx context.Context, req *analyticsv1.ListQuarantinedEventsRequest) (*analyticsv1.ListQuarantinedEventsResponse, error) {
	events, next, err := s.svc.Quarantined(ctx, caller(ctx), req.GetFilter(), req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &analyticsv1.ListQuarantinedEventsResponse{NextPageToken: next, Events: make([]*analyticsv1.QuarantinedEvent, len(events))}
	for i, q := range events {
		out.Events[i] = protoconv.Quarantined(q)
	}
	return out, nil
}
