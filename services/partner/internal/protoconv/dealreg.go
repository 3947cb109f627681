package protoconv

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/partner/internal/dealreg"
)

// Registration renders a deal registration as its API message.
func Registration(r dealreg.Registration) *partnerv1.DealRegistration {
	m := &partnerv1.DealRegistration{
		DealRegistrationId: r.ID.String(),
		PartnerId:          r.PartnerID.String(),
		CustomerId:         idString(r.CustomerID),
		DisplayName:        r.DisplayName,
		ExpectedCloseDate:  r.ExpectedCloseDate,
		State:              partnerv1.DealRegistrationState(r.State),
		OpportunityId:      idString(r.OpportunityID),
		ExpireTime:         timestamppb.New(r.ExpireTime),
		DecisionNote:       r.DecisionNote,
		DecidedBy:          r.DecidedBy,
		ArbitrationOutcome: partnerv1.ArbitrationOutcome(r.Outcome),
		RegisteredBy:       r.RegisteredBy,
		CreateTime:         timestamppb.New(r.CreateTime),
		UpdateTime:         timestamppb.New(r.UpdateTime),
		Etag:               r.Etag(),
	}
	if r.Prospect != (dealreg.Prospect{}) {
		m.Prospect = &partnerv1.Prospect{CompanyName: r.Prospect.CompanyName, Email: r.Prospect.Email, Phone: r.Prospect.Phone}
	}
	if r.Amount != (dealreg.Money{}) {
		m.Amount = &typesv1.Money{CurrencyCode: r.Amount.CurrencyCode, AmountMinor: r.Amount.AmountMinor}
	}
	if !r.DecideTime.IsZero() {
		m.DecideTime = timestamppb.New(r.DecideTime)
	}
	for _, c := range r.Conflicts {
		m.Conflicts = append(m.Conflicts, &partnerv1.DealConflict{
			Kind: partnerv1.ConflictKind(c.Kind), CustomerId: idString(c.CustomerID), OpportunityId: idString(c.OpportunityID),
			DealRegistrationId: idString(c.RegistrationID), PartnerId: idString(c.PartnerID), Description: c.Description,
		})
	}
	return m
}

// FromRegistration reads the fields a registrar sends.
func FromRegistration(m *partnerv1.DealRegistration) (dealreg.Registration, error) {
	v := &validation.Error{}
	const prefix = "deal_registration."
	r := dealreg.Registration{
		PartnerID:         parseOptionalID(m.GetPartnerId(), prefix+"partner_id", v),
		CustomerID:        parseOptionalID(m.GetCustomerId(), prefix+"customer_id", v),
		DisplayName:       m.GetDisplayName(),
		ExpectedCloseDate: m.GetExpectedCloseDate(),
		Prospect: dealreg.Prospect{
			CompanyName: m.GetProspect().GetCompanyName(), Email: m.GetProspect().GetEmail(), Phone: m.GetProspect().GetPhone(),
		},
		Amount: dealreg.Money{CurrencyCode: m.GetAmount().GetCurrencyCode(), AmountMinor: m.GetAmount().GetAmountMinor()},
	}
	return r, v.Err()
}

// Rules renders rules of engagement as their API message.
func Rules(r dealreg.Rules) *partnerv1.EngagementRules {
	m := &partnerv1.EngagementRules{
		ProtectionDays:           int32(r.ProtectionDays),
		DirectOwnerConflicts:     r.DirectOwnerConflicts,
		OpenOpportunityConflicts: r.OpenOpportunityConflicts,
		Etag:                     r.Etag(),
	}
	if !r.UpdateTime.IsZero() {
		m.UpdateTime = timestamppb.New(r.UpdateTime)
	}
	return m
}

// FromRules reads rules of engagement.
func FromRules(m *partnerv1.EngagementRules) dealreg.Rules {
	return dealreg.Rules{
		ProtectionDays:           int(m.GetProtectionDays()),
		DirectOwnerConflicts:     m.GetDirectOwnerConflicts(),
		OpenOpportunityConflicts: m.GetOpenOpportunityConflicts(),
	}
}
