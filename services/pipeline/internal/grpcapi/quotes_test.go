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

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/pipeline/internal/forecast"
	"github.com/rapportcrm/rapport/services/pipeline/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/pipeline/internal/order"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
	"github.com/rapportcrm/rapport/services/pipeline/internal/postgres"
	"github.com/rapportcrm/rapport/services/pipeline/internal/quote"
)

// quoteEnv is the pipeline service with quotes, orders and the catalogue,
// one tenant's price list of two products, and an opportunity a partner
// registered.
type quoteEnv struct {
	quotes   pipelinev1.QuoteServiceClient
	forecast pipelinev1.ForecastServiceClient
	orders   pipelinev1.OrderServiceClient
	client   pipelinev1.PipelineServiceClient
	tokens   *grpctest.Tokens
	db       *pgtest.DB
	tenant   string
	other    string
	acme     uuid.UUID
	globex   uuid.UUID
	partner  uuid.UUID
	owner    auth.Caller
	// mug costs 250 and lamp 1000 in list (GBP); retired is inactive.
	mug, lamp, retired, list string
	deal                     *pipelinev1.Opportunity
	validUntil               string
}

func newQuoteEnv(t *testing.T) *quoteEnv {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	e := &quoteEnv{tokens: grpctest.NewTokens(t), db: db, tenant: uuid.NewString(), other: uuid.NewString(),
		acme: uuid.New(), globex: uuid.New(), partner: uuid.New(),
		validUntil: time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly)}
	e.owner = auth.Caller{TenantID: e.tenant, PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleSalesRep}}
	customers := fakeCustomers{known: map[uuid.UUID]bool{e.acme: true, e.globex: true}}
	conn := grpctest.Serve(t, e.tokens.Authenticator(nil), func(srv *grpcserver.Server) {
		pipelinev1.RegisterPipelineServiceServer(srv, grpcapi.New(pipeline.New(postgres.New(db.App), customers), db.App, 20*time.Millisecond))
		pipelinev1.RegisterOrderServiceServer(srv, grpcapi.NewOrderServer(order.New(postgres.NewOrderStore(db.App), customers)))
		pipelinev1.RegisterQuoteServiceServer(srv, grpcapi.NewQuoteServer(quote.New(postgres.NewQuoteStore(db.App), customers)))
		pipelinev1.RegisterForecastServiceServer(srv, grpcapi.NewForecast(forecast.New(postgres.New(db.App).Forecast())))
	})
	e.forecast = pipelinev1.NewForecastServiceClient(conn)
	e.quotes, e.orders, e.client = pipelinev1.NewQuoteServiceClient(conn), pipelinev1.NewOrderServiceClient(conn), pipelinev1.NewPipelineServiceClient(conn)
	admin := e.as(t, auth.RoleAdmin)
	product := func(sku string) string {
		resp, err := e.client.CreateProduct(admin, &pipelinev1.CreateProductRequest{Product: &pipelinev1.Product{Sku: sku, DisplayName: sku}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetProduct().GetProductId()
	}
	e.mug, e.lamp, e.retired = product("MUG"), product("LAMP"), product("OLD")
	if _, err := e.client.UpdateProduct(admin, &pipelinev1.UpdateProductRequest{Product: &pipelinev1.Product{ProductId: e.retired, Active: false},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"active"}}}); err != nil {
		t.Fatal(err)
	}
	pl, err := e.client.CreatePriceList(admin, &pipelinev1.CreatePriceListRequest{PriceList: &pipelinev1.PriceList{DisplayName: "UK", CurrencyCode: "GBP",
		Prices: []*pipelinev1.Price{{ProductId: e.mug, ValidFrom: "2020-01-01", UnitPriceMinor: 250}, {ProductId: e.lamp, ValidFrom: "2020-01-01", UnitPriceMinor: 1000},
			{ProductId: e.retired, ValidFrom: "2020-01-01", UnitPriceMinor: 5}}}})
	if err != nil {
		t.Fatal(err)
	}
	e.list = pl.GetPriceList().GetPriceListId()
	deal, err := e.client.CreateOpportunity(e.signed(t, e.owner), &pipelinev1.CreateOpportunityRequest{Opportunity: &pipelinev1.Opportunity{
		CustomerId: e.acme.String(), DisplayName: "Mugs for Acme", Amount: &typesv1.Money{CurrencyCode: "GBP", AmountMinor: 5000},
		SourcePartnerId: e.partner.String()}})
	if err != nil {
		t.Fatal(err)
	}
	e.deal = deal.GetOpportunity()
	return e
}

