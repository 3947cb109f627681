package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/services/partner/internal/dealreg"
	"github.com/rapportcrm/rapport/services/partner/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/partner/internal/postgres"
)

// directory stands in for the customer and pipeline services during the
// deal-registration run: n customers found by exact normalised e-mail, and
// m open opportunities spread over them, in memory, so the figures are the
// partner service's own cost (claims under their locks, the registration,
// its event) and not the peers'.
type directory struct {
	byEmail map[string]uuid.UUID
	opps    map[uuid.UUID][]dealreg.Opportunity
}

func customerEmail(i int) string { return fmt.Sprintf("buyer%d@bench.example", i) }

func newDirectory(customers, opportunities int) *directory {
	d := &directory{byEmail: make(map[string]uuid.UUID, customers), opps: make(map[uuid.UUID][]dealreg.Opportunity, opportunities)}
	ids := make([]uuid.UUID, customers)
	for i := range customers {
		ids[i] = uuid.New()
		d.byEmail[customerEmail(i)] = ids[i]
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range opportunities {
		c := ids[r.IntN(customers)]
		d.opps[c] = append(d.opps[c], dealreg.Opportunity{ID: uuid.New()})
	}
	return d
}

// Match implements dealreg.Customers.
func (d *directory) Match(_ context.Context, p dealreg.Prospect) ([]dealreg.Customer, error) {
	if id, ok := d.byEmail[dealreg.NormalizeEmail(p.Email)]; ok {
		return []dealreg.Customer{{ID: id, Match: "same e-mail"}}, nil
	}
	return nil, nil
}

// Get implements dealreg.Customers.
func (d *directory) Get(context.Context, uuid.UUID) (dealreg.Customer, error) {
	return dealreg.Customer{}, dealreg.ErrCustomerNotFound
}

// Create implements dealreg.Customers; the run approves nothing.
func (d *directory) Create(context.Context, string, dealreg.Prospect) (uuid.UUID, error) {
	return uuid.Nil, dealreg.ErrPeer
}

// LinkPartner implements dealreg.Customers; the run approves nothing.
func (d *directory) LinkPartner(context.Context, uuid.UUID, uuid.UUID) error { return dealreg.ErrPeer }

// Open implements dealreg.Opportunities.
func (d *directory) Open(_ context.Context, customer uuid.UUID) ([]dealreg.Opportunity, error) {
	return d.opps[customer], nil
}

// SetSourcePartner implements dealreg.Opportunities; the run approves nothing.
func (d *directory) SetSourcePartner(context.Context, uuid.UUID, uuid.UUID) error {
	return dealreg.ErrPeer
}

// dealsRun registers n deals from workers at once, each for a random
// partner: half for existing customers (by e-mail; some with open
// opportunities), half for new prospects of which one in five repeats the
// e-mail of one registered just before (a channel conflict when another
// partner registered it).
func dealsRun(ctx context.Context, store *postgres.Store, partners []uuid.UUID, customers, opportunities, n, workers int) error {
	begin := time.Now()
	dir := newDirectory(customers, opportunities)
	fmt.Printf("deal registration: %d customers and %d open opportunities in memory (built in %.1f s), %d registrations, %d workers\n",
		customers, opportunities, time.Since(begin).Seconds(), n, workers)
	h := grpcapi.NewDealRegistrations(dealreg.New(store.DealRegistrations(), dir, dirOpps{dir}, time.Now))
	lat := make([]time.Duration, n)
	conflicts := make([]bool, n)
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	run := uuid.NewString()[:8]
	begin = time.Now()
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for i := range next {
				email := fmt.Sprintf("prospect-%s-%d@new.example", run, i)
				switch {
				case i%2 == 0:
					email = customerEmail(r.IntN(customers))
				case i%10 == 3:
					email = fmt.Sprintf("prospect-%s-%d@new.example", run, i-2)
				}
				t0 := time.Now()
				resp, err := h.CreateDealRegistration(ctx, &partnerv1.CreateDealRegistrationRequest{DealRegistration: &partnerv1.DealRegistration{
					PartnerId: partners[r.IntN(len(partners))].String(), DisplayName: "Bench deal",
					Prospect: &partnerv1.Prospect{Email: email, CompanyName: fmt.Sprintf("Company %s %d", run, i)},
					Amount:   &typesv1.Money{CurrencyCode: "USD", AmountMinor: 100_000}, ExpectedCloseDate: "2027-06-30",
				}})
				lat[i] = time.Since(t0)
				if err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, fmt.Errorf("register deal %d: %w", i, err))
					mu.Unlock()
					continue
				}
				conflicts[i] = resp.GetDealRegistration().GetState() == partnerv1.DealRegistrationState_DEAL_REGISTRATION_STATE_CONFLICT
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	took := time.Since(begin)
	if firstErr != nil {
		return firstErr
	}
	nConflict := 0
	for _, c := range conflicts {
		if c {
			nConflict++
		}
	}
	slices.Sort(lat)
	fmt.Printf("%-18s %7.2f s  %7.1f registrations/s  p50 %s  p99 %s  max %s  (%d in conflict)\n", "registrations", took.Seconds(),
		float64(n)/took.Seconds(), ms(pct(lat, 50)), ms(pct(lat, 99)), ms(lat[len(lat)-1]), nConflict)
	return nil
}

// dirOpps is the directory as dealreg.Opportunities, whose Create differs
// from the customers' in signature.
type dirOpps struct{ *directory }

// Create implements dealreg.Opportunities; the run approves nothing.
func (dirOpps) Create(context.Context, string, dealreg.OpportunityDraft) (uuid.UUID, error) {
	return uuid.Nil, dealreg.ErrPeer
}
