package grpcapi_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/rapportcrm/rapport/gen/go/rapport/analytics/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
	"github.com/rapportcrm/rapport/services/analytics/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/analytics/internal/insight"
	"github.com/rapportcrm/rapport/services/analytics/internal/postgres"
)

// insightNow is the insight service's clock in these tests: 40 days after t0.
var insightNow = t0.Add(40 * 24 * time.Hour)

// insightEnv is the insight API on a real socket over a private read model
// holding two customers of one tenant and one of another:
//   - ada bought tea twice and has an open ticket and a month-to-month contract;
//   - bob bought tea and cups, and rejected nothing yet;
//   - cy, of the other tenant, bought jam.
type insightEnv struct {
	api                analyticsv1.CustomerInsightServiceClient
	tokens             *grpctest.Tokens
	store              *postgres.Store
	tenant, other      uuid.UUID
	ada, bob, cy       uuid.UUID
	tea, cup, jam, pot uuid.UUID
	n                  int
	peer               *fakeCustomers
}

// fakeCustomers stands in for the customer service: it remembers who is at
// risk and the follow-ups it created per request id.
type fakeCustomers struct {
	mu        sync.Mutex
	down      bool
	stage     map[uuid.UUID]bool
	followUps map[string]string
	reasons   []string
}

func (f *fakeCustomers) MarkAtRisk(_ context.Context, customer uuid.UUID, reason string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return false, insight.ErrCustomerServiceUnavailable
	}
	if f.stage[customer] {
		return false, nil
	}
	f.stage[customer] = true
	f.reasons = append(f.reasons, reason)
	return true, nil
}

func (f *fakeCustomers) CreateWinBack(_ context.Context, _ uuid.UUID, _, _ string, _ time.Time, requestID string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, ok := f.followUps[requestID]; ok {
		return id, nil
	}
	id := uuid.NewString()
	f.followUps[requestID] = id
	return id, nil
}

func newInsightEnv(t *testing.T) *insightEnv {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	tokens := grpctest.NewTokens(t)
	store := postgres.New(db.App)
	peer := &fakeCustomers{stage: map[uuid.UUID]bool{}, followUps: map[string]string{}}
	conn := grpctest.Serve(t, tokens.Authenticator(nil), func(srv *grpcserver.Server) {
		analyticsv1.RegisterCustomerInsightServiceServer(srv, grpcapi.NewInsight(insight.New(store, peer, func() time.Time { return insightNow })))
	})
	e := &insightEnv{api: analyticsv1.NewCustomerInsightServiceClient(conn), tokens: tokens, store: store, tenant: uuid.New(), other: uuid.New(), peer: peer,
		ada: uuid.New(), bob: uuid.New(), cy: uuid.New(), tea: uuid.New(), cup: uuid.New(), jam: uuid.New(), pot: uuid.New()}
	contract, tenure := "Month-to-month", 3.0
	e.apply(t, e.tenant, "customer.created", analytics.Fact{Profile: &analytics.CustomerProfile{ID: e.ada, Kind: 1, Stage: analytics.LifecycleCustomer,
		CountryCode: "GB", Contract: &contract, TenureMonths: &tenure, CreateTime: t0}})
	e.apply(t, e.tenant, "customer.created", analytics.Fact{Profile: &analytics.CustomerProfile{ID: e.bob, Kind: 1, Stage: analytics.LifecycleCustomer, CreateTime: t0}})
	e.order(t, e.tenant, e.ada, 1000, 1, e.tea)
	e.order(t, e.tenant, e.ada, 3000, 20, e.tea)
	e.order(t, e.tenant, e.bob, 500, 5, e.tea, e.cup)
	e.order(t, e.tenant, uuid.Nil, 700, 6, e.tea, e.cup, e.pot)
	e.order(t, e.other, e.cy, 200, 2, e.jam)
	e.event(t, analytics.Event{TenantID: e.tenant, Source: "ticket", Type: "ticket.created",
		Ticket: &analytics.Ticket{ID: uuid.New(), CustomerID: e.ada, Status: analytics.TicketStatusOpen}})
	return e
}

func (e *insightEnv) event(t *testing.T, ev analytics.Event) {
	t.Helper()
	e.n++
	ev.ID, ev.Cursor, ev.Time = uuid.Must(uuid.NewV7()), strconv.Itoa(e.n), t0
	if ok, err := e.store.Apply(t.Context(), ev); err != nil || !ok {
		t.Fatalf("Apply: %v, %v", ok, err)
	}
}

