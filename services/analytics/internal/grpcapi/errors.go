// Package grpcapi serves the analytics service's gRPC API: it converts
// messages, maps errors and holds no business rules.
package grpcapi

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcerr"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
	"github.com/rapportcrm/rapport/services/analytics/internal/insight"
	"github.com/rapportcrm/rapport/services/analytics/internal/tiering"
)

// toStatus is the service's one mapping from domain errors to gRPC statuses.
func toStatus(err error) error {
	if st, ok := grpcerr.Common(err); ok {
		return st
	}
	switch {
	case errors.Is(err, analytics.ErrCustomerNotFound):
		return grpcerr.WithReason(codes.NotFound, analytics.ErrCustomerNotFound, "CUSTOMER_NOT_FOUND")
	case errors.Is(err, insight.ErrCustomerServiceUnavailable):
		return grpcerr.WithReason(codes.Unavailable, insight.ErrCustomerServiceUnavailable, "CUSTOMER_SERVICE_UNAVAILABLE")
	case errors.Is(err, tiering.ErrEtagMismatch):
		return grpcerr.WithReason(codes.Aborted, tiering.ErrEtagMismatch, "ETAG_MISMATCH")
	case errors.Is(err, analytics.ErrTooManyGroups):
		return grpcerr.WithReason(codes.FailedPrecondition, analytics.ErrTooManyGroups, "TOO_MANY_GROUPS")
	}
	return err // the server interceptor masks it as Internal and logs it
}

// caller returns the authenticated caller; the interceptor guarantees one
// for every non-public method.
func caller(ctx context.Context) auth.Caller {
	c, _ := auth.CallerFrom(ctx)
	return c
}
