// Package selection reads scheduled rules' selections from the services
// that own the resources (the customer service's ListCustomers for now):
// it implements rule.Selector, calling as the tenant's service principal
// (the credential pkg/iamclient's TenantDirectory issues, as the follower
// uses). The peers' statuses never pass upward.
package selection

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/integration/internal/rule"
)

// Limits of a call.
const (
	callTimeout = 10 * time.Second
	pageSize    = 200
)

// Credentials issues a bearer credential valid in a tenant.
type Credentials interface {
	Credential(ctx context.Context, tenant uuid.UUID) (string, error)
}

// Client implements rule.Selector.
type Client struct {
	customers customerv1.CustomerServiceClient
	creds     Credentials
}

// New returns a client over conn.
func New(conn grpc.ClientConnInterface, creds Credentials) *Client {
	return &Client{customers: customerv1.NewCustomerServiceClient(conn), creds: creds}
}

// Select implements rule.Selector: one page of customers, oldest first
// (by create_time, which never changes, so a run's pages neither skip nor
// repeat a customer whose other fields change mid-run).
func (c *Client) Select(ctx context.Context, tenant uuid.UUID, coll rule.Collection, filter, pageToken string) (rule.SelectionPage, error) {
	if coll != rule.Customers {
		return rule.SelectionPage{}, fmt.Errorf("select collection %d: %w", coll, rule.ErrSelectorUnavailable)
	}
	cred, err := c.creds.Credential(ctx, tenant)
	if err != nil {
		return rule.SelectionPage{}, fmt.Errorf("credential of %s: %w: %w", tenant, rule.ErrSelectorUnavailable, err)
	}
	cctx, cancel := context.WithTimeout(grpcclient.WithBearer(ctx, cred), callTimeout)
	defer cancel()
	resp, err := c.customers.ListCustomers(cctx, &customerv1.ListCustomersRequest{
		PageSize: pageSize, PageToken: pageToken, Filter: filter, OrderBy: "create_time"})
	switch {
	case ctx.Err() != nil:
		return rule.SelectionPage{}, fmt.Errorf("list customers: %w", ctx.Err())
	case status.Code(err) == codes.InvalidArgument:
		return rule.SelectionPage{}, validation.Field("rule.selection.filter", "refused by the customer service: %s", status.Convert(err).Message())
	case err != nil:
		return rule.SelectionPage{}, fmt.Errorf("list customers: %w: %w", rule.ErrSelectorUnavailable, err)
	}
	out := rule.SelectionPage{NextPageToken: resp.GetNextPageToken()}
	for _, cu := range resp.GetCustomers() {
		r := rule.Resource{Name: "customers/" + cu.GetCustomerId()}
		if t := cu.GetLastInteractionTime(); t != nil {
			r.Episode = t.AsTime().UTC().Format(time.RFC3339Nano)
		}
		out.Resources = append(out.Resources, r)
	}
	return out, nil
}
