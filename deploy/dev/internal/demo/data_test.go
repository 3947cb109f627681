package demo

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dataDir is the shared data folder beside the repository root. The tests
// need the real files, so a missing folder fails them rather than skipping.
func dataDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "..", "..", "shared", "data")
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		t.Fatalf("the shared data sets are missing (expected beside the repository root): %v", err)
	}
	return dir
}

// rawLines returns a file's data lines without header or line endings: the
// plain-text pass the tests check the CSV parsing against.
func rawLines(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\r\n"), "\n")
	for i := range lines {
		lines[i] = strings.TrimSuffix(lines[i], "\r")
	}
	return lines[1:]
}

// fields splits a line of a file known to hold no commas inside values.
func fields(t *testing.T, line string, n int) []string {
	t.Helper()
	f := strings.Split(line, ",")
	if len(f) != n {
		t.Fatalf("line %q has %d fields, want %d", line, len(f), n)
	}
	for i := range f {
		f[i] = strings.Trim(f[i], `"`)
	}
	return f
}

func TestReadAccounts(t *testing.T) {
	accounts, err := readAccounts(dataDir(t))
	if err != nil {
		t.Fatal(err)
	}
	raw := rawLines(t, accountsFile)
	if len(accounts) != len(raw) {
		t.Fatalf("read %d accounts, the file has %d rows", len(accounts), len(raw))
	}
	technology := 0
	for i, line := range raw {
		f := fields(t, line, 7)
		name, sec, office := f[0], f[1], f[5]
		if sec == "technolgy" || sec == "technology" {
			technology++
		}
		a := accounts[i]
		c := a.customer
		if a.name != name || c.DisplayName != name || c.ExternalID != name || a.requestID != "demo-account-"+name {
			t.Errorf("row %d: account %+v, want name %q", i+1, a, name)
		}
		if c.Kind != "CUSTOMER_KIND_ORGANIZATION" || c.LifecycleStage != "LIFECYCLE_STAGE_CUSTOMER" {
			t.Errorf("row %d: kind %s, stage %s", i+1, c.Kind, c.LifecycleStage)
		}
		if len(c.Tags) != 1 || c.Tags[0] != office {
			t.Errorf("row %d: tags %q, want [%q]", i+1, c.Tags, office)
		}
		// Every office location of the file is one the mapping knows.
		if c.CountryCode == "" {
			t.Errorf("row %d: office location %q has no country code", i+1, office)
		}
		if c.Industry == "technolgy" {
			t.Errorf("row %d: the misspelt sector was not corrected", i+1)
		}
	}
	if technology == 0 {
		t.Fatal("the file has no technology sector; the test needs revisiting")
	}
	got := 0
	for _, a := range accounts {
		if a.customer.Industry == "technology" {
			got++
		}
	}
	if got != technology {
		t.Errorf("%d technology accounts, the file has %d (either spelling)", got, technology)
	}
	t.Logf("%d accounts, %d in technology", len(accounts), technology)
}

func TestCountryCodes(t *testing.T) {
	for office, want := range map[string]string{
		"United States": "US", "Philipines": "PH", "Kenya": "KE", "Japan": "JP", "Italy": "IT",
		"Norway": "NO", "Korea": "KR", "Jordan": "JO", "Brazil": "BR", "Germany": "DE",
		"Panama": "PA", "China": "CN", "Belgium": "BE", "Poland": "PL", "Romania": "RO",
		"Atlantis": "", "": "",
	} {
		if got := countryCodes[office]; got != want {
			t.Errorf("countryCodes[%q] = %q, want %q", office, got, want)
		}
	}
}

