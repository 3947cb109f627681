package analytics

import (
	"time"

	"github.com/google/uuid"
)

// StageKind says whether a pipeline stage is open, won or lost; the numbers
// match the pipeline API's enum.
type StageKind int16

// Stage kinds.
const (
	StageKindUnspecified StageKind = iota
	StageKindOpen
	StageKindWon
	StageKindLost
)

// SalesFacts are an opportunity's dimensions and milestones.
type SalesFacts struct {
	OwnerID, PartnerID, CampaignID string
	StageID                        string
	StageKind                      StageKind
	// ForecastCategory is the pipeline API's forecast category number.
	ForecastCategory int16
	ProductIDs       []string
	// EngageDate and ExpectedCloseDate are calendar dates ("YYYY-MM-DD") or empty.
	EngageDate, ExpectedCloseDate string
	CreateTime                    time.Time
	// CloseTime is zero while the opportunity is open; StageEnterTime is
	// when it entered its current stage.
	CloseTime, StageEnterTime time.Time
	Deleted                   bool
}

// ServiceFacts are a ticket's dimensions and service milestones.
type ServiceFacts struct {
	// Channel and Priority are the ticket API's enum numbers.
	Channel, Priority     int16
	AssigneeID, PartnerID string
	// HasSLA is true when an SLA policy applied; the breached flags say
	// which of its targets were missed.
	HasSLA                                     bool
	FirstResponseBreached, ResolutionBreached  bool
	CreateTime, FirstResponseTime, ResolveTime time.Time
}

// SatisfactionKind tells CSAT answers from NPS answers.
type SatisfactionKind int16

// Satisfaction kinds.
const (
	SatisfactionCSAT SatisfactionKind = 1
	SatisfactionNPS  SatisfactionKind = 2
)

// Satisfaction is one answered survey: CSAT (score 1–5, naming its ticket)
// or NPS (score 0–10, naming its customer).
type Satisfaction struct {
	Kind SatisfactionKind
	// Key identifies the answer within its kind, so a replayed answer overwrites itself.
	Key        string
	Score      int16
	TicketID   uuid.UUID
	CustomerID uuid.UUID
	AnswerTime time.Time
}

// Campaign is the part of a campaign the ROI figures need.
type Campaign struct {
	ID string
	// Channel is the pipeline API's campaign channel number.
	Channel int16
	// Cost is what the campaign cost, in its budget's currency.
	Cost Money
}

// DealRegistration is the part of a deal registration the partner figures need.
type DealRegistration struct {
	ID        uuid.UUID
	PartnerID string
	// State is the partner API's registration state number.
	State      int16
	Amount     Money
	CreateTime time.Time
}

// Deal registration states the figures tell apart.
const (
	DealRegistrationApproved int16 = 3
	DealRegistrationRejected int16 = 4
)

// Quota is a sales target and what the pipeline service counted against it.
type Quota struct {
	ID       uuid.UUID
	Assignee string
	// PeriodStart and PeriodEnd are calendar dates ("YYYY-MM-DD"), inclusive.
	PeriodStart, PeriodEnd string
	Target, Attained       Money
}

// PipelineSnapshot is one day's count of open opportunities.
type PipelineSnapshot struct {
	// Date is a calendar date ("YYYY-MM-DD").
	Date             string
	OpportunityCount int64
	TakeTime         time.Time
}

// ExchangeRate is one of the pipeline service's rates: Rate units of Quote
// per unit of Base from Date on.
type ExchangeRate struct {
	Base, Quote string
	// Date is a calendar date ("YYYY-MM-DD").
	Date string
	// Rate is a positive decimal string, such as "1.1642".
	Rate string
}

// ReportingSettings are the tenant's reporting currency as the pipeline
// service last set it.
type ReportingSettings struct {
	ReportingCurrency string
	UpdateTime        time.Time
}

// Erasure is the customer service erasing a customer: the read model
// removes what it holds of the person (see the store's Apply).
type Erasure struct {
	CustomerID uuid.UUID
}
