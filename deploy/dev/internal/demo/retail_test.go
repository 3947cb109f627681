package demo

import (
	"testing"
	"time"
)

func TestPence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"2.55", 255, false},
		{"0", 0, false},
		{"1.5", 150, false},
		{"0.001", 0, false},
		{"0.005", 1, false},
		{"-11062.06", -1106206, false},
		{"1e3", 0, true},
		{"1/2", 0, true},
		{"abc", 0, true},
	}
	for _, tt := range tests {
		got, err := pence(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("pence(%q) = %d, %v; want %d, error %t", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestReadInvoices(t *testing.T) {
	t.Parallel()
	d, err := readInvoices(dataDir(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	// Figures of the data set (README: 541,909 lines, 25,900 invoice numbers).
	kinds := map[string]int{}
	lines, guests := 0, 0
	for _, inv := range d.invoices {
		kinds[inv.order.Kind]++
		lines += len(inv.order.Lines)
		if inv.customer == "" {
			guests++
		}
		if len(inv.codes) != len(inv.order.Lines) {
			t.Fatalf("invoice %s: %d codes for %d lines", inv.order.OrderNumber, len(inv.codes), len(inv.order.Lines))
		}
		switch inv.order.Kind {
		case "ORDER_KIND_ADJUSTMENT":
			if len(inv.order.Lines) != 0 || inv.order.AdjustmentMinor == 0 {
				t.Errorf("adjustment %+v", inv.order)
			}
		default:
			if len(inv.order.Lines) == 0 {
				t.Errorf("%s without lines", inv.order.OrderNumber)
			}
			for _, l := range inv.order.Lines {
				if l.Quantity <= 0 || l.UnitPriceMinor < 0 {
					t.Fatalf("%s line %+v", inv.order.OrderNumber, l)
				}
			}
		}
		if _, err := time.Parse(time.RFC3339, inv.order.OrderTime); err != nil {
			t.Fatalf("%s order time %q", inv.order.OrderNumber, inv.order.OrderTime)
		}
	}
	if len(d.invoices)+d.onlyOffs != 25900 {
		t.Errorf("%d orders + %d write-off-only invoices, want 25900 invoices", len(d.invoices), d.onlyOffs)
	}
	if kinds["ORDER_KIND_ADJUSTMENT"] != 3 || kinds["ORDER_KIND_RETURN"] == 0 || len(d.customers) != 4372 || d.writeOffs != 1336 {
		t.Errorf("kinds %v, %d customers, %d write-offs; want 3 adjustments, returns, 4372 customers, 1336 write-offs", kinds, len(d.customers), d.writeOffs)
	}
	if lines+d.writeOffs+3 != 541909 {
		t.Errorf("%d lines + %d write-offs + 3 adjustment lines, want the file's 541909", lines, d.writeOffs)
	}
	for code, name := range d.products {
		if name == "" || code == "" {
			t.Fatalf("product %q named %q", code, name)
		}
	}
	// The first sale of the file, in UK winter time (UTC).
	first := d.invoices[0].order
	if first.OrderNumber != "536365" || first.OrderTime != "2010-12-01T08:26:00Z" || first.Lines[0].UnitPriceMinor != 255 {
		t.Errorf("first invoice = %+v", first)
	}
	t.Logf("%d orders (%v, %d guest), %d lines, %d products, %d customers, %d write-offs (%d invoices of only those)",
		len(d.invoices), kinds, guests, lines, len(d.products), len(d.customers), d.writeOffs, d.onlyOffs)

	limited, err := readInvoices(dataDir(t), 10)
	if err != nil || len(limited.invoices) != 10 {
		t.Errorf("readInvoices(limit 10) = %d invoices, %v", len(limited.invoices), err)
	}
}
