package grpcapi_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	integrationv1 "github.com/rapportcrm/rapport/gen/go/rapport/integration/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/integration/internal/email"
	"github.com/rapportcrm/rapport/services/integration/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/integration/internal/postgres"
	"github.com/rapportcrm/rapport/services/integration/internal/rule"
)

func validTemplate() *integrationv1.EmailTemplate {
	return &integrationv1.EmailTemplate{DisplayName: "Welcome", Purpose: integrationv1.EmailPurpose_EMAIL_PURPOSE_TRANSACTIONAL,
		Variants: []*integrationv1.EmailTemplateVariant{{Locale: "en", Subject: "Hello {{recipient.name}}", TextBody: "Since {{event.time}}"}}}
}

// serveEmail serves the e-mail and rule services with a relay configured or not.
func serveEmail(t *testing.T, configured bool) (integrationv1.EmailServiceClient, integrationv1.AutomationServiceClient, *grpctest.Tokens) {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	tokens := grpctest.NewTokens(t)
	store := postgres.New(db.App)
	conn := grpctest.Serve(t, tokens.Authenticator(nil), func(srv *grpcserver.Server) {
		integrationv1.RegisterEmailServiceServer(srv, grpcapi.NewEmails(email.New(store.Emails(), configured), "rapport.test"))
		integrationv1.RegisterAutomationServiceServer(srv, grpcapi.NewRules(rule.New(store.Rules(), configured)))
	})
	return integrationv1.NewEmailServiceClient(conn), integrationv1.NewAutomationServiceClient(conn), tokens
}

func TestEmailNotConfigured(t *testing.T) {
	t.Parallel()
	client, rules, tokens := serveEmail(t, false)
	admin := tokens.Context(t.Context(), uuid.NewString(), auth.RoleAdmin)
	_, err := client.CreateEmailTemplate(admin, &integrationv1.CreateEmailTemplateRequest{EmailTemplate: validTemplate()})
	if status.Code(err) != codes.FailedPrecondition || grpctest.Reason(err) != "EMAIL_NOT_CONFIGURED" {
		t.Fatalf("CreateEmailTemplate = %v, want FailedPrecondition EMAIL_NOT_CONFIGURED", err)
	}
	_, err = client.SendEmail(admin, &integrationv1.SendEmailRequest{EmailTemplateId: uuid.NewString(), Address: "a@example.com"})
	if status.Code(err) != codes.FailedPrecondition || grpctest.Reason(err) != "EMAIL_NOT_CONFIGURED" {
		t.Fatalf("SendEmail = %v, want FailedPrecondition EMAIL_NOT_CONFIGURED", err)
	}
	r := validRule()
	r.Actions = []*integrationv1.RuleAction{{Kind: integrationv1.RuleActionKind_RULE_ACTION_KIND_SEND_EMAIL, EmailTemplateId: uuid.NewString()}}
	_, err = rules.CreateRule(admin, &integrationv1.CreateRuleRequest{Rule: r})
	if status.Code(err) != codes.FailedPrecondition || grpctest.Reason(err) != "EMAIL_NOT_CONFIGURED" {
		t.Fatalf("CreateRule(SEND_EMAIL) = %v, want FailedPrecondition EMAIL_NOT_CONFIGURED", err)
	}
}

