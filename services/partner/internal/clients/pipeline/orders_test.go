package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/services/partner/internal/clients/pipeline"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
	"github.com/rapportcrm/rapport/services/partner/internal/scorecard"
)

// fakePipeline serves orders and opportunities in pages of two, and records
// the filters it was asked for.
type fakePipeline struct {
	pipelinev1.UnimplementedOrderServiceServer
	pipelinev1.UnimplementedPipelineServiceServer
	mu      sync.Mutex
	filters []string
	orders  []*pipelinev1.Order
	opps    []*pipelinev1.Opportunity
	fail    bool
}

func page[T any](items []T, token string) ([]T, string) {
	start := 0
	fmt.Sscan(token, &start)
	end := min(start+2, len(items))
	next := ""
	if end < len(items) {
		next = fmt.Sprint(end)
	}
	return items[start:end], next
}

func (f *fakePipeline) ListOrders(_ context.Context, req *pipelinev1.ListOrdersRequest) (*pipelinev1.ListOrdersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, req.GetFilter())
	if f.fail {
		return nil, status.Error(codes.Unavailable, "down")
	}
	orders, next := page(f.orders, req.GetPageToken())
	return &pipelinev1.ListOrdersResponse{Orders: orders, NextPageToken: next}, nil
}

func (f *fakePipeline) ListOpportunities(_ context.Context, req *pipelinev1.ListOpportunitiesRequest) (*pipelinev1.ListOpportunitiesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, req.GetFilter())
	opps, next := page(f.opps, req.GetPageToken())
	return &pipelinev1.ListOpportunitiesResponse{Opportunities: opps, NextPageToken: next}, nil
}

func serve(t *testing.T, f *fakePipeline) (*pipeline.Orders, *pipeline.Client, context.Context) {
	t.Helper()
	tokens := grpctest.NewTokens(t)
	conn := grpctest.Serve(t, tokens.Authenticator(nil), func(srv *grpcserver.Server) {
		pipelinev1.RegisterOrderServiceServer(srv, f)
		pipelinev1.RegisterPipelineServiceServer(srv, f)
	})
	return pipeline.NewOrders(conn), pipeline.New(conn), tokens.Context(t.Context(), uuid.NewString(), auth.RoleAdmin)
}

func TestAttributedPagesAndFilters(t *testing.T) {
	t.Parallel()
	partner := uuid.New()
	f := &fakePipeline{}
	at := time.Date(2027, 1, 5, 10, 0, 0, 0, time.UTC)
	for i := range 5 {
		f.orders = append(f.orders, &pipelinev1.Order{OrderId: uuid.NewString(), Kind: pipelinev1.OrderKind_ORDER_KIND_SALE, CurrencyCode: "USD",
			OrderTime: timestamppb.New(at), Lines: []*pipelinev1.OrderLine{{ProductId: "p", TotalMinor: int64(100 * (i + 1))}}})
	}
	orders, _, ctx := serve(t, f)
	var got []int64
	err := orders.Attributed(ctx, partner, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC), func(o finance.Order) error {
		got = append(got, o.Lines[0].TotalMinor)
		return nil
	})
	if err != nil || fmt.Sprint(got) != "[100 200 300 400 500]" {
		t.Fatalf("Attributed = %v, %v, want all 5 orders over 3 pages", got, err)
	}
	want := fmt.Sprintf(`source_partner_id = "%s" AND status = ORDER_STATUS_PLACED AND order_time >= "2027-01-01T00:00:00Z" AND order_time < "2027-02-01T00:00:00Z"`, partner)
	if len(f.filters) != 3 || f.filters[0] != want {
		t.Fatalf("filters %q, want 3 pages of %q", f.filters, want)
	}
	f.fail = true
	err = orders.Attributed(ctx, partner, at, at.Add(time.Hour), func(finance.Order) error { return nil })
	if !errors.Is(err, finance.ErrPeer) {
		t.Fatalf("Attributed with the peer down = %v, want ErrPeer", err)
	}
}

func TestSourced(t *testing.T) {
	t.Parallel()
	partner := uuid.New()
	closed := timestamppb.New(time.Date(2027, 1, 5, 0, 0, 0, 0, time.UTC))
	f := &fakePipeline{opps: []*pipelinev1.Opportunity{
		{StageKind: pipelinev1.StageKind_STAGE_KIND_OPEN, Amount: &typesv1.Money{CurrencyCode: "USD", AmountMinor: 5}},
		{StageKind: pipelinev1.StageKind_STAGE_KIND_WON, CloseTime: closed},
		{StageKind: pipelinev1.StageKind_STAGE_KIND_LOST, CloseTime: closed},
	}}
	_, client, ctx := serve(t, f)
	var got []string
	if err := client.Sourced(ctx, partner, func(o scorecard.Opportunity) error {
		got = append(got, fmt.Sprintf("%d:%d:%t", o.Stage, o.AmountMinor, o.CloseTime.IsZero()))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "1:5:true 2:0:false 3:0:false" || f.filters[0] != fmt.Sprintf(`source_partner_id = "%s"`, partner) {
		t.Fatalf("Sourced = %v with filters %q", got, f.filters)
	}
}