func (e *insightEnv) apply(t *testing.T, tenant uuid.UUID, typ string, f analytics.Fact) {
	t.Helper()
	e.event(t, analytics.Event{TenantID: tenant, Source: "customer", Type: typ, Fact: &f})
}

// order places a GBP sale of customer on day days after t0.
func (e *insightEnv) order(t *testing.T, tenant, customer uuid.UUID, minor int64, day int, products ...uuid.UUID) {
	t.Helper()
	o := &analytics.Order{ID: uuid.New(), CustomerID: customer, Number: "SO-" + strconv.Itoa(e.n), Kind: analytics.OrderKindSale,
		Status: analytics.OrderStatusPlaced, Value: analytics.Money{CurrencyCode: "GBP", AmountMinor: minor}, OrderTime: t0.Add(time.Duration(day) * 24 * time.Hour)}
	for _, p := range products {
		o.Products = append(o.Products, analytics.OrderLine{ProductID: p, Quantity: 1})
	}
	e.event(t, analytics.Event{TenantID: tenant, Source: "pipeline", Type: "order.created", Fact: &analytics.Fact{Order: o}})
}

func (e *insightEnv) as(t *testing.T, tenant uuid.UUID, roles ...auth.Role) context.Context {
	return e.tokens.Context(t.Context(), tenant.String(), roles...)
}