func (e *quoteEnv) as(t *testing.T, roles ...auth.Role) context.Context {
	return e.tokens.Context(t.Context(), e.tenant, roles...)
}

func (e *quoteEnv) signed(t *testing.T, c auth.Caller) context.Context {
	t.Helper()
	now := time.Now()
	tok, err := e.tokens.Sign(c, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return grpctest.Bearer(t.Context(), tok)
}

// draft is a quote for the deal: 4 mugs at the list price less 10 %, and
// a lamp at an overridden 900.
func (e *quoteEnv) draft() *pipelinev1.Quote {
	return &pipelinev1.Quote{OpportunityId: e.deal.GetOpportunityId(), PriceListId: e.list, ValidUntil: e.validUntil,
		Lines: []*pipelinev1.QuoteLine{{ProductId: e.mug, Quantity: 4, DiscountBps: 1000}, {ProductId: e.lamp, Quantity: 1, UnitPriceMinor: 900, PriceOverridden: true}}}
}

func (e *quoteEnv) create(t *testing.T, ctx context.Context, q *pipelinev1.Quote) *pipelinev1.Quote {
	t.Helper()
	resp, err := e.quotes.CreateQuote(ctx, &pipelinev1.CreateQuoteRequest{Quote: q})
	if err != nil {
		t.Fatalf("CreateQuote: %v", err)
	}
	return resp.GetQuote()
}

func (e *quoteEnv) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.Owner.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestQuoteToOrder(t *testing.T) {
	t.Parallel()
	e := newQuoteEnv(t)
	rep := e.signed(t, e.owner)
	created, err := e.quotes.CreateQuote(rep, &pipelinev1.CreateQuoteRequest{Quote: e.draft(), RequestId: "q-1"})
	if err != nil {
		t.Fatalf("CreateQuote: %v", err)
	}
	q := created.GetQuote()
	// 4 × 250 less 10 % = 900, plus 900 overridden.
	if q.GetTotal().GetAmountMinor() != 1800 || q.GetCurrencyCode() != "GBP" || q.GetCustomerId() != e.acme.String() ||
		q.GetStatus() != pipelinev1.QuoteStatus_QUOTE_STATUS_DRAFT || q.GetVersion() != 1 || q.GetRootQuoteId() != q.GetQuoteId() ||
		q.GetLines()[0].GetUnitPriceMinor() != 250 || q.GetLines()[0].GetTotalMinor() != 900 {
		t.Fatalf("CreateQuote = %v", q)
	}
	again, err := e.quotes.CreateQuote(rep, &pipelinev1.CreateQuoteRequest{Quote: e.draft(), RequestId: "q-1"})
	if err != nil || again.GetQuote().GetQuoteId() != q.GetQuoteId() {
		t.Errorf("CreateQuote(repeated request) = %v, %v; want %s", again, err, q.GetQuoteId())
	}
	id := q.GetQuoteId()
	if _, err := e.quotes.AcceptQuote(rep, &pipelinev1.AcceptQuoteRequest{QuoteId: id}); grpctest.Reason(err) != "QUOTE_NOT_SENT" {
		t.Errorf("AcceptQuote(draft) = %v, want QUOTE_NOT_SENT", err)
	}
	if _, err := e.quotes.SendQuote(rep, &pipelinev1.SendQuoteRequest{QuoteId: id, Etag: "7"}); status.Code(err) != codes.Aborted {
		t.Errorf("SendQuote(stale etag) = %v, want Aborted", err)
	}
	sent, err := e.quotes.SendQuote(rep, &pipelinev1.SendQuoteRequest{QuoteId: id, Etag: q.GetEtag()})
	if err != nil || sent.GetQuote().GetStatus() != pipelinev1.QuoteStatus_QUOTE_STATUS_SENT || sent.GetQuote().GetSendTime() == nil {
		t.Fatalf("SendQuote = %v, %v", sent, err)
	}
	if _, err := e.quotes.UpdateQuote(rep, &pipelinev1.UpdateQuoteRequest{Quote: &pipelinev1.Quote{QuoteId: id, Notes: "late"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"notes"}}}); grpctest.Reason(err) != "QUOTE_NOT_DRAFT" {
		t.Errorf("UpdateQuote(sent) = %v, want QUOTE_NOT_DRAFT", err)
	}

	// Concurrent accepts make one order and all return it.
	var wg sync.WaitGroup
	orderIDs := make(chan string, 4)
	for range 4 {
		wg.Go(func() {
			resp, err := e.quotes.AcceptQuote(rep, &pipelinev1.AcceptQuoteRequest{QuoteId: id})
			if err != nil {
				t.Errorf("AcceptQuote = %v", err)
				return
			}
			orderIDs <- resp.GetOrder().GetOrderId()
		})
	}
	wg.Wait()
	close(orderIDs)
	first := ""
	for oid := range orderIDs {
		if first == "" {
			first = oid
		}
		if oid != first {
			t.Errorf("AcceptQuote returned orders %s and %s", first, oid)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM orders WHERE quote_id = $1`, id); n != 1 {
		t.Errorf("%d orders of the quote, want 1", n)
	}
	got, err := e.orders.GetOrder(rep, &pipelinev1.GetOrderRequest{OrderId: first})
	if err != nil {
		t.Fatal(err)
	}
	o := got.GetOrder()
	if o.GetQuoteId() != id || o.GetOpportunityId() != e.deal.GetOpportunityId() || o.GetSourcePartnerId() != e.partner.String() ||
		o.GetCustomerId() != e.acme.String() || o.GetTotal().GetAmountMinor() != 1800 || o.GetLines()[0].GetDiscountMinor() != 100 ||
		o.GetKind() != pipelinev1.OrderKind_ORDER_KIND_SALE {
		t.Errorf("order of the quote = %v", o)
	}
	accepted, err := e.quotes.GetQuote(rep, &pipelinev1.GetQuoteRequest{QuoteId: id})
	if err != nil || accepted.GetQuote().GetStatus() != pipelinev1.QuoteStatus_QUOTE_STATUS_ACCEPTED || accepted.GetQuote().GetOrderId() != first {
		t.Errorf("accepted quote = %v, %v", accepted, err)
	}
	if _, err := e.quotes.ReviseQuote(rep, &pipelinev1.ReviseQuoteRequest{QuoteId: id}); grpctest.Reason(err) != "QUOTE_ACCEPTED" {
		t.Errorf("ReviseQuote(accepted) = %v, want QUOTE_ACCEPTED", err)
	}
	if n := e.count(t, `SELECT count(*) FROM outbox WHERE type IN ('quote.created', 'quote.sent', 'quote.accepted', 'order.created')`); n != 4 {
		t.Errorf("%d quote and order events, want 4 (created, sent, accepted, order created)", n)
	}
	if n := e.count(t, `SELECT count(*) FROM audit_log WHERE resource = $1`, "quotes/"+id); n != 3 {
		t.Errorf("%d audit rows of the quote, want 3", n)
	}

	// The partner service's query: a partner's orders in a period.
	day := time.Now().UTC().Format(time.DateOnly)
	list, err := e.orders.ListOrders(rep, &pipelinev1.ListOrdersRequest{Filter: `source_partner_id = "` + e.partner.String() +
		`" AND order_time >= "` + day + `T00:00:00Z" AND order_time < "2999-01-01T00:00:00Z"`})
	if err != nil || len(list.GetOrders()) != 1 || list.GetOrders()[0].GetOrderId() != first {
		t.Errorf("ListOrders(partner's in a period) = %v, %v", list, err)
	}
	list, err = e.orders.ListOrders(rep, &pipelinev1.ListOrdersRequest{Filter: `opportunity_id = "` + uuid.NewString() + `"`})
	if err != nil || len(list.GetOrders()) != 0 {
		t.Errorf("ListOrders(another opportunity) = %v, %v", list, err)
	}
}

