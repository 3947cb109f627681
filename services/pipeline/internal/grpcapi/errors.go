// Package grpcapi serves the pipeline service's gRPC API: it converts
// messages, maps errors and holds no business rules.
package grpcapi

import (
	"context"
	"errors"
	"slices"

	"google.golang.org/grpc/codes"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcerr"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/commission"
	"github.com/rapportcrm/rapport/services/pipeline/internal/forecast"
	"github.com/rapportcrm/rapport/services/pipeline/internal/lead"
	"github.com/rapportcrm/rapport/services/pipeline/internal/marketing"
	"github.com/rapportcrm/rapport/services/pipeline/internal/order"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
	"github.com/rapportcrm/rapport/services/pipeline/internal/quote"
)

// toStatus is the service's one mapping from domain errors to gRPC statuses.
func toStatus(err error) error {
	if st, ok := grpcerr.Common(err); ok {
		return st
	}
	switch {
	case errors.Is(err, pipeline.ErrNotFound):
		return grpcerr.WithReason(codes.NotFound, pipeline.ErrNotFound, "OPPORTUNITY_NOT_FOUND")
	case errors.Is(err, pipeline.ErrPipelineNotFound):
		return grpcerr.WithReason(codes.NotFound, pipeline.ErrPipelineNotFound, "PIPELINE_NOT_FOUND")
	case errors.Is(err, pipeline.ErrProductNotFound):
		return grpcerr.WithReason(codes.NotFound, pipeline.ErrProductNotFound, "PRODUCT_NOT_FOUND")
	case errors.Is(err, pipeline.ErrPriceListNotFound):
		return grpcerr.WithReason(codes.NotFound, pipeline.ErrPriceListNotFound, "PRICE_LIST_NOT_FOUND")
	case errors.Is(err, pipeline.ErrEtagMismatch):
		return grpcerr.WithReason(codes.Aborted, err, "ETAG_MISMATCH")
	case errors.Is(err, pipeline.ErrDeleted):
		return grpcerr.WithReason(codes.FailedPrecondition, pipeline.ErrDeleted, "DELETED")
	case errors.Is(err, pipeline.ErrNotDeleted):
		return grpcerr.WithReason(codes.FailedPrecondition, pipeline.ErrNotDeleted, "NOT_DELETED")
	case errors.Is(err, pipeline.ErrStageInUse):
		return grpcerr.WithReason(codes.FailedPrecondition, pipeline.ErrStageInUse, "STAGE_IN_USE")
	case errors.Is(err, pipeline.ErrPipelineInUse):
		return grpcerr.WithReason(codes.FailedPrecondition, pipeline.ErrPipelineInUse, "PIPELINE_IN_USE")
	case errors.Is(err, pipeline.ErrDefaultPipeline):
		return grpcerr.WithReason(codes.FailedPrecondition, pipeline.ErrDefaultPipeline, "DEFAULT_PIPELINE")
	case errors.Is(err, pipeline.ErrSKUTaken):
		return grpcerr.WithReason(codes.AlreadyExists, pipeline.ErrSKUTaken, "SKU_TAKEN")
	case errors.Is(err, pipeline.ErrPriceProduct):
		return grpcerr.Invalid(&validation.Error{Violations: []validation.Violation{{Field: "price_list.prices", Description: pipeline.ErrPriceProduct.Error()}}})
	case errors.Is(err, forecast.ErrQuotaNotFound):
		return grpcerr.WithReason(codes.NotFound, forecast.ErrQuotaNotFound, "QUOTA_NOT_FOUND")
	case errors.Is(err, forecast.ErrQuotaExists):
		return grpcerr.WithReason(codes.AlreadyExists, forecast.ErrQuotaExists, "QUOTA_EXISTS")
	case errors.Is(err, forecast.ErrSnapshotNotFound):
		return grpcerr.WithReason(codes.NotFound, forecast.ErrSnapshotNotFound, "SNAPSHOT_NOT_FOUND")
	case errors.Is(err, commission.ErrPlanNotFound):
		return grpcerr.WithReason(codes.NotFound, commission.ErrPlanNotFound, "COMMISSION_PLAN_NOT_FOUND")
	case errors.Is(err, commission.ErrStatementNotFound):
		return grpcerr.WithReason(codes.NotFound, commission.ErrStatementNotFound, "COMMISSION_STATEMENT_NOT_FOUND")
	case errors.Is(err, commission.ErrNoPlan):
		return grpcerr.WithReason(codes.FailedPrecondition, commission.ErrNoPlan, "NO_COMMISSION_PLAN")
	case errors.Is(err, commission.ErrNoQuota):
		return grpcerr.WithReason(codes.FailedPrecondition, commission.ErrNoQuota, "NO_QUOTA")
	case errors.Is(err, commission.ErrPrincipalHasPlan):
		return grpcerr.WithReason(codes.FailedPrecondition, commission.ErrPrincipalHasPlan, "PRINCIPAL_HAS_PLAN")
	case errors.Is(err, marketing.ErrCampaignNotFound):
		return grpcerr.WithReason(codes.NotFound, marketing.ErrCampaignNotFound, "CAMPAIGN_NOT_FOUND")
	case errors.Is(err, marketing.ErrNoSegment):
		return grpcerr.WithReason(codes.FailedPrecondition, marketing.ErrNoSegment, "CAMPAIGN_HAS_NO_SEGMENT")
	case errors.Is(err, marketing.ErrCampaignEnded):
		return grpcerr.WithReason(codes.FailedPrecondition, marketing.ErrCampaignEnded, "CAMPAIGN_ENDED")
	case errors.Is(err, marketing.ErrSegmentTooLarge):
		return grpcerr.WithReason(codes.FailedPrecondition, marketing.ErrSegmentTooLarge, "SEGMENT_TOO_LARGE")
	case errors.Is(err, marketing.ErrSegmentLookup):
		return grpcerr.WithReason(codes.Unavailable, marketing.ErrSegmentLookup, "SEGMENT_LOOKUP_FAILED")
	case errors.Is(err, pipeline.ErrCustomerLookup):
		// The peer's status stays inside: the caller learns only to retry.
		return grpcerr.WithReason(codes.Unavailable, pipeline.ErrCustomerLookup, "CUSTOMER_LOOKUP_FAILED")
	case errors.Is(err, lead.ErrNotFound):
		return grpcerr.WithReason(codes.NotFound, lead.ErrNotFound, "LEAD_NOT_FOUND")
	case errors.Is(err, lead.ErrWebFormNotFound):
		return grpcerr.WithReason(codes.NotFound, lead.ErrWebFormNotFound, "WEB_FORM_NOT_FOUND")
	case errors.Is(err, lead.ErrRuleNotFound):
		return grpcerr.WithReason(codes.NotFound, lead.ErrRuleNotFound, "LEAD_ASSIGNMENT_RULE_NOT_FOUND")
	case errors.Is(err, lead.ErrConverted):
		return grpcerr.WithReason(codes.FailedPrecondition, lead.ErrConverted, "LEAD_CONVERTED")
	case errors.Is(err, lead.ErrUnqualified):
		return grpcerr.WithReason(codes.FailedPrecondition, lead.ErrUnqualified, "LEAD_UNQUALIFIED")
	case errors.Is(err, lead.ErrTerritoryTaken):
		return grpcerr.WithReason(codes.AlreadyExists, lead.ErrTerritoryTaken, "TERRITORY_TAKEN")
	case errors.Is(err, lead.ErrEtagMismatch):
		return grpcerr.WithReason(codes.Aborted, err, "ETAG_MISMATCH")
	case errors.Is(err, lead.ErrCustomerRejected):
		// The customer service's violations name its fields, not ours.
		return grpcerr.WithReason(codes.FailedPrecondition, lead.ErrCustomerRejected, "CUSTOMER_REJECTED")
	case errors.Is(err, lead.ErrCustomerLookup):
		return grpcerr.WithReason(codes.Unavailable, lead.ErrCustomerLookup, "CUSTOMER_LOOKUP_FAILED")
	case errors.Is(err, order.ErrNotFound):
		return grpcerr.WithReason(codes.NotFound, order.ErrNotFound, "ORDER_NOT_FOUND")
	case errors.Is(err, order.ErrCancelled):
		return grpcerr.WithReason(codes.FailedPrecondition, order.ErrCancelled, "ORDER_CANCELLED")
	case errors.Is(err, order.ErrNumberTaken):
		return grpcerr.WithReason(codes.AlreadyExists, order.ErrNumberTaken, "ORDER_NUMBER_TAKEN")
	case errors.Is(err, order.ErrEtagMismatch):
		return grpcerr.WithReason(codes.Aborted, err, "ETAG_MISMATCH")
	case errors.Is(err, quote.ErrNotFound):
		return grpcerr.WithReason(codes.NotFound, quote.ErrNotFound, "QUOTE_NOT_FOUND")
	case errors.Is(err, quote.ErrEtagMismatch):
		return grpcerr.WithReason(codes.Aborted, err, "ETAG_MISMATCH")
	case errors.Is(err, quote.ErrNotDraft):
		return grpcerr.WithReason(codes.FailedPrecondition, quote.ErrNotDraft, "QUOTE_NOT_DRAFT")
	case errors.Is(err, quote.ErrNotLatest):
		return grpcerr.WithReason(codes.FailedPrecondition, quote.ErrNotLatest, "QUOTE_NOT_LATEST")
	case errors.Is(err, quote.ErrNotSent):
		return grpcerr.WithReason(codes.FailedPrecondition, quote.ErrNotSent, "QUOTE_NOT_SENT")
	case errors.Is(err, quote.ErrExpired):
		return grpcerr.WithReason(codes.FailedPrecondition, quote.ErrExpired, "QUOTE_EXPIRED")
	case errors.Is(err, quote.ErrAccepted):
		return grpcerr.WithReason(codes.FailedPrecondition, quote.ErrAccepted, "QUOTE_ACCEPTED")
	case errors.Is(err, quote.ErrDeleted):
		return grpcerr.WithReason(codes.FailedPrecondition, quote.ErrDeleted, "DELETED")
	case errors.Is(err, quote.ErrNotDeleted):
		return grpcerr.WithReason(codes.FailedPrecondition, quote.ErrNotDeleted, "NOT_DELETED")
	}
	return err // the server interceptor masks it as Internal and logs it
}

// errRateLimited refuses a public submission over its rate.
var errRateLimited = errors.New("too many submissions; retry later")

// caller returns the authenticated caller; the interceptor guarantees one
// for every non-public method.
func caller(ctx context.Context) auth.Caller {
	c, _ := auth.CallerFrom(ctx)
	return c
}

// dropOutputOnly removes output-only fields from a mask: a REST body echoed
// from a read carries them.
func dropOutputOnly(paths []string, outputOnly ...string) []string {
	return slices.DeleteFunc(paths, func(p string) bool { return slices.Contains(outputOnly, p) })
}
