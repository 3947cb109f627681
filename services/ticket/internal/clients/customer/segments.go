// Package customer is the help desk's client of the customer service:
// segment members for NPS surveys and the partners a customer is linked
// to, both asked with the inbound caller's credentials.
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
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

// Segments implements ticket.Segments over ClassificationService. The
// connection forwards the inbound caller's credentials (pkg/grpcclient), so
// the customer service applies the caller's own tenant and access.
type Segments struct {
	client customerv1.ClassificationServiceClient
}

// NewSegments returns Segments over conn.
func NewSegments(conn grpc.ClientConnInterface) *Segments {
	return &Segments{client: customerv1.NewClassificationServiceClient(conn)}
}

// segmentTimeout bounds the whole listing inside the inbound deadline.
const segmentTimeout = 8 * time.Second

// Members implements ticket.Segments.
func (s *Segments) Members(ctx context.Context, segmentID uuid.UUID, limit int) ([]uuid.UUID, error) {
	ctx, cancel := context.WithTimeout(ctx, segmentTimeout)
	defer cancel()
	var out []uuid.UUID
	token := ""
	for {
		resp, err := s.client.ListSegmentMembers(ctx, &customerv1.ListSegmentMembersRequest{
			SegmentId: segmentID.String(), PageSize: 1000, PageToken: token})
		switch status.Code(err) {
		case codes.OK:
		case codes.NotFound, codes.InvalidArgument:
			return nil, fmt.Errorf("%w: %s", ticket.ErrSegmentNotFound, segmentID)
		case codes.PermissionDenied:
			return nil, fmt.Errorf("list members of segment %s: %w", segmentID, auth.ErrForbidden)
		default:
			return nil, fmt.Errorf("%w: list members of segment %s: %w", ticket.ErrSegmentLookup, segmentID, err)
		}
		for _, m := range resp.GetMembers() {
			id, err := uuid.Parse(m.GetCustomerId())
			if err != nil {
				return nil, fmt.Errorf("%w: member id %q: %w", ticket.ErrSegmentLookup, m.GetCustomerId(), err)
			}
			out = append(out, id)
		}
		if token = resp.GetNextPageToken(); token == "" || len(out) > limit {
			return out, nil
		}
	}
}
