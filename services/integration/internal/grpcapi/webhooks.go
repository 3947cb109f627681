// Package grpcapi serves the integration service's gRPC API: it converts
// messages, maps errors and holds no business rules.
package grpcapi

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	integrationv1 "github.com/rapportcrm/rapport/gen/go/rapport/integration/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcerr"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/integration/internal/email"
	"github.com/rapportcrm/rapport/services/integration/internal/notification"
	"github.com/rapportcrm/rapport/services/integration/internal/protoconv"
	"github.com/rapportcrm/rapport/services/integration/internal/rule"
	"github.com/rapportcrm/rapport/services/integration/internal/webhook"
)

// toStatus is the service's one mapping from domain errors to gRPC statuses.
func toStatus(err error) error {
	if st, ok := grpcerr.Common(err); ok {
		return st
	}
	switch {
	case errors.Is(err, webhook.ErrNotFound):
		return grpcerr.WithReason(codes.NotFound, webhook.ErrNotFound, "WEBHOOK_NOT_FOUND")
	case errors.Is(err, webhook.ErrDeliveryNotFound):
		return grpcerr.WithReason(codes.NotFound, webhook.ErrDeliveryNotFound, "WEBHOOK_DELIVERY_NOT_FOUND")
	case errors.Is(err, webhook.ErrEtagMismatch):
		return grpcerr.WithReason(codes.Aborted, webhook.ErrEtagMismatch, "ETAG_MISMATCH")
	case errors.Is(err, webhook.ErrDeliveryPending):
		return grpcerr.WithReason(codes.FailedPrecondition, webhook.ErrDeliveryPending, "WEBHOOK_DELIVERY_PENDING")
	case errors.Is(err, webhook.ErrDeliveryErased):
		return grpcerr.WithReason(codes.FailedPrecondition, webhook.ErrDeliveryErased, "WEBHOOK_DELIVERY_ERASED")
	case errors.Is(err, rule.ErrNotFound):
		return grpcerr.WithReason(codes.NotFound, rule.ErrNotFound, "RULE_NOT_FOUND")
	case errors.Is(err, rule.ErrEtagMismatch):
		return grpcerr.WithReason(codes.Aborted, rule.ErrEtagMismatch, "ETAG_MISMATCH")
	case errors.Is(err, rule.ErrEmailNotConfigured):
		return grpcerr.WithReason(codes.FailedPrecondition, rule.ErrEmailNotConfigured, "EMAIL_NOT_CONFIGURED")
	case errors.Is(err, email.ErrNotConfigured):
		return grpcerr.WithReason(codes.FailedPrecondition, email.ErrNotConfigured, "EMAIL_NOT_CONFIGURED")
	case errors.Is(err, email.ErrTemplateNotFound):
		return grpcerr.WithReason(codes.NotFound, email.ErrTemplateNotFound, "EMAIL_TEMPLATE_NOT_FOUND")
	case errors.Is(err, email.ErrEtagMismatch):
		return grpcerr.WithReason(codes.Aborted, email.ErrEtagMismatch, "ETAG_MISMATCH")
	case errors.Is(err, notification.ErrNotFound):
		return grpcerr.WithReason(codes.NotFound, notification.ErrNotFound, "NOTIFICATION_NOT_FOUND")
	}
	return err // the server interceptor masks it as Internal and logs it
}

// caller returns the authenticated caller; the interceptor guarantees one.
func caller(ctx context.Context) auth.Caller {
	c, _ := auth.CallerFrom(ctx)
	return c
}

func parseID(field, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, validation.Field(field, "must be a UUID")
	}
	return id, nil
}

// Webhooks implements integrationv1.WebhookServiceServer.
type Webhooks struct {
	integrationv1.UnimplementedWebhookServiceServer
	svc *webhook.Service
}

// NewWebhooks returns the server.
func NewWebhooks(svc *webhook.Service) *Webhooks { return &Webhooks{svc: svc} }

