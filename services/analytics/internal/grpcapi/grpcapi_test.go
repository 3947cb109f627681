package grpcapi_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/rapportcrm/rapport/gen/go/rapport/analytics/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
	"github.com/rapportcrm/rapport/services/analytics/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/analytics/internal/postgres"
)

// env is the analytics API on a real socket over a private read model.
type env struct {
	api           analyticsv1.AnalyticsServiceClient
	store         *postgres.Store
	tokens        *grpctest.Tokens
	tenant, other uuid.UUID
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	tokens := grpctest.NewTokens(t)
	store := postgres.New(db.App)
	conn := grpctest.Serve(t, tokens.Authenticator(nil), func(srv *grpcserver.Server) {
		analyticsv1.RegisterAnalyticsServiceServer(srv, grpcapi.NewAnalytics(analytics.New(store)))
	})
	return &env{api: analyticsv1.NewAnalyticsServiceClient(conn), store: store, tokens: tokens, tenant: uuid.New(), other: uuid.New()}
}

// as returns a context carrying a JWT for a new principal of tenant with roles.
func (e *env) as(t *testing.T, tenant uuid.UUID, roles ...auth.Role) context.Context {
	return e.tokens.Context(t.Context(), tenant.String(), roles...)
}

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// seed applies events through the consumer's write path.
func (e *env) seed(t *testing.T, events ...analytics.Event) {
	t.Helper()
	for i, ev := range events {
		ev.ID = uuid.Must(uuid.NewV7())
		ev.Cursor = strconv.Itoa(i + 1)
		if ev.TenantID == uuid.Nil {
			ev.TenantID = e.tenant
		}
		if ev.Time.IsZero() {
			ev.Time = t0.Add(time.Duration(i) * time.Minute)
		}
		if ok, err := e.store.Apply(t.Context(), ev); err != nil || !ok {
			t.Fatalf("Apply: %v, %v", ok, err)
		}
	}
}

func opp(customer uuid.UUID, stage analytics.Stage, currency string, minor int64) analytics.Event {
	return analytics.Event{Source: "pipeline", Type: "opportunity.created", Opportunity: &analytics.Opportunity{
		ID: uuid.New(), CustomerID: customer, Stage: stage, Amount: analytics.Money{CurrencyCode: currency, AmountMinor: minor}}}
}

func ticket(customer uuid.UUID, st analytics.TicketStatus) analytics.Event {
	return analytics.Event{Source: "ticket", Type: "ticket.created", Ticket: &analytics.Ticket{ID: uuid.New(), CustomerID: customer, Status: st}}
}

func customer(id uuid.UUID) analytics.Event {
	return analytics.Event{Source: "customer", Type: "customer.created", Customer: &analytics.Customer{ID: id}}
}

func TestGetCustomerSummary(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ada, quiet := uuid.New(), uuid.New()
	e.seed(t,
		customer(ada),
		opp(ada, analytics.StageProspecting, "USD", 1000),
		opp(ada, analytics.StageNegotiation, "USD", 2500),
		opp(ada, analytics.StageProposal, "EUR", 700),
		opp(ada, analytics.StageWon, "USD", 9999),
		ticket(ada, analytics.TicketStatusOpen),
		ticket(ada, analytics.TicketStatusResolved),
		customer(quiet),
	)
	got, err := e.api.GetCustomerSummary(e.as(t, e.tenant, auth.RoleAnalyst), &analyticsv1.GetCustomerSummaryRequest{CustomerId: ada.String()})
	if err != nil {
		t.Fatalf("GetCustomerSummary: %v", err)
	}
	want := &analyticsv1.CustomerSummary{
		CustomerId:             ada.String(),
		OpenOpportunityCount:   3,
		OpenOpportunityAmounts: []*typesv1.Money{{CurrencyCode: "EUR", AmountMinor: 700}, {CurrencyCode: "USD", AmountMinor: 3500}},
		OpenTicketCount:        1,
		UpdateTime:             timestamppb.New(t0.Add(6 * time.Minute)),
	}
	if diff := cmp.Diff(want, got.GetSummary(), protocmp.Transform()); diff != "" {
		t.Fatalf("GetCustomerSummary(ada) (-want +got):\n%s", diff)
	}
	zero, err := e.api.GetCustomerSummary(e.as(t, e.tenant, auth.RoleAdmin), &analyticsv1.GetCustomerSummaryRequest{CustomerId: quiet.String()})
	want = &analyticsv1.CustomerSummary{CustomerId: quiet.String(), UpdateTime: timestamppb.New(t0.Add(7 * time.Minute))}
	if err != nil || !cmp.Equal(want, zero.GetSummary(), protocmp.Transform()) {
		t.Fatalf("GetCustomerSummary(customer without data) = %v, %v; want %v", zero, err, want)
	}
	if _, err := e.api.GetCustomerSummary(e.as(t, e.tenant, auth.RoleAdmin), &analyticsv1.GetCustomerSummaryRequest{CustomerId: "42"}); status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)["customer_id"] {
		t.Fatalf("GetCustomerSummary(bad id) = %v, want InvalidArgument on customer_id", err)
	}
	if _, err := e.api.GetCustomerSummary(e.as(t, e.tenant, auth.RoleAdmin), &analyticsv1.GetCustomerSummaryRequest{CustomerId: uuid.NewString()}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetCustomerSummary(unknown) = %v, want NotFound", err)
	}
}

func TestAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ada := uuid.New()
	e.seed(t, customer(ada))
	req := &analyticsv1.GetCustomerSummaryRequest{CustomerId: ada.String()}
	tests := []struct {
		name                   string
		ctx                    context.Context
		wantSummary, wantFeeds codes.Code
	}{
		{"no credentials", t.Context(), codes.Unauthenticated, codes.Unauthenticated},
		{"unknown api key", grpctest.Bearer(t.Context(), "rk_nonsense"), codes.Unauthenticated, codes.Unauthenticated},
		{"partner user", e.as(t, e.tenant, auth.RolePartnerUser), codes.PermissionDenied, codes.PermissionDenied},
		{"no roles", e.as(t, e.tenant), codes.PermissionDenied, codes.PermissionDenied},
		{"other tenant", e.as(t, e.other, auth.RoleAdmin), codes.NotFound, codes.OK},
		{"admin", e.as(t, e.tenant, auth.RoleAdmin), codes.OK, codes.OK},
		{"analyst", e.as(t, e.tenant, auth.RoleAnalyst), codes.OK, codes.OK},
		{"sales manager", e.as(t, e.tenant, auth.RoleSalesManager), codes.OK, codes.OK},
		{"sales rep", e.as(t, e.tenant, auth.RoleSalesRep), codes.OK, codes.OK},
		{"support agent", e.as(t, e.tenant, auth.RoleSupportAgent), codes.OK, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.api.GetCustomerSummary(tt.ctx, req); status.Code(err) != tt.wantSummary {
				t.Fatalf("GetCustomerSummary(%s) = %v, want %v", tt.name, err, tt.wantSummary)
			}
			if _, err := e.api.ListFeeds(tt.ctx, &analyticsv1.ListFeedsRequest{}); status.Code(err) != tt.wantFeeds {
				t.Fatalf("ListFeeds(%s) = %v, want %v", tt.name, err, tt.wantFeeds)
			}
		})
	}
}

func TestListFeeds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ada := uuid.New()
	bad := analytics.Event{Source: "customer", Type: "customer.created", Quarantine: &analytics.QuarantinedEvent{Reason: "customer_id: invalid UUID length: 3"}}
	e.seed(t, opp(ada, analytics.StageProposal, "USD", 1), customer(ada), opp(ada, analytics.StageProposal, "USD", 2), bad)
	before := time.Now()
	got, err := e.api.ListFeeds(e.as(t, e.tenant, auth.RoleAnalyst), &analyticsv1.ListFeedsRequest{})
	if err != nil {
		t.Fatalf("ListFeeds: %v", err)
	}
	// Lag is the time since the feed's last event, measured at the answer.
	for _, f := range got.GetFeeds() {
		if min := before.Sub(f.GetLastEventTime().AsTime()); f.GetLag().AsDuration() < min {
			t.Errorf("ListFeeds: %s lag = %v, want at least %v", f.GetSource(), f.GetLag().AsDuration(), min)
		}
		f.Lag = nil
	}
	want := []*analyticsv1.Feed{
		{Source: "customer", Cursor: "4", LastEventTime: timestamppb.New(t0.Add(3 * time.Minute)), AppliedEvents: 2, QuarantinedEvents: 1},
		{Source: "pipeline", Cursor: "3", LastEventTime: timestamppb.New(t0.Add(2 * time.Minute)), AppliedEvents: 2},
	}
	if diff := cmp.Diff(want, got.GetFeeds(), protocmp.Transform()); diff != "" {
		t.Fatalf("ListFeeds (-want +got):\n%s", diff)
	}
	theirs, err := e.api.ListFeeds(e.as(t, e.other, auth.RoleAdmin), &analyticsv1.ListFeedsRequest{})
	if err != nil || len(theirs.GetFeeds()) != 0 {
		t.Fatalf("ListFeeds(other tenant) = %v, %v; want none", theirs, err)
	}
}
