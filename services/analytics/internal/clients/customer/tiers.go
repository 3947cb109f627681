package customer

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
	"github.com/rapportcrm/rapport/services/analytics/internal/tiering"
)

// TierSink implements tiering.Sink: it sends suggestions to the customer
// service as the tenant, with the credential the consumer follows the
// tenant's streams with (no inbound caller to forward: a worker sends them).
type TierSink struct {
	classify   customerv1.ClassificationServiceClient
	credential func(ctx context.Context, tenant uuid.UUID) (string, error)
}

// NewTierSink returns a sink over conn presenting credential(tenant).
func NewTierSink(conn grpc.ClientConnInterface, credential func(ctx context.Context, tenant uuid.UUID) (string, error)) *TierSink {
	return &TierSink{classify: customerv1.NewClassificationServiceClient(conn), credential: credential}
}

// SuggestTier implements tiering.Sink.
func (k *TierSink) SuggestTier(ctx context.Context, tenant uuid.UUID, s tiering.Suggestion, overrideManual bool) error {
	cred, err := k.credential(ctx, tenant)
	if err != nil {
		return fmt.Errorf("suggest tier of %s: credential: %w", s.CustomerID, err)
	}
	cctx, cancel := context.WithTimeout(grpcclient.WithBearer(ctx, cred), callTimeout)
	defer cancel()
	_, err = k.classify.SetValueTier(cctx, &customerv1.SetValueTierRequest{
		CustomerId: s.CustomerID.String(), Tier: s.Tier, Reason: s.Reason,
		Source: customerv1.ValueTierSource_VALUE_TIER_SOURCE_ANALYTICS, OverrideManual: overrideManual, RequestId: s.RequestID()})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("suggest tier of %s: %w", s.CustomerID, ctx.Err())
	case status.Code(err) == codes.NotFound, reasonOf(err) == "CUSTOMER_DELETED":
		return fmt.Errorf("suggest tier of %s: %w", s.CustomerID, tiering.ErrCustomerGone)
	case reasonOf(err) == "MANUAL_TIER_KEPT":
		return fmt.Errorf("suggest tier of %s: %w", s.CustomerID, tiering.ErrManualTierKept)
	}
	st := status.Convert(err)
	return fmt.Errorf("suggest tier of %s: %w: %s: %s", s.CustomerID, tiering.ErrDeliveryFailed, st.Code(), st.Message())
}

// reasonOf is the ErrorInfo reason of err's status, "" when it has none.
func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}