func TestInsightRefusals(t *testing.T) {
	t.Parallel()
	e := newInsightEnv(t)
	ts := timestamppb.New
	analyst := func(t *testing.T) context.Context { return e.as(t, e.tenant, auth.RoleAnalyst) }
	tests := []struct {
		name           string
		ctx            func(t *testing.T) context.Context
		call           func(ctx context.Context) error
		wantCode       codes.Code
		wantViolations []string
	}{
		{name: "360 of a bad id", ctx: analyst, call: func(ctx context.Context) error {
			_, err := e.api.GetCustomer360(ctx, &analyticsv1.GetCustomer360Request{CustomerId: "ada"})
			return err
		}, wantCode: codes.InvalidArgument, wantViolations: []string{"customer_id"}},
		{name: "360 of an unknown customer", ctx: analyst, call: func(ctx context.Context) error {
			_, err := e.api.GetCustomer360(ctx, &analyticsv1.GetCustomer360Request{CustomerId: uuid.NewString()})
			return err
		}, wantCode: codes.NotFound},
		{name: "360 of another tenant's customer", ctx: analyst, call: func(ctx context.Context) error {
			_, err := e.api.GetCustomer360(ctx, &analyticsv1.GetCustomer360Request{CustomerId: e.cy.String()})
			return err
		}, wantCode: codes.NotFound},
		{name: "360 for a partner user", ctx: func(t *testing.T) context.Context { return e.as(t, e.tenant, auth.RolePartnerUser) }, call: func(ctx context.Context) error {
			_, err := e.api.GetCustomer360(ctx, &analyticsv1.GetCustomer360Request{CustomerId: e.ada.String()})
			return err
		}, wantCode: codes.PermissionDenied},
		{name: "value over a reversed range", ctx: analyst, call: func(ctx context.Context) error {
			_, err := e.api.GetCustomerValue(ctx, &analyticsv1.GetCustomerValueRequest{CustomerId: e.ada.String(), StartTime: ts(insightNow), EndTime: ts(t0)})
			return err
		}, wantCode: codes.InvalidArgument, wantViolations: []string{"start_time"}},
		{name: "value over more than the limit", ctx: analyst, call: func(ctx context.Context) error {
			_, err := e.api.GetCustomerValue(ctx, &analyticsv1.GetCustomerValueRequest{CustomerId: e.ada.String(), StartTime: ts(insightNow.AddDate(-6, 0, 0))})
			return err
		}, wantCode: codes.InvalidArgument, wantViolations: []string{"start_time"}},
		{name: "value in a bad currency", ctx: analyst, call: func(ctx context.Context) error {
			_, err := e.api.GetCustomerValue(ctx, &analyticsv1.GetCustomerValueRequest{CustomerId: e.ada.String(), CurrencyCode: "gbp"})
			return err
		}, wantCode: codes.InvalidArgument, wantViolations: []string{"currency_code"}},
		{name: "value of an unknown customer", ctx: analyst, call: func(ctx context.Context) error {
			_, err := e.api.GetCustomerValue(ctx, &analyticsv1.GetCustomerValueRequest{CustomerId: uuid.NewString()})
			return err
		}, wantCode: codes.NotFound},
		{name: "values with a negative page size and a foreign token", ctx: analyst, call: func(ctx context.Context) error {
			_, err := e.api.ListCustomerValues(ctx, &analyticsv1.ListCustomerValuesRequest{PageSize: -1})
			return err
		}, wantCode: codes.InvalidArgument, wantViolations: []string{"page_size"}},
		{name: "values with a foreign page token", ctx: analyst, call: func(ctx context.Context) error {
			_, err := e.api.ListCustomerValues(ctx, &analyticsv1.ListCustomerValuesRequest{PageToken: "bm9wZQ"})
			return err
		}, wantCode: codes.InvalidArgument, wantViolations: []string{"page_token"}},
		{name: "churn risk of another tenant's customer", ctx: analyst, call: func(ctx context.Context) error {
			_, err := e.api.GetChurnRisk(ctx, &analyticsv1.GetChurnRiskRequest{CustomerId: e.cy.String()})
			return err
		}, wantCode: codes.NotFound},
		{name: "offers with a negative number", ctx: analyst, call: func(ctx context.Context) error {
			_, err := e.api.ListNextBestOffers(ctx, &analyticsv1.ListNextBestOffersRequest{CustomerId: e.bob.String(), MaxOffers: -2})
			return err
		}, wantCode: codes.InvalidArgument, wantViolations: []string{"max_offers"}},
		{name: "feedback by an analyst", ctx: analyst, call: func(ctx context.Context) error {
			_, err := e.api.CreateOfferFeedback(ctx, &analyticsv1.CreateOfferFeedbackRequest{CustomerId: e.bob.String(),
				Feedback: &analyticsv1.OfferFeedback{ProductId: e.pot.String(), Outcome: analyticsv1.OfferOutcome_OFFER_OUTCOME_ACCEPTED}})
			return err
		}, wantCode: codes.PermissionDenied},
		{name: "feedback without product or outcome", ctx: func(t *testing.T) context.Context { return e.as(t, e.tenant, auth.RoleSalesRep) }, call: func(ctx context.Context) error {
			_, err := e.api.CreateOfferFeedback(ctx, &analyticsv1.CreateOfferFeedbackRequest{CustomerId: e.bob.String(), Feedback: &analyticsv1.OfferFeedback{ProductId: "pot"}})
			return err
		}, wantCode: codes.InvalidArgument, wantViolations: []string{"feedback.outcome", "feedback.product_id"}},
		{name: "feedback on another tenant's customer", ctx: func(t *testing.T) context.Context { return e.as(t, e.tenant, auth.RoleSalesRep) }, call: func(ctx context.Context) error {
			_, err := e.api.CreateOfferFeedback(ctx, &analyticsv1.CreateOfferFeedbackRequest{CustomerId: e.cy.String(),
				Feedback: &analyticsv1.OfferFeedback{ProductId: e.pot.String(), Outcome: analyticsv1.OfferOutcome_OFFER_OUTCOME_REJECTED}})
			return err
		}, wantCode: codes.NotFound},
		{name: "quarantine for a sales rep", ctx: func(t *testing.T) context.Context { return e.as(t, e.tenant, auth.RoleSalesRep) }, call: func(ctx context.Context) error {
			_, err := e.api.ListQuarantinedEvents(ctx, &analyticsv1.ListQuarantinedEventsRequest{})
			return err
		}, wantCode: codes.PermissionDenied},
		{name: "quarantine with a bad filter", ctx: analyst, call: func(ctx context.Context) error {
			_, err := e.api.ListQuarantinedEvents(ctx, &analyticsv1.ListQuarantinedEventsRequest{Filter: `reason = "x"`})
			return err
		}, wantCode: codes.InvalidArgument, wantViolations: []string{"filter"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.call(tt.ctx(t))
			if status.Code(err) != tt.wantCode {
				t.Fatalf("%s: %v, want %v", tt.name, err, tt.wantCode)
			}
			if tt.wantViolations != nil {
				got := grpctest.Violations(err)
				want := map[string]bool{}
				for _, f := range tt.wantViolations {
					want[f] = true
				}
				if !cmp.Equal(got, want) {
					t.Fatalf("%s: violations %v, want %v", tt.name, got, want)
				}
			}
		})
	}
}

