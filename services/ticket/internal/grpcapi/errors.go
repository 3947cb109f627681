// Package grpcapi serves the ticket service's gRPC API: it converts
// messages, maps errors and holds no business rules.
package grpcapi

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcerr"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

// toStatus is the service's one mapping from domain errors to gRPC statuses.
func toStatus(err error) error {
	if st, ok := grpcerr.Common(err); ok {
		return st
	}
	switch {
	case errors.Is(err, ticket.ErrNotFound):
		return grpcerr.WithReason(codes.NotFound, ticket.ErrNotFound, "TICKET_NOT_FOUND")
	case errors.Is(err, ticket.ErrEtagMismatch):
		return grpcerr.WithReason(codes.Aborted, err, "ETAG_MISMATCH")
	case errors.Is(err, ticket.ErrTransitionNotAllowed):
		return grpcerr.WithReason(codes.FailedPrecondition, err, "TRANSITION_NOT_ALLOWED")
	case errors.Is(err, ticket.ErrReopenWindowPassed):
		return grpcerr.WithReason(codes.FailedPrecondition, err, "REOPEN_WINDOW_PASSED")
	case errors.Is(err, ticket.ErrCalendarNotFound):
		return grpcerr.WithReason(codes.NotFound, ticket.ErrCalendarNotFound, "BUSINESS_CALENDAR_NOT_FOUND")
	case errors.Is(err, ticket.ErrCalendarInUse):
		return grpcerr.WithReason(codes.FailedPrecondition, ticket.ErrCalendarInUse, "BUSINESS_CALENDAR_IN_USE")
	case errors.Is(err, ticket.ErrPolicyNotFound):
		return grpcerr.WithReason(codes.NotFound, ticket.ErrPolicyNotFound, "SLA_POLICY_NOT_FOUND")
	case errors.Is(err, ticket.ErrPolicyConflict):
		return grpcerr.WithReason(codes.AlreadyExists, ticket.ErrPolicyConflict, "SLA_POLICY_CONFLICT")
	case errors.Is(err, ticket.ErrQueueNotFound):
		return grpcerr.WithReason(codes.NotFound, ticket.ErrQueueNotFound, "QUEUE_NOT_FOUND")
	case errors.Is(err, ticket.ErrMemberNotFound):
		return grpcerr.WithReason(codes.FailedPrecondition, err, "NOT_A_QUEUE_MEMBER")
	case errors.Is(err, ticket.ErrNotRouted):
		return grpcerr.WithReason(codes.FailedPrecondition, ticket.ErrNotRouted, "TICKET_NOT_ROUTED")
	case errors.Is(err, ticket.ErrEscalationMaxed):
		return grpcerr.WithReason(codes.FailedPrecondition, ticket.ErrEscalationMaxed, "ESCALATION_MAXED")
	case errors.Is(err, ticket.ErrSurveyNotFound):
		return grpcerr.WithReason(codes.NotFound, ticket.ErrSurveyNotFound, "CSAT_SURVEY_NOT_FOUND")
	case errors.Is(err, ticket.ErrSurveyExpired):
		return grpcerr.WithReason(codes.FailedPrecondition, ticket.ErrSurveyExpired, "CSAT_SURVEY_EXPIRED")
	case errors.Is(err, ticket.ErrSurveyAnswered):
		return grpcerr.WithReason(codes.FailedPrecondition, ticket.ErrSurveyAnswered, "CSAT_SURVEY_ANSWERED")
	case errors.Is(err, ticket.ErrFeedbackNotFound):
		return grpcerr.WithReason(codes.NotFound, ticket.ErrFeedbackNotFound, "FEEDBACK_ITEM_NOT_FOUND")
	case errors.Is(err, ticket.ErrNPSSurveyNotFound):
		return grpcerr.WithReason(codes.NotFound, ticket.ErrNPSSurveyNotFound, "NPS_SURVEY_NOT_FOUND")
	case errors.Is(err, ticket.ErrNotRecipient):
		return grpcerr.WithReason(codes.FailedPrecondition, ticket.ErrNotRecipient, "NOT_A_RECIPIENT")
	case errors.Is(err, ticket.ErrNPSAnswered):
		return grpcerr.WithReason(codes.FailedPrecondition, ticket.ErrNPSAnswered, "NPS_ALREADY_ANSWERED")
	case errors.Is(err, ticket.ErrSegmentLookup):
		return grpcerr.WithReason(codes.Unavailable, ticket.ErrSegmentLookup, "SEGMENT_LOOKUP_FAILED")
	case errors.Is(err, ticket.ErrCustomerLookup):
		// The peer's status stays inside: the caller learns only to retry.
		return grpcerr.WithReason(codes.Unavailable, ticket.ErrCustomerLookup, "CUSTOMER_LOOKUP_FAILED")
	}
	return err // the server interceptor masks it as Internal and logs it
}

// asValidation reports whether err carries field violations.
func asValidation(err error) (*validation.Error, bool) {
	var verr *validation.Error
	return verr, errors.As(err, &verr)
}

// fieldPrefix names element i of a repeated request field.
func fieldPrefix(field string, i int) string { return fmt.Sprintf("%s[%d].", field, i) }

// caller returns the authenticated caller; the interceptor guarantees one
// for every non-public method.
func caller(ctx context.Context) auth.Caller {
	c, _ := auth.CallerFrom(ctx)
	return c
}
