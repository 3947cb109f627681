// Package peers performs rule actions through the other services' public
// gRPC APIs, acting for a tenant with the credential its directory issues.
package peers

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
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
	creds          Credentials
	relationships  customerv1.RelationshipServiceClient
	customers      customerv1.CustomerServiceClient
	classification customerv1.ClassificationServiceClient
	profiles       customerv1.ProfileServiceClient
	tickets        ticketv1.TicketServiceClient
	marketing      pipelinev1.MarketingServiceClient
}

// New returns a Target that calls the customer, ticket and pipeline
// services over their connections.
func New(creds Credentials, customer, ticket, pipeline grpc.ClientConnInterface) *Target {
	return &Target{creds: creds, relationships: customerv1.NewRelationshipServiceClient(customer),
		customers: customerv1.NewCustomerServiceClient(customer), classification: customerv1.NewClassificationServiceClient(customer),
		profiles: customerv1.NewProfileServiceClient(customer), tickets: ticketv1.NewTicketServiceClient(ticket),
		marketing: pipelinev1.NewMarketingServiceClient(pipeline)}
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

// AssignOwner implements ruleaction.Target.
func (t *Target) AssignOwner(ctx context.Context, tenant uuid.UUID, cause ruleaction.Cause, a ruleaction.Assignment) (string, error) {
	ctx, err := t.context(ctx, tenant, cause)
	if err != nil {
		return "", err
	}
	if a.TicketID != uuid.Nil {
		req := &ticketv1.AssignTicketRequest{TicketId: a.TicketID.String(), AssigneeId: a.OwnerID, Note: "assigned by an automation rule"}
		if a.QueueID != uuid.Nil {
			req.QueueId = a.QueueID.String()
		}
		if _, err := t.tickets.AssignTicket(ctx, req); err != nil {
			return "", classify("assign ticket", err)
		}
		return "tickets/" + a.TicketID.String(), nil
	}
	_, err = t.customers.UpdateCustomer(ctx, &customerv1.UpdateCustomerRequest{
		Customer:   &customerv1.Customer{CustomerId: a.CustomerID.String(), OwnerId: a.OwnerID},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"owner_id"}}})
	if err != nil {
		return "", classify("set owner", err)
	}
	return "customers/" + a.CustomerID.String(), nil
}

// MoveStage implements ruleaction.Target. A customer at the stage already
// is left alone: the customer service refuses a move to the same stage.
func (t *Target) MoveStage(ctx context.Context, tenant uuid.UUID, cause ruleaction.Cause, m ruleaction.StageMove) (string, error) {
	ctx, err := t.context(ctx, tenant, cause)
	if err != nil {
		return "", err
	}
	resource := "customers/" + m.CustomerID.String()
	got, err := t.customers.GetCustomer(ctx, &customerv1.GetCustomerRequest{CustomerId: m.CustomerID.String()})
	if err != nil {
		return "", classify("read customer", err)
	}
	if int32(got.GetCustomer().GetLifecycleStage()) == m.Stage {
		return resource, nil
	}
	_, err = t.classification.TransitionLifecycleStage(ctx, &customerv1.TransitionLifecycleStageRequest{
		CustomerId: m.CustomerID.String(), LifecycleStage: customerv1.LifecycleStage(m.Stage), Reason: m.Reason})
	if err != nil {
		return "", classify("move lifecycle stage", err)
	}
	return resource, nil
}

// SetField implements ruleaction.Target. The rendered value is sent as the
// attribute's type wants it: a number or a boolean when the tenant defined
// the attribute so, else text.
func (t *Target) SetField(ctx context.Context, tenant uuid.UUID, cause ruleaction.Cause, f ruleaction.FieldSet) (string, error) {
	ctx, err := t.context(ctx, tenant, cause)
	if err != nil {
		return "", err
	}
	def, err := t.profiles.GetCustomAttributeDefinition(ctx, &customerv1.GetCustomAttributeDefinitionRequest{Key: f.Key})
	if err != nil {
		return "", classify("read attribute "+f.Key, err)
	}
	value, err := typed(def.GetDefinition().GetType(), f.Value)
	if err != nil {
		return "", fmt.Errorf("%w: attribute %s: %w", ruleaction.ErrPermanent, f.Key, err)
	}
	_, err = t.customers.UpdateCustomer(ctx, &customerv1.UpdateCustomerRequest{
		Customer:   &customerv1.Customer{CustomerId: f.CustomerID.String(), CustomAttributes: map[string]*structpb.Value{f.Key: value}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"custom_attributes." + f.Key}}})
	if err != nil {
		return "", classify("set attribute "+f.Key, err)
	}
	return "customers/" + f.CustomerID.String(), nil
}

// typed reads text as a value of an attribute of type k.
func typed(k customerv1.CustomAttributeType, text string) (*structpb.Value, error) {
	switch k {
	case customerv1.CustomAttributeType_CUSTOM_ATTRIBUTE_TYPE_NUMBER:
		n, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", text)
		}
		return structpb.NewNumberValue(n), nil
	case customerv1.CustomAttributeType_CUSTOM_ATTRIBUTE_TYPE_BOOL:
		b, err := strconv.ParseBool(strings.TrimSpace(text))
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", text)
		}
		return structpb.NewBoolValue(b), nil
	}
	return structpb.NewStringValue(text), nil
}

// AddToCampaign implements ruleaction.Target.
func (t *Target) AddToCampaign(ctx context.Context, tenant uuid.UUID, cause ruleaction.Cause, c ruleaction.CampaignAdd) (string, error) {
	ctx, err := t.context(ctx, tenant, cause)
	if err != nil {
		return "", err
	}
	_, err = t.marketing.AddCampaignMember(ctx, &pipelinev1.AddCampaignMemberRequest{CampaignId: c.CampaignID.String(), CustomerId: c.CustomerID.String()})
	if err != nil {
		return "", classify("add to campaign", err)
	}
	return "campaigns/" + c.CampaignID.String() + "/members/" + c.CustomerID.String(), nil
}

// classify marks the failures retrying cannot mend as permanent.
func classify(what string, err error) error {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.NotFound, codes.PermissionDenied, codes.FailedPrecondition:
		return fmt.Errorf("%w: %s: %s", ruleaction.ErrPermanent, what, status.Convert(err).Message())
	}
	return fmt.Errorf("%s: %w", what, err)
}
