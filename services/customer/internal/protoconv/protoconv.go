// Package protoconv converts the customer service's domain types to and from
// their API messages; the API and the event payloads share it.
package protoconv

import (
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
)

// Customer renders a customer as its API message.
func Customer(c customer.Customer) *customerv1.Customer {
	out := &customerv1.Customer{
		CustomerId:       c.ID.String(),
		Kind:             customerv1.CustomerKind(c.Kind),
		DisplayName:      c.DisplayName,
		Email:            c.Email,
		Phone:            c.Phone,
		LifecycleStage:   customerv1.LifecycleStage(c.Stage),
		Industry:         c.Industry,
		CountryCode:      c.CountryCode,
		Tags:             c.Tags,
		ExternalId:       c.ExternalID,
		SourceChannel:    c.SourceChannel,
		CustomAttributes: attributes(c.CustomAttributes),
		CreateTime:       timestamppb.New(c.CreateTime),
		UpdateTime:       timestamppb.New(c.UpdateTime),
		Etag:             c.Etag(),
	}
	if c.OwnerID != nil {
		out.OwnerId = c.OwnerID.String()
	}
	if c.DeleteTime != nil {
		out.DeleteTime = timestamppb.New(*c.DeleteTime)
	}
	if c.MergedInto != nil {
		out.MergedIntoCustomerId = c.MergedInto.String()
	}
	if c.LastInteractionTime != nil {
		out.LastInteractionTime = timestamppb.New(*c.LastInteractionTime)
	}
	return out
}

// FromCustomer reads the writable fields of an API message; field paths in
// violations start with prefix.
func FromCustomer(m *customerv1.Customer, prefix string) (customer.Customer, error) {
	v := &validation.Error{}
	c := customer.Customer{
		Kind:             customer.Kind(m.GetKind()),
		DisplayName:      m.GetDisplayName(),
		Email:            m.GetEmail(),
		Phone:            m.GetPhone(),
		Stage:            customer.Stage(m.GetLifecycleStage()),
		Industry:         m.GetIndustry(),
		CountryCode:      m.GetCountryCode(),
		Tags:             m.GetTags(),
		ExternalID:       m.GetExternalId(),
		SourceChannel:    m.GetSourceChannel(),
		CustomAttributes: fromAttributes(m.GetCustomAttributes(), prefix, v),
	}
	if _, ok := customerv1.CustomerKind_name[int32(m.GetKind())]; !ok {
		v.Add(prefix+"kind", "unknown value %d", m.GetKind())
	}
	if _, ok := customerv1.LifecycleStage_name[int32(m.GetLifecycleStage())]; !ok {
		v.Add(prefix+"lifecycle_stage", "unknown value %d", m.GetLifecycleStage())
	}
	if m.GetOwnerId() != "" {
		id, err := uuid.Parse(m.GetOwnerId())
		if err != nil {
			v.Add(prefix+"owner_id", "must be a UUID")
		}
		c.OwnerID = &id
	}
	return c, v.Err()
}
