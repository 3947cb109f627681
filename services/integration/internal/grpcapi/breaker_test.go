package grpcapi_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	integrationv1 "github.com/rapportcrm/rapport/gen/go/rapport/integration/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
)

// TestBreakerStateAndErasedDelivery reads the endpoint breaker through
// GetWebhook in each state, and refuses to redeliver an erased delivery.
func TestBreakerStateAndErasedDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.as(t, e.tenant, auth.RoleAdmin)
	created, err := e.client.CreateWebhook(admin, &integrationv1.CreateWebhookRequest{Webhook: valid()})
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetWebhook().GetWebhookId()
	if w := created.GetWebhook(); w.GetBreakerState() != integrationv1.WebhookBreakerState_WEBHOOK_BREAKER_STATE_CLOSED || w.GetNextProbeTime() != nil {
		t.Fatalf("new webhook breaker = %v, %v; want closed, no probe time", w.GetBreakerState(), w.GetNextProbeTime())
	}
	for _, tc := range []struct {
		name, openUntil, probeUntil string
		want                        integrationv1.WebhookBreakerState
		probeIn                     time.Duration // expected next probe time from now
	}{
		{"open", "now() + interval '1 hour'", "NULL", integrationv1.WebhookBreakerState_WEBHOOK_BREAKER_STATE_OPEN, time.Hour},
		{"half-open, probe due", "now() - interval '1 second'", "NULL", integrationv1.WebhookBreakerState_WEBHOOK_BREAKER_STATE_HALF_OPEN, 0},
		{"half-open, probe under way", "now() - interval '1 second'", "now() + interval '5 minutes'", integrationv1.WebhookBreakerState_WEBHOOK_BREAKER_STATE_HALF_OPEN, 5 * time.Minute},
		{"closed again", "NULL", "NULL", integrationv1.WebhookBreakerState_WEBHOOK_BREAKER_STATE_CLOSED, -1},
	} {
		if _, err := e.db.Owner.Exec(t.Context(), `
INSERT INTO endpoint_breakers (tenant_id, endpoint, consecutive_failures, open_until, probe_until)
VALUES ($1, 'https://hooks.example.com:443', 5, `+tc.openUntil+`, `+tc.probeUntil+`)
ON CONFLICT (tenant_id, endpoint) DO UPDATE SET open_until = excluded.open_until, probe_until = excluded.probe_until`, e.tenant); err != nil {
			t.Fatal(err)
		}
		got, err := e.client.GetWebhook(admin, &integrationv1.GetWebhookRequest{WebhookId: id})
		if err != nil {
			t.Fatalf("%s: GetWebhook = %v", tc.name, err)
		}
		w := got.GetWebhook()
		if w.GetBreakerState() != tc.want {
			t.Fatalf("%s: breaker_state = %v, want %v", tc.name, w.GetBreakerState(), tc.want)
		}
		if tc.probeIn < 0 {
			if w.GetNextProbeTime() != nil {
				t.Fatalf("%s: next_probe_time = %v, want unset", tc.name, w.GetNextProbeTime())
			}
			continue
		}
		if d := time.Until(w.GetNextProbeTime().AsTime()) - tc.probeIn; d < -time.Minute || d > time.Minute {
			t.Fatalf("%s: next_probe_time = %v, want about now + %s", tc.name, w.GetNextProbeTime().AsTime(), tc.probeIn)
		}
	}
	// Another tenant's breaker does not show: the endpoint is the same.
	other := e.as(t, e.other, auth.RoleAdmin)
	theirs, err := e.client.CreateWebhook(other, &integrationv1.CreateWebhookRequest{Webhook: valid()})
	if err != nil {
		t.Fatal(err)
	}
	if s := theirs.GetWebhook().GetBreakerState(); s != integrationv1.WebhookBreakerState_WEBHOOK_BREAKER_STATE_CLOSED {
		t.Fatalf("another tenant's breaker = %v, want closed", s)
	}

	event, delivery := uuid.New(), uuid.New()
	if _, err := e.db.Owner.Exec(t.Context(), `
WITH ev AS (INSERT INTO webhook_events (tenant_id, event_id, source, type, resource, principal_id, event_time, body)
            VALUES ($1, $2, 'customer', 'customer.updated', 'customers/c', 'p', now(), '') RETURNING seq)
INSERT INTO webhook_deliveries (tenant_id, delivery_id, webhook_id, event_id, seq, event_type, resource, principal_id, state)
SELECT $1, $3, $4, $2, seq, 'customer.updated', 'customers/c', 'p', 4 FROM ev`, e.tenant, event, delivery, id); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.RedeliverWebhookDelivery(admin, &integrationv1.RedeliverWebhookDeliveryRequest{WebhookId: id, DeliveryId: delivery.String()})
	if status.Code(err) != codes.FailedPrecondition || grpctest.Reason(err) != "WEBHOOK_DELIVERY_ERASED" {
		t.Fatalf("RedeliverWebhookDelivery(erased) = %v, want FailedPrecondition WEBHOOK_DELIVERY_ERASED", err)
	}
	got, err := e.client.GetWebhookDelivery(admin, &integrationv1.GetWebhookDeliveryRequest{WebhookId: id, DeliveryId: delivery.String()})
	if err != nil || got.GetDelivery().GetState() != integrationv1.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_ERASED {
		t.Fatalf("GetWebhookDelivery(erased) = %v, %v; want ERASED", got, err)
	}
}
