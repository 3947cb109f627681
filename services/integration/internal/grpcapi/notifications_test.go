package grpcapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	integrationv1 "github.com/rapportcrm/rapport/gen/go/rapport/integration/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/integration/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/integration/internal/notification"
	"github.com/rapportcrm/rapport/services/integration/internal/postgres"
)

type notifyEnv struct {
	client integrationv1.NotificationServiceClient
	db     *pgtest.DB
	tokens *grpctest.Tokens
	tenant string
}

func newNotifyEnv(t *testing.T) *notifyEnv {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	tokens := grpctest.NewTokens(t)
	conn := grpctest.Serve(t, tokens.Authenticator(nil), func(srv *grpcserver.Server) {
		integrationv1.RegisterNotificationServiceServer(srv, grpcapi.NewNotifications(notification.New(postgres.New(db.App).Notifications()), 20*time.Millisecond))
	})
	return &notifyEnv{client: integrationv1.NewNotificationServiceClient(conn), db: db, tokens: tokens, tenant: uuid.NewString()}
}

// principal returns a context for a fixed principal of tenant with roles.
func (e *notifyEnv) principal(t *testing.T, tenant, id string, roles ...auth.Role) context.Context {
	now := time.Now()
	tok, err := e.tokens.Sign(auth.Caller{TenantID: tenant, PrincipalID: id, Roles: roles}, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return grpctest.Bearer(t.Context(), tok)
}

func TestNotifications(t *testing.T) {
	t.Parallel()
	e := newNotifyEnv(t)
	admin := e.principal(t, e.tenant, "admin-1", auth.RoleAdmin)
	rep := e.principal(t, e.tenant, "rep-1", auth.RoleSalesRep)
	peer := e.principal(t, e.tenant, "rep-2", auth.RoleSalesRep)
	stranger := e.principal(t, uuid.NewString(), "rep-1", auth.RoleSalesRep)

	streamCtx, cancel := context.WithCancel(rep)
	defer cancel()
	stream, err := e.client.StreamNotifications(streamCtx, &integrationv1.StreamNotificationsRequest{AfterTime: timestamppb.New(time.Now().Add(-time.Minute))})
	if err != nil {
		t.Fatal(err)
	}
	in := &integrationv1.Notification{RecipientPrincipalId: "rep-1", Title: "Follow up with Acme", Link: "customers/0190"}
	first, err := e.client.CreateNotification(admin, &integrationv1.CreateNotificationRequest{Notification: in, RequestId: "n1"})
	if err != nil {
		t.Fatalf("CreateNotification = %v", err)
	}
	id := first.GetNotification().GetNotificationId()
	if again, err := e.client.CreateNotification(admin, &integrationv1.CreateNotificationRequest{Notification: in, RequestId: "n1"}); err != nil || again.GetNotification().GetNotificationId() != id {
		t.Fatalf("repeated CreateNotification = %v, %v; want the first", again, err)
	}
	got, err := stream.Recv()
	if err != nil || got.GetNotification().GetNotificationId() != id {
		t.Fatalf("stream Recv = %v, %v; want the new notification", got, err)
	}

	tests := []struct {
		name      string
		call      func() error
		want      codes.Code
		violation string
	}{
		{"rep sends", func() error {
			_, err := e.client.CreateNotification(rep, &integrationv1.CreateNotificationRequest{Notification: in})
			return err
		}, codes.PermissionDenied, ""},
		{"no title", func() error {
			_, err := e.client.CreateNotification(admin, &integrationv1.CreateNotificationRequest{Notification: &integrationv1.Notification{RecipientPrincipalId: "rep-1"}})
			return err
		}, codes.InvalidArgument, "notification.title"},
		{"bad link", func() error {
			_, err := e.client.CreateNotification(admin, &integrationv1.CreateNotificationRequest{Notification: &integrationv1.Notification{
				RecipientPrincipalId: "rep-1", Title: "x", Link: "javascript:alert(1)"}})
			return err
		}, codes.InvalidArgument, "notification.link"},
		{"another principal marks it read", func() error {
			_, err := e.client.MarkNotificationRead(peer, &integrationv1.MarkNotificationReadRequest{NotificationId: id})
			return err
		}, codes.NotFound, ""},
		{"another tenant marks it read", func() error {
			_, err := e.client.MarkNotificationRead(stranger, &integrationv1.MarkNotificationReadRequest{NotificationId: id})
			return err
		}, codes.NotFound, ""},
		{"bad filter", func() error {
			_, err := e.client.ListNotifications(rep, &integrationv1.ListNotificationsRequest{Filter: "title = 1"})
			return err
		}, codes.InvalidArgument, "filter"},
	}
	for _, tt := range tests {
		err := tt.call()
		if status.Code(err) != tt.want || (tt.violation != "" && !grpctest.Violations(err)[tt.violation]) {
			t.Errorf("%s = %v, want %s %s", tt.name, err, tt.want, tt.violation)
		}
	}

	for ctx, want := range map[context.Context]int{rep: 1, peer: 0, stranger: 0} {
		list, err := e.client.ListNotifications(ctx, &integrationv1.ListNotificationsRequest{Filter: "read = false"})
		if err != nil || len(list.GetNotifications()) != want {
			t.Fatalf("ListNotifications(unread) = %v, %v; want %d", list, err, want)
		}
	}
	read, err := e.client.MarkNotificationRead(rep, &integrationv1.MarkNotificationReadRequest{NotificationId: id})
	if err != nil || !read.GetNotification().GetRead() || read.GetNotification().GetReadTime() == nil {
		t.Fatalf("MarkNotificationRead = %v, %v", read, err)
	}
	if _, err := e.client.MarkNotificationRead(rep, &integrationv1.MarkNotificationReadRequest{NotificationId: id}); err != nil {
		t.Fatalf("MarkNotificationRead(again) = %v, want no change and no error", err)
	}
	if list, err := e.client.ListNotifications(rep, &integrationv1.ListNotificationsRequest{Filter: "read = false"}); err != nil || len(list.GetNotifications()) != 0 {
		t.Fatalf("ListNotifications(unread after read) = %v, %v; want none", list, err)
	}
	var events int
	if err := e.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE type IN ('notification.created', 'notification.read')`).Scan(&events); err != nil || events != 2 {
		t.Fatalf("notification events = %d, %v; want created and read once each", events, err)
	}
}
