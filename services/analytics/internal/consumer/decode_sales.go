package consumer

import (
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

// projectFigures decodes the payloads the figures are computed from, by the
// event type's first segment and the payload's message type; it reports
// whether it knew the pair.
func projectFigures(e *analytics.Event, kind string, payload *anypb.Any) (bool, error) {
	switch {
	case kind == "csat_survey" && payload.MessageIs(&ticketv1.TicketCsatSurvey{}):
		var m ticketv1.TicketCsatSurvey
		if err := payload.UnmarshalTo(&m); err != nil {
			return true, err
		}
		if m.GetAnswerTime() == nil {
			return true, nil // created or link issued: nothing to count yet
		}
		ticket, err := uuid.Parse(m.GetTicketId())
		if err != nil {
			return true, fmt.Errorf("ticket_id: %w", err)
		}
		e.Satisfaction = &analytics.Satisfaction{Kind: analytics.SatisfactionCSAT, Key: m.GetSurveyId(),
			Score: int16(m.GetScore()), TicketID: ticket, AnswerTime: m.GetAnswerTime().AsTime()}
	case kind == "nps_survey" && payload.MessageIs(&ticketv1.NpsResponse{}):
		var m ticketv1.NpsResponse
		if err := payload.UnmarshalTo(&m); err != nil {
			return true, err
		}
		customer, err := uuid.Parse(m.GetCustomerId())
		if err != nil {
			return true, fmt.Errorf("customer_id: %w", err)
		}
		e.Satisfaction = &analytics.Satisfaction{Kind: analytics.SatisfactionNPS, Key: m.GetNpsSurveyId() + "/" + m.GetCustomerId(),
			Score: int16(m.GetScore()), CustomerID: customer, AnswerTime: orEventTime(m.GetAnswerTime(), e)}
	case kind == "campaign" && payload.MessageIs(&pipelinev1.Campaign{}):
		var m pipelinev1.Campaign
		if err := payload.UnmarshalTo(&m); err != nil {
			return true, err
		}
		e.Campaign = &analytics.Campaign{ID: m.GetCampaignId(), Channel: int16(m.GetChannel()),
			Cost: analytics.Money{CurrencyCode: m.GetBudget().GetCurrencyCode(), AmountMinor: m.GetCostMinor()}}
	case kind == "deal_registration" && payload.MessageIs(&partnerv1.DealRegistration{}):
		var m partnerv1.DealRegistration
		if err := payload.UnmarshalTo(&m); err != nil {
			return true, err
		}
		id, err := uuid.Parse(m.GetDealRegistrationId())
		if err != nil {
			return true, fmt.Errorf("deal_registration_id: %w", err)
		}
		e.DealRegistration = &analytics.DealRegistration{ID: id, PartnerID: m.GetPartnerId(), State: int16(m.GetState()),
			Amount: money(m.GetAmount()), CreateTime: orEventTime(m.GetCreateTime(), e)}
	case kind == "quota" && payload.MessageIs(&pipelinev1.Quota{}):
		var m pipelinev1.Quota
		if err := payload.UnmarshalTo(&m); err != nil {
			return true, err
		}
		id, err := uuid.Parse(m.GetQuotaId())
		if err != nil {
			return true, fmt.Errorf("quota_id: %w", err)
		}
		if m.GetPeriodStart() == "" || m.GetPeriodEnd() == "" {
			return true, errors.New("no period")
		}
		e.Quota = &analytics.Quota{ID: id, Assignee: m.GetAssignee(), PeriodStart: m.GetPeriodStart(), PeriodEnd: m.GetPeriodEnd(),
			Target: money(m.GetTarget()), Attained: money(m.GetAttained())}
	case kind == "pipeline_snapshot" && payload.MessageIs(&pipelinev1.PipelineSnapshot{}):
		var m pipelinev1.PipelineSnapshot
		if err := payload.UnmarshalTo(&m); err != nil {
			return true, err
		}
		if m.GetSnapshotDate() == "" {
			return true, errors.New("no snapshot date")
		}
		e.Snapshot = &analytics.PipelineSnapshot{Date: m.GetSnapshotDate(), OpportunityCount: m.GetOpportunityCount(),
			TakeTime: orEventTime(m.GetTakeTime(), e)}
	case kind == "exchange_rates" && payload.MessageIs(&pipelinev1.LoadExchangeRatesRequest{}):
		var m pipelinev1.LoadExchangeRatesRequest
		if err := payload.UnmarshalTo(&m); err != nil {
			return true, err
		}
		for i, r := range m.GetRates() {
			if r.GetBaseCurrency() == "" || r.GetQuoteCurrency() == "" || r.GetRateDate() == "" || r.GetRate() == "" {
				return true, fmt.Errorf("rates[%d]: incomplete", i)
			}
			if v, ok := new(big.Rat).SetString(r.GetRate()); !ok || v.Sign() <= 0 {
				return true, fmt.Errorf("rates[%d].rate: not a positive decimal", i)
			}
			if _, err := time.Parse(time.DateOnly, r.GetRateDate()); err != nil {
				return true, fmt.Errorf("rates[%d].rate_date: %w", i, err)
			}
			e.Rates = append(e.Rates, analytics.ExchangeRate{Base: r.GetBaseCurrency(), Quote: r.GetQuoteCurrency(),
				Date: r.GetRateDate(), Rate: r.GetRate()})
		}
	case kind == "reporting_settings" && payload.MessageIs(&pipelinev1.ReportingSettings{}):
		var m pipelinev1.ReportingSettings
		if err := payload.UnmarshalTo(&m); err != nil {
			return true, err
		}
		e.Reporting = &analytics.ReportingSettings{ReportingCurrency: m.GetReportingCurrency(), UpdateTime: orEventTime(m.GetUpdateTime(), e)}
	default:
		return false, nil
	}
	return true, nil
}

// salesFacts reads an opportunity's dimensions and milestones.
func salesFacts(m *pipelinev1.Opportunity) analytics.SalesFacts {
	f := analytics.SalesFacts{
		OwnerID: m.GetOwnerId(), PartnerID: m.GetSourcePartnerId(), CampaignID: m.GetCampaignId(),
		StageID: m.GetStageId(), StageKind: analytics.StageKind(m.GetStageKind()), ForecastCategory: int16(m.GetForecastCategory()),
		EngageDate: m.GetEngageDate(), ExpectedCloseDate: m.GetExpectedCloseDate(),
		CreateTime: tsOrZero(m.GetCreateTime()), CloseTime: tsOrZero(m.GetCloseTime()), StageEnterTime: tsOrZero(m.GetStageEnterTime()),
		Deleted: m.GetDeleteTime() != nil,
	}
	for _, li := range m.GetLineItems() {
		f.ProductIDs = append(f.ProductIDs, li.GetProductId())
	}
	return f
}

// serviceFacts reads a ticket's dimensions and service milestones.
func serviceFacts(m *ticketv1.Ticket) analytics.ServiceFacts {
	sla := m.GetSla()
	return analytics.ServiceFacts{
		Channel: int16(m.GetChannel()), Priority: int16(m.GetPriority()), AssigneeID: m.GetAssigneeId(), PartnerID: m.GetPartnerId(),
		HasSLA:                sla.GetSlaPolicyId() != "",
		FirstResponseBreached: sla.GetFirstResponseBreachedTime() != nil,
		ResolutionBreached:    sla.GetResolutionBreachedTime() != nil,
		CreateTime:            tsOrZero(m.GetCreateTime()), FirstResponseTime: tsOrZero(m.GetFirstResponseTime()), ResolveTime: tsOrZero(m.GetResolveTime()),
	}
}

func money(m *typesv1.Money) analytics.Money {
	return analytics.Money{CurrencyCode: m.GetCurrencyCode(), AmountMinor: m.GetAmountMinor()}
}

func tsOrZero(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

// orEventTime is t, or the event's time when the payload carries none.
func orEventTime(t *timestamppb.Timestamp, e *analytics.Event) time.Time {
	if t == nil {
		return e.Time
	}
	return t.AsTime()
}
