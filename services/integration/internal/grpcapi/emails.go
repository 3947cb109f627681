package grpcapi

import (
	"context"

	"github.com/google/uuid"

	integrationv1 "github.com/rapportcrm/rapport/gen/go/rapport/integration/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/integration/internal/email"
	"github.com/rapportcrm/rapport/services/integration/internal/protoconv"
)

// Emails implements integrationv1.EmailServiceServer.
type Emails struct {
	integrationv1.UnimplementedEmailServiceServer
	svc *email.Service
	// domain is the sender address's domain, which Message-IDs carry.
	domain string
}

// NewEmails returns the server.
func NewEmails(svc *email.Service, domain string) *Emails { return &Emails{svc: svc, domain: domain} }

// CreateEmailTemplate implements the RPC.
func (s *Emails) CreateEmailTemplate(ctx context.Context, req *integrationv1.CreateEmailTemplateRequest) (*integrationv1.CreateEmailTemplateResponse, error) {
	if req.GetEmailTemplate() == nil {
		return nil, toStatus(validation.Field("email_template", "is required"))
	}
	t, err := s.svc.CreateTemplate(ctx, caller(ctx), protoconv.FromEmailTemplate(req.GetEmailTemplate()), req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &integrationv1.CreateEmailTemplateResponse{EmailTemplate: protoconv.EmailTemplate(t)}, nil
}

// GetEmailTemplate implements the RPC.
func (s *Emails) GetEmailTemplate(ctx context.Context, req *integrationv1.GetEmailTemplateRequest) (*integrationv1.GetEmailTemplateResponse, error) {
	id, err := parseID("email_template_id", req.GetEmailTemplateId())
	if err != nil {
		return nil, toStatus(err)
	}
	t, err := s.svc.Template(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &integrationv1.GetEmailTemplateResponse{EmailTemplate: protoconv.EmailTemplate(t)}, nil
}

// ListEmailTemplates implements the RPC.
func (s *Emails) ListEmailTemplates(ctx context.Context, req *integrationv1.ListEmailTemplatesRequest) (*integrationv1.ListEmailTemplatesResponse, error) {
	page, err := s.svc.Templates(ctx, caller(ctx), email.ListQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &integrationv1.ListEmailTemplatesResponse{NextPageToken: page.NextPageToken}
	for _, t := range page.Templates {
		out.EmailTemplates = append(out.EmailTemplates, protoconv.EmailTemplate(t))
	}
	return out, nil
}

// UpdateEmailTemplate implements the RPC.
func (s *Emails) UpdateEmailTemplate(ctx context.Context, req *integrationv1.UpdateEmailTemplateRequest) (*integrationv1.UpdateEmailTemplateResponse, error) {
	if req.GetEmailTemplate() == nil {
		return nil, toStatus(validation.Field("email_template", "is required"))
	}
	id, err := parseID("email_template.email_template_id", req.GetEmailTemplate().GetEmailTemplateId())
	if err != nil {
		return nil, toStatus(err)
	}
	in := protoconv.FromEmailTemplate(req.GetEmailTemplate())
	in.ID = id
	t, err := s.svc.UpdateTemplate(ctx, caller(ctx), in, req.GetUpdateMask().GetPaths(), req.GetEmailTemplate().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &integrationv1.UpdateEmailTemplateResponse{EmailTemplate: protoconv.EmailTemplate(t)}, nil
}

// DeleteEmailTemplate implements the RPC.
func (s *Emails) DeleteEmailTemplate(ctx context.Context, req *integrationv1.DeleteEmailTemplateRequest) (*integrationv1.DeleteEmailTemplateResponse, error) {
	id, err := parseID("email_template_id", req.GetEmailTemplateId())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.svc.DeleteTemplate(ctx, caller(ctx), id, req.GetEtag()); err != nil {
		return nil, toStatus(err)
	}
	return &integrationv1.DeleteEmailTemplateResponse{}, nil
}

// SendEmail implements the RPC.
func (s *Emails) SendEmail(ctx context.Context, req *integrationv1.SendEmailRequest) (*integrationv1.SendEmailResponse, error) {
	v := &validation.Error{}
	r := email.SendRequest{Address: req.GetAddress(), RequestID: req.GetRequestId()}
	if req.GetEmailTemplateId() != "" {
		id, err := uuid.Parse(req.GetEmailTemplateId())
		if err != nil {
			v.Add("email_template_id", "must be a UUID")
		}
		r.TemplateID = id
	}
	if req.GetCustomerId() != "" {
		id, err := uuid.Parse(req.GetCustomerId())
		if err != nil {
			v.Add("customer_id", "must be a UUID")
		}
		r.CustomerID = id
	}
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	m, err := s.svc.Send(ctx, caller(ctx), r)
	if err != nil {
		return nil, toStatus(err)
	}
	return &integrationv1.SendEmailResponse{EmailMessage: protoconv.EmailMessage(m, s.domain)}, nil
}

// ListEmailMessages implements the RPC.
func (s *Emails) ListEmailMessages(ctx context.Context, req *integrationv1.ListEmailMessagesRequest) (*integrationv1.ListEmailMessagesResponse, error) {
	page, err := s.svc.Messages(ctx, caller(ctx), email.ListQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &integrationv1.ListEmailMessagesResponse{NextPageToken: page.NextPageToken}
	for _, m := range page.Messages {
		out.EmailMessages = append(out.EmailMessages, protoconv.EmailMessage(m, s.domain))
	}
	return out, nil
}
