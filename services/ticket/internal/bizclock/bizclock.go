// Package bizclock does business-time arithmetic: adding working time to an
// instant, and measuring the working time between two instants, in a
// calendar of weekly working hours and holidays in one IANA time zone.
//
// Working hours are wall-clock times, so a 09:00–17:00 day stays eight hours
// long across daylight-saving changes, while a 00:00–24:00 day lasts 23 or 25
// hours on the days the clocks change. A bound that falls in a spring-forward
// gap means the instant the clocks jump; a bound in a repeated autumn hour
// means its first occurrence. Intervals do not cross midnight: a shift from
// 22:00 to 06:00 is two intervals, 22:00–24:00 and 00:00–06:00 the next day.
package bizclock

import (
	"time"
)

// MinutesPerDay bounds an interval's end: 1440 is midnight at the day's end.
const MinutesPerDay = 24 * 60

// Interval is working time on one weekday, [Start, End) in minutes after
// local midnight.
type Interval struct {
	Weekday    time.Weekday
	Start, End int
}

// Date is a civil date in the calendar's time zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate reads a date written as YYYY-MM-DD.
func ParseDate(s string) (Date, bool) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, false
	}
	return dateOf(t), true
}

// String renders d as YYYY-MM-DD.
func (d Date) String() string { return d.utc().Format(time.DateOnly) }

func (d Date) utc() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

func (d Date) next() Date { return dateOf(d.utc().AddDate(0, 0, 1)) }

func dateOf(t time.Time) Date {
	y, m, dd := t.Date()
	return Date{y, m, dd}
}

// Calendar is a business calendar. Its zero value has no working time; use New.
type Calendar struct {
	loc      *time.Location
	week     [7][]Interval
	holidays map[Date]bool
	// lastHoliday bounds the search for working time: past it, every week
	// has its working hours.
	lastHoliday Date
}

// New returns the calendar of loc with the working intervals and holidays
// given. The intervals must be valid (0 ≤ Start < End ≤ MinutesPerDay) and
// must not overlap on a weekday, and at least one must exist: callers
// validate that first (see Overlaps).
func New(loc *time.Location, intervals []Interval, holidays []Date) Calendar {
	c := Calendar{loc: loc, holidays: make(map[Date]bool, len(holidays))}
	for _, iv := range intervals {
		c.week[iv.Weekday] = append(c.week[iv.Weekday], iv)
	}
	for d := range c.week {
		sortIntervals(c.week[d])
	}
	for _, h := range holidays {
		c.holidays[h] = true
		if h.utc().After(c.lastHoliday.utc()) {
			c.lastHoliday = h
		}
	}
	return c
}

func sortIntervals(ivs []Interval) {
	for i := 1; i < len(ivs); i++ {
		for j := i; j > 0 && ivs[j].Start < ivs[j-1].Start; j-- {
			ivs[j], ivs[j-1] = ivs[j-1], ivs[j]
		}
	}
}

// Overlaps returns the first pair of intervals that share a weekday and
// overlap, and whether there is one. Touching intervals (09:00–12:00,
// 12:00–17:00) do not overlap.
func Overlaps(intervals []Interval) (a, b int, found bool) {
	for i := range intervals {
		for j := i + 1; j < len(intervals); j++ {
			x, y := intervals[i], intervals[j]
			if x.Weekday == y.Weekday && x.Start < y.End && y.Start < x.End {
				return i, j, true
			}
		}
	}
	return 0, 0, false
}

// working returns the instants bounding date's working intervals, in order.
func (c Calendar) working(d Date) [][2]time.Time {
	if c.holidays[d] {
		return nil
	}
	ivs := c.week[d.utc().Weekday()]
	out := make([][2]time.Time, 0, len(ivs))
	for _, iv := range ivs {
		s, e := c.instant(d, iv.Start), c.instant(d, iv.End)
		if e.After(s) { // an interval inside a spring-forward gap is empty
			out = append(out, [2]time.Time{s, e})
		}
	}
	return out
}

// instant is the instant the wall clock of the calendar's zone shows minute
// of date: in a gap, the instant of the jump; when the wall time repeats,
// its first occurrence.
func (c Calendar) instant(d Date, minute int) time.Time {
	wall := d.utc().Add(time.Duration(minute) * time.Minute) // the wall time, as if it were UTC
	var best time.Time
	found := false
	// A day has at most one transition, so the offsets a day either side
	// cover every offset the wall time can have.
	for _, probe := range []time.Time{wall.Add(-26 * time.Hour), wall.Add(26 * time.Hour)} {
		_, off := probe.In(c.loc).Zone()
		t := wall.Add(-time.Duration(off) * time.Second)
		if _, got := t.In(c.loc).Zone(); got == off && (!found || t.Before(best)) {
			best, found = t, true
		}
	}
	if found {
		return best
	}
	// In a gap: read with the offset before the jump, the wall time lands
	// after the jump, in the zone period that the jump starts.
	_, off := wall.Add(-26 * time.Hour).In(c.loc).Zone()
	start, _ := wall.Add(-time.Duration(off) * time.Second).In(c.loc).ZoneBounds()
	return start
}

// Add returns the instant at which d of working time has passed since t. A
// d of zero or less returns t.
func (c Calendar) Add(t time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return t
	}
	for day := dateOf(t.In(c.loc)); ; day = day.next() {
		for _, iv := range c.working(day) {
			if !iv[1].After(t) {
				continue
			}
			from := iv[0]
			if t.After(from) {
				from = t
			}
			avail := iv[1].Sub(from)
			if d <= avail {
				return from.Add(d)
			}
			d -= avail
		}
		if c.empty() && day.utc().After(c.lastHoliday.utc()) {
			// No working time ever: New's contract was broken. Stop rather
			// than loop; the far future reads as "never due".
			return time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
		}
	}
}

func (c Calendar) empty() bool {
	for _, ivs := range c.week {
		if len(ivs) > 0 {
			return false
		}
	}
	return true
}

// Between returns the working time in [a, b); zero when b is not after a.
func (c Calendar) Between(a, b time.Time) time.Duration {
	var total time.Duration
	if !b.After(a) {
		return 0
	}
	last := dateOf(b.In(c.loc))
	for day := dateOf(a.In(c.loc)); !day.utc().After(last.utc()); day = day.next() {
		for _, iv := range c.working(day) {
			s, e := iv[0], iv[1]
			if s.Before(a) {
				s = a
			}
			if e.After(b) {
				e = b
			}
			if e.After(s) {
				total += e.Sub(s)
			}
		}
	}
	return total
}
