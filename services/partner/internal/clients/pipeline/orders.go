package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
)

// ordersPage is the page size of the attributed orders read; the peer's maximum.
const ordersPage = 1000

// Orders implements finance.Orders over the sales-pipeline service's
// ListOrders, with the caller's forwarded credentials.
type Orders struct {
	client pipelinev1.OrderServiceClient
}

// NewOrders returns the orders client over conn.
func NewOrders(conn grpc.ClientConnInterface) *Orders {
	return &Orders{client: pipelinev1.NewOrderServiceClient(conn)}
}

func ordersErr(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("list attributed orders: %w", ctxErr)
	}
	return fmt.Errorf("%w: list attributed orders: %w", finance.ErrPeer, err)
}

// Attributed implements finance.Orders. Every page gets its own timeout
// within the inbound deadline.
func (o *Orders) Attributed(ctx context.Context, partner uuid.UUID, from, to time.Time, fn func(finance.Order) error) error {
	filter := fmt.Sprintf(`source_partner_id = "%s" AND status = ORDER_STATUS_PLACED AND order_time >= "%s" AND order_time < "%s"`,
		partner, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	token := ""
	for {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		resp, err := o.client.ListOrders(cctx, &pipelinev1.ListOrdersRequest{Filter: filter, PageSize: ordersPage, PageToken: token})
		cancel()
		if err != nil {
			return ordersErr(ctx, err)
		}
		for _, m := range resp.GetOrders() {
			order, err := fromOrder(m)
			if err != nil {
				return ordersErr(ctx, err)
			}
			if err := fn(order); err != nil {
				return err
			}
		}
		if token = resp.GetNextPageToken(); token == "" {
			return nil
		}
	}
}

func fromOrder(m *pipelinev1.Order) (finance.Order, error) {
	id, err := uuid.Parse(m.GetOrderId())
	if err != nil {
		return finance.Order{}, fmt.Errorf("order id %q: %w", m.GetOrderId(), err)
	}
	o := finance.Order{
		ID: id, Kind: finance.OrderKind(m.GetKind()), Time: m.GetOrderTime().AsTime(), CurrencyCode: m.GetCurrencyCode(),
		AdjustmentMinor: m.GetAdjustmentMinor(),
	}
	for _, l := range m.GetLines() {
		o.Lines = append(o.Lines, finance.OrderLine{ProductID: l.GetProductId(), TotalMinor: l.GetTotalMinor()})
	}
	return o, nil
}
