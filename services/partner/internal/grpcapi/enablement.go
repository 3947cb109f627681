package grpcapi

import (
	"context"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/partner/internal/enablement"
	"github.com/rapportcrm/rapport/services/partner/internal/protoconv"
)

// Enablement implements partnerv1.EnablementServiceServer.
type Enablement struct {
	partnerv1.UnimplementedEnablementServiceServer
	svc *enablement.Service
}

// NewEnablement returns the server.
func NewEnablement(svc *enablement.Service) *Enablement { return &Enablement{svc: svc} }

// GetOnboardingChecklist implements the RPC.
func (s *Enablement) GetOnboardingChecklist(ctx context.Context, _ *partnerv1.GetOnboardingChecklistRequest) (*partnerv1.GetOnboardingChecklistResponse, error) {
	c, err := s.svc.Checklist(ctx, caller(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.GetOnboardingChecklistResponse{OnboardingChecklist: protoconv.OnboardingChecklist(c)}, nil
}

// UpdateOnboardingChecklist implements the RPC.
func (s *Enablement) UpdateOnboardingChecklist(ctx context.Context, req *partnerv1.UpdateOnboardingChecklistRequest) (*partnerv1.UpdateOnboardingChecklistResponse, error) {
	if req.GetOnboardingChecklist() == nil {
		return nil, toStatus(validation.Field("onboarding_checklist", "is required"))
	}
	c, err := s.svc.UpdateChecklist(ctx, caller(ctx), req.GetOnboardingChecklist().GetSteps(), req.GetOnboardingChecklist().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.UpdateOnboardingChecklistResponse{OnboardingChecklist: protoconv.OnboardingChecklist(c)}, nil
}

// GetPartnerOnboarding implements the RPC.
func (s *Enablement) GetPartnerOnboarding(ctx context.Context, req *partnerv1.GetPartnerOnboardingRequest) (*partnerv1.GetPartnerOnboardingResponse, error) {
	id, err := parseID("partner_id", req.GetPartnerId())
	if err != nil {
		return nil, toStatus(err)
	}
	o, err := s.svc.Onboarding(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.GetPartnerOnboardingResponse{Onboarding: protoconv.PartnerOnboarding(o)}, nil
}

// CompleteOnboardingStep implements the RPC.
func (s *Enablement) CompleteOnboardingStep(ctx context.Context, req *partnerv1.CompleteOnboardingStepRequest) (*partnerv1.CompleteOnboardingStepResponse, error) {
	id, err := parseID("partner_id", req.GetPartnerId())
	if err != nil {
		return nil, toStatus(err)
	}
	o, err := s.svc.CompleteStep(ctx, caller(ctx), id, req.GetStep())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.CompleteOnboardingStepResponse{Onboarding: protoconv.PartnerOnboarding(o)}, nil
}

// CreateTrainingCourse implements the RPC.
func (s *Enablement) CreateTrainingCourse(ctx context.Context, req *partnerv1.CreateTrainingCourseRequest) (*partnerv1.CreateTrainingCourseResponse, error) {
	if req.GetTrainingCourse() == nil {
		return nil, toStatus(validation.Field("training_course", "is required"))
	}
	c, err := s.svc.CreateCourse(ctx, caller(ctx), protoconv.FromTrainingCourse(req.GetTrainingCourse()), req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.CreateTrainingCourseResponse{TrainingCourse: protoconv.TrainingCourse(c)}, nil
}

// ListTrainingCourses implements the RPC.
func (s *Enablement) ListTrainingCourses(ctx context.Context, req *partnerv1.ListTrainingCoursesRequest) (*partnerv1.ListTrainingCoursesResponse, error) {
	page, err := s.svc.ListCourses(ctx, caller(ctx), enablement.ListQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &partnerv1.ListTrainingCoursesResponse{NextPageToken: page.NextPageToken, TrainingCourses: make([]*partnerv1.TrainingCourse, len(page.Courses))}
	for i, c := range page.Courses {
		out.TrainingCourses[i] = protoconv.TrainingCourse(c)
	}
	return out, nil
}

// CreateCourseCompletion implements the RPC.
func (s *Enablement) CreateCourseCompletion(ctx context.Context, req *partnerv1.CreateCourseCompletionRequest) (*partnerv1.CreateCourseCompletionResponse, error) {
	if req.GetCourseCompletion() == nil {
		return nil, toStatus(validation.Field("course_completion", "is required"))
	}
	c, err := protoconv.FromCourseCompletion(req.GetCourseCompletion())
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.CreateCompletion(ctx, caller(ctx), c, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &partnerv1.CreateCourseCompletionResponse{CourseCompletion: protoconv.CourseCompletion(saved)}, nil
}

// ListCourseCompletions implements the RPC.
func (s *Enablement) ListCourseCompletions(ctx context.Context, req *partnerv1.ListCourseCompletionsRequest) (*partnerv1.ListCourseCompletionsResponse, error) {
	page, err := s.svc.ListCompletions(ctx, caller(ctx), enablement.ListQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &partnerv1.ListCourseCompletionsResponse{NextPageToken: page.NextPageToken, CourseCompletions: make([]*partnerv1.CourseCompletion, len(page.Completions))}
	for i, c := range page.Completions {
		out.CourseCompletions[i] = protoconv.CourseCompletion(c)
	}
	return out, nil
}
