package ticket

import (
	"context"
	"fmt"
	"mime"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Visibility says who may read a message; the numbers match the API's enum.
type Visibility int32

// Visibilities.
const (
	VisibilityUnspecified Visibility = iota
	VisibilityPublic
	VisibilityInternal
)

// AuthorKind says who wrote a message; the numbers match the API's enum.
type AuthorKind int32

// Author kinds.
const (
	AuthorUnspecified AuthorKind = iota
	AuthorAgent
	AuthorCustomer
	AuthorSystem
)

// EventMessageCreated is recorded for every reply and note.
const EventMessageCreated = "ticket.message_created"

// Limits of messages.
const (
	maxBody          = 20000
	maxAttachments   = 10
	maxFileName      = 255
	maxAttachmentURI = 2000
	// MaxAttachmentBytes matches the customer service's default document limit.
	MaxAttachmentBytes = 25 << 20
)

// Attachment refers to a file kept elsewhere: a document of the customer
// service or an https URL. Tickets keep references, not bytes, because the
// customer service already stores versioned, access-checked, erasable
// documents; a second blob store here would duplicate that and escape its
// erasure.
type Attachment struct {
	URI         string `json:"uri"`
	FileName    string `json:"file_name"`
	ContentType string `json:"content_type"`
	SizeBytes   int64  `json:"size_bytes"`
}

// Message is a public reply or internal note on a ticket.
type Message struct {
	ID          uuid.UUID
	TicketID    uuid.UUID
	Visibility  Visibility
	AuthorKind  AuthorKind
	AuthorID    string
	Body        string
	Attachments []Attachment
	CreateTime  time.Time
}

// Resource is the message's resource name.
func (m Message) Resource() string {
	return "tickets/" + m.TicketID.String() + "/messages/" + m.ID.String()
}

var documentURI = regexp.MustCompile(`^customers/[0-9a-f-]{36}/documents/[0-9a-f-]{36}$`)

func (a Attachment) validate(field string, v *validation.Error) {
	switch u, err := url.Parse(a.URI); {
	case a.URI == "":
		v.Add(field+".uri", "is required")
	case utf8.RuneCountInString(a.URI) > maxAttachmentURI:
		v.Add(field+".uri", "must be at most %d characters", maxAttachmentURI)
	case documentURI.MatchString(a.URI):
	case err != nil || u.Scheme != "https" || u.Host == "":
		v.Add(field+".uri", "must be customers/{customer_id}/documents/{document_id} or an https URL")
	}
	if a.FileName == "" || utf8.RuneCountInString(a.FileName) > maxFileName {
		v.Add(field+".file_name", "must be 1 to %d characters", maxFileName)
	}
	if mt, _, err := mime.ParseMediaType(a.ContentType); err != nil || !strings.Contains(mt, "/") {
		v.Add(field+".content_type", "must be a MIME type such as image/png")
	}
	if a.SizeBytes < 0 || a.SizeBytes > MaxAttachmentBytes {
		v.Add(field+".size_bytes", "must be 0 to %d", MaxAttachmentBytes)
	}
}

// ConversationStore keeps ticket messages.
type ConversationStore interface {
	// AddMessage locks the ticket, inserts m (or returns the message an
	// earlier add with the same non-empty requestID made, changing
	// nothing), and applies touch to the ticket, saving it with touch's
	// event when that is not empty. ErrNotFound when the ticket is missing.
	AddMessage(ctx context.Context, caller auth.Caller, m Message, requestID string, touch Mutation) (Message, error)
	// Messages lists a ticket's messages, oldest first; only public ones
	// when publicOnly.
	Messages(ctx context.Context, caller auth.Caller, ticketID uuid.UUID, publicOnly bool, pageSize int, pageToken string) ([]Message, string, error)
	// PublicMessages returns the public messages of the tickets, by
	// ticket, oldest first.
	PublicMessages(ctx context.Context, caller auth.Caller, ticketIDs []uuid.UUID) (map[uuid.UUID][]Message, error)
}

// AddMessage posts a reply or note. A customer's message is always public;
// an agent's first public reply records the ticket's first response in the
// same transaction.
func (s *Service) AddMessage(ctx context.Context, caller auth.Caller, m Message, requestID string) (Message, error) {
	if err := allow(caller, writers); err != nil {
		return Message{}, err
	}
	if m.Visibility == VisibilityUnspecified {
		m.Visibility = VisibilityPublic
	}
	if m.AuthorKind == AuthorUnspecified {
		m.AuthorKind = AuthorAgent
	}
	v := &validation.Error{}
	if m.Visibility < VisibilityPublic || m.Visibility > VisibilityInternal {
		v.Add("message.visibility", "is not a known visibility")
	}
	if m.AuthorKind < AuthorAgent || m.AuthorKind > AuthorSystem {
		v.Add("message.author_kind", "is not a known author kind")
	}
	if m.AuthorKind == AuthorCustomer && m.Visibility == VisibilityInternal {
		v.Add("message.visibility", "a customer's message is public")
	}
	switch {
	case strings.TrimSpace(m.Body) == "":
		v.Add("message.body", "is required")
	case utf8.RuneCountInString(m.Body) > maxBody:
		v.Add("message.body", "must be at most %d characters", maxBody)
	}
	if len(m.Attachments) > maxAttachments {
		v.Add("message.attachments", "must hold at most %d attachments", maxAttachments)
	}
	for i, a := range m.Attachments {
		a.validate(fmt.Sprintf("message.attachments[%d]", i), v)
	}
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Message{}, err
	}
	m.ID = uuid.Must(uuid.NewV7())
	m.AuthorID = caller.PrincipalID
	m.CreateTime = now()
	if m.Attachments == nil {
		m.Attachments = []Attachment{}
	}
	return s.store.AddMessage(ctx, caller, m, requestID, func(t *Ticket) (string, error) {
		if m.AuthorKind != AuthorAgent || m.Visibility != VisibilityPublic || t.FirstResponseTime != nil {
			return "", nil
		}
		t.FirstResponseTime = &m.CreateTime
		t.SLA.NextDue = t.nextDue()
		return EventFirstResponse, nil
	})
}

