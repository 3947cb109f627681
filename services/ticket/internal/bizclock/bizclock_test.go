package bizclock_test

import (
	"testing"
	"time"

	"github.com/rapportcrm/rapport/services/ticket/internal/bizclock"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("LoadLocation(%q): %v", name, err)
	}
	return loc
}

func hm(h, m int) int { return h*60 + m }

// weekdays is 09:00–17:00, Monday to Friday.
func weekdays() []bizclock.Interval {
	var out []bizclock.Interval
	for d := time.Monday; d <= time.Friday; d++ {
		out = append(out, bizclock.Interval{Weekday: d, Start: hm(9, 0), End: hm(17, 0)})
	}
	return out
}

// always is every minute of every day.
func always() []bizclock.Interval {
	var out []bizclock.Interval
	for d := time.Sunday; d <= time.Saturday; d++ {
		out = append(out, bizclock.Interval{Weekday: d, Start: 0, End: bizclock.MinutesPerDay})
	}
	return out
}

func date(t *testing.T, s string) bizclock.Date {
	t.Helper()
	d, ok := bizclock.ParseDate(s)
	if !ok {
		t.Fatalf("ParseDate(%q) failed", s)
	}
	return d
}

func at(t *testing.T, loc *time.Location, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func utc(t *testing.T, s string) time.Time { return at(t, time.UTC, s) }

func TestAdd(t *testing.T) {
	t.Parallel()
	london, ny := zone(t, "Europe/London"), zone(t, "America/New_York")
	// 2024: Good Friday 29 March; London springs forward Sunday 31 March,
	// falls back Sunday 27 October; New York on 10 March and 3 November.
	easter := []bizclock.Date{date(t, "2024-03-29"), date(t, "2024-04-01")}
	night := []bizclock.Interval{
		{Weekday: time.Monday, Start: hm(22, 0), End: bizclock.MinutesPerDay},
		{Weekday: time.Tuesday, Start: 0, End: hm(6, 0)},
	}
	tests := []struct {
		name      string
		loc       *time.Location
		intervals []bizclock.Interval
		holidays  []bizclock.Date
		from      time.Time
		add       time.Duration
		want      time.Time
	}{
		// Late March 2024 is still GMT in London.
		{"within a day", london, weekdays(), nil, at(t, london, "2024-03-25 10:00"), 2 * time.Hour, utc(t, "2024-03-25 12:00")},
		{"before opening", london, weekdays(), nil, at(t, london, "2024-03-25 07:00"), 30 * time.Minute, utc(t, "2024-03-25 09:30")},
		{"ends exactly at closing", london, weekdays(), nil, at(t, london, "2024-03-25 16:00"), time.Hour, utc(t, "2024-03-25 17:00")},
		{"over a weekend", london, weekdays(), nil, at(t, london, "2024-03-22 16:00"), 2 * time.Hour, utc(t, "2024-03-25 10:00")},
		{"zero", london, weekdays(), nil, at(t, london, "2024-03-23 03:00"), 0, utc(t, "2024-03-23 03:00")},
		// Thursday GMT, then Good Friday, the weekend with the change to
		// BST, and Easter Monday: Tuesday 10:00 BST is 09:00 UTC.
		{"over holidays and the spring change", london, weekdays(), easter, at(t, london, "2024-03-28 16:00"), 2 * time.Hour, utc(t, "2024-04-02 09:00")},
		{"round the clock over the spring change", london, always(), nil, at(t, london, "2024-03-30 12:00"), 24 * time.Hour, utc(t, "2024-03-31 12:00")},
		{"round the clock over the autumn change", london, always(), nil, at(t, london, "2024-10-26 12:00"), 24 * time.Hour, utc(t, "2024-10-27 11:00")},
		{"New York spring change", ny, weekdays(), nil, at(t, ny, "2024-03-08 16:00"), 2 * time.Hour, utc(t, "2024-03-11 14:00")},
		{"New York autumn change", ny, weekdays(), nil, at(t, ny, "2024-11-01 16:00"), 2 * time.Hour, utc(t, "2024-11-04 15:00")},
		{"a night shift split at midnight", london, night, nil, at(t, london, "2024-03-25 23:00"), 2 * time.Hour, utc(t, "2024-03-26 01:00")},
		{"from a holiday", london, weekdays(), easter, at(t, london, "2024-04-01 12:00"), time.Hour, utc(t, "2024-04-02 09:00")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := bizclock.New(tt.loc, tt.intervals, tt.holidays)
			if got := c.Add(tt.from, tt.add); !got.Equal(tt.want) {
				t.Fatalf("Add(%v, %v) = %v, want %v", tt.from, tt.add, got.UTC(), tt.want)
			}
		})
	}
}

