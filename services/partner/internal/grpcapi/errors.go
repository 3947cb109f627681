// Package grpcapi serves the partner service's gRPC API: it converts
// messages, maps errors and holds no business rules.
package grpcapi

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcerr"
	"github.com/rapportcrm/rapport/services/partner/internal/dealreg"
	"github.com/rapportcrm/rapport/services/partner/internal/enablement"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
	"github.com/rapportcrm/rapport/services/partner/internal/leadoffer"
	"github.com/rapportcrm/rapport/services/partner/internal/mdf"
	"github.com/rapportcrm/rapport/services/partner/internal/partner"
	"github.com/rapportcrm/rapport/services/partner/internal/program"
	"github.com/rapportcrm/rapport/services/partner/internal/scorecard"
	"github.com/rapportcrm/rapport/services/partner/internal/sellthrough"
)

// toStatus is the service's one mapping from domain errors to gRPC statuses.
func toStatus(err error) error {
	if st, ok := grpcerr.Common(err); ok {
		return st
	}
	switch {
	case errors.Is(err, partner.ErrParentNotFound):
		return grpcerr.WithReason(codes.FailedPrecondition, partner.ErrParentNotFound, "PARENT_PARTNER_NOT_FOUND")
	case errors.Is(err, partner.ErrNotFound):
		return grpcerr.WithReason(codes.NotFound, partner.ErrNotFound, "PARTNER_NOT_FOUND")
	case errors.Is(err, partner.ErrEtagMismatch):
		return grpcerr.WithReason(codes.Aborted, partner.ErrEtagMismatch, "ETAG_MISMATCH")
	case errors.Is(err, partner.ErrBadTransition):
		return grpcerr.WithReason(codes.FailedPrecondition, err, "INVALID_STATUS_TRANSITION")
	case errors.Is(err, dealreg.ErrNotFound):
		return grpcerr.WithReason(codes.NotFound, dealreg.ErrNotFound, "DEAL_REGISTRATION_NOT_FOUND")
	case errors.Is(err, dealreg.ErrPartnerNotFound):
		return grpcerr.WithReason(codes.FailedPrecondition, dealreg.ErrPartnerNotFound, "PARTNER_NOT_FOUND")
	case errors.Is(err, dealreg.ErrPartnerNotActive):
		return grpcerr.WithReason(codes.FailedPrecondition, dealreg.ErrPartnerNotActive, "PARTNER_NOT_ACTIVE")
	case errors.Is(err, dealreg.ErrCustomerNotFound):
		return grpcerr.WithReason(codes.FailedPrecondition, dealreg.ErrCustomerNotFound, "CUSTOMER_NOT_FOUND")
	case errors.Is(err, dealreg.ErrEtagMismatch), errors.Is(err, dealreg.ErrRulesEtagMismatch):
		return grpcerr.WithReason(codes.Aborted, err, "ETAG_MISMATCH")
	case errors.Is(err, dealreg.ErrExpired):
		return grpcerr.WithReason(codes.FailedPrecondition, err, "REGISTRATION_EXPIRED")
	case errors.Is(err, dealreg.ErrNotPending):
		return grpcerr.WithReason(codes.FailedPrecondition, dealreg.ErrNotPending, "REGISTRATION_ALREADY_DECIDED")
	case errors.Is(err, dealreg.ErrConflict):
		return grpcerr.WithReason(codes.FailedPrecondition, dealreg.ErrConflict, "REGISTRATION_CONFLICT")
	case errors.Is(err, dealreg.ErrPeer):
		return grpcerr.WithReason(codes.Unavailable, dealreg.ErrPeer, "PEER_UNAVAILABLE")
	case errors.Is(err, finance.ErrRuleOverlap):
		return grpcerr.WithReason(codes.FailedPrecondition, err, "RULE_OVERLAP")
	case errors.Is(err, finance.ErrNoRules):
		return grpcerr.WithReason(codes.FailedPrecondition, err, "NO_RULES_FOR_PERIOD")
	case errors.Is(err, finance.ErrPartnerNotFound):
		return grpcerr.WithReason(codes.NotFound, finance.ErrPartnerNotFound, "PARTNER_NOT_FOUND")
	case errors.Is(err, finance.ErrStatementNotFound):
		return grpcerr.WithReason(codes.NotFound, finance.ErrStatementNotFound, "PARTNER_STATEMENT_NOT_FOUND")
	case errors.Is(err, program.ErrEtagMismatch):
		return grpcerr.WithReason(codes.Aborted, program.ErrEtagMismatch, "ETAG_MISMATCH")
	case errors.Is(err, program.ErrNoSchedule):
		return grpcerr.WithReason(codes.FailedPrecondition, program.ErrNoSchedule, "NO_TIER_SCHEDULE")
	case errors.Is(err, program.ErrPartnerNotFound):
		return grpcerr.WithReason(codes.NotFound, program.ErrPartnerNotFound, "PARTNER_NOT_FOUND")
	case errors.Is(err, sellthrough.ErrNotFound):
		return grpcerr.WithReason(codes.NotFound, sellthrough.ErrNotFound, "SELL_THROUGH_REPORT_NOT_FOUND")
	case errors.Is(err, sellthrough.ErrPartnerNotFound):
		return grpcerr.WithReason(codes.NotFound, sellthrough.ErrPartnerNotFound, "PARTNER_NOT_FOUND")
	case errors.Is(err, sellthrough.ErrExists):
		return grpcerr.WithReason(codes.AlreadyExists, sellthrough.ErrExists, "SELL_THROUGH_REPORT_EXISTS")
	case errors.Is(err, scorecard.ErrPartnerNotFound):
		return grpcerr.WithReason(codes.NotFound, scorecard.ErrPartnerNotFound, "PARTNER_NOT_FOUND")
	case errors.Is(err, leadoffer.ErrNotFound):
		return grpcerr.WithReason(codes.NotFound, leadoffer.ErrNotFound, "LEAD_OFFER_NOT_FOUND")
	case errors.Is(err, leadoffer.ErrNoEligiblePartner):
		return grpcerr.WithReason(codes.FailedPrecondition, leadoffer.ErrNoEligiblePartner, "NO_ELIGIBLE_PARTNER")
	case errors.Is(err, leadoffer.ErrAlreadyOffered):
		return grpcerr.WithReason(codes.FailedPrecondition, err, "LEAD_ALREADY_OFFERED")
	case errors.Is(err, leadoffer.ErrNotPending):
		return grpcerr.WithReason(codes.FailedPrecondition, leadoffer.ErrNotPending, "LEAD_OFFER_ANSWERED")
	case errors.Is(err, leadoffer.ErrExpired):
		return grpcerr.WithReason(codes.FailedPrecondition, err, "LEAD_OFFER_EXPIRED")
	case errors.Is(err, leadoffer.ErrEtagMismatch):
		return grpcerr.WithReason(codes.Aborted, leadoffer.ErrEtagMismatch, "ETAG_MISMATCH")
	case errors.Is(err, mdf.ErrBudgetNotFound):
		return grpcerr.WithReason(codes.NotFound, mdf.ErrBudgetNotFound, "MDF_BUDGET_NOT_FOUND")
	case errors.Is(err, mdf.ErrRequestNotFound):
		return grpcerr.WithReason(codes.NotFound, mdf.ErrRequestNotFound, "MDF_REQUEST_NOT_FOUND")
	case errors.Is(err, mdf.ErrPartnerNotFound):
		return grpcerr.WithReason(codes.NotFound, mdf.ErrPartnerNotFound, "PARTNER_NOT_FOUND")
	case errors.Is(err, mdf.ErrBudgetExceeded):
		return grpcerr.WithReason(codes.FailedPrecondition, err, "BUDGET_EXCEEDED")
	case errors.Is(err, mdf.ErrBadState):
		return grpcerr.WithReason(codes.FailedPrecondition, err, "MDF_REQUEST_STATE")
	case errors.Is(err, mdf.ErrEtagMismatch):
		return grpcerr.WithReason(codes.Aborted, mdf.ErrEtagMismatch, "ETAG_MISMATCH")
	case errors.Is(err, enablement.ErrPartnerNotFound):
		return grpcerr.WithReason(codes.NotFound, enablement.ErrPartnerNotFound, "PARTNER_NOT_FOUND")
	case errors.Is(err, enablement.ErrCourseNotFound):
		return grpcerr.WithReason(codes.NotFound, enablement.ErrCourseNotFound, "TRAINING_COURSE_NOT_FOUND")
	case errors.Is(err, enablement.ErrUnknownStep):
		return grpcerr.WithReason(codes.FailedPrecondition, err, "UNKNOWN_ONBOARDING_STEP")
	case errors.Is(err, enablement.ErrEtagMismatch):
		return grpcerr.WithReason(codes.Aborted, enablement.ErrEtagMismatch, "ETAG_MISMATCH")
	case errors.Is(err, finance.ErrPeer):
		return grpcerr.WithReason(codes.Unavailable, finance.ErrPeer, "PEER_UNAVAILABLE")
	}
	return err // the server interceptor masks it as Internal and logs it
}

// caller returns the authenticated caller; the interceptor guarantees one
// for every non-public method.
func caller(ctx context.Context) auth.Caller {
	c, _ := auth.CallerFrom(ctx)
	return c
}
