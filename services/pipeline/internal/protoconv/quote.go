package protoconv

import (
	"fmt"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/quote"
)

// Quote renders a quote as its API message.
func Quote(q quote.Quote) *pipelinev1.Quote {
	out := &pipelinev1.Quote{
		QuoteId: q.ID.String(), CustomerId: q.CustomerID.String(), OpportunityId: optionalString(q.OpportunityID),
		PriceListId: q.PriceListID.String(), CurrencyCode: q.CurrencyCode,
		Total:      &typesv1.Money{CurrencyCode: q.CurrencyCode, AmountMinor: q.TotalMinor},
		ValidUntil: q.ValidUntil, Status: pipelinev1.QuoteStatus(q.Status), RootQuoteId: q.RootID.String(), Version: q.Version,
		Notes: q.Notes, SendTime: optionalTime(q.SendTime), DecisionTime: optionalTime(q.DecisionTime), RejectReason: q.RejectReason,
		OrderId: optionalString(q.OrderID), CreateTime: timestamppb.New(q.CreateTime), UpdateTime: timestamppb.New(q.UpdateTime),
		DeleteTime: optionalTime(q.DeleteTime), Etag: q.Etag(),
	}
	for _, l := range q.Lines {
		out.Lines = append(out.Lines, &pipelinev1.QuoteLine{ProductId: l.ProductID.String(), Quantity: l.Quantity,
			UnitPriceMinor: l.UnitPriceMinor, PriceOverridden: l.PriceOverridden, DiscountBps: l.DiscountBps,
			TotalMinor: l.TotalMinor, Description: l.Description})
	}
	return out
}

// FromQuote reads the writable fields of an API message (and the id, for
// updates); field paths in violations start with "quote.". A line without
// a product reads as the nil id, which the domain reports with its path.
func FromQuote(m *pipelinev1.Quote) (quote.Quote, error) {
	v := &validation.Error{}
	q := quote.Quote{CurrencyCode: m.GetCurrencyCode(), ValidUntil: m.GetValidUntil(), Notes: m.GetNotes()}
	if m.GetQuoteId() != "" {
		q.ID = requiredID(m.GetQuoteId(), "quote.quote_id", v)
	}
	if p := optionalID(m.GetCustomerId(), "quote.customer_id", v); p != nil {
		q.CustomerID = *p
	}
	q.OpportunityID = optionalID(m.GetOpportunityId(), "quote.opportunity_id", v)
	if p := optionalID(m.GetPriceListId(), "quote.price_list_id", v); p != nil {
		q.PriceListID = *p
	}
	for i, l := range m.GetLines() {
		line := quote.Line{Quantity: l.GetQuantity(), UnitPriceMinor: l.GetUnitPriceMinor(), PriceOverridden: l.GetPriceOverridden(),
			DiscountBps: l.GetDiscountBps(), Description: l.GetDescription()}
		if l.GetProductId() != "" {
			id, err := uuid.Parse(l.GetProductId())
			if err != nil {
				v.Add(fmt.Sprintf("quote.lines[%d].product_id", i), "must be a UUID")
			}
			line.ProductID = id
		}
		q.Lines = append(q.Lines, line)
	}
	return q, v.Err()
}
