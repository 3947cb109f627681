package customer

import (
	"strconv"
	"strings"

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
	n, err := phonenumbers.Parse(raw, strings.ToUpper(region))
	if err != nil || !phonenumbers.IsPossibleNumber(n) {
		return raw, false
	}
	e164 := phonenumbers.Format(n, phonenumbers.E164)
	return e164, phoneRE.MatchString(e164)
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
