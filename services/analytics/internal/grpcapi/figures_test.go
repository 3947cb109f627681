package grpcapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/rapportcrm/rapport/gen/go/rapport/analytics/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
	"github.com/rapportcrm/rapport/services/analytics/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/analytics/internal/postgres"
)

// figuresEnv serves the figures and behaviour APIs over a private read model.
type figuresEnv struct {
	*env
	figures   analyticsv1.FiguresServiceClient
	behaviour analyticsv1.BehaviourServiceClient
}

// now is the behaviour API's clock in these tests.
var now = t0.Add(24 * time.Hour)

func newFiguresEnv(t *testing.T) *figuresEnv {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	tokens := grpctest.NewTokens(t)
	store := postgres.New(db.App)
	conn := grpctest.Serve(t, tokens.Authenticator(nil), func(srv *grpcserver.Server) {
		analyticsv1.RegisterFiguresServiceServer(srv, grpcapi.NewFigures(analytics.NewFigures(store)))
		analyticsv1.RegisterBehaviourServiceServer(srv, grpcapi.NewBehaviour(analytics.NewBehaviour(store, func() time.Time { return now })))
	})
	return &figuresEnv{
		env:       &env{store: store, tokens: tokens, tenant: uuid.New(), other: uuid.New()},
		figures:   analyticsv1.NewFiguresServiceClient(conn),
		behaviour: analyticsv1.NewBehaviourServiceClient(conn),
	}
}

func wonDeal(owner string, minor int64, closed time.Time) analytics.Event {
	e := opp(uuid.New(), analytics.StageWon, "USD", minor)
	e.Opportunity.Sales = analytics.SalesFacts{OwnerID: owner, StageKind: analytics.StageKindWon, CreateTime: closed.Add(-48 * time.Hour), CloseTime: closed}
	return e
}

