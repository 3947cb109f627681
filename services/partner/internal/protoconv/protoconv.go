// Package protoconv converts the partner service's domain types to and from
// their API messages; the API and the event payloads share it.
package protoconv

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/partner/internal/partner"
)

// Partner renders a partner as its API message.
func Partner(p partner.Partner) *partnerv1.Partner {
	return &partnerv1.Partner{
		PartnerId:   p.ID.String(),
		DisplayName: p.DisplayName,
		Type:        partnerv1.PartnerType(p.Type),
		Status:      partnerv1.PartnerStatus(p.Status),
		Tier:        p.Tier,
		Region:      p.Region,
		City:        p.City,
		ExternalId:  p.ExternalID,
		CreateTime:  timestamppb.New(p.CreateTime),
		UpdateTime:  timestamppb.New(p.UpdateTime),
		Etag:        p.Etag(),
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
	return partner.Partner{
		DisplayName: m.GetDisplayName(),
		Type:        partner.Type(m.GetType()),
		Status:      partner.Status(m.GetStatus()),
		Tier:        m.GetTier(),
		Region:      m.GetRegion(),
		City:        m.GetCity(),
		ExternalID:  m.GetExternalId(),
	}, v.Err()
}
