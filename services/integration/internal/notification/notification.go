// Package notification holds the rules of in-app notifications: who may
// send them, what they may say, and that each principal sees only its own.
package notification

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Events of notifications.
const (
	EventCreated = "notification.created"
	EventRead    = "notification.read"
)

// Limits of a notification and of its requests.
const (
	maxTitle        = 200
	maxBody         = 4000
	maxLink         = 2000
	maxRequestID    = 64
	defaultPageSize = 50
	maxPageSize     = 1000
)

// ErrNotFound means no notification of the caller has that id.
var ErrNotFound = errors.New("notification not found")

// senders may notify any principal of their tenant.
var senders = []auth.Role{auth.RoleAdmin}

// Notification is a message to one principal.
type Notification struct {
	ID          uuid.UUID
	RecipientID string
	Title       string
	Body        string
	Link        string
	Read        bool
	ReadTime    time.Time
	CreateTime  time.Time
}

// Resource is the notification's resource name.
func (n Notification) Resource() string { return "notifications/" + n.ID.String() }

// ListQuery is one page request.
type ListQuery struct {
	PageSize  int
	PageToken string
	Filter    string
}

// Page is a page of notifications.
type Page struct {
	Notifications []Notification
	NextPageToken string
}

// Store is what the use cases need of storage. Every read and change is
// of the caller's own notifications.
type Store interface {
	Create(ctx context.Context, caller auth.Caller, n Notification, requestID string) (Notification, error)
	List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error)
	MarkRead(ctx context.Context, caller auth.Caller, id uuid.UUID) (Notification, error)
	// Since returns up to limit of the caller's notifications created after
	// t, oldest first.
	Since(ctx context.Context, caller auth.Caller, t time.Time, limit int) ([]Notification, error)
}

// Service holds the notification use cases.
type Service struct{ store Store }

// New returns a Service over store.
func New(store Store) *Service { return &Service{store: store} }

// Create validates and stores a notification for a principal of the caller's tenant.
func (s *Service) Create(ctx context.Context, caller auth.Caller, n Notification, requestID string) (Notification, error) {
	if !caller.HasAny(senders...) {
		return Notification{}, auth.ErrForbidden
	}
	v := &validation.Error{}
	n.RecipientID = strings.TrimSpace(n.RecipientID)
	if n.RecipientID == "" || len(n.RecipientID) > 100 {
		v.Add("notification.recipient_principal_id", "is required (at most 100 characters)")
	}
	n.Title = strings.TrimSpace(n.Title)
	switch c := utf8.RuneCountInString(n.Title); {
	case c == 0:
		v.Add("notification.title", "is required")
	case c > maxTitle:
		v.Add("notification.title", "must be at most %d characters", maxTitle)
	}
	if utf8.RuneCountInString(n.Body) > maxBody {
		v.Add("notification.body", "must be at most %d characters", maxBody)
	}
	if n.Link != "" && !validLink(n.Link) {
		v.Add("notification.link", "must be a resource name such as \"customers/…\" or an https URL")
	}
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Notification{}, err
	}
	n.ID = uuid.Must(uuid.NewV7())
	return s.store.Create(ctx, caller, n, requestID)
}

// validLink accepts a relative resource name or an absolute https URL.
func validLink(l string) bool {
	if len(l) > maxLink || strings.ContainsAny(l, " \t\r\n") {
		return false
	}
	if u, err := url.Parse(l); err == nil && u.Scheme == "https" && u.Host != "" {
		return true
	}
	first, _, ok := strings.Cut(l, "/")
	return ok && first != "" && !strings.Contains(first, ":")
}

// List returns a page of the caller's notifications, newest first.
func (s *Service) List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error) {
	if q.PageSize < 0 {
		return Page{}, validation.Field("page_size", "must not be negative")
	}
	if q.PageSize == 0 {
		q.PageSize = defaultPageSize
	}
	q.PageSize = min(q.PageSize, maxPageSize)
	return s.store.List(ctx, caller, q)
}

// MarkRead marks one of the caller's notifications read.
func (s *Service) MarkRead(ctx context.Context, caller auth.Caller, id uuid.UUID) (Notification, error) {
	return s.store.MarkRead(ctx, caller, id)
}

// overlap is how far back each poll of Stream looks again: create_time is
// set when a transaction starts, so a notification can commit after a later
// one was already sent. One whose transaction took longer than this to
// commit could be missed; notifications are written in one short statement.
const overlap = 5 * time.Second

// Stream sends the caller's notifications created after t (now when zero),
// oldest first, then polls for new ones every poll until ctx ends or send
// fails. Each is sent once.
func (s *Service) Stream(ctx context.Context, caller auth.Caller, t time.Time, poll time.Duration, send func(Notification) error) error {
	if t.IsZero() {
		t = time.Now()
	}
	floor, mark := t, t
	sent := map[uuid.UUID]time.Time{}
	for {
		from := mark.Add(-overlap)
		if from.Before(floor) {
			from = floor
		}
		batch, err := s.store.Since(ctx, caller, from, 1000)
		if err != nil {
			return err
		}
		for _, n := range batch {
			if _, ok := sent[n.ID]; ok {
				continue
			}
			if err := send(n); err != nil {
				return err
			}
			sent[n.ID] = n.CreateTime
			if n.CreateTime.After(mark) {
				mark = n.CreateTime
			}
		}
		for id, at := range sent {
			if at.Before(mark.Add(-overlap)) {
				delete(sent, id)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}
