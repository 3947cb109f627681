// Package customer asks the customer service about customers, translating
// its statuses into the pipeline's domain errors.
package customer

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
)

// Client implements pipeline.Customers over CustomerService.
type Client struct {
	client customerv1.CustomerServiceClient
}

// New returns a client over conn, which forwards the caller's credentials
// (pkg/grpcclient), so the customer service applies the caller's own tenant and roles.
func New(conn grpc.ClientConnInterface) *Client {
	return &Client{client: customerv1.NewCustomerServiceClient(conn)}
}

// callTimeout bounds one lookup inside the inbound deadline.
const callTimeout = 3 * time.Second

// Exists implements pipeline.Customers. A soft-deleted customer does not
// exist for new work.
func (c *Client) Exists(ctx context.Context, id uuid.UUID) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := c.client.GetCustomer(cctx, &customerv1.GetCustomerRequest{CustomerId: id.String()})
	if err == nil {
		return resp.GetCustomer().GetDeleteTime() == nil, nil
	}
	if status.Code(err) == codes.NotFound {
		return false, nil
	}
	if ended := inboundErr(ctx); ended != nil {
		// The inbound call ended; report that rather than blame the peer.
		return false, fmt.Errorf("get customer %s: %w", id, ended)
	}
	return false, fmt.Errorf("%w: get customer %s: %w", pipeline.ErrCustomerLookup, id, err)
}

// inboundErr reports why the inbound call ended, if it has. Its deadline can
// pass a moment before ctx.Err says so, while gRPC already reports the peer
// call as DeadlineExceeded.
func inboundErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}