func TestQueryFigures(t *testing.T) {
	t.Parallel()
	e := newFiguresEnv(t)
	e.seed(t, wonDeal("rep1", 500, t0), wonDeal("rep1", 700, t0.Add(time.Hour)), wonDeal("rep2", 100, t0))
	e.seed(t, analytics.Event{TenantID: e.other, Source: "pipeline", Type: "opportunity.updated", Opportunity: wonDeal("rep1", 9, t0).Opportunity})
	start, end := timestamppb.New(t0.Add(-24*time.Hour)), timestamppb.New(t0.Add(24*time.Hour))
	won := &analyticsv1.QueryFiguresRequest{Metric: analyticsv1.Metric_METRIC_WON_AMOUNT,
		GroupBy: []analyticsv1.Dimension{analyticsv1.Dimension_DIMENSION_OWNER}, StartTime: start, EndTime: end}
	got, err := e.figures.QueryFigures(e.as(t, e.tenant, auth.RoleSalesManager), won)
	if err != nil {
		t.Fatalf("QueryFigures: %v", err)
	}
	if rows := got.GetRows(); len(rows) != 2 || rows[0].GetKeys()[0] != "rep1" || rows[0].GetValue() != 1200 || rows[0].GetCount() != 2 ||
		rows[0].GetCurrencyCode() != "USD" || rows[1].GetValue() != 100 {
		t.Fatalf("QueryFigures(won by owner) = %v; want rep1 1200 USD of 2, rep2 100", rows)
	}
	theirs, err := e.figures.QueryFigures(e.as(t, e.other, auth.RoleAdmin), won)
	if err != nil || len(theirs.GetRows()) != 1 || theirs.GetRows()[0].GetValue() != 9 {
		t.Fatalf("QueryFigures(other tenant) = %v, %v; want only their deal", theirs, err)
	}

	tests := []struct {
		name  string
		edit  func(r *analyticsv1.QueryFiguresRequest)
		field string
	}{
		{"no metric", func(r *analyticsv1.QueryFiguresRequest) { r.Metric = 0 }, "metric"},
		{"unknown metric", func(r *analyticsv1.QueryFiguresRequest) { r.Metric = 99 }, "metric"},
		{"unknown dimension", func(r *analyticsv1.QueryFiguresRequest) { r.GroupBy = []analyticsv1.Dimension{42} }, "group_by[0]"},
		{"dimension of another metric", func(r *analyticsv1.QueryFiguresRequest) {
			r.GroupBy = []analyticsv1.Dimension{analyticsv1.Dimension_DIMENSION_OWNER, analyticsv1.Dimension_DIMENSION_CHANNEL}
		}, "group_by[1]"},
		{"repeated dimension", func(r *analyticsv1.QueryFiguresRequest) {
			r.GroupBy = []analyticsv1.Dimension{analyticsv1.Dimension_DIMENSION_OWNER, analyticsv1.Dimension_DIMENSION_OWNER}
		}, "group_by[1]"},
		{"funnel without stage", func(r *analyticsv1.QueryFiguresRequest) {
			r.Metric = analyticsv1.Metric_METRIC_FUNNEL_CONVERSION
		}, "group_by"},
		{"no start", func(r *analyticsv1.QueryFiguresRequest) { r.StartTime = nil }, "start_time"},
		{"no end", func(r *analyticsv1.QueryFiguresRequest) { r.EndTime = nil }, "end_time"},
		{"reversed range", func(r *analyticsv1.QueryFiguresRequest) { r.StartTime, r.EndTime = r.EndTime, r.StartTime }, "end_time"},
		{"range beyond the limit", func(r *analyticsv1.QueryFiguresRequest) {
			r.StartTime = timestamppb.New(t0.AddDate(-6, 0, 0))
		}, "end_time"},
		{"percentile of a count", func(r *analyticsv1.QueryFiguresRequest) { r.Percentile = 90 }, "percentile"},
		{"percentile out of range", func(r *analyticsv1.QueryFiguresRequest) {
			r.Metric, r.GroupBy, r.Percentile = analyticsv1.Metric_METRIC_RESOLUTION_HOURS, nil, 100
		}, "percentile"},
		{"unknown filter field", func(r *analyticsv1.QueryFiguresRequest) { r.Filter = `office = "Central"` }, "filter"},
		{"malformed filter", func(r *analyticsv1.QueryFiguresRequest) { r.Filter = `owner_id = ` }, "filter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := &analyticsv1.QueryFiguresRequest{Metric: won.Metric, GroupBy: won.GroupBy, StartTime: start, EndTime: end}
			tt.edit(req)
			_, err := e.figures.QueryFigures(e.as(t, e.tenant, auth.RoleAnalyst), req)
			if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.field] {
				t.Fatalf("QueryFigures(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.field)
			}
		})
	}
}

func TestFiguresAccess(t *testing.T) {
	t.Parallel()
	e := newFiguresEnv(t)
	start, end := timestamppb.New(t0), timestamppb.New(t0.Add(time.Hour))
	sales := &analyticsv1.QueryFiguresRequest{Metric: analyticsv1.Metric_METRIC_WIN_RATE, StartTime: start, EndTime: end}
	service := &analyticsv1.QueryFiguresRequest{Metric: analyticsv1.Metric_METRIC_CSAT_AVERAGE, StartTime: start, EndTime: end}
	tests := []struct {
		name                string
		ctx                 context.Context
		wantSales, wantServ codes.Code
	}{
		{"no credentials", t.Context(), codes.Unauthenticated, codes.Unauthenticated},
		{"partner user", e.as(t, e.tenant, auth.RolePartnerUser), codes.PermissionDenied, codes.PermissionDenied},
		{"sales rep", e.as(t, e.tenant, auth.RoleSalesRep), codes.PermissionDenied, codes.PermissionDenied},
		{"support agent", e.as(t, e.tenant, auth.RoleSupportAgent), codes.PermissionDenied, codes.OK},
		{"sales manager", e.as(t, e.tenant, auth.RoleSalesManager), codes.OK, codes.OK},
		{"analyst", e.as(t, e.tenant, auth.RoleAnalyst), codes.OK, codes.OK},
		{"admin", e.as(t, e.tenant, auth.RoleAdmin), codes.OK, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := e.figures.QueryFigures(tt.ctx, sales); status.Code(err) != tt.wantSales {
				t.Errorf("QueryFigures(sales metric) = %v, want %v", err, tt.wantSales)
			}
			if _, err := e.figures.QueryFigures(tt.ctx, service); status.Code(err) != tt.wantServ {
				t.Errorf("QueryFigures(service metric) = %v, want %v", err, tt.wantServ)
			}
		})
	}
}

