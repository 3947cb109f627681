// Package enablement is partner enablement: the tenant's onboarding
// checklist and each partner's progress through it, training courses, and
// course completions, which grant the certifications tiers require.
package enablement

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Events of enablement.
const (
	EventChecklistUpdated = "onboarding_checklist.updated"
	EventStepCompleted    = "partner.onboarding_step_completed"
	EventCourseCreated    = "training_course.created"
	EventCompleted        = "course_completion.created"
	// EventCertificationGranted is the event of a certification a
	// completion grants, the same as one recorded directly.
	EventCertificationGranted = "certification.created"
)

// Errors of the enablement use cases.
var (
	ErrPartnerNotFound = errors.New("partner not found")
	ErrCourseNotFound  = errors.New("training course not found")
	ErrUnknownStep     = errors.New("the onboarding checklist has no such step")
	ErrEtagMismatch    = errors.New("onboarding checklist changed since it was read (etag mismatch)")
)

// Who may do what.
var (
	managers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
	readers  = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleAnalyst, auth.RolePartnerUser}
)

// Limits.
const (
	maxSteps        = 50
	maxText         = 200
	maxRequestID    = 64
	maxValidityDays = 3650
	defaultPageSize = 50
	maxPageSize     = 1000
)

// Checklist is the tenant's onboarding steps, in order.
type Checklist struct {
	Steps    []string
	Revision int64 // 0: never set
}

// Etag is the opaque concurrency token of the checklist.
func (c Checklist) Etag() string { return strconv.FormatInt(c.Revision, 10) }

// Step is one step of a partner's onboarding.
type Step struct {
	Name         string
	Done         bool
	CompleteTime time.Time
	CompletedBy  string
}

// Onboarding is a partner's progress through the checklist.
type Onboarding struct {
	PartnerID uuid.UUID
	Steps     []Step
}

// DoneCount is how many steps are done.
func (o Onboarding) DoneCount() int {
	n := 0
	for _, s := range o.Steps {
		if s.Done {
			n++
		}
	}
	return n
}

// Course is a training course.
type Course struct {
	ID            uuid.UUID
	DisplayName   string
	Certification string
	ValidityDays  int32
	PassingScore  int32
	CreateTime    time.Time
}

// Resource is the course's resource name.
func (c Course) Resource() string { return "trainingCourses/" + c.ID.String() }

// Completion records a completed course.
type Completion struct {
	ID              uuid.UUID
	CourseID        uuid.UUID
	PartnerID       uuid.UUID
	LearnerID       string
	CompletionDate  time.Time
	Score           int32
	CertificationID uuid.UUID // uuid.Nil: none granted
	RecordedBy      string
	CreateTime      time.Time
}

// Resource is the completion's resource name.
func (c Completion) Resource() string { return "courseCompletions/" + c.ID.String() }

// ListQuery selects a page, newest first.
type ListQuery struct {
	PageSize  int
	PageToken string
	Filter    string
}

// CoursePage is one page of courses.
type CoursePage struct {
	Courses       []Course
	NextPageToken string
}

// CompletionPage is one page of completions.
type CompletionPage struct {
	Completions   []Completion
	NextPageToken string
}

// Store keeps enablement, scoped to the caller's tenant and what it may see.
type Store interface {
	Checklist(ctx context.Context, caller auth.Caller) (Checklist, error)
	// UpdateChecklist locks the checklist, applies change, saves it with its event.
	UpdateChecklist(ctx context.Context, caller auth.Caller, change func(*Checklist) error) (Checklist, error)
	// Onboarding returns the partner's steps done (ErrPartnerNotFound).
	Onboarding(ctx context.Context, caller auth.Caller, partner uuid.UUID) (map[string]Step, error)
	// CompleteStep records the step done once, with its event.
	CompleteStep(ctx context.Context, caller auth.Caller, partner uuid.UUID, step string) error
	CreateCourse(ctx context.Context, caller auth.Caller, c Course, requestID string) (Course, error)
	ListCourses(ctx context.Context, caller auth.Caller, q ListQuery) (CoursePage, error)
	// CreateCompletion inserts c and, when grant is not nil, the
	// certification it grants, with their events, in one transaction.
	CreateCompletion(ctx context.Context, caller auth.Caller, c Completion, grant func(Course) *Grant, requestID string) (Completion, error)
	ListCompletions(ctx context.Context, caller auth.Caller, q ListQuery) (CompletionPage, error)
}

