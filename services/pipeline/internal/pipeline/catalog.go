package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Product is something the tenant sells.
type Product struct {
	ID          uuid.UUID
	SKU         string
	DisplayName string
	Active      bool
	CreateTime  time.Time
	UpdateTime  time.Time
	Revision    int64
}

// Etag is the opaque concurrency token of the product's current revision.
func (p Product) Etag() string { return strconv.FormatInt(p.Revision, 10) }

// Resource is the product's resource name.
func (p Product) Resource() string { return "products/" + p.ID.String() }

// Price is a product's unit price in a price list from ValidFrom on.
type Price struct {
	ProductID uuid.UUID
	// ValidFrom is a calendar date, "YYYY-MM-DD".
	ValidFrom      string
	UnitPriceMinor int64
}

// PriceList holds dated prices in one currency.
type PriceList struct {
	ID           uuid.UUID
	DisplayName  string
	CurrencyCode string
	Prices       []Price
	CreateTime   time.Time
	UpdateTime   time.Time
	Revision     int64
}

// Etag is the opaque concurrency token of the price list's current revision.
func (l PriceList) Etag() string { return strconv.FormatInt(l.Revision, 10) }

// Resource is the price list's resource name.
func (l PriceList) Resource() string { return "priceLists/" + l.ID.String() }

// Errors of products and price lists.
var (
	ErrProductNotFound   = errors.New("product not found")
	ErrPriceListNotFound = errors.New("price list not found")
	// ErrSKUTaken means another product of the tenant has the SKU.
	ErrSKUTaken = errors.New("another product has this SKU")
	// ErrPriceProduct means a price names a product that does not exist.
	ErrPriceProduct = errors.New("a price names a product that does not exist")
)

// Events of products and price lists.
const (
	EventProductCreated   = "product.created"
	EventProductUpdated   = "product.updated"
	EventPriceListCreated = "price_list.created"
	EventPriceListUpdated = "price_list.updated"
)

const (
	maxSKU    = 64
	maxPrices = 10000
)

func (p *Product) normalize() {
	p.SKU = strings.TrimSpace(p.SKU)
	p.DisplayName = strings.TrimSpace(p.DisplayName)
}

func (p Product) validate(prefix string, v *validation.Error) {
	switch {
	case p.SKU == "":
		v.Add(prefix+"sku", "is required")
	case utf8.RuneCountInString(p.SKU) > maxSKU:
		v.Add(prefix+"sku", "must be at most %d characters", maxSKU)
	}
	switch {
	case p.DisplayName == "":
		v.Add(prefix+"display_name", "is required")
	case utf8.RuneCountInString(p.DisplayName) > maxName:
		v.Add(prefix+"display_name", "must be at most %d characters", maxName)
	}
}

func (l *PriceList) normalize() {
	l.DisplayName = strings.TrimSpace(l.DisplayName)
	l.CurrencyCode = strings.ToUpper(strings.TrimSpace(l.CurrencyCode))
	for i := range l.Prices {
		l.Prices[i].ValidFrom = strings.TrimSpace(l.Prices[i].ValidFrom)
	}
}

func (l PriceList) validate(prefix string, v *validation.Error) {
	switch {
	case l.DisplayName == "":
		v.Add(prefix+"display_name", "is required")
	case utf8.RuneCountInString(l.DisplayName) > maxName:
		v.Add(prefix+"display_name", "must be at most %d characters", maxName)
	}
	validateCurrency(l.CurrencyCode, prefix+"currency_code", v)
	if len(l.Prices) > maxPrices {
		v.Add(prefix+"prices", "must hold at most %d prices", maxPrices)
	}
	type key struct {
		product uuid.UUID
		date    string
	}
	seen := map[key]bool{}
	for i, p := range l.Prices {
		f := fmt.Sprintf("%sprices[%d].", prefix, i)
		if p.ProductID == uuid.Nil {
			v.Add(f+"product_id", "is required")
		}
		if p.ValidFrom == "" {
			v.Add(f+"valid_from", "is required")
		}
		validDate(p.ValidFrom, f+"valid_from", v)
		if p.UnitPriceMinor < 0 {
			v.Add(f+"unit_price_minor", "must not be negative")
		}
		k := key{p.ProductID, p.ValidFrom}
		if seen[k] {
			v.Add(f+"valid_from", "repeats another price of the product on the same date")
		}
		seen[k] = true
	}
}

// CatalogStore keeps products and price lists.
type CatalogStore interface {
	// CreateProduct inserts p, or returns the product an earlier create with
	// the same non-empty requestID made; a taken SKU is ErrSKUTaken.
	CreateProduct(ctx context.Context, caller auth.Caller, p Product, requestID string) (Product, error)
	GetProduct(ctx context.Context, caller auth.Caller, id uuid.UUID) (Product, error)
	ListProducts(ctx context.Context, caller auth.Caller, pageSize int, pageToken, filter string) (ProductPage, error)
	// MutateProduct applies m under a row lock and saves the product.
	MutateProduct(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(p *Product) error) (Product, error)
	// CreatePriceList inserts l with its prices, or returns the list an
	// earlier create with the same non-empty requestID made.
	CreatePriceList(ctx context.Context, caller auth.Caller, l PriceList, requestID string) (PriceList, error)
	// GetPriceList returns a price list with its prices.
	GetPriceList(ctx context.Context, caller auth.Caller, id uuid.UUID) (PriceList, error)
	// ListPriceLists lists price lists newest first, without prices.
	ListPriceLists(ctx context.Context, caller auth.Caller, pageSize int, pageToken, filter string) (PriceListPage, error)
	// MutatePriceList applies m under a row lock and saves the list and
	// (when pricesChanged) its prices.
	MutatePriceList(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(l *PriceList) (pricesChanged bool, err error)) (PriceList, error)
}

