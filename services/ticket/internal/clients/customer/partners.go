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

// PartnerLinks implements ticket.PartnerLinks over PartnerLinkService, with
// the inbound caller's credentials like Segments.
type PartnerLinks struct {
	client customerv1.PartnerLinkServiceClient
}

// NewPartnerLinks returns PartnerLinks over conn.
func NewPartnerLinks(conn grpc.ClientConnInterface) *PartnerLinks {
	return &PartnerLinks{client: customerv1.NewPartnerLinkServiceClient(conn)}
}

// partnersTimeout bounds the whole listing inside the inbound deadline.
const partnersTimeout = 3 * time.Second

// CustomerPartners implements ticket.PartnerLinks. A customer the peer no
// longer finds has no partners.
func (p *PartnerLinks) CustomerPartners(ctx context.Context, customerID uuid.UUID) ([]uuid.UUID, error) {
	ctx, cancel := context.WithTimeout(ctx, partnersTimeout)
	defer cancel()
	var out []uuid.UUID
	token := ""
	for {
		resp, err := p.client.ListCustomerPartnerLinks(ctx, &customerv1.ListCustomerPartnerLinksRequest{
			CustomerId: customerID.String(), PageSize: 1000, PageToken: token})
		switch status.Code(err) {
		case codes.OK:
		case codes.NotFound:
			return nil, nil
		case codes.PermissionDenied:
			return nil, fmt.Errorf("list partner links of customer %s: %w", customerID, auth.ErrForbidden)
		default:
			return nil, fmt.Errorf("%w: list partner links of customer %s: %w", ticket.ErrCustomerLookup, customerID, err)
		}
		for _, l := range resp.GetLinks() {
			id, err := uuid.Parse(l.GetPartnerId())
			if err != nil {
				return nil, fmt.Errorf("%w: partner id %q: %w", ticket.ErrCustomerLookup, l.GetPartnerId(), err)
			}
			out = append(out, id)
		}
		if token = resp.GetNextPageToken(); token == "" {
			return out, nil
		}
	}
}
