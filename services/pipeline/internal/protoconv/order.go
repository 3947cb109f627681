package protoconv

import (
	"fmt"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/order"
)

// Order renders an order as its API message.
func Order(o order.Order) *pipelinev1.Order {
	out := &pipelinev1.Order{
		OrderId: o.ID.String(), OrderNumber: o.Number, Kind: pipelinev1.OrderKind(o.Kind), Status: pipelinev1.OrderStatus(o.Status),
		CustomerId: optionalString(o.CustomerID), CurrencyCode: o.CurrencyCode, AdjustmentMinor: o.AdjustmentMinor,
		Total:     &typesv1.Money{CurrencyCode: o.CurrencyCode, AmountMinor: o.TotalMinor},
		OrderTime: timestamppb.New(o.OrderTime), Country: o.Country, OriginalOrderId: optionalString(o.OriginalOrderID),
		CancelTime: optionalTime(o.CancelTime), CancelReason: o.CancelReason, ExternalId: o.ExternalID,
		CreateTime: timestamppb.New(o.CreateTime), UpdateTime: timestamppb.New(o.UpdateTime), Etag: o.Etag(),
		OpportunityId: optionalString(o.OpportunityID), SourcePartnerId: optionalString(o.SourcePartnerID), QuoteId: optionalString(o.QuoteID),
	}
	if code, minor, ok := o.ReportingTotal(); ok {
		out.ReportingTotal = &typesv1.Money{CurrencyCode: code, AmountMinor: minor}
	}
	for _, l := range o.Lines {
		out.Lines = append(out.Lines, &pipelinev1.OrderLine{ProductId: l.ProductID.String(), Quantity: l.Quantity,
			UnitPriceMinor: l.UnitPriceMinor, DiscountMinor: l.DiscountMinor, TotalMinor: l.TotalMinor, Description: l.Description})
	}
	return out
}

// FromOrder reads the writable fields of an API message; field paths in
// violations start with "order.". A line without a product reads as the nil
// id, which the domain reports with the line's field path.
func FromOrder(m *pipelinev1.Order) (order.Order, error) {
	v := &validation.Error{}
	o := order.Order{
		Number: m.GetOrderNumber(), Kind: order.Kind(m.GetKind()), CurrencyCode: m.GetCurrencyCode(),
		AdjustmentMinor: m.GetAdjustmentMinor(), Country: m.GetCountry(), ExternalID: m.GetExternalId(),
	}
	if _, ok := pipelinev1.OrderKind_name[int32(m.GetKind())]; !ok {
		v.Add("order.kind", "is not a known kind")
	}
	o.CustomerID = optionalID(m.GetCustomerId(), "order.customer_id", v)
	o.OriginalOrderID = optionalID(m.GetOriginalOrderId(), "order.original_order_id", v)
	o.OpportunityID = optionalID(m.GetOpportunityId(), "order.opportunity_id", v)
	o.SourcePartnerID = optionalID(m.GetSourcePartnerId(), "order.source_partner_id", v)
	if m.GetOrderTime() != nil {
		if err := m.GetOrderTime().CheckValid(); err != nil {
			v.Add("order.order_time", "is not a valid time")
		}
		o.OrderTime = m.GetOrderTime().AsTime().UTC()
	}
	for i, l := range m.GetLines() {
		line := order.Line{Quantity: l.GetQuantity(), UnitPriceMinor: l.GetUnitPriceMinor(), DiscountMinor: l.GetDiscountMinor(), Description: l.GetDescription()}
		if l.GetProductId() != "" {
			id, err := uuid.Parse(l.GetProductId())
			if err != nil {
				v.Add(fmt.Sprintf("order.lines[%d].product_id", i), "must be a UUID")
			}
			line.ProductID = id
		}
		o.Lines = append(o.Lines, line)
	}
	return o, v.Err()
}

// ExchangeRate renders a rate as its API message.
func ExchangeRate(r order.Rate) *pipelinev1.ExchangeRate {
	return &pipelinev1.ExchangeRate{BaseCurrency: r.Base, QuoteCurrency: r.Quote, RateDate: r.Date, Rate: r.Rate}
}

// ExchangeRates renders a batch of rates as the payload of its event.
func ExchangeRates(rs []order.Rate) *pipelinev1.LoadExchangeRatesRequest {
	out := &pipelinev1.LoadExchangeRatesRequest{}
	for _, r := range rs {
		out.Rates = append(out.Rates, ExchangeRate(r))
	}
	return out
}

// ReportingSettings renders reporting settings as their API message.
func ReportingSettings(s order.Settings) *pipelinev1.ReportingSettings {
	out := &pipelinev1.ReportingSettings{ReportingCurrency: s.ReportingCurrency, Etag: s.Etag()}
	if !s.UpdateTime.IsZero() {
		out.UpdateTime = timestamppb.New(s.UpdateTime)
	}
	return out
}