// ProductPage is one page of products.
type ProductPage struct {
	Products      []Product
	NextPageToken string
}

// PriceListPage is one page of price lists.
type PriceListPage struct {
	PriceLists    []PriceList
	NextPageToken string
}

// CreateProduct validates and stores a new, active product.
func (s *Service) CreateProduct(ctx context.Context, caller auth.Caller, p Product, requestID string) (Product, error) {
	if err := allow(caller, catalogWriters); err != nil {
		return Product{}, err
	}
	p.normalize()
	v := &validation.Error{}
	p.validate("product.", v)
	checkRequestID(requestID, v)
	if err := v.Err(); err != nil {
		return Product{}, err
	}
	p.ID, p.Active = uuid.Must(uuid.NewV7()), true
	return s.store.CreateProduct(ctx, caller, p, requestID)
}

// GetProduct returns a product.
func (s *Service) GetProduct(ctx context.Context, caller auth.Caller, id uuid.UUID) (Product, error) {
	if err := allow(caller, readers); err != nil {
		return Product{}, err
	}
	return s.store.GetProduct(ctx, caller, id)
}

// ListProducts returns a page of products, newest first.
func (s *Service) ListProducts(ctx context.Context, caller auth.Caller, pageSize int, pageToken, filter string) (ProductPage, error) {
	if err := allow(caller, readers); err != nil {
		return ProductPage{}, err
	}
	n, err := pageSizeOf(pageSize)
	if err != nil {
		return ProductPage{}, err
	}
	return s.store.ListProducts(ctx, caller, n, pageToken, filter)
}

var productUpdatable = []string{"sku", "display_name", "active"}

// UpdateProduct changes the fields in mask to in's values.
func (s *Service) UpdateProduct(ctx context.Context, caller auth.Caller, in Product, mask []string, etag string) (Product, error) {
	if err := allow(caller, catalogWriters); err != nil {
		return Product{}, err
	}
	if err := checkMask(mask, productUpdatable); err != nil {
		return Product{}, err
	}
	return s.store.MutateProduct(ctx, caller, in.ID, func(p *Product) error {
		if err := checkEtag(p.Etag(), etag); err != nil {
			return err
		}
		for _, f := range mask {
			switch f {
			case "sku":
				p.SKU = in.SKU
			case "display_name":
				p.DisplayName = in.DisplayName
			case "active":
				p.Active = in.Active
			}
		}
		p.normalize()
		v := &validation.Error{}
		p.validate("product.", v)
		return v.Err()
	})
}

// CreatePriceList validates and stores a new price list.
func (s *Service) CreatePriceList(ctx context.Context, caller auth.Caller, l PriceList, requestID string) (PriceList, error) {
	if err := allow(caller, catalogWriters); err != nil {
		return PriceList{}, err
	}
	l.normalize()
	v := &validation.Error{}
	l.validate("price_list.", v)
	checkRequestID(requestID, v)
	if err := v.Err(); err != nil {
		return PriceList{}, err
	}
	l.ID = uuid.Must(uuid.NewV7())
	return s.store.CreatePriceList(ctx, caller, l, requestID)
}

// GetPriceList returns a price list with its prices.
func (s *Service) GetPriceList(ctx context.Context, caller auth.Caller, id uuid.UUID) (PriceList, error) {
	if err := allow(caller, readers); err != nil {
		return PriceList{}, err
	}
	return s.store.GetPriceList(ctx, caller, id)
}

// ListPriceLists returns a page of price lists, newest first.
func (s *Service) ListPriceLists(ctx context.Context, caller auth.Caller, pageSize int, pageToken, filter string) (PriceListPage, error) {
	if err := allow(caller, readers); err != nil {
		return PriceListPage{}, err
	}
	n, err := pageSizeOf(pageSize)
	if err != nil {
		return PriceListPage{}, err
	}
	return s.store.ListPriceLists(ctx, caller, n, pageToken, filter)
}

// UpdatePriceList changes the display name or replaces the prices.
func (s *Service) UpdatePriceList(ctx context.Context, caller auth.Caller, in PriceList, mask []string, etag string) (PriceList, error) {
	if err := allow(caller, catalogWriters); err != nil {
		return PriceList{}, err
	}
	if err := checkMask(mask, []string{"display_name", "prices"}); err != nil {
		return PriceList{}, err
	}
	return s.store.MutatePriceList(ctx, caller, in.ID, func(l *PriceList) (bool, error) {
		if err := checkEtag(l.Etag(), etag); err != nil {
			return false, err
		}
		changed := false
		for _, f := range mask {
			switch f {
			case "display_name":
				l.DisplayName = in.DisplayName
			case "prices":
				l.Prices, changed = in.Prices, true
			}
		}
		l.normalize()
		v := &validation.Error{}
		l.validate("price_list.", v)
		return changed, v.Err()
	})
}
