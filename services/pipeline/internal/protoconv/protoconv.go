// Package protoconv converts the pipeline's domain types to and from their
// API messages; the API and the event payloads share it.
package protoconv

import (
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
)

// Opportunity renders an opportunity as its API message.
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
	}
	if o.OwnerID != nil {
		out.OwnerId = o.OwnerID.String()
	}
	if o.SourcePartnerID != nil {
		out.SourcePartnerId = o.SourcePartnerID.String()
	}
	return out
}

// FromOpportunity reads the writable fields of an API message; field paths
// in violations start with prefix.
func FromOpportunity(m *pipelinev1.Opportunity, prefix string) (pipeline.Opportunity, error) {
	v := &validation.Error{}
	o := pipeline.Opportunity{
		DisplayName:       m.GetDisplayName(),
		Stage:             pipeline.Stage(m.GetStage()),
		ExpectedCloseDate: m.GetExpectedCloseDate(),
		ExternalID:        m.GetExternalId(),
	}
	if m.GetAmount() == nil {
		v.Add(prefix+"amount", "is required")
	}
	o.Amount = pipeline.Money{CurrencyCode: m.GetAmount().GetCurrencyCode(), AmountMinor: m.GetAmount().GetAmountMinor()}
	if _, ok := pipelinev1.Stage_name[int32(m.GetStage())]; !ok {
		v.Add(prefix+"stage", "unknown value %d", m.GetStage())
	}
	if m.GetCustomerId() != "" {
		id, err := uuid.Parse(m.GetCustomerId())
		if err != nil {
			v.Add(prefix+"customer_id", "must be a UUID")
		}
		o.CustomerID = id
	}
	o.OwnerID = optionalID(m.GetOwnerId(), prefix+"owner_id", v)
	o.SourcePartnerID = optionalID(m.GetSourcePartnerId(), prefix+"source_partner_id", v)
	return o, v.Err()
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
