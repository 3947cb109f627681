package grpcapi_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/pipeline/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/pipeline/internal/order"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
	"github.com/rapportcrm/rapport/services/pipeline/internal/postgres"
)

type orderEnv struct {
	orders  pipelinev1.OrderServiceClient
	catalog pipelinev1.PipelineServiceClient
	tokens  *grpctest.Tokens
	db      *pgtest.DB
	tenant  string
	other   string
	acme    uuid.UUID
}

func newOrderEnv(t *testing.T) *orderEnv {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	e := &orderEnv{tokens: grpctest.NewTokens(t), db: db, tenant: uuid.NewString(), other: uuid.NewString(), acme: uuid.New()}
	customers := fakeCustomers{known: map[uuid.UUID]bool{e.acme: true}}
	conn := grpctest.Serve(t, e.tokens.Authenticator(nil), func(srv *grpcserver.Server) {
		pipelinev1.RegisterPipelineServiceServer(srv, grpcapi.New(pipeline.New(postgres.New(db.App), customers), db.App, 20*time.Millisecond))
		pipelinev1.RegisterOrderServiceServer(srv, grpcapi.NewOrderServer(order.New(postgres.NewOrderStore(db.App), customers)))
	})
	e.orders, e.catalog = pipelinev1.NewOrderServiceClient(conn), pipelinev1.NewPipelineServiceClient(conn)
	return e
}

func (e *orderEnv) as(t *testing.T, tenant string, roles ...auth.Role) context.Context {
	return e.tokens.Context(t.Context(), tenant, roles...)
}

