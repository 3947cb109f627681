package protoconv

import (
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
	"github.com/rapportcrm/rapport/services/partner/internal/program"
)

// TierSchedule renders the schedule as its API message.
func TierSchedule(s program.Schedule) *partnerv1.TierSchedule {
	m := &partnerv1.TierSchedule{CurrencyCode: s.CurrencyCode, Etag: s.Etag()}
	if !s.UpdateTime.IsZero() {
		m.UpdateTime = timestamppb.New(s.UpdateTime)
	}
	for _, t := range s.Tiers {
		m.Tiers = append(m.Tiers, &partnerv1.Tier{
			Name: t.Name, MinRevenueMinor: t.MinRevenueMinor, MaxRevenueMinor: t.MaxRevenueMinor, RequiredCertifications: t.RequiredCertifications,
			MonthlyLeadCapacity: t.MonthlyLeadCapacity,
		})
	}
	return m
}

// FromTierSchedule reads a schedule from its API message.
func FromTierSchedule(m *partnerv1.TierSchedule) program.Schedule {
	s := program.Schedule{CurrencyCode: m.GetCurrencyCode()}
	for _, t := range m.GetTiers() {
		s.Tiers = append(s.Tiers, program.Tier{
			Name: t.GetName(), MinRevenueMinor: t.GetMinRevenueMinor(), MaxRevenueMinor: t.GetMaxRevenueMinor(), RequiredCertifications: t.GetRequiredCertifications(),
			MonthlyLeadCapacity: t.GetMonthlyLeadCapacity(),
		})
	}
	return s
}

// Certification renders a certification as its API message.
func Certification(c program.Certification) *partnerv1.Certification {
	return &partnerv1.Certification{
		CertificationId: c.ID.String(), PartnerId: c.PartnerID.String(), Name: c.Name,
		EarnDate: finance.FormatDate(c.EarnDate), ExpireDate: finance.FormatDate(c.ExpireDate),
		RecordedBy: c.RecordedBy, CreateTime: timestamppb.New(c.CreateTime),
	}
}

// FromCertification reads a certification from its API message, reporting
// unreadable ids and dates as field violations.
func FromCertification(m *partnerv1.Certification) (program.Certification, error) {
	v := &validation.Error{}
	c := program.Certification{Name: m.GetName()}
	if m.GetPartnerId() != "" {
		id, err := uuid.Parse(m.GetPartnerId())
		if err != nil {
			v.Add("certification.partner_id", "must be a UUID")
		}
		c.PartnerID = id
	}
	c.EarnDate = Date(v, "certification.earn_date", m.GetEarnDate())
	c.ExpireDate = Date(v, "certification.expire_date", m.GetExpireDate())
	return c, v.Err()
}

// Evaluation renders a tier evaluation as its API message.
func Evaluation(e program.Evaluation) *partnerv1.TierEvaluation {
	return &partnerv1.TierEvaluation{
		PartnerId: e.PartnerID.String(), PreviousTier: e.PreviousTier, Tier: e.Tier, RevenueMinor: e.RevenueMinor,
		CurrencyCode: e.CurrencyCode, WindowStart: finance.FormatDate(e.WindowStart), WindowEnd: finance.FormatDate(e.WindowEnd),
		Reasons: e.Reasons,
	}
}
