package grpcapi_test

import (
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
)

func TestOnboarding(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.admin(t)
	p := e.newPartner(t, e.tenant, "p", "")
	other := e.newPartner(t, e.tenant, "other", "")
	if _, err := e.enable.UpdateOnboardingChecklist(admin, &partnerv1.UpdateOnboardingChecklistRequest{OnboardingChecklist: &partnerv1.OnboardingChecklist{
		Steps: []string{"Sign agreement", " sign agreement ", ""},
	}}); !grpctest.Violations(err)["onboarding_checklist.steps[2]"] {
		t.Fatalf("UpdateOnboardingChecklist with a blank step = %v, want a violation on steps[2]", err)
	}
	if _, err := e.enable.UpdateOnboardingChecklist(admin, &partnerv1.UpdateOnboardingChecklistRequest{OnboardingChecklist: &partnerv1.OnboardingChecklist{
		Steps: []string{"Sign agreement", " Sign agreement "},
	}}); !grpctest.Violations(err)["onboarding_checklist.steps[1]"] {
		t.Fatalf("UpdateOnboardingChecklist with a repeated step = %v, want a violation on steps[1]", err)
	}
	list, err := e.enable.UpdateOnboardingChecklist(admin, &partnerv1.UpdateOnboardingChecklistRequest{OnboardingChecklist: &partnerv1.OnboardingChecklist{
		Steps: []string{"Sign agreement", "Portal access", "First training"},
	}})
	if err != nil || list.GetOnboardingChecklist().GetEtag() != "1" {
		t.Fatalf("UpdateOnboardingChecklist = %v, %v", list, err)
	}
	if _, err := e.enable.UpdateOnboardingChecklist(admin, &partnerv1.UpdateOnboardingChecklistRequest{OnboardingChecklist: &partnerv1.OnboardingChecklist{
		Steps: []string{"x"}, Etag: "0",
	}}); status.Code(err) != codes.Aborted {
		t.Fatalf("UpdateOnboardingChecklist with a stale etag = %v, want Aborted", err)
	}
	for range 2 {
		if _, err := e.enable.CompleteOnboardingStep(admin, &partnerv1.CompleteOnboardingStepRequest{PartnerId: p, Step: "Portal access"}); err != nil {
			t.Fatalf("CompleteOnboardingStep: %v", err)
		}
	}
	got, err := e.enable.GetPartnerOnboarding(e.partnerUser(t, e.tenant, p), &partnerv1.GetPartnerOnboardingRequest{PartnerId: p})
	if err != nil {
		t.Fatal(err)
	}
	o := got.GetOnboarding()
	if o.GetDoneCount() != 1 || o.GetComplete() || len(o.GetSteps()) != 3 || !o.GetSteps()[1].GetDone() || o.GetSteps()[0].GetDone() {
		t.Fatalf("onboarding = %v, want step 2 of 3 done", o)
	}
	var events int
	if err := e.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE type = 'partner.onboarding_step_completed'`).Scan(&events); err != nil || events != 1 {
		t.Fatalf("step events = %d, %v, want 1 for a step completed twice", events, err)
	}
	tests := []struct {
		name     string
		req      *partnerv1.CompleteOnboardingStepRequest
		wantCode codes.Code
		wantWhy  string
	}{
		{name: "unknown step", req: &partnerv1.CompleteOnboardingStepRequest{PartnerId: p, Step: "Party"}, wantCode: codes.FailedPrecondition, wantWhy: "UNKNOWN_ONBOARDING_STEP"},
		{name: "no step", req: &partnerv1.CompleteOnboardingStepRequest{PartnerId: p}, wantCode: codes.InvalidArgument},
		{name: "unknown partner", req: &partnerv1.CompleteOnboardingStepRequest{PartnerId: uuid.NewString(), Step: "Portal access"}, wantCode: codes.NotFound},
	}
	for _, tt := range tests {
		_, err := e.enable.CompleteOnboardingStep(admin, tt.req)
		if status.Code(err) != tt.wantCode || (tt.wantWhy != "" && grpctest.Reason(err) != tt.wantWhy) {
			t.Errorf("%s: CompleteOnboardingStep = %v, want %v %s", tt.name, err, tt.wantCode, tt.wantWhy)
		}
	}
	if _, err := e.enable.CompleteOnboardingStep(e.partnerUser(t, e.tenant, p), &partnerv1.CompleteOnboardingStepRequest{PartnerId: p, Step: "Sign agreement"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("CompleteOnboardingStep by the partner's user = %v, want PermissionDenied", err)
	}
	if _, err := e.enable.GetPartnerOnboarding(e.partnerUser(t, e.tenant, other), &partnerv1.GetPartnerOnboardingRequest{PartnerId: p}); status.Code(err) != codes.NotFound {
		t.Errorf("GetPartnerOnboarding by another partner's user = %v, want NotFound", err)
	}
	if _, err := e.enable.GetPartnerOnboarding(e.as(t, e.other, auth.RoleAdmin), &partnerv1.GetPartnerOnboardingRequest{PartnerId: p}); status.Code(err) != codes.NotFound {
		t.Errorf("GetPartnerOnboarding from another tenant = %v, want NotFound", err)
	}
}

// TestTrainingGrantsCertificationThatGatesTier completes a certifying
// course: the certification it grants lifts the partner into the tier that
// requires it.
func TestTrainingGrantsCertificationThatGatesTier(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.admin(t)
	p := e.newPartner(t, e.tenant, "p", "")
	course, err := e.enable.CreateTrainingCourse(admin, &partnerv1.CreateTrainingCourseRequest{RequestId: "c-1", TrainingCourse: &partnerv1.TrainingCourse{
		DisplayName: "Gold sales", Certification: "gold-cert", ValidityDays: 365, PassingScore: 70,
	}})
	if err != nil {
		t.Fatalf("CreateTrainingCourse: %v", err)
	}
	courseID := course.GetTrainingCourse().GetTrainingCourseId()
	today := e.clock.now().UTC().Format("2006-01-02")
	complete := func(score int32, requestID string) *partnerv1.CourseCompletion {
		t.Helper()
		resp, err := e.enable.CreateCourseCompletion(admin, &partnerv1.CreateCourseCompletionRequest{RequestId: requestID, CourseCompletion: &partnerv1.CourseCompletion{
			TrainingCourseId: courseID, PartnerId: p, LearnerId: "lms-42", CompletionDate: today, Score: score,
		}})
		if err != nil {
			t.Fatalf("CreateCourseCompletion(score %d): %v", score, err)
		}
		return resp.GetCourseCompletion()
	}
	if failed := complete(60, ""); failed.GetCertificationId() != "" {
		t.Fatalf("a failing completion granted %s", failed.GetCertificationId())
	}
	passed := complete(85, "done-1")
	if passed.GetCertificationId() == "" {
		t.Fatal("a passing completion granted no certification")
	}
	if again := complete(85, "done-1"); again.GetCourseCompletionId() != passed.GetCourseCompletionId() {
		t.Fatalf("CreateCourseCompletion(same request_id) = %v, want the first", again)
	}
	certs, err := e.program.ListCertifications(e.partnerUser(t, e.tenant, p), &partnerv1.ListCertificationsRequest{})
	if err != nil || len(certs.GetCertifications()) != 1 || certs.GetCertifications()[0].GetName() != "gold-cert" || certs.GetCertifications()[0].GetExpireDate() == "" {
		t.Fatalf("certifications = %v, %v, want one expiring gold-cert", certs, err)
	}
	if _, err := e.program.UpdateTierSchedule(admin, &partnerv1.UpdateTierScheduleRequest{TierSchedule: &partnerv1.TierSchedule{CurrencyCode: "USD", Tiers: []*partnerv1.Tier{
		{Name: "registered", MaxRevenueMinor: 1}, {Name: "gold", MinRevenueMinor: 1, RequiredCertifications: []string{"gold-cert"}},
	}}}); err != nil {
		t.Fatal(err)
	}
	e.orders.add(p, finance.Order{Kind: finance.OrderSale, Time: e.clock.now(), CurrencyCode: "USD", Lines: []finance.OrderLine{{ProductID: uuid.NewString(), TotalMinor: 10}}})
	ev, err := e.program.EvaluatePartnerTier(admin, &partnerv1.EvaluatePartnerTierRequest{PartnerId: p})
	if err != nil || ev.GetEvaluation().GetTier() != "gold" {
		t.Fatalf("EvaluatePartnerTier = %v, %v, want gold thanks to the training", ev, err)
	}

	bad := []struct {
		name      string
		c         *partnerv1.CourseCompletion
		wantCode  codes.Code
		wantField string
	}{
		{name: "no learner", c: &partnerv1.CourseCompletion{TrainingCourseId: courseID, PartnerId: p, CompletionDate: today}, wantCode: codes.InvalidArgument, wantField: "course_completion.learner_id"},
		{name: "score over 100", c: &partnerv1.CourseCompletion{TrainingCourseId: courseID, PartnerId: p, LearnerId: "l", CompletionDate: today, Score: 101}, wantCode: codes.InvalidArgument, wantField: "course_completion.score"},
		{name: "bad date", c: &partnerv1.CourseCompletion{TrainingCourseId: courseID, PartnerId: p, LearnerId: "l", CompletionDate: "today"}, wantCode: codes.InvalidArgument, wantField: "course_completion.completion_date"},
		{name: "unknown course", c: &partnerv1.CourseCompletion{TrainingCourseId: uuid.NewString(), PartnerId: p, LearnerId: "l", CompletionDate: today}, wantCode: codes.NotFound},
		{name: "unknown partner", c: &partnerv1.CourseCompletion{TrainingCourseId: courseID, PartnerId: uuid.NewString(), LearnerId: "l", CompletionDate: today}, wantCode: codes.NotFound},
	}
	for _, tt := range bad {
		_, err := e.enable.CreateCourseCompletion(admin, &partnerv1.CreateCourseCompletionRequest{CourseCompletion: tt.c})
		if status.Code(err) != tt.wantCode || (tt.wantField != "" && !grpctest.Violations(err)[tt.wantField]) {
			t.Errorf("%s: CreateCourseCompletion = %v, want %v on %q", tt.name, err, tt.wantCode, tt.wantField)
		}
	}
	if _, err := e.enable.CreateTrainingCourse(e.partnerUser(t, e.tenant, p), &partnerv1.CreateTrainingCourseRequest{TrainingCourse: &partnerv1.TrainingCourse{DisplayName: "x"}}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("CreateTrainingCourse by a partner user = %v, want PermissionDenied", err)
	}
	other := e.newPartner(t, e.tenant, "other", "")
	list, err := e.enable.ListCourseCompletions(e.partnerUser(t, e.tenant, other), &partnerv1.ListCourseCompletionsRequest{})
	if err != nil || len(list.GetCourseCompletions()) != 0 {
		t.Errorf("ListCourseCompletions by another partner's user = %v, %v, want none", list, err)
	}
	own, err := e.enable.ListCourseCompletions(e.partnerUser(t, e.tenant, p), &partnerv1.ListCourseCompletionsRequest{Filter: `training_course_id = "` + courseID + `"`})
	if err != nil || len(own.GetCourseCompletions()) != 2 {
		t.Errorf("ListCourseCompletions by the partner's user = %v, %v, want its 2", own, err)
	}
}