// Grant is a certification a completion grants.
type Grant struct {
	ID         uuid.UUID
	Name       string
	EarnDate   time.Time
	ExpireDate time.Time // zero: never
}

// Service holds the enablement use cases.
type Service struct{ store Store }

// New returns a Service over store.
func New(store Store) *Service { return &Service{store: store} }

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

// Checklist returns the onboarding checklist.
func (s *Service) Checklist(ctx context.Context, caller auth.Caller) (Checklist, error) {
	if err := allow(caller, readers); err != nil {
		return Checklist{}, err
	}
	return s.store.Checklist(ctx, caller)
}

// UpdateChecklist replaces the checklist; step names are unique.
func (s *Service) UpdateChecklist(ctx context.Context, caller auth.Caller, steps []string, etag string) (Checklist, error) {
	if err := allow(caller, managers); err != nil {
		return Checklist{}, err
	}
	v := &validation.Error{}
	if len(steps) > maxSteps {
		v.Add("onboarding_checklist.steps", "must have at most %d steps", maxSteps)
	}
	seen := map[string]int{}
	for i := range steps {
		steps[i] = strings.TrimSpace(steps[i])
		field := fmt.Sprintf("onboarding_checklist.steps[%d]", i)
		if j, dup := seen[steps[i]]; dup {
			v.Add(field, "repeats steps[%d]", j)
		}
		seen[steps[i]] = i
		if steps[i] == "" || utf8.RuneCountInString(steps[i]) > maxText {
			v.Add(field, "must be 1 to %d characters", maxText)
		}
	}
	if err := v.Err(); err != nil {
		return Checklist{}, err
	}
	return s.store.UpdateChecklist(ctx, caller, func(c *Checklist) error {
		if etag != "" && etag != c.Etag() {
			return ErrEtagMismatch
		}
		c.Steps = steps
		return nil
	})
}

// Onboarding returns a partner's progress through the checklist.
func (s *Service) Onboarding(ctx context.Context, caller auth.Caller, partner uuid.UUID) (Onboarding, error) {
	if err := allow(caller, readers); err != nil {
		return Onboarding{}, err
	}
	return s.onboarding(ctx, caller, partner)
}

func (s *Service) onboarding(ctx context.Context, caller auth.Caller, partner uuid.UUID) (Onboarding, error) {
	done, err := s.store.Onboarding(ctx, caller, partner)
	if err != nil {
		return Onboarding{}, err
	}
	list, err := s.store.Checklist(ctx, caller)
	if err != nil {
		return Onboarding{}, err
	}
	o := Onboarding{PartnerID: partner}
	for _, name := range list.Steps {
		step, ok := done[name]
		if !ok {
			step = Step{Name: name}
		}
		o.Steps = append(o.Steps, step)
	}
	return o, nil
}

// CompleteStep marks a checklist step done for a partner.
func (s *Service) CompleteStep(ctx context.Context, caller auth.Caller, partner uuid.UUID, step string) (Onboarding, error) {
	if err := allow(caller, managers); err != nil {
		return Onboarding{}, err
	}
	step = strings.TrimSpace(step)
	if step == "" {
		return Onboarding{}, validation.Field("step", "is required")
	}
	list, err := s.store.Checklist(ctx, caller)
	if err != nil {
		return Onboarding{}, err
	}
	if !slices.Contains(list.Steps, step) {
		return Onboarding{}, fmt.Errorf("%w: %q (steps: %s)", ErrUnknownStep, step, strings.Join(list.Steps, ", "))
	}
	if err := s.store.CompleteStep(ctx, caller, partner, step); err != nil {
		return Onboarding{}, err
	}
	return s.onboarding(ctx, caller, partner)
}