func TestSector(t *testing.T) {
	for in, want := range map[string]string{"technolgy": "technology", "technology": "technology", "medical": "medical", "": ""} {
		if got := sector(in); got != want {
			t.Errorf("sector(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestProductLookup(t *testing.T) {
	products, err := readProducts(dataDir(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"GTXPro", "GTX Pro"} {
		p, ok := products.lookup(name)
		if !ok || p.name != "GTX Pro" || p.priceMinor != 482100 {
			t.Errorf("lookup(%q) = %+v, %v; want GTX Pro at 482100", name, p, ok)
		}
	}
	if p, ok := products.lookup("GTX"); ok {
		t.Errorf("lookup(GTX) = %+v, want no product", p)
	}
	raw := rawLines(t, productsFile)
	if len(products) != len(raw) {
		t.Errorf("%d products, the file has %d rows", len(products), len(raw))
	}
	for _, line := range raw {
		f := fields(t, line, 3)
		dollars, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if p, ok := products.lookup(f[0]); !ok || p.name != f[0] || p.priceMinor != dollars*100 {
			t.Errorf("lookup(%q) = %+v, %v; want price %d", f[0], p, ok, dollars*100)
		}
	}
}

func TestMinorUnits(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1054": 105400, "4821": 482100, "12.5": 1250, "12.34": 1234, "0.07": 7, "007": 700} {
		if got, err := minorUnits(in); err != nil || got != want {
			t.Errorf("minorUnits(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "+1", "1.234", "1.", ".5", "abc", "1e3", "1,000", "99999999999999999999"} {
		if got, err := minorUnits(in); err == nil {
			t.Errorf("minorUnits(%q) = %d, want an error", in, got)
		}
	}
}

func TestDealAmount(t *testing.T) {
	p := product{name: "GTX Pro", priceMinor: 482100}
	for _, c := range []struct {
		stage, closeValue string
		want              int64
	}{
		{"STAGE_WON", "4514", 451400},
		{"STAGE_LOST", "0", 0},
		{"STAGE_PROSPECTING", "", 482100},
		{"STAGE_QUALIFICATION", "", 482100},
	} {
		if got, err := dealAmount(c.stage, c.closeValue, p); err != nil || got != c.want {
			t.Errorf("dealAmount(%s, %q) = %d, %v; want %d", c.stage, c.closeValue, got, err, c.want)
		}
	}
	if _, err := dealAmount("STAGE_WON", "", p); err == nil {
		t.Error("a won deal without close_value was accepted")
	}
}

func TestMappings(t *testing.T) {
	for _, c := range []struct {
		m        map[string]string
		from, to string
		known    bool
	}{
		{stages, "Prospecting", "STAGE_PROSPECTING", true},
		{stages, "Engaging", "STAGE_QUALIFICATION", true},
		{stages, "Won", "STAGE_WON", true},
		{stages, "Lost", "STAGE_LOST", true},
		{stages, "won", "", false},
		{priorities, "Low", "PRIORITY_LOW", true},
		{priorities, "Medium", "PRIORITY_MEDIUM", true},
		{priorities, "High", "PRIORITY_HIGH", true},
		{priorities, "Critical", "PRIORITY_URGENT", true},
		{priorities, "Urgent", "", false},
		{channels, "Email", "CHANNEL_EMAIL", true},
		{channels, "Phone", "CHANNEL_PHONE", true},
		{channels, "Chat", "CHANNEL_CHAT", true},
		{channels, "Social media", "CHANNEL_SOCIAL", true},
		{channels, "Fax", "", false},
		{ticketStatuses, "Open", "STATUS_OPEN", true},
		{ticketStatuses, "Pending Customer Response", "STATUS_PENDING_CUSTOMER", true},
		{ticketStatuses, "Closed", "STATUS_CLOSED", true},
		{ticketStatuses, "Resolved", "", false},
	} {
		got, err := enumOf(c.m, "column", c.from)
		if (err == nil) != c.known || got != c.to {
			t.Errorf("enumOf(%q) = %q, %v; want %q", c.from, got, err, c.to)
		}
	}
}

// pipelineRow is a row of sales_pipeline.csv as the plain-text pass reads it.
type pipelineRow struct {
	id, product, account, stage, engageDate, closeDate, closeValue string
}

func rawPipeline(t *testing.T) []pipelineRow {
	var rows []pipelineRow
	for _, line := range rawLines(t, pipelineFile) {
		f := fields(t, line, 8)
		rows = append(rows, pipelineRow{id: f[0], product: f[2], account: f[3], stage: f[4], engageDate: f[5], closeDate: f[6], closeValue: f[7]})
	}
	return rows
}

// offices reads the sales force, failing the test if it cannot.
func offices(t *testing.T, dir string) *salesForce {
	t.Helper()
	sf, err := readSalesForce(dir)
	// The data set: 35 agents under 6 managers in 3 offices.
	if err != nil || len(sf.agents) != 35 || len(sf.managers) != 6 || len(sf.offices) != 3 {
		t.Fatalf("readSalesForce = %+v, %v; want 35 agents, 6 managers, 3 offices", sf, err)
	}
	return sf
}

func TestReadPipeline(t *testing.T) {
	dir := dataDir(t)
	accounts, err := readAccounts(dir)
	if err != nil {
		t.Fatal(err)
	}
	products, err := readProducts(dir)
	if err != nil {
		t.Fatal(err)
	}
	deals, prospects, err := readPipeline(dir, accounts, products, offices(t, dir), 0)
	without := len(prospects)
	if err != nil {
		t.Fatal(err)
	}

	// Expectations from the plain-text pass: list prices by name without
	// spaces, closed deals at their close_value.
	prices := map[string]int64{}
	for _, line := range rawLines(t, productsFile) {
		f := fields(t, line, 3)
		dollars, _ := strconv.ParseInt(f[2], 10, 64)
		prices[strings.ReplaceAll(f[0], " ", "")] = dollars * 100
	}
	stageNames := map[string]string{"Prospecting": "STAGE_PROSPECTING", "Engaging": "STAGE_QUALIFICATION", "Won": "STAGE_WON", "Lost": "STAGE_LOST"}
	raw := rawPipeline(t)
	want := map[string]pipelineRow{}
	wantWithout := 0
	var wantWon, wantOpen int64
	for _, r := range raw {
		if r.account == "" {
			wantWithout++
			continue
		}
		want[r.id] = r
		switch r.stage {
		case "Won":
			v, err := strconv.ParseInt(r.closeValue, 10, 64)
			if err != nil {
				t.Fatalf("opportunity %s: close_value %q", r.id, r.closeValue)
			}
			wantWon += v * 100
		case "Prospecting", "Engaging":
			price, ok := prices[strings.ReplaceAll(r.product, " ", "")]
			if !ok {
				t.Fatalf("opportunity %s: product %q not in products.csv", r.id, r.product)
			}
			wantOpen += price
		}
	}
	if len(deals) != len(want) || without != wantWithout {
		t.Fatalf("read %d opportunities and %d without account; the file has %d and %d", len(deals), without, len(want), wantWithout)
	}

	var won, open int64
	lost, gtxPro := 0, 0
	seen := map[string]bool{}
	for _, d := range deals {
		o := d.opportunity
		r, ok := want[o.ExternalID]
		if !ok || seen[o.ExternalID] {
			t.Fatalf("opportunity %q is not a row with an account, or read twice", o.ExternalID)
		}
		seen[o.ExternalID] = true
		if d.requestID != "demo-opp-"+r.id || accounts[d.account].name != r.account {
			t.Errorf("%s: request id %q, account %q; want account %q", r.id, d.requestID, accounts[d.account].name, r.account)
		}
		if o.Stage != stageNames[r.stage] || o.ExpectedCloseDate != r.closeDate || o.EngageDate != r.engageDate || o.Amount.CurrencyCode != "USD" {
			t.Errorf("%s: %+v from row %+v", r.id, o, r)
		}
		if !strings.HasSuffix(o.DisplayName, " for "+r.account) {
			t.Errorf("%s: display name %q", r.id, o.DisplayName)
		}
		switch r.stage {
		case "Won":
			won += o.Amount.AmountMinor
		case "Lost":
			lost++
			if o.Amount.AmountMinor != 0 {
				t.Errorf("%s: lost deal worth %d", r.id, o.Amount.AmountMinor)
			}
		default:
			open += o.Amount.AmountMinor
			if o.ExpectedCloseDate != "" {
				t.Errorf("%s: open deal with close date %q", r.id, o.ExpectedCloseDate)
			}
		}
		if r.product == "GTXPro" {
			gtxPro++
			if o.DisplayName != "GTX Pro for "+r.account {
				t.Errorf("%s: display name %q", r.id, o.DisplayName)
			}
		}
	}
	if won != wantWon || open != wantOpen {
		t.Errorf("won deals worth %d, open %d (cents); the file says %d and %d", won, open, wantWon, wantOpen)
	}
	for _, p := range prospects {
		if (p.lead.Status != "LEAD_STATUS_NEW" && p.lead.Status != "LEAD_STATUS_WORKING") || p.lead.Territory == "" ||
			p.lead.ExternalID == "" || p.requestID != "demo-lead-"+p.lead.ExternalID || p.lead.Source != "import" {
			t.Errorf("deal without account as lead = %+v", p)
		}
	}
	if gtxPro == 0 || lost == 0 || without == 0 {
		t.Errorf("the file's quirks are gone (GTXPro %d, lost %d, without account %d); the test needs revisiting", gtxPro, lost, without)
	}
	t.Logf("%d pipeline rows: %d opportunities with an account (%d GTXPro, %d lost), %d without; won $%d, open $%d at list price",
		len(raw), len(deals), gtxPro, lost, without, won/100, open/100)
}

func TestReadPipelineLimit(t *testing.T) {
	dir := dataDir(t)
	accounts, err := readAccounts(dir)
	if err != nil {
		t.Fatal(err)
	}
	products, err := readProducts(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw := rawPipeline(t)
	for _, limit := range []int{1, 40, 1000, len(raw) + 1} {
		deals, prospects, err := readPipeline(dir, accounts, products, offices(t, dir), limit)
		without := len(prospects)
		if err != nil {
			t.Fatal(err)
		}
		wantWithout := 0
		for _, r := range raw[:min(limit, len(raw))] {
			if r.account == "" {
				wantWithout++
			}
		}
		if len(deals)+without != min(limit, len(raw)) || without != wantWithout {
			t.Errorf("limit %d: %d opportunities, %d without account; want %d without, %d in all", limit, len(deals), without, wantWithout, min(limit, len(raw)))
		}
	}
}

func TestReadSellers(t *testing.T) {
	dir := dataDir(t)
	sellers, err := readSellers(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	raw := rawLines(t, sellersFile)
	if len(sellers) != len(raw) {
		t.Fatalf("read %d sellers, the file has %d rows", len(sellers), len(raw))
	}
	commas := 0
	for i, line := range raw {
		// A few quoted cities hold commas; zip prefix and state never do.
		f := strings.Split(line, ",")
		if len(f) < 4 {
			t.Fatalf("line %q has %d fields", line, len(f))
		}
		id, zip, city, state := strings.Trim(f[0], `"`), strings.Trim(f[1], `"`), strings.Trim(strings.Join(f[2:len(f)-1], ","), `"`), f[len(f)-1]
		if strings.Contains(city, ",") {
			commas++
		}
		p := sellers[i].partner
		if p.ExternalID != id || sellers[i].requestID != "demo-partner-"+id || p.DisplayName != "Seller "+id[:8] ||
			p.City != city || p.Region != state || p.Type != "PARTNER_TYPE_RESELLER" || p.Status != "PARTNER_STATUS_ACTIVE" ||
			p.PostalPrefix != zip || len(p.Territories) != 1 || p.Territories[0].Region != state {
			t.Errorf("row %d: %+v from %q", i+1, sellers[i], line)
		}
	}
	// The first row's id is quoted in the file; the parser unquotes it.
	if strings.Contains(sellers[0].partner.ExternalID, `"`) {
		t.Errorf("first seller id %q kept its quotes", sellers[0].partner.ExternalID)
	}
	some, err := readSellers(dir, 20)
	if err != nil || len(some) != 20 {
		t.Errorf("readSellers(limit 20) = %d sellers, %v", len(some), err)
	}
	t.Logf("%d sellers, %d with commas in the city", len(sellers), commas)
}

// ticketStart matches the first line of a support ticket record: id, name,
// e-mail and age. Continuation lines of quoted descriptions do not match.
var ticketStart = regexp.MustCompile(`^([0-9]+),[^,"]*,[^,"@]+@[^,"]+,[0-9]+,`)

func TestReadSupport(t *testing.T) {
	dir := dataDir(t)
	cases, err := readSupport(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, line := range rawLines(t, ticketsFile) {
		if m := ticketStart.FindStringSubmatch(line); m != nil {
			ids = append(ids, m[1])
		}
	}
	if len(cases) != len(ids) {
		t.Fatalf("read %d tickets, the file has %d records", len(cases), len(ids))
	}
	multiline := 0
	for i, c := range cases {
		id := ids[i]
		if c.person.ExternalID != "support-"+id || c.personRequestID != "demo-support-customer-"+id || c.ticketExternalID != "demo-ticket-"+id {
			t.Fatalf("record %d: ids %q, %q, %q; want ticket %s", i+1, c.person.ExternalID, c.personRequestID, c.ticketExternalID, id)
		}
		if c.person.Kind != "CUSTOMER_KIND_PERSON" || c.person.DisplayName == "" || !strings.Contains(c.person.Email, "@") {
			t.Errorf("ticket %s: person without kind, name or e-mail", id)
		}
		if c.ticket.Ticket.Subject == "" || c.ticket.Ticket.Priority == "" || c.ticket.Ticket.Status == "" || c.ticket.Ticket.Channel == "" {
			t.Errorf("ticket %s: %+v", id, c.ticket)
		}
		if strings.Contains(c.ticket.Ticket.Description, "\n") {
			multiline++
		}
	}
	if multiline == 0 {
		t.Error("no description kept its line breaks")
	}
	// The first record, as the file has it.
	first := cases[0]
	if first.person.DisplayName != "Marisa Obrien" || first.person.Email != "carrollallison@example.com" ||
		first.ticket.Ticket.Subject != "Product setup" || first.ticket.Ticket.Priority != "PRIORITY_URGENT" ||
		first.ticket.Ticket.Channel != "CHANNEL_SOCIAL" || first.ticket.Ticket.Status != "STATUS_PENDING_CUSTOMER" ||
		!strings.HasPrefix(first.ticket.Ticket.Description, "I'm having an issue") || first.ticket.CreateTime != "2023-06-01T12:15:36Z" {
		t.Errorf("first ticket: %+v", first)
	}
	some, err := readSupport(dir, 10)
	if err != nil || len(some) != 10 {
		t.Errorf("readSupport(limit 10) = %d tickets, %v", len(some), err)
	}
	t.Logf("%d tickets, %d with multi-line descriptions", len(cases), multiline)
}

// TestRequestIDs checks what makes a second load create nothing new: every
// request_id is unique across the data and within the server's limit.
func TestRequestIDs(t *testing.T) {
	d, err := readDataset(dataDir(t), 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	check := func(id string) {
		if seen[id] || len([]rune(id)) > 64 || id == "" {
			t.Errorf("request_id %q is repeated, empty or longer than 64", id)
		}
		seen[id] = true
	}
	for _, a := range d.accounts {
		check(a.requestID)
	}
	for _, dl := range d.deals {
		check(dl.requestID)
	}
	for _, s := range d.sellers {
		check(s.requestID)
	}
	for _, c := range d.support {
		check(c.personRequestID)
		check(c.ticketExternalID)
	}
	t.Logf("%d request ids", len(seen))
}

func TestLoadRefusesMissingData(t *testing.T) {
	// Nothing listens on the URL: Load must fail before any request.
	_, err := Load(t.Context(), Options{BaseURL: "http://127.0.0.1:1", APIKey: "k", DataDir: t.TempDir()})
	if err == nil {
		t.Fatal("Load with an empty data directory succeeded")
	}
	for _, f := range []string{accountsFile, productsFile, pipelineFile, sellersFile, ticketsFile} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not name %s", err, f)
		}
	}
}

func TestLoadRefusesBadOptions(t *testing.T) {
	good := Options{BaseURL: "http://127.0.0.1:1", APIKey: "k", DataDir: "x"}
	for name, change := range map[string]func(*Options){
		"no base URL":        func(o *Options) { o.BaseURL = "" },
		"relative base URL":  func(o *Options) { o.BaseURL = "127.0.0.1:8080" },
		"no API key":         func(o *Options) { o.APIKey = "" },
		"no data directory":  func(o *Options) { o.DataDir = "" },
		"negative limit":     func(o *Options) { o.TicketLimit = -1 },
		"negative workers":   func(o *Options) { o.Concurrency = -1 },
		"negative opp limit": func(o *Options) { o.OpportunityLimit = -1 },
	} {
		o := good
		change(&o)
		if _, err := o.withDefaults(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	o, err := good.withDefaults()
	if err != nil || o.TicketLimit != 500 || o.Concurrency != 8 || o.Client == nil || o.Client.Timeout != 30*time.Second {
		t.Errorf("defaults: %+v, %v", o, err)
	}
}
