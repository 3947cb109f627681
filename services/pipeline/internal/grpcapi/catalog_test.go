package grpcapi_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
)

func TestProductsPricesLines(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t, e.tenant, auth.RoleSalesManager)
	product := func(sku string) *pipelinev1.Product {
		resp, err := e.client.CreateProduct(ctx, &pipelinev1.CreateProductRequest{Product: &pipelinev1.Product{Sku: sku, DisplayName: "Seat " + sku}})
		if err != nil {
			t.Fatalf("CreateProduct(%s): %v", sku, err)
		}
		return resp.GetProduct()
	}
	seat, addon, old := product("SEAT"), product("ADDON"), product("OLD")
	if !seat.GetActive() {
		t.Fatalf("new product inactive: %v", seat)
	}
	if _, err := e.client.CreateProduct(ctx, &pipelinev1.CreateProductRequest{Product: &pipelinev1.Product{Sku: "SEAT", DisplayName: "Again"}}); status.Code(err) != codes.AlreadyExists {
		t.Errorf("CreateProduct(taken SKU) = %v, want AlreadyExists", err)
	}
	if _, err := e.client.CreateProduct(e.as(t, e.other, auth.RoleAdmin), &pipelinev1.CreateProductRequest{Product: &pipelinev1.Product{Sku: "SEAT", DisplayName: "Theirs"}}); err != nil {
		t.Errorf("CreateProduct(SKU of another tenant) = %v, want OK", err)
	}
	if _, err := e.client.UpdateProduct(ctx, &pipelinev1.UpdateProductRequest{Product: &pipelinev1.Product{ProductId: old.GetProductId(), Active: false},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"active"}}}); err != nil {
		t.Fatalf("UpdateProduct(active=false): %v", err)
	}
	active, err := e.client.ListProducts(ctx, &pipelinev1.ListProductsRequest{Filter: "active = true"})
	if err != nil || len(active.GetProducts()) != 2 {
		t.Errorf("ListProducts(active) = %v, %v; want 2", active, err)
	}

	today := time.Now().UTC()
	prices := []*pipelinev1.Price{
		{ProductId: seat.GetProductId(), ValidFrom: today.AddDate(0, 0, -30).Format(time.DateOnly), UnitPriceMinor: 1000},
		{ProductId: seat.GetProductId(), ValidFrom: today.AddDate(0, 0, -1).Format(time.DateOnly), UnitPriceMinor: 1200},
		{ProductId: seat.GetProductId(), ValidFrom: today.AddDate(0, 0, 30).Format(time.DateOnly), UnitPriceMinor: 9999},
		{ProductId: old.GetProductId(), ValidFrom: "2020-01-01", UnitPriceMinor: 1},
	}
	pl, err := e.client.CreatePriceList(ctx, &pipelinev1.CreatePriceListRequest{PriceList: &pipelinev1.PriceList{DisplayName: "List", CurrencyCode: "USD", Prices: prices}})
	if err != nil || len(pl.GetPriceList().GetPrices()) != 4 {
		t.Fatalf("CreatePriceList = %v, %v", pl, err)
	}
	for _, tt := range []struct {
		name      string
		in        *pipelinev1.PriceList
		wantField string
	}{
		{"unknown currency", &pipelinev1.PriceList{DisplayName: "L", CurrencyCode: "ABC"}, "price_list.currency_code"},
		{"negative price", &pipelinev1.PriceList{DisplayName: "L", CurrencyCode: "USD", Prices: []*pipelinev1.Price{{ProductId: seat.GetProductId(), ValidFrom: "2026-01-01", UnitPriceMinor: -1}}}, "price_list.prices[0].unit_price_minor"},
		{"no product", &pipelinev1.PriceList{DisplayName: "L", CurrencyCode: "USD", Prices: []*pipelinev1.Price{{ValidFrom: "2026-01-01"}}}, "price_list.prices[0].product_id"},
		{"unknown product", &pipelinev1.PriceList{DisplayName: "L", CurrencyCode: "USD", Prices: []*pipelinev1.Price{{ProductId: uuid.NewString(), ValidFrom: "2026-01-01"}}}, "price_list.prices"},
		{"bad date", &pipelinev1.PriceList{DisplayName: "L", CurrencyCode: "USD", Prices: []*pipelinev1.Price{{ProductId: seat.GetProductId(), ValidFrom: "soon"}}}, "price_list.prices[0].valid_from"},
	} {
		_, err := e.client.CreatePriceList(ctx, &pipelinev1.CreatePriceListRequest{PriceList: tt.in})
		if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.wantField] {
			t.Errorf("CreatePriceList(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.wantField)
		}
	}
	eur, err := e.client.CreatePriceList(ctx, &pipelinev1.CreatePriceListRequest{PriceList: &pipelinev1.PriceList{DisplayName: "Euro", CurrencyCode: "EUR"}})
	if err != nil {
		t.Fatal(err)
	}

	in := e.pilot()
	in.PriceListId = pl.GetPriceList().GetPriceListId()
	in.LineItems = []*pipelinev1.LineItem{
		{ProductId: seat.GetProductId(), Quantity: 3, DiscountBps: 1000},                                              // 3 × 1200 − 10 % = 3240
		{ProductId: addon.GetProductId(), Quantity: 2, UnitPriceMinor: 333, PriceOverridden: true, DiscountBps: 2500}, // 666 − 166.5 → 499 (half up)
	}
	o := e.create(t, ctx, in)
	var totals []int64
	for _, l := range o.GetLineItems() {
		totals = append(totals, l.GetTotalMinor())
	}
	if diff := cmp.Diff([]int64{3240, 499}, totals); diff != "" || o.GetAmount().GetAmountMinor() != 3739 || o.GetLineItems()[0].GetUnitPriceMinor() != 1200 {
		t.Errorf("line totals (-want +got):\n%s amount %d, first unit %d; want 3739 and today's 1200", diff, o.GetAmount().GetAmountMinor(), o.GetLineItems()[0].GetUnitPriceMinor())
	}
	got, err := e.client.GetOpportunity(ctx, &pipelinev1.GetOpportunityRequest{OpportunityId: o.GetOpportunityId()})
	if err != nil || len(got.GetOpportunity().GetLineItems()) != 2 || got.GetOpportunity().GetLineItems()[1].GetLineId() != o.GetLineItems()[1].GetLineId() {
		t.Fatalf("GetOpportunity lines = %v, %v", got.GetOpportunity().GetLineItems(), err)
	}

	line := func(l *pipelinev1.LineItem) func(o *pipelinev1.Opportunity) {
		return func(o *pipelinev1.Opportunity) {
			o.PriceListId = pl.GetPriceList().GetPriceListId()
			o.LineItems = []*pipelinev1.LineItem{l}
		}
	}
	for _, tt := range []struct {
		name      string
		change    func(o *pipelinev1.Opportunity)
		wantField string
	}{
		{"inactive product", line(&pipelinev1.LineItem{ProductId: old.GetProductId(), Quantity: 1}), "opportunity.line_items[0].product_id"},
		{"unknown product", line(&pipelinev1.LineItem{ProductId: uuid.NewString(), Quantity: 1}), "opportunity.line_items[0].product_id"},
		{"no price", line(&pipelinev1.LineItem{ProductId: addon.GetProductId(), Quantity: 1}), "opportunity.line_items[0].product_id"},
		{"discount", line(&pipelinev1.LineItem{ProductId: seat.GetProductId(), Quantity: 1, DiscountBps: 10001}), "opportunity.line_items[0].discount_bps"},
		{"overflow", line(&pipelinev1.LineItem{ProductId: seat.GetProductId(), Quantity: 1 << 62, UnitPriceMinor: 4, PriceOverridden: true}), "opportunity.line_items[0].quantity"},
		{"no price list", func(o *pipelinev1.Opportunity) {
			o.LineItems = []*pipelinev1.LineItem{{ProductId: seat.GetProductId(), Quantity: 1}}
		}, "opportunity.line_items[0].unit_price_minor"},
		{"currency of the list", func(o *pipelinev1.Opportunity) { o.PriceListId = eur.GetPriceList().GetPriceListId() }, "opportunity.price_list_id"},
	} {
		o := e.pilot()
		tt.change(o)
		_, err := e.client.CreateOpportunity(ctx, &pipelinev1.CreateOpportunityRequest{Opportunity: o})
		if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.wantField] {
			t.Errorf("CreateOpportunity(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.wantField)
		}
	}
	var rows int
	if err := e.db.Owner.QueryRow(t.Context(), "SELECT count(*) FROM opportunities").Scan(&rows); err != nil || rows != 1 {
		t.Errorf("opportunities after rejected creates = %d (%v), want 1", rows, err)
	}

	// Replacing the lines reprices them and the amount follows.
	upd, err := e.client.UpdateOpportunity(ctx, &pipelinev1.UpdateOpportunityRequest{
		Opportunity: &pipelinev1.Opportunity{OpportunityId: o.GetOpportunityId(), Etag: o.GetEtag(),
			LineItems: []*pipelinev1.LineItem{{ProductId: seat.GetProductId(), Quantity: 1}}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"line_items"}}})
	if err != nil || upd.GetOpportunity().GetAmount().GetAmountMinor() != 1200 || len(upd.GetOpportunity().GetLineItems()) != 1 {
		t.Fatalf("UpdateOpportunity(line_items) = %v, %v; want one line and amount 1200", upd, err)
	}
}

