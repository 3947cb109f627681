// Package grpcerr builds gRPC statuses that carry a stable machine-readable
// reason and, for bad input, the violated fields.
package grpcerr

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Domain is the ErrorInfo domain of every Rapport error.
const Domain = "rapport"

// WithReason returns a status of code with err's text and an ErrorInfo whose
// reason is stable across releases (for example "CUSTOMER_NOT_FOUND").
func WithReason(code codes.Code, err error, reason string) error {
	st := status.New(code, err.Error())
	if d, derr := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: Domain}); derr == nil {
		st = d
	}
	return st.Err()
}

// Invalid renders violations as InvalidArgument with BadRequest details.
func Invalid(v *validation.Error) error {
	return WithViolations(codes.InvalidArgument, v, "INVALID_ARGUMENT", v.Violations...)
}

// WithViolations is WithReason that also names the fields at fault, for
// errors other than bad input that a caller fixes by changing a field (a
// redemption beyond the balance names "points").
func WithViolations(code codes.Code, err error, reason string, violations ...validation.Violation) error {
	br := &errdetails.BadRequest{}
	for _, fv := range violations {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: fv.Field, Description: fv.Description})
	}
	st := status.New(code, err.Error())
	if d, derr := st.WithDetails(br, &errdetails.ErrorInfo{Reason: reason, Domain: Domain}); derr == nil {
		st = d
	}
	return st.Err()
}

// Common maps the errors every service shares: field violations, failed
// authentication or authorisation, and an ended request context. ok is
// false for any other error, which is the service's own to map; a nil err
// maps to nil.
func Common(err error) (st error, ok bool) {
	var verr *validation.Error
	switch {
	case err == nil:
		return nil, true
	case errors.As(err, &verr):
		return Invalid(verr), true
	case errors.Is(err, auth.ErrForbidden):
		// The generic text: a refusal by a database policy names SQL objects.
		return WithReason(codes.PermissionDenied, auth.ErrForbidden, "PERMISSION_DENIED"), true
	case errors.Is(err, auth.ErrUnauthenticated):
		return WithReason(codes.Unauthenticated, auth.ErrUnauthenticated, "UNAUTHENTICATED"), true
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err(), true
	}
	return nil, false
}
