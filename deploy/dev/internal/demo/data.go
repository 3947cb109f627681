package demo

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The data set files Load reads, relative to Options.DataDir.
const (
	accountsFile = "crm-sales-opportunities/accounts.csv"
	productsFile = "crm-sales-opportunities/products.csv"
	pipelineFile = "crm-sales-opportunities/sales_pipeline.csv"
	teamsFile    = "crm-sales-opportunities/sales_teams.csv"
	sellersFile  = "olist/olist_sellers_dataset.csv"
	ticketsFile  = "customer-support-tickets/customer_support_tickets.csv"
)

// Resources as the API takes them (protojson: lowerCamelCase names, enums as
// their names). Output-only fields are left out.
type (
	customer struct {
		Kind           string   `json:"kind"`
		DisplayName    string   `json:"displayName"`
		Email          string   `json:"email,omitempty"`
		LifecycleStage string   `json:"lifecycleStage"`
		Industry       string   `json:"industry,omitempty"`
		CountryCode    string   `json:"countryCode,omitempty"`
		Tags           []string `json:"tags,omitempty"`
		ExternalID     string   `json:"externalId"`
	}
	money struct {
		CurrencyCode string `json:"currencyCode"`
		// protojson writes int64 as a string, and reads either.
		AmountMinor int64 `json:"amountMinor,string"`
	}
	opportunity struct {
		CustomerID        string   `json:"customerId"`
		OwnerID           string   `json:"ownerId,omitempty"`
		OwnerTeamIDs      []string `json:"ownerTeamIds,omitempty"`
		DisplayName       string   `json:"displayName"`
		Amount            money    `json:"amount"`
		Stage             string   `json:"stage"`
		ExpectedCloseDate string   `json:"expectedCloseDate,omitempty"`
		EngageDate        string   `json:"engageDate,omitempty"`
		ExternalID        string   `json:"externalId"`
	}
	lead struct {
		OwnerID     string `json:"ownerId,omitempty"`
		DisplayName string `json:"displayName"`
		Source      string `json:"source"`
		Status      string `json:"status"`
		Territory   string `json:"territory,omitempty"`
		ExternalID  string `json:"externalId"`
	}
	team struct {
		DisplayName string `json:"displayName"`
	}
	principal struct {
		DisplayName string   `json:"displayName"`
		Roles       []string `json:"roles"`
		TeamIDs     []string `json:"teamIds"`
	}
	assignmentRule struct {
		Territory   string   `json:"territory"`
		AssigneeIDs []string `json:"assigneeIds"`
	}
	partner struct {
		DisplayName  string      `json:"displayName"`
		Type         string      `json:"type"`
		Status       string      `json:"status"`
		Region       string      `json:"region,omitempty"`
		City         string      `json:"city,omitempty"`
		ExternalID   string      `json:"externalId"`
		Territories  []territory `json:"territories,omitempty"`
		PostalPrefix string      `json:"postalPrefix,omitempty"`
	}
	territory struct {
		Region string `json:"region"`
	}
	ticket struct {
		CustomerID  string `json:"customerId"`
		Subject     string `json:"subject"`
		Description string `json:"description,omitempty"`
		Priority    string `json:"priority"`
		Status      string `json:"status"`
		Channel     string `json:"channel"`
	}
)

// dataset is everything a load sends, read and mapped before the first
// request so that a fault in the data stops the load before it starts.
type dataset struct {
	accounts  []account
	deals     []deal
	prospects []prospect
	sales     *salesForce
	sellers   []seller
	support   []supportCase
}

// account is a row of accounts.csv as an organisation customer.
type account struct {
	name      string
	requestID string
	customer  customer
}

// deal is a row of sales_pipeline.csv that names an account, as an
// opportunity whose customerId is set once the account's customer exists.
type deal struct {
	account     int // index into dataset.accounts
	agent       int // index into salesForce.agents, -1 for none
	requestID   string
	opportunity opportunity
}