func TestGetCustomer360(t *testing.T) {
	t.Parallel()
	e := newInsightEnv(t)
	got, err := e.api.GetCustomer360(e.as(t, e.tenant, auth.RoleSupportAgent), &analyticsv1.GetCustomer360Request{CustomerId: e.ada.String()})
	if err != nil {
		t.Fatalf("GetCustomer360: %v", err)
	}
	c := got.GetCustomer360()
	if c.GetPurchaseCount() != 2 || len(c.GetRecentOrders()) != 2 || c.GetOpenTicketCount() != 1 || c.GetCountryCode() != "GB" ||
		c.GetLifecycleStage() != int32(analytics.LifecycleCustomer) {
		t.Fatalf("GetCustomer360 = %v; want 2 purchases, 1 open ticket, GB, stage customer", c)
	}
	// Ada's value over the 365 days before insightNow: two purchases, 40 GBP, the
	// last on day 20 of 40; bob bought once, on day 5.
	v := c.GetValue()
	if v.GetFrequency() != 2 || v.GetMonetaryMinor() != 4000 || v.GetRecencyDays() != 20 || v.GetCurrencyCode() != "GBP" ||
		v.GetRecencyScore() != 3 || v.GetFrequencyScore() != 3 || v.GetMonetaryScore() != 3 {
		t.Fatalf("GetCustomer360 value = %v", v)
	}
	r := c.GetChurnRisk()
	reasons := map[analyticsv1.ChurnReason]int32{}
	for _, x := range r.GetReasons() {
		reasons[x.GetReason()] = x.GetPoints()
	}
	want := map[analyticsv1.ChurnReason]int32{analyticsv1.ChurnReason_CHURN_REASON_OPEN_COMPLAINTS: 10,
		analyticsv1.ChurnReason_CHURN_REASON_MONTH_TO_MONTH_CONTRACT: 35, analyticsv1.ChurnReason_CHURN_REASON_SHORT_TENURE: 25}
	if !cmp.Equal(reasons, want) || r.GetScore() != 70 || r.GetBand() != analyticsv1.ChurnRiskBand_CHURN_RISK_BAND_HIGH || !r.GetSuggestAtRisk() {
		t.Fatalf("GetCustomer360 churn risk = %v, want reasons %v, score 70, high, suggest at-risk", r, want)
	}
}

