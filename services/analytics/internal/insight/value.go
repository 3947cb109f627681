package insight

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Value is a customer's value figures in one currency over a window. The
// definitions (also in insight.proto):
//
//   - a purchase is a placed sale order of the customer in the currency;
//     cancelled orders and adjustments count for nothing; placed returns
//     reduce monetary value and revenue but are no purchases;
//   - Recency is whole days from the customer's last purchase in the window
//     to the window's end (the reference time);
//   - Frequency is the number of purchases in the window;
//   - Monetary is the net value of the window's purchases and returns;
//   - each score (1–5) ranks the customer among the tenant's customers with
//     a purchase in the window: 1 + floor(5 × w / n), with n those customers
//     and w how many of them have a strictly worse value (an older last
//     purchase, fewer purchases, less money); customers without a purchase
//     in the window have no scores (Scored false);
//   - the lifetime figures count every order before the window's end;
//   - AnnualRevenue is LifetimeRevenue × 365 / T, with T the days from the
//     first purchase ever to the reference time, at least 90;
//   - PredictedValue (the next 12 months) is max(0, AnnualRevenue) ×
//     exp(−r / max(g, 30)), with r the days since the last purchase ever and
//     g = T / LifetimePurchases the mean days between purchases: a customer
//     silent for several of its usual gaps is probably gone;
//   - PotentialValue is max(0, P80 − max(0, AnnualRevenue)), with P80 the
//     80th percentile (nearest rank) of the annual revenue of the tenant's
//     customers with a purchase before the reference time: what the customer
//     would add buying like the tenant's better customers;
//   - SuggestedTier is "VIP" when all three scores are 5, "A" when they sum
//     to 12 or more, "B" when to 8 or more, "C" otherwise, "" when unscored.
//
// Money is in minor units, rounded half away from zero.
type Value struct {
	CustomerID   uuid.UUID
	CurrencyCode string
	Window       Window

	Scored                         bool
	RecencyDays                    int64
	Frequency                      int64
	Monetary                       int64
	RecencyScore, FrequencyScore   int32
	MonetaryScore                  int32
	LifetimeRevenue                int64
	LifetimePurchases              int64
	AverageOrderValue              int64
	FirstPurchaseTime              time.Time
	LastPurchaseTime               time.Time
	AnnualRevenue                  int64
	PredictedValue, PotentialValue int64
	SuggestedTier                  string
}

const day = 24 * time.Hour

// Score turns a rank into a 1–5 score: worse of n customers have a worse value.
func Score(worse, n int) int32 {
	if n == 0 {
		return 0
	}
	return int32(min(5, 1+5*worse/n))
}

// SuggestTier maps RFM scores to a value tier.
func SuggestTier(r, f, m int32) string {
	switch sum := r + f + m; {
	case r == 0:
		return ""
	case r == 5 && f == 5 && m == 5:
		return "VIP"
	case sum >= 12:
		return "A"
	case sum >= 8:
		return "B"
	}
	return "C"
}

func round(x float64) int64 { return int64(math.Round(x)) }

// Compute derives every customer's Value from stats over w.
func Compute(stats []PurchaseStats, currency string, w Window) []Value {
	var recency, freq, money []int64
	var annual []int64
	out := make([]Value, len(stats))
	for i, s := range stats {
		v := Value{CustomerID: s.CustomerID, CurrencyCode: currency, Window: w, Frequency: s.Frequency, Monetary: s.Monetary,
			LifetimeRevenue: s.LifetimeRevenue, LifetimePurchases: s.LifetimePurchases,
			FirstPurchaseTime: s.FirstPurchaseEver, LastPurchaseTime: s.LastPurchaseEver}
		if s.Frequency > 0 {
			v.Scored = true
			v.RecencyDays = int64(w.End.Sub(s.LastPurchase) / day)
			recency = append(recency, v.RecencyDays)
			freq = append(freq, v.Frequency)
			money = append(money, v.Monetary)
		}
		if s.LifetimePurchases > 0 {
			v.AverageOrderValue = round(float64(s.LifetimeRevenue) / float64(s.LifetimePurchases))
			t := max(w.End.Sub(s.FirstPurchaseEver).Hours()/24, 90)
			yearly := float64(s.LifetimeRevenue) * 365 / t
			v.AnnualRevenue = round(yearly)
			gap := t / float64(s.LifetimePurchases)
			silent := w.End.Sub(s.LastPurchaseEver).Hours() / 24
			v.PredictedValue = round(max(0, yearly) * math.Exp(-silent/max(gap, 30)))
			annual = append(annual, v.AnnualRevenue)
		}
		out[i] = v
	}
	slices.Sort(recency)
	slices.Sort(freq)
	slices.Sort(money)
	slices.Sort(annual)
	var p80 int64
	if len(annual) > 0 {
		p80 = annual[int(math.Ceil(0.8*float64(len(annual))))-1]
	}
	n := len(recency)
	for i := range out {
		v := &out[i]
		if v.LifetimePurchases > 0 {
			v.PotentialValue = max(0, p80-max(0, v.AnnualRevenue))
		}
		if !v.Scored {
			continue
		}
		// Worse recency is a larger number of days: those after the last equal one.
		v.RecencyScore = Score(n-sort.Search(n, func(j int) bool { return recency[j] > v.RecencyDays }), n)
		v.FrequencyScore = Score(sort.Search(n, func(j int) bool { return freq[j] >= v.Frequency }), n)
		v.MonetaryScore = Score(sort.Search(n, func(j int) bool { return money[j] >= v.Monetary }), n)
		v.SuggestedTier = SuggestTier(v.RecencyScore, v.FrequencyScore, v.MonetaryScore)
	}
	return out
}

