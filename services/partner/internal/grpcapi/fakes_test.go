package grpcapi_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/services/partner/internal/dealreg"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
	"github.com/rapportcrm/rapport/services/partner/internal/scorecard"
)

// clock is the deal registration service's clock, real time plus an offset
// a test can move forward.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// errPeerDown is what a fake peer fails with while down.
var errPeerDown = errors.New("peer down")

// fakeCustomer is a customer record of the fake customer service.
type fakeCustomer struct {
	id                 uuid.UUID
	name, email, phone string
	owner              string
}

// fakeCustomers stands in for the customer service: exact matching on the
// normalised identity, idempotent creates, and partner links.
type fakeCustomers struct {
	mu        sync.Mutex
	customers []fakeCustomer
	created   map[string]uuid.UUID
	links     map[[2]uuid.UUID]bool
	down      bool
}

func newFakeCustomers() *fakeCustomers {
	return &fakeCustomers{created: map[string]uuid.UUID{}, links: map[[2]uuid.UUID]bool{}}
}

func (f *fakeCustomers) add(name, email, phone, owner string) uuid.UUID {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := uuid.Must(uuid.NewV7())
	f.customers = append(f.customers, fakeCustomer{id: id, name: name, email: dealreg.NormalizeEmail(email), phone: dealreg.NormalizePhone(phone), owner: owner})
	return id
}

func (f *fakeCustomers) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *fakeCustomers) linked(customer, partner uuid.UUID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.links[[2]uuid.UUID{customer, partner}]
}

func (f *fakeCustomers) Match(_ context.Context, p dealreg.Prospect) ([]dealreg.Customer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errors.Join(dealreg.ErrPeer, errPeerDown)
	}
	var out []dealreg.Customer
	for _, c := range f.customers {
		switch {
		case p.Email != "" && c.email == dealreg.NormalizeEmail(p.Email):
			out = append(out, dealreg.Customer{ID: c.id, OwnerID: c.owner, Match: "same e-mail"})
		case p.Phone != "" && c.phone == dealreg.NormalizePhone(p.Phone):
			out = append(out, dealreg.Customer{ID: c.id, OwnerID: c.owner, Match: "same phone"})
		case p.CompanyName != "" && c.name == p.CompanyName:
			out = append(out, dealreg.Customer{ID: c.id, OwnerID: c.owner, Match: "same company name"})
		}
	}
	return out, nil
}

func (f *fakeCustomers) Get(_ context.Context, id uuid.UUID) (dealreg.Customer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return dealreg.Customer{}, errors.Join(dealreg.ErrPeer, errPeerDown)
	}
	for _, c := range f.customers {
		if c.id == id {
			return dealreg.Customer{ID: id, OwnerID: c.owner}, nil
		}
	}
	return dealreg.Customer{}, dealreg.ErrCustomerNotFound
}

func (f *fakeCustomers) Create(_ context.Context, requestID string, p dealreg.Prospect) (uuid.UUID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return uuid.Nil, errors.Join(dealreg.ErrPeer, errPeerDown)
	}
	if id, ok := f.created[requestID]; ok {
		return id, nil
	}
	id := uuid.Must(uuid.NewV7())
	f.created[requestID] = id
	f.customers = append(f.customers, fakeCustomer{id: id, name: p.CompanyName, email: dealreg.NormalizeEmail(p.Email), phone: dealreg.NormalizePhone(p.Phone)})
	return id, nil
}

func (f *fakeCustomers) LinkPartner(_ context.Context, customer, partner uuid.UUID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errors.Join(dealreg.ErrPeer, errPeerDown)
	}
	f.links[[2]uuid.UUID{customer, partner}] = true
	return nil
}

// fakeOpportunity is an opportunity of the fake pipeline service.
type fakeOpportunity struct {
	id, customer, source uuid.UUID
	requestID            string
}

// fakeOpportunities stands in for the pipeline service.
type fakeOpportunities struct {
	mu    sync.Mutex
	opps  []fakeOpportunity
	down  bool
	calls int
	// sourced are the opportunities scorecards read, per source partner.
	sourced map[uuid.UUID][]scorecard.Opportunity
}

func newFakeOpportunities() *fakeOpportunities {
	return &fakeOpportunities{sourced: map[uuid.UUID][]scorecard.Opportunity{}}
}

func (f *fakeOpportunities) addSourced(partner string, o scorecard.Opportunity) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := uuid.MustParse(partner)
	f.sourced[id] = append(f.sourced[id], o)
}

func (f *fakeOpportunities) Sourced(_ context.Context, partner uuid.UUID, fn func(scorecard.Opportunity) error) error {
	f.mu.Lock()
	if f.down {
		f.mu.Unlock()
		return errors.Join(finance.ErrPeer, errPeerDown)
	}
	opps := slices.Clone(f.sourced[partner])
	f.mu.Unlock()
	for _, o := range opps {
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeOpportunities) add(customer uuid.UUID) uuid.UUID {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := uuid.Must(uuid.NewV7())
	f.opps = append(f.opps, fakeOpportunity{id: id, customer: customer})
	return id
}

func (f *fakeOpportunities) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *fakeOpportunities) get(id uuid.UUID) (fakeOpportunity, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range f.opps {
		if o.id == id {
			return o, len(f.opps)
		}
	}
	return fakeOpportunity{}, len(f.opps)
}

