// Package satisfaction projects the help desk's satisfaction answers of
// partners' customers: the customer service's partner links (with the time
// each held), which customer raised each ticket, and the ticket service's
// CSAT and NPS answers. Scorecards attribute an answer to the partners
// linked to its customer when it was given.
package satisfaction

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Kind tells a CSAT answer from an NPS one.
type Kind int16

// Kinds of answer.
const (
	KindCSAT Kind = 1 // score 1–5
	KindNPS  Kind = 2 // score 0–10
)

// Change is what one event means to the projection; at most one field is
// set, and none for the events it ignores.
type Change struct {
	Linked   *Link
	Unlinked *Unlink
	Ticket   *Ticket
	Answer   *Answer
}

// Link says a customer was linked to a partner at LinkTime.
type Link struct {
	CustomerID, PartnerID uuid.UUID
	LinkTime              time.Time
}

// Unlink ends the link made at LinkTime at UnlinkTime.
type Unlink struct {
	Link
	UnlinkTime time.Time
}

// Ticket says which customer raised a ticket.
type Ticket struct {
	TicketID, CustomerID uuid.UUID
}

// Answer is a satisfaction answer. A CSAT answer names its ticket (the
// customer is the ticket's); an NPS answer names its customer.
type Answer struct {
	Kind Kind
	// Key identifies the answer: an answer given again replaces it.
	Key        string
	TicketID   uuid.UUID
	CustomerID uuid.UUID
	Score      int
	AnswerTime time.Time
}

// Store keeps the projection and each stream's checkpoint per tenant.
type Store interface {
	// Checkpoint is the cursor after the last event applied from source
	// ("" before the first).
	Checkpoint(ctx context.Context, tenant uuid.UUID, source string) (string, error)
	// Apply applies c and moves source's checkpoint to cursor in one
	// transaction; applying an event again changes nothing.
	Apply(ctx context.Context, tenant uuid.UUID, source, cursor string, c Change) error
}

// Figures are a partner's help-desk satisfaction in a period.
type Figures struct {
	CSATSum, CSATCount                    int64
	NPSPromoters, NPSDetractors, NPSCount int64
}

// CSAT is the average CSAT score, 0 without answers.
func (f Figures) CSAT() float64 {
	if f.CSATCount == 0 {
		return 0
	}
	return float64(f.CSATSum) / float64(f.CSATCount)
}

// NPS is the net promoter score (−100 to 100), 0 without answers.
func (f Figures) NPS() float64 {
	if f.NPSCount == 0 {
		return 0
	}
	return 100 * float64(f.NPSPromoters-f.NPSDetractors) / float64(f.NPSCount)
}
