// Package search finds customers by what a user types: words of a name or
// organisation (full text, and fuzzy for misspellings), an e-mail address or
// a phone number in any common format, ranked so that exact e-mail and phone
// matches come first.
package search

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
)

// Fields a result can have matched on, as named in SearchResult.matched_fields.
const (
	FieldDisplayName  = "display_name"
	FieldEmail        = "email"
	FieldPhone        = "phone"
	FieldOrganization = "organization"
)

// Limits of a search request.
const (
	maxQuery        = 200
	defaultPageSize = 20
	maxPageSize     = 100
	// minPhoneDigits is the shortest digit string treated as a phone number;
	// shorter ones are too ambiguous to match exactly.
	minPhoneDigits = 7
	maxWords       = 8
)

// searchers may search: those who work with customers directly. Which
// customers each finds is decided row by row by the customers' record-level
// policy, as for reading them (sales reps their own and their teams',
// partner users those linked to their partner). Analysts read customers
// without personal data, and a search matches on exactly that (names,
// e-mails, phones), so they may not search.
var searchers = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleSupportAgent, auth.RolePartnerUser}

// Query is one search request.
type Query struct {
	// Text is what the user typed.
	Text string
	// Filter is an AIP-160 filter over the fields ListCustomers filters on.
	Filter         string
	PageSize       int
	PageToken      string
	IncludeDeleted bool
}

// Terms is a validated query, with the exact-match keys read from its text.
type Terms struct {
	Query
	// Email is set when the text is an e-mail address: it then matches an
	// e-mail exactly (ignoring case and accents).
	Email bool
	// PhoneKey is the number's digits without leading zeros (trunk or
	// international prefixes) when the text is a phone number; "" otherwise.
	PhoneKey string
	// Words are the text's words (runs of letters and digits), at most
	// maxWords: a fuzzy match needs each of them to be near a word of the
	// customer's, so that "maria lopez" does not find every María.
	Words []string
}

// Result is one customer found, with its relevance and what matched.
type Result struct {
	Customer customer.Customer
	// Score orders results: at least 2 for an exact e-mail or phone match,
	// at least 1 for a full-text match, below 1 for a fuzzy-only match.
	Score         float64
	MatchedFields []string
}

// Page is one page of results, best first.
type Page struct {
	Results       []Result
	NextPageToken string
}

// Store runs searches. It is scoped to the caller's tenant.
type Store interface {
	Search(ctx context.Context, caller auth.Caller, t Terms) (Page, error)
}

// Service holds the search use case.
type Service struct{ store Store }

// New returns a Service over store.
func New(store Store) *Service { return &Service{store: store} }

// Search validates q and returns a page of matching customers.
func (s *Service) Search(ctx context.Context, caller auth.Caller, q Query) (Page, error) {
	if !caller.HasAny(searchers...) {
		return Page{}, auth.ErrForbidden
	}
	q.Text = strings.TrimSpace(q.Text)
	v := &validation.Error{}
	switch n := utf8.RuneCountInString(q.Text); {
	case n == 0:
		v.Add("query", "is required")
	case n > maxQuery:
		v.Add("query", "must be at most %d characters", maxQuery)
	}
	switch {
	case q.PageSize < 0:
		v.Add("page_size", "must not be negative")
	case q.PageSize == 0:
		q.PageSize = defaultPageSize
	case q.PageSize > maxPageSize:
		q.PageSize = maxPageSize
	}
	if err := v.Err(); err != nil {
		return Page{}, err
	}
	return s.store.Search(ctx, caller, parse(q))
}

// parse reads the exact-match keys and the words from q's text.
func parse(q Query) Terms {
	words := strings.FieldsFunc(q.Text, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(words) > maxWords {
		words = words[:maxWords]
	}
	return Terms{Query: q, Email: isEmail(q.Text), PhoneKey: phoneKey(q.Text), Words: words}
}

func isEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && strings.Contains(domain, ".") && !strings.ContainsAny(s, " \t") && !strings.Contains(domain, "@")
}

// phoneKey returns the digits of s when s is written like a phone number
// (digits and the usual separators only), with leading zeros dropped so that
// "01632 960961" and "0044 1632 960961" find "+441632960961" too.
func phoneKey(s string) string {
	var digits strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case r == '+' || r == '-' || r == '(' || r == ')' || r == '.' || r == '/' || unicode.IsSpace(r):
		default:
			return ""
		}
	}
	d := strings.TrimLeft(digits.String(), "0")
	if len(d) < minPhoneDigits {
		return ""
	}
	return d
}
