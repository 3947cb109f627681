// Package demo loads demo data into a running Rapport suite through its
// public REST API, from the real data sets in the shared data directory (see
// its README.md): the accounts and sales pipeline of "CRM Sales
// Opportunities" become organisation customers and opportunities (and the
// deals without an account leads in their agent's office), the Olist
// sellers become resellers, and the first rows of the support ticket data set
// become person customers with their tickets.
//
// Every create carries a request_id derived from the source row, and the
// server answers a repeated request_id with the record it first created, so
// loading twice creates nothing new and a failed load can simply be rerun.
package demo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for the zero values of Options.
const (
	defaultTicketLimit = 500
	defaultConcurrency = 8
	defaultTimeout     = 30 * time.Second
)

// Options configure a load.
type Options struct {
	// BaseURL is the REST edge, for example http://127.0.0.1:8080. Required.
	BaseURL string
	// APIKey is sent as a bearer token with every call. Required.
	APIKey string
	// DataDir holds crm-sales-opportunities/, olist/ and
	// customer-support-tickets/. Required.
	DataDir string
	// OpportunityLimit caps the rows read from sales_pipeline.csv, with or
	// without an account; 0 reads them all.
	OpportunityLimit int
	// PartnerLimit caps the sellers loaded; 0 loads them all.
	PartnerLimit int
	// TicketLimit caps the support tickets loaded; 0 means 500.
	TicketLimit int
	// Concurrency is the number of requests in flight; 0 means 8.
	Concurrency int
	// Client makes the calls; nil means a client with a 30-second timeout.
	Client *http.Client
}

// Stats counts what a load sent. The counts are of records the server
// acknowledged, so a repeated load reports the same figures although it
// creates nothing new.
type Stats struct {
	// Customers is the number of organisation customers, one per account.
	Customers int
	// Opportunities is the number of opportunities.
	Opportunities int
	// OpportunitiesWithoutAccount is the number of pipeline rows that name
	// no account; an opportunity needs a customer, so each became a lead.
	OpportunitiesWithoutAccount int
	// Leads is the number of leads, one per pipeline row without account.
	Leads int
	// Teams is the number of sales teams, one per manager; Principals the
	// managers and agents, each in their team; AssignmentRules one per office.
	Teams, Principals, AssignmentRules int
	// Partners is the number of resellers.
	Partners int
	// SupportCustomers is the number of person customers from the tickets.
	SupportCustomers int
	// Tickets is the number of tickets.
	Tickets int
	// Elapsed is the time the load took.
	Elapsed time.Duration
}

// Load reads the data sets in o.DataDir and creates their records through the
// API. Accounts are created before the opportunities that need them; all
// else runs o.Concurrency requests at a time. Unavailable or overloaded
// responses and connection errors are retried a few times with backoff; any
// other error stops the load and is returned with the counts reached so far.
// Nothing is sent when an option is invalid or the data cannot be read.
func Load(ctx context.Context, o Options) (Stats, error) {
	start := time.Now()
	o, err := o.withDefaults()
	if err != nil {
		return Stats{}, err
	}
	d, err := readDataset(o.DataDir, o.OpportunityLimit, o.PartnerLimit, o.TicketLimit)
	if err != nil {
		return Stats{}, err
	}
	l := &loader{
		client:     &client{http: o.Client, baseURL: o.BaseURL, auth: "Bearer " + o.APIKey},
		accountIDs: make([]string, len(d.accounts)),
		teamIDs:    make([]string, len(d.sales.managers)),
		agentIDs:   make([]string, len(d.sales.agents)),
		sales:      d.sales,
	}
	stats := func() Stats {
		s := l.n.snapshot()
		s.OpportunitiesWithoutAccount = len(d.prospects)
		s.Elapsed = time.Since(start)
		return s
	}

	// The sales force first: teams, then their people, then the rules and
	// accounts that name them; each phase needs the ids of the one before.
	var jobs []job
	for i := range d.sales.managers {
		jobs = append(jobs, l.team(i))
	}
	if err := runAll(ctx, o.Concurrency, jobs); err != nil {
		return stats(), err
	}
	jobs = jobs[:0]
	for i := range d.sales.managers {
		jobs = append(jobs, l.manager(i))
	}
	for i := range d.sales.agents {
		jobs = append(jobs, l.agent(i))
	}
	if err := runAll(ctx, o.Concurrency, jobs); err != nil {
		return stats(), err
	}
	jobs = jobs[:0]
	for i := range d.sales.offices {
		jobs = append(jobs, l.rule(i))
	}
	for i, a := range d.accounts {
		jobs = append(jobs, l.account(i, a))
	}
	if err := runAll(ctx, o.Concurrency, jobs); err != nil {
		return stats(), err
	}
	// The kinds are interleaved so that a refusal of any of them shows in
	// the first requests rather than after thousands of the others.
	jobs = jobs[:0]
	for i := range max(len(d.deals), len(d.prospects), len(d.sellers), len(d.support)) {
		if i < len(d.deals) {
			jobs = append(jobs, l.deal(d.deals[i]))
		}
		if i < len(d.prospects) {
			jobs = append(jobs, l.prospect(d.prospects[i]))
		}
		if i < len(d.sellers) {
			jobs = append(jobs, l.seller(d.sellers[i]))
		}
		if i < len(d.support) {
			jobs = append(jobs, l.supportCase(d.support[i]))
		}
	}
	err = runAll(ctx, o.Concurrency, jobs)
	return stats(), err
}

