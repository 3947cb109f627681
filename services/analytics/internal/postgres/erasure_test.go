package postgres_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

// TestErasure erases one of two customers and checks that its personal
// rows are gone, its anonymous aggregates stay, the other customer and
// the other tenant are untouched, and a replayed erasure changes nothing.
func TestErasure(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	tenant, other := uuid.New(), uuid.New()
	ada, bob := uuid.New(), uuid.New()
	h := time.Hour
	seed := func(tenant, c uuid.UUID) {
		cust := &stream{tenant: tenant, source: "customer"}
		pipe := &stream{tenant: tenant, source: "pipeline"}
		tick := &stream{tenant: tenant, source: "ticket"}
		order, _ := pipe.order(c, analytics.OrderKindSale, analytics.OrderStatusPlaced, 1500, 2*h, uuid.New())
		npsEvent := tick.next("nps_survey.answered", 3*h)
		npsEvent.Satisfaction = &analytics.Satisfaction{Kind: analytics.SatisfactionNPS, Key: "s/" + c.String(), Score: 9, CustomerID: c, AnswerTime: t0}
		bad := cust.next("customer.updated", 4*h)
		bad.Quarantine = &analytics.QuarantinedEvent{Reason: "lifecycle_stage: unknown", PayloadType: "type.googleapis.com/rapport.customer.v1.Customer",
			Payload: append([]byte{0x0a, 0x24}, c.String()...)}
		apply(t, s,
			cust.customer(c, false, 0),
			cust.fact("customer.created", analytics.Fact{Profile: &analytics.CustomerProfile{ID: c, CountryCode: "GB", Contract: ptr("Two year"),
				TenureMonths: ptr(12.0), CreateTime: t0}}, 0),
			cust.fact("customer.value_tier.changed", analytics.Fact{Tier: &analytics.TierChange{CustomerID: c, Tier: "A"}}, h),
			cust.fact("customer.segment.entered", analytics.Fact{Segment: &analytics.SegmentMove{CustomerID: c, SegmentID: uuid.New(), EnterTime: t0}}, h),
			cust.fact("customer.interaction.created", analytics.Fact{Interaction: &analytics.Interaction{ID: uuid.New(), CustomerID: c, Kind: 1,
				Channel: "phone", OccurTime: t0}}, h),
			cust.fact("customer.follow_up.created", analytics.Fact{FollowUp: &analytics.FollowUp{ID: uuid.New(), CustomerID: c, Status: analytics.FollowUpOpen}}, h),
			cust.fact("customer.loyalty.member_enrolled", analytics.Fact{Loyalty: &analytics.Loyalty{CustomerID: c, ProgramID: uuid.New(), Balance: ptr(int64(10))}}, h),
			order, npsEvent, bad,
			tick.ticket(uuid.New(), c, analytics.TicketStatusOpen, 5*h),
		)
		anon := "device-" + c.String()
		if _, err := s.IngestBehaviour(t.Context(), tenant, "tracker", []analytics.BehaviourEvent{
			visit(anon, uuid.Nil, analytics.BehaviourPageView, "/pricing", 0),
			visit(anon, c, analytics.BehaviourPageView, "/account", time.Minute),
		}); err != nil {
			t.Fatalf("IngestBehaviour: %v", err)
		}
	}
	seed(tenant, ada)
	seed(tenant, bob)
	seed(other, ada) // the same id in another tenant is another customer

	// counts reads, as the owner, how many rows of each table hold c.
	tables := []string{"customer_profile", "segment_membership", "interaction_fact", "follow_up_fact", "loyalty_fact",
		"behaviour_event", "behaviour_identity", "quarantined_events", "order_fact", "order_line_fact", "satisfaction_response", "ticket_state"}
	counts := func(tenant, c uuid.UUID) map[string]int {
		t.Helper()
		out := map[string]int{}
		for _, table := range tables {
			where := "customer_id = $2"
			switch table {
			case "behaviour_event":
				where = "anonymous_id = 'device-' || $2::text"
			case "quarantined_events":
				where = "position(convert_to($2::text, 'UTF8') IN payload) > 0"
			case "order_line_fact":
				where = "order_id IN (SELECT order_id FROM order_fact WHERE tenant_id = $1 AND customer_id = $2)"
			}
			var n int
			if err := db.Owner.QueryRow(t.Context(), "SELECT count(*) FROM "+table+" WHERE tenant_id = $1 AND "+where, tenant, c).Scan(&n); err != nil {
				t.Fatalf("count %s: %v", table, err)
			}
			out[table] = n
		}
		return out
	}
	before := counts(tenant, bob)
	for table, n := range before {
		if n == 0 {
			t.Fatalf("seeded no %s row", table)
		}
	}

	cust := &stream{tenant: tenant, source: "customer", n: 100}
	erase := cust.next("customer.erased", 6*h)
	erase.Erasure = &analytics.Erasure{CustomerID: ada}
	apply(t, s, erase)
	// A replay after a rebuild is another apply of the same erasure.
	again := cust.next("customer.erased", 7*h)
	again.Erasure = erase.Erasure
	apply(t, s, again)

	want := map[string]int{"order_fact": 1, "order_line_fact": 1, "satisfaction_response": 1, "ticket_state": 1}
	got := counts(tenant, ada)
	for _, table := range tables {
		if got[table] != want[table] {
			t.Errorf("after erasure, %s rows of the erased customer = %d, want %d", table, got[table], want[table])
		}
	}
	if diff := cmp.Diff(before, counts(tenant, bob)); diff != "" {
		t.Errorf("the other customer's rows changed (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(before, counts(other, ada)); diff != "" {
		t.Errorf("the other tenant's customer changed (-before +after):\n%s", diff)
	}
	// Behaviour naming the erased customer is refused from now on.
	if _, err := s.IngestBehaviour(t.Context(), tenant, "tracker", []analytics.BehaviourEvent{
		visit("new-device", ada, analytics.BehaviourPageView, "/", 8*h),
	}); err == nil {
		t.Errorf("IngestBehaviour(erased customer) succeeded; want it refused")
	}
	// The anonymous aggregates stay: both customers' orders still count.
	known, err := s.Known(t.Context(), tenant, ada)
	if err != nil || !known {
		t.Errorf("Known(erased customer) = %v, %v; want its orders still counted", known, err)
	}
}
