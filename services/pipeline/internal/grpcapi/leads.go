package grpcapi

import (
	"context"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/pkg/grpcerr"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/lead"
	"github.com/rapportcrm/rapport/services/pipeline/internal/protoconv"
	"github.com/rapportcrm/rapport/services/pipeline/internal/ratelimit"
)

// SubmitWebFormMethod needs no credentials; main registers it as public.
const SubmitWebFormMethod = "/rapport.pipeline.v1.LeadService/SubmitWebForm"

// LeadServer implements pipelinev1.LeadServiceServer.
type LeadServer struct {
	pipelinev1.UnimplementedLeadServiceServer
	svc             *lead.Service
	byKey, byClient *ratelimit.Limiter
}

// NewLeadServer returns the server; byKey and byClient limit web-form
// submissions per form key and per client address.
func NewLeadServer(svc *lead.Service, byKey, byClient *ratelimit.Limiter) *LeadServer {
	return &LeadServer{svc: svc, byKey: byKey, byClient: byClient}
}

// CreateLead implements the RPC.
func (s *LeadServer) CreateLead(ctx context.Context, req *pipelinev1.CreateLeadRequest) (*pipelinev1.CreateLeadResponse, error) {
	if req.GetLead() == nil {
		return nil, toStatus(validation.Field("lead", "is required"))
	}
	l, err := protoconv.FromLead(req.GetLead(), "lead.")
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.Create(ctx, caller(ctx), l, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.CreateLeadResponse{Lead: protoconv.Lead(saved)}, nil
}

// GetLead implements the RPC.
func (s *LeadServer) GetLead(ctx context.Context, req *pipelinev1.GetLeadRequest) (*pipelinev1.GetLeadResponse, error) {
	id, err := parseID("lead_id", req.GetLeadId())
	if err != nil {
		return nil, toStatus(err)
	}
	l, err := s.svc.Get(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.GetLeadResponse{Lead: protoconv.Lead(l)}, nil
}

// ListLeads implements the RPC.
func (s *LeadServer) ListLeads(ctx context.Context, req *pipelinev1.ListLeadsRequest) (*pipelinev1.ListLeadsResponse, error) {
	page, err := s.svc.List(ctx, caller(ctx), lead.ListQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pipelinev1.ListLeadsResponse{NextPageToken: page.NextPageToken}
	for _, l := range page.Leads {
		out.Leads = append(out.Leads, protoconv.Lead(l))
	}
	return out, nil
}

// UpdateLead implements the RPC.
func (s *LeadServer) UpdateLead(ctx context.Context, req *pipelinev1.UpdateLeadRequest) (*pipelinev1.UpdateLeadResponse, error) {
	if req.GetLead() == nil {
		return nil, toStatus(validation.Field("lead", "is required"))
	}
	in, err := protoconv.FromLead(req.GetLead(), "lead.")
	if err != nil {
		return nil, toStatus(err)
	}
	mask := dropOutputOnly(maskPaths(req.GetUpdateMask().GetPaths()), "lead_id", "create_time", "update_time",
		"duplicate_customer_id", "converted_customer_id", "converted_opportunity_id", "convert_time", "web_form_id", "source", "utm", "external_id")
	saved, err := s.svc.Update(ctx, caller(ctx), in, mask, req.GetLead().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.UpdateLeadResponse{Lead: protoconv.Lead(saved)}, nil
}

// ConvertLead implements the RPC.
func (s *LeadServer) ConvertLead(ctx context.Context, req *pipelinev1.ConvertLeadRequest) (*pipelinev1.ConvertLeadResponse, error) {
	id, err := parseID("lead_id", req.GetLeadId())
	if err != nil {
		return nil, toStatus(err)
	}
	c := lead.Conversion{LeadID: id, Etag: req.GetEtag(), RequestID: req.GetRequestId()}
	if req.GetCustomerId() != "" {
		cid, err := parseID("customer_id", req.GetCustomerId())
		if err != nil {
			return nil, toStatus(err)
		}
		c.CustomerID = &cid
	}
	if m := req.GetOpportunity(); m != nil {
		if m.GetAmount() == nil {
			return nil, toStatus(validation.Field("opportunity.amount", "is required"))
		}
		o, err := protoconv.FromOpportunity(m, "opportunity.")
		if err != nil {
			return nil, toStatus(err)
		}
		c.Opportunity = &o
	}
	done, err := s.svc.Convert(ctx, caller(ctx), c)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pipelinev1.ConvertLeadResponse{Lead: protoconv.Lead(done.Lead), CustomerCreated: done.CustomerCreated}
	if done.Opportunity != nil {
		out.Opportunity = protoconv.OpportunityAt(*done.Opportunity, time.Now())
	}
	return out, nil
}

// CreateWebForm implements the RPC.
func (s *LeadServer) CreateWebForm(ctx context.Context, req *pipelinev1.CreateWebFormRequest) (*pipelinev1.CreateWebFormResponse, error) {
	m := req.GetWebForm()
	if m == nil {
		return nil, toStatus(validation.Field("web_form", "is required"))
	}
	saved, err := s.svc.CreateWebForm(ctx, caller(ctx), lead.WebForm{DisplayName: m.GetDisplayName(), Territory: m.GetTerritory()}, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.CreateWebFormResponse{WebForm: protoconv.WebForm(saved)}, nil
}

// ListWebForms implements the RPC.
func (s *LeadServer) ListWebForms(ctx context.Context, req *pipelinev1.ListWebFormsRequest) (*pipelinev1.ListWebFormsResponse, error) {
	page, err := s.svc.ListWebForms(ctx, caller(ctx), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pipelinev1.ListWebFormsResponse{NextPageToken: page.NextPageToken}
	for _, f := range page.WebForms {
		out.WebForms = append(out.WebForms, protoconv.WebForm(f))
	}
	return out, nil
}

// SubmitWebForm implements the RPC. It is public, so it is rate limited
// before it touches the database: per form key (a page flooded by one
// source) and per client address (one source flooding many forms).
func (s *LeadServer) SubmitWebForm(ctx context.Context, req *pipelinev1.SubmitWebFormRequest) (*pipelinev1.SubmitWebFormResponse, error) {
	if !s.byClient.Allow(clientAddr(ctx)) || !s.byKey.Allow(req.GetFormKey()) {
		return nil, grpcerr.WithReason(codes.ResourceExhausted, errRateLimited, "RATE_LIMITED")
	}
	l, err := s.svc.Submit(ctx, req.GetFormKey(), lead.Submission{
		DisplayName: req.GetDisplayName(), Email: req.GetEmail(), Phone: req.GetPhone(), CompanyName: req.GetCompanyName(),
		UTM: protoconv.FromUTM(req.GetUtm()),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.SubmitWebFormResponse{LeadId: l.ID.String()}, nil
}

// clientAddr is the address a submission came from: the last hop the edge
// appended to x-forwarded-for (grpc-gateway adds the address it was called
// from), else the direct peer. Earlier entries are the client's own claims
// and are not trusted.
func clientAddr(ctx context.Context) string {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("x-forwarded-for"); len(v) > 0 {
			hops := strings.Split(v[len(v)-1], ",")
			if last := strings.TrimSpace(hops[len(hops)-1]); last != "" {
				return last
			}
		}
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
			return host
		}
		return p.Addr.String()
	}
	return ""
}

// CreateLeadAssignmentRule implements the RPC.
func (s *LeadServer) CreateLeadAssignmentRule(ctx context.Context, req *pipelinev1.CreateLeadAssignmentRuleRequest) (*pipelinev1.CreateLeadAssignmentRuleResponse, error) {
	if req.GetLeadAssignmentRule() == nil {
		return nil, toStatus(validation.Field("lead_assignment_rule", "is required"))
	}
	r, err := protoconv.FromLeadAssignmentRule(req.GetLeadAssignmentRule(), "lead_assignment_rule.")
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.CreateRule(ctx, caller(ctx), r, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.CreateLeadAssignmentRuleResponse{LeadAssignmentRule: protoconv.LeadAssignmentRule(saved)}, nil
}

// ListLeadAssignmentRules implements the RPC.
func (s *LeadServer) ListLeadAssignmentRules(ctx context.Context, req *pipelinev1.ListLeadAssignmentRulesRequest) (*pipelinev1.ListLeadAssignmentRulesResponse, error) {
	page, err := s.svc.ListRules(ctx, caller(ctx), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pipelinev1.ListLeadAssignmentRulesResponse{NextPageToken: page.NextPageToken}
	for _, r := range page.Rules {
		out.LeadAssignmentRules = append(out.LeadAssignmentRules, protoconv.LeadAssignmentRule(r))
	}
	return out, nil
}

// UpdateLeadAssignmentRule implements the RPC.
func (s *LeadServer) UpdateLeadAssignmentRule(ctx context.Context, req *pipelinev1.UpdateLeadAssignmentRuleRequest) (*pipelinev1.UpdateLeadAssignmentRuleResponse, error) {
	m := req.GetLeadAssignmentRule()
	if m == nil {
		return nil, toStatus(validation.Field("lead_assignment_rule", "is required"))
	}
	id, err := parseID("lead_assignment_rule.lead_assignment_rule_id", m.GetLeadAssignmentRuleId())
	if err != nil {
		return nil, toStatus(err)
	}
	in, err := protoconv.FromLeadAssignmentRule(m, "lead_assignment_rule.")
	if err != nil {
		return nil, toStatus(err)
	}
	mask := dropOutputOnly(maskPaths(req.GetUpdateMask().GetPaths()), "lead_assignment_rule_id", "territory", "create_time", "update_time")
	saved, err := s.svc.UpdateRule(ctx, caller(ctx), id, in, mask, m.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.UpdateLeadAssignmentRuleResponse{LeadAssignmentRule: protoconv.LeadAssignmentRule(saved)}, nil
}
