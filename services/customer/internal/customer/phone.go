package customer

import (
	"strconv"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// NormalizePhone returns raw in E.164 form, reading a national number (one
// without a leading + or 00) as a number of region, an ISO 3166-1 alpha-2
// code. ok is false when raw cannot be a phone number; raw then comes back
// trimmed.
//
// libphonenumber's metadata knows every country's number lengths and
// national prefixes, which a hand-written rule cannot keep up with. It checks
// that a number is possible (right length for its country), not that its
// range is allocated: fictional ranges used in demos and tests stay usable,
// and a newly opened range is not refused before the metadata catches up.
func NormalizePhone(raw, region string) (string, bool) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", false
	}
	if knownE164.has(raw) {
		return raw, true
	}
	n, err := phonenumbers.Parse(raw, strings.ToUpper(region))
	if err != nil || !phonenumbers.IsPossibleNumber(n) {
		return raw, false
	}
	e164 := phonenumbers.Format(n, phonenumbers.E164)
	if !phoneRE.MatchString(e164) {
		return e164, false
	}
	knownE164.add(e164)
	return e164, true
}

// e164Memo remembers numbers NormalizePhone has produced. A write normalises
// a number and then validates the result, and an import also keys it for
// duplicate checks: each re-parse of an already canonical number cost
// libphonenumber's regular expressions again, a fifth of an import's CPU.
// The set is cleared when full, so it stays a few megabytes.
type e164Memo struct {
	mu  sync.Mutex
	set map[string]struct{}
}

const e164MemoSize = 65536

var knownE164 = &e164Memo{set: map[string]struct{}{}}

func (m *e164Memo) has(s string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.set[s]
	return ok
}

func (m *e164Memo) add(s string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.set) >= e164MemoSize {
		clear(m.set)
	}
	m.set[s] = struct{}{}
}

// NormalizeEmail trims and lower-cases an e-mail address; ok is false when
// it does not look like one.
func NormalizeEmail(raw string) (string, bool) {
	e := strings.ToLower(strings.TrimSpace(raw))
	return e, len(e) <= 254 && emailRE.MatchString(e)
}

func itoa(n int) string { return strconv.Itoa(n) }

func quoteAll(values []string) string {
	q := make([]string, len(values))
	for i, s := range values {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