func TestEmails(t *testing.T) {
	t.Parallel()
	client, rules, tokens := serveEmail(t, true)
	tenant := uuid.NewString()
	admin := tokens.Context(t.Context(), tenant, auth.RoleAdmin)
	analyst := tokens.Context(t.Context(), tenant, auth.RoleAnalyst)

	created, err := client.CreateEmailTemplate(admin, &integrationv1.CreateEmailTemplateRequest{EmailTemplate: validTemplate(), RequestId: "t1"})
	if err != nil || created.GetEmailTemplate().GetEtag() != "1" || created.GetEmailTemplate().GetDefaultLocale() != "en" {
		t.Fatalf("CreateEmailTemplate = %v, %v; want etag 1, default locale en", created, err)
	}
	id := created.GetEmailTemplate().GetEmailTemplateId()
	if again, err := client.CreateEmailTemplate(admin, &integrationv1.CreateEmailTemplateRequest{EmailTemplate: validTemplate(), RequestId: "t1"}); err != nil || again.GetEmailTemplate().GetEmailTemplateId() != id {
		t.Fatalf("repeated CreateEmailTemplate = %v, %v; want the first", again, err)
	}

	bad := func(edit func(*integrationv1.EmailTemplate)) *integrationv1.EmailTemplate {
		t := validTemplate()
		edit(t)
		return t
	}
	invalid := []struct {
		name  string
		tpl   *integrationv1.EmailTemplate
		field string
	}{
		{"unknown placeholder", bad(func(t *integrationv1.EmailTemplate) { t.Variants[0].Subject = "Hi {{customer.nickname}}" }), "email_template.variants[0].subject"},
		{"no purpose", bad(func(t *integrationv1.EmailTemplate) { t.Purpose = 0 }), "email_template.purpose"},
		{"no variants", bad(func(t *integrationv1.EmailTemplate) { t.Variants = nil }), "email_template.variants"},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.CreateEmailTemplate(admin, &integrationv1.CreateEmailTemplateRequest{EmailTemplate: tt.tpl})
			if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.field] {
				t.Fatalf("CreateEmailTemplate(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.field)
			}
		})
	}

	r := validRule()
	r.Actions = []*integrationv1.RuleAction{{Kind: integrationv1.RuleActionKind_RULE_ACTION_KIND_SEND_EMAIL, EmailTemplateId: id, EmailAddress: "not an address"}}
	if _, err := rules.CreateRule(admin, &integrationv1.CreateRuleRequest{Rule: r}); status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)["rule.actions[0].email_address"] {
		t.Fatalf("CreateRule(bad address) = %v, want InvalidArgument on rule.actions[0].email_address", err)
	}
	r.Actions[0].EmailAddress = ""
	if _, err := rules.CreateRule(admin, &integrationv1.CreateRuleRequest{Rule: r}); err != nil {
		t.Fatalf("CreateRule(SEND_EMAIL) = %v", err)
	}

	denied := []struct {
		name string
		call func() error
	}{
		{"analyst sends", func() error {
			_, err := client.SendEmail(analyst, &integrationv1.SendEmailRequest{EmailTemplateId: id, Address: "a@example.com"})
			return err
		}},
		{"analyst creates", func() error {
			_, err := client.CreateEmailTemplate(analyst, &integrationv1.CreateEmailTemplateRequest{EmailTemplate: validTemplate()})
			return err
		}},
		{"sales rep lists", func() error {
			_, err := client.ListEmailMessages(tokens.Context(t.Context(), tenant, auth.RoleSalesRep), &integrationv1.ListEmailMessagesRequest{})
			return err
		}},
	}
	for _, tt := range denied {
		if err := tt.call(); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("%s = %v, want PermissionDenied", tt.name, err)
		}
	}

	other := tokens.Context(t.Context(), uuid.NewString(), auth.RoleAdmin)
	if _, err := client.GetEmailTemplate(other, &integrationv1.GetEmailTemplateRequest{EmailTemplateId: id}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetEmailTemplate(another tenant) = %v, want NotFound", err)
	}
	if _, err := client.SendEmail(other, &integrationv1.SendEmailRequest{EmailTemplateId: id, Address: "a@example.com"}); status.Code(err) != codes.NotFound {
		t.Fatalf("SendEmail(another tenant's template) = %v, want NotFound", err)
	}
	if _, err := client.SendEmail(admin, &integrationv1.SendEmailRequest{EmailTemplateId: id, Address: "a@example.com", CustomerId: uuid.NewString()}); status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)["address"] {
		t.Fatalf("SendEmail(both recipients) = %v, want InvalidArgument on address", err)
	}

	sent, err := client.SendEmail(admin, &integrationv1.SendEmailRequest{EmailTemplateId: id, Address: "grete@example.com", RequestId: "m1"})
	if err != nil || sent.GetEmailMessage().GetState() != integrationv1.EmailMessageState_EMAIL_MESSAGE_STATE_PENDING ||
		sent.GetEmailMessage().GetMessageIdHeader() != "<"+sent.GetEmailMessage().GetEmailMessageId()+"@rapport.test>" {
		t.Fatalf("SendEmail = %v, %v; want a pending message with its Message-ID", sent, err)
	}
	if again, err := client.SendEmail(admin, &integrationv1.SendEmailRequest{EmailTemplateId: id, Address: "grete@example.com", RequestId: "m1"}); err != nil ||
		again.GetEmailMessage().GetEmailMessageId() != sent.GetEmailMessage().GetEmailMessageId() {
		t.Fatalf("repeated SendEmail = %v, %v; want the first message", again, err)
	}
	readers := []struct {
		name string
		ctx  context.Context
		want string
	}{{"admin", admin, "grete@example.com"}, {"analyst", analyst, "g***@example.com"}}
	for _, r := range readers {
		list, err := client.ListEmailMessages(r.ctx, &integrationv1.ListEmailMessagesRequest{Filter: "state = EMAIL_MESSAGE_STATE_PENDING"})
		if err != nil || len(list.GetEmailMessages()) != 1 || list.GetEmailMessages()[0].GetRecipient() != r.want {
			t.Fatalf("ListEmailMessages(%s) = %v, %v; want one with recipient %s", r.name, list, err, r.want)
		}
	}

	upd, err := client.UpdateEmailTemplate(admin, &integrationv1.UpdateEmailTemplateRequest{
		EmailTemplate: &integrationv1.EmailTemplate{EmailTemplateId: id, Etag: "1", DisplayName: "Renamed"},
		UpdateMask:    &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}})
	if err != nil || upd.GetEmailTemplate().GetEtag() != "2" || upd.GetEmailTemplate().GetDisplayName() != "Renamed" {
		t.Fatalf("UpdateEmailTemplate = %v, %v; want etag 2", upd, err)
	}
	if _, err := client.DeleteEmailTemplate(admin, &integrationv1.DeleteEmailTemplateRequest{EmailTemplateId: id, Etag: "1"}); status.Code(err) != codes.Aborted {
		t.Fatalf("DeleteEmailTemplate(stale etag) = %v, want Aborted", err)
	}
	if _, err := client.DeleteEmailTemplate(admin, &integrationv1.DeleteEmailTemplateRequest{EmailTemplateId: id, Etag: "2"}); err != nil {
		t.Fatalf("DeleteEmailTemplate = %v", err)
	}
}
