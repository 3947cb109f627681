package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/integration/internal/postgres"
	"github.com/rapportcrm/rapport/services/integration/internal/rule"
	"github.com/rapportcrm/rapport/services/integration/internal/scheduler"
)

// selection stands in for the customer service's ListCustomers: it pages
// through the resources the test says match, two a page, and remembers the
// page tokens it was asked for.
type selection struct {
	mu        sync.Mutex
	resources []rule.Resource
	asked     []string
	// down makes every call fail as an unreachable service's would.
	down bool
}

func (s *selection) set(rs ...rule.Resource) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resources = rs
}

func (s *selection) Select(_ context.Context, _ uuid.UUID, c rule.Collection, _ string, pageToken string) (rule.SelectionPage, error) {
	if c != rule.Customers {
		return rule.SelectionPage{}, fmt.Errorf("collection %d: %w", c, rule.ErrSelectorUnavailable)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return rule.SelectionPage{}, fmt.Errorf("list customers: %w", rule.ErrSelectorUnavailable)
	}
	s.asked = append(s.asked, pageToken)
	start := 0
	if pageToken != "" {
		start = int(pageToken[0] - '0')
	}
	end := min(start+2, len(s.resources))
	page := rule.SelectionPage{Resources: append([]rule.Resource(nil), s.resources[start:end]...)}
	if end < len(s.resources) {
		page.NextPageToken = string(rune('0' + end))
	}
	return page, nil
}

type rig struct {
	db     *pgtest.DB
	store  *postgres.Rules
	sel    *selection
	svc    *rule.Service
	admin  auth.Caller
	tenant uuid.UUID
	ruleID uuid.UUID
}

func newRig(t *testing.T) *rig {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	r := &rig{db: db, store: postgres.New(db.App).Rules(), sel: &selection{}, tenant: uuid.New()}
	r.svc = rule.New(r.store, r.sel, false)
	r.admin = auth.Caller{TenantID: r.tenant.String(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAdmin}}
	saved, err := r.svc.Create(t.Context(), r.admin, rule.Rule{
		DisplayName: "No interaction for 90 days: tell the owner", Enabled: true,
		Schedule:  &rule.Schedule{Interval: 24 * time.Hour},
		Selection: &rule.Selection{Collection: rule.Customers, InactiveFor: 90 * 24 * time.Hour},
		Actions: []rule.Action{{Kind: rule.SendNotification, RecipientPrincipalID: "owner-1",
			TitleTemplate: "No contact with {{event.resource}} for 90 days"}},
	}, "")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	r.ruleID = saved.ID
	return r
}

func (r *rig) scheduler() *scheduler.Scheduler {
	return scheduler.New(r.store, r.sel, scheduler.Config{Poll: time.Hour, Lease: time.Minute, Batch: 8}, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// due makes the rule due now.
func (r *rig) due(t *testing.T) {
	t.Helper()
	if _, err := r.db.Owner.Exec(t.Context(), `UPDATE rules SET next_run_time = now() - interval '1 second' WHERE rule_id = $1`, r.ruleID); err != nil {
		t.Fatal(err)
	}
}

// notified lists the resources notifications were sent about, in order.
func (r *rig) notified(t *testing.T) []string {
	t.Helper()
	rows, err := r.db.Owner.Query(t.Context(), `SELECT title FROM notifications WHERE tenant_id = $1 ORDER BY create_time, notification_id`, r.tenant)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var title string
		if err := rows.Scan(&title); err != nil {
			t.Fatal(err)
		}
		out = append(out, title)
	}
	slices.Sort(out)
	return out
}

func titles(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "No contact with customers/" + n + " for 90 days"
	}
	slices.Sort(out)
	return out
}

func (r *rig) runs(t *testing.T) []rule.Run {
	t.Helper()
	page, err := r.svc.Runs(t.Context(), r.admin, r.ruleID, rule.ListQuery{})
	if err != nil {
		t.Fatalf("Runs: %v", err)
	}
	return page.Runs
}

func res(name, episode string) rule.Resource {
	return rule.Resource{Name: "customers/" + name, Episode: episode}
}