// prospect is a row of sales_pipeline.csv without an account, as a lead:
// the deal was being prospected or engaged before anyone knew which account
// it belonged to, which is what a lead is.
type prospect struct {
	agent     int // index into salesForce.agents, -1 for none
	requestID string
	lead      lead
}

// seller is a row of the Olist sellers as a reseller.
type seller struct {
	requestID string
	partner   partner
}

// supportCase is a row of the support tickets: the person who raised it, and
// the ticket to import, whose customerId is set once the person's customer
// exists.
type supportCase struct {
	personRequestID string
	person          customer
	// ticketExternalID keys the import: a second load finds the ticket.
	ticketExternalID string
	ticket           importedTicket
}

// importedTicket is one row of POST /v1/tickets:import.
type importedTicket struct {
	ExternalID  string `json:"externalId"`
	Ticket      ticket `json:"ticket"`
	CreateTime  string `json:"createTime,omitempty"`
	ResolveTime string `json:"resolveTime,omitempty"`
	CSATScore   int    `json:"csatScore,omitempty"`
}

// readDataset reads the data sets in dir; a limit of 0 reads every row.
func readDataset(dir string, opportunityLimit, partnerLimit, ticketLimit int) (*dataset, error) {
	var missing []string
	for _, f := range []string{accountsFile, productsFile, pipelineFile, teamsFile, sellersFile, ticketsFile} {
		_, err := os.Stat(filepath.Join(dir, f))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, f)
		case err != nil:
			return nil, err
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("demo data directory %s lacks %s", dir, strings.Join(missing, ", "))
	}
	d := &dataset{}
	var err error
	if d.accounts, err = readAccounts(dir); err != nil {
		return nil, err
	}
	products, err := readProducts(dir)
	if err != nil {
		return nil, err
	}
	if d.sales, err = readSalesForce(dir); err != nil {
		return nil, err
	}
	if d.deals, d.prospects, err = readPipeline(dir, d.accounts, products, d.sales, opportunityLimit); err != nil {
		return nil, err
	}
	if d.sellers, err = readSellers(dir, partnerLimit); err != nil {
		return nil, err
	}
	if d.support, err = readSupport(dir, ticketLimit); err != nil {
		return nil, err
	}
	return d, nil
}

// table is a CSV file read whole. Columns are found by their header names,
// so that a re-export with its columns in another order still loads.
type table struct {
	name string
	cols map[string]int
	rows [][]string
}

// readTable reads a CSV file with a header row holding at least columns.
// encoding/csv takes CRLF line endings and quoted newlines in its stride.
func readTable(dir, name string, columns ...string) (*table, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(records) == 0 {
		return nil, fmt.Errorf("read %s: the file is empty", name)
	}
	t := &table{name: name, cols: map[string]int{}, rows: records[1:]}
	for i, h := range records[0] {
		t.cols[strings.TrimSpace(h)] = i
	}
	for _, c := range columns {
		if _, ok := t.cols[c]; !ok {
			return nil, fmt.Errorf("read %s: no column %q", name, c)
		}
	}
	return t, nil
}

// get returns a row's value in a column checked by readTable.
func (t *table) get(row []string, col string) string {
	return strings.TrimSpace(row[t.cols[col]])
}

// rowError reports a fault in the n-th data row (from 1). Messages quote
// codes and category values only, never personal data.
func (t *table) rowError(n int, format string, args ...any) error {
	return fmt.Errorf("%s row %d: %s", t.name, n, fmt.Sprintf(format, args...))
}

// countryCodes maps the office locations of accounts.csv to ISO 3166-1
// alpha-2 codes, checked against the file ("Philipines" is its spelling).
// A location not listed leaves the country empty rather than guessed.
var countryCodes = map[string]string{
	"United States": "US",
	"Belgium":       "BE",
	"Brazil":        "BR",
	"China":         "CN",
	"Germany":       "DE",
	"Italy":         "IT",
	"Japan":         "JP",
	"Jordan":        "JO",
	"Kenya":         "KE",
	"Korea":         "KR",
	"Norway":        "NO",
	"Panama":        "PA",
	"Philipines":    "PH",
	"Poland":        "PL",
	"Romania":       "RO",
}

