package grpcapi

import (
	"context"
	"time"

	integrationv1 "github.com/rapportcrm/rapport/gen/go/rapport/integration/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/integration/internal/notification"
	"github.com/rapportcrm/rapport/services/integration/internal/protoconv"
)

// Notifications implements integrationv1.NotificationServiceServer.
type Notifications struct {
	integrationv1.UnimplementedNotificationServiceServer
	svc  *notification.Service
	poll time.Duration
}

// NewNotifications returns the server; poll is how often a stream looks
// for new notifications.
func NewNotifications(svc *notification.Service, poll time.Duration) *Notifications {
	return &Notifications{svc: svc, poll: poll}
}

// CreateNotification implements the RPC.
func (s *Notifications) CreateNotification(ctx context.Context, req *integrationv1.CreateNotificationRequest) (*integrationv1.CreateNotificationResponse, error) {
	if req.GetNotification() == nil {
		return nil, toStatus(validation.Field("notification", "is required"))
	}
	n, err := s.svc.Create(ctx, caller(ctx), protoconv.FromNotification(req.GetNotification()), req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &integrationv1.CreateNotificationResponse{Notification: protoconv.Notification(n)}, nil
}

// ListNotifications implements the RPC.
func (s *Notifications) ListNotifications(ctx context.Context, req *integrationv1.ListNotificationsRequest) (*integrationv1.ListNotificationsResponse, error) {
	page, err := s.svc.List(ctx, caller(ctx), notification.ListQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &integrationv1.ListNotificationsResponse{NextPageToken: page.NextPageToken}
	for _, n := range page.Notifications {
		out.Notifications = append(out.Notifications, protoconv.Notification(n))
	}
	return out, nil
}

// MarkNotificationRead implements the RPC.
func (s *Notifications) MarkNotificationRead(ctx context.Context, req *integrationv1.MarkNotificationReadRequest) (*integrationv1.MarkNotificationReadResponse, error) {
	id, err := parseID("notification_id", req.GetNotificationId())
	if err != nil {
		return nil, toStatus(err)
	}
	n, err := s.svc.MarkRead(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &integrationv1.MarkNotificationReadResponse{Notification: protoconv.Notification(n)}, nil
}

// StreamNotifications implements the RPC.
func (s *Notifications) StreamNotifications(req *integrationv1.StreamNotificationsRequest, stream integrationv1.NotificationService_StreamNotificationsServer) error {
	ctx := stream.Context()
	v := &validation.Error{}
	after := timeOf("after_time", req.GetAfterTime(), v)
	if err := v.Err(); err != nil {
		return toStatus(err)
	}
	err := s.svc.Stream(ctx, caller(ctx), after, s.poll, func(n notification.Notification) error {
		return stream.Send(&integrationv1.StreamNotificationsResponse{Notification: protoconv.Notification(n)})
	})
	return toStatus(err)
}
