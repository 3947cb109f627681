// Package customer is the partner service's client of the customer service:
// identity resolution for conflict detection, customers for approved
// prospects, and partner links. The peer's statuses never pass upward.
package customer

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/services/partner/internal/dealreg"
)

// callTimeout bounds one call inside the inbound deadline.
const callTimeout = 3 * time.Second

// Client implements dealreg.Customers over the customer service's API,
// with the caller's forwarded credentials.
type Client struct {
	customers customerv1.CustomerServiceClient
	links     customerv1.PartnerLinkServiceClient
}

// New returns a client over conn.
func New(conn grpc.ClientConnInterface) *Client {
	return &Client{customers: customerv1.NewCustomerServiceClient(conn), links: customerv1.NewPartnerLinkServiceClient(conn)}
}

// peerErr turns a failed call into the domain's error, unless the inbound
// call itself ended.
func peerErr(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", op, ctxErr)
	}
	return fmt.Errorf("%w: %s: %w", dealreg.ErrPeer, op, err)
}

// literal quotes a value for an AIP-160 filter; ok is false for values the
// filter syntax cannot carry verbatim, which then take no part in matching.
func literal(s string) (string, bool) {
	if s == "" || strings.ContainsAny(s, "\"\\*") {
		return "", false
	}
	return `"` + s + `"`, true
}

// matchPage bounds the customers one identity query returns.
const matchPage = 10

// Match implements dealreg.Customers with ListCustomers: first by the
// identifiers that name one customer (exact e-mail, case-insensitive, or
// phone), then by company name. Two calls, because in one OR query a common
// name's namesakes (dozens at a million customers) would fill the page,
// ordered by creation, ahead of the customer with the same e-mail.
func (c *Client) Match(ctx context.Context, p dealreg.Prospect) ([]dealreg.Customer, error) {
	var strong []string
	if v, ok := literal(dealreg.NormalizeEmail(p.Email)); ok {
		strong = append(strong, "email = "+v)
	}
	if v, ok := literal(dealreg.NormalizePhone(p.Phone)); ok {
		strong = append(strong, "phone = "+v)
	}
	var out []dealreg.Customer
	seen := map[uuid.UUID]bool{}
	for _, terms := range [][]string{strong, nameTerms(p)} {
		if len(terms) == 0 {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		resp, err := c.customers.ListCustomers(cctx, &customerv1.ListCustomersRequest{Filter: strings.Join(terms, " OR "), PageSize: matchPage})
		cancel()
		if err != nil {
			return nil, peerErr(ctx, "match customers", err)
		}
		for _, m := range resp.GetCustomers() {
			id, err := uuid.Parse(m.GetCustomerId())
			if err != nil {
				return nil, peerErr(ctx, "match customers", err)
			}
			if !seen[id] {
				seen[id] = true
				out = append(out, dealreg.Customer{ID: id, OwnerID: m.GetOwnerId(), Match: matchReason(p, m)})
			}
		}
	}
	return out, nil
}

// nameTerms matches the prospect's company name exactly.
func nameTerms(p dealreg.Prospect) []string {
	if v, ok := literal(strings.TrimSpace(p.CompanyName)); ok {
		return []string{"display_name = " + v}
	}
	return nil
}

// matchReason says which identity field matched, without repeating it.
func matchReason(p dealreg.Prospect, m *customerv1.Customer) string {
	switch {
	case p.Email != "" && strings.EqualFold(dealreg.NormalizeEmail(p.Email), m.GetEmail()):
		return "same e-mail"
	case p.Phone != "" && dealreg.NormalizePhone(p.Phone) == m.GetPhone():
		return "same phone"
	}
	return "same company name"
}

// Get implements dealreg.Customers.
func (c *Client) Get(ctx context.Context, id uuid.UUID) (dealreg.Customer, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := c.customers.GetCustomer(cctx, &customerv1.GetCustomerRequest{CustomerId: id.String()})
	if status.Code(err) == codes.NotFound || (err == nil && resp.GetCustomer().GetDeleteTime() != nil) {
		return dealreg.Customer{}, fmt.Errorf("%w: %s", dealreg.ErrCustomerNotFound, id)
	}
	if err != nil {
		return dealreg.Customer{}, peerErr(ctx, "get customer "+id.String(), err)
	}
	return dealreg.Customer{ID: id, OwnerID: resp.GetCustomer().GetOwnerId()}, nil
}

// Create implements dealreg.Customers: the prospect becomes an
// organisation (a person when it has no company name).
func (c *Client) Create(ctx context.Context, requestID string, p dealreg.Prospect) (uuid.UUID, error) {
	m := &customerv1.Customer{Kind: customerv1.CustomerKind_CUSTOMER_KIND_ORGANIZATION, DisplayName: p.CompanyName,
		Email: p.Email, Phone: p.Phone, SourceChannel: "partner"}
	if p.CompanyName == "" {
		m.Kind = customerv1.CustomerKind_CUSTOMER_KIND_PERSON
		m.DisplayName = p.Email
		if m.DisplayName == "" {
			m.DisplayName = p.Phone
		}
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := c.customers.CreateCustomer(cctx, &customerv1.CreateCustomerRequest{Customer: m, RequestId: requestID})
	if err != nil {
		return uuid.Nil, peerErr(ctx, "create customer", err)
	}
	id, err := uuid.Parse(resp.GetCustomer().GetCustomerId())
	if err != nil {
		return uuid.Nil, peerErr(ctx, "create customer", err)
	}
	return id, nil
}

// LinkPartner implements dealreg.Customers.
func (c *Client) LinkPartner(ctx context.Context, customerID, partnerID uuid.UUID) error {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err := c.links.LinkCustomerToPartner(cctx, &customerv1.LinkCustomerToPartnerRequest{CustomerId: customerID.String(), PartnerId: partnerID.String()})
	if status.Code(err) == codes.NotFound {
		return fmt.Errorf("%w: %s", dealreg.ErrCustomerNotFound, customerID)
	}
	if err != nil {
		return peerErr(ctx, "link customer to partner", err)
	}
	return nil
}
