package grpcapi

import (
	"context"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/protoconv"
	"github.com/rapportcrm/rapport/services/pipeline/internal/quote"
)

// QuoteServer implements pipelinev1.QuoteServiceServer.
type QuoteServer struct {
	pipelinev1.UnimplementedQuoteServiceServer
	svc *quote.Service
}

// NewQuoteServer returns the server.
func NewQuoteServer(svc *quote.Service) *QuoteServer { return &QuoteServer{svc: svc} }

// CreateQuote implements the RPC.
func (s *QuoteServer) CreateQuote(ctx context.Context, req *pipelinev1.CreateQuoteRequest) (*pipelinev1.CreateQuoteResponse, error) {
	if req.GetQuote() == nil {
		return nil, toStatus(validation.Field("quote", "is required"))
	}
	q, err := protoconv.FromQuote(req.GetQuote())
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.Create(ctx, caller(ctx), q, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.CreateQuoteResponse{Quote: protoconv.Quote(saved)}, nil
}

// GetQuote implements the RPC.
func (s *QuoteServer) GetQuote(ctx context.Context, req *pipelinev1.GetQuoteRequest) (*pipelinev1.GetQuoteResponse, error) {
	id, err := parseID("quote_id", req.GetQuoteId())
	if err != nil {
		return nil, toStatus(err)
	}
	q, err := s.svc.Get(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.GetQuoteResponse{Quote: protoconv.Quote(q)}, nil
}

// ListQuotes implements the RPC.
func (s *QuoteServer) ListQuotes(ctx context.Context, req *pipelinev1.ListQuotesRequest) (*pipelinev1.ListQuotesResponse, error) {
	page, err := s.svc.List(ctx, caller(ctx), quote.ListQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(),
		Filter: req.GetFilter(), ShowDeleted: req.GetShowDeleted()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pipelinev1.ListQuotesResponse{NextPageToken: page.NextPageToken}
	for _, q := range page.Quotes {
		out.Quotes = append(out.Quotes, protoconv.Quote(q))
	}
	return out, nil
}

// quoteOutputOnly are the fields a REST body echoed from a read carries
// that an update ignores.
var quoteOutputOnly = []string{"quote_id", "customer_id", "opportunity_id", "price_list_id", "currency_code", "total", "status",
	"root_quote_id", "version", "send_time", "decision_time", "reject_reason", "order_id", "create_time", "update_time", "delete_time"}

// UpdateQuote implements the RPC.
func (s *QuoteServer) UpdateQuote(ctx context.Context, req *pipelinev1.UpdateQuoteRequest) (*pipelinev1.UpdateQuoteResponse, error) {
	if req.GetQuote() == nil {
		return nil, toStatus(validation.Field("quote", "is required"))
	}
	id, err := parseID("quote.quote_id", req.GetQuote().GetQuoteId())
	if err != nil {
		return nil, toStatus(err)
	}
	in, err := protoconv.FromQuote(req.GetQuote())
	if err != nil {
		return nil, toStatus(err)
	}
	in.ID = id
	mask := dropOutputOnly(maskPaths(req.GetUpdateMask().GetPaths()), quoteOutputOnly...)
	saved, err := s.svc.Update(ctx, caller(ctx), in, mask, req.GetQuote().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.UpdateQuoteResponse{Quote: protoconv.Quote(saved)}, nil
}

// DeleteQuote implements the RPC.
func (s *QuoteServer) DeleteQuote(ctx context.Context, req *pipelinev1.DeleteQuoteRequest) (*pipelinev1.DeleteQuoteResponse, error) {
	id, err := parseID("quote_id", req.GetQuoteId())
	if err != nil {
		return nil, toStatus(err)
	}
	q, err := s.svc.Delete(ctx, caller(ctx), id, req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.DeleteQuoteResponse{Quote: protoconv.Quote(q)}, nil
}

// UndeleteQuote implements the RPC.
func (s *QuoteServer) UndeleteQuote(ctx context.Context, req *pipelinev1.UndeleteQuoteRequest) (*pipelinev1.UndeleteQuoteResponse, error) {
	id, err := parseID("quote_id", req.GetQuoteId())
	if err != nil {
		return nil, toStatus(err)
	}
	q, err := s.svc.Undelete(ctx, caller(ctx), id, req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.UndeleteQuoteResponse{Quote: protoconv.Quote(q)}, nil
}

// ReviseQuote implements the RPC.
func (s *QuoteServer) ReviseQuote(ctx context.Context, req *pipelinev1.ReviseQuoteRequest) (*pipelinev1.ReviseQuoteResponse, error) {
	id, err := parseID("quote_id", req.GetQuoteId())
	if err != nil {
		return nil, toStatus(err)
	}
	q, err := s.svc.Revise(ctx, caller(ctx), id, req.GetValidUntil(), req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.ReviseQuoteResponse{Quote: protoconv.Quote(q)}, nil
}

// SendQuote implements the RPC.
func (s *QuoteServer) SendQuote(ctx context.Context, req *pipelinev1.SendQuoteRequest) (*pipelinev1.SendQuoteResponse, error) {
	id, err := parseID("quote_id", req.GetQuoteId())
	if err != nil {
		return nil, toStatus(err)
	}
	q, err := s.svc.Send(ctx, caller(ctx), id, req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.SendQuoteResponse{Quote: protoconv.Quote(q)}, nil
}

// AcceptQuote implements the RPC.
func (s *QuoteServer) AcceptQuote(ctx context.Context, req *pipelinev1.AcceptQuoteRequest) (*pipelinev1.AcceptQuoteResponse, error) {
	id, err := parseID("quote_id", req.GetQuoteId())
	if err != nil {
		return nil, toStatus(err)
	}
	q, o, err := s.svc.Accept(ctx, caller(ctx), id, req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.AcceptQuoteResponse{Quote: protoconv.Quote(q), Order: protoconv.Order(o)}, nil
}

// RejectQuote implements the RPC.
func (s *QuoteServer) RejectQuote(ctx context.Context, req *pipelinev1.RejectQuoteRequest) (*pipelinev1.RejectQuoteResponse, error) {
	id, err := parseID("quote_id", req.GetQuoteId())
	if err != nil {
		return nil, toStatus(err)
	}
	q, err := s.svc.Reject(ctx, caller(ctx), id, req.GetReason(), req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.RejectQuoteResponse{Quote: protoconv.Quote(q)}, nil
}
