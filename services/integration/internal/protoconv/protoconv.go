// Package protoconv converts between the integration service's domain
// types and their protobuf messages.
package protoconv

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	integrationv1 "github.com/rapportcrm/rapport/gen/go/rapport/integration/v1"
	"github.com/rapportcrm/rapport/services/integration/internal/notification"
	"github.com/rapportcrm/rapport/services/integration/internal/webhook"
)

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// Webhook renders a subscription; its secret is never part of it.
func Webhook(w webhook.Webhook) *integrationv1.Webhook {
	return &integrationv1.Webhook{
		WebhookId: w.ID.String(), DisplayName: w.DisplayName, TargetUrl: w.TargetURL,
		EventTypes: w.EventTypes, Filter: w.Filter, State: integrationv1.WebhookState(w.State),
		StateReason: w.StateReason, CreateTime: ts(w.CreateTime), UpdateTime: ts(w.UpdateTime), Etag: w.Etag(),
	}
}

// FromWebhook reads the fields a caller sets.
func FromWebhook(m *integrationv1.Webhook) webhook.Webhook {
	return webhook.Webhook{
		DisplayName: m.GetDisplayName(), TargetURL: m.GetTargetUrl(), EventTypes: m.GetEventTypes(),
		Filter: m.GetFilter(), State: webhook.State(m.GetState()),
	}
}

// Delivery renders a delivery, with its attempts and body when loaded.
func Delivery(d webhook.Delivery) *integrationv1.WebhookDelivery {
	out := &integrationv1.WebhookDelivery{
		DeliveryId: d.ID.String(), WebhookId: d.WebhookID.String(), EventId: d.EventID.String(),
		EventType: d.EventType, Resource: d.Resource, State: integrationv1.WebhookDeliveryState(d.State),
		AttemptCount: int32(d.AttemptCount), LastResponseCode: int32(d.LastResponseCode), LastError: d.LastError,
		CreateTime: ts(d.CreateTime), UpdateTime: ts(d.UpdateTime), PrincipalId: d.PrincipalID,
		RequestBody: d.RequestBody,
	}
	if d.State == webhook.DeliveryPending {
		out.NextAttemptTime = ts(d.NextAttemptTime)
	}
	for _, a := range d.Attempts {
		out.Attempts = append(out.Attempts, &integrationv1.WebhookDeliveryAttempt{
			Attempt: int32(a.Attempt), RequestTime: ts(a.RequestTime), TargetUrl: a.TargetURL,
			SignatureTimestamp: a.SignatureTimestamp, ResponseCode: int32(a.ResponseCode),
			LatencyMs: a.Latency.Milliseconds(), Error: a.Error,
		})
	}
	return out
}

// Policy renders a tenant's webhook policy.
func Policy(p webhook.Policy) *integrationv1.WebhookPolicy {
	return &integrationv1.WebhookPolicy{TenantId: p.TenantID.String(), AllowPrivateTargets: p.AllowPrivateTargets, UpdateTime: ts(p.UpdateTime)}
}

// Redelivery renders the event of a range redelivery.
func Redelivery(webhookID string, start, end time.Time, n int) *integrationv1.WebhookRedelivery {
	return &integrationv1.WebhookRedelivery{WebhookId: webhookID, StartTime: ts(start), EndTime: ts(end), RedeliveredCount: int32(n)}
}

// Notification renders a notification.
func Notification(n notification.Notification) *integrationv1.Notification {
	return &integrationv1.Notification{
		NotificationId: n.ID.String(), RecipientPrincipalId: n.RecipientID, Title: n.Title, Body: n.Body, Link: n.Link,
		Read: n.Read, ReadTime: ts(n.ReadTime), CreateTime: ts(n.CreateTime),
	}
}

// FromNotification reads the fields a sender sets.
func FromNotification(m *integrationv1.Notification) notification.Notification {
	return notification.Notification{RecipientID: m.GetRecipientPrincipalId(), Title: m.GetTitle(), Body: m.GetBody(), Link: m.GetLink()}
}