func (f *fakeOpportunities) Open(_ context.Context, customer uuid.UUID) ([]dealreg.Opportunity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errors.Join(dealreg.ErrPeer, errPeerDown)
	}
	var out []dealreg.Opportunity
	for _, o := range f.opps {
		if o.customer == customer {
			out = append(out, dealreg.Opportunity{ID: o.id, SourcePartnerID: o.source})
		}
	}
	return out, nil
}

func (f *fakeOpportunities) Create(_ context.Context, requestID string, d dealreg.OpportunityDraft) (uuid.UUID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return uuid.Nil, errors.Join(dealreg.ErrPeer, errPeerDown)
	}
	for _, o := range f.opps {
		if o.requestID == requestID {
			return o.id, nil
		}
	}
	id := uuid.Must(uuid.NewV7())
	f.opps = append(f.opps, fakeOpportunity{id: id, customer: d.CustomerID, source: d.PartnerID, requestID: requestID})
	return id, nil
}

func (f *fakeOpportunities) SetSourcePartner(_ context.Context, id, partner uuid.UUID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errors.Join(dealreg.ErrPeer, errPeerDown)
	}
	for i := range f.opps {
		if f.opps[i].id == id {
			f.opps[i].source = partner
			return nil
		}
	}
	return errors.New("no such opportunity")
}

// partnerUser returns a context for a partner user of tenant acting for partner.
func (e *env) partnerUser(t *testing.T, tenant, partner string) context.Context {
	t.Helper()
	now := time.Now()
	tok, err := e.tokens.Sign(auth.Caller{TenantID: tenant, PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RolePartnerUser}, PartnerID: partner},
		now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return grpctest.Bearer(t.Context(), tok)
}

// newPartner creates an active partner of tenant under parent ("" for none).
func (e *env) newPartner(t *testing.T, tenant, name, parent string) string {
	t.Helper()
	resp, err := e.partners.CreatePartner(e.as(t, tenant, auth.RoleAdmin), &partnerv1.CreatePartnerRequest{Partner: &partnerv1.Partner{
		DisplayName: name, Type: partnerv1.PartnerType_PARTNER_TYPE_RESELLER, Status: partnerv1.PartnerStatus_PARTNER_STATUS_ACTIVE, ParentPartnerId: parent,
	}})
	if err != nil {
		t.Fatalf("CreatePartner(%s): %v", name, err)
	}
	return resp.GetPartner().GetPartnerId()
}

// register creates a registration as ctx for partner with prospect p.
func (e *env) register(t *testing.T, ctx context.Context, partner string, p *partnerv1.Prospect) *partnerv1.DealRegistration {
	t.Helper()
	resp, err := e.deals.CreateDealRegistration(ctx, &partnerv1.CreateDealRegistrationRequest{DealRegistration: deal(partner, p)})
	if err != nil {
		t.Fatalf("CreateDealRegistration(%v): %v", p, err)
	}
	return resp.GetDealRegistration()
}

func deal(partner string, p *partnerv1.Prospect) *partnerv1.DealRegistration {
	return &partnerv1.DealRegistration{PartnerId: partner, Prospect: p, DisplayName: "Fleet renewal",
		Amount: &typesv1.Money{CurrencyCode: "USD", AmountMinor: 1_500_000}, ExpectedCloseDate: "2027-03-31"}
}

// fakeOrders stands in for the sales-pipeline service's attributed orders:
// placed orders per partner, filtered by order time.
type fakeOrders struct {
	mu     sync.Mutex
	orders map[uuid.UUID][]finance.Order
	down   bool
}

func newFakeOrders() *fakeOrders { return &fakeOrders{orders: map[uuid.UUID][]finance.Order{}} }

func (f *fakeOrders) add(partner string, o finance.Order) uuid.UUID {
	f.mu.Lock()
	defer f.mu.Unlock()
	o.ID = uuid.Must(uuid.NewV7())
	id := uuid.MustParse(partner)
	f.orders[id] = append(f.orders[id], o)
	return o.ID
}

func (f *fakeOrders) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *fakeOrders) Attributed(_ context.Context, partner uuid.UUID, from, to time.Time, fn func(finance.Order) error) error {
	f.mu.Lock()
	if f.down {
		f.mu.Unlock()
		return errors.Join(finance.ErrPeer, errPeerDown)
	}
	var in []finance.Order
	for _, o := range f.orders[partner] {
		if !o.Time.Before(from) && o.Time.Before(to) {
			in = append(in, o)
		}
	}
	f.mu.Unlock()
	for _, o := range in {
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}
