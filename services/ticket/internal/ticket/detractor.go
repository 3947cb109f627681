package ticket

import "github.com/google/uuid"

// EventDetractorRecorded is emitted in the transaction of an unhappy answer.
// The customer service follows every tenant's stream and turns each such
// event into one follow-up, so the help desk holds no delivery queue and no
// credentials of its own.
const EventDetractorRecorded = "detractor.recorded"

// IsCSATDetractor reports whether a CSAT answer (1 to 5) asks for a follow-up.
func IsCSATDetractor(score int32) bool { return score >= 1 && score <= 2 }

// IsNPSDetractor reports whether an NPS answer (0 to 10) asks for a follow-up.
func IsNPSDetractor(score int32) bool { return score >= 0 && score <= 6 }

// Kind says which survey an answer belongs to; the numbers match the API's enum.
type Kind int32

// Survey kinds.
const (
	KindUnspecified Kind = iota
	KindCSAT
	KindNPS
)

// Detractor is an unhappy answer that asks for a follow-up.
type Detractor struct {
	// SourceID is the CSAT survey or the NPS response.
	SourceID   uuid.UUID
	Kind       Kind
	TicketID   uuid.UUID // CSAT only
	CustomerID uuid.UUID
	Score      int32
}

// Resource names the answer the follow-up is for.
func (d Detractor) Resource() string {
	if d.Kind == KindNPS {
		return "npsResponses/" + d.SourceID.String()
	}
	return "tickets/" + d.TicketID.String() + "/csatSurvey"
}