// CreateWebhook implements the RPC.
func (s *Webhooks) CreateWebhook(ctx context.Context, req *integrationv1.CreateWebhookRequest) (*integrationv1.CreateWebhookResponse, error) {
	if req.GetWebhook() == nil {
		return nil, toStatus(validation.Field("webhook", "is required"))
	}
	saved, secret, err := s.svc.Create(ctx, caller(ctx), protoconv.FromWebhook(req.GetWebhook()), req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &integrationv1.CreateWebhookResponse{Webhook: protoconv.Webhook(saved), Secret: secret}, nil
}

// GetWebhook implements the RPC.
func (s *Webhooks) GetWebhook(ctx context.Context, req *integrationv1.GetWebhookRequest) (*integrationv1.GetWebhookResponse, error) {
	id, err := parseID("webhook_id", req.GetWebhookId())
	if err != nil {
		return nil, toStatus(err)
	}
	w, err := s.svc.Get(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &integrationv1.GetWebhookResponse{Webhook: protoconv.Webhook(w)}, nil
}

// ListWebhooks implements the RPC.
func (s *Webhooks) ListWebhooks(ctx context.Context, req *integrationv1.ListWebhooksRequest) (*integrationv1.ListWebhooksResponse, error) {
	page, err := s.svc.List(ctx, caller(ctx), webhook.ListQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &integrationv1.ListWebhooksResponse{NextPageToken: page.NextPageToken}
	for _, w := range page.Webhooks {
		out.Webhooks = append(out.Webhooks, protoconv.Webhook(w))
	}
	return out, nil
}

// UpdateWebhook implements the RPC.
func (s *Webhooks) UpdateWebhook(ctx context.Context, req *integrationv1.UpdateWebhookRequest) (*integrationv1.UpdateWebhookResponse, error) {
	if req.GetWebhook() == nil {
		return nil, toStatus(validation.Field("webhook", "is required"))
	}
	id, err := parseID("webhook.webhook_id", req.GetWebhook().GetWebhookId())
	if err != nil {
		return nil, toStatus(err)
	}
	in := protoconv.FromWebhook(req.GetWebhook())
	in.ID = id
	saved, err := s.svc.Update(ctx, caller(ctx), in, req.GetUpdateMask().GetPaths(), req.GetWebhook().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &integrationv1.UpdateWebhookResponse{Webhook: protoconv.Webhook(saved)}, nil
}

// DeleteWebhook implements the RPC.
func (s *Webhooks) DeleteWebhook(ctx context.Context, req *integrationv1.DeleteWebhookRequest) (*integrationv1.DeleteWebhookResponse, error) {
	id, err := parseID("webhook_id", req.GetWebhookId())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.svc.Delete(ctx, caller(ctx), id, req.GetEtag()); err != nil {
		return nil, toStatus(err)
	}
	return &integrationv1.DeleteWebhookResponse{}, nil
}

// deliveryIDs parses a delivery's webhook and delivery ids together.
func deliveryIDs(webhookID, deliveryID string) (uuid.UUID, uuid.UUID, error) {
	v := &validation.Error{}
	w, err := uuid.Parse(webhookID)
	if err != nil {
		v.Add("webhook_id", "must be a UUID")
	}
	d, err := uuid.Parse(deliveryID)
	if err != nil {
		v.Add("delivery_id", "must be a UUID")
	}
	return w, d, v.Err()
}

// GetWebhookDelivery implements the RPC.
func (s *Webhooks) GetWebhookDelivery(ctx context.Context, req *integrationv1.GetWebhookDeliveryRequest) (*integrationv1.GetWebhookDeliveryResponse, error) {
	w, d, err := deliveryIDs(req.GetWebhookId(), req.GetDeliveryId())
	if err != nil {
		return nil, toStatus(err)
	}
	out, err := s.svc.Delivery(ctx, caller(ctx), w, d)
	if err != nil {
		return nil, toStatus(err)
	}
	return &integrationv1.GetWebhookDeliveryResponse{Delivery: protoconv.Delivery(out)}, nil
}

// ListWebhookDeliveries implements the RPC.
func (s *Webhooks) ListWebhookDeliveries(ctx context.Context, req *integrationv1.ListWebhookDeliveriesRequest) (*integrationv1.ListWebhookDeliveriesResponse, error) {
	id, err := parseID("webhook_id", req.GetWebhookId())
	if err != nil {
		return nil, toStatus(err)
	}
	page, err := s.svc.Deliveries(ctx, caller(ctx), id, webhook.ListQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &integrationv1.ListWebhookDeliveriesResponse{NextPageToken: page.NextPageToken}
	for _, d := range page.Deliveries {
		out.Deliveries = append(out.Deliveries, protoconv.Delivery(d))
	}
	return out, nil
}

// RedeliverWebhookDelivery implements the RPC.
func (s *Webhooks) RedeliverWebhookDelivery(ctx context.Context, req *integrationv1.RedeliverWebhookDeliveryRequest) (*integrationv1.RedeliverWebhookDeliveryResponse, error) {
	w, d, err := deliveryIDs(req.GetWebhookId(), req.GetDeliveryId())
	if err != nil {
		return nil, toStatus(err)
	}
	out, err := s.svc.Redeliver(ctx, caller(ctx), w, d)
	if err != nil {
		return nil, toStatus(err)
	}
	return &integrationv1.RedeliverWebhookDeliveryResponse{Delivery: protoconv.Delivery(out)}, nil
}

// RedeliverWebhookDeliveries implements the RPC.
func (s *Webhooks) RedeliverWebhookDeliveries(ctx context.Context, req *integrationv1.RedeliverWebhookDeliveriesRequest) (*integrationv1.RedeliverWebhookDeliveriesResponse, error) {
	id, err := parseID("webhook_id", req.GetWebhookId())
	if err != nil {
		return nil, toStatus(err)
	}
	v := &validation.Error{}
	start, end := timeOf("start_time", req.GetStartTime(), v), timeOf("end_time", req.GetEndTime(), v)
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	n, err := s.svc.RedeliverRange(ctx, caller(ctx), id, start, end)
	if err != nil {
		return nil, toStatus(err)
	}
	return &integrationv1.RedeliverWebhookDeliveriesResponse{RedeliveredCount: int32(n)}, nil
}

// GetWebhookPolicy implements the RPC.
func (s *Webhooks) GetWebhookPolicy(ctx context.Context, req *integrationv1.GetWebhookPolicyRequest) (*integrationv1.GetWebhookPolicyResponse, error) {
	tenant, err := parseID("tenant_id", req.GetTenantId())
	if err != nil {
		return nil, toStatus(err)
	}
	p, err := s.svc.Policy(ctx, caller(ctx), tenant)
	if err != nil {
		return nil, toStatus(err)
	}
	return &integrationv1.GetWebhookPolicyResponse{WebhookPolicy: protoconv.Policy(p)}, nil
}

// UpdateWebhookPolicy implements the RPC.
func (s *Webhooks) UpdateWebhookPolicy(ctx context.Context, req *integrationv1.UpdateWebhookPolicyRequest) (*integrationv1.UpdateWebhookPolicyResponse, error) {
	tenant, err := parseID("webhook_policy.tenant_id", req.GetWebhookPolicy().GetTenantId())
	if err != nil {
		return nil, toStatus(err)
	}
	p, err := s.svc.SetPolicy(ctx, caller(ctx), webhook.Policy{TenantID: tenant, AllowPrivateTargets: req.GetWebhookPolicy().GetAllowPrivateTargets()})
	if err != nil {
		return nil, toStatus(err)
	}
	return &integrationv1.UpdateWebhookPolicyResponse{WebhookPolicy: protoconv.Policy(p)}, nil
}

// timeOf is a timestamp's time, zero when absent; an invalid one is a
// violation of field.
func timeOf(field string, t *timestamppb.Timestamp, v *validation.Error) time.Time {
	if t == nil {
		return time.Time{}
	}
	if err := t.CheckValid(); err != nil {
		v.Add(field, "is not a valid time")
		return time.Time{}
	}
	return t.AsTime()
}