// sector corrects the sector the data set misspells as "technolgy", a quirk
// its README documents as kept on purpose; other sectors are kept as they are.
func sector(s string) string {
	if s == "technolgy" {
		return "technology"
	}
	return s
}

// readAccounts maps accounts.csv to organisation customers, identified in
// the source system by their names.
func readAccounts(dir string) ([]account, error) {
	t, err := readTable(dir, accountsFile, "account", "sector", "office_location")
	if err != nil {
		return nil, err
	}
	accounts := make([]account, 0, len(t.rows))
	for i, row := range t.rows {
		name, office := t.get(row, "account"), t.get(row, "office_location")
		if name == "" {
			return nil, t.rowError(i+1, "no account name")
		}
		c := customer{
			Kind:           "CUSTOMER_KIND_ORGANIZATION",
			DisplayName:    name,
			LifecycleStage: "LIFECYCLE_STAGE_CUSTOMER",
			Industry:       sector(t.get(row, "sector")),
			CountryCode:    countryCodes[office],
			ExternalID:     name,
		}
		if office != "" {
			c.Tags = []string{office}
		}
		accounts = append(accounts, account{name: name, requestID: "demo-account-" + name, customer: c})
	}
	return accounts, nil
}

// product is a row of products.csv.
type product struct {
	name       string
	priceMinor int64
}

// catalogue finds products by their names without spaces, because the
// pipeline spells "GTX Pro" as "GTXPro" (a documented quirk).
type catalogue map[string]product

func productKey(name string) string { return strings.ReplaceAll(name, " ", "") }

func (c catalogue) lookup(name string) (product, bool) {
	p, ok := c[productKey(name)]
	return p, ok
}

func readProducts(dir string) (catalogue, error) {
	t, err := readTable(dir, productsFile, "product", "sales_price")
	if err != nil {
		return nil, err
	}
	c := catalogue{}
	for i, row := range t.rows {
		price, err := minorUnits(t.get(row, "sales_price"))
		if err != nil {
			return nil, t.rowError(i+1, "sales_price: %v", err)
		}
		name := t.get(row, "product")
		c[productKey(name)] = product{name: name, priceMinor: price}
	}
	return c, nil
}

// stages maps the pipeline's deal stages; "Engaging" is a deal being
// qualified.
var stages = map[string]string{
	"Prospecting": "STAGE_PROSPECTING",
	"Engaging":    "STAGE_QUALIFICATION",
	"Won":         "STAGE_WON",
	"Lost":        "STAGE_LOST",
}

// leadStatuses maps the stages of deals without an account: nobody had
// started on a prospecting one; an engaging one is being worked.
var leadStatuses = map[string]string{
	"Prospecting": "LEAD_STATUS_NEW",
	"Engaging":    "LEAD_STATUS_WORKING",
}

// salesForce is sales_teams.csv: agents, each in a manager's team and a
// regional office. Principals are created for managers (sales managers of
// their team) and agents (sales reps in their manager's team), and each
// office becomes a territory whose leads go round its agents.
type salesForce struct {
	agents   []agent
	managers []string
	offices  []string
	byName   map[string]int // agent name → index
}

type agent struct {
	name, office string
	manager      int // index into managers
}

