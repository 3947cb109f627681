package ticket

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/services/ticket/internal/bizclock"
)

// weekdaysNY is 09:00–17:00, Monday to Friday, in New York.
func weekdaysNY(t *testing.T) bizclock.Calendar {
	t.Helper()
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	var ivs []bizclock.Interval
	for d := time.Monday; d <= time.Friday; d++ {
		ivs = append(ivs, bizclock.Interval{Weekday: d, Start: 9 * 60, End: 17 * 60})
	}
	return bizclock.New(loc, ivs, nil)
}

func policy() Policy {
	return Policy{ID: uuid.New(), CalendarID: uuid.New(), FirstResponseTarget: 2 * time.Hour, ResolutionTarget: 16 * time.Hour,
		WarningPercent: 75, EscalationLevel: 3}
}

func utc(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Friday 8 March 2024, 15:00 EST (20:00 UTC); New York springs forward on
// Sunday: Monday's hours are EDT.
func TestClockOverDST(t *testing.T) {
	t.Parallel()
	cal := weekdaysNY(t)
	created := utc(t, "2024-03-08 20:00")
	tk := Ticket{Status: StatusNew, CreateTime: created}
	tk.startClock(policy(), cal, created)
	want := map[string]time.Time{
		"first response warning": utc(t, "2024-03-08 21:30"), // 1h30 of Friday
		"first response due":     utc(t, "2024-03-08 22:00"), // 17:00 EST
		"resolution warning":     utc(t, "2024-03-12 15:00"), // 12h: 2h Fri, 8h Mon, 2h Tue → 11:00 EDT
		"resolution due":         utc(t, "2024-03-12 19:00"), // 16h: 2h Fri, 8h Mon, 6h Tue → 15:00 EDT
	}
	got := map[string]time.Time{
		"first response warning": *tk.SLA.FirstResponseWarning, "first response due": *tk.SLA.FirstResponseDue,
		"resolution warning": *tk.SLA.ResolutionWarning, "resolution due": *tk.SLA.ResolutionDue,
	}
	for k, w := range want {
		if !got[k].Equal(w) {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
	if !tk.SLA.NextDue.Equal(want["first response warning"]) {
		t.Errorf("next due = %v, want the first warning", tk.SLA.NextDue)
	}
}

func TestClockPauseAndFire(t *testing.T) {
	t.Parallel()
	cal := weekdaysNY(t)
	created := utc(t, "2024-03-04 14:00") // Monday 09:00 EST
	tk := Ticket{Status: StatusOpen, CreateTime: created}
	tk.startClock(policy(), cal, created)
	calendar := func() (bizclock.Calendar, error) { return cal, nil }

	// Pending the customer from 10:00 to 13:00: the clock stops, nothing is due.
	if err := tk.moveClock(StatusPendingCustomer, utc(t, "2024-03-04 15:00"), calendar); err != nil {
		t.Fatal(err)
	}
	tk.Status = StatusPendingCustomer
	if tk.SLA.NextDue = tk.nextDue(); tk.SLA.NextDue != nil {
		t.Fatalf("paused clock has next due %v", tk.SLA.NextDue)
	}
	if ev := tk.fireSLA(utc(t, "2024-03-05 00:00")); len(ev) != 0 {
		t.Fatalf("a paused clock fired %v", ev)
	}
	if err := tk.moveClock(StatusOpen, utc(t, "2024-03-04 18:00"), calendar); err != nil {
		t.Fatal(err)
	}
	tk.Status = StatusOpen
	if tk.SLA.Paused != 3*time.Hour || !tk.SLA.FirstResponseDue.Equal(utc(t, "2024-03-04 19:00")) {
		t.Fatalf("after resume: paused %v, first response due %v; want 3h and 14:00 EST", tk.SLA.Paused, tk.SLA.FirstResponseDue)
	}

	// A sweep long after raises everything once, in time order, escalating per breach.
	ev := tk.fireSLA(utc(t, "2024-03-20 00:00"))
	want := []string{EventSLAWarning, EventSLABreached, EventEscalated, EventSLAWarning, EventSLABreached, EventEscalated}
	if !slices.Equal(ev, want) || tk.EscalationLevel != 3 || tk.SLA.NextDue != nil {
		t.Fatalf("fire = %v, escalation %d, next %v; want %v, 3, none", ev, tk.EscalationLevel, tk.SLA.NextDue, want)
	}
	if again := tk.fireSLA(utc(t, "2024-03-21 00:00")); len(again) != 0 {
		t.Fatalf("second fire = %v, want nothing", again)
	}
}

func TestFirstResponseStopsItsClock(t *testing.T) {
	t.Parallel()
	cal := weekdaysNY(t)
	created := utc(t, "2024-03-04 14:00")
	tk := Ticket{Status: StatusOpen, CreateTime: created}
	tk.startClock(policy(), cal, created)
	answered := utc(t, "2024-03-04 14:30")
	tk.FirstResponseTime = &answered
	tk.SLA.NextDue = tk.nextDue()
	if !tk.SLA.NextDue.Equal(*tk.SLA.ResolutionWarning) {
		t.Fatalf("next due = %v, want the resolution warning %v", tk.SLA.NextDue, tk.SLA.ResolutionWarning)
	}
}

func TestStatusGraph(t *testing.T) {
	t.Parallel()
	// Closing needs a resolution first; nothing leads back to new.
	for from, tos := range transitions {
		if slices.Contains(tos, StatusNew) || slices.Contains(tos, from) {
			t.Errorf("%s may move to %v", from, tos)
		}
		if slices.Contains(tos, StatusClosed) && from != StatusResolved {
			t.Errorf("%s closes without a resolution", from)
		}
	}
}
