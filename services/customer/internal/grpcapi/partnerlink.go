package grpcapi

import (
	"context"

	"github.com/google/uuid"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/partnerlink"
	"github.com/rapportcrm/rapport/services/customer/internal/protoconv"
)

// PartnerLinks implements customerv1.PartnerLinkServiceServer.
type PartnerLinks struct {
	customerv1.UnimplementedPartnerLinkServiceServer
	svc *partnerlink.Service
}

// NewPartnerLinks returns the server.
func NewPartnerLinks(svc *partnerlink.Service) *PartnerLinks { return &PartnerLinks{svc: svc} }

// linkIDs parses the customer and partner ids of a link request.
func linkIDs(customerID, partnerID string) (uuid.UUID, uuid.UUID, error) {
	v := &validation.Error{}
	c, err := uuid.Parse(customerID)
	if err != nil {
		v.Add("customer_id", "must be a UUID")
	}
	p, err := uuid.Parse(partnerID)
	if err != nil {
		v.Add("partner_id", "must be a UUID")
	}
	return c, p, v.Err()
}

// LinkCustomerToPartner implements the RPC.
func (s *PartnerLinks) LinkCustomerToPartner(ctx context.Context, req *customerv1.LinkCustomerToPartnerRequest) (*customerv1.LinkCustomerToPartnerResponse, error) {
	c, p, err := linkIDs(req.GetCustomerId(), req.GetPartnerId())
	if err != nil {
		return nil, toStatus(err)
	}
	l, err := s.svc.Link(ctx, caller(ctx), c, p)
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.LinkCustomerToPartnerResponse{Link: protoconv.PartnerLink(l)}, nil
}

// UnlinkCustomerFromPartner implements the RPC.
func (s *PartnerLinks) UnlinkCustomerFromPartner(ctx context.Context, req *customerv1.UnlinkCustomerFromPartnerRequest) (*customerv1.UnlinkCustomerFromPartnerResponse, error) {
	c, p, err := linkIDs(req.GetCustomerId(), req.GetPartnerId())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.svc.Unlink(ctx, caller(ctx), c, p); err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.UnlinkCustomerFromPartnerResponse{}, nil
}

// ListCustomerPartnerLinks implements the RPC. The page token holds the
// last partner id shown, bound to the customer.
func (s *PartnerLinks) ListCustomerPartnerLinks(ctx context.Context, req *customerv1.ListCustomerPartnerLinksRequest) (*customerv1.ListCustomerPartnerLinksResponse, error) {
	c, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	var after uuid.UUID
	if t := req.GetPageToken(); t != "" {
		if err := pagetoken.Decode(t, c.String(), &after); err != nil {
			return nil, toStatus(validation.Field("page_token", "is not a token from this query; start again without it"))
		}
	}
	links, more, err := s.svc.List(ctx, caller(ctx), c, after, int(req.GetPageSize()))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListCustomerPartnerLinksResponse{Links: make([]*customerv1.CustomerPartnerLink, len(links))}
	for i, l := range links {
		out.Links[i] = protoconv.PartnerLink(l)
	}
	if more {
		if out.NextPageToken, err = pagetoken.Encode(c.String(), links[len(links)-1].PartnerID); err != nil {
			return nil, toStatus(err)
		}
	}
	return out, nil
}
