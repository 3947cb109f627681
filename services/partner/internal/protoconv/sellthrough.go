package protoconv

import (
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
	"github.com/rapportcrm/rapport/services/partner/internal/sellthrough"
)

// SellThroughReport renders a report as its API message, with its lines
// when withLines.
func SellThroughReport(r sellthrough.Report, withLines bool) *partnerv1.SellThroughReport {
	m := &partnerv1.SellThroughReport{
		SellThroughReportId: r.ID.String(), PartnerId: r.PartnerID.String(),
		PeriodStart: finance.FormatDate(r.PeriodStart), PeriodEnd: finance.FormatDate(r.PeriodEnd), CurrencyCode: r.CurrencyCode,
		TotalUnits: r.TotalUnits, TotalRevenueMinor: r.TotalRevenueMinor, LineCount: int32(r.LineCount),
		SubmittedBy: r.SubmittedBy, CreateTime: timestamppb.New(r.CreateTime), ExternalId: r.ExternalID,
	}
	if withLines {
		for _, l := range r.Lines {
			m.Lines = append(m.Lines, &partnerv1.SellThroughLine{
				ProductSku: l.ProductSKU, ProductId: l.ProductID, Quantity: l.Quantity, RevenueMinor: l.RevenueMinor,
				EndCustomerId: l.EndCustomerID, SatisfactionScore: l.SatisfactionScore,
			})
		}
	}
	return m
}

// FromSellThroughReport reads a report from its API message, reporting
// unreadable ids and dates as field violations.
func FromSellThroughReport(m *partnerv1.SellThroughReport) (sellthrough.Report, error) {
	v := &validation.Error{}
	r := sellthrough.Report{CurrencyCode: m.GetCurrencyCode(), ExternalID: m.GetExternalId()}
	if m.GetPartnerId() != "" {
		id, err := uuid.Parse(m.GetPartnerId())
		if err != nil {
			v.Add("sell_through_report.partner_id", "must be a UUID")
		}
		r.PartnerID = id
	}
	r.PeriodStart = Date(v, "sell_through_report.period_start", m.GetPeriodStart())
	r.PeriodEnd = Date(v, "sell_through_report.period_end", m.GetPeriodEnd())
	for _, l := range m.GetLines() {
		r.Lines = append(r.Lines, sellthrough.Line{
			ProductSKU: l.GetProductSku(), ProductID: l.GetProductId(), Quantity: l.GetQuantity(), RevenueMinor: l.GetRevenueMinor(),
			EndCustomerID: l.GetEndCustomerId(), SatisfactionScore: l.GetSatisfactionScore(),
		})
	}
	return r, v.Err()
}
