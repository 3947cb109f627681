// Package grpcapi serves the customer service's gRPC API: it converts
// messages, maps errors and holds no business rules.
package grpcapi

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcerr"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/classify"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/document"
	"github.com/rapportcrm/rapport/services/customer/internal/identity"
	"github.com/rapportcrm/rapport/services/customer/internal/imports"
	"github.com/rapportcrm/rapport/services/customer/internal/loyalty"
	"github.com/rapportcrm/rapport/services/customer/internal/partnerlink"
	"github.com/rapportcrm/rapport/services/customer/internal/privacy"
	"github.com/rapportcrm/rapport/services/customer/internal/profile"
	"github.com/rapportcrm/rapport/services/customer/internal/relationship"
	"github.com/rapportcrm/rapport/services/customer/internal/resolution"
)

// toStatus is the service's one mapping from domain errors to gRPC statuses.
func toStatus(err error) error {
	if st, ok := grpcerr.Common(err); ok {
		return st
	}
	switch {
	case errors.Is(err, partnerlink.ErrNotFound):
		return grpcerr.WithReason(codes.NotFound, partnerlink.ErrNotFound, "PARTNER_LINK_NOT_FOUND")
	case errors.Is(err, customer.ErrNotFound):
		return grpcerr.WithReason(codes.NotFound, customer.ErrNotFound, "CUSTOMER_NOT_FOUND")
	case errors.Is(err, customer.ErrEtagMismatch):
		return grpcerr.WithReason(codes.Aborted, err, "ETAG_MISMATCH")
	case errors.Is(err, customer.ErrDeleted):
		return grpcerr.WithReason(codes.FailedPrecondition, customer.ErrDeleted, "CUSTOMER_DELETED")
	case errors.Is(err, customer.ErrMerged):
		return grpcerr.WithReason(codes.FailedPrecondition, err, "CUSTOMER_MERGED")
	case errors.Is(err, resolution.ErrPairNotFound):
		return grpcerr.WithReason(codes.NotFound, resolution.ErrPairNotFound, "DUPLICATE_PAIR_NOT_FOUND")
	case errors.Is(err, resolution.ErrPairNotOpen):
		return grpcerr.WithReason(codes.FailedPrecondition, resolution.ErrPairNotOpen, "DUPLICATE_PAIR_NOT_OPEN")
	case errors.Is(err, resolution.ErrScanNotFound):
		return grpcerr.WithReason(codes.NotFound, resolution.ErrScanNotFound, "DUPLICATE_SCAN_NOT_FOUND")
	case errors.Is(err, resolution.ErrScanRunning):
		return grpcerr.WithReason(codes.FailedPrecondition, resolution.ErrScanRunning, "DUPLICATE_SCAN_RUNNING")
	case errors.Is(err, resolution.ErrMergeNotFound):
		return grpcerr.WithReason(codes.NotFound, resolution.ErrMergeNotFound, "MERGE_NOT_FOUND")
	case errors.Is(err, resolution.ErrKindMismatch):
		return grpcerr.WithReason(codes.FailedPrecondition, resolution.ErrKindMismatch, "CUSTOMER_KIND_MISMATCH")
	case errors.Is(err, resolution.ErrRetentionExpired):
		return grpcerr.WithReason(codes.FailedPrecondition, err, "MERGE_RETENTION_EXPIRED")
	case errors.Is(err, resolution.ErrUnmerged):
		return grpcerr.WithReason(codes.FailedPrecondition, resolution.ErrUnmerged, "MERGE_ALREADY_UNDONE")
	case errors.Is(err, resolution.ErrSurvivorGone):
		return grpcerr.WithReason(codes.FailedPrecondition, resolution.ErrSurvivorGone, "MERGE_SURVIVOR_GONE")
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
	case errors.Is(err, classify.ErrTransitionNotAllowed):
		return grpcerr.WithReason(codes.FailedPrecondition, err, "LIFECYCLE_TRANSITION_NOT_ALLOWED")
	case errors.Is(err, classify.ErrSegmentNotFound):
		return grpcerr.WithReason(codes.NotFound, classify.ErrSegmentNotFound, "SEGMENT_NOT_FOUND")
	case errors.Is(err, classify.ErrSegmentNameTaken):
		return grpcerr.WithReason(codes.AlreadyExists, classify.ErrSegmentNameTaken, "SEGMENT_NAME_TAKEN")
	case errors.Is(err, classify.ErrManualTierKept):
		return grpcerr.WithReason(codes.FailedPrecondition, classify.ErrManualTierKept, "MANUAL_TIER_KEPT")
	case errors.Is(err, classify.ErrRuleNotFound):
		return grpcerr.WithReason(codes.NotFound, classify.ErrRuleNotFound, "VALUE_TIER_RULE_NOT_FOUND")
	case errors.Is(err, profile.ErrContactPointNotFound):
		return grpcerr.WithReason(codes.NotFound, profile.ErrContactPointNotFound, "CONTACT_POINT_NOT_FOUND")
	case errors.Is(err, profile.ErrOrganizationContactNotFound):
		return grpcerr.WithReason(codes.NotFound, profile.ErrOrganizationContactNotFound, "ORGANIZATION_CONTACT_NOT_FOUND")
	case errors.Is(err, profile.ErrOrganizationContactExists):
		return grpcerr.WithReason(codes.AlreadyExists, profile.ErrOrganizationContactExists, "ORGANIZATION_CONTACT_EXISTS")
	case errors.Is(err, profile.ErrGroupNotFound):
		return grpcerr.WithReason(codes.NotFound, profile.ErrGroupNotFound, "GROUP_NOT_FOUND")
	case errors.Is(err, profile.ErrMemberNotFound):
		return grpcerr.WithReason(codes.NotFound, profile.ErrMemberNotFound, "GROUP_MEMBER_NOT_FOUND")
	case errors.Is(err, profile.ErrMembershipOverlap):
		return grpcerr.WithReason(codes.FailedPrecondition, profile.ErrMembershipOverlap, "MEMBERSHIP_OVERLAP")
	case errors.Is(err, profile.ErrRelationshipNotFound):
		return grpcerr.WithReason(codes.NotFound, profile.ErrRelationshipNotFound, "RELATIONSHIP_NOT_FOUND")
	case errors.Is(err, profile.ErrRelationshipExists):
		return grpcerr.WithReason(codes.AlreadyExists, profile.ErrRelationshipExists, "RELATIONSHIP_EXISTS")
	case errors.Is(err, profile.ErrAttributeNotFound):
		return grpcerr.WithReason(codes.NotFound, profile.ErrAttributeNotFound, "CUSTOM_ATTRIBUTE_NOT_FOUND")
	case errors.Is(err, profile.ErrAttributeExists):
		return grpcerr.WithReason(codes.AlreadyExists, profile.ErrAttributeExists, "CUSTOM_ATTRIBUTE_EXISTS")
	case errors.Is(err, profile.ErrAttributeInUse):
		return grpcerr.WithReason(codes.FailedPrecondition, profile.ErrAttributeInUse, "CUSTOM_ATTRIBUTE_IN_USE")
	case errors.Is(err, classify.ErrEtagMismatch), errors.Is(err, profile.ErrEtagMismatch), errors.Is(err, relationship.ErrEtagMismatch),
		errors.Is(err, resolution.ErrEtagMismatch):
		return grpcerr.WithReason(codes.Aborted, err, "ETAG_MISMATCH")
	case errors.Is(err, loyalty.ErrProgramNotFound):
		return grpcerr.WithReason(codes.NotFound, loyalty.ErrProgramNotFound, "LOYALTY_PROGRAM_NOT_FOUND")
	case errors.Is(err, loyalty.ErrNotMember):
		return grpcerr.WithReason(codes.NotFound, loyalty.ErrNotMember, "LOYALTY_MEMBER_NOT_FOUND")
	case errors.Is(err, loyalty.ErrProgramInactive):
		return grpcerr.WithReason(codes.FailedPrecondition, loyalty.ErrProgramInactive, "LOYALTY_PROGRAM_INACTIVE")
	case errors.Is(err, loyalty.ErrInsufficientPoints):
		return grpcerr.WithViolations(codes.FailedPrecondition, err, "INSUFFICIENT_POINTS", validation.Violation{Field: "points", Description: err.Error()})
	case errors.Is(err, loyalty.ErrReferenceReused):
		return grpcerr.WithReason(codes.AlreadyExists, loyalty.ErrReferenceReused, "EXTERNAL_REFERENCE_REUSED")
	case errors.Is(err, loyalty.ErrTierTaken):
		return grpcerr.WithReason(codes.AlreadyExists, loyalty.ErrTierTaken, "LOYALTY_TIER_TAKEN")
	case errors.Is(err, loyalty.ErrEtagMismatch):
		return grpcerr.WithReason(codes.Aborted, loyalty.ErrEtagMismatch, "ETAG_MISMATCH")
	case errors.Is(err, privacy.ErrErased):
		return grpcerr.WithReason(codes.FailedPrecondition, privacy.ErrErased, "CUSTOMER_ERASED")
	case errors.Is(err, relationship.ErrCustomerNotFound):
		return grpcerr.WithReason(codes.NotFound, relationship.ErrCustomerNotFound, "CUSTOMER_NOT_FOUND")
	case errors.Is(err, relationship.ErrInteractionNotFound):
		return grpcerr.WithReason(codes.NotFound, relationship.ErrInteractionNotFound, "INTERACTION_NOT_FOUND")
	case errors.Is(err, relationship.ErrFollowUpNotFound):
		return grpcerr.WithReason(codes.NotFound, relationship.ErrFollowUpNotFound, "FOLLOW_UP_NOT_FOUND")
	case errors.Is(err, relationship.ErrPlanNotFound):
		return grpcerr.WithReason(codes.NotFound, relationship.ErrPlanNotFound, "FOLLOW_UP_PLAN_NOT_FOUND")
	case errors.Is(err, relationship.ErrDeleted):
		return grpcerr.WithReason(codes.FailedPrecondition, relationship.ErrDeleted, "RESOURCE_DELETED")
	case errors.Is(err, relationship.ErrFollowUpClosed):
		return grpcerr.WithReason(codes.FailedPrecondition, relationship.ErrFollowUpClosed, "FOLLOW_UP_CLOSED")
	case errors.Is(err, identity.ErrPrincipalNotFound):
		return grpcerr.WithReason(codes.NotFound, identity.ErrPrincipalNotFound, "PRINCIPAL_NOT_FOUND")
	case errors.Is(err, identity.ErrTenantNotFound):
		return grpcerr.WithReason(codes.NotFound, identity.ErrTenantNotFound, "TENANT_NOT_FOUND")
	case errors.Is(err, identity.ErrTeamNameTaken):
		return grpcerr.WithReason(codes.AlreadyExists, identity.ErrTeamNameTaken, "TEAM_NAME_TAKEN")
	case errors.Is(err, identity.ErrUnknownTeams):
		return grpcerr.Invalid(&validation.Error{Violations: []validation.Violation{{Field: "principal.team_ids", Description: "names a team that does not exist in this tenant"}}})
	case errors.Is(err, identity.ErrAPIKeyNotFound):
		return grpcerr.WithReason(codes.NotFound, identity.ErrAPIKeyNotFound, "API_KEY_NOT_FOUND")
	case errors.Is(err, identity.ErrNoSigner):
		return grpcerr.WithReason(codes.FailedPrecondition, identity.ErrNoSigner, "TOKENS_NOT_CONFIGURED")
	case errors.Is(err, imports.ErrJobNotFound):
		return grpcerr.WithReason(codes.NotFound, imports.ErrJobNotFound, "IMPORT_JOB_NOT_FOUND")
	case errors.Is(err, imports.ErrJobFinished):
		return grpcerr.WithReason(codes.FailedPrecondition, imports.ErrJobFinished, "IMPORT_JOB_FINISHED")
	case errors.Is(err, imports.ErrJobMismatch):
		return grpcerr.WithReason(codes.FailedPrecondition, imports.ErrJobMismatch, "IMPORT_JOB_OPTIONS_MISMATCH")
	case errors.Is(err, imports.ErrRowGap):
		return grpcerr.WithReason(codes.FailedPrecondition, err, "IMPORT_ROW_GAP")
	case errors.Is(err, imports.ErrJobBusy):
		return grpcerr.WithReason(codes.Aborted, imports.ErrJobBusy, "IMPORT_JOB_BUSY")
	}
	return err // the server interceptor masks it as Internal and logs it
}

// caller returns the authenticated caller; the interceptor guarantees one
// for every non-public method.
func caller(ctx context.Context) auth.Caller {
	c, _ := auth.CallerFrom(ctx)
	return c
}
