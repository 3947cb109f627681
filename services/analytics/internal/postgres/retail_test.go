package postgres_test

import (
	"compress/gzip"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
	"github.com/rapportcrm/rapport/services/analytics/internal/insight"
)

// retailInvoice is one invoice of the Online Retail data set as an order.
type retailInvoice struct {
	number, customer string
	at               time.Time
	ret              bool
	value            int64
	products         []string
}

// retailSlice reads the invoices of customers whose CustomerID is below
// maxCustomer, mapped as the demo's retail import maps them: "C" invoices
// are returns, negative lines of other invoices are stock write-offs and
// left out, prices are rounded to the penny.
func retailSlice(t *testing.T, maxCustomer int) []retailInvoice {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "..", "..", "..", "shared", "data", "online-retail", "online_retail.csv.gz"))
	if err != nil {
		t.Fatalf("the shared Online Retail data set is missing: %v", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(gz)
	if _, err := r.Read(); err != nil {
		t.Fatal(err)
	}
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	byNumber := map[string]*retailInvoice{}
	var order []string
	for {
		rec, err := r.Read()
		if err != nil {
			break
		}
		no, code, qtyS, dateS, priceS, cust := rec[0], rec[1], rec[3], rec[4], rec[5], rec[6]
		id, err := strconv.Atoi(strings.TrimSpace(cust))
		if err != nil || id >= maxCustomer || strings.HasPrefix(no, "A") {
			continue
		}
		qty, err1 := strconv.ParseInt(qtyS, 10, 64)
		price, err2 := strconv.ParseFloat(priceS, 64)
		at, err3 := time.ParseInLocation("2006-01-02 15:04:05", dateS, london)
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("bad row %v", rec)
		}
		ret := strings.HasPrefix(no, "C")
		if !ret && qty < 0 {
			continue
		}
		inv := byNumber[no]
		if inv == nil {
			inv = &retailInvoice{number: no, customer: cust, at: at, ret: ret}
			byNumber[no] = inv
			order = append(order, no)
		}
		inv.value += qty * int64(math.Round(price*100))
		inv.products = append(inv.products, code)
	}
	out := make([]retailInvoice, len(order))
	for i, no := range order {
		out[i] = *byNumber[no]
	}
	return out
}

var retailNamespace = uuid.MustParse("0b8f0a3e-3f71-4a5c-9a43-5d8e4b1c2a77")

func retailID(kind, key string) uuid.UUID { return uuid.NewSHA1(retailNamespace, []byte(kind+":"+key)) }