func TestCustomerValues(t *testing.T) {
	t.Parallel()
	e := newInsightEnv(t)
	ctx := e.as(t, e.tenant, auth.RoleAnalyst)
	v, err := e.api.GetCustomerValue(ctx, &analyticsv1.GetCustomerValueRequest{CustomerId: e.bob.String(),
		StartTime: timestamppb.New(t0), EndTime: timestamppb.New(t0.Add(10 * 24 * time.Hour))})
	if err != nil {
		t.Fatalf("GetCustomerValue: %v", err)
	}
	// Up to day 10 ada bought once (day 1, 10 GBP) and bob once (day 5, 5 GBP):
	// bob is more recent (1 + floor(5 × 1/2) = 3), as frequent, and spent less.
	b := v.GetValue()
	if b.GetRecencyDays() != 5 || b.GetFrequency() != 1 || b.GetRecencyScore() != 3 || b.GetFrequencyScore() != 1 || b.GetMonetaryScore() != 1 {
		t.Fatalf("GetCustomerValue(bob) = %v", b)
	}
	var ids []string
	token := ""
	for {
		page, err := e.api.ListCustomerValues(ctx, &analyticsv1.ListCustomerValuesRequest{PageSize: 1, PageToken: token})
		if err != nil {
			t.Fatalf("ListCustomerValues: %v", err)
		}
		for _, v := range page.GetValues() {
			ids = append(ids, v.GetCustomerId())
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(ids) != 2 || ids[0] == ids[1] {
		t.Fatalf("ListCustomerValues pages = %v, want ada and bob once each", ids)
	}
}

func TestNextBestOffers(t *testing.T) {
	t.Parallel()
	e := newInsightEnv(t)
	rep := e.as(t, e.tenant, auth.RoleSalesRep)
	// Ada has an open ticket: no upsell.
	got, err := e.api.ListNextBestOffers(rep, &analyticsv1.ListNextBestOffersRequest{CustomerId: e.ada.String()})
	if err != nil || len(got.GetOffers()) != 0 || got.GetSuppression() != analyticsv1.OfferSuppression_OFFER_SUPPRESSION_OPEN_COMPLAINT {
		t.Fatalf("ListNextBestOffers(ada) = %v, %v; want suppressed for the open complaint", got, err)
	}
	offered := func() []string {
		t.Helper()
		got, err := e.api.ListNextBestOffers(rep, &analyticsv1.ListNextBestOffersRequest{CustomerId: e.bob.String()})
		if err != nil {
			t.Fatalf("ListNextBestOffers(bob): %v", err)
		}
		var out []string
		for _, o := range got.GetOffers() {
			out = append(out, o.GetProductId())
		}
		return out
	}
	// Bob bought tea and cups; the guest who did also bought a pot.
	if got, want := offered(), []string{e.pot.String()}; !cmp.Equal(got, want) {
		t.Fatalf("offers for bob = %v, want the pot %v", got, want)
	}
	req := &analyticsv1.CreateOfferFeedbackRequest{CustomerId: e.bob.String(), RequestId: "call-1",
		Feedback: &analyticsv1.OfferFeedback{ProductId: e.pot.String(), Outcome: analyticsv1.OfferOutcome_OFFER_OUTCOME_REJECTED}}
	first, err := e.api.CreateOfferFeedback(rep, req)
	if err != nil {
		t.Fatalf("CreateOfferFeedback: %v", err)
	}
	again, err := e.api.CreateOfferFeedback(rep, req)
	if err != nil || again.GetFeedback().GetFeedbackId() != first.GetFeedback().GetFeedbackId() {
		t.Fatalf("CreateOfferFeedback(same request id) = %v, %v; want %v", again, err, first)
	}
	if got := offered(); len(got) != 0 {
		t.Fatalf("offers for bob after rejecting the pot = %v, want none", got)
	}
}

func TestApplyChurnRisk(t *testing.T) {
	t.Parallel()
	e := newInsightEnv(t)
	manager := e.as(t, e.tenant, auth.RoleSalesManager)
	if _, err := e.api.ApplyChurnRisk(e.as(t, e.tenant, auth.RoleAnalyst), &analyticsv1.ApplyChurnRiskRequest{CustomerId: e.ada.String()}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("ApplyChurnRisk(analyst) = %v, want PermissionDenied", err)
	}
	if _, err := e.api.ApplyChurnRisk(manager, &analyticsv1.ApplyChurnRiskRequest{CustomerId: e.cy.String()}); status.Code(err) != codes.NotFound {
		t.Fatalf("ApplyChurnRisk(another tenant's customer) = %v, want NotFound", err)
	}
	// Bob carries no risk: nothing is done.
	low, err := e.api.ApplyChurnRisk(manager, &analyticsv1.ApplyChurnRiskRequest{CustomerId: e.bob.String()})
	if err != nil || low.GetMovedToAtRisk() || low.GetFollowUpId() != "" {
		t.Fatalf("ApplyChurnRisk(bob) = %v, %v; want nothing done", low, err)
	}
	first, err := e.api.ApplyChurnRisk(manager, &analyticsv1.ApplyChurnRiskRequest{CustomerId: e.ada.String()})
	if err != nil || !first.GetMovedToAtRisk() || first.GetFollowUpId() == "" || first.GetChurnRisk().GetScore() != 70 {
		t.Fatalf("ApplyChurnRisk(ada) = %v, %v; want moved with a follow-up", first, err)
	}
	if want := "churn risk 70/100: open complaints (10), month-to-month contract (35), short tenure (25)"; e.peer.reasons[0] != want {
		t.Fatalf("at-risk reason = %q, want %q", e.peer.reasons[0], want)
	}
	// A retry (the read model has not seen the move yet) moves nothing and
	// finds the same follow-up.
	again, err := e.api.ApplyChurnRisk(manager, &analyticsv1.ApplyChurnRiskRequest{CustomerId: e.ada.String()})
	if err != nil || again.GetMovedToAtRisk() || again.GetFollowUpId() != first.GetFollowUpId() {
		t.Fatalf("ApplyChurnRisk(ada again) = %v, %v; want not moved, follow-up %s", again, err, first.GetFollowUpId())
	}
	e.peer.mu.Lock()
	e.peer.down = true
	e.peer.mu.Unlock()
	if _, err := e.api.ApplyChurnRisk(manager, &analyticsv1.ApplyChurnRiskRequest{CustomerId: e.ada.String()}); status.Code(err) != codes.Unavailable {
		t.Fatalf("ApplyChurnRisk(customer service down) = %v, want Unavailable", err)
	}
}
