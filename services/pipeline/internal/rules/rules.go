// Package rules holds the input rules the forecast, commission and
// marketing domains share: roles, page sizes, etags, masks, dates, time
// zones and currencies.
package rules

import (
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Allow returns auth.ErrForbidden unless the caller holds one of roles.
func Allow(c auth.Caller, roles ...auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

// Page sizes of lists.
const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

// PageSize turns a requested page size into the one served.
func PageSize(n int) (int, error) {
	switch {
	case n < 0:
		return 0, validation.Field("page_size", "must not be negative")
	case n == 0:
		return defaultPageSize, nil
	}
	return min(n, maxPageSize), nil
}

// CheckEtag returns an error wrapping errMismatch when etag is set and not current.
func CheckEtag(current, etag string, errMismatch error) error {
	if etag != "" && etag != current {
		return fmt.Errorf("%w: current etag is %s", errMismatch, current)
	}
	return nil
}

// CheckMask requires a non-empty mask of updatable fields.
func CheckMask(mask, updatable []string) error {
	v := &validation.Error{}
	if len(mask) == 0 {
		v.Add("update_mask", "must name at least one field")
	}
	for _, f := range mask {
		if !slices.Contains(updatable, f) {
			v.Add("update_mask", "%q cannot be updated; updatable fields: %v", f, updatable)
		}
	}
	return v.Err()
}

// maxRequestID bounds idempotency keys.
const maxRequestID = 64

// RequestID checks an idempotency key.
func RequestID(requestID string, v *validation.Error) {
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
}

// Date parses a required "YYYY-MM-DD" field; ok is false (with a
// violation added) when it is missing or malformed.
func Date(s, field string, v *validation.Error) (time.Time, bool) {
	if s == "" {
		v.Add(field, "is required")
		return time.Time{}, false
	}
	// Year 0 parses but PostgreSQL's date has no year 0.
	d, err := time.Parse(time.DateOnly, s)
	if err != nil || d.Year() < 1 {
		v.Add(field, "must be a calendar date such as 2026-03-31")
		return time.Time{}, false
	}
	return d, true
}

// Period checks a required period of two dates, end not before start.
func Period(start, end, startField, endField string, v *validation.Error) {
	s, okS := Date(start, startField, v)
	e, okE := Date(end, endField, v)
	if okS && okE && e.Before(s) {
		v.Add(endField, "must not be before %s", startField)
	}
}

// TimeZone returns the IANA zone name, "UTC" when empty.
func TimeZone(name, field string, v *validation.Error) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return "UTC"
	}
	if _, err := time.LoadLocation(name); err != nil || name == "Local" {
		v.Add(field, "must be an IANA time zone such as Europe/Berlin")
	}
	return name
}

// Currency requires an upper-case three-letter code.
func Currency(code, field string, v *validation.Error) {
	switch {
	case code == "":
		v.Add(field, "is required")
	case len(code) != 3 || strings.ToUpper(code) != code || strings.ContainsFunc(code, func(r rune) bool { return r < 'A' || r > 'Z' }):
		v.Add(field, "must be an ISO 4217 currency code such as USD")
	}
}

// Name checks a required display name of at most 300 characters.
func Name(s, field string, v *validation.Error) {
	switch {
	case s == "":
		v.Add(field, "is required")
	case utf8.RuneCountInString(s) > 300:
		v.Add(field, "must be at most 300 characters")
	}
}

// ID parses a required UUID field.
func ID(s, field string, v *validation.Error) uuid.UUID {
	if s == "" {
		v.Add(field, "is required")
		return uuid.Nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		v.Add(field, "must be a UUID")
	}
	return id
}

// OptionalID parses an optional UUID field; empty is nil.
func OptionalID(s, field string, v *validation.Error) *uuid.UUID {
	if s == "" {
		return nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		v.Add(field, "must be a UUID")
		return nil
	}
	return &id
}

// IDs parses a list of UUIDs, rejecting duplicates.
func IDs(ss []string, field string, v *validation.Error) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(ss))
	for i, s := range ss {
		id, err := uuid.Parse(s)
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case err != nil:
			v.Add(f, "must be a UUID")
		case slices.Contains(out, id):
			v.Add(f, "is listed twice")
		default:
			out = append(out, id)
		}
	}
	return out
}

// Money is an amount in integer minor units of a currency.
type Money struct {
	CurrencyCode string
	AmountMinor  int64
}

// Bps is part ÷ whole in basis points, rounded toward zero; 0 when whole
// is 0. It computes in big integers: part × 10000 can overflow int64.
func Bps(part, whole int64) int64 {
	if whole == 0 {
		return 0
	}
	q := new(big.Int).Mul(big.NewInt(part), big.NewInt(10000))
	q.Quo(q, big.NewInt(whole))
	if !q.IsInt64() {
		if q.Sign() < 0 {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	return q.Int64()
}