func (s *Service) values(ctx context.Context, tenant uuid.UUID, start, end time.Time, currency string) ([]Value, Window, string, error) {
	w, err := s.window(start, end)
	if err != nil {
		return nil, Window{}, "", err
	}
	if currency != "" && !validCurrency(currency) {
		return nil, Window{}, "", validation.Field("currency_code", "must be an ISO 4217 code of three capital letters")
	}
	key := valueKey{tenant: tenant, currency: currency, w: w}
	now := s.now()
	s.cache.mu.Lock()
	e, ok := s.cache.entries[tenant]
	s.cache.mu.Unlock()
	if ok && e.key == key && now.Before(e.expires) {
		return e.values, w, e.currency, nil
	}
	if currency == "" {
		if currency, err = s.store.MainCurrency(ctx, tenant); err != nil {
			return nil, Window{}, "", err
		}
	}
	stats, err := s.store.PurchaseStats(ctx, tenant, currency, w)
	if err != nil {
		return nil, Window{}, "", err
	}
	vs := Compute(stats, currency, w)
	s.cache.mu.Lock()
	// Expired entries go, so tenants no longer asked about hold no memory.
	for t, old := range s.cache.entries {
		if !now.Before(old.expires) {
			delete(s.cache.entries, t)
		}
	}
	s.cache.entries[tenant] = valueEntry{key: key, currency: currency, values: vs, expires: now.Add(ValueTTL)}
	s.cache.mu.Unlock()
	return vs, w, currency, nil
}

func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range c {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// CustomerValue returns one customer's value figures; a known customer
// without orders gets zero figures.
func (s *Service) CustomerValue(ctx context.Context, caller auth.Caller, customer uuid.UUID, start, end time.Time, currency string) (Value, error) {
	tenant, err := tenantOf(caller, readers)
	if err != nil {
		return Value{}, err
	}
	vs, w, currency, err := s.values(ctx, tenant, start, end, currency)
	if err != nil {
		return Value{}, err
	}
	if i, ok := slices.BinarySearchFunc(vs, customer, func(v Value, id uuid.UUID) int { return compareIDs(v.CustomerID, id) }); ok {
		return vs[i], nil
	}
	if err := s.known(ctx, tenant, customer); err != nil {
		return Value{}, err
	}
	return Value{CustomerID: customer, CurrencyCode: currency, Window: w}, nil
}

func compareIDs(a, b uuid.UUID) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

// ValuePage is a page of value figures.
type ValuePage struct {
	Values        []Value
	NextPageToken string
	// Window and CurrencyCode are the range and currency the figures cover.
	Window       Window
	CurrencyCode string
}

// MaxPageSize caps every list; DefaultPageSize is used when none is asked.
const (
	MaxPageSize     = 1000
	DefaultPageSize = 100
)

func pageSize(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, validation.Field("page_size", "must not be negative")
	case n == 0:
		return DefaultPageSize, nil
	}
	return min(int(n), MaxPageSize), nil
}

// ListValues returns the value figures of every customer with an order in
// the currency before the window's end, by customer id. The figures of the
// whole tenant are computed for each page, so scores stay consistent.
func (s *Service) ListValues(ctx context.Context, caller auth.Caller, start, end time.Time, currency string, size int32, token string) (ValuePage, error) {
	tenant, err := tenantOf(caller, readers)
	if err != nil {
		return ValuePage{}, err
	}
	n, err := pageSize(size)
	if err != nil {
		return ValuePage{}, err
	}
	vs, w, currency, err := s.values(ctx, tenant, start, end, currency)
	if err != nil {
		return ValuePage{}, err
	}
	query := fmt.Sprintf("values %d %d %s", w.Start.UnixNano(), w.End.UnixNano(), currency)
	from := 0
	if token != "" {
		var after uuid.UUID
		if err := pagetoken.Decode(token, query, &after); err != nil {
			return ValuePage{}, validation.Field("page_token", "is not a token from this query; start again without it")
		}
		from, _ = slices.BinarySearchFunc(vs, after, func(v Value, id uuid.UUID) int { return compareIDs(v.CustomerID, id) })
		if from < len(vs) && vs[from].CustomerID == after {
			from++
		}
	}
	page := ValuePage{Window: w, CurrencyCode: currency, Values: vs[from:min(len(vs), from+n)]}
	if from+n < len(vs) {
		if page.NextPageToken, err = pagetoken.Encode(query, page.Values[len(page.Values)-1].CustomerID); err != nil {
			return ValuePage{}, err
		}
	}
	return page, nil
}
