// Package protoconv converts the pipeline's domain types to and from their
// API messages; the API and the event payloads share it.
package protoconv

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
)

// Opportunity renders an opportunity as its API message, without the
// fields that depend on the time of reading (events and audit rows stay
// reproducible); OpportunityAt adds them.
func Opportunity(o pipeline.Opportunity) *pipelinev1.Opportunity {
	out := &pipelinev1.Opportunity{
		OpportunityId:     o.ID.String(),
		CustomerId:        o.CustomerID.String(),
		DisplayName:       o.DisplayName,
		Amount:            &typesv1.Money{CurrencyCode: o.Amount.CurrencyCode, AmountMinor: o.Amount.AmountMinor},
		Stage:             pipelinev1.Stage(o.Stage),
		ExpectedCloseDate: o.ExpectedCloseDate,
		ExternalId:        o.ExternalID,
		CreateTime:        timestamppb.New(o.CreateTime),
		UpdateTime:        timestamppb.New(o.UpdateTime),
		Etag:              o.Etag(),
		PipelineId:        o.PipelineID.String(),
		StageId:           o.StageID.String(),
		StageKind:         pipelinev1.StageKind(o.StageKind),
		EngageDate:        o.EngageDate,
		CloseReason:       o.CloseReason,
		StageEnterTime:    timestamppb.New(o.StageEnterTime),
		CloseTime:         optionalTime(o.CloseTime),
		DeleteTime:        optionalTime(o.DeleteTime),
		OwnerId:           optionalString(o.OwnerID),
		SourcePartnerId:   optionalString(o.SourcePartnerID),
		PriceListId:       optionalString(o.PriceListID),
		ForecastCategory:  pipelinev1.ForecastCategory(o.ForecastCategory),
		CampaignId:        optionalString(o.CampaignID),
	}
	for _, t := range o.OwnerTeamIDs {
		out.OwnerTeamIds = append(out.OwnerTeamIds, t.String())
	}
	if m, ok := o.ReportingAmount(); ok {
		out.ReportingAmount = &typesv1.Money{CurrencyCode: m.CurrencyCode, AmountMinor: m.AmountMinor}
	}
	if days, ok := o.CycleDays(); ok {
		out.CycleTimeDays = days
	}
	for _, l := range o.LineItems {
		out.LineItems = append(out.LineItems, &pipelinev1.LineItem{
			LineId: l.ID.String(), ProductId: l.ProductID.String(), Quantity: l.Quantity, UnitPriceMinor: l.UnitPriceMinor,
			PriceOverridden: l.PriceOverridden, DiscountBps: l.DiscountBps, TotalMinor: l.TotalMinor,
		})
	}
	return out
}

// OpportunityAt is Opportunity with the time in stage as of now.
func OpportunityAt(o pipeline.Opportunity, now time.Time) *pipelinev1.Opportunity {
	out := Opportunity(o)
	if !o.StageKind.Closed() {
		out.TimeInStage = durationpb.New(o.TimeInStage(now))
	}
	return out
}

func optionalTime(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

func optionalString(id *uuid.UUID) string {
	if id == nil {
		return ""
	}
	return id.String()
}

// FromOpportunity reads the writable fields of an API message; field paths
// in violations start with prefix. Which fields are required is the
// domain's (or, for a message that must carry one, the caller's) concern.
func FromOpportunity(m *pipelinev1.Opportunity, prefix string) (pipeline.Opportunity, error) {
	v := &validation.Error{}
	o := pipeline.Opportunity{
		DisplayName:       m.GetDisplayName(),
		Stage:             pipeline.Stage(m.GetStage()),
		ExpectedCloseDate: m.GetExpectedCloseDate(),
		EngageDate:        m.GetEngageDate(),
		ExternalID:        m.GetExternalId(),
		ForecastCategory:  pipeline.ForecastCategory(m.GetForecastCategory()),
	}
	o.Amount = pipeline.Money{CurrencyCode: m.GetAmount().GetCurrencyCode(), AmountMinor: m.GetAmount().GetAmountMinor()}
	if _, ok := pipelinev1.Stage_name[int32(m.GetStage())]; !ok {
		v.Add(prefix+"stage", "unknown value %d", m.GetStage())
	}
	o.CustomerID = requiredID(m.GetCustomerId(), prefix+"customer_id", v)
	o.PipelineID = requiredID(m.GetPipelineId(), prefix+"pipeline_id", v)
	o.StageID = requiredID(m.GetStageId(), prefix+"stage_id", v)
	o.OwnerID = optionalID(m.GetOwnerId(), prefix+"owner_id", v)
	o.SourcePartnerID = optionalID(m.GetSourcePartnerId(), prefix+"source_partner_id", v)
	o.PriceListID = optionalID(m.GetPriceListId(), prefix+"price_list_id", v)
	for i, t := range m.GetOwnerTeamIds() {
		id, err := uuid.Parse(t)
		if err != nil {
			v.Add(fmt.Sprintf("%sowner_team_ids[%d]", prefix, i), "must be a UUID")
			continue
		}
		o.OwnerTeamIDs = append(o.OwnerTeamIDs, id)
	}
	o.CampaignID = optionalID(m.GetCampaignId(), prefix+"campaign_id", v)
	for i, l := range m.GetLineItems() {
		f := fmt.Sprintf("%sline_items[%d].", prefix, i)
		o.LineItems = append(o.LineItems, pipeline.LineItem{
			ProductID: requiredID(l.GetProductId(), f+"product_id", v), Quantity: l.GetQuantity(),
			UnitPriceMinor: l.GetUnitPriceMinor(), PriceOverridden: l.GetPriceOverridden(), DiscountBps: l.GetDiscountBps(),
		})
	}
	return o, v.Err()
}

// requiredID parses a UUID field that the domain checks for presence; empty is uuid.Nil.
func requiredID(s, field string, v *validation.Error) uuid.UUID {
	if s == "" {
		return uuid.Nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		v.Add(field, "must be a UUID")
	}
	return id
}

// optionalID parses an optional UUID field; empty is nil.
func optionalID(s, field string, v *validation.Error) *uuid.UUID {
	if s == "" {
		return nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		v.Add(field, "must be a UUID")
		return nil
	}
	return &id
}

// StageHistoryEntry renders a stage history entry, its duration as of now.
func StageHistoryEntry(e pipeline.StageHistoryEntry, now time.Time) *pipelinev1.StageHistoryEntry {
	return &pipelinev1.StageHistoryEntry{
		EntryId: e.ID.String(), PipelineId: e.PipelineID.String(), StageId: e.StageID.String(),
		StageDisplayName: e.StageName, StageKind: pipelinev1.StageKind(e.StageKind), PrincipalId: e.PrincipalID,
		EnterTime: timestamppb.New(e.EnterTime), ExitTime: optionalTime(e.ExitTime), Duration: durationpb.New(e.Duration(now)),
	}
}
