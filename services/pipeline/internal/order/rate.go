package order

import (
	"context"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Rate says what one unit of Base is worth in Quote from Date on.
type Rate struct {
	Base, Quote string
	// Date is a calendar date, "YYYY-MM-DD".
	Date string
	// Rate is a positive decimal with at most 12 decimals, as text so that
	// it travels exactly.
	Rate string
}

// RatePage is one page of rates, by pair and date.
type RatePage struct {
	Rates         []Rate
	NextPageToken string
}

// Settings are a tenant's reporting settings.
type Settings struct {
	ReportingCurrency string
	UpdateTime        time.Time
	// Revision is 0 while the settings were never set.
	Revision int64
}

// Etag is the opaque concurrency token of the settings' current revision.
func (s Settings) Etag() string { return strconv.FormatInt(s.Revision, 10) }

var decimalRE = regexp.MustCompile(`^[0-9]{1,18}(\.[0-9]{1,12})?$`)

// LoadRates validates and stores exchange rates; the whole batch or nothing.
func (s *Service) LoadRates(ctx context.Context, caller auth.Caller, rates []Rate) (int, error) {
	if err := allow(caller, finances); err != nil {
		return 0, err
	}
	v := &validation.Error{}
	switch {
	case len(rates) == 0:
		v.Add("rates", "must hold at least one rate")
	case len(rates) > maxRates:
		v.Add("rates", "must hold at most %d rates", maxRates)
	}
	type key struct{ base, quote, date string }
	seen := map[key]bool{}
	for i := range rates {
		r := &rates[i]
		r.Base, r.Quote = strings.ToUpper(strings.TrimSpace(r.Base)), strings.ToUpper(strings.TrimSpace(r.Quote))
		r.Date, r.Rate = strings.TrimSpace(r.Date), strings.TrimSpace(r.Rate)
		f := fmt.Sprintf("rates[%d].", i)
		if !validCurrency(r.Base) {
			v.Add(f+"base_currency", "must be an ISO 4217 currency code such as EUR")
		}
		if !validCurrency(r.Quote) {
			v.Add(f+"quote_currency", "must be an ISO 4217 currency code such as EUR")
		}
		if r.Base == r.Quote {
			v.Add(f+"quote_currency", "must differ from base_currency")
		}
		if d, err := time.Parse(time.DateOnly, r.Date); err != nil || d.Year() < 1900 {
			v.Add(f+"rate_date", "must be a date YYYY-MM-DD")
		}
		if q, ok := new(big.Rat).SetString(r.Rate); !decimalRE.MatchString(r.Rate) || !ok || q.Sign() <= 0 {
			v.Add(f+"rate", "must be a positive decimal such as 1.1642, with at most 12 decimals")
		}
		k := key{r.Base, r.Quote, r.Date}
		if seen[k] {
			v.Add(f+"rate_date", "repeats an earlier rate of the pair on this date")
		}
		seen[k] = true
	}
	if err := v.Err(); err != nil {
		return 0, err
	}
	if err := s.store.LoadRates(ctx, caller, rates); err != nil {
		return 0, err
	}
	return len(rates), nil
}

// ListRates lists exchange rates by pair and date.
func (s *Service) ListRates(ctx context.Context, caller auth.Caller, pageSize int, pageToken string) (RatePage, error) {
	if err := allow(caller, readers); err != nil {
		return RatePage{}, err
	}
	n, err := pageSizeOf(pageSize)
	if err != nil {
		return RatePage{}, err
	}
	return s.store.ListRates(ctx, caller, n, pageToken)
}
