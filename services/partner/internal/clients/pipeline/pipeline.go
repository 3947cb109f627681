// Package pipeline is the partner service's client of the sales-pipeline
// service: open opportunities for conflict detection, and the opportunity
// an approved registration creates or links. The peer's statuses never
// pass upward.
package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/services/partner/internal/dealreg"
)

// callTimeout bounds one call inside the inbound deadline.
const callTimeout = 3 * time.Second

// maxOpen bounds the open opportunities read per customer: one is enough
// to conflict, a few name the collisions.
const maxOpen = 20

// Client implements dealreg.Opportunities with the caller's forwarded credentials.
type Client struct {
	client pipelinev1.PipelineServiceClient
}

// New returns a client over conn.
func New(conn grpc.ClientConnInterface) *Client {
	return &Client{client: pipelinev1.NewPipelineServiceClient(conn)}
}

func peerErr(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", op, ctxErr)
	}
	return fmt.Errorf("%w: %s: %w", dealreg.ErrPeer, op, err)
}

// Open implements dealreg.Opportunities.
func (c *Client) Open(ctx context.Context, customerID uuid.UUID) ([]dealreg.Opportunity, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := c.client.ListOpportunities(cctx, &pipelinev1.ListOpportunitiesRequest{
		Filter: fmt.Sprintf(`customer_id = "%s" AND stage_kind = STAGE_KIND_OPEN`, customerID), PageSize: maxOpen,
	})
	if err != nil {
		return nil, peerErr(ctx, "list open opportunities", err)
	}
	out := make([]dealreg.Opportunity, 0, len(resp.GetOpportunities()))
	for _, o := range resp.GetOpportunities() {
		id, err := uuid.Parse(o.GetOpportunityId())
		if err != nil {
			return nil, peerErr(ctx, "list open opportunities", err)
		}
		src, _ := uuid.Parse(o.GetSourcePartnerId()) // empty: direct business, uuid.Nil
		out = append(out, dealreg.Opportunity{ID: id, SourcePartnerID: src})
	}
	return out, nil
}

// Create implements dealreg.Opportunities.
func (c *Client) Create(ctx context.Context, requestID string, d dealreg.OpportunityDraft) (uuid.UUID, error) {
	o := &pipelinev1.Opportunity{
		CustomerId: d.CustomerID.String(), DisplayName: d.DisplayName, SourcePartnerId: d.PartnerID.String(),
		ExpectedCloseDate: d.ExpectedCloseDate,
		Amount:            &typesv1.Money{CurrencyCode: d.Amount.CurrencyCode, AmountMinor: d.Amount.AmountMinor},
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := c.client.CreateOpportunity(cctx, &pipelinev1.CreateOpportunityRequest{Opportunity: o, RequestId: requestID})
	if err != nil {
		return uuid.Nil, peerErr(ctx, "create opportunity", err)
	}
	id, err := uuid.Parse(resp.GetOpportunity().GetOpportunityId())
	if err != nil {
		return uuid.Nil, peerErr(ctx, "create opportunity", err)
	}
	return id, nil
}

// SetSourcePartner implements dealreg.Opportunities; setting the same
// partner again changes nothing but the revision.
func (c *Client) SetSourcePartner(ctx context.Context, id, partnerID uuid.UUID) error {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err := c.client.UpdateOpportunity(cctx, &pipelinev1.UpdateOpportunityRequest{
		Opportunity: &pipelinev1.Opportunity{OpportunityId: id.String(), SourcePartnerId: partnerID.String()},
		UpdateMask:  &fieldmaskpb.FieldMask{Paths: []string{"source_partner_id"}},
	})
	if err != nil {
		return peerErr(ctx, "link opportunity", err)
	}
	return nil
}