// Messages lists a ticket's messages, oldest first. Partner users are
// outside the help desk: they get the public conversation only.
func (s *Service) Messages(ctx context.Context, caller auth.Caller, ticketID uuid.UUID, pageSize int, pageToken string) ([]Message, string, error) {
	if err := allow(caller, ticketReaders); err != nil {
		return nil, "", err
	}
	size, err := pageSizeOf(pageSize)
	if err != nil {
		return nil, "", err
	}
	publicOnly := !caller.HasAny(readers...)
	return s.store.Messages(ctx, caller, ticketID, publicOnly, size, pageToken)
}

// ExportedTicket is a ticket with its public conversation: what the
// customer may be given. Internal notes are never part of it.
type ExportedTicket struct {
	Ticket   Ticket
	Messages []Message
}

// Export page sizes: each ticket brings its whole public conversation.
const (
	defaultExportPage = 20
	maxExportPage     = 100
)

// exporters hand a customer its tickets: the help desk and sales staff,
// not analysts (the conversation is personal data) nor partner users.
var exporters = writers

// ExportTickets returns a page of the customer's tickets, newest first,
// each with its public messages; record access applies to the tickets.
func (s *Service) ExportTickets(ctx context.Context, caller auth.Caller, customerID uuid.UUID, pageSize int, pageToken string) ([]ExportedTicket, string, error) {
	if err := allow(caller, exporters); err != nil {
		return nil, "", err
	}
	v := &validation.Error{}
	if customerID == uuid.Nil {
		v.Add("customer_id", "is required")
	}
	if pageSize < 0 {
		v.Add("page_size", "must not be negative")
	}
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	if pageSize == 0 {
		pageSize = defaultExportPage
	}
	page, err := s.store.List(ctx, caller, ListQuery{PageSize: min(pageSize, maxExportPage), PageToken: pageToken,
		Filter: fmt.Sprintf("customer_id = %q", customerID.String())})
	if err != nil {
		return nil, "", err
	}
	ids := make([]uuid.UUID, len(page.Tickets))
	for i, t := range page.Tickets {
		ids[i] = t.ID
	}
	messages, err := s.store.PublicMessages(ctx, caller, ids)
	if err != nil {
		return nil, "", err
	}
	out := make([]ExportedTicket, len(page.Tickets))
	for i, t := range page.Tickets {
		out[i] = ExportedTicket{Ticket: t, Messages: messages[t.ID]}
	}
	return out, page.NextPageToken, nil
}
