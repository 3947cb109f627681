package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
	"github.com/rapportcrm/rapport/services/analytics/internal/insight"
	"github.com/rapportcrm/rapport/services/analytics/internal/postgres"
)

func (s *stream) fact(typ string, f analytics.Fact, at time.Duration) analytics.Event {
	e := s.next(typ, at)
	e.Fact = &f
	return e
}

func (s *stream) order(customer uuid.UUID, kind analytics.OrderKind, status analytics.OrderStatus, minor int64, at time.Duration, products ...uuid.UUID) (analytics.Event, uuid.UUID) {
	id := uuid.Must(uuid.NewV7())
	o := &analytics.Order{ID: id, CustomerID: customer, Number: "SO-" + id.String()[:8], Kind: kind, Status: status,
		Value: analytics.Money{CurrencyCode: "GBP", AmountMinor: minor}, OrderTime: t0.Add(at)}
	for _, p := range products {
		o.Products = append(o.Products, analytics.OrderLine{ProductID: p, Quantity: 1})
	}
	return s.fact("order.created", analytics.Fact{Order: o}, at), id
}

func ptr[T any](v T) *T { return &v }

// TestInsightFacts folds every kind of customer fact and order into the
// read model, replays them all (nothing changes), and reads the 360 view.
func TestInsightFacts(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	tenant, ada := uuid.New(), uuid.New()
	cust := &stream{tenant: tenant, source: "customer"}
	pipe := &stream{tenant: tenant, source: "pipeline"}
	tick := &stream{tenant: tenant, source: "ticket"}
	segA, segB, program, interaction, followUp := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
	now := time.Now().UTC().Truncate(time.Microsecond)
	sale, saleID := pipe.order(ada, analytics.OrderKindSale, analytics.OrderStatusPlaced, 5000, time.Hour, uuid.New())
	cancelled, cancelledID := pipe.order(ada, analytics.OrderKindSale, analytics.OrderStatusPlaced, 700, 2*time.Hour)
	cancel := cancelled
	cancel.ID, cancel.Type = uuid.Must(uuid.NewV7()), "order.cancelled"
	cancel.Fact = &analytics.Fact{Order: ptr(*cancelled.Fact.Order)}
	cancel.Fact.Order.Status = analytics.OrderStatusCancelled
	ret, _ := pipe.order(ada, analytics.OrderKindReturn, analytics.OrderStatusPlaced, -1200, 3*time.Hour)
	breached := tick.ticket(uuid.New(), ada, analytics.TicketStatusOnHold, 2*time.Minute)
	breached.Ticket.Service = analytics.ServiceFacts{HasSLA: true, ResolutionBreached: true}
	answered := tick.ticket(uuid.New(), ada, analytics.TicketStatusClosed, 90*time.Second)
	answer := func(kind analytics.SatisfactionKind, key string, score int16, ticket, customer uuid.UUID, at time.Duration) analytics.Event {
		e := tick.next("survey.answered", at)
		e.Satisfaction = &analytics.Satisfaction{Kind: kind, Key: key, Score: score, TicketID: ticket, CustomerID: customer, AnswerTime: t0.Add(at)}
		return e
	}
	events := []analytics.Event{
		cust.fact("customer.created", analytics.Fact{Profile: &analytics.CustomerProfile{ID: ada, Kind: 1, Stage: analytics.LifecycleCustomer,
			CountryCode: "GB", Contract: ptr("One year"), TenureMonths: ptr(7.0), MonthlyCharges: ptr(80.5), CreateTime: t0}}, 0),
		cust.fact("customer.value_tier.changed", analytics.Fact{Tier: &analytics.TierChange{CustomerID: ada, Tier: "B"}}, time.Minute),
		cust.fact("customer.segment.entered", analytics.Fact{Segment: &analytics.SegmentMove{CustomerID: ada, SegmentID: segA, EnterTime: t0}}, 2*time.Minute),
		cust.fact("customer.segment.entered", analytics.Fact{Segment: &analytics.SegmentMove{CustomerID: ada, SegmentID: segB, EnterTime: t0}}, 3*time.Minute),
		cust.fact("customer.segment.left", analytics.Fact{Segment: &analytics.SegmentMove{CustomerID: ada, SegmentID: segB, EnterTime: t0, Left: true}}, 4*time.Minute),
		cust.fact("customer.interaction.created", analytics.Fact{Interaction: &analytics.Interaction{ID: interaction, CustomerID: ada, Kind: 1,
			Direction: 1, Channel: "phone", OccurTime: now.Add(-time.Hour)}}, 5*time.Minute),
		cust.fact("customer.follow_up.created", analytics.Fact{FollowUp: &analytics.FollowUp{ID: followUp, CustomerID: ada,
			Status: analytics.FollowUpOpen, DueTime: t0.Add(48 * time.Hour)}}, 6*time.Minute),
		cust.fact("customer.loyalty.member_enrolled", analytics.Fact{Loyalty: &analytics.Loyalty{CustomerID: ada, ProgramID: program,
			Balance: ptr(int64(0)), TierID: ptr("bronze")}}, 7*time.Minute),
		cust.fact("customer.loyalty.points_posted", analytics.Fact{Loyalty: &analytics.Loyalty{CustomerID: ada, ProgramID: program, Balance: ptr(int64(150))}}, 8*time.Minute),
		cust.fact("customer.loyalty.tier_changed", analytics.Fact{Loyalty: &analytics.Loyalty{CustomerID: ada, ProgramID: program, TierID: ptr("silver")}}, 9*time.Minute),
		sale, cancelled, cancel, ret,
		tick.ticket(uuid.New(), ada, analytics.TicketStatusOpen, 0),
		tick.ticket(uuid.New(), ada, analytics.TicketStatusClosed, time.Minute),
		breached, answered,
		answer(analytics.SatisfactionCSAT, "csat-1", 2, breached.Ticket.ID, uuid.Nil, 10*time.Minute),
		answer(analytics.SatisfactionCSAT, "csat-2", 5, answered.Ticket.ID, uuid.Nil, 11*time.Minute),
		answer(analytics.SatisfactionCSAT, "csat-other", 1, uuid.New(), uuid.Nil, 12*time.Minute),
		answer(analytics.SatisfactionNPS, "nps-1/"+ada.String(), 9, uuid.Nil, ada, 13*time.Minute),
		answer(analytics.SatisfactionNPS, "nps-2/"+ada.String(), 4, uuid.Nil, ada, 14*time.Minute),
		answer(analytics.SatisfactionNPS, "nps-2/someone", 10, uuid.Nil, uuid.New(), 15*time.Minute),
		pipe.opportunity(uuid.New(), ada, analytics.StageWon, "GBP", 9000, 4*time.Hour),
		pipe.opportunity(uuid.New(), ada, analytics.StageProposal, "GBP", 300, 5*time.Hour),
	}
	apply(t, s, events...)
	want := insight.View{
		CustomerID: ada,
		Profile: &analytics.CustomerProfile{ID: ada, Kind: 1, Stage: analytics.LifecycleCustomer, CountryCode: "GB",
			Contract: ptr("One year"), TenureMonths: ptr(7.0), MonthlyCharges: ptr(80.5), CreateTime: t0},
		ValueTier:         "B",
		Segments:          []insight.Segment{{SegmentID: segA, EnterTime: t0}},
		OpenOpportunities: 1, OpenAmounts: []analytics.Money{{CurrencyCode: "GBP", AmountMinor: 300}},
		WonOpportunities: 1, WonAmounts: []analytics.Money{{CurrencyCode: "GBP", AmountMinor: 9000}},
		OpenTickets: 2, Tickets: 4, BreachedOpenTickets: 1,
		CSATResponses: 2, CSATAverage: 3.5, NPSResponses: 2, LatestNPS: ptr(int16(4)),
		Purchases: 1, Returns: 1, CancelledOrders: 1,
		Interactions90Days: 1,
		RecentInteractions: []analytics.Interaction{{ID: interaction, CustomerID: ada, Kind: 1, Direction: 1, Channel: "phone", OccurTime: now.Add(-time.Hour)}},
		OpenFollowUps:      1, NextFollowUpDue: t0.Add(48 * time.Hour),
		Loyalty: []insight.LoyaltyMembership{{ProgramID: program, Balance: 150, TierID: "silver"}},
	}
	check := func(when string) {
		t.Helper()
		got, err := s.View(t.Context(), tenant, ada, 5)
		if err != nil {
			t.Fatalf("View(%s): %v", when, err)
		}
		gotOrders := []uuid.UUID{}
		for _, o := range got.RecentOrders {
			gotOrders = append(gotOrders, o.ID)
		}
		if wantOrders := []uuid.UUID{ret.Fact.Order.ID, cancelledID, saleID}; !cmp.Equal(gotOrders, wantOrders) {
			t.Errorf("View(%s) recent orders = %v, want newest first %v", when, gotOrders, wantOrders)
		}
		got.RecentOrders = nil
		if diff := cmp.Diff(want, got, cmpopts.EquateApproxTime(time.Microsecond)); diff != "" {
			t.Fatalf("View(%s) (-want +got):\n%s", when, diff)
		}
	}
	check("first delivery")
	for _, e := range events {
		if ok, err := s.Apply(t.Context(), e); err != nil || ok {
			t.Fatalf("Apply(replayed %s) = %v, %v; want skipped", e.Type, ok, err)
		}
	}
	check("after a replay")
	if _, err := s.View(t.Context(), uuid.New(), ada, 5); !errors.Is(err, insight.ErrCustomerNotFound) {
		t.Fatalf("View(another tenant) = %v, want ErrCustomerNotFound", err)
	}
}

