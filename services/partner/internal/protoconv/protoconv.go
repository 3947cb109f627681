// Package protoconv converts the partner service's domain types to and from
// their API messages; the API and the event payloads share it.
package protoconv

import (
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/partner/internal/partner"
)

// Partner renders a partner as its API message.
func Partner(p partner.Partner) *partnerv1.Partner {
	return &partnerv1.Partner{
		PartnerId:       p.ID.String(),
		DisplayName:     p.DisplayName,
		Type:            partnerv1.PartnerType(p.Type),
		Status:          partnerv1.PartnerStatus(p.Status),
		Tier:            p.Tier,
		Region:          p.Region,
		City:            p.City,
		ExternalId:      p.ExternalID,
		CreateTime:      timestamppb.New(p.CreateTime),
		UpdateTime:      timestamppb.New(p.UpdateTime),
		Etag:            p.Etag(),
		Territories:     Territories(p.Territories),
		PostalPrefix:    p.PostalPrefix,
		ParentPartnerId: idString(p.ParentID),
	}
}

// idString renders uuid.Nil as the empty string.
func idString(id uuid.UUID) string {
	if id == uuid.Nil {
		return ""
	}
	return id.String()
}

// parseOptionalID reads an id that may be empty into uuid.Nil.
func parseOptionalID(s, field string, v *validation.Error) uuid.UUID {
	if s == "" {
		return uuid.Nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		v.Add(field, "must be a UUID")
	}
	return id
}

// Territories renders territories as API messages.
func Territories(ts []partner.Territory) []*partnerv1.Territory {
	out := make([]*partnerv1.Territory, len(ts))
	for i, t := range ts {
		out[i] = &partnerv1.Territory{Region: t.Region, Industry: t.Industry}
	}
	return out
}

// StatusChange renders a status log entry as its API message.
func StatusChange(c partner.StatusChange) *partnerv1.PartnerStatusChange {
	return &partnerv1.PartnerStatusChange{
		ChangeId:    c.ID.String(),
		PartnerId:   c.PartnerID.String(),
		FromStatus:  partnerv1.PartnerStatus(c.From),
		ToStatus:    partnerv1.PartnerStatus(c.To),
		Reason:      c.Reason,
		PrincipalId: c.PrincipalID,
		ChangeTime:  timestamppb.New(c.ChangeTime),
	}
}

// FromPartner reads the writable fields of an API message; field paths in
// violations start with prefix. Enum numbers the API does not define are
// rejected here, as the wire accepts any int32.
func FromPartner(m *partnerv1.Partner, prefix string) (partner.Partner, error) {
	v := &validation.Error{}
	if _, ok := partnerv1.PartnerType_name[int32(m.GetType())]; !ok {
		v.Add(prefix+"type", "unknown value %d", m.GetType())
	}
	if _, ok := partnerv1.PartnerStatus_name[int32(m.GetStatus())]; !ok {
		v.Add(prefix+"status", "unknown value %d", m.GetStatus())
	}
	var ts []partner.Territory
	for _, t := range m.GetTerritories() {
		ts = append(ts, partner.Territory{Region: t.GetRegion(), Industry: t.GetIndustry()})
	}
	return partner.Partner{
		ParentID:     parseOptionalID(m.GetParentPartnerId(), prefix+"parent_partner_id", v),
		Territories:  ts,
		PostalPrefix: m.GetPostalPrefix(),
		DisplayName:  m.GetDisplayName(),
		Type:         partner.Type(m.GetType()),
		Status:       partner.Status(m.GetStatus()),
		Tier:         m.GetTier(),
		Region:       m.GetRegion(),
		City:         m.GetCity(),
		ExternalID:   m.GetExternalId(),
	}, v.Err()
}
