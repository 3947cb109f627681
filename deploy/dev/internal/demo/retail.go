package demo

import (
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // Europe/London for the invoice times, on machines without a zoneinfo database
)

// The Online Retail invoices become orders through the public API, with the
// data set's quirks handled as follows (see the data README):
//
//   - every StockCode becomes a product (SKU = the code, case kept: "M" and
//     "m" are two codes), named by its first non-empty Description; the
//     non-goods codes (POST, BANK CHARGES, AMAZONFEE, D for discount…) are
//     products too, as the invoices charge them like goods;
//   - every CustomerID is a person customer with external id "retail-<id>",
//     the record the customer import (Import) makes: found by that id when
//     it exists, created in the same shape otherwise;
//   - an invoice is one order: "C…" invoices are returns (quantities stated
//     positive, total negative), "A…" invoices are bad-debt adjustments
//     (no lines, the signed amount), the rest sales;
//   - lines without a CustomerID are guest orders, kept as revenue of no
//     customer;
//   - zero prices are free goods, kept; the four prices given to a tenth of
//     a penny are rounded to the nearest penny;
//   - exact duplicate lines are kept: the invoice charged them twice;
//   - lines of ordinary invoices with a negative quantity are stock
//     write-offs ("damaged", "lost"), not customer transactions: they are
//     counted in RetailStats.StockWriteOffs and not sent.
//
// Invoice times are UK local time and are sent as the instants they name.

// RetailStats counts what a retail load sent, and what it left out.
type RetailStats struct {
	Products, Customers int
	// Sales, Returns and Adjustments count the orders of each kind;
	// GuestOrders those of them without a customer.
	Sales, Returns, Adjustments, GuestOrders int
	// Lines is the number of order lines sent.
	Lines int
	// StockWriteOffs is the number of write-off lines left out, over every
	// row read; InvoicesOnlyWriteOffs the invoices that held nothing else
	// and so became no order.
	StockWriteOffs, InvoicesOnlyWriteOffs int
	Elapsed                               time.Duration
}

// RowsPerSecond is the import rate of invoice lines.
func (s RetailStats) RowsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Lines) / s.Elapsed.Seconds()
}

type (
	retailProduct struct {
		Sku         string `json:"sku"`
		DisplayName string `json:"displayName"`
	}
	orderLine struct {
		ProductID      string `json:"productId"`
		Quantity       int64  `json:"quantity,string"`
		UnitPriceMinor int64  `json:"unitPriceMinor,string"`
	}
	order struct {
		OrderNumber     string      `json:"orderNumber"`
		Kind            string      `json:"kind"`
		CustomerID      string      `json:"customerId,omitempty"`
		CurrencyCode    string      `json:"currencyCode"`
		Lines           []orderLine `json:"lines,omitempty"`
		AdjustmentMinor int64       `json:"adjustmentMinor,string,omitempty"`
		OrderTime       string      `json:"orderTime"`
		Country         string      `json:"country,omitempty"`
		ExternalID      string      `json:"externalId"`
	}
)

// invoice is one invoice of the file; lines hold stock codes until the
// products exist.
type invoice struct {
	order    order
	customer string // CustomerID, "" for a guest
	codes    []string
}

// invoiceData is the file read and mapped.
type invoiceData struct {
	products  map[string]string // code → display name
	customers []string
	invoices  []invoice
	writeOffs int
	onlyOffs  int
}

var productsColl = collection{"/v1/products", "productId"}
var ordersColl = collection{"/v1/orders", "orderId"}

// LoadRetail imports the first limit invoices of the Online Retail data set
// (all when limit is 0) as products, customers and orders through the API,
// idempotently (request ids derive from codes and invoice numbers).
func LoadRetail(ctx context.Context, o Options, limit int) (RetailStats, error) {
	start := time.Now()
	o, err := o.withDefaults()
	if err != nil {
		return RetailStats{}, err
	}
	d, err := readInvoices(o.DataDir, limit)
	if err != nil {
		return RetailStats{}, err
	}
	c := &client{http: o.Client, baseURL: o.BaseURL, auth: "Bearer " + o.APIKey}
	var mu sync.Mutex
	productIDs, customerIDs := map[string]string{}, map[string]string{}
	var jobs []job
	for code, name := range d.products {
		jobs = append(jobs, func(ctx context.Context) error {
			id, err := c.create(ctx, productsColl, "retail-product-"+code, retailProduct{Sku: code, DisplayName: name})
			mu.Lock()
			productIDs[code] = id
			mu.Unlock()
			return err
		})
	}
	for _, cust := range d.customers {
		jobs = append(jobs, func(ctx context.Context) error {
			// The customer import (Import) may have brought the customer
			// already, under the same external id: use that record.
			external := "retail-" + cust
			id, err := c.findID(ctx, customers, "customers", "external_id = "+strconv.Quote(external))
			if err == nil && id == "" {
				id, err = c.create(ctx, customers, "retail-customer-"+cust, customer{Kind: "CUSTOMER_KIND_PERSON",
					DisplayName: "Online Retail customer " + cust, LifecycleStage: "LIFECYCLE_STAGE_CUSTOMER", ExternalID: external})
			}
			mu.Lock()
			customerIDs[cust] = id
			mu.Unlock()
			return err
		})
	}
	st := RetailStats{Products: len(d.products), Customers: len(d.customers), StockWriteOffs: d.writeOffs, InvoicesOnlyWriteOffs: d.onlyOffs}
	if err := runAll(ctx, o.Concurrency, jobs); err != nil {
		return st, err
	}
	jobs = jobs[:0]
	for _, inv := range d.invoices {
		ord := inv.order
		ord.CustomerID = customerIDs[inv.customer]
		ord.Lines = append([]orderLine(nil), inv.order.Lines...)
		for i, code := range inv.codes {
			ord.Lines[i].ProductID = productIDs[code]
		}
		switch ord.Kind {
		case "ORDER_KIND_SALE":
			st.Sales++
		case "ORDER_KIND_RETURN":
			st.Returns++
		default:
			st.Adjustments++
		}
		if ord.CustomerID == "" {
			st.GuestOrders++
		}
		st.Lines += len(ord.Lines)
		jobs = append(jobs, func(ctx context.Context) error {
			_, err := c.create(ctx, ordersColl, "retail-order-"+ord.OrderNumber, ord)
			return err
		})
	}
	err = runAll(ctx, o.Concurrency, jobs)
	st.Elapsed = time.Since(start)
	return st, err
}