func TestListFiltersAndOrders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.admin(t)
	type deal struct {
		amount int64
		close  string
	}
	var ids []string // in creation order
	for i, d := range []deal{{500, "2026-03-01"}, {100, ""}, {900, "2026-01-15"}, {300, "2026-02-10"}, {700, "2026-03-01"}} {
		o := e.pilot()
		o.DisplayName, o.Amount.AmountMinor, o.ExpectedCloseDate, o.EngageDate = fmt.Sprintf("Deal %d", i), d.amount, d.close, "2026-01-01"
		ids = append(ids, e.create(t, ctx, o).GetOpportunityId())
	}
	tests := []struct {
		filter, orderBy string
		want            []int
	}{
		{"", "amount_minor", []int{1, 3, 0, 4, 2}},
		{"", "amount_minor desc", []int{2, 4, 0, 3, 1}},
		{"", "expected_close_date", []int{2, 3, 0, 4, 1}},
		{"", "expected_close_date desc", []int{1, 4, 0, 3, 2}},
		{"", "create_time", []int{0, 1, 2, 3, 4}},
		{`expected_close_date >= "2026-02-01" AND expected_close_date < "2026-03-02"`, "expected_close_date", []int{3, 0, 4}},
		{`amount_minor >= 300 AND amount_minor <= 700`, "amount_minor desc", []int{4, 0, 3}},
		{`stage_kind = STAGE_KIND_OPEN AND currency_code = "USD"`, "", []int{4, 3, 2, 1, 0}},
	}
	for _, tt := range tests {
		var got []string
		token := ""
		for range len(ids) + 1 {
			resp, err := e.client.ListOpportunities(ctx, &pipelinev1.ListOpportunitiesRequest{Filter: tt.filter, OrderBy: tt.orderBy, PageSize: 2, PageToken: token})
			if err != nil {
				t.Fatalf("ListOpportunities(%q, %q): %v", tt.filter, tt.orderBy, err)
			}
			for _, o := range resp.GetOpportunities() {
				got = append(got, o.GetOpportunityId())
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		var want []string
		for _, i := range tt.want {
			want = append(want, ids[i])
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ListOpportunities(%q, %q) (-want +got):\n%s", tt.filter, tt.orderBy, diff)
		}
	}
	for _, req := range []*pipelinev1.ListOpportunitiesRequest{
		{OrderBy: "display_name"},
		{Filter: `expected_close_date > "2026-02-30"`},
		{Filter: `amount_minor > "lots"`},
	} {
		if _, err := e.client.ListOpportunities(ctx, req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("ListOpportunities(%v) = %v, want InvalidArgument", req, err)
		}
	}
}
