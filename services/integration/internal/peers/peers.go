// Package peers performs rule actions through the other services' public
// gRPC APIs, acting for a tenant with the credential its directory issues.
package peers

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/causation"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
	"github.com/rapportcrm/rapport/services/integration/internal/ruleaction"
)

// Credentials issues what to act for a tenant with.
type Credentials interface {
	Credential(ctx context.Context, tenant uuid.UUID) (string, error)
}

// Target implements ruleaction.Target.
type Target struct {
	creds         Credentials
	relationships customerv1.RelationshipServiceClient
}

// New returns a Target.
func New(creds Credentials, relationships customerv1.RelationshipServiceClient) *Target {
	return &Target{creds: creds, relationships: relationships}
}

func (t *Target) context(ctx context.Context, tenant uuid.UUID, cause ruleaction.Cause) (context.Context, error) {
	cred, err := t.creds.Credential(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("credential: %w", err)
	}
	// The call joins the trace of the event the rule acted on, and its
	// changes' events name the action as their cause.
	ctx = propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": cause.TraceParent})
	return causation.Outgoing(grpcclient.WithBearer(ctx, cred), cause.ActionID.String()), nil
}

// CreateFollowUp implements ruleaction.Target.
func (t *Target) CreateFollowUp(ctx context.Context, tenant uuid.UUID, cause ruleaction.Cause, f ruleaction.FollowUp, requestID string) (string, error) {
	ctx, err := t.context(ctx, tenant, cause)
	if err != nil {
		return "", err
	}
	resp, err := t.relationships.CreateFollowUp(ctx, &customerv1.CreateFollowUpRequest{RequestId: requestID, FollowUp: &customerv1.FollowUp{
		CustomerId: f.CustomerID.String(), Title: f.Title, Notes: f.Notes, AssigneeId: f.AssigneeID, DueTime: timestamppb.New(f.DueTime)}})
	if err != nil {
		return "", classify("create follow-up", err)
	}
	return "followUps/" + resp.GetFollowUp().GetFollowUpId(), nil
}

// classify marks the failures retrying cannot mend as permanent.
func classify(what string, err error) error {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.NotFound, codes.PermissionDenied, codes.FailedPrecondition:
		return fmt.Errorf("%w: %s: %s", ruleaction.ErrPermanent, what, status.Convert(err).Message())
	}
	return fmt.Errorf("%s: %w", what, err)
}