// readInvoices reads and maps the first limit invoices (all when 0).
func readInvoices(dir string, limit int) (*invoiceData, error) {
	f, err := os.Open(filepath.Join(dir, retailFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", retailFile, err)
	}
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(gz)
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", retailFile, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	for _, c := range []string{"InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"} {
		if _, ok := col[c]; !ok {
			return nil, fmt.Errorf("read %s: no column %q", retailFile, c)
		}
	}
	d := &invoiceData{products: map[string]string{}}
	byNumber := map[string]int{}
	offsOf := map[string]bool{}
	seenCustomer := map[string]bool{}
	for n := 1; ; n++ {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", retailFile, err)
		}
		get := func(c string) string { return strings.TrimSpace(row[col[c]]) }
		no, code := get("InvoiceNo"), get("StockCode")
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%s row %d (invoice %s): %s", retailFile, n, no, fmt.Sprintf(format, args...))
		}
		qty, err := strconv.ParseInt(get("Quantity"), 10, 64)
		if err != nil {
			return nil, fail("Quantity %q is not an integer", get("Quantity"))
		}
		price, err := pence(get("UnitPrice"))
		if err != nil {
			return nil, fail("UnitPrice: %v", err)
		}
		at, err := time.ParseInLocation(time.DateTime, get("InvoiceDate"), london)
		if err != nil {
			return nil, fail("InvoiceDate %q is not YYYY-MM-DD HH:MM:SS", get("InvoiceDate"))
		}
		kind := "ORDER_KIND_SALE"
		switch {
		case strings.HasPrefix(no, "C"):
			kind, qty = "ORDER_KIND_RETURN", -qty
		case strings.HasPrefix(no, "A"):
			kind = "ORDER_KIND_ADJUSTMENT"
		}
		if kind == "ORDER_KIND_SALE" && qty < 0 {
			d.writeOffs++
			if _, ok := byNumber[no]; !ok {
				offsOf[no] = true
			}
			continue
		}
		if kind != "ORDER_KIND_ADJUSTMENT" && qty <= 0 {
			return nil, fail("quantity %d on a %s", qty, kind)
		}
		i, ok := byNumber[no]
		if !ok {
			if limit > 0 && len(d.invoices) == limit {
				continue
			}
			delete(offsOf, no)
			i = len(d.invoices)
			byNumber[no] = i
			cust := get("CustomerID")
			if cust != "" && !seenCustomer[cust] {
				seenCustomer[cust] = true
				d.customers = append(d.customers, cust)
			}
			d.invoices = append(d.invoices, invoice{customer: cust, order: order{OrderNumber: no, Kind: kind, CurrencyCode: "GBP",
				OrderTime: at.UTC().Format(time.RFC3339), Country: get("Country"), ExternalID: no}})
		}
		inv := &d.invoices[i]
		if kind == "ORDER_KIND_ADJUSTMENT" {
			inv.order.AdjustmentMinor += qty * price
			continue
		}
		if price < 0 {
			return nil, fail("negative UnitPrice on a %s", kind)
		}
		if name := get("Description"); d.products[code] == "" {
			d.products[code] = name
		}
		inv.codes = append(inv.codes, code)
		inv.order.Lines = append(inv.order.Lines, orderLine{Quantity: qty, UnitPriceMinor: price})
	}
	for code, name := range d.products {
		if name == "" {
			d.products[code] = code
		}
	}
	d.onlyOffs = len(offsOf)
	return d, nil
}

// pence converts a pound amount such as "2.55", "-11062.06" or "0.001" to
// pence, rounding half away from zero (four prices are given to a tenth of
// a penny).
func pence(pounds string) (int64, error) {
	r, ok := new(big.Rat).SetString(pounds)
	if !ok || strings.ContainsAny(pounds, "eE/") {
		return 0, fmt.Errorf("%q is not an amount in pounds", pounds)
	}
	r.Mul(r, big.NewRat(100, 1))
	half := big.NewRat(1, 2)
	if r.Sign() < 0 {
		half.Neg(half)
	}
	r.Add(r, half)
	n := new(big.Int).Quo(r.Num(), r.Denom())
	if !n.IsInt64() {
		return 0, fmt.Errorf("%q is out of range", pounds)
	}
	return n.Int64(), nil
}
