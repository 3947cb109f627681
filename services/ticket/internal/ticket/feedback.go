package ticket

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// FeedbackStatus is where closing the loop stands; the numbers match the API's enum.
type FeedbackStatus int32

// Feedback statuses.
const (
	FeedbackUnspecified FeedbackStatus = iota
	FeedbackNew
	FeedbackAcknowledged
	FeedbackInProgress
	FeedbackClosed
)

// Event types of feedback.
const (
	EventFeedbackCreated = "feedback_item.created"
	EventFeedbackUpdated = "feedback_item.updated"
)

// ErrFeedbackNotFound means no such feedback item.
var ErrFeedbackNotFound = errors.New("feedback item not found")

const (
	maxFeedbackBody = 5000
	maxTopics       = 10
)

// Feedback is a piece of customer feedback from any channel.
type Feedback struct {
	ID         uuid.UUID
	CustomerID uuid.UUID // uuid.Nil when anonymous
	Channel    Channel
	Body       string
	Topics     []string
	Status     FeedbackStatus
	TicketID   uuid.UUID
	Resolution string
	CreateTime time.Time
	UpdateTime time.Time
	Revision   int64
}

// Etag is the item's concurrency token.
func (f Feedback) Etag() string { return strconv.FormatInt(f.Revision, 10) }

// Resource is the item's resource name.
func (f Feedback) Resource() string { return "feedbackItems/" + f.ID.String() }

func (f *Feedback) normalize() {
	f.Topics = cleanSkills(f.Topics)
	f.Resolution = strings.TrimSpace(f.Resolution)
	if f.Channel == ChannelUnspecified {
		f.Channel = ChannelWeb
	}
	if f.Status == FeedbackUnspecified {
		f.Status = FeedbackNew
	}
}

func (f Feedback) validate(v *validation.Error) {
	switch {
	case strings.TrimSpace(f.Body) == "":
		v.Add("feedback_item.body", "is required")
	case utf8.RuneCountInString(f.Body) > maxFeedbackBody:
		v.Add("feedback_item.body", "must be at most %d characters", maxFeedbackBody)
	}
	validSkills(f.Topics, maxTopics, "feedback_item.topics", v)
	if f.Channel < ChannelPhone || f.Channel > ChannelInPerson {
		v.Add("feedback_item.channel", "is not a known channel")
	}
	if f.Status < FeedbackNew || f.Status > FeedbackClosed {
		v.Add("feedback_item.status", "is not a known status")
	}
	if f.Status == FeedbackClosed && f.Resolution == "" {
		v.Add("feedback_item.resolution", "is required to close the loop: say what the customer was told")
	}
	if utf8.RuneCountInString(f.Resolution) > maxNote {
		v.Add("feedback_item.resolution", "must be at most %d characters", maxNote)
	}
}

// FeedbackQuery selects a page of feedback, newest first.
type FeedbackQuery struct {
	PageSize  int
	PageToken string
	Filter    string
}

// FeedbackStore keeps feedback items.
type FeedbackStore interface {
	CreateFeedback(ctx context.Context, caller auth.Caller, f Feedback, requestID string) (Feedback, error)
	Feedback(ctx context.Context, caller auth.Caller, id uuid.UUID) (Feedback, error)
	ListFeedback(ctx context.Context, caller auth.Caller, q FeedbackQuery) ([]Feedback, string, error)
	MutateFeedback(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(*Feedback) error) (Feedback, error)
}

// CreateFeedback records feedback.
func (s *Service) CreateFeedback(ctx context.Context, caller auth.Caller, f Feedback, requestID string) (Feedback, error) {
	if err := allow(caller, writers); err != nil {
		return Feedback{}, err
	}
	f.normalize()
	v := &validation.Error{}
	f.validate(v)
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Feedback{}, err
	}
	f.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateFeedback(ctx, caller, f, requestID)
}

// Feedback returns a feedback item.
func (s *Service) Feedback(ctx context.Context, caller auth.Caller, id uuid.UUID) (Feedback, error) {
	if err := allow(caller, readers); err != nil {
		return Feedback{}, err
	}
	return s.store.Feedback(ctx, caller, id)
}

// ListFeedback returns a page of feedback, newest first.
func (s *Service) ListFeedback(ctx context.Context, caller auth.Caller, q FeedbackQuery) ([]Feedback, string, error) {
	if err := allow(caller, readers); err != nil {
		return nil, "", err
	}
	size, err := pageSizeOf(q.PageSize)
	if err != nil {
		return nil, "", err
	}
	q.PageSize = size
	return s.store.ListFeedback(ctx, caller, q)
}

var feedbackUpdatable = []string{"topics", "status", "ticket_id", "resolution"}

// UpdateFeedback changes the fields in mask.
func (s *Service) UpdateFeedback(ctx context.Context, caller auth.Caller, in Feedback, mask []string, etag string) (Feedback, error) {
	if err := allow(caller, writers); err != nil {
		return Feedback{}, err
	}
	if err := checkMask(mask, feedbackUpdatable); err != nil {
		return Feedback{}, err
	}
	return s.store.MutateFeedback(ctx, caller, in.ID, func(f *Feedback) error {
		if err := checkEtag(f.Etag(), etag); err != nil {
			return err
		}
		for _, field := range mask {
			switch field {
			case "topics":
				f.Topics = in.Topics
			case "status":
				f.Status = in.Status
			case "ticket_id":
				f.TicketID = in.TicketID
			case "resolution":
				f.Resolution = in.Resolution
			}
		}
		f.normalize()
		v := &validation.Error{}
		f.validate(v)
		return v.Err()
	})
}
