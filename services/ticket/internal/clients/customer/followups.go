// Package customer is the help desk's client of the customer service:
// segment members for NPS surveys, with the caller's credentials, and
// detractor follow-ups, with the service's own key (its background work has
// no inbound caller to act for).
package customer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

// ErrWrongTenant means a follow-up was asked for in a tenant the service's
// key does not belong to.
var ErrWrongTenant = errors.New("the service key belongs to another tenant")

// FollowUps implements ticket.FollowUps over RelationshipService with the
// ticket service's own API key (TICKET_SERVICE_API_KEY). An API key belongs
// to one tenant, so it serves that tenant only.
type FollowUps struct {
	client customerv1.RelationshipServiceClient
	key    string
	tenant string
}

// New returns FollowUps over conn that authenticates with key, a key of tenant.
func New(conn grpc.ClientConnInterface, key, tenant string) *FollowUps {
	return &FollowUps{client: customerv1.NewRelationshipServiceClient(conn), key: key, tenant: tenant}
}

// callTimeout bounds one call.
const callTimeout = 5 * time.Second

// followUpDue is how soon an unhappy customer should hear from the business.
const followUpDue = 24 * time.Hour

// CreateFollowUp implements ticket.FollowUps.
func (f *FollowUps) CreateFollowUp(ctx context.Context, tenant string, d ticket.Detractor) (string, error) {
	if tenant != f.tenant {
		return "", fmt.Errorf("%w: %s", ErrWrongTenant, tenant)
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+f.key)
	resp, err := f.client.CreateFollowUp(ctx, &customerv1.CreateFollowUpRequest{
		RequestId: d.RequestID(),
		FollowUp: &customerv1.FollowUp{
			CustomerId: d.CustomerID.String(),
			Title:      d.Title(),
			Notes:      d.Notes(),
			DueTime:    timestamppb.New(time.Now().Add(followUpDue)),
		},
	})
	if err != nil {
		return "", fmt.Errorf("create follow-up for %s: %w", d.Resource(), err)
	}
	return resp.GetFollowUp().GetFollowUpId(), nil
}
