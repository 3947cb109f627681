package ticket

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/services/ticket/internal/bizclock"
)

func TestPick(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC) // a Wednesday
	early, late := now.Add(-2*time.Hour), now.Add(-time.Hour)
	a, b := uuid.MustParse("00000000-0000-0000-0000-00000000000a"), uuid.MustParse("00000000-0000-0000-0000-00000000000b")
	weekend := &Calendar{TimeZone: "UTC", Hours: []bizclock.Interval{{Weekday: time.Saturday, Start: 0, End: 1440}}}
	office := &Calendar{TimeZone: "UTC", Hours: []bizclock.Interval{{Weekday: time.Wednesday, Start: 9 * 60, End: 17 * 60}}}
	member := func(id uuid.UUID, open int, last *time.Time) Candidate {
		return Candidate{Member: Member{PrincipalID: id, Capacity: 3, LastAssignTime: last}, OpenTickets: open}
	}
	tests := []struct {
		name     string
		strategy Strategy
		ticket   Ticket
		cands    []Candidate
		want     uuid.UUID
	}{
		{"round robin: assigned longest ago", StrategyRoundRobin, Ticket{}, []Candidate{member(a, 0, &late), member(b, 2, &early)}, b},
		{"round robin: never assigned first", StrategyRoundRobin, Ticket{}, []Candidate{member(a, 0, &early), member(b, 0, nil)}, b},
		{"least loaded", StrategyLeastLoaded, Ticket{}, []Candidate{member(a, 1, &early), member(b, 0, &late)}, b},
		{"least loaded tie: longest ago", StrategyLeastLoaded, Ticket{}, []Candidate{member(a, 1, &early), member(b, 1, &late)}, a},
		{"tie on everything: lowest id", StrategyRoundRobin, Ticket{}, []Candidate{member(b, 0, nil), member(a, 0, nil)}, a},
		{"full agents skipped", StrategyLeastLoaded, Ticket{}, []Candidate{member(a, 3, nil), member(b, 3, nil)}, uuid.Nil},
		{"skills", StrategyRoundRobin, Ticket{RequiredSkills: []string{"de"}},
			[]Candidate{member(a, 0, nil), {Member: Member{PrincipalID: b, Capacity: 1, Skills: []string{"de", "fr"}}}}, b},
		{"escalation level", StrategyRoundRobin, Ticket{EscalationLevel: 1},
			[]Candidate{member(a, 0, nil), {Member: Member{PrincipalID: b, Capacity: 1, Level: 2}}}, b},
		{"working hours", StrategyRoundRobin, Ticket{},
			[]Candidate{{Member: Member{PrincipalID: a, Capacity: 1}, Calendar: weekend}, {Member: Member{PrincipalID: b, Capacity: 1}, Calendar: office}}, b},
		{"manual", StrategyManual, Ticket{}, []Candidate{member(a, 0, nil)}, uuid.Nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := pick(tt.strategy, tt.ticket, tt.cands, now)
			if err != nil || got != tt.want {
				t.Fatalf("pick = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestSurveyToken(t *testing.T) {
	t.Parallel()
	tenant, survey := uuid.New(), uuid.New()
	token, hash := newSurveyToken(tenant, survey)
	gotTenant, gotSurvey, gotHash, ok := parseSurveyToken(token)
	if !ok || gotTenant != tenant || gotSurvey != survey || string(gotHash) != string(hash) {
		t.Fatalf("parseSurveyToken(%q) = %v %v %x %v", token, gotTenant, gotSurvey, gotHash, ok)
	}
	for _, bad := range []string{"", "cs_", "rs_" + token[3:], "cs_zz" + token[5:], token[:20]} {
		if _, _, _, ok := parseSurveyToken(bad); ok {
			t.Errorf("parseSurveyToken(%q) ok, want refused", bad)
		}
	}
}
