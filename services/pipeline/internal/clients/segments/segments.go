// Package segments asks the customer service's ClassificationService about
// segments, with the caller's own credentials (pkg/grpcclient forwards
// them), so the caller's tenant and roles apply there too.
package segments

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/services/pipeline/internal/marketing"
)

// Client implements marketing.Segments.
type Client struct {
	client customerv1.ClassificationServiceClient
}

// New returns a client over conn.
func New(conn grpc.ClientConnInterface) *Client {
	return &Client{client: customerv1.NewClassificationServiceClient(conn)}
}

// callTimeout bounds one call inside the inbound deadline.
const callTimeout = 3 * time.Second

// maxMembers bounds one sync, which holds the members in memory.
const maxMembers = 200000

// Exists reports whether the segment exists.
func (c *Client) Exists(ctx context.Context, id uuid.UUID) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err := c.client.GetSegment(cctx, &customerv1.GetSegmentRequest{SegmentId: id.String()})
	switch {
	case err == nil:
		return true, nil
	case status.Code(err) == codes.NotFound:
		return false, nil
	case ctx.Err() != nil:
		return false, fmt.Errorf("get segment %s: %w", id, ctx.Err())
	}
	return false, fmt.Errorf("%w: get segment %s: %w", marketing.ErrSegmentLookup, id, err)
}

// Members pages through the segment's current members.
func (c *Client) Members(ctx context.Context, id uuid.UUID) ([]uuid.UUID, error) {
	var out []uuid.UUID
	token := ""
	for {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		resp, err := c.client.ListSegmentMembers(cctx, &customerv1.ListSegmentMembersRequest{SegmentId: id.String(), PageSize: 1000, PageToken: token})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("list segment %s members: %w", id, ctx.Err())
			}
			return nil, fmt.Errorf("%w: list segment %s members: %w", marketing.ErrSegmentLookup, id, err)
		}
		for _, m := range resp.GetMembers() {
			cid, err := uuid.Parse(m.GetCustomerId())
			if err != nil {
				return nil, fmt.Errorf("%w: segment member id %q: %w", marketing.ErrSegmentLookup, m.GetCustomerId(), err)
			}
			out = append(out, cid)
		}
		token = resp.GetNextPageToken()
		if token == "" {
			return out, nil
		}
		if len(out) >= maxMembers {
			return nil, fmt.Errorf("%w: segment %s has more than %d members", marketing.ErrSegmentTooLarge, id, maxMembers)
		}
	}
}
