// Package customer looks customers up in the customer service for the
// e-mail workers: their primary address, name, language and time zone,
// and their e-mail marketing consent.
package customer

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
	"github.com/rapportcrm/rapport/services/integration/internal/email"
)

// Custom attributes a tenant may define on its customers to give their
// language (BCP 47) and time zone (IANA); the customer record has no
// fields of its own for them.
const (
	LanguageAttribute = "language"
	TimeZoneAttribute = "time_zone"
)

// Credentials issue the bearer credential to act in a tenant with.
type Credentials interface {
	Credential(ctx context.Context, tenant uuid.UUID) (string, error)
}

// Client implements email.Customers over gRPC.
type Client struct {
	customers customerv1.CustomerServiceClient
	profiles  customerv1.ProfileServiceClient
	creds     Credentials
	timeout   time.Duration
}

// New returns a Client.
func New(customers customerv1.CustomerServiceClient, profiles customerv1.ProfileServiceClient, creds Credentials, timeout time.Duration) *Client {
	return &Client{customers: customers, profiles: profiles, creds: creds, timeout: timeout}
}

func (c *Client) call(ctx context.Context, tenant uuid.UUID) (context.Context, context.CancelFunc, error) {
	cred, err := c.creds.Credential(ctx, tenant)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	return grpcclient.WithBearer(ctx, cred), cancel, nil
}

// Recipient implements email.Customers.
func (c *Client) Recipient(ctx context.Context, tenant, id uuid.UUID) (email.Recipient, error) {
	cctx, cancel, err := c.call(ctx, tenant)
	if err != nil {
		return email.Recipient{}, err
	}
	defer cancel()
	resp, err := c.customers.GetCustomer(cctx, &customerv1.GetCustomerRequest{CustomerId: id.String()})
	if status.Code(err) == codes.NotFound {
		return email.Recipient{}, email.ErrCustomerNotFound
	}
	if err != nil {
		return email.Recipient{}, fmt.Errorf("get customer %s: %w", id, err)
	}
	cu := resp.GetCustomer()
	if cu.GetDeleteTime() != nil {
		return email.Recipient{}, email.ErrCustomerNotFound
	}
	attrs := cu.GetCustomAttributes()
	return email.Recipient{Address: cu.GetEmail(), Name: cu.GetDisplayName(),
		Language: attrs[LanguageAttribute].GetStringValue(), TimeZone: attrs[TimeZoneAttribute].GetStringValue()}, nil
}

// MarketingConsent implements email.Customers: only a current GRANTED
// consent for e-mail marketing counts.
func (c *Client) MarketingConsent(ctx context.Context, tenant, id uuid.UUID) (bool, error) {
	cctx, cancel, err := c.call(ctx, tenant)
	if err != nil {
		return false, err
	}
	defer cancel()
	resp, err := c.profiles.ListConsents(cctx, &customerv1.ListConsentsRequest{CustomerId: id.String()})
	if status.Code(err) == codes.NotFound {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("consents of customer %s: %w", id, err)
	}
	for _, k := range resp.GetConsents() {
		if k.GetChannel() == customerv1.ConsentChannel_CONSENT_CHANNEL_EMAIL && k.GetPurpose() == customerv1.ConsentPurpose_CONSENT_PURPOSE_MARKETING {
			return k.GetState() == customerv1.ConsentState_CONSENT_STATE_GRANTED, nil
		}
	}
	return false, nil
}
