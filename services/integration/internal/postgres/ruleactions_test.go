package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/services/integration/internal/delivery"
	"github.com/rapportcrm/rapport/services/integration/internal/rule"
	"github.com/rapportcrm/rapport/services/integration/internal/ruleaction"
)

// peer stands in for the customer service's side of the wire: it keeps
// what it was asked, applies a request id once, and fails as told.
type peer struct {
	mu       sync.Mutex
	calls    []string
	causes   []ruleaction.Cause
	created  map[string]string
	fail     []error
	resource func(f ruleaction.FollowUp) string
}

func (p *peer) CreateFollowUp(_ context.Context, _ uuid.UUID, cause ruleaction.Cause, f ruleaction.FollowUp, requestID string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, requestID+" "+f.Title)
	p.causes = append(p.causes, cause)
	if len(p.fail) > 0 {
		err := p.fail[0]
		p.fail = p.fail[1:]
		if err != nil {
			return "", err
		}
	}
	if r, ok := p.created[requestID]; ok {
		return r, nil
	}
	p.created[requestID] = p.resource(f)
	return p.created[requestID], nil
}

// changed records a state-setting call; failing as told first.
func (p *peer) changed(what string, cause ruleaction.Cause, resource string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, what)
	p.causes = append(p.causes, cause)
	if len(p.fail) > 0 {
		err := p.fail[0]
		p.fail = p.fail[1:]
		if err != nil {
			return "", err
		}
	}
	return resource, nil
}

func (p *peer) AssignOwner(_ context.Context, _ uuid.UUID, cause ruleaction.Cause, a ruleaction.Assignment) (string, error) {
	if a.TicketID != uuid.Nil {
		return p.changed(fmt.Sprintf("assign tickets/%s to %s in queues/%s", a.TicketID, a.OwnerID, a.QueueID), cause, "tickets/"+a.TicketID.String())
	}
	return p.changed(fmt.Sprintf("owner of customers/%s is %s", a.CustomerID, a.OwnerID), cause, "customers/"+a.CustomerID.String())
}

func (p *peer) MoveStage(_ context.Context, _ uuid.UUID, cause ruleaction.Cause, m ruleaction.StageMove) (string, error) {
	return p.changed(fmt.Sprintf("customers/%s to stage %d (%s)", m.CustomerID, m.Stage, m.Reason), cause, "customers/"+m.CustomerID.String())
}

func (p *peer) SetField(_ context.Context, _ uuid.UUID, cause ruleaction.Cause, f ruleaction.FieldSet) (string, error) {
	return p.changed(fmt.Sprintf("customers/%s %s = %s", f.CustomerID, f.Key, f.Value), cause, "customers/"+f.CustomerID.String())
}

func (p *peer) AddToCampaign(_ context.Context, _ uuid.UUID, cause ruleaction.Cause, c ruleaction.CampaignAdd) (string, error) {
	return p.changed(fmt.Sprintf("customers/%s into campaigns/%s", c.CustomerID, c.CampaignID), cause, "campaigns/"+c.CampaignID.String())
}

func (f *fixture) outcome(t *testing.T, ruleID uuid.UUID, e delivery.Event) rule.Execution {
	t.Helper()
	var x rule.Execution
	if err := f.db.Owner.QueryRow(t.Context(), `SELECT outcome, detail FROM rule_executions WHERE rule_id = $1 AND event_id = $2`,
		ruleID, e.ID).Scan(&x.Outcome, &x.Detail); err != nil {
		t.Fatalf("execution of %s: %v", e.Type, err)
	}
	return x
}

// due makes every waiting action due now, as time passing would.
func (f *fixture) due(t *testing.T) {
	t.Helper()
	if _, err := f.db.Owner.Exec(t.Context(), `UPDATE rule_actions SET next_time = now() WHERE state = 1`); err != nil {
		t.Fatal(err)
	}
}