// readSalesForce reads sales_teams.csv. Request ids use row positions, not
// names, so that errors (which quote request ids) carry no personal data.
func readSalesForce(dir string) (*salesForce, error) {
	t, err := readTable(dir, teamsFile, "sales_agent", "manager", "regional_office")
	if err != nil {
		return nil, err
	}
	sf := &salesForce{byName: map[string]int{}}
	managerIdx := map[string]int{}
	for i, row := range t.rows {
		name, manager, office := t.get(row, "sales_agent"), t.get(row, "manager"), t.get(row, "regional_office")
		if name == "" || manager == "" || office == "" {
			return nil, t.rowError(i+1, "an agent needs a name, a manager and an office")
		}
		m, ok := managerIdx[manager]
		if !ok {
			m = len(sf.managers)
			managerIdx[manager] = m
			sf.managers = append(sf.managers, manager)
		}
		if !slices.Contains(sf.offices, office) {
			sf.offices = append(sf.offices, office)
		}
		sf.byName[name] = len(sf.agents)
		sf.agents = append(sf.agents, agent{name: name, office: office, manager: m})
	}
	return sf, nil
}

// agentOf returns the index of a pipeline row's agent, -1 for an agent not
// in sales_teams.csv (the deal then stays unowned).
func (sf *salesForce) agentOf(name string) int {
	if i, ok := sf.byName[name]; ok {
		return i
	}
	return -1
}

// officeOf is the territory of an agent, "" for none.
func (sf *salesForce) officeOf(agent int) string {
	if agent < 0 {
		return ""
	}
	return sf.agents[agent].office
}

// readPipeline maps the first limit rows of sales_pipeline.csv (all of them
// if limit is 0) to deals. Rows without an account, which the README
// documents for many open deals, become leads (an opportunity needs a
// customer) in the territory of their agent's office; such a row at a
// closed stage would be an error in the data and stops the load.
func readPipeline(dir string, accounts []account, products catalogue, sf *salesForce, limit int) (deals []deal, prospects []prospect, err error) {
	t, err := readTable(dir, pipelineFile, "opportunity_id", "sales_agent", "product", "account", "deal_stage", "engage_date", "close_date", "close_value")
	if err != nil {
		return nil, nil, err
	}
	byName := make(map[string]int, len(accounts))
	for i, a := range accounts {
		byName[a.name] = i
	}
	rows := t.rows
	if limit > 0 && limit < len(rows) {
		rows = rows[:limit]
	}
	for i, row := range rows {
		id, name := t.get(row, "opportunity_id"), t.get(row, "account")
		if id == "" {
			return nil, nil, t.rowError(i+1, "no opportunity_id")
		}
		if name == "" {
			status, err := enumOf(leadStatuses, "deal_stage of a deal without account", t.get(row, "deal_stage"))
			if err != nil {
				return nil, nil, t.rowError(i+1, "%v", err)
			}
			who := sf.agentOf(t.get(row, "sales_agent"))
			prospects = append(prospects, prospect{agent: who, requestID: "demo-lead-" + id, lead: lead{
				DisplayName: t.get(row, "product") + " prospect " + id, Source: "import", Status: status,
				Territory: sf.officeOf(who), ExternalID: id,
			}})
			continue
		}
		acct, ok := byName[name]
		if !ok {
			return nil, nil, t.rowError(i+1, "account %q is not in %s", name, accountsFile)
		}
		p, ok := products.lookup(t.get(row, "product"))
		if !ok {
			return nil, nil, t.rowError(i+1, "product %q is not in %s", t.get(row, "product"), productsFile)
		}
		stage, err := enumOf(stages, "deal_stage", t.get(row, "deal_stage"))
		if err != nil {
			return nil, nil, t.rowError(i+1, "%v", err)
		}
		amount, err := dealAmount(stage, t.get(row, "close_value"), p)
		if err != nil {
			return nil, nil, t.rowError(i+1, "close_value: %v", err)
		}
		deals = append(deals, deal{
			account:   acct,
			agent:     sf.agentOf(t.get(row, "sales_agent")),
			requestID: "demo-opp-" + id,
			opportunity: opportunity{
				DisplayName:       p.name + " for " + name,
				Amount:            money{CurrencyCode: "USD", AmountMinor: amount},
				Stage:             stage,
				ExpectedCloseDate: t.get(row, "close_date"),
				EngageDate:        t.get(row, "engage_date"),
				ExternalID:        id,
			},
		})
	}
	return deals, prospects, nil
}

