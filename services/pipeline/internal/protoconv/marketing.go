package protoconv

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/marketing"
	"github.com/rapportcrm/rapport/services/pipeline/internal/rules"
)

// Campaign renders a campaign.
func Campaign(c marketing.Campaign) *pipelinev1.Campaign {
	return &pipelinev1.Campaign{
		CampaignId: c.ID.String(), DisplayName: c.DisplayName, Channel: pipelinev1.CampaignChannel(c.Channel),
		SegmentId: optionalString(c.SegmentID), Budget: Money(c.Budget), CostMinor: c.CostMinor,
		StartDate: c.StartDate, EndDate: c.EndDate, CreateTime: timestamppb.New(c.CreateTime),
		UpdateTime: timestamppb.New(c.UpdateTime), Etag: c.Etag(),
	}
}

// FromCampaign reads the writable fields of a campaign.
func FromCampaign(m *pipelinev1.Campaign) (marketing.Campaign, error) {
	v := &validation.Error{}
	c := marketing.Campaign{
		DisplayName: m.GetDisplayName(), Channel: marketing.Channel(m.GetChannel()),
		SegmentID: rules.OptionalID(m.GetSegmentId(), "campaign.segment_id", v),
		Budget:    rules.Money{CurrencyCode: m.GetBudget().GetCurrencyCode(), AmountMinor: m.GetBudget().GetAmountMinor()},
		CostMinor: m.GetCostMinor(), StartDate: m.GetStartDate(), EndDate: m.GetEndDate(),
	}
	return c, v.Err()
}

// CampaignMember renders a member.
func CampaignMember(campaign string, m marketing.Member) *pipelinev1.CampaignMember {
	return &pipelinev1.CampaignMember{CampaignId: campaign, CustomerId: m.CustomerID.String(), AddTime: timestamppb.New(m.AddTime)}
}

// CampaignResponse renders a response.
func CampaignResponse(r marketing.Response) *pipelinev1.CampaignResponse {
	return &pipelinev1.CampaignResponse{ResponseId: r.ID.String(), CampaignId: r.CampaignID.String(), CustomerId: r.CustomerID.String(),
		Kind: pipelinev1.ResponseKind(r.Kind), RespondTime: timestamppb.New(r.RespondTime)}
}

// FromCampaignResponse reads the writable fields of a response.
func FromCampaignResponse(m *pipelinev1.CampaignResponse) (marketing.Response, error) {
	v := &validation.Error{}
	r := marketing.Response{Kind: marketing.ResponseKind(m.GetKind())}
	if m.GetCustomerId() != "" {
		r.CustomerID = rules.ID(m.GetCustomerId(), "response.customer_id", v)
	}
	if m.GetRespondTime() != nil {
		if err := m.GetRespondTime().CheckValid(); err != nil {
			v.Add("response.respond_time", "is not a valid time")
		}
		r.RespondTime = m.GetRespondTime().AsTime()
	}
	return r, v.Err()
}

// Offer renders an offer.
func Offer(o marketing.Offer) *pipelinev1.Offer {
	out := &pipelinev1.Offer{
		OfferId: o.ID.String(), DisplayName: o.DisplayName, CampaignId: optionalString(o.CampaignID),
		ValueTiers: o.ValueTiers, DiscountBps: o.DiscountBps, StartDate: o.StartDate, EndDate: o.EndDate,
		CreateTime: timestamppb.New(o.CreateTime), Etag: o.Etag(),
	}
	for _, id := range o.SegmentIDs {
		out.SegmentIds = append(out.SegmentIds, id.String())
	}
	return out
}

// FromOffer reads the writable fields of an offer.
func FromOffer(m *pipelinev1.Offer) (marketing.Offer, error) {
	v := &validation.Error{}
	o := marketing.Offer{
		DisplayName: m.GetDisplayName(), CampaignID: rules.OptionalID(m.GetCampaignId(), "offer.campaign_id", v),
		SegmentIDs: rules.IDs(m.GetSegmentIds(), "offer.segment_ids", v), ValueTiers: append([]string(nil), m.GetValueTiers()...),
		DiscountBps: m.GetDiscountBps(), StartDate: m.GetStartDate(), EndDate: m.GetEndDate(),
	}
	return o, v.Err()
}

// CampaignROI renders a campaign's results.
func CampaignROI(campaign string, r marketing.ROI) *pipelinev1.GetCampaignRoiResponse {
	return &pipelinev1.GetCampaignRoiResponse{
		CampaignId: campaign, Model: pipelinev1.AttributionModel(r.Model), AttributedOpportunities: r.Attributed,
		WonOpportunities: r.Won, WonRevenue: &typesv1.Money{CurrencyCode: r.CurrencyCode, AmountMinor: r.WonRevenueMinor},
		Cost: &typesv1.Money{CurrencyCode: r.CurrencyCode, AmountMinor: r.CostMinor}, RoiBps: r.Bps(),
		OtherCurrencyOpportunities: r.OtherCurrencyWonCount,
	}
}
