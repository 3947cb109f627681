package consumer

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

func TestProjectFigures(t *testing.T) {
	t.Parallel()
	id, other := "0194c2a6-8f4c-7000-8000-000000000001", "0194c2a6-8f4c-7000-8000-000000000002"
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	eventTime := at.Add(time.Hour)
	usd := func(n int64) *typesv1.Money { return &typesv1.Money{CurrencyCode: "USD", AmountMinor: n} }
	parse := func(s string) uuid.UUID {
		id, err := uuid.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	tests := []struct {
		name    string
		typ     string
		payload proto.Message
		want    analytics.Event
	}{
		{"opportunity facts", "opportunity.stage_changed", &pipelinev1.Opportunity{OpportunityId: id, CustomerId: other, Amount: usd(5),
			OwnerId: "rep", SourcePartnerId: "p", CampaignId: "c", StageId: "s", StageKind: pipelinev1.StageKind_STAGE_KIND_WON,
			EngageDate: "2026-01-02", CreateTime: timestamppb.New(at), CloseTime: timestamppb.New(at),
			LineItems: []*pipelinev1.LineItem{{ProductId: "x"}, {ProductId: "y"}}},
			analytics.Event{Opportunity: &analytics.Opportunity{ID: parse(id), CustomerID: parse(other), Amount: analytics.Money{CurrencyCode: "USD", AmountMinor: 5},
				Sales: analytics.SalesFacts{OwnerID: "rep", PartnerID: "p", CampaignID: "c", StageID: "s", StageKind: analytics.StageKindWon,
					ProductIDs: []string{"x", "y"}, EngageDate: "2026-01-02", CreateTime: at, CloseTime: at}}}},
		{"ticket facts", "ticket.sla.breached", &ticketv1.Ticket{TicketId: id, CustomerId: other, Channel: ticketv1.Channel_CHANNEL_CHAT,
			Priority: ticketv1.Priority_PRIORITY_HIGH, AssigneeId: "agent", CreateTime: timestamppb.New(at),
			Sla: &ticketv1.TicketSla{SlaPolicyId: "p", ResolutionBreachedTime: timestamppb.New(at)}},
			analytics.Event{Ticket: &analytics.Ticket{ID: parse(id), CustomerID: parse(other),
				Service: analytics.ServiceFacts{Channel: 4, Priority: 3, AssigneeID: "agent", HasSLA: true, ResolutionBreached: true, CreateTime: at}}}},
		{"csat answered", "csat_survey.answered", &ticketv1.TicketCsatSurvey{SurveyId: "s1", TicketId: id, Score: 4, AnswerTime: timestamppb.New(at)},
			analytics.Event{Satisfaction: &analytics.Satisfaction{Kind: analytics.SatisfactionCSAT, Key: "s1", Score: 4, TicketID: parse(id), AnswerTime: at}}},
		{"csat not answered yet", "csat_survey.created", &ticketv1.TicketCsatSurvey{SurveyId: "s1", TicketId: id}, analytics.Event{}},
		{"nps answered", "nps_survey.answered", &ticketv1.NpsResponse{NpsSurveyId: "n", CustomerId: id, Score: 9},
			analytics.Event{Satisfaction: &analytics.Satisfaction{Kind: analytics.SatisfactionNPS, Key: "n/" + id, Score: 9, CustomerID: parse(id), AnswerTime: eventTime}}},
		{"nps survey itself", "nps_survey.created", &ticketv1.NpsSurvey{NpsSurveyId: "n"}, analytics.Event{}},
		{"campaign", "campaign.updated", &pipelinev1.Campaign{CampaignId: "c", Channel: pipelinev1.CampaignChannel_CAMPAIGN_CHANNEL_EVENT, Budget: usd(900), CostMinor: 700},
			analytics.Event{Campaign: &analytics.Campaign{ID: "c", Channel: 3, Cost: analytics.Money{CurrencyCode: "USD", AmountMinor: 700}}}},
		{"members synced", "campaign.members_synced", &pipelinev1.SyncCampaignMembersResponse{Added: 1}, analytics.Event{}},
		{"deal registration", "deal_registration.approved", &partnerv1.DealRegistration{DealRegistrationId: id, PartnerId: "p",
			State: partnerv1.DealRegistrationState_DEAL_REGISTRATION_STATE_APPROVED, Amount: usd(3), CreateTime: timestamppb.New(at)},
			analytics.Event{DealRegistration: &analytics.DealRegistration{ID: parse(id), PartnerID: "p", State: 3,
				Amount: analytics.Money{CurrencyCode: "USD", AmountMinor: 3}, CreateTime: at}}},
		{"quota", "quota.updated", &pipelinev1.Quota{QuotaId: id, Assignee: "rep", PeriodStart: "2026-01-01", PeriodEnd: "2026-03-31", Target: usd(10), Attained: usd(4)},
			analytics.Event{Quota: &analytics.Quota{ID: parse(id), Assignee: "rep", PeriodStart: "2026-01-01", PeriodEnd: "2026-03-31",
				Target: analytics.Money{CurrencyCode: "USD", AmountMinor: 10}, Attained: analytics.Money{CurrencyCode: "USD", AmountMinor: 4}}}},
		{"snapshot", "pipeline_snapshot.taken", &pipelinev1.PipelineSnapshot{SnapshotDate: "2026-03-01", OpportunityCount: 12, TakeTime: timestamppb.New(at)},
			analytics.Event{Snapshot: &analytics.PipelineSnapshot{Date: "2026-03-01", OpportunityCount: 12, TakeTime: at}}},
		{"rates loaded", "exchange_rates.loaded", &pipelinev1.LoadExchangeRatesRequest{Rates: []*pipelinev1.ExchangeRate{
			{BaseCurrency: "EUR", QuoteCurrency: "USD", RateDate: "2026-01-01", Rate: "1.1642"}}},
			analytics.Event{Rates: []analytics.ExchangeRate{{Base: "EUR", Quote: "USD", Date: "2026-01-01", Rate: "1.1642"}}}},
		{"reporting currency set", "reporting_settings.updated", &pipelinev1.ReportingSettings{ReportingCurrency: "EUR", UpdateTime: timestamppb.New(at)},
			analytics.Event{Reporting: &analytics.ReportingSettings{ReportingCurrency: "EUR", UpdateTime: at}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			payload, err := anypb.New(tt.payload)
			if err != nil {
				t.Fatal(err)
			}
			e := analytics.Event{Type: tt.typ, Time: eventTime}
			if err := project(&e, payload); err != nil {
				t.Fatalf("project(%s) = %v, want nil", tt.typ, err)
			}
			tt.want.Type, tt.want.Time = tt.typ, eventTime
			if diff := cmp.Diff(tt.want, e); diff != "" {
				t.Errorf("project(%s) (-want +got):\n%s", tt.typ, diff)
			}
		})
	}
}

// TestProjectBadRates checks that a rate the read model could not store is
// refused (the consumer quarantines the event) rather than half-applied.
func TestProjectBadRates(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		rate *pipelinev1.ExchangeRate
	}{
		{"no rate", &pipelinev1.ExchangeRate{BaseCurrency: "EUR", QuoteCurrency: "USD", RateDate: "2026-01-01"}},
		{"not a number", &pipelinev1.ExchangeRate{BaseCurrency: "EUR", QuoteCurrency: "USD", RateDate: "2026-01-01", Rate: "one"}},
		{"zero", &pipelinev1.ExchangeRate{BaseCurrency: "EUR", QuoteCurrency: "USD", RateDate: "2026-01-01", Rate: "0"}},
		{"bad date", &pipelinev1.ExchangeRate{BaseCurrency: "EUR", QuoteCurrency: "USD", RateDate: "2026-13-01", Rate: "1.1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			payload, err := anypb.New(&pipelinev1.LoadExchangeRatesRequest{Rates: []*pipelinev1.ExchangeRate{tt.rate}})
			if err != nil {
				t.Fatal(err)
			}
			e := analytics.Event{Type: "exchange_rates.loaded"}
			if err := project(&e, payload); err == nil {
				t.Fatalf("project(%s) = nil, want an error", tt.name)
			}
		})
	}
}
