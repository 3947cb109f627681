// Package grpcapi serves the customer service's gRPC API: it converts
// messages, maps errors and holds no business rules.
package grpcapi

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcerr"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/document"
	"github.com/rapportcrm/rapport/services/customer/internal/identity"
)

// toStatus is the service's one mapping from domain errors to gRPC statuses.
func toStatus(err error) error {
	var verr *validation.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &verr):
		return grpcerr.Invalid(verr)
	case errors.Is(err, customer.ErrNotFound):
		return grpcerr.WithReason(codes.NotFound, customer.ErrNotFound, "CUSTOMER_NOT_FOUND")
	case errors.Is(err, customer.ErrEtagMismatch):
		return grpcerr.WithReason(codes.Aborted, err, "ETAG_MISMATCH")
	case errors.Is(err, customer.ErrDeleted):
		return grpcerr.WithReason(codes.FailedPrecondition, customer.ErrDeleted, "CUSTOMER_DELETED")
	case errors.Is(err, customer.ErrNotDeleted):
		return grpcerr.WithReason(codes.FailedPrecondition, customer.ErrNotDeleted, "CUSTOMER_NOT_DELETED")
	case errors.Is(err, document.ErrNotFound):
		return grpcerr.WithReason(codes.NotFound, document.ErrNotFound, "DOCUMENT_NOT_FOUND")
	case errors.Is(err, document.ErrCustomerNotFound):
		return grpcerr.WithReason(codes.NotFound, document.ErrCustomerNotFound, "CUSTOMER_NOT_FOUND")
	case errors.Is(err, document.ErrCustomerDeleted):
		return grpcerr.WithReason(codes.FailedPrecondition, document.ErrCustomerDeleted, "CUSTOMER_DELETED")
	case errors.Is(err, document.ErrVersionNotFound):
		return grpcerr.WithReason(codes.NotFound, document.ErrVersionNotFound, "DOCUMENT_VERSION_NOT_FOUND")
	case errors.Is(err, document.ErrShareLinkNotFound):
		return grpcerr.WithReason(codes.NotFound, document.ErrShareLinkNotFound, "SHARE_LINK_NOT_FOUND")
	case errors.Is(err, document.ErrEtagMismatch):
		return grpcerr.WithReason(codes.Aborted, err, "ETAG_MISMATCH")
	case errors.Is(err, document.ErrDeleted):
		return grpcerr.WithReason(codes.FailedPrecondition, document.ErrDeleted, "DOCUMENT_DELETED")
	case errors.Is(err, document.ErrNotDeleted):
		return grpcerr.WithReason(codes.FailedPrecondition, document.ErrNotDeleted, "DOCUMENT_NOT_DELETED")
	case errors.Is(err, document.ErrNotDraft):
		return grpcerr.WithReason(codes.FailedPrecondition, document.ErrNotDraft, "DOCUMENT_NOT_DRAFT")
	case errors.Is(err, document.ErrBadTransition):
		return grpcerr.WithReason(codes.FailedPrecondition, err, "INVALID_TRANSITION")
	case errors.Is(err, document.ErrNotPublished):
		return grpcerr.WithReason(codes.FailedPrecondition, document.ErrNotPublished, "DOCUMENT_NOT_PUBLISHED")
	case errors.Is(err, document.ErrRevoked):
		return grpcerr.WithReason(codes.FailedPrecondition, document.ErrRevoked, "SHARE_LINK_REVOKED")
	case errors.Is(err, document.ErrUploadConflict):
		return grpcerr.WithReason(codes.Aborted, document.ErrUploadConflict, "UPLOAD_CONFLICT")
	case errors.Is(err, identity.ErrPrincipalNotFound):
		return grpcerr.WithReason(codes.NotFound, identity.ErrPrincipalNotFound, "PRINCIPAL_NOT_FOUND")
	case errors.Is(err, identity.ErrAPIKeyNotFound):
		return grpcerr.WithReason(codes.NotFound, identity.ErrAPIKeyNotFound, "API_KEY_NOT_FOUND")
	case errors.Is(err, identity.ErrNoSigner):
		return grpcerr.WithReason(codes.FailedPrecondition, identity.ErrNoSigner, "TOKENS_NOT_CONFIGURED")
	case errors.Is(err, auth.ErrForbidden):
		return grpcerr.WithReason(codes.PermissionDenied, auth.ErrForbidden, "PERMISSION_DENIED")
	case errors.Is(err, auth.ErrUnauthenticated):
		return grpcerr.WithReason(codes.Unauthenticated, auth.ErrUnauthenticated, "UNAUTHENTICATED")
	case errors.Is(err, outbox.ErrBadCursor):
		return grpcerr.Invalid(&validation.Error{Violations: []validation.Violation{{Field: "after_cursor", Description: "is not a cursor from this stream"}}})
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return err // the server interceptor masks it as Internal and logs it
}

// caller returns the authenticated caller; the interceptor guarantees one
// for every non-public method.
func caller(ctx context.Context) auth.Caller {
	c, _ := auth.CallerFrom(ctx)
	return c
}
