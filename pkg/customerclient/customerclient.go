// Package customerclient asks the customer service whether customers exist,
// for the services that attach their records to customers (pipeline, ticket).
// The peer's statuses never pass upward: a failed lookup becomes the error
// the calling service's domain declares for it.
package customerclient

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
)

// Client answers whether a customer exists over CustomerService; it
// implements the Customers port of the pipeline and ticket domains.
type Client struct {
	client    customerv1.CustomerServiceClient
	lookupErr error
}

// New returns a client over conn, which forwards the caller's credentials
// (pkg/grpcclient), so the customer service applies the caller's own tenant
// and roles. A lookup the peer fails wraps lookupErr, the caller's domain
// sentinel, so each service keeps its own error and its own mapping of it.
func New(conn grpc.ClientConnInterface, lookupErr error) *Client {
	return &Client{client: customerv1.NewCustomerServiceClient(conn), lookupErr: lookupErr}
}

// callTimeout bounds one lookup inside the inbound deadline.
const callTimeout = 3 * time.Second

// Exists reports whether the customer id exists. A soft-deleted customer
// does not exist for new work.
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
	return false, fmt.Errorf("%w: get customer %s: %w", c.lookupErr, id, err)
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
