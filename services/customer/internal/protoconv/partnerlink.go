package protoconv

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/services/customer/internal/partnerlink"
)

// PartnerLink renders a customer's partner link as its API message.
func PartnerLink(l partnerlink.Link) *customerv1.CustomerPartnerLink {
	return &customerv1.CustomerPartnerLink{
		CustomerId: l.CustomerID.String(),
		PartnerId:  l.PartnerID.String(),
		LinkTime:   timestamppb.New(l.LinkTime),
	}
}
