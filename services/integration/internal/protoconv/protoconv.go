// Package protoconv converts between the integration service's domain
// types and their protobuf messages.
package protoconv

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	integrationv1 "github.com/rapportcrm/rapport/gen/go/rapport/integration/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/integration/internal/email"
	"github.com/rapportcrm/rapport/services/integration/internal/notification"
	"github.com/rapportcrm/rapport/services/integration/internal/rule"
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
	breaker, probe := w.Breaker(time.Now())
	return &integrationv1.Webhook{
		WebhookId: w.ID.String(), DisplayName: w.DisplayName, TargetUrl: w.TargetURL,
		EventTypes: w.EventTypes, Filter: w.Filter, State: integrationv1.WebhookState(w.State),
		StateReason: w.StateReason, CreateTime: ts(w.CreateTime), UpdateTime: ts(w.UpdateTime), Etag: w.Etag(),
		BreakerState: integrationv1.WebhookBreakerState(breaker), NextProbeTime: ts(probe),
	}
}

// CustomerErasure renders the event of erasing a customer's copies.
func CustomerErasure(customer string, events, deliveries, notifications, emails int) *integrationv1.WebhookCustomerErasure {
	return &integrationv1.WebhookCustomerErasure{Customer: customer, ErasedEventCount: int32(events),
		ErasedDeliveryCount: int32(deliveries), ErasedNotificationCount: int32(notifications), ErasedEmailCount: int32(emails)}
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

// Rule renders a rule.
func Rule(r rule.Rule) *integrationv1.Rule {
	out := &integrationv1.Rule{
		RuleId: r.ID.String(), DisplayName: r.DisplayName, EventTypes: r.EventTypes, Filter: r.Filter, Enabled: r.Enabled,
		MaxExecutionsPerMinute: int32(r.RateLimit), Version: r.Version, CreateTime: ts(r.CreateTime), UpdateTime: ts(r.UpdateTime),
		Etag: r.Etag(),
	}
	for _, a := range r.Actions {
		m := &integrationv1.RuleAction{Kind: integrationv1.RuleActionKind(a.Kind), RecipientPrincipalId: a.RecipientPrincipalID,
			TitleTemplate: a.TitleTemplate, BodyTemplate: a.BodyTemplate, EmailAddress: a.EmailAddress, FollowUpDueDays: int32(a.DueDays),
			AssigneePrincipalId: a.AssigneePrincipalID, OwnerPrincipalId: a.OwnerPrincipalID,
			LifecycleStage: customerv1.LifecycleStage(a.LifecycleStage), AttributeKey: a.AttributeKey, ValueTemplate: a.ValueTemplate}
		if a.WebhookID != uuid.Nil {
			m.WebhookId = a.WebhookID.String()
		}
		if a.QueueID != uuid.Nil {
			m.QueueId = a.QueueID.String()
		}
		if a.CampaignID != uuid.Nil {
			m.CampaignId = a.CampaignID.String()
		}
		if a.EmailTemplateID != uuid.Nil {
			m.EmailTemplateId = a.EmailTemplateID.String()
		}
		out.Actions = append(out.Actions, m)
	}
	if sc := r.Schedule; sc != nil {
		out.Schedule = &integrationv1.RuleSchedule{DailyTime: sc.DailyTime, TimeZone: sc.TimeZone}
		if sc.Interval != 0 {
			out.Schedule.Interval = durationpb.New(sc.Interval)
		}
	}
	if sel := r.Selection; sel != nil {
		out.Selection = &integrationv1.RuleSelection{Collection: integrationv1.RuleCollection(sel.Collection), Filter: sel.Filter}
		if sel.InactiveFor != 0 {
			out.Selection.InactiveFor = durationpb.New(sel.InactiveFor)
		}
	}
	if r.NextRunTime != nil {
		out.NextRunTime = ts(*r.NextRunTime)
	}
	return out
}

// FromRule reads the fields a caller sets; an action's webhook id that is
// not a UUID is a violation on its field.
func FromRule(m *integrationv1.Rule) (rule.Rule, error) {
	r := rule.Rule{DisplayName: m.GetDisplayName(), EventTypes: m.GetEventTypes(), Filter: m.GetFilter(),
		Enabled: m.GetEnabled(), RateLimit: int(m.GetMaxExecutionsPerMinute())}
	v := &validation.Error{}
	for i, a := range m.GetActions() {
		act := rule.Action{Kind: rule.ActionKind(a.GetKind()), RecipientPrincipalID: a.GetRecipientPrincipalId(),
			TitleTemplate: a.GetTitleTemplate(), BodyTemplate: a.GetBodyTemplate(), EmailAddress: a.GetEmailAddress(),
			DueDays: int(a.GetFollowUpDueDays()), AssigneePrincipalID: a.GetAssigneePrincipalId(), OwnerPrincipalID: a.GetOwnerPrincipalId(),
			LifecycleStage: int32(a.GetLifecycleStage()), AttributeKey: a.GetAttributeKey(), ValueTemplate: a.GetValueTemplate()}
		for name, in := range map[string]struct {
			s  string
			to *uuid.UUID
		}{"webhook_id": {a.GetWebhookId(), &act.WebhookID}, "email_template_id": {a.GetEmailTemplateId(), &act.EmailTemplateID},
			"queue_id": {a.GetQueueId(), &act.QueueID}, "campaign_id": {a.GetCampaignId(), &act.CampaignID}} {
			if in.s == "" {
				continue
			}
			id, err := uuid.Parse(in.s)
			if err != nil {
				v.Add(fmt.Sprintf("rule.actions[%d].%s", i, name), "must be a UUID")
			}
			*in.to = id
		}
		r.Actions = append(r.Actions, act)
	}
	duration := func(field string, d *durationpb.Duration) time.Duration {
		if d == nil {
			return 0
		}
		if err := d.CheckValid(); err != nil || d.AsDuration() <= 0 {
			v.Add(field, "must be a positive duration")
			return 0
		}
		return d.AsDuration()
	}
	if sc := m.GetSchedule(); sc != nil {
		r.Schedule = &rule.Schedule{Interval: duration("rule.schedule.interval", sc.GetInterval()), DailyTime: sc.GetDailyTime(), TimeZone: sc.GetTimeZone()}
	}
	if sel := m.GetSelection(); sel != nil {
		r.Selection = &rule.Selection{Collection: rule.Collection(sel.GetCollection()), Filter: sel.GetFilter(),
			InactiveFor: duration("rule.selection.inactive_for", sel.GetInactiveFor())}
	}
	return r, v.Err()
}

// Run renders one run of a scheduled rule.
func Run(u rule.Run) *integrationv1.RuleRun {
	out := &integrationv1.RuleRun{
		RunId: u.ID.String(), RuleId: u.RuleID.String(), RuleVersion: u.RuleVersion, Trigger: integrationv1.RuleRunTrigger(u.Trigger),
		State: integrationv1.RuleRunState(u.State), Selected: int32(u.Selected), Fired: int32(u.Fired), Detail: u.Detail,
		StartTime: ts(u.StartTime),
	}
	if u.EndTime != nil {
		out.EndTime = ts(*u.EndTime)
	}
	return out
}

// Execution renders one entry of a rule's log.
func Execution(x rule.Execution) *integrationv1.RuleExecution {
	return &integrationv1.RuleExecution{
		ExecutionId: x.ID.String(), RuleId: x.RuleID.String(), RuleVersion: x.RuleVersion, EventId: x.EventID.String(),
		EventType: x.EventType, Resource: x.Resource, Outcome: integrationv1.RuleExecutionOutcome(x.Outcome),
		Detail: x.Detail, CreateTime: ts(x.CreateTime),
	}
}

// Match renders one match of a dry run.
func Match(m rule.Match) *integrationv1.RuleDryRunMatch {
	out := &integrationv1.RuleDryRunMatch{EventType: m.Event.Type, Resource: m.Event.Resource,
		EventTime: ts(m.Event.Time), Actions: m.Actions}
	if m.Event.ID != uuid.Nil {
		out.EventId = m.Event.ID.String()
	}
	return out
}

// EmailTemplate renders a template.
func EmailTemplate(t email.Template) *integrationv1.EmailTemplate {
	out := &integrationv1.EmailTemplate{
		EmailTemplateId: t.ID.String(), DisplayName: t.DisplayName, Purpose: integrationv1.EmailPurpose(t.Purpose),
		DefaultLocale: t.DefaultLocale, CreateTime: ts(t.CreateTime), UpdateTime: ts(t.UpdateTime), Etag: t.Etag(),
	}
	for _, v := range t.Variants {
		out.Variants = append(out.Variants, &integrationv1.EmailTemplateVariant{Locale: v.Locale, Subject: v.Subject, TextBody: v.Text, HtmlBody: v.HTML})
	}
	return out
}

// FromEmailTemplate reads the fields a caller sets.
func FromEmailTemplate(m *integrationv1.EmailTemplate) email.Template {
	t := email.Template{DisplayName: m.GetDisplayName(), Purpose: email.Purpose(m.GetPurpose()), DefaultLocale: m.GetDefaultLocale()}
	for _, v := range m.GetVariants() {
		t.Variants = append(t.Variants, email.Variant{Locale: v.GetLocale(), Subject: v.GetSubject(), Text: v.GetTextBody(), HTML: v.GetHtmlBody()})
	}
	return t
}

// EmailMessage renders one entry of the message log; domain is the sender
// address's domain its Message-ID carries ("" leaves the Message-ID out).
func EmailMessage(m email.Message, domain string) *integrationv1.EmailMessage {
	out := &integrationv1.EmailMessage{
		EmailMessageId: m.ID.String(), EmailTemplateId: m.TemplateID.String(), Purpose: integrationv1.EmailPurpose(m.Purpose),
		Recipient: m.Recipient, State: integrationv1.EmailMessageState(m.State), Attempts: int32(m.Attempts),
		LastReply: m.LastReply, Locale: m.Locale,
		CreateTime: ts(m.CreateTime), UpdateTime: ts(m.UpdateTime), SendTime: ts(m.SendTime),
	}
	if domain != "" {
		out.MessageIdHeader = m.MessageIDHeader(domain)
	}
	if m.CustomerID != uuid.Nil {
		out.CustomerId = m.CustomerID.String()
	}
	if m.RuleID != uuid.Nil {
		out.RuleId = m.RuleID.String()
	}
	if m.State == email.Pending {
		out.NextAttemptTime = ts(m.NextAttemptTime)
	}
	return out
}