// dealAmount values a deal in cents. A closed deal is worth what it closed
// at, lost deals 0 as the data has them; an open deal has no close_value
// yet and is valued at its product's list price.
func dealAmount(stage, closeValue string, p product) (int64, error) {
	if stage == "STAGE_WON" || stage == "STAGE_LOST" {
		return minorUnits(closeValue)
	}
	return p.priceMinor, nil
}

// minorUnits converts a non-negative dollar amount with at most two decimals
// ("4821", "12.5") to cents, exactly: no floating point on the way.
func minorUnits(dollars string) (int64, error) {
	whole, frac, dot := strings.Cut(dollars, ".")
	if whole == "" || (dot && frac == "") || len(frac) > 2 || strings.Trim(whole+frac, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not an amount in dollars", dollars)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > (math.MaxInt64-99)/100 {
		return 0, fmt.Errorf("%q is out of range", dollars)
	}
	cents := int64(0)
	if frac != "" {
		frac += strings.Repeat("0", 2-len(frac))
		c, _ := strconv.ParseInt(frac, 10, 64) // two digits, checked above
		cents = c
	}
	return w*100 + cents, nil
}

// readSellers maps the first limit Olist sellers (all if limit is 0) to
// active resellers whose region and territory are their state. The zip code
// prefix stays text, for its leading zeros.
func readSellers(dir string, limit int) ([]seller, error) {
	t, err := readTable(dir, sellersFile, "seller_id", "seller_city", "seller_state", "seller_zip_code_prefix")
	if err != nil {
		return nil, err
	}
	rows := t.rows
	if limit > 0 && limit < len(rows) {
		rows = rows[:limit]
	}
	sellers := make([]seller, 0, len(rows))
	for i, row := range rows {
		id := t.get(row, "seller_id")
		if id == "" {
			return nil, t.rowError(i+1, "no seller_id")
		}
		sellers = append(sellers, seller{
			requestID: "demo-partner-" + id,
			partner: partner{
				DisplayName:  "Seller " + id[:min(8, len(id))],
				Type:         "PARTNER_TYPE_RESELLER",
				Status:       "PARTNER_STATUS_ACTIVE",
				Region:       t.get(row, "seller_state"),
				City:         t.get(row, "seller_city"),
				ExternalID:   id,
				Territories:  []territory{{Region: t.get(row, "seller_state")}},
				PostalPrefix: t.get(row, "seller_zip_code_prefix"),
			},
		})
	}
	return sellers, nil
}

// Ticket fields of the support data set. "Critical" is the API's URGENT.
var (
	priorities = map[string]string{
		"Low":      "PRIORITY_LOW",
		"Medium":   "PRIORITY_MEDIUM",
		"High":     "PRIORITY_HIGH",
		"Critical": "PRIORITY_URGENT",
	}
	channels = map[string]string{
		"Email":        "CHANNEL_EMAIL",
		"Phone":        "CHANNEL_PHONE",
		"Chat":         "CHANNEL_CHAT",
		"Social media": "CHANNEL_SOCIAL",
	}
	ticketStatuses = map[string]string{
		"Open":                      "STATUS_OPEN",
		"Pending Customer Response": "STATUS_PENDING_CUSTOMER",
		"Closed":                    "STATUS_CLOSED",
	}
)

// supportTimeLayout is the layout of the data set's time columns; they carry
// no zone and are read as UTC.
const supportTimeLayout = "2006-01-02 15:04:05"