func (e *orderEnv) product(t *testing.T, ctx context.Context, sku string) string {
	t.Helper()
	resp, err := e.catalog.CreateProduct(ctx, &pipelinev1.CreateProductRequest{Product: &pipelinev1.Product{Sku: sku, DisplayName: sku}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetProduct().GetProductId()
}

func TestOrders(t *testing.T) {
	t.Parallel()
	e := newOrderEnv(t)
	admin := e.as(t, e.tenant, auth.RoleAdmin)
	rep := e.as(t, e.tenant, auth.RoleSalesRep)
	mug, lamp := e.product(t, admin, "MUG"), e.product(t, admin, "LAMP")
	day := timestamppb.New(time.Date(2011, 3, 2, 10, 0, 0, 0, time.UTC))
	sale := &pipelinev1.Order{OrderNumber: "536365", Kind: pipelinev1.OrderKind_ORDER_KIND_SALE, CustomerId: e.acme.String(),
		CurrencyCode: "gbp", OrderTime: day, Country: "United Kingdom", Lines: []*pipelinev1.OrderLine{
			{ProductId: mug, Quantity: 6, UnitPriceMinor: 255},
			{ProductId: lamp, Quantity: 6, UnitPriceMinor: 339},
			{ProductId: lamp, Quantity: 1, UnitPriceMinor: 0, Description: "free sample"},
		}}
	created, err := e.orders.CreateOrder(rep, &pipelinev1.CreateOrderRequest{Order: sale, RequestId: "inv-536365"})
	if err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	o := created.GetOrder()
	if o.GetTotal().GetAmountMinor() != 6*255+6*339 || o.GetTotal().GetCurrencyCode() != "GBP" || len(o.GetLines()) != 3 ||
		o.GetStatus() != pipelinev1.OrderStatus_ORDER_STATUS_PLACED || o.GetReportingTotal() != nil {
		t.Fatalf("CreateOrder = %v", o)
	}
	again, err := e.orders.CreateOrder(rep, &pipelinev1.CreateOrderRequest{Order: sale, RequestId: "inv-536365"})
	if err != nil || again.GetOrder().GetOrderId() != o.GetOrderId() {
		t.Errorf("CreateOrder(repeated request) = %v, %v; want %s", again, err, o.GetOrderId())
	}
	if _, err := e.orders.CreateOrder(rep, &pipelinev1.CreateOrderRequest{Order: sale}); status.Code(err) != codes.AlreadyExists {
		t.Errorf("CreateOrder(order number taken) = %v, want AlreadyExists", err)
	}

	t.Run("bad input", func(t *testing.T) {
		t.Parallel()
		line := func(l *pipelinev1.OrderLine) *pipelinev1.Order {
			return &pipelinev1.Order{Kind: pipelinev1.OrderKind_ORDER_KIND_SALE, CurrencyCode: "GBP", Lines: []*pipelinev1.OrderLine{l}}
		}
		for _, tt := range []struct {
			name      string
			in        *pipelinev1.Order
			wantField string
		}{
			{"line without a product", line(&pipelinev1.OrderLine{Quantity: 1, UnitPriceMinor: 1}), "order.lines[0].product_id"},
			{"unknown product", line(&pipelinev1.OrderLine{ProductId: uuid.NewString(), Quantity: 1}), "order.lines[0].product_id"},
			{"zero quantity", line(&pipelinev1.OrderLine{ProductId: mug}), "order.lines[0].quantity"},
			{"negative price", line(&pipelinev1.OrderLine{ProductId: mug, Quantity: 1, UnitPriceMinor: -1}), "order.lines[0].unit_price_minor"},
			{"no lines", &pipelinev1.Order{Kind: pipelinev1.OrderKind_ORDER_KIND_SALE, CurrencyCode: "GBP"}, "order.lines"},
			{"no kind", &pipelinev1.Order{CurrencyCode: "GBP"}, "order.kind"},
			{"bad currency", &pipelinev1.Order{Kind: pipelinev1.OrderKind_ORDER_KIND_ADJUSTMENT, CurrencyCode: "XYZ", AdjustmentMinor: 1}, "order.currency_code"},
			{"adjustment with lines", &pipelinev1.Order{Kind: pipelinev1.OrderKind_ORDER_KIND_ADJUSTMENT, CurrencyCode: "GBP", AdjustmentMinor: 1,
				Lines: []*pipelinev1.OrderLine{{ProductId: mug, Quantity: 1}}}, "order.lines"},
			{"adjustment of nothing", &pipelinev1.Order{Kind: pipelinev1.OrderKind_ORDER_KIND_ADJUSTMENT, CurrencyCode: "GBP"}, "order.adjustment_minor"},
			{"unknown customer", &pipelinev1.Order{Kind: pipelinev1.OrderKind_ORDER_KIND_ADJUSTMENT, CurrencyCode: "GBP", AdjustmentMinor: 5, CustomerId: uuid.NewString()}, "order.customer_id"},
			{"return of a missing order", &pipelinev1.Order{Kind: pipelinev1.OrderKind_ORDER_KIND_RETURN, CurrencyCode: "GBP", OriginalOrderId: uuid.NewString(),
				Lines: []*pipelinev1.OrderLine{{ProductId: mug, Quantity: 1}}}, "order.original_order_id"},
			{"return of another customer's sale", &pipelinev1.Order{Kind: pipelinev1.OrderKind_ORDER_KIND_RETURN, CurrencyCode: "GBP", OriginalOrderId: o.GetOrderId(),
				Lines: []*pipelinev1.OrderLine{{ProductId: mug, Quantity: 1}}}, "order.original_order_id"},
		} {
			_, err := e.orders.CreateOrder(rep, &pipelinev1.CreateOrderRequest{Order: tt.in, RequestId: "bad-" + tt.name})
			if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.wantField] {
				t.Errorf("CreateOrder(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.wantField)
			}
		}
		var n int
		if err := e.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM orders WHERE request_id LIKE 'bad-%'`).Scan(&n); err != nil || n != 0 {
			t.Errorf("rejected orders stored: %d, %v", n, err)
		}
	})

	t.Run("returns, adjustments and guests", func(t *testing.T) {
		t.Parallel()
		ret, err := e.orders.CreateOrder(rep, &pipelinev1.CreateOrderRequest{Order: &pipelinev1.Order{OrderNumber: "C536379",
			Kind: pipelinev1.OrderKind_ORDER_KIND_RETURN, CustomerId: e.acme.String(), CurrencyCode: "GBP", OriginalOrderId: o.GetOrderId(),
			Lines: []*pipelinev1.OrderLine{{ProductId: mug, Quantity: 2, UnitPriceMinor: 255}}}})
		if err != nil || ret.GetOrder().GetTotal().GetAmountMinor() != -510 {
			t.Errorf("CreateOrder(return) = %v, %v; want total -510", ret, err)
		}
		adj, err := e.orders.CreateOrder(rep, &pipelinev1.CreateOrderRequest{Order: &pipelinev1.Order{OrderNumber: "A563186",
			Kind: pipelinev1.OrderKind_ORDER_KIND_ADJUSTMENT, CurrencyCode: "GBP", AdjustmentMinor: -1106206}})
		if err != nil || adj.GetOrder().GetTotal().GetAmountMinor() != -1106206 || adj.GetOrder().GetCustomerId() != "" {
			t.Errorf("CreateOrder(bad-debt adjustment) = %v, %v", adj, err)
		}
		history, err := e.orders.ListOrders(e.as(t, e.tenant, auth.RoleSupportAgent), &pipelinev1.ListOrdersRequest{Filter: "customer_id = \"" + e.acme.String() + "\""})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range history.GetOrders() {
			if h.GetCustomerId() != e.acme.String() {
				t.Errorf("customer history holds %v", h)
			}
		}
	})

	t.Run("cancel once", func(t *testing.T) {
		t.Parallel()
		guest, err := e.orders.CreateOrder(rep, &pipelinev1.CreateOrderRequest{Order: &pipelinev1.Order{Kind: pipelinev1.OrderKind_ORDER_KIND_SALE,
			CurrencyCode: "GBP", Lines: []*pipelinev1.OrderLine{{ProductId: mug, Quantity: 1, UnitPriceMinor: 100}}}})
		if err != nil {
			t.Fatal(err)
		}
		id := guest.GetOrder().GetOrderId()
		if _, err := e.orders.CancelOrder(rep, &pipelinev1.CancelOrderRequest{OrderId: id}); status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)["reason"] {
			t.Errorf("CancelOrder(no reason) = %v, want InvalidArgument on reason", err)
		}
		if _, err := e.orders.CancelOrder(e.as(t, e.other, auth.RoleAdmin), &pipelinev1.CancelOrderRequest{OrderId: id, Reason: "x"}); status.Code(err) != codes.NotFound {
			t.Errorf("CancelOrder(other tenant) = %v, want NotFound", err)
		}
		if _, err := e.orders.CancelOrder(e.as(t, e.tenant, auth.RoleAnalyst), &pipelinev1.CancelOrderRequest{OrderId: id, Reason: "x"}); status.Code(err) != codes.PermissionDenied {
			t.Errorf("CancelOrder(analyst) = %v, want PermissionDenied", err)
		}
		var wg sync.WaitGroup
		results := make(chan codes.Code, 4)
		for range 4 {
			wg.Go(func() {
				_, err := e.orders.CancelOrder(rep, &pipelinev1.CancelOrderRequest{OrderId: id, Reason: "customer changed their mind"})
				results <- status.Code(err)
			})
		}
		wg.Wait()
		close(results)
		ok := 0
		for c := range results {
			switch c {
			case codes.OK:
				ok++
			case codes.FailedPrecondition:
			default:
				t.Errorf("CancelOrder = %v", c)
			}
		}
		if ok != 1 {
			t.Errorf("%d cancellations succeeded, want 1", ok)
		}
		got, err := e.orders.GetOrder(rep, &pipelinev1.GetOrderRequest{OrderId: id})
		if err != nil || got.GetOrder().GetStatus() != pipelinev1.OrderStatus_ORDER_STATUS_CANCELLED || got.GetOrder().GetCancelTime() == nil {
			t.Errorf("cancelled order = %v, %v", got, err)
		}
	})
}

func TestExchangeRatesAndReporting(t *testing.T) {
	t.Parallel()
	e := newOrderEnv(t)
	admin := e.as(t, e.tenant, auth.RoleAdmin)
	mug := e.product(t, admin, "MUG")
	at := func(y int, m time.Month, d int) *timestamppb.Timestamp {
		return timestamppb.New(time.Date(y, m, d, 12, 0, 0, 0, time.UTC))
	}
	place := func(currency string, ts *timestamppb.Timestamp) string {
		t.Helper()
		resp, err := e.orders.CreateOrder(admin, &pipelinev1.CreateOrderRequest{Order: &pipelinev1.Order{Kind: pipelinev1.OrderKind_ORDER_KIND_SALE,
			CurrencyCode: currency, OrderTime: ts, Lines: []*pipelinev1.OrderLine{{ProductId: mug, Quantity: 1, UnitPriceMinor: 10000}}}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetOrder().GetOrderId()
	}
	beforeRates, january, march, inEUR, inUSD := place("GBP", at(2010, 6, 1)), place("GBP", at(2011, 1, 15)), place("GBP", at(2011, 3, 15)), place("EUR", at(2011, 3, 15)), place("USD", at(2011, 3, 15))

	for _, tt := range []struct {
		name      string
		ctx       context.Context
		rates     []*pipelinev1.ExchangeRate
		wantCode  codes.Code
		wantField string
	}{
		{"rep", e.as(t, e.tenant, auth.RoleSalesRep), []*pipelinev1.ExchangeRate{{BaseCurrency: "GBP", QuoteCurrency: "EUR", RateDate: "2011-01-01", Rate: "1.2"}}, codes.PermissionDenied, ""},
		{"same currency", admin, []*pipelinev1.ExchangeRate{{BaseCurrency: "GBP", QuoteCurrency: "GBP", RateDate: "2011-01-01", Rate: "1"}}, codes.InvalidArgument, "rates[0].quote_currency"},
		{"bad rate", admin, []*pipelinev1.ExchangeRate{{BaseCurrency: "GBP", QuoteCurrency: "EUR", RateDate: "2011-01-01", Rate: "-1"}}, codes.InvalidArgument, "rates[0].rate"},
		{"bad date", admin, []*pipelinev1.ExchangeRate{{BaseCurrency: "GBP", QuoteCurrency: "EUR", RateDate: "01/01/2011", Rate: "1.2"}}, codes.InvalidArgument, "rates[0].rate_date"},
		{"none", admin, nil, codes.InvalidArgument, "rates"},
	} {
		_, err := e.orders.LoadExchangeRates(tt.ctx, &pipelinev1.LoadExchangeRatesRequest{Rates: tt.rates})
		if status.Code(err) != tt.wantCode || (tt.wantField != "" && !grpctest.Violations(err)[tt.wantField]) {
			t.Errorf("LoadExchangeRates(%s) = %v, want %v on %q", tt.name, err, tt.wantCode, tt.wantField)
		}
	}
	loaded, err := e.orders.LoadExchangeRates(admin, &pipelinev1.LoadExchangeRatesRequest{Rates: []*pipelinev1.ExchangeRate{
		{BaseCurrency: "gbp", QuoteCurrency: "EUR", RateDate: "2011-01-01", Rate: "1.1600"},
		{BaseCurrency: "GBP", QuoteCurrency: "EUR", RateDate: "2011-03-01", Rate: "1.1642"},
		{BaseCurrency: "EUR", QuoteCurrency: "USD", RateDate: "2011-03-01", Rate: "1.25"},
	}})
	if err != nil || loaded.GetLoadedCount() != 3 {
		t.Fatalf("LoadExchangeRates = %v, %v", loaded, err)
	}
	settings, err := e.orders.UpdateReportingSettings(admin, &pipelinev1.UpdateReportingSettingsRequest{
		ReportingSettings: &pipelinev1.ReportingSettings{ReportingCurrency: "eur"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"reporting_currency"}}})
	if err != nil || settings.GetReportingSettings().GetReportingCurrency() != "EUR" || settings.GetReportingSettings().GetEtag() != "1" {
		t.Fatalf("UpdateReportingSettings = %v, %v", settings, err)
	}
	if _, err := e.orders.UpdateReportingSettings(admin, &pipelinev1.UpdateReportingSettingsRequest{
		ReportingSettings: &pipelinev1.ReportingSettings{ReportingCurrency: "USD", Etag: "0"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"reporting_currency"}}}); status.Code(err) != codes.Aborted {
		t.Errorf("UpdateReportingSettings(stale etag) = %v, want Aborted", err)
	}

	for _, tt := range []struct {
		name string
		id   string
		want int64 // -1: no reporting total
	}{
		{"before any rate", beforeRates, -1},
		{"January rate", january, 11600},
		{"March rate", march, 11642},
		{"already in the reporting currency", inEUR, 10000},
		{"inverse of EUR→USD", inUSD, 8000},
	} {
		got, err := e.orders.GetOrder(admin, &pipelinev1.GetOrderRequest{OrderId: tt.id})
		if err != nil {
			t.Fatal(err)
		}
		rt := got.GetOrder().GetReportingTotal()
		switch {
		case tt.want < 0 && rt != nil:
			t.Errorf("%s: reporting total = %v, want none", tt.name, rt)
		case tt.want >= 0 && (rt.GetCurrencyCode() != "EUR" || rt.GetAmountMinor() != tt.want):
			t.Errorf("%s: reporting total = %v, want EUR %d", tt.name, rt, tt.want)
		}
	}
	list, err := e.orders.ListExchangeRates(e.as(t, e.tenant, auth.RoleAnalyst), &pipelinev1.ListExchangeRatesRequest{PageSize: 2})
	if err != nil || len(list.GetRates()) != 2 || list.GetNextPageToken() == "" {
		t.Fatalf("ListExchangeRates = %v, %v", list, err)
	}
	rest, err := e.orders.ListExchangeRates(admin, &pipelinev1.ListExchangeRatesRequest{PageSize: 2, PageToken: list.GetNextPageToken()})
	if err != nil || len(rest.GetRates()) != 1 || rest.GetRates()[0].GetRateDate() != "2011-03-01" || rest.GetRates()[0].GetBaseCurrency() != "GBP" {
		t.Errorf("ListExchangeRates(page 2) = %v, %v", rest, err)
	}
	if other, err := e.orders.ListExchangeRates(e.as(t, e.other, auth.RoleAdmin), &pipelinev1.ListExchangeRatesRequest{}); err != nil || len(other.GetRates()) != 0 {
		t.Errorf("ListExchangeRates(other tenant) = %v, %v; want none", other, err)
	}
}
