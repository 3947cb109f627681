package protoconv

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/partner/internal/enablement"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
)

// OnboardingChecklist renders the checklist as its API message.
func OnboardingChecklist(c enablement.Checklist) *partnerv1.OnboardingChecklist {
	return &partnerv1.OnboardingChecklist{Steps: c.Steps, Etag: c.Etag()}
}

// PartnerOnboarding renders a partner's progress as its API message.
func PartnerOnboarding(o enablement.Onboarding) *partnerv1.PartnerOnboarding {
	m := &partnerv1.PartnerOnboarding{PartnerId: o.PartnerID.String(), DoneCount: int32(o.DoneCount())}
	m.Complete = int(m.DoneCount) == len(o.Steps)
	for _, s := range o.Steps {
		step := &partnerv1.OnboardingStep{Name: s.Name, Done: s.Done, CompletedBy: s.CompletedBy}
		if s.Done {
			step.CompleteTime = timestamppb.New(s.CompleteTime)
		}
		m.Steps = append(m.Steps, step)
	}
	return m
}

// TrainingCourse renders a course as its API message.
func TrainingCourse(c enablement.Course) *partnerv1.TrainingCourse {
	return &partnerv1.TrainingCourse{
		TrainingCourseId: c.ID.String(), DisplayName: c.DisplayName, Certification: c.Certification,
		ValidityDays: c.ValidityDays, PassingScore: c.PassingScore, CreateTime: timestamppb.New(c.CreateTime),
	}
}

// FromTrainingCourse reads a course from its API message.
func FromTrainingCourse(m *partnerv1.TrainingCourse) enablement.Course {
	return enablement.Course{DisplayName: m.GetDisplayName(), Certification: m.GetCertification(), ValidityDays: m.GetValidityDays(), PassingScore: m.GetPassingScore()}
}

// CourseCompletion renders a completion as its API message.
func CourseCompletion(c enablement.Completion) *partnerv1.CourseCompletion {
	return &partnerv1.CourseCompletion{
		CourseCompletionId: c.ID.String(), TrainingCourseId: c.CourseID.String(), PartnerId: c.PartnerID.String(),
		LearnerId: c.LearnerID, CompletionDate: finance.FormatDate(c.CompletionDate), Score: c.Score,
		CertificationId: idString(c.CertificationID), RecordedBy: c.RecordedBy, CreateTime: timestamppb.New(c.CreateTime),
	}
}

// FromCourseCompletion reads a completion from its API message.
func FromCourseCompletion(m *partnerv1.CourseCompletion) (enablement.Completion, error) {
	v := &validation.Error{}
	c := enablement.Completion{LearnerID: m.GetLearnerId(), Score: m.GetScore()}
	c.CourseID = optionalUUID(v, "course_completion.training_course_id", m.GetTrainingCourseId())
	c.PartnerID = optionalUUID(v, "course_completion.partner_id", m.GetPartnerId())
	c.CompletionDate = Date(v, "course_completion.completion_date", m.GetCompletionDate())
	return c, v.Err()
}
