package grpcapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	integrationv1 "github.com/rapportcrm/rapport/gen/go/rapport/integration/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/integration/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/integration/internal/postgres"
	"github.com/rapportcrm/rapport/services/integration/internal/webhook"
)

type env struct {
	client        integrationv1.WebhookServiceClient
	db            *pgtest.DB
	tokens        *grpctest.Tokens
	tenant, other string
}

// newEnv serves the webhook API in production mode (https only) over a
// private database.
func newEnv(t *testing.T) *env {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	tokens := grpctest.NewTokens(t)
	conn := grpctest.Serve(t, tokens.Authenticator(nil), func(srv *grpcserver.Server) {
		integrationv1.RegisterWebhookServiceServer(srv, grpcapi.NewWebhooks(webhook.New(postgres.New(db.App), webhook.Config{RequireHTTPS: true})))
	})
	return &env{client: integrationv1.NewWebhookServiceClient(conn), db: db, tokens: tokens, tenant: uuid.NewString(), other: uuid.NewString()}
}

func (e *env) as(t *testing.T, tenant string, roles ...auth.Role) context.Context {
	return e.tokens.Context(t.Context(), tenant, roles...)
}

// operator is an admin of an operator tenant.
func (e *env) operator(t *testing.T) context.Context {
	now := time.Now()
	tok, err := e.tokens.Sign(auth.Caller{TenantID: uuid.NewString(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAdmin}, Operator: true}, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return grpctest.Bearer(t.Context(), tok)
}

func valid() *integrationv1.Webhook {
	return &integrationv1.Webhook{DisplayName: "CRM sync", TargetUrl: "https://hooks.example.com/rapport",
		EventTypes: []string{"customer.*"}, Filter: `resource = "customers/*"`}
}

func TestCreateWebhook(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.as(t, e.tenant, auth.RoleAdmin)
	first, err := e.client.CreateWebhook(admin, &integrationv1.CreateWebhookRequest{Webhook: valid(), RequestId: "r1"})
	if err != nil {
		t.Fatalf("CreateWebhook = %v", err)
	}
	w := first.GetWebhook()
	if first.GetSecret() == "" || w.GetState() != integrationv1.WebhookState_WEBHOOK_STATE_ACTIVE || w.GetEtag() != "1" {
		t.Fatalf("CreateWebhook = %v, want an active webhook with a secret", first)
	}
	again, err := e.client.CreateWebhook(admin, &integrationv1.CreateWebhookRequest{Webhook: valid(), RequestId: "r1"})
	if err != nil || again.GetWebhook().GetWebhookId() != w.GetWebhookId() || again.GetSecret() != "" {
		t.Fatalf("repeated CreateWebhook = %v, %v; want the first webhook without its secret", again, err)
	}
	var events int
	if err := e.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE type = 'webhook.created'`).Scan(&events); err != nil || events != 1 {
		t.Fatalf("webhook.created events = %d, %v; want 1", events, err)
	}
	list, err := e.client.ListWebhooks(e.as(t, e.tenant, auth.RoleAnalyst), &integrationv1.ListWebhooksRequest{Filter: "state = WEBHOOK_STATE_ACTIVE"})
	if err != nil || len(list.GetWebhooks()) != 1 {
		t.Fatalf("ListWebhooks = %v, %v; want the webhook", list, err)
	}
}

func TestCreateWebhookBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.as(t, e.tenant, auth.RoleAdmin)
	tests := []struct {
		name  string
		edit  func(*integrationv1.Webhook)
		field string
	}{
		{"no name", func(w *integrationv1.Webhook) { w.DisplayName = " " }, "webhook.display_name"},
		{"http in production", func(w *integrationv1.Webhook) { w.TargetUrl = "http://hooks.example.com/" }, "webhook.target_url"},
		{"loopback", func(w *integrationv1.Webhook) { w.TargetUrl = "https://127.0.0.1:8443/" }, "webhook.target_url"},
		{"localhost", func(w *integrationv1.Webhook) { w.TargetUrl = "https://localhost/" }, "webhook.target_url"},
		{"metadata endpoint", func(w *integrationv1.Webhook) { w.TargetUrl = "https://169.254.169.254/latest" }, "webhook.target_url"},
		{"no event types", func(w *integrationv1.Webhook) { w.EventTypes = nil }, "webhook.event_types"},
		{"bad event type", func(w *integrationv1.Webhook) { w.EventTypes = []string{"Customer Created"} }, "webhook.event_types"},
		{"unknown filter field", func(w *integrationv1.Webhook) { w.Filter = `payload.email = "x"` }, "webhook.filter"},
		{"broken filter", func(w *integrationv1.Webhook) { w.Filter = `resource = ` }, "webhook.filter"},
		{"disabled on create", func(w *integrationv1.Webhook) { w.State = integrationv1.WebhookState_WEBHOOK_STATE_DISABLED }, "webhook.state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := valid()
			tt.edit(w)
			_, err := e.client.CreateWebhook(admin, &integrationv1.CreateWebhookRequest{Webhook: w})
			if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.field] {
				t.Fatalf("CreateWebhook(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.field)
			}
		})
	}
}

func TestPermissionsAndIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	created, err := e.client.CreateWebhook(e.as(t, e.tenant, auth.RoleAdmin), &integrationv1.CreateWebhookRequest{Webhook: valid()})
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetWebhook().GetWebhookId()
	tests := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"analyst creates", func() error {
			_, err := e.client.CreateWebhook(e.as(t, e.tenant, auth.RoleAnalyst), &integrationv1.CreateWebhookRequest{Webhook: valid()})
			return err
		}, codes.PermissionDenied},
		{"sales rep reads", func() error {
			_, err := e.client.GetWebhook(e.as(t, e.tenant, auth.RoleSalesRep), &integrationv1.GetWebhookRequest{WebhookId: id})
			return err
		}, codes.PermissionDenied},
		{"analyst deletes", func() error {
			_, err := e.client.DeleteWebhook(e.as(t, e.tenant, auth.RoleAnalyst), &integrationv1.DeleteWebhookRequest{WebhookId: id})
			return err
		}, codes.PermissionDenied},
		{"tenant admin allows private targets", func() error {
			_, err := e.client.UpdateWebhookPolicy(e.as(t, e.tenant, auth.RoleAdmin), &integrationv1.UpdateWebhookPolicyRequest{
				WebhookPolicy: &integrationv1.WebhookPolicy{TenantId: e.tenant, AllowPrivateTargets: true}})
			return err
		}, codes.PermissionDenied},
		{"another tenant's admin reads", func() error {
			_, err := e.client.GetWebhook(e.as(t, e.other, auth.RoleAdmin), &integrationv1.GetWebhookRequest{WebhookId: id})
			return err
		}, codes.NotFound},
		{"another tenant's admin lists the log", func() error {
			_, err := e.client.ListWebhookDeliveries(e.as(t, e.other, auth.RoleAdmin), &integrationv1.ListWebhookDeliveriesRequest{WebhookId: id})
			return err
		}, codes.NotFound},
		{"another tenant's admin deletes", func() error {
			_, err := e.client.DeleteWebhook(e.as(t, e.other, auth.RoleAdmin), &integrationv1.DeleteWebhookRequest{WebhookId: id})
			return err
		}, codes.NotFound},
		{"bad id", func() error {
			_, err := e.client.GetWebhook(e.as(t, e.tenant, auth.RoleAdmin), &integrationv1.GetWebhookRequest{WebhookId: "x"})
			return err
		}, codes.InvalidArgument},
		{"no credentials", func() error {
			_, err := e.client.GetWebhook(t.Context(), &integrationv1.GetWebhookRequest{WebhookId: id})
			return err
		}, codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.call(); status.Code(err) != tt.want {
				t.Fatalf("%s = %v, want %s", tt.name, err, tt.want)
			}
		})
	}
}

func TestUpdateAndPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.as(t, e.tenant, auth.RoleAdmin)
	created, err := e.client.CreateWebhook(admin, &integrationv1.CreateWebhookRequest{Webhook: valid()})
	if err != nil {
		t.Fatal(err)
	}
	w := created.GetWebhook()
	mask := func(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }
	paused, err := e.client.UpdateWebhook(admin, &integrationv1.UpdateWebhookRequest{
		Webhook:    &integrationv1.Webhook{WebhookId: w.GetWebhookId(), Etag: w.GetEtag(), State: integrationv1.WebhookState_WEBHOOK_STATE_PAUSED},
		UpdateMask: mask("state")})
	if err != nil || paused.GetWebhook().GetState() != integrationv1.WebhookState_WEBHOOK_STATE_PAUSED || paused.GetWebhook().GetTargetUrl() != w.GetTargetUrl() {
		t.Fatalf("UpdateWebhook(pause) = %v, %v; want only the state changed", paused, err)
	}
	_, err = e.client.UpdateWebhook(admin, &integrationv1.UpdateWebhookRequest{
		Webhook: &integrationv1.Webhook{WebhookId: w.GetWebhookId(), Etag: w.GetEtag(), DisplayName: "x"}, UpdateMask: mask("display_name")})
	if status.Code(err) != codes.Aborted {
		t.Fatalf("UpdateWebhook(stale etag) = %v, want Aborted", err)
	}
	_, err = e.client.UpdateWebhook(admin, &integrationv1.UpdateWebhookRequest{
		Webhook: &integrationv1.Webhook{WebhookId: w.GetWebhookId(), State: integrationv1.WebhookState_WEBHOOK_STATE_DISABLED}, UpdateMask: mask("state")})
	if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)["webhook.state"] {
		t.Fatalf("UpdateWebhook(disable) = %v, want InvalidArgument on webhook.state", err)
	}
	loopback := &integrationv1.Webhook{WebhookId: w.GetWebhookId(), TargetUrl: "https://127.0.0.1:9443/hook"}
	if _, err := e.client.UpdateWebhook(admin, &integrationv1.UpdateWebhookRequest{Webhook: loopback, UpdateMask: mask("target_url")}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("UpdateWebhook(loopback, no allowance) = %v, want InvalidArgument", err)
	}
	if _, err := e.client.UpdateWebhookPolicy(e.operator(t), &integrationv1.UpdateWebhookPolicyRequest{
		WebhookPolicy: &integrationv1.WebhookPolicy{TenantId: e.tenant, AllowPrivateTargets: true}}); err != nil {
		t.Fatalf("UpdateWebhookPolicy(operator) = %v", err)
	}
	got, err := e.client.UpdateWebhook(admin, &integrationv1.UpdateWebhookRequest{Webhook: loopback, UpdateMask: mask("target_url")})
	if err != nil || got.GetWebhook().GetTargetUrl() != loopback.GetTargetUrl() {
		t.Fatalf("UpdateWebhook(loopback, allowed) = %v, %v", got, err)
	}
	if p, err := e.client.GetWebhookPolicy(admin, &integrationv1.GetWebhookPolicyRequest{TenantId: e.tenant}); err != nil || !p.GetWebhookPolicy().GetAllowPrivateTargets() {
		t.Fatalf("GetWebhookPolicy(own) = %v, %v; want the allowance", p, err)
	}
	if _, err := e.client.GetWebhookPolicy(admin, &integrationv1.GetWebhookPolicyRequest{TenantId: e.other}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("GetWebhookPolicy(another tenant) = %v, want PermissionDenied", err)
	}
	if _, err := e.client.DeleteWebhook(admin, &integrationv1.DeleteWebhookRequest{WebhookId: w.GetWebhookId()}); err != nil {
		t.Fatalf("DeleteWebhook = %v", err)
	}
	if _, err := e.client.GetWebhook(admin, &integrationv1.GetWebhookRequest{WebhookId: w.GetWebhookId()}); status.Code(err) != codes.NotFound || grpctest.Reason(err) != "WEBHOOK_NOT_FOUND" {
		t.Fatalf("GetWebhook(deleted) = %v, want NotFound WEBHOOK_NOT_FOUND", err)
	}
	_, err = e.client.RedeliverWebhookDeliveries(admin, &integrationv1.RedeliverWebhookDeliveriesRequest{WebhookId: w.GetWebhookId()})
	if v := grpctest.Violations(err); status.Code(err) != codes.InvalidArgument || !v["start_time"] || !v["end_time"] {
		t.Fatalf("RedeliverWebhookDeliveries(no range) = %v, want InvalidArgument on start_time and end_time", err)
	}
}