// TestQuarantine records malformed events once, moves the feed past them
// and lists them newest first, a page at a time, filtered by source.
func TestQuarantine(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	tenant := uuid.New()
	cust := &stream{tenant: tenant, source: "customer"}
	bad := cust.next("customer.created", 0)
	bad.Quarantine = &analytics.QuarantinedEvent{Reason: "customer_id: invalid UUID length: 3", PayloadType: "type.googleapis.com/rapport.customer.v1.Customer", Payload: []byte{1}}
	apply(t, s, bad)
	if ok, err := s.Apply(t.Context(), bad); err != nil || ok {
		t.Fatalf("Apply(replayed quarantined event) = %v, %v; want skipped", ok, err)
	}
	envelope := analytics.QuarantinedEvent{EventID: uuid.New(), TenantID: tenant, Source: "pipeline", Cursor: "7", Type: "order.created", Reason: "malformed envelope: no time"}
	for range 2 {
		if err := s.Quarantine(t.Context(), envelope); err != nil {
			t.Fatalf("Quarantine: %v", err)
		}
	}
	feed, err := s.Feed(t.Context(), tenant, "pipeline")
	if err != nil || feed.Cursor != "7" || feed.AppliedEvents != 0 {
		t.Fatalf("Feed(pipeline) = %+v, %v; want cursor 7 and nothing applied", feed, err)
	}
	feeds, err := s.Feeds(t.Context(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, f := range feeds {
		got[f.Source] = f.Quarantined
	}
	if want := map[string]int64{"customer": 1, "pipeline": 1}; !cmp.Equal(got, want) {
		t.Fatalf("quarantined per feed = %v, want %v", got, want)
	}
	page, next, err := s.Quarantined(t.Context(), tenant, "", "", 1)
	if err != nil || len(page) != 1 || page[0].EventID != envelope.EventID || next == "" {
		t.Fatalf("Quarantined(page 1) = %+v, %q, %v; want the envelope and a next page", page, next, err)
	}
	page, next, err = s.Quarantined(t.Context(), tenant, "", next, 1)
	if err != nil || len(page) != 1 || page[0].EventID != bad.ID || page[0].Reason != bad.Quarantine.Reason || next != "" {
		t.Fatalf("Quarantined(page 2) = %+v, %q, %v; want the bad payload, last", page, next, err)
	}
	page, _, err = s.Quarantined(t.Context(), tenant, `source = "customer"`, "", 10)
	if err != nil || len(page) != 1 || page[0].Source != "customer" {
		t.Fatalf("Quarantined(source = customer) = %+v, %v", page, err)
	}
	if page, _, err = s.Quarantined(t.Context(), uuid.New(), "", "", 10); err != nil || len(page) != 0 {
		t.Fatalf("Quarantined(another tenant) = %+v, %v; want none", page, err)
	}
}

// TestOffersAndFeedback draws candidates from items bought together and
// from segment peers, and records feedback once per request id, with its
// event and audit row.
func TestOffersAndFeedback(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	tenant, ada, bob, cy := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	pipe := &stream{tenant: tenant, source: "pipeline"}
	cust := &stream{tenant: tenant, source: "customer"}
	tea, cup, pot, jam := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	seg := uuid.New()
	o1, _ := pipe.order(ada, analytics.OrderKindSale, analytics.OrderStatusPlaced, 100, 0, tea)
	o2, _ := pipe.order(bob, analytics.OrderKindSale, analytics.OrderStatusPlaced, 100, time.Hour, tea, cup)
	o3, _ := pipe.order(uuid.Nil, analytics.OrderKindSale, analytics.OrderStatusPlaced, 100, 2*time.Hour, tea, cup, pot)
	o4, _ := pipe.order(cy, analytics.OrderKindSale, analytics.OrderStatusPlaced, 100, 3*time.Hour, jam)
	apply(t, s, o1, o2, o3, o4,
		cust.fact("customer.segment.entered", analytics.Fact{Segment: &analytics.SegmentMove{CustomerID: ada, SegmentID: seg, EnterTime: t0}}, 0),
		cust.fact("customer.segment.entered", analytics.Fact{Segment: &analytics.SegmentMove{CustomerID: cy, SegmentID: seg, EnterTime: t0}}, 0))
	caller := auth.Caller{TenantID: tenant.String(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleSalesRep}}
	first, created, err := s.RecordFeedback(t.Context(), caller, insight.Feedback{ID: uuid.New(), CustomerID: bob, ProductID: pot,
		Outcome: insight.OutcomeRejected, PrincipalID: caller.PrincipalID}, "req-1")
	if err != nil || !created {
		t.Fatalf("RecordFeedback = %v, %v", created, err)
	}
	again, created, err := s.RecordFeedback(t.Context(), caller, insight.Feedback{ID: uuid.New(), CustomerID: bob, ProductID: pot,
		Outcome: insight.OutcomeAccepted, PrincipalID: caller.PrincipalID}, "req-1")
	if err != nil || created || again != first {
		t.Fatalf("RecordFeedback(same request id) = %+v, %v, %v; want the first %+v", again, created, err, first)
	}
	var events, audits int
	if err := db.Owner.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM outbox WHERE tenant_id = $1 AND type = $2),
		(SELECT count(*) FROM audit_log WHERE tenant_id = $1)`, tenant, postgres.FeedbackRecorded).Scan(&events, &audits); err != nil {
		t.Fatal(err)
	}
	if events != 1 || audits != 1 {
		t.Fatalf("feedback wrote %d events and %d audit rows, want 1 and 1", events, audits)
	}
	f, err := s.OfferFacts(t.Context(), tenant, ada, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := []insight.OfferCandidate{
		{ProductID: cup, TogetherOrders: 2, BasketOrders: 2, SegmentSize: 1},
		{ProductID: pot, TogetherOrders: 1, BasketOrders: 2, SegmentSize: 1, Rejected: 1},
		{ProductID: jam, BasketOrders: 2, SegmentBuyers: 1, SegmentSize: 1},
	}
	sortCandidates := cmpopts.SortSlices(func(a, b insight.OfferCandidate) bool { return a.ProductID.String() < b.ProductID.String() })
	if diff := cmp.Diff(want, f.Candidates, sortCandidates); diff != "" {
		t.Fatalf("OfferFacts candidates (-want +got):\n%s", diff)
	}
	if f.OpenTickets != 0 || len(f.Rejected) != 0 {
		t.Fatalf("OfferFacts = %d open tickets, rejected %v; want none (the rejection was bob's)", f.OpenTickets, f.Rejected)
	}
	f, err = s.OfferFacts(t.Context(), tenant, bob, time.Now())
	if err != nil || !cmp.Equal(f.Rejected, []uuid.UUID{pot}) {
		t.Fatalf("OfferFacts(bob).Rejected = %v, %v; want [pot]", f.Rejected, err)
	}
}

// TestResetTenant empties one tenant's read model and leaves another's.
func TestResetTenant(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	mine, theirs, ada := uuid.New(), uuid.New(), uuid.New()
	for _, tenant := range []uuid.UUID{mine, theirs} {
		pipe := &stream{tenant: tenant, source: "pipeline"}
		o, _ := pipe.order(ada, analytics.OrderKindSale, analytics.OrderStatusPlaced, 100, 0, uuid.New())
		apply(t, s, o, pipe.customer(ada, false, time.Minute))
	}
	if err := postgres.ResetTenant(t.Context(), db.Owner, mine); err != nil {
		t.Fatal(err)
	}
	for tenant, want := range map[uuid.UUID]bool{mine: false, theirs: true} {
		known, err := s.Known(t.Context(), tenant, ada)
		feeds, ferr := s.Feeds(t.Context(), tenant)
		if err != nil || ferr != nil || known != want || (len(feeds) > 0) != want {
			t.Fatalf("after ResetTenant(mine): tenant %s known = %v, feeds %v (%v, %v); want %v", tenant, known, feeds, err, ferr, want)
		}
	}
}

// TestValueFiguresReusedForAMinute: the tenant-wide figures a value query
// computes serve the same window for ValueTTL, then are computed afresh.
func TestValueFiguresReusedForAMinute(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	tenant, ada := uuid.New(), uuid.New()
	pipe := &stream{tenant: tenant, source: "pipeline"}
	first, _ := pipe.order(ada, analytics.OrderKindSale, analytics.OrderStatusPlaced, 100, 0)
	apply(t, s, first)
	clock := t0.Add(time.Hour)
	svc := insight.New(s, nil, func() time.Time { return clock })
	caller := auth.Caller{TenantID: tenant.String(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAnalyst}}
	end := t0.Add(24 * time.Hour)
	frequency := func() int64 {
		t.Helper()
		v, err := svc.CustomerValue(t.Context(), caller, ada, time.Time{}, end, "GBP")
		if err != nil {
			t.Fatal(err)
		}
		return v.Frequency
	}
	if got := frequency(); got != 1 {
		t.Fatalf("frequency = %d, want 1", got)
	}
	second, _ := pipe.order(ada, analytics.OrderKindSale, analytics.OrderStatusPlaced, 100, time.Minute)
	apply(t, s, second)
	if got := frequency(); got != 1 {
		t.Fatalf("frequency within the minute = %d, want the reused 1", got)
	}
	clock = clock.Add(insight.ValueTTL)
	if got := frequency(); got != 2 {
		t.Fatalf("frequency a minute later = %d, want 2", got)
	}
}