func TestBetween(t *testing.T) {
	t.Parallel()
	london, ny := zone(t, "Europe/London"), zone(t, "America/New_York")
	easter := []bizclock.Date{date(t, "2024-03-29"), date(t, "2024-04-01")}
	tests := []struct {
		name      string
		loc       *time.Location
		intervals []bizclock.Interval
		holidays  []bizclock.Date
		from, to  time.Time
		want      time.Duration
	}{
		{"spring day is 23 hours", london, always(), nil, at(t, london, "2024-03-31 00:00"), at(t, london, "2024-04-01 00:00"), 23 * time.Hour},
		{"autumn day is 25 hours", london, always(), nil, at(t, london, "2024-10-27 00:00"), at(t, london, "2024-10-28 00:00"), 25 * time.Hour},
		{"New York autumn day is 25 hours", ny, always(), nil, at(t, ny, "2024-11-03 00:00"), at(t, ny, "2024-11-04 00:00"), 25 * time.Hour},
		{"office hours keep 8 hours across the change", london, weekdays(), nil, at(t, london, "2024-03-29 00:00"), at(t, london, "2024-04-02 00:00"), 16 * time.Hour},
		{"holidays and weekend", london, weekdays(), easter, at(t, london, "2024-03-28 16:00"), at(t, london, "2024-04-02 10:00"), 2 * time.Hour},
		{"reversed", london, weekdays(), nil, at(t, london, "2024-03-26 10:00"), at(t, london, "2024-03-25 10:00"), 0},
		{"outside hours", london, weekdays(), nil, at(t, london, "2024-03-25 18:00"), at(t, london, "2024-03-26 08:00"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := bizclock.New(tt.loc, tt.intervals, tt.holidays)
			if got := c.Between(tt.from, tt.to); got != tt.want {
				t.Fatalf("Between(%v, %v) = %v, want %v", tt.from, tt.to, got, tt.want)
			}
		})
	}
}

// Interval bounds inside the hour that a change skips or repeats.
func TestBoundsAtChanges(t *testing.T) {
	t.Parallel()
	ny := zone(t, "America/New_York")
	tests := []struct {
		name     string
		interval bizclock.Interval
		day      string
		want     time.Duration
	}{
		// 10 March 2024: 02:00 EST jumps to 03:00 EDT.
		{"spans the gap", bizclock.Interval{Weekday: time.Sunday, Start: hm(1, 0), End: hm(4, 0)}, "2024-03-10", 2 * time.Hour},
		{"starts in the gap", bizclock.Interval{Weekday: time.Sunday, Start: hm(2, 30), End: hm(3, 30)}, "2024-03-10", 30 * time.Minute},
		{"inside the gap", bizclock.Interval{Weekday: time.Sunday, Start: hm(2, 10), End: hm(2, 50)}, "2024-03-10", 0},
		// 3 November 2024: 02:00 EDT falls back to 01:00 EST.
		{"spans the repeat", bizclock.Interval{Weekday: time.Sunday, Start: 0, End: hm(3, 0)}, "2024-11-03", 4 * time.Hour},
		{"ends in the repeat: first occurrence", bizclock.Interval{Weekday: time.Sunday, Start: 0, End: hm(1, 30)}, "2024-11-03", 90 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := bizclock.New(ny, []bizclock.Interval{tt.interval}, nil)
			day := at(t, ny, tt.day+" 00:00")
			if got := c.Between(day, day.Add(30*time.Hour)); got != tt.want {
				t.Fatalf("Between over %s = %v, want %v", tt.day, got, tt.want)
			}
		})
	}
}

// Add and Between are inverse: the working time from t to Add(t, d) is d,
// for starts all over the weeks of both zones' changes.
func TestAddBetweenInverse(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"Europe/London", "America/New_York"} {
		loc := zone(t, name)
		for _, cal := range []bizclock.Calendar{
			bizclock.New(loc, weekdays(), []bizclock.Date{date(t, "2024-03-29")}),
			bizclock.New(loc, always(), nil),
		} {
			for _, start := range []time.Time{at(t, loc, "2024-03-07 00:00"), at(t, loc, "2024-10-24 00:00")} {
				for step := time.Duration(0); step < 14*24*time.Hour; step += 97 * time.Minute {
					from := start.Add(step)
					for _, d := range []time.Duration{time.Minute, 90 * time.Minute, 8 * time.Hour, 30 * time.Hour} {
						to := cal.Add(from, d)
						if got := cal.Between(from, to); got != d {
							t.Fatalf("%s: Between(%v, Add(%v, %v) = %v) = %v", name, from, from, d, to, got)
						}
					}
				}
			}
		}
	}
}

func TestOverlaps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		intervals []bizclock.Interval
		want      bool
	}{
		{"touching", []bizclock.Interval{{time.Monday, hm(9, 0), hm(12, 0)}, {time.Monday, hm(12, 0), hm(17, 0)}}, false},
		{"other days", []bizclock.Interval{{time.Monday, hm(9, 0), hm(17, 0)}, {time.Tuesday, hm(9, 0), hm(17, 0)}}, false},
		{"overlapping", []bizclock.Interval{{time.Monday, hm(9, 0), hm(13, 0)}, {time.Monday, hm(12, 0), hm(17, 0)}}, true},
		{"contained", []bizclock.Interval{{time.Friday, hm(8, 0), hm(18, 0)}, {time.Friday, hm(12, 0), hm(13, 0)}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, _, got := bizclock.Overlaps(tt.intervals); got != tt.want {
				t.Fatalf("Overlaps(%v) = %v, want %v", tt.intervals, got, tt.want)
			}
		})
	}
}