func pageView(anon, customer string) *analyticsv1.BehaviourEvent {
	return &analyticsv1.BehaviourEvent{EventId: uuid.NewString(), AnonymousId: anon, CustomerId: customer,
		Kind: analyticsv1.BehaviourKind_BEHAVIOUR_KIND_PAGE_VIEW, Target: "/pricing", OccurTime: timestamppb.New(t0)}
}

func TestBatchCreateBehaviourEvents(t *testing.T) {
	t.Parallel()
	e := newFiguresEnv(t)
	ada, stranger := uuid.New(), uuid.New()
	e.seed(t, customer(ada))
	e.seed(t, analytics.Event{TenantID: e.other, Source: "customer", Type: "customer.created", Customer: &analytics.Customer{ID: stranger}})
	analyst := e.as(t, e.tenant, auth.RoleAnalyst)
	batch := []*analyticsv1.BehaviourEvent{pageView("b1", ""), pageView("b1", ada.String()),
		{EventId: uuid.NewString(), AnonymousId: "b1", Kind: analyticsv1.BehaviourKind_BEHAVIOUR_KIND_DWELL, Target: "/pricing",
			Dwell: durationpb.New(90 * time.Second), OccurTime: timestamppb.New(t0.Add(time.Minute))}}
	res, err := e.behaviour.BatchCreateBehaviourEvents(analyst, &analyticsv1.BatchCreateBehaviourEventsRequest{Events: batch})
	if err != nil || res.GetCreatedCount() != 3 || res.GetDuplicateCount() != 0 {
		t.Fatalf("BatchCreateBehaviourEvents = %v, %v; want 3 created", res, err)
	}
	res, err = e.behaviour.BatchCreateBehaviourEvents(analyst, &analyticsv1.BatchCreateBehaviourEventsRequest{Events: batch})
	if err != nil || res.GetCreatedCount() != 0 || res.GetDuplicateCount() != 3 {
		t.Fatalf("BatchCreateBehaviourEvents(replay) = %v, %v; want 3 duplicates", res, err)
	}
	got, err := e.behaviour.GetCustomerBehaviour(e.as(t, e.tenant, auth.RoleSalesRep), &analyticsv1.GetCustomerBehaviourRequest{CustomerId: ada.String()})
	if b := got.GetBehaviour(); err != nil || b.GetPageViews() != 2 || b.GetTotalDwell().AsDuration() != 90*time.Second || b.GetDevices() != 1 {
		t.Fatalf("GetCustomerBehaviour = %v, %v; want 2 page views and 90 s stitched from b1", got, err)
	}
	if _, err := e.behaviour.GetCustomerBehaviour(e.as(t, e.other, auth.RoleAdmin), &analyticsv1.GetCustomerBehaviourRequest{CustomerId: ada.String()}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetCustomerBehaviour(other tenant) = %v, want NotFound", err)
	}

	tooMany := make([]*analyticsv1.BehaviourEvent, analytics.MaxBehaviourBatch+1)
	for i := range tooMany {
		tooMany[i] = pageView("b", "")
	}
	dup := pageView("b", "")
	tests := []struct {
		name   string
		events []*analyticsv1.BehaviourEvent
		field  string
	}{
		{"empty", nil, "events"},
		{"too many", tooMany, "events"},
		{"another tenant's customer", []*analyticsv1.BehaviourEvent{pageView("b", ""), pageView("b", stranger.String())}, "events[1].customer_id"},
		{"unknown customer", []*analyticsv1.BehaviourEvent{pageView("b", uuid.NewString())}, "events[0].customer_id"},
		{"malformed customer", []*analyticsv1.BehaviourEvent{pageView("b", "ada")}, "events[0].customer_id"},
		{"malformed event id", []*analyticsv1.BehaviourEvent{{EventId: "1", AnonymousId: "b", Kind: 1, Target: "/", OccurTime: timestamppb.New(t0)}}, "events[0].event_id"},
		{"repeated event id", []*analyticsv1.BehaviourEvent{dup, dup}, "events[1].event_id"},
		{"no anonymous id", []*analyticsv1.BehaviourEvent{pageView("", "")}, "events[0].anonymous_id"},
		{"no kind", []*analyticsv1.BehaviourEvent{{EventId: uuid.NewString(), AnonymousId: "b", Target: "/", OccurTime: timestamppb.New(t0)}}, "events[0].kind"},
		{"no target", []*analyticsv1.BehaviourEvent{{EventId: uuid.NewString(), AnonymousId: "b", Kind: 1, OccurTime: timestamppb.New(t0)}}, "events[0].target"},
		{"dwell without duration", []*analyticsv1.BehaviourEvent{{EventId: uuid.NewString(), AnonymousId: "b", Kind: 3, Target: "/", OccurTime: timestamppb.New(t0)}}, "events[0].dwell"},
		{"duration on a click", []*analyticsv1.BehaviourEvent{{EventId: uuid.NewString(), AnonymousId: "b", Kind: 2, Target: "x", Dwell: durationpb.New(time.Second), OccurTime: timestamppb.New(t0)}}, "events[0].dwell"},
		{"no time", []*analyticsv1.BehaviourEvent{{EventId: uuid.NewString(), AnonymousId: "b", Kind: 1, Target: "/"}}, "events[0].occur_time"},
		{"future", []*analyticsv1.BehaviourEvent{{EventId: uuid.NewString(), AnonymousId: "b", Kind: 1, Target: "/", OccurTime: timestamppb.New(now.Add(time.Hour))}}, "events[0].occur_time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.behaviour.BatchCreateBehaviourEvents(analyst, &analyticsv1.BatchCreateBehaviourEventsRequest{Events: tt.events})
			if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.field] {
				t.Fatalf("BatchCreateBehaviourEvents(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.field)
			}
		})
	}
}