func TestEpisodes(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	s := r.scheduler()
	steps := []struct {
		name      string
		selected  []rule.Resource
		wantTotal []string // every notification sent so far
		wantFired int
	}{
		{"stale customers fire", []rule.Resource{res("a", "2026-01-01T00:00:00Z"), res("b", ""), res("c", "2026-02-01T00:00:00Z")},
			[]string{"a", "b", "c"}, 3},
		{"next run fires nothing", []rule.Resource{res("a", "2026-01-01T00:00:00Z"), res("b", ""), res("c", "2026-02-01T00:00:00Z")},
			[]string{"a", "b", "c"}, 0},
		{"a contacted: leaves the selection", []rule.Resource{res("b", ""), res("c", "2026-02-01T00:00:00Z")},
			[]string{"a", "b", "c"}, 0},
		{"a's new interaction aged out; c contacted and aged out between runs", []rule.Resource{
			res("a", "2026-03-01T00:00:00Z"), res("b", ""), res("c", "2026-03-05T00:00:00Z")},
			[]string{"a", "a", "b", "c", "c"}, 2},
	}
	for _, st := range steps {
		r.sel.set(st.selected...)
		r.due(t)
		if err := s.Tick(t.Context()); err != nil {
			t.Fatalf("%s: Tick: %v", st.name, err)
		}
		if got, want := r.notified(t), titles(st.wantTotal...); !slices.Equal(got, want) {
			t.Fatalf("%s: notified %v, want %v", st.name, got, want)
		}
		last := r.runs(t)[0]
		if last.State != rule.RunSucceeded || last.Selected != len(st.selected) || last.Fired != st.wantFired || last.EndTime == nil {
			t.Fatalf("%s: run = %+v, want succeeded, %d selected, %d fired", st.name, last, len(st.selected), st.wantFired)
		}
	}
	var executions int
	if err := r.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM rule_executions WHERE rule_id = $1 AND outcome = 1 AND event_type = $2`,
		r.ruleID, rule.ScheduledEventType).Scan(&executions); err != nil || executions != 5 {
		t.Fatalf("succeeded executions = %d, %v; want 5", executions, err)
	}
}

func TestNewVersionFiresAgain(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	s := r.scheduler()
	r.sel.set(res("a", ""))
	r.due(t)
	if err := s.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Update(t.Context(), r.admin, rule.Rule{ID: r.ruleID, DisplayName: "Renamed"}, []string{"display_name"}, ""); err != nil {
		t.Fatalf("Update: %v", err)
	}
	r.due(t)
	if err := s.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := r.notified(t); len(got) != 2 {
		t.Fatalf("notified %v, want a twice (once per version)", got)
	}
}

func TestRestartResumesMidRun(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.sel.set(res("a", ""), res("b", ""), res("c", ""), res("d", ""), res("e", ""))
	if _, err := r.svc.RunNow(t.Context(), r.admin, r.ruleID); err != nil {
		t.Fatalf("RunNow: %v", err)
	}
	claims, err := r.store.Claim(t.Context(), r.tenant, 8, time.Minute)
	if err != nil || len(claims) != 1 {
		t.Fatalf("Claim = %v, %v; want one run", claims, err)
	}
	// The first scheduler takes one page in and dies.
	if err := r.scheduler().Execute(t.Context(), claims[0], 1); err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if again, err := r.store.Claim(t.Context(), r.tenant, 8, time.Minute); err != nil || len(again) != 0 {
		t.Fatalf("Claim while leased = %v, %v; want nothing", again, err)
	}
	if _, err := r.db.Owner.Exec(t.Context(), `UPDATE rule_runs SET lease_until = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	r.sel.mu.Lock()
	r.sel.asked = nil
	r.sel.mu.Unlock()
	if err := r.scheduler().Tick(t.Context()); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	if got, want := r.sel.asked, []string{"2", "4"}; !slices.Equal(got, want) {
		t.Errorf("resumed at pages %q, want %q", got, want)
	}
	if got, want := r.notified(t), titles("a", "b", "c", "d", "e"); !slices.Equal(got, want) {
		t.Fatalf("notified %v, want %v", got, want)
	}
	// The first scheduler's lease passed on: it can no longer move the run.
	if err := r.scheduler().Execute(t.Context(), claims[0], 1); err != nil {
		t.Fatalf("Execute(lost lease) = %v, want nil", err)
	}
	if got := r.notified(t); len(got) != 5 {
		t.Fatalf("notified %d after a lost lease, want 5", len(got))
	}
	runs := r.runs(t)
	if len(runs) != 1 || runs[0].State != rule.RunSucceeded || runs[0].Selected != 5 || runs[0].Fired != 5 || runs[0].Trigger != rule.Manually {
		t.Fatalf("runs = %+v, want one manual run, 5 selected and fired", runs)
	}
}

func TestRacingSchedulersRunOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.sel.set(res("a", ""), res("b", ""), res("c", ""))
	r.due(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = r.scheduler().Tick(t.Context()) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("Tick: %v", err)
		}
	}
	if runs := r.runs(t); len(runs) != 1 {
		t.Fatalf("runs = %+v, want one", runs)
	}
	if got, want := r.notified(t), titles("a", "b", "c"); !slices.Equal(got, want) {
		t.Fatalf("notified %v, want %v", got, want)
	}
}

func TestDisabledOrDeletedRuleDoesNotRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(t *testing.T, r *rig)
	}{
		{"disabled", func(t *testing.T, r *rig) {
			if _, err := r.svc.Update(t.Context(), r.admin, rule.Rule{ID: r.ruleID}, []string{"enabled"}, ""); err != nil {
				t.Fatal(err)
			}
		}},
		{"deleted", func(t *testing.T, r *rig) {
			if err := r.svc.Delete(t.Context(), r.admin, r.ruleID, ""); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t)
			r.sel.set(res("a", ""))
			r.due(t)
			tt.change(t, r)
			if err := r.scheduler().Tick(t.Context()); err != nil {
				t.Fatal(err)
			}
			var runs int
			if err := r.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM rule_runs`).Scan(&runs); err != nil || runs != 0 {
				t.Fatalf("runs = %d, %v; want none", runs, err)
			}
			if got := r.notified(t); len(got) != 0 {
				t.Fatalf("notified %v, want nothing", got)
			}
		})
	}
}

func TestDisabledMidRunFails(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.sel.set(res("a", ""), res("b", ""), res("c", ""))
	if _, err := r.svc.RunNow(t.Context(), r.admin, r.ruleID); err != nil {
		t.Fatal(err)
	}
	claims, err := r.store.Claim(t.Context(), r.tenant, 8, time.Minute)
	if err != nil || len(claims) != 1 {
		t.Fatalf("Claim = %v, %v", claims, err)
	}
	if err := r.scheduler().Execute(t.Context(), claims[0], 1); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Update(t.Context(), r.admin, rule.Rule{ID: r.ruleID}, []string{"enabled"}, ""); err != nil {
		t.Fatal(err)
	}
	if err := r.scheduler().Execute(t.Context(), claims[0], -1); err != nil {
		t.Fatal(err)
	}
	runs := r.runs(t)
	if len(runs) != 1 || runs[0].State != rule.RunFailed || runs[0].Fired != 2 {
		t.Fatalf("runs = %+v, want one failed after the first page's 2 firings", runs)
	}
}

func TestRateGuardDefersTheRest(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	if _, err := r.svc.Update(t.Context(), r.admin, rule.Rule{ID: r.ruleID, RateLimit: 2}, []string{"max_executions_per_minute"}, ""); err != nil {
		t.Fatal(err)
	}
	r.sel.set(res("a", ""), res("b", ""), res("c", ""))
	r.due(t)
	if err := r.scheduler().Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := r.notified(t); len(got) != 2 {
		t.Fatalf("notified %v, want 2 within the rate", got)
	}
	var limited int
	if err := r.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM rule_executions WHERE rule_id = $1 AND outcome = 2`, r.ruleID).Scan(&limited); err != nil || limited != 1 {
		t.Fatalf("rate-limited executions = %d, %v; want 1", limited, err)
	}
	// A minute later the rate allows it: the deferred customer fires, the others do not again.
	if _, err := r.db.Owner.Exec(t.Context(), `UPDATE rule_executions SET create_time = create_time - interval '2 minutes' WHERE rule_id = $1`, r.ruleID); err != nil {
		t.Fatal(err)
	}
	r.due(t)
	if err := r.scheduler().Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, want := r.notified(t), titles("a", "b", "c"); !slices.Equal(got, want) {
		t.Fatalf("notified %v, want %v", got, want)
	}
}

func TestUnreadableSelectionFailsTheRun(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.sel.down = true
	r.due(t)
	if err := r.scheduler().Tick(t.Context()); !errors.Is(err, rule.ErrSelectorUnavailable) {
		t.Fatalf("Tick = %v, want the selection's error", err)
	}
	runs := r.runs(t)
	if len(runs) != 1 || runs[0].State != rule.RunFailed || runs[0].EndTime == nil || runs[0].Detail == "" {
		t.Fatalf("runs = %+v, want one failed run saying why", runs)
	}
}
