package ticket

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Event types of NPS surveys.
const (
	EventNPSSurveyCreated = "nps_survey.created"
	EventNPSAnswered      = "nps_survey.answered"
)

// Errors of NPS surveys.
var (
	ErrNPSSurveyNotFound = errors.New("NPS survey not found")
	// ErrNotRecipient means the customer was not sent the survey.
	ErrNotRecipient = errors.New("the customer is not a recipient of the survey")
	// ErrNPSAnswered means the recipient already answered.
	ErrNPSAnswered = errors.New("the customer already answered the survey")
	// ErrSegmentLookup means the customer service could not list the
	// segment's members; the caller may retry.
	ErrSegmentLookup = errors.New("the segment's members could not be fetched; retry later")
	// ErrSegmentNotFound means the customer service has no such segment.
	ErrSegmentNotFound = errors.New("segment not found")
)

// MaxNPSRecipients bounds a survey: the members are stored with it in one
// transaction.
const MaxNPSRecipients = 50000

// NPSSurvey is a survey sent to a segment's members.
type NPSSurvey struct {
	ID             uuid.UUID
	DisplayName    string
	SegmentID      uuid.UUID
	RecipientCount int32
	// The answers so far, by class.
	Promoters, Passives, Detractors int32
	CreateTime                      time.Time
}

// Resource is the survey's resource name.
func (s NPSSurvey) Resource() string { return "npsSurveys/" + s.ID.String() }

// Responses counts the answers.
func (s NPSSurvey) Responses() int32 { return s.Promoters + s.Passives + s.Detractors }

// NPS is the percentage of promoters minus that of detractors; 0 before any answer.
func (s NPSSurvey) NPS() float64 {
	n := s.Responses()
	if n == 0 {
		return 0
	}
	return 100 * float64(s.Promoters-s.Detractors) / float64(n)
}

// NPSResponse is a recipient's answer.
type NPSResponse struct {
	ID          uuid.UUID
	SurveyID    uuid.UUID
	CustomerID  uuid.UUID
	Score       int32
	Comment     string
	AnswerTime  time.Time
	PrincipalID string
}

// Segments lists a segment's members; implemented over gRPC by
// internal/clients/customer with the caller's credentials.
type Segments interface {
	// Members returns up to limit+1 member ids (so the caller sees an
	// overflow); ErrSegmentNotFound or a wrapped ErrSegmentLookup on failure.
	Members(ctx context.Context, segmentID uuid.UUID, limit int) ([]uuid.UUID, error)
}

// NPSStore keeps NPS surveys.
type NPSStore interface {
	// CreateNPSSurvey stores s with its recipients, or returns the survey an
	// earlier create with the same non-empty requestID made.
	CreateNPSSurvey(ctx context.Context, caller auth.Caller, s NPSSurvey, recipients []uuid.UUID, requestID string) (NPSSurvey, error)
	NPSSurvey(ctx context.Context, caller auth.Caller, id uuid.UUID) (NPSSurvey, error)
	// AnswerNPS records r for its recipient once, with a detractor's
	// event in the same transaction.
	AnswerNPS(ctx context.Context, caller auth.Caller, r NPSResponse) (NPSResponse, error)
}

// npsCreators send surveys to segments: a campaign decision.
var npsCreators = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}

// CreateNPSSurvey sends a survey to the current members of a segment.
func (s *Service) CreateNPSSurvey(ctx context.Context, caller auth.Caller, in NPSSurvey, requestID string) (NPSSurvey, error) {
	if err := allow(caller, npsCreators); err != nil {
		return NPSSurvey{}, err
	}
	in.DisplayName = strings.TrimSpace(in.DisplayName)
	v := &validation.Error{}
	validName(in.DisplayName, "nps_survey.display_name", v)
	if in.SegmentID == uuid.Nil {
		v.Add("nps_survey.segment_id", "is required")
	}
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return NPSSurvey{}, err
	}
	members, err := s.segments.Members(ctx, in.SegmentID, MaxNPSRecipients)
	switch {
	case errors.Is(err, ErrSegmentNotFound):
		return NPSSurvey{}, validation.Field("nps_survey.segment_id", "no such segment")
	case err != nil:
		return NPSSurvey{}, err
	case len(members) == 0:
		return NPSSurvey{}, validation.Field("nps_survey.segment_id", "the segment has no members")
	case len(members) > MaxNPSRecipients:
		return NPSSurvey{}, validation.Field("nps_survey.segment_id", "the segment has more than %d members", MaxNPSRecipients)
	}
	in.ID = uuid.Must(uuid.NewV7())
	in.RecipientCount = int32(len(members))
	return s.store.CreateNPSSurvey(ctx, caller, in, members, requestID)
}

// NPSSurvey returns a survey with its score.
func (s *Service) NPSSurvey(ctx context.Context, caller auth.Caller, id uuid.UUID) (NPSSurvey, error) {
	if err := allow(caller, readers); err != nil {
		return NPSSurvey{}, err
	}
	return s.store.NPSSurvey(ctx, caller, id)
}

// AnswerNPS records a recipient's answer (0 to 10), once, from whichever
// channel collected it.
func (s *Service) AnswerNPS(ctx context.Context, caller auth.Caller, r NPSResponse) (NPSResponse, error) {
	if err := allow(caller, writers); err != nil {
		return NPSResponse{}, err
	}
	r.Comment = strings.TrimSpace(r.Comment)
	v := &validation.Error{}
	if r.CustomerID == uuid.Nil {
		v.Add("response.customer_id", "is required")
	}
	if r.Score < 0 || r.Score > 10 {
		v.Add("response.score", "must be 0 to 10")
	}
	if utf8.RuneCountInString(r.Comment) > maxComment {
		v.Add("response.comment", "must be at most %d characters", maxComment)
	}
	if err := v.Err(); err != nil {
		return NPSResponse{}, err
	}
	r.ID = uuid.Must(uuid.NewV7())
	r.AnswerTime = now()
	r.PrincipalID = caller.PrincipalID
	return s.store.AnswerNPS(ctx, caller, r)
}