func TestBehaviourAccess(t *testing.T) {
	t.Parallel()
	e := newFiguresEnv(t)
	ada := uuid.New()
	e.seed(t, customer(ada))
	tests := []struct {
		name                 string
		ctx                  context.Context
		wantIngest, wantRead codes.Code
	}{
		{"no credentials", t.Context(), codes.Unauthenticated, codes.Unauthenticated},
		{"partner user", e.as(t, e.tenant, auth.RolePartnerUser), codes.PermissionDenied, codes.PermissionDenied},
		{"sales rep", e.as(t, e.tenant, auth.RoleSalesRep), codes.PermissionDenied, codes.OK},
		{"support agent", e.as(t, e.tenant, auth.RoleSupportAgent), codes.PermissionDenied, codes.OK},
		{"analyst", e.as(t, e.tenant, auth.RoleAnalyst), codes.OK, codes.OK},
		{"admin", e.as(t, e.tenant, auth.RoleAdmin), codes.OK, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := &analyticsv1.BatchCreateBehaviourEventsRequest{Events: []*analyticsv1.BehaviourEvent{pageView("b", ada.String())}}
			if _, err := e.behaviour.BatchCreateBehaviourEvents(tt.ctx, req); status.Code(err) != tt.wantIngest {
				t.Errorf("BatchCreateBehaviourEvents = %v, want %v", err, tt.wantIngest)
			}
			if _, err := e.behaviour.GetCustomerBehaviour(tt.ctx, &analyticsv1.GetCustomerBehaviourRequest{CustomerId: ada.String()}); status.Code(err) != tt.wantRead {
				t.Errorf("GetCustomerBehaviour = %v, want %v", err, tt.wantRead)
			}
		})
	}
}