func TestRuleActions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	rules := rule.New(f.store.Rules(), nil, false)
	create := func(name string, types []string, a rule.Action) rule.Rule {
		r, err := rules.Create(t.Context(), f.admin, rule.Rule{DisplayName: name, EventTypes: types, Enabled: true, Actions: []rule.Action{a}}, "")
		if err != nil {
			t.Fatalf("Create(%s) = %v", name, err)
		}
		return r
	}
	welcome := create("welcome", []string{"customer.created"},
		rule.Action{Kind: rule.CreateFollowUp, TitleTemplate: "Call {{event.resource}}", DueDays: 3, AssigneePrincipalID: "rep-1"})
	// A rule on what the first one causes: a chain, allowed one step.
	chained := create("chained", []string{"customer.follow_up.created"},
		rule.Action{Kind: rule.SendNotification, RecipientPrincipalID: "rep-1", TitleTemplate: "{{event.resource}}"})
	// An action that changes the customer its event is about, on that
	// customer's updates: it would loop without the guard.
	touch := create("touch", []string{"customer.updated"}, rule.Action{Kind: rule.CreateFollowUp, TitleTemplate: "Check"})

	p := &peer{created: map[string]string{}, fail: []error{errors.New("unavailable")},
		resource: func(fu ruleaction.FollowUp) string {
			if fu.Title == "Check" {
				return "customers/" + fu.CustomerID.String()
			}
			return "followUps/" + uuid.NewString()
		}}
	cfg := ruleaction.Config{Lease: time.Minute, MinBackoff: time.Hour, MaxBackoff: time.Hour, MaxAttempts: 5, Batch: 10, Timeout: 5 * time.Second}
	w := ruleaction.New(f.store, p, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	run := func() {
		t.Helper()
		if err := w.RunOnce(t.Context()); err != nil {
			t.Fatalf("RunOnce = %v", err)
		}
	}

	customer := uuid.New()
	created := f.event("customer.created", "customers/"+customer.String())
	created.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	f.ingest(t, created)
	if x := f.outcome(t, welcome.ID, created); x.Outcome != rule.Pending {
		t.Fatalf("execution before the worker = %+v, want pending", x)
	}
	run() // the first call fails transiently: retried later, not before
	run()
	if len(p.calls) != 1 || f.outcome(t, welcome.ID, created).Outcome != rule.Pending {
		t.Fatalf("calls = %v, outcome %v; want one failed call, still pending", p.calls, f.outcome(t, welcome.ID, created))
	}
	f.due(t)
	run()
	if len(p.calls) != 2 || p.calls[0] != p.calls[1] || p.calls[0] != rule.RequestID(welcome.ID, created.ID, 0)+" Call customers/"+customer.String() {
		t.Fatalf("calls = %v, want the same request twice", p.calls)
	}
	if c := p.causes[1]; c.TraceParent != created.TraceParent || c.ActionID == uuid.Nil {
		t.Fatalf("cause = %+v, want the action and the trace of the event acted on", c)
	}
	if x := f.outcome(t, welcome.ID, created); x.Outcome != rule.Succeeded {
		t.Fatalf("execution = %+v, want succeeded", x)
	}
	// A lease that lapsed after the call landed (a crash before the
	// outcome was saved) repeats the request, which the peer applies once.
	if _, err := f.db.Owner.Exec(t.Context(), `UPDATE rule_actions SET state = 1, next_time = now()`); err != nil {
		t.Fatal(err)
	}
	run()
	if len(p.created) != 1 {
		t.Fatalf("follow-ups = %v, want one whatever the retries", p.created)
	}

	// The follow-up's own event is one step down the chain: other rules run.
	var followUp string
	for _, r := range p.created {
		followUp = r
	}
	caused := f.event("customer.follow_up.created", followUp)
	caused.CausationID = p.causes[len(p.causes)-1].ActionID.String()
	f.ingest(t, caused)
	if x := f.outcome(t, chained.ID, caused); x.Outcome != rule.Succeeded {
		t.Fatalf("chained execution = %+v, want succeeded", x)
	}

	// An update the touch rule caused does not run the touch rule again.
	updated := f.event("customer.updated", "customers/"+customer.String())
	f.ingest(t, updated)
	run()
	if x := f.outcome(t, touch.ID, updated); x.Outcome != rule.Succeeded {
		t.Fatalf("touch execution = %+v, want succeeded", x)
	}
	again := f.event("customer.updated", "customers/"+customer.String())
	again.CausationID = p.causes[len(p.causes)-1].ActionID.String()
	f.ingest(t, again)
	if x := f.outcome(t, touch.ID, again); x.Outcome != rule.LoopGuarded {
		t.Fatalf("touch execution on its own update = %+v, want loop guarded", x)
	}
	// A person's later update of the same customer is not the rule's doing.
	later := f.event("customer.updated", "customers/"+customer.String())
	f.ingest(t, later)
	if x := f.outcome(t, touch.ID, later); x.Outcome != rule.Pending {
		t.Fatalf("touch execution on a person's update = %+v, want it to act", x)
	}
	run()

	// A permanent failure settles the execution FAILED with the detail.
	p.fail = []error{fmt.Errorf("%w: customer not found", ruleaction.ErrPermanent)}
	gone := f.event("customer.created", "customers/"+uuid.NewString())
	f.ingest(t, gone)
	run()
	if x := f.outcome(t, welcome.ID, gone); x.Outcome != rule.Failed || x.Detail == "" {
		t.Fatalf("execution = %+v, want failed with a detail", x)
	}
	// An event that is not about a customer fails at once, calling nothing.
	calls := len(p.calls)
	odd := f.event("customer.created", "leads/1")
	f.ingest(t, odd)
	run()
	if x := f.outcome(t, welcome.ID, odd); x.Outcome != rule.Failed || len(p.calls) != calls {
		t.Fatalf("execution = %+v after %d calls, want failed without a call", x, len(p.calls)-calls)
	}

	// Another tenant's claim sees none of this tenant's due actions.
	f.ingest(t, f.event("customer.created", "customers/"+uuid.NewString()))
	jobs, err := f.store.ClaimActions(t.Context(), uuid.New(), 10, time.Minute)
	if err != nil || len(jobs) != 0 {
		t.Fatalf("ClaimActions(another tenant) = %v, %v; want none", jobs, err)
	}
	if jobs, err := f.store.ClaimActions(t.Context(), f.tenant, 10, time.Minute); err != nil || len(jobs) != 1 {
		t.Fatalf("ClaimActions(the tenant) = %v, %v; want the new action", jobs, err)
	}
}