// CreateCourse validates and stores a course.
func (s *Service) CreateCourse(ctx context.Context, caller auth.Caller, c Course, requestID string) (Course, error) {
	if err := allow(caller, managers); err != nil {
		return Course{}, err
	}
	c.DisplayName, c.Certification = strings.TrimSpace(c.DisplayName), strings.TrimSpace(c.Certification)
	v := &validation.Error{}
	switch {
	case c.DisplayName == "":
		v.Add("training_course.display_name", "is required")
	case utf8.RuneCountInString(c.DisplayName) > maxText:
		v.Add("training_course.display_name", "must be at most %d characters", maxText)
	}
	if utf8.RuneCountInString(c.Certification) > maxText {
		v.Add("training_course.certification", "must be at most %d characters", maxText)
	}
	if c.ValidityDays < 0 || c.ValidityDays > maxValidityDays {
		v.Add("training_course.validity_days", "must be 0 (no expiry) to %d", maxValidityDays)
	}
	if c.PassingScore < 0 || c.PassingScore > 100 {
		v.Add("training_course.passing_score", "must be 0 to 100")
	}
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Course{}, err
	}
	c.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateCourse(ctx, caller, c, requestID)
}

// ListCourses returns a page of courses.
func (s *Service) ListCourses(ctx context.Context, caller auth.Caller, q ListQuery) (CoursePage, error) {
	if err := allow(caller, readers); err != nil {
		return CoursePage{}, err
	}
	if err := pageSize(&q); err != nil {
		return CoursePage{}, err
	}
	return s.store.ListCourses(ctx, caller, q)
}

// CreateCompletion records a completion; a passing one of a certifying
// course grants the partner the certification from the completion date.
func (s *Service) CreateCompletion(ctx context.Context, caller auth.Caller, c Completion, requestID string) (Completion, error) {
	if err := allow(caller, managers); err != nil {
		return Completion{}, err
	}
	c.LearnerID = strings.TrimSpace(c.LearnerID)
	v := &validation.Error{}
	if c.CourseID == uuid.Nil {
		v.Add("course_completion.training_course_id", "is required")
	}
	if c.PartnerID == uuid.Nil {
		v.Add("course_completion.partner_id", "is required")
	}
	switch {
	case c.LearnerID == "":
		v.Add("course_completion.learner_id", "is required")
	case utf8.RuneCountInString(c.LearnerID) > maxText:
		v.Add("course_completion.learner_id", "must be at most %d characters", maxText)
	}
	if c.CompletionDate.IsZero() {
		v.Add("course_completion.completion_date", "is required")
	}
	if c.Score < 0 || c.Score > 100 {
		v.Add("course_completion.score", "must be 0 to 100")
	}
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Completion{}, err
	}
	c.ID, c.RecordedBy = uuid.Must(uuid.NewV7()), caller.PrincipalID
	return s.store.CreateCompletion(ctx, caller, c, func(course Course) *Grant {
		if course.Certification == "" || c.Score < course.PassingScore {
			return nil
		}
		g := &Grant{ID: uuid.Must(uuid.NewV7()), Name: course.Certification, EarnDate: c.CompletionDate}
		if course.ValidityDays > 0 {
			g.ExpireDate = c.CompletionDate.AddDate(0, 0, int(course.ValidityDays))
		}
		return g
	}, requestID)
}

// ListCompletions returns a page of completions.
func (s *Service) ListCompletions(ctx context.Context, caller auth.Caller, q ListQuery) (CompletionPage, error) {
	if err := allow(caller, readers); err != nil {
		return CompletionPage{}, err
	}
	if err := pageSize(&q); err != nil {
		return CompletionPage{}, err
	}
	return s.store.ListCompletions(ctx, caller, q)
}

func pageSize(q *ListQuery) error {
	switch {
	case q.PageSize < 0:
		return validation.Field("page_size", "must not be negative")
	case q.PageSize == 0:
		q.PageSize = defaultPageSize
	case q.PageSize > maxPageSize:
		q.PageSize = maxPageSize
	}
	return nil
}
