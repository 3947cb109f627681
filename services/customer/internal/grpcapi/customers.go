package grpcapi

import (
	"context"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	eventsv1 "github.com/rapportcrm/rapport/gen/go/rapport/events/v1"
	"github.com/rapportcrm/rapport/pkg/events"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/protoconv"
	"github.com/rapportcrm/rapport/services/customer/internal/resolution"
	"github.com/rapportcrm/rapport/services/customer/internal/search"
)

// Customers implements customerv1.CustomerServiceServer.
type Customers struct {
	customerv1.UnimplementedCustomerServiceServer
	svc    *customer.Service
	search *search.Service
	pool   *pgxpool.Pool
	poll   time.Duration
	// duplicates, when set, finds the duplicate candidates of a created customer.
	duplicates *resolution.Service
}

// NewCustomers returns the server; search serves SearchCustomers, and pool
// and poll serve WatchEvents.
func NewCustomers(svc *customer.Service, search *search.Service, pool *pgxpool.Pool, poll time.Duration) *Customers {
	return &Customers{svc: svc, search: search, pool: pool, poll: poll}
}

func parseID(field, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, validation.Field(field, "must be a UUID")
	}
	return id, nil
}

// WithDuplicates makes CreateCustomer return, and queue for review, the
// duplicate candidates of the customer it created.
func (s *Customers) WithDuplicates(r *resolution.Service) *Customers {
	s.duplicates = r
	return s
}

// CreateCustomer implements the RPC.
func (s *Customers) CreateCustomer(ctx context.Context, req *customerv1.CreateCustomerRequest) (*customerv1.CreateCustomerResponse, error) {
	if req.GetCustomer() == nil {
		return nil, toStatus(validation.Field("customer", "is required"))
	}
	c, err := protoconv.FromCustomer(req.GetCustomer(), "customer.")
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.Create(ctx, caller(ctx), c, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.CreateCustomerResponse{Customer: protoconv.Customer(saved)}
	if s.duplicates != nil {
		// After the insert, in its own transaction: the customer exists
		// whatever the search finds, and a retry with the same request_id
		// returns it with its candidates.
		matches, err := s.duplicates.Created(ctx, caller(ctx), saved.ID)
		if err != nil {
			return nil, toStatus(err)
		}
		out.DuplicateCandidates = protoconv.DuplicateCandidates(matches)
	}
	return out, nil
}

// GetCustomer implements the RPC.
func (s *Customers) GetCustomer(ctx context.Context, req *customerv1.GetCustomerRequest) (*customerv1.GetCustomerResponse, error) {
	id, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	c, err := s.svc.Get(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.GetCustomerResponse{Customer: protoconv.Customer(c)}, nil
}

// ListCustomers implements the RPC.
func (s *Customers) ListCustomers(ctx context.Context, req *customerv1.ListCustomersRequest) (*customerv1.ListCustomersResponse, error) {
	page, err := s.svc.List(ctx, caller(ctx), customer.ListQuery{
		PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter(),
		OrderBy: req.GetOrderBy(), ShowDeleted: req.GetShowDeleted(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListCustomersResponse{NextPageToken: page.NextPageToken, Customers: make([]*customerv1.Customer, len(page.Customers))}
	for i, c := range page.Customers {
		out.Customers[i] = protoconv.Customer(c)
	}
	return out, nil
}

// UpdateCustomer implements the RPC.
func (s *Customers) UpdateCustomer(ctx context.Context, req *customerv1.UpdateCustomerRequest) (*customerv1.UpdateCustomerResponse, error) {
	if req.GetCustomer() == nil {
		return nil, toStatus(validation.Field("customer", "is required"))
	}
	id, err := parseID("customer.customer_id", req.GetCustomer().GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	c, err := protoconv.FromCustomer(req.GetCustomer(), "customer.")
	if err != nil {
		return nil, toStatus(err)
	}
	c.ID = id
	saved, err := s.svc.Update(ctx, caller(ctx), c, maskPaths(req.GetUpdateMask().GetPaths(), "customer_id", "merged_into_customer_id"), req.GetCustomer().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.UpdateCustomerResponse{Customer: protoconv.Customer(saved)}, nil
}

// DeleteCustomer implements the RPC.
func (s *Customers) DeleteCustomer(ctx context.Context, req *customerv1.DeleteCustomerRequest) (*customerv1.DeleteCustomerResponse, error) {
	id, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	c, err := s.svc.Delete(ctx, caller(ctx), id, req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.DeleteCustomerResponse{Customer: protoconv.Customer(c)}, nil
}

// UndeleteCustomer implements the RPC.
func (s *Customers) UndeleteCustomer(ctx context.Context, req *customerv1.UndeleteCustomerRequest) (*customerv1.UndeleteCustomerResponse, error) {
	id, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	c, err := s.svc.Undelete(ctx, caller(ctx), id, req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.UndeleteCustomerResponse{Customer: protoconv.Customer(c)}, nil
}

// WatchEvents implements the RPC.
func (s *Customers) WatchEvents(req *customerv1.WatchEventsRequest, stream customerv1.CustomerService_WatchEventsServer) error {
	ctx := stream.Context()
	err := events.Stream(ctx, s.pool, caller(ctx), "customer", req.GetAfterCursor(), req.GetTypes(), s.poll,
		func(e *eventsv1.Event) error { return stream.Send(&customerv1.WatchEventsResponse{Event: e}) })
	return toStatus(err)
}

// maskPaths drops the etag and the named output-only fields from a mask:
// over REST the mask is inferred from the body's fields, and a body echoed
// from a read carries them, the etag as the concurrency token.
func maskPaths(paths []string, outputOnly ...string) []string {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		if p != "etag" && !slices.Contains(outputOnly, p) {
			out = append(out, p)
		}
	}
	return out
}
