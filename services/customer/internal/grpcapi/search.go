package grpcapi

import (
	"context"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/services/customer/internal/protoconv"
	"github.com/rapportcrm/rapport/services/customer/internal/search"
)

// SearchCustomers implements the RPC.
func (s *Customers) SearchCustomers(ctx context.Context, req *customerv1.SearchCustomersRequest) (*customerv1.SearchCustomersResponse, error) {
	page, err := s.search.Search(ctx, caller(ctx), search.Query{
		Text: req.GetQuery(), Filter: req.GetFilter(), PageSize: int(req.GetPageSize()),
		PageToken: req.GetPageToken(), IncludeDeleted: req.GetIncludeDeleted(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.SearchCustomersResponse{NextPageToken: page.NextPageToken, Results: make([]*customerv1.SearchResult, len(page.Results))}
	for i, r := range page.Results {
		out.Results[i] = protoconv.SearchResult(r)
	}
	return out, nil
}