// job is one unit of work for runAll.
type job func(context.Context) error

// loader makes the jobs of a load.
type loader struct {
	client *client
	n      counts
	// accountIDs holds the customer id of each account, by index. Each
	// account job writes only its own slot, and runAll returns only after
	// every job has finished, so the deal jobs read them safely. teamIDs
	// (by manager) and agentIDs (by agent) are filled the same way.
	accountIDs, teamIDs, agentIDs []string
	sales                         *salesForce
}

func (l *loader) team(i int) job {
	return func(ctx context.Context) error {
		id, err := l.client.create(ctx, teams, fmt.Sprintf("demo-team-%d", i), team{DisplayName: l.sales.managers[i] + "'s team"})
		if err != nil {
			return err
		}
		l.teamIDs[i] = id
		l.n.teams.Add(1)
		return nil
	}
}

func (l *loader) manager(i int) job {
	return func(ctx context.Context) error {
		_, err := l.client.create(ctx, principals, fmt.Sprintf("demo-manager-%d", i), principal{
			DisplayName: l.sales.managers[i], Roles: []string{"ROLE_SALES_MANAGER"}, TeamIDs: []string{l.teamIDs[i]}})
		if err != nil {
			return err
		}
		l.n.principals.Add(1)
		return nil
	}
}

func (l *loader) agent(i int) job {
	return func(ctx context.Context) error {
		a := l.sales.agents[i]
		id, err := l.client.create(ctx, principals, fmt.Sprintf("demo-agent-%d", i), principal{
			DisplayName: a.name, Roles: []string{"ROLE_SALES_REP"}, TeamIDs: []string{l.teamIDs[a.manager]}})
		if err != nil {
			return err
		}
		l.agentIDs[i] = id
		l.n.principals.Add(1)
		return nil
	}
}

// rule routes the new unowned leads of an office round its agents.
func (l *loader) rule(i int) job {
	return func(ctx context.Context) error {
		office := l.sales.offices[i]
		var ids []string
		for k, a := range l.sales.agents {
			if a.office == office {
				ids = append(ids, l.agentIDs[k])
			}
		}
		if _, err := l.client.create(ctx, assignmentRules, fmt.Sprintf("demo-rule-%d", i), assignmentRule{Territory: office, AssigneeIDs: ids}); err != nil {
			return err
		}
		l.n.rules.Add(1)
		return nil
	}
}

// owner is the principal and team of an agent, empty for none.
func (l *loader) owner(agent int) (id string, teams []string) {
	if agent < 0 {
		return "", nil
	}
	return l.agentIDs[agent], []string{l.teamIDs[l.sales.agents[agent].manager]}
}

func (l *loader) account(i int, a account) job {
	return func(ctx context.Context) error {
		id, err := l.client.create(ctx, customers, a.requestID, a.customer)
		if err != nil {
			return err
		}
		l.accountIDs[i] = id
		l.n.customers.Add(1)
		return nil
	}
}