func TestQuoteVersions(t *testing.T) {
	t.Parallel()
	e := newQuoteEnv(t)
	rep := e.as(t, auth.RoleSalesManager)
	v1 := e.create(t, rep, e.draft())
	if _, err := e.quotes.SendQuote(rep, &pipelinev1.SendQuoteRequest{QuoteId: v1.GetQuoteId()}); err != nil {
		t.Fatal(err)
	}
	later := time.Now().UTC().AddDate(0, 2, 0).Format(time.DateOnly)
	revised, err := e.quotes.ReviseQuote(rep, &pipelinev1.ReviseQuoteRequest{QuoteId: v1.GetQuoteId(), ValidUntil: later, RequestId: "rev-1"})
	if err != nil {
		t.Fatalf("ReviseQuote: %v", err)
	}
	v2 := revised.GetQuote()
	if v2.GetVersion() != 2 || v2.GetRootQuoteId() != v1.GetQuoteId() || v2.GetStatus() != pipelinev1.QuoteStatus_QUOTE_STATUS_DRAFT ||
		v2.GetValidUntil() != later || v2.GetTotal().GetAmountMinor() != v1.GetTotal().GetAmountMinor() {
		t.Fatalf("ReviseQuote = %v", v2)
	}
	again, err := e.quotes.ReviseQuote(rep, &pipelinev1.ReviseQuoteRequest{QuoteId: v1.GetQuoteId(), RequestId: "rev-1"})
	if err != nil || again.GetQuote().GetQuoteId() != v2.GetQuoteId() {
		t.Errorf("ReviseQuote(repeated request) = %v, %v; want %s", again, err, v2.GetQuoteId())
	}
	for name, call := range map[string]func() error{
		"accept": func() error {
			_, err := e.quotes.AcceptQuote(rep, &pipelinev1.AcceptQuoteRequest{QuoteId: v1.GetQuoteId()})
			return err
		},
		"revise": func() error {
			_, err := e.quotes.ReviseQuote(rep, &pipelinev1.ReviseQuoteRequest{QuoteId: v1.GetQuoteId()})
			return err
		},
		"resend": func() error {
			_, err := e.quotes.SendQuote(rep, &pipelinev1.SendQuoteRequest{QuoteId: v1.GetQuoteId()})
			return err
		},
		"reject2": func() error {
			_, err := e.quotes.RejectQuote(rep, &pipelinev1.RejectQuoteRequest{QuoteId: v2.GetQuoteId()})
			return err
		},
	} {
		want := map[string]string{"accept": "QUOTE_NOT_LATEST", "revise": "QUOTE_NOT_LATEST", "resend": "QUOTE_NOT_DRAFT", "reject2": "QUOTE_NOT_SENT"}[name]
		if err := call(); status.Code(err) != codes.FailedPrecondition || grpctest.Reason(err) != want {
			t.Errorf("%s = %v, want %s", name, err, want)
		}
	}
	// Editing the draft reprices changed lines; deleting it makes v1 the latest again.
	upd, err := e.quotes.UpdateQuote(rep, &pipelinev1.UpdateQuoteRequest{Quote: &pipelinev1.Quote{QuoteId: v2.GetQuoteId(), Etag: v2.GetEtag(),
		Lines: []*pipelinev1.QuoteLine{{ProductId: e.lamp, Quantity: 2}}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"lines"}}})
	if err != nil || upd.GetQuote().GetTotal().GetAmountMinor() != 2000 {
		t.Fatalf("UpdateQuote(lines) = %v, %v", upd, err)
	}
	if _, err := e.quotes.DeleteQuote(rep, &pipelinev1.DeleteQuoteRequest{QuoteId: v2.GetQuoteId(), Etag: v2.GetEtag()}); status.Code(err) != codes.Aborted {
		t.Errorf("DeleteQuote(stale etag) = %v, want Aborted", err)
	}
	if _, err := e.quotes.DeleteQuote(rep, &pipelinev1.DeleteQuoteRequest{QuoteId: v2.GetQuoteId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.quotes.DeleteQuote(rep, &pipelinev1.DeleteQuoteRequest{QuoteId: v1.GetQuoteId()}); grpctest.Reason(err) != "QUOTE_NOT_DRAFT" {
		t.Errorf("DeleteQuote(sent) = %v, want QUOTE_NOT_DRAFT", err)
	}
	live, err := e.quotes.ListQuotes(rep, &pipelinev1.ListQuotesRequest{Filter: `root_quote_id = "` + v1.GetQuoteId() + `"`})
	if err != nil || len(live.GetQuotes()) != 1 {
		t.Errorf("ListQuotes(versions, live) = %v, %v; want v1 only", live, err)
	}
	all, err := e.quotes.ListQuotes(rep, &pipelinev1.ListQuotesRequest{Filter: `root_quote_id = "` + v1.GetQuoteId() + `"`, ShowDeleted: true, PageSize: 1})
	if err != nil || len(all.GetQuotes()) != 1 || all.GetNextPageToken() == "" || all.GetQuotes()[0].GetVersion() != 2 {
		t.Errorf("ListQuotes(versions, with deleted, page 1) = %v, %v", all, err)
	}
	// Rejection; then a revision of a rejected quote is the latest and can be sent.
	rej, err := e.quotes.RejectQuote(rep, &pipelinev1.RejectQuoteRequest{QuoteId: v1.GetQuoteId(), Reason: "too dear"})
	if err != nil || rej.GetQuote().GetStatus() != pipelinev1.QuoteStatus_QUOTE_STATUS_REJECTED || rej.GetQuote().GetRejectReason() != "too dear" {
		t.Fatalf("RejectQuote = %v, %v", rej, err)
	}
	v3, err := e.quotes.ReviseQuote(rep, &pipelinev1.ReviseQuoteRequest{QuoteId: v1.GetQuoteId()})
	if err != nil || v3.GetQuote().GetVersion() != 3 {
		t.Fatalf("ReviseQuote(rejected) = %v, %v; want version 3", v3, err)
	}
	if _, err := e.quotes.SendQuote(rep, &pipelinev1.SendQuoteRequest{QuoteId: v3.GetQuote().GetQuoteId()}); err != nil {
		t.Errorf("SendQuote(v3) = %v", err)
	}
	sent, err := e.quotes.ListQuotes(rep, &pipelinev1.ListQuotesRequest{Filter: "status = QUOTE_STATUS_SENT"})
	if err != nil || len(sent.GetQuotes()) != 1 || sent.GetQuotes()[0].GetVersion() != 3 {
		t.Errorf("ListQuotes(sent) = %v, %v", sent, err)
	}
}

func TestQuoteExpiry(t *testing.T) {
	t.Parallel()
	e := newQuoteEnv(t)
	rep := e.signed(t, e.owner)
	q := e.create(t, rep, e.draft())
	if _, err := e.quotes.SendQuote(rep, &pipelinev1.SendQuoteRequest{QuoteId: q.GetQuoteId()}); err != nil {
		t.Fatal(err)
	}
	// The offer's last day passes.
	if _, err := e.db.Owner.Exec(t.Context(), `UPDATE quotes SET valid_until = current_date - 1 WHERE quote_id = $1`, q.GetQuoteId()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.quotes.AcceptQuote(rep, &pipelinev1.AcceptQuoteRequest{QuoteId: q.GetQuoteId()}); grpctest.Reason(err) != "QUOTE_EXPIRED" {
		t.Fatalf("AcceptQuote(past validity) = %v, want QUOTE_EXPIRED", err)
	}
	got, err := e.quotes.GetQuote(rep, &pipelinev1.GetQuoteRequest{QuoteId: q.GetQuoteId()})
	if err != nil || got.GetQuote().GetStatus() != pipelinev1.QuoteStatus_QUOTE_STATUS_EXPIRED || got.GetQuote().GetOrderId() != "" {
		t.Errorf("expired quote = %v, %v", got, err)
	}
	if n := e.count(t, `SELECT count(*) FROM orders`); n != 0 {
		t.Errorf("%d orders after an expired accept, want 0", n)
	}
	if n := e.count(t, `SELECT count(*) FROM outbox WHERE type = 'quote.expired'`); n != 1 {
		t.Errorf("%d quote.expired events, want 1", n)
	}
}

func TestQuoteBadInput(t *testing.T) {
	t.Parallel()
	e := newQuoteEnv(t)
	rep := e.signed(t, e.owner)
	with := func(f func(q *pipelinev1.Quote)) *pipelinev1.Quote {
		q := e.draft()
		f(q)
		return q
	}
	others, err := e.client.CreateOpportunity(e.as(t, auth.RoleAdmin), &pipelinev1.CreateOpportunityRequest{Opportunity: &pipelinev1.Opportunity{
		CustomerId: e.globex.String(), DisplayName: "Globex", Amount: &typesv1.Money{CurrencyCode: "GBP", AmountMinor: 1}, OwnerId: uuid.NewString()}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		in        *pipelinev1.Quote
		wantField string
	}{
		{"no lines", with(func(q *pipelinev1.Quote) { q.Lines = nil }), "quote.lines"},
		{"line without a product", with(func(q *pipelinev1.Quote) { q.Lines[0].ProductId = "" }), "quote.lines[0].product_id"},
		{"unknown product", with(func(q *pipelinev1.Quote) { q.Lines[0].ProductId = uuid.NewString() }), "quote.lines[0].product_id"},
		{"inactive product", with(func(q *pipelinev1.Quote) { q.Lines[0].ProductId = e.retired }), "quote.lines[0].product_id"},
		{"zero quantity", with(func(q *pipelinev1.Quote) { q.Lines[0].Quantity = 0 }), "quote.lines[0].quantity"},
		{"discount over 100 %", with(func(q *pipelinev1.Quote) { q.Lines[0].DiscountBps = 10001 }), "quote.lines[0].discount_bps"},
		{"negative price", with(func(q *pipelinev1.Quote) { q.Lines[1].UnitPriceMinor = -1 }), "quote.lines[1].unit_price_minor"},
		{"no validity", with(func(q *pipelinev1.Quote) { q.ValidUntil = "" }), "quote.valid_until"},
		{"validity passed", with(func(q *pipelinev1.Quote) { q.ValidUntil = "2020-01-01" }), "quote.valid_until"},
		{"no price list", with(func(q *pipelinev1.Quote) { q.PriceListId = "" }), "quote.price_list_id"},
		{"unknown price list", with(func(q *pipelinev1.Quote) { q.PriceListId = uuid.NewString() }), "quote.price_list_id"},
		{"currency not the list's", with(func(q *pipelinev1.Quote) { q.CurrencyCode = "EUR" }), "quote.currency_code"},
		{"no customer nor opportunity", with(func(q *pipelinev1.Quote) { q.OpportunityId = "" }), "quote.customer_id"},
		{"unknown customer", with(func(q *pipelinev1.Quote) { q.OpportunityId, q.CustomerId = "", uuid.NewString() }), "quote.customer_id"},
		{"another customer's opportunity", with(func(q *pipelinev1.Quote) { q.CustomerId = e.globex.String() }), "quote.opportunity_id"},
		{"unknown opportunity", with(func(q *pipelinev1.Quote) { q.OpportunityId = uuid.NewString() }), "quote.opportunity_id"},
		{"an opportunity the rep cannot see", with(func(q *pipelinev1.Quote) { q.OpportunityId = others.GetOpportunity().GetOpportunityId() }), "quote.opportunity_id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.quotes.CreateQuote(rep, &pipelinev1.CreateQuoteRequest{Quote: tt.in, RequestId: "bad-" + tt.name})
			if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.wantField] {
				t.Errorf("CreateQuote(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.wantField)
			}
		})
	}
	t.Cleanup(func() {
		var n int
		if err := e.db.Owner.QueryRow(context.Background(), `SELECT count(*) FROM quotes`).Scan(&n); err != nil || n != 0 {
			t.Errorf("rejected quotes stored: %d, %v", n, err)
		}
	})
}

func TestQuoteAccess(t *testing.T) {
	t.Parallel()
	e := newQuoteEnv(t)
	q := e.create(t, e.signed(t, e.owner), e.draft())
	for _, tt := range []struct {
		name string
		ctx  context.Context
		call func(ctx context.Context) error
		want codes.Code
	}{
		{"analyst reads", e.as(t, auth.RoleAnalyst), func(ctx context.Context) error {
			_, err := e.quotes.GetQuote(ctx, &pipelinev1.GetQuoteRequest{QuoteId: q.GetQuoteId()})
			return err
		}, codes.OK},
		{"analyst cannot create", e.as(t, auth.RoleAnalyst), func(ctx context.Context) error {
			_, err := e.quotes.CreateQuote(ctx, &pipelinev1.CreateQuoteRequest{Quote: e.draft()})
			return err
		}, codes.PermissionDenied},
		{"support agent cannot read", e.as(t, auth.RoleSupportAgent), func(ctx context.Context) error {
			_, err := e.quotes.ListQuotes(ctx, &pipelinev1.ListQuotesRequest{})
			return err
		}, codes.PermissionDenied},
		{"partner user cannot send", e.as(t, auth.RolePartnerUser), func(ctx context.Context) error {
			_, err := e.quotes.SendQuote(ctx, &pipelinev1.SendQuoteRequest{QuoteId: q.GetQuoteId()})
			return err
		}, codes.PermissionDenied},
		{"another tenant does not see it", e.tokens.Context(t.Context(), e.other, auth.RoleAdmin), func(ctx context.Context) error {
			_, err := e.quotes.GetQuote(ctx, &pipelinev1.GetQuoteRequest{QuoteId: q.GetQuoteId()})
			return err
		}, codes.NotFound},
		{"another tenant cannot send it", e.tokens.Context(t.Context(), e.other, auth.RoleAdmin), func(ctx context.Context) error {
			_, err := e.quotes.SendQuote(ctx, &pipelinev1.SendQuoteRequest{QuoteId: q.GetQuoteId()})
			return err
		}, codes.NotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.call(tt.ctx); status.Code(err) != tt.want {
				t.Errorf("%s = %v, want %v", tt.name, err, tt.want)
			}
		})
	}
}

func TestOrderAttribution(t *testing.T) {
	t.Parallel()
	e := newQuoteEnv(t)
	rep := e.signed(t, e.owner)
	sale := func(f func(o *pipelinev1.Order)) *pipelinev1.Order {
		o := &pipelinev1.Order{Kind: pipelinev1.OrderKind_ORDER_KIND_SALE, CurrencyCode: "GBP", CustomerId: e.acme.String(),
			OpportunityId: e.deal.GetOpportunityId(), Lines: []*pipelinev1.OrderLine{{ProductId: e.mug, Quantity: 2, UnitPriceMinor: 250, DiscountMinor: 50}}}
		f(o)
		return o
	}
	made, err := e.orders.CreateOrder(rep, &pipelinev1.CreateOrderRequest{Order: sale(func(*pipelinev1.Order) {})})
	if err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	if o := made.GetOrder(); o.GetSourcePartnerId() != e.partner.String() || o.GetOpportunityId() != e.deal.GetOpportunityId() || o.GetTotal().GetAmountMinor() != 450 {
		t.Errorf("CreateOrder(of the opportunity) = %v; want its partner and a total of 450", o)
	}
	direct := uuid.NewString()
	made, err = e.orders.CreateOrder(rep, &pipelinev1.CreateOrderRequest{Order: sale(func(o *pipelinev1.Order) { o.SourcePartnerId = direct })})
	if err != nil || made.GetOrder().GetSourcePartnerId() != direct {
		t.Errorf("CreateOrder(partner given) = %v, %v; want partner %s", made, err, direct)
	}
	for _, tt := range []struct {
		name, field string
		in          *pipelinev1.Order
	}{
		{"unknown opportunity", "order.opportunity_id", sale(func(o *pipelinev1.Order) { o.OpportunityId = uuid.NewString() })},
		{"another customer's opportunity", "order.opportunity_id", sale(func(o *pipelinev1.Order) { o.CustomerId = e.globex.String() })},
		{"malformed partner", "order.source_partner_id", sale(func(o *pipelinev1.Order) { o.SourcePartnerId = "p1" })},
		{"discount above the line", "order.lines[0].discount_minor", sale(func(o *pipelinev1.Order) { o.Lines[0].DiscountMinor = 501 })},
		{"negative discount", "order.lines[0].discount_minor", sale(func(o *pipelinev1.Order) { o.Lines[0].DiscountMinor = -1 })},
	} {
		_, err := e.orders.CreateOrder(rep, &pipelinev1.CreateOrderRequest{Order: tt.in})
		if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.field] {
			t.Errorf("CreateOrder(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.field)
		}
	}
	// Another tenant's opportunity is unknown here.
	if _, err := e.orders.CreateOrder(e.tokens.Context(t.Context(), e.other, auth.RoleAdmin), &pipelinev1.CreateOrderRequest{
		Order: sale(func(o *pipelinev1.Order) { o.CustomerId = "" })}); !grpctest.Violations(err)["order.opportunity_id"] {
		t.Errorf("CreateOrder(another tenant's opportunity) = %v, want a violation on order.opportunity_id", err)
	}
	if n := e.count(t, `SELECT count(*) FROM orders`); n != 2 {
		t.Errorf("%d orders stored, want 2", n)
	}
}

func TestOpportunityReportingAmount(t *testing.T) {
	t.Parallel()
	e := newQuoteEnv(t)
	admin := e.as(t, auth.RoleAdmin)
	create := func(currency string, amount int64, closeDate string) *pipelinev1.Opportunity {
		t.Helper()
		resp, err := e.client.CreateOpportunity(admin, &pipelinev1.CreateOpportunityRequest{Opportunity: &pipelinev1.Opportunity{
			CustomerId: e.acme.String(), DisplayName: "Deal", Amount: &typesv1.Money{CurrencyCode: currency, AmountMinor: amount},
			ExpectedCloseDate: closeDate, EngageDate: "2024-01-01"}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetOpportunity()
	}
	usd := create("USD", 10000, "2025-06-30")
	if usd.GetReportingAmount() != nil {
		t.Errorf("reporting amount without a reporting currency = %v, want none", usd.GetReportingAmount())
	}
	if _, err := e.orders.UpdateReportingSettings(admin, &pipelinev1.UpdateReportingSettingsRequest{
		ReportingSettings: &pipelinev1.ReportingSettings{ReportingCurrency: "EUR"},
		UpdateMask:        &fieldmaskpb.FieldMask{Paths: []string{"reporting_currency"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.orders.LoadExchangeRates(admin, &pipelinev1.LoadExchangeRatesRequest{Rates: []*pipelinev1.ExchangeRate{
		{BaseCurrency: "EUR", QuoteCurrency: "USD", RateDate: "2025-01-01", Rate: "1.25"},
		{BaseCurrency: "EUR", QuoteCurrency: "USD", RateDate: "2025-07-01", Rate: "1.0"},
		{BaseCurrency: "JPY", QuoteCurrency: "EUR", RateDate: "2025-01-01", Rate: "0.0062"},
	}}); err != nil {
		t.Fatal(err)
	}
	jpy := create("JPY", 1000000, "2025-03-01")
	early := create("USD", 10000, "2024-12-31")
	eur := create("EUR", 777, "")
	create("GBP", 500, "2025-05-01") // no GBP rate: left out of the sums
	for _, tt := range []struct {
		name string
		id   string
		want *typesv1.Money
	}{
		// 100.00 USD at 1 EUR = 1.25 USD on the close date (not July's 1.0).
		{"inverse rate on the close date", usd.GetOpportunityId(), &typesv1.Money{CurrencyCode: "EUR", AmountMinor: 8000}},
		// 1 000 000 JPY (no minor unit) × 0.0062 = 6 200.00 EUR.
		{"direct rate across minor units", jpy.GetOpportunityId(), &typesv1.Money{CurrencyCode: "EUR", AmountMinor: 620000}},
		{"no rate on or before the date", early.GetOpportunityId(), nil},
		{"already in the reporting currency", eur.GetOpportunityId(), &typesv1.Money{CurrencyCode: "EUR", AmountMinor: 777}},
	} {
		got, err := e.client.GetOpportunity(admin, &pipelinev1.GetOpportunityRequest{OpportunityId: tt.id})
		if err != nil {
			t.Fatal(err)
		}
		r := got.GetOpportunity().GetReportingAmount()
		if (r == nil) != (tt.want == nil) || r.GetCurrencyCode() != tt.want.GetCurrencyCode() || r.GetAmountMinor() != tt.want.GetAmountMinor() {
			t.Errorf("%s: reporting amount = %v, want %v", tt.name, r, tt.want)
		}
	}
	// The forecast sums across currencies in the reporting currency.
	fc, err := e.forecast.GetForecast(admin, &pipelinev1.GetForecastRequest{PeriodKind: pipelinev1.PeriodKind_PERIOD_KIND_QUARTER,
		StartDate: "2025-01-01", EndDate: "2025-12-31", TimeZone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, r := range fc.GetReportingRows() {
		if r.GetAmount().GetCurrencyCode() != "EUR" {
			t.Errorf("reporting row in %s", r.GetAmount().GetCurrencyCode())
		}
		got[r.GetPeriodStart()] += r.GetAmount().GetAmountMinor()
	}
	if got["2025-01-01"] != 620000 || got["2025-04-01"] != 8000 || len(got) != 2 || fc.GetUnconvertedCount() != 1 {
		t.Errorf("GetForecast reporting rows = %v (unconverted %d), want 620000 in Q1 and 8000 in Q2, one unconverted",
			fc.GetReportingRows(), fc.GetUnconvertedCount())
	}
}
