// Package customer asks the customer service to act on churn risks: it
// implements insight.Customers over gRPC. The connection forwards the
// caller's credentials (pkg/grpcclient), so the customer service applies the
// caller's own tenant and roles. The peer's statuses never pass upward.
package customer

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/services/analytics/internal/insight"
)

// callTimeout bounds each call inside the inbound deadline.
const callTimeout = 5 * time.Second

// Client implements insight.Customers.
type Client struct {
	classify     customerv1.ClassificationServiceClient
	relationship customerv1.RelationshipServiceClient
}

// New returns a client over conn.
func New(conn grpc.ClientConnInterface) *Client {
	return &Client{classify: customerv1.NewClassificationServiceClient(conn), relationship: customerv1.NewRelationshipServiceClient(conn)}
}

// MarkAtRisk implements insight.Customers.
func (c *Client) MarkAtRisk(ctx context.Context, customer uuid.UUID, reason string) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err := c.classify.TransitionLifecycleStage(cctx, &customerv1.TransitionLifecycleStageRequest{
		CustomerId: customer.String(), LifecycleStage: customerv1.LifecycleStage_LIFECYCLE_STAGE_AT_RISK, Reason: reason})
	if status.Code(err) == codes.FailedPrecondition {
		return false, nil
	}
	if err != nil {
		return false, peerErr(ctx, "move customer to at-risk", customer, err)
	}
	return true, nil
}

// CreateWinBack implements insight.Customers.
func (c *Client) CreateWinBack(ctx context.Context, customer uuid.UUID, title, notes string, due time.Time, requestID string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := c.relationship.CreateFollowUp(cctx, &customerv1.CreateFollowUpRequest{RequestId: requestID, FollowUp: &customerv1.FollowUp{
		CustomerId: customer.String(), Title: title, Notes: notes, DueTime: timestamppb.New(due)}})
	if err != nil {
		return "", peerErr(ctx, "create win-back follow-up", customer, err)
	}
	return resp.GetFollowUp().GetFollowUpId(), nil
}

// peerErr turns the customer service's status into insight's errors.
func peerErr(ctx context.Context, op string, customer uuid.UUID, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s %s: %w", op, customer, ctx.Err())
	}
	switch status.Code(err) {
	case codes.NotFound:
		return fmt.Errorf("%s %s: %w", op, customer, insight.ErrCustomerNotFound)
	case codes.PermissionDenied:
		return fmt.Errorf("%s %s: %w", op, customer, auth.ErrForbidden)
	}
	return fmt.Errorf("%w: %s %s: %w", insight.ErrCustomerServiceUnavailable, op, customer, err)
}