func (l *loader) deal(d deal) job {
	return func(ctx context.Context) error {
		opp := d.opportunity
		opp.CustomerID = l.accountIDs[d.account]
		// The admin loading states the agent's team: the deal is the agent's.
		opp.OwnerID, opp.OwnerTeamIDs = l.owner(d.agent)
		if _, err := l.client.create(ctx, opportunities, d.requestID, opp); err != nil {
			return err
		}
		l.n.opportunities.Add(1)
		return nil
	}
}

func (l *loader) prospect(p prospect) job {
	return func(ctx context.Context) error {
		ld := p.lead
		ld.OwnerID, _ = l.owner(p.agent)
		if _, err := l.client.create(ctx, leads, p.requestID, ld); err != nil {
			return err
		}
		l.n.leads.Add(1)
		return nil
	}
}

func (l *loader) seller(s seller) job {
	return func(ctx context.Context) error {
		if _, err := l.client.create(ctx, partners, s.requestID, s.partner); err != nil {
			return err
		}
		l.n.partners.Add(1)
		return nil
	}
}

// supportCase creates the person, then imports the ticket that needs the
// person's id. The import is keyed on the ticket's external id, so a rerun
// or retry finds the ticket it made.
func (l *loader) supportCase(sc supportCase) job {
	return func(ctx context.Context) error {
		id, err := l.client.create(ctx, customers, sc.personRequestID, sc.person)
		if err != nil {
			return err
		}
		l.n.supportCustomers.Add(1)
		it := sc.ticket
		it.Ticket.CustomerID = id
		if _, err := l.client.createAt(ctx, ticketImports, sc.ticketExternalID, map[string]any{"tickets": []importedTicket{it}}, firstImported); err != nil {
			return err
		}
		l.n.tickets.Add(1)
		return nil
	}
}

// firstImported reads the ticket id of an import's one result.
func firstImported(resp map[string]any) string {
	results, _ := resp["results"].([]any)
	if len(results) != 1 {
		return ""
	}
	r, _ := results[0].(map[string]any)
	id, _ := r["ticketId"].(string)
	return id
}

// withDefaults checks o and fills in the defaults of its zero values.
func (o Options) withDefaults() (Options, error) {
	u, err := url.Parse(o.BaseURL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return o, fmt.Errorf("demo BaseURL %q is not an http(s) URL", o.BaseURL)
	case o.APIKey == "":
		return o, errors.New("demo APIKey is required")
	case o.DataDir == "":
		return o, errors.New("demo DataDir is required")
	case o.OpportunityLimit < 0 || o.PartnerLimit < 0 || o.TicketLimit < 0 || o.Concurrency < 0:
		return o, errors.New("demo limits and concurrency must not be negative")
	}
	if o.TicketLimit == 0 {
		o.TicketLimit = defaultTicketLimit
	}
	if o.Concurrency == 0 {
		o.Concurrency = defaultConcurrency
	}
	if o.Client == nil {
		o.Client = defaultClient(o.Concurrency)
	}
	return o, nil
}

// defaultClient keeps an idle connection per worker: the standard transport
// keeps two per host, so the other workers would open a new connection for
// nearly every request.
func defaultClient(workers int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = workers
	return &http.Client{Timeout: defaultTimeout, Transport: t}
}

// counts are the Stats counters, safe to bump from the workers.
type counts struct {
	customers, opportunities, leads, partners, supportCustomers, tickets atomic.Int64
	teams, principals, rules                                             atomic.Int64
}

func (n *counts) snapshot() Stats {
	return Stats{
		Customers:        int(n.customers.Load()),
		Opportunities:    int(n.opportunities.Load()),
		Leads:            int(n.leads.Load()),
		Teams:            int(n.teams.Load()),
		Principals:       int(n.principals.Load()),
		AssignmentRules:  int(n.rules.Load()),
		Partners:         int(n.partners.Load()),
		SupportCustomers: int(n.supportCustomers.Load()),
		Tickets:          int(n.tickets.Load()),
	}
}

// runAll runs the jobs on up to workers goroutines and returns the first
// error. The first failure cancels the jobs in flight and starts no more, so
// a refused request stops the load at once instead of repeating for every
// row.
func runAll(ctx context.Context, workers int, jobs []job) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		once  sync.Once
		first error
		wg    sync.WaitGroup
	)
	next := make(chan job)
	for range min(workers, len(jobs)) {
		wg.Go(func() {
			for job := range next {
				if err := job(ctx); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		})
	}
feed:
	for _, job := range jobs {
		select {
		case next <- job:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
