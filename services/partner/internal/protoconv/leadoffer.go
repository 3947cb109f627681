package protoconv

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/services/partner/internal/leadoffer"
)

// LeadOffer renders an offer as its API message.
func LeadOffer(o leadoffer.Offer) *partnerv1.LeadOffer {
	m := &partnerv1.LeadOffer{
		LeadOfferId: o.ID.String(), LeadId: o.LeadID.String(), PartnerId: o.PartnerID.String(),
		State: partnerv1.LeadOfferState(o.State), Region: o.Region, Industry: o.Industry, Tier: o.Tier,
		ExpireTime: timestamppb.New(o.ExpireTime), DecidedBy: o.DecidedBy, DeclineReason: o.DeclineReason,
		OfferedBy: o.OfferedBy, CreateTime: timestamppb.New(o.CreateTime), Etag: o.Etag(),
	}
	if !o.DecideTime.IsZero() {
		m.DecideTime = timestamppb.New(o.DecideTime)
	}
	return m
}
