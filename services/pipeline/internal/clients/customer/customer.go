// Package customer is the lead domain's port to the customer service: it
// matches leads against customers and creates the customers they become,
// over gRPC with the caller's credentials (pkg/grpcclient forwards them), so
// the customer service applies the caller's own tenant and roles.
package customer

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/customerclient"
	"github.com/rapportcrm/rapport/services/pipeline/internal/lead"
)

// Client implements lead.Customers.
type Client struct {
	customers customerv1.CustomerServiceClient
	profiles  customerv1.ProfileServiceClient
	exists    *customerclient.Client
}

// New returns a client over conn.
func New(conn grpc.ClientConnInterface) *Client {
	return &Client{
		customers: customerv1.NewCustomerServiceClient(conn),
		profiles:  customerv1.NewProfileServiceClient(conn),
		exists:    customerclient.New(conn, lead.ErrCustomerLookup),
	}
}

// callTimeout bounds one call inside the inbound deadline.
const callTimeout = 3 * time.Second

// lookupErr wraps a failed peer call as the domain's lookup error, unless the
// inbound call itself ended. The peer's status never passes upward.
func lookupErr(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", op, ctxErr)
	}
	return fmt.Errorf("%w: %s: %w", lead.ErrCustomerLookup, op, err)
}

// Match implements lead.Customers with ListCustomers filters on the
// customer's primary e-mail (case-insensitive) and phone (E.164, as the
// customer service stores it).
func (c *Client) Match(ctx context.Context, email, phone string) (uuid.UUID, bool, error) {
	for _, f := range []struct{ field, value string }{{"email", email}, {"phone", phone}} {
		if f.value == "" {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		resp, err := c.customers.ListCustomers(cctx, &customerv1.ListCustomersRequest{
			PageSize: 1, Filter: f.field + " = " + strconv.Quote(f.value)})
		cancel()
		if err != nil {
			return uuid.Nil, false, lookupErr(ctx, "match customers by "+f.field, err)
		}
		if cs := resp.GetCustomers(); len(cs) > 0 {
			id, err := uuid.Parse(cs[0].GetCustomerId())
			if err != nil {
				return uuid.Nil, false, fmt.Errorf("customer service returned id %q: %w", cs[0].GetCustomerId(), err)
			}
			return id, true, nil
		}
	}
	return uuid.Nil, false, nil
}

// Exists implements lead.Customers.
func (c *Client) Exists(ctx context.Context, id uuid.UUID) (bool, error) {
	return c.exists.Exists(ctx, id)
}

// CreateFromLead implements lead.Customers. The request ids are derived
// from the lead, so a retried conversion gets the customers (and contact
// link) the first attempt made.
func (c *Client) CreateFromLead(ctx context.Context, l lead.Lead) (uuid.UUID, error) {
	owner := ""
	if l.OwnerID != nil {
		owner = l.OwnerID.String()
	}
	person, err := c.create(ctx, &customerv1.Customer{
		Kind: customerv1.CustomerKind_CUSTOMER_KIND_PERSON, DisplayName: l.DisplayName, Email: l.Email, Phone: l.Phone,
		LifecycleStage: customerv1.LifecycleStage_LIFECYCLE_STAGE_PROSPECT, OwnerId: owner, SourceChannel: l.Source,
	}, "lead-"+l.ID.String()+"-person")
	if err != nil || l.CompanyName == "" {
		return person, err
	}
	org, err := c.create(ctx, &customerv1.Customer{
		Kind: customerv1.CustomerKind_CUSTOMER_KIND_ORGANIZATION, DisplayName: l.CompanyName,
		LifecycleStage: customerv1.LifecycleStage_LIFECYCLE_STAGE_PROSPECT, OwnerId: owner, SourceChannel: l.Source,
	}, "lead-"+l.ID.String()+"-org")
	if err != nil {
		return uuid.Nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err = c.profiles.CreateOrganizationContact(cctx, &customerv1.CreateOrganizationContactRequest{
		OrganizationContact: &customerv1.OrganizationContact{OrganizationId: org.String(), PersonId: person.String(), PrimaryContact: true},
		RequestId:           "lead-" + l.ID.String() + "-contact",
	})
	if err != nil {
		return uuid.Nil, lookupErr(ctx, "link contact", err)
	}
	return org, nil
}

func (c *Client) create(ctx context.Context, m *customerv1.Customer, requestID string) (uuid.UUID, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := c.customers.CreateCustomer(cctx, &customerv1.CreateCustomerRequest{Customer: m, RequestId: requestID})
	if status.Code(err) == codes.InvalidArgument {
		// The lead's data did not pass the customer service's rules.
		return uuid.Nil, fmt.Errorf("%w: %w", lead.ErrCustomerRejected, err)
	}
	if err != nil {
		return uuid.Nil, lookupErr(ctx, "create customer", err)
	}
	id, err := uuid.Parse(resp.GetCustomer().GetCustomerId())
	if err != nil {
		return uuid.Nil, fmt.Errorf("customer service returned id %q: %w", resp.GetCustomer().GetCustomerId(), err)
	}
	return id, nil
}
