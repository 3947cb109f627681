package protoconv

import (
	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
	"github.com/rapportcrm/rapport/services/partner/internal/scorecard"
)

// Scorecard renders a scorecard as its API message.
func Scorecard(s scorecard.Scorecard) *partnerv1.PartnerScorecard {
	return &partnerv1.PartnerScorecard{
		PartnerId: s.PartnerID.String(), PeriodStart: finance.FormatDate(s.PeriodStart), PeriodEnd: finance.FormatDate(s.PeriodEnd),
		OpenPipeline: currencyFigures(s.OpenPipeline), WonOpportunities: s.Won, LostOpportunities: s.Lost, WinRate: s.WinRate,
		RegistrationsSubmitted: s.Registrations.Submitted, RegistrationsApproved: s.Registrations.Approved,
		RegistrationsRejected: s.Registrations.Rejected, RegistrationApprovalRate: s.ApprovalRate,
		Revenue: currencyFigures(s.Revenue), SellThrough: currencyFigures(s.SellThrough),
		CustomerSatisfaction: s.Satisfaction, SatisfactionResponses: s.SatisfactionResponses, Certifications: s.Certifications,
		HelpDeskCsat: s.HelpDesk.CSAT(), HelpDeskCsatResponses: s.HelpDesk.CSATCount,
		HelpDeskNps: s.HelpDesk.NPS(), HelpDeskNpsResponses: s.HelpDesk.NPSCount,
	}
}

func currencyFigures(fs []scorecard.Figure) []*partnerv1.CurrencyFigure {
	out := make([]*partnerv1.CurrencyFigure, len(fs))
	for i, f := range fs {
		out[i] = &partnerv1.CurrencyFigure{Amount: &typesv1.Money{CurrencyCode: f.CurrencyCode, AmountMinor: f.AmountMinor}, Count: f.Count}
	}
	return out
}