// TestValueAgainstOnlineRetail loads a slice of the Online Retail invoices
// as order events and checks every value figure against one computed here
// from the file with the definitions the API documents.
func TestValueAgainstOnlineRetail(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	tenant := uuid.New()
	invoices := retailSlice(t, 12750)
	pipe := &stream{tenant: tenant, source: "pipeline"}
	for _, inv := range invoices {
		kind := analytics.OrderKindSale
		if inv.ret {
			kind = analytics.OrderKindReturn
		}
		o := &analytics.Order{ID: retailID("order", inv.number), CustomerID: retailID("customer", inv.customer), Number: inv.number,
			Kind: kind, Status: analytics.OrderStatusPlaced, Value: analytics.Money{CurrencyCode: "GBP", AmountMinor: inv.value}, OrderTime: inv.at}
		for _, p := range inv.products {
			o.Products = append(o.Products, analytics.OrderLine{ProductID: retailID("product", p), Quantity: 1})
		}
		apply(t, s, pipe.fact("order.created", analytics.Fact{Order: o}, 0))
	}

	w := insight.Window{Start: time.Date(2011, 6, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2011, 12, 10, 0, 0, 0, 0, time.UTC)}
	stats, err := s.PurchaseStats(t.Context(), tenant, "GBP", w)
	if err != nil {
		t.Fatal(err)
	}
	got := map[uuid.UUID]insight.Value{}
	for _, v := range insight.Compute(stats, "GBP", w) {
		got[v.CustomerID] = v
	}

	// The expected figures, from the invoices alone.
	type figures struct {
		freq, money, lifeRev, lifeN   int64
		last, first, lastEver         time.Time
		recency, annual, pred, potent int64
		r, f, m                       int32
	}
	want := map[string]*figures{}
	for _, inv := range invoices {
		if !inv.at.Before(w.End) {
			continue
		}
		x := want[inv.customer]
		if x == nil {
			x = &figures{}
			want[inv.customer] = x
		}
		x.lifeRev += inv.value
		inWindow := !inv.at.Before(w.Start)
		if inWindow {
			x.money += inv.value
		}
		if inv.ret {
			continue
		}
		x.lifeN++
		if x.first.IsZero() || inv.at.Before(x.first) {
			x.first = inv.at
		}
		if inv.at.After(x.lastEver) {
			x.lastEver = inv.at
		}
		if inWindow {
			x.freq++
			if inv.at.After(x.last) {
				x.last = inv.at
			}
		}
	}
	var annuals []int64
	for _, x := range want {
		if x.freq > 0 {
			x.recency = int64(math.Floor(w.End.Sub(x.last).Hours() / 24))
		}
		if x.lifeN > 0 {
			days := math.Max(w.End.Sub(x.first).Hours()/24, 90)
			yearly := float64(x.lifeRev) * 365 / days
			x.annual = int64(math.Round(yearly))
			silent := w.End.Sub(x.lastEver).Hours() / 24
			x.pred = int64(math.Round(math.Max(0, yearly) * math.Exp(-silent/math.Max(days/float64(x.lifeN), 30))))
			annuals = append(annuals, x.annual)
		}
	}
	sort.Slice(annuals, func(i, j int) bool { return annuals[i] < annuals[j] })
	p80 := annuals[int(math.Ceil(0.8*float64(len(annuals))))-1]
	scored := 0
	for _, x := range want {
		if x.freq > 0 {
			scored++
		}
	}
	for _, x := range want {
		if x.lifeN > 0 {
			x.potent = max(0, p80-max(0, x.annual))
		}
		if x.freq == 0 {
			continue
		}
		var worseR, worseF, worseM int
		for _, y := range want {
			if y.freq == 0 {
				continue
			}
			if y.recency > x.recency {
				worseR++
			}
			if y.freq < x.freq {
				worseF++
			}
			if y.money < x.money {
				worseM++
			}
		}
		score := func(worse int) int32 { return int32(math.Min(5, 1+math.Floor(5*float64(worse)/float64(scored)))) }
		x.r, x.f, x.m = score(worseR), score(worseF), score(worseM)
	}
	if len(got) != len(want) || scored < 100 {
		t.Fatalf("value figures for %d customers, want %d (%d scored)", len(got), len(want), scored)
	}
	var tiers [6]int
	for cust, x := range want {
		v, ok := got[retailID("customer", cust)]
		if !ok {
			t.Fatalf("no value figures for customer %s", cust)
		}
		gotF := figures{freq: v.Frequency, money: v.Monetary, lifeRev: v.LifetimeRevenue, lifeN: v.LifetimePurchases,
			recency: v.RecencyDays, annual: v.AnnualRevenue, pred: v.PredictedValue, potent: v.PotentialValue,
			r: v.RecencyScore, f: v.FrequencyScore, m: v.MonetaryScore, first: v.FirstPurchaseTime, lastEver: v.LastPurchaseTime, last: x.last}
		if math.Abs(float64(gotF.pred-x.pred)) <= 1 {
			gotF.pred = x.pred
		}
		if !gotF.first.Equal(x.first) || !gotF.lastEver.Equal(x.lastEver) {
			t.Fatalf("customer %s: purchases %v–%v, want %v–%v", cust, gotF.first, gotF.lastEver, x.first, x.lastEver)
		}
		gotF.first, gotF.lastEver = x.first, x.lastEver
		if gotF != *x {
			t.Fatalf("customer %s: figures\n got %+v\nwant %+v", cust, gotF, *x)
		}
		if v.Scored != (x.freq > 0) || v.SuggestedTier != insight.SuggestTier(x.r, x.f, x.m) {
			t.Fatalf("customer %s: scored %v tier %q", cust, v.Scored, v.SuggestedTier)
		}
		tiers[x.r]++
	}
	t.Logf("Online Retail slice: %d invoices, %d customers, %d scored; recency score counts %v; P80 annual revenue %d pence",
		len(invoices), len(want), scored, tiers[1:], p80)
}