// TestChangeActions runs each action that changes another service's
// record through the worker: what it asks is rendered from the event when
// the execution is recorded, a ticket rule assigns the ticket, and an event
// about the wrong kind of resource fails without a call.
func TestChangeActions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	rules := rule.New(f.store.Rules(), nil, false)
	campaign, queue := uuid.New(), uuid.New()
	for _, r := range []rule.Rule{
		{DisplayName: "vip", EventTypes: []string{"customer.created"}, Actions: []rule.Action{
			{Kind: rule.AssignOwner, OwnerPrincipalID: "rep-7"},
			{Kind: rule.MoveStage, LifecycleStage: 2},
			{Kind: rule.SetField, AttributeKey: "source_event", ValueTemplate: "{{event.type}} by {{event.principal_id}}"},
			{Kind: rule.AddToCampaign, CampaignID: campaign},
		}},
		{DisplayName: "triage", EventTypes: []string{"ticket.created"}, Actions: []rule.Action{
			{Kind: rule.AssignOwner, QueueID: queue, OwnerPrincipalID: "agent-2"},
		}},
	} {
		r.Enabled = true
		if _, err := rules.Create(t.Context(), f.admin, r, ""); err != nil {
			t.Fatalf("Create(%s) = %v", r.DisplayName, err)
		}
	}
	p := &peer{created: map[string]string{}}
	w := ruleaction.New(f.store, p, ruleaction.Config{Lease: time.Minute, MinBackoff: time.Hour, MaxBackoff: time.Hour, MaxAttempts: 5,
		Batch: 10, Timeout: 5 * time.Second}, slog.New(slog.DiscardHandler))
	customer, ticket := uuid.New(), uuid.New()
	f.ingest(t, f.event("customer.created", "customers/"+customer.String()))
	f.ingest(t, f.event("ticket.created", "tickets/"+ticket.String()))
	odd := f.event("customer.created", "leads/9")
	f.ingest(t, odd)
	if err := w.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	slices.Sort(p.calls)
	want := []string{
		fmt.Sprintf("assign tickets/%s to agent-2 in queues/%s", ticket, queue),
		fmt.Sprintf("customers/%s %s = customer.created by p1", customer, "source_event"),
		fmt.Sprintf("customers/%s into campaigns/%s", customer, campaign),
		fmt.Sprintf("customers/%s to stage 2 (automation rule vip)", customer),
		fmt.Sprintf("owner of customers/%s is rep-7", customer),
	}
	slices.Sort(want)
	if !slices.Equal(p.calls, want) {
		t.Fatalf("calls =\n%s\nwant\n%s", strings.Join(p.calls, "\n"), strings.Join(want, "\n"))
	}
	var done, failed int
	if err := f.db.Owner.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE state = 2), count(*) FILTER (WHERE state = 3) FROM rule_actions`).Scan(&done, &failed); err != nil {
		t.Fatal(err)
	}
	if done != 5 || failed != 0 {
		t.Fatalf("actions done %d, failed %d; want 5 done", done, failed)
	}
	var vip uuid.UUID
	if err := f.db.Owner.QueryRow(t.Context(), `SELECT rule_id FROM rules WHERE display_name = 'vip'`).Scan(&vip); err != nil {
		t.Fatal(err)
	}
	if x := f.outcome(t, vip, odd); x.Outcome != rule.Failed || !strings.Contains(x.Detail, "not a customer") {
		t.Fatalf("execution on a lead = %+v, want failed: not a customer", x)
	}
}
