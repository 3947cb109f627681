package relationship

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// EventDetractorRecorded is the ticket service's event of an unhappy survey
// answer (a CSAT score of 1 or 2, an NPS score of 0 to 6). Every such event
// gets one follow-up for its customer, with or without plans.
const EventDetractorRecorded = "detractor.recorded"

// DetractorFollowUpDue is how soon after the answer an unhappy customer
// should hear from the business.
const DetractorFollowUpDue = 24 * time.Hour

// Detractor is the unhappy answer a detractor event reports.
type Detractor struct {
	// SourceID is the CSAT survey or the NPS response.
	SourceID uuid.UUID
	// NPS is true for an NPS answer, false for a ticket's CSAT answer.
	NPS bool
	// TicketID is the rated ticket (CSAT only).
	TicketID uuid.UUID
	Score    int32
}

// RequestID is the follow-up's idempotency key, derived from the answer so
// that reading the event again creates nothing twice. It is also the key the
// ticket service used when it delivered follow-ups itself, so answers it
// already delivered are not followed up a second time.
func (d Detractor) RequestID() string {
	if d.NPS {
		return "nps-detractor-" + d.SourceID.String()
	}
	return "csat-detractor-" + d.SourceID.String()
}

// Title says what to do, without the customer's comment, which stays in the
// help desk.
func (d Detractor) Title() string {
	if d.NPS {
		return fmt.Sprintf("Follow up a %d/10 NPS answer", d.Score)
	}
	return fmt.Sprintf("Follow up a %d/5 satisfaction answer", d.Score)
}

// Notes says where the answer came from.
func (d Detractor) Notes() string {
	if d.NPS {
		return "The customer answered an NPS survey as a detractor (npsResponses/" + d.SourceID.String() + ")."
	}
	return "The customer rated the resolution of tickets/" + d.TicketID.String() + " poorly."
}

// followsEveryTenant reports whether the runner follows source for every
// tenant rather than only for tenants with active plans: the ticket stream
// carries detractors, which need a follow-up whether or not a plan exists.
func followsEveryTenant(s Source) bool { return s == SourceTicket }

// detractorFollowUp is the follow-up of e's detractor for the customer's
// owner (unassigned when it has none).
func detractorFollowUp(e Event, owner *uuid.UUID) FollowUp {
	d := *e.Detractor
	return FollowUp{
		ID: uuid.Must(uuid.NewV7()), CustomerID: *e.CustomerID, Title: d.Title(), Notes: d.Notes(),
		AssigneeID: owner, DueTime: e.Time.Add(DetractorFollowUpDue).UTC(), Status: StatusOpen, RequestID: d.RequestID(),
	}
}