// readSupport maps the first limit support tickets (all if limit is 0) to
// person customers and the tickets to import, with their status as the
// file has it.
//
// The data set is generated, and its two "time" columns are timestamps, not
// durations, with no creation time; in half the closed rows the resolution
// comes before the first response. So: the ticket is created at "First
// Response Time" (the earliest moment the row knows; its first response
// time is left unset rather than invented), resolved at "Time to
// Resolution" when that is later and at creation otherwise, and without
// either column (open tickets) created when imported. The satisfaction
// rating of a closed ticket becomes its answered CSAT survey. Times taken
// this way say nothing about response or resolution speed: quality figures
// over these tickets describe the import, not a help desk.
func readSupport(dir string, limit int) ([]supportCase, error) {
	t, err := readTable(dir, ticketsFile, "Ticket ID", "Customer Name", "Customer Email", "Ticket Subject",
		"Ticket Description", "Ticket Status", "Ticket Priority", "Ticket Channel", "First Response Time",
		"Time to Resolution", "Customer Satisfaction Rating")
	if err != nil {
		return nil, err
	}
	rows := t.rows
	if limit > 0 && limit < len(rows) {
		rows = rows[:limit]
	}
	cases := make([]supportCase, 0, len(rows))
	for i, row := range rows {
		id := t.get(row, "Ticket ID")
		if id == "" {
			return nil, t.rowError(i+1, "no Ticket ID")
		}
		priority, err := enumOf(priorities, "Ticket Priority", t.get(row, "Ticket Priority"))
		if err != nil {
			return nil, t.rowError(i+1, "%v", err)
		}
		channel, err := enumOf(channels, "Ticket Channel", t.get(row, "Ticket Channel"))
		if err != nil {
			return nil, t.rowError(i+1, "%v", err)
		}
		status, err := enumOf(ticketStatuses, "Ticket Status", t.get(row, "Ticket Status"))
		if err != nil {
			return nil, t.rowError(i+1, "%v", err)
		}
		it := importedTicket{
			ExternalID: "demo-ticket-" + id,
			Ticket: ticket{
				Subject:     t.get(row, "Ticket Subject"),
				Description: t.get(row, "Ticket Description"),
				Priority:    priority,
				Status:      status,
				Channel:     channel,
			},
		}
		if err := it.setTimes(t.get(row, "First Response Time"), t.get(row, "Time to Resolution"), t.get(row, "Customer Satisfaction Rating")); err != nil {
			return nil, t.rowError(i+1, "%v", err)
		}
		cases = append(cases, supportCase{
			personRequestID: "demo-support-customer-" + id,
			person: customer{
				Kind:           "CUSTOMER_KIND_PERSON",
				DisplayName:    t.get(row, "Customer Name"),
				Email:          t.get(row, "Customer Email"),
				LifecycleStage: "LIFECYCLE_STAGE_CUSTOMER",
				ExternalID:     "support-" + id,
			},
			ticketExternalID: it.ExternalID,
			ticket:           it,
		})
	}
	return cases, nil
}

// setTimes applies the documented handling of the time and rating columns
// (see readSupport).
func (it *importedTicket) setTimes(firstResponse, resolution, rating string) error {
	var created time.Time
	if firstResponse != "" {
		at, err := time.Parse(supportTimeLayout, firstResponse)
		if err != nil {
			return fmt.Errorf("First Response Time %q: %w", firstResponse, err)
		}
		created = at.UTC()
		it.CreateTime = created.Format(time.RFC3339)
	}
	if resolution != "" {
		at, err := time.Parse(supportTimeLayout, resolution)
		if err != nil {
			return fmt.Errorf("Time to Resolution %q: %w", resolution, err)
		}
		if at.After(created) && !created.IsZero() {
			it.ResolveTime = at.UTC().Format(time.RFC3339)
		}
	}
	if rating != "" && it.Ticket.Status == "STATUS_CLOSED" {
		score, err := strconv.ParseFloat(rating, 64)
		if err != nil || score < 1 || score > 5 || score != float64(int(score)) {
			return fmt.Errorf("Customer Satisfaction Rating %q is not 1 to 5", rating)
		}
		it.CSATScore = int(score)
	}
	return nil
}

// enumOf maps a category value of the data to its API enum, refusing values
// the mapping does not know rather than guessing.
func enumOf(m map[string]string, column, value string) (string, error) {
	v, ok := m[value]
	if !ok {
		return "", fmt.Errorf("unknown %s %q", column, value)
	}
	return v, nil
}
