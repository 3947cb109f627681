package postgres_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/postgres"
	"github.com/rapportcrm/rapport/services/customer/internal/search"
)

func admin() auth.Caller {
	return auth.Caller{TenantID: uuid.NewString(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAdmin}}
}

// fixture is a store on a private database with the customer and search use cases.
type fixture struct {
	db        *pgtest.DB
	store     *postgres.Store
	customers *customer.Service
	search    *search.Service
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	store := postgres.New(db.App)
	return &fixture{db: db, store: store, customers: customer.New(store), search: search.New(store)}
}

// create stores people named by name, with the given e-mail and phone, and
// returns their ids in order.
func (f *fixture) create(t testing.TB, caller auth.Caller, people ...customer.Customer) []uuid.UUID {
	t.Helper()
	ids := make([]uuid.UUID, len(people))
	for i, c := range people {
		if c.Kind == customer.KindUnspecified {
			c.Kind = customer.KindPerson
		}
		saved, err := f.customers.Create(t.Context(), caller, c, "")
		if err != nil {
			t.Fatalf("Create(%s): %v", c.DisplayName, err)
		}
		ids[i] = saved.ID
	}
	return ids
}

func names(p search.Page) []string {
	out := make([]string, len(p.Results))
	for i, r := range p.Results {
		out[i] = r.Customer.DisplayName
	}
	return out
}

func TestSearchRanking(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	caller := admin()
	f.create(t, caller,
		customer.Customer{DisplayName: "Xavier Young", Email: "john.smith@example.com"},
		customer.Customer{DisplayName: "John Smith", Email: "js@example.org", Phone: "+441632960961"},
		customer.Customer{DisplayName: "Jane Smyth"},
		customer.Customer{DisplayName: "José Álvarez", Email: "jalvarez@example.es"},
		customer.Customer{DisplayName: "Jose Garcia"},
		customer.Customer{DisplayName: "Müller Straße GmbH", Kind: customer.KindOrganization},
		customer.Customer{DisplayName: "Ada Lovelace", Phone: "+15550100200"},
	)
	tests := []struct {
		query string
		// want are the display names expected, best first; nil means none.
		want []string
		// wantFirst, when set, replaces want: only the first result is checked.
		wantFirst string
		// minScore is the least score of the first result.
		minScore float64
		// wantFields are the matched fields of the first result.
		wantFields []string
	}{
		{query: "John.Smith@Example.com", wantFirst: "Xavier Young", minScore: 2, wantFields: []string{search.FieldEmail}},
		{query: "Jonh Smiht", wantFirst: "John Smith", wantFields: []string{search.FieldDisplayName}},
		{query: "smith", want: []string{"John Smith", "Xavier Young", "Jane Smyth"}, minScore: 1, wantFields: []string{search.FieldDisplayName}},
		{query: "Jose", want: []string{"Jose Garcia", "José Álvarez"}, minScore: 1, wantFields: []string{search.FieldDisplayName}},
		{query: "josé alvarez", wantFirst: "José Álvarez", minScore: 1, wantFields: []string{search.FieldDisplayName}},
		{query: "muller strasse", want: []string{"Müller Straße GmbH"}, minScore: 1, wantFields: []string{search.FieldDisplayName}},
		{query: "+44 1632 960961", want: []string{"John Smith"}, minScore: 2, wantFields: []string{search.FieldPhone}},
		{query: "1632960961", want: []string{"John Smith"}, minScore: 2, wantFields: []string{search.FieldPhone}},
		{query: "01632 960961", want: []string{"John Smith"}, minScore: 2, wantFields: []string{search.FieldPhone}},
		{query: "(0044) 1632-960961", want: []string{"John Smith"}, minScore: 2, wantFields: []string{search.FieldPhone}},
		{query: "+1 555 010 0200", want: []string{"Ada Lovelace"}, minScore: 2, wantFields: []string{search.FieldPhone}},
		{query: "qwxzv", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			p, err := f.search.Search(t.Context(), caller, search.Query{Text: tt.query})
			if err != nil {
				t.Fatalf("Search(%q): %v", tt.query, err)
			}
			got := names(p)
			if tt.wantFirst != "" {
				if len(got) == 0 || got[0] != tt.wantFirst {
					t.Fatalf("Search(%q) = %q, want %q first", tt.query, got, tt.wantFirst)
				}
			} else if !slices.Equal(got, tt.want) {
				t.Fatalf("Search(%q) = %q, want %q", tt.query, got, tt.want)
			}
			if len(got) == 0 {
				return
			}
			first := p.Results[0]
			if first.Score < tt.minScore {
				t.Errorf("Search(%q) first score = %v, want at least %v", tt.query, first.Score, tt.minScore)
			}
			for _, field := range tt.wantFields {
				if !slices.Contains(first.MatchedFields, field) {
					t.Errorf("Search(%q) first matched %q, want %q among them", tt.query, first.MatchedFields, field)
				}
			}
			for i := 1; i < len(p.Results); i++ {
				if p.Results[i].Score > p.Results[i-1].Score {
					t.Errorf("Search(%q) scores %v then %v: not best first", tt.query, p.Results[i-1].Score, p.Results[i].Score)
				}
			}
		})
	}
}

func TestSearchFiltersDeletedAndTenants(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	caller, other := admin(), admin()
	ids := f.create(t, caller,
		customer.Customer{DisplayName: "Grace Hopper", CountryCode: "US", Stage: customer.StageCustomer},
		customer.Customer{DisplayName: "Grace Hopper", CountryCode: "GB", Stage: customer.StageCustomer},
		customer.Customer{DisplayName: "Grace Hopper", CountryCode: "GB", Stage: customer.StageLead},
		customer.Customer{DisplayName: "Grace Hopper Ltd", CountryCode: "GB", Stage: customer.StageCustomer, Kind: customer.KindOrganization},
	)
	otherIDs := f.create(t, other, customer.Customer{DisplayName: "Grace Hopper", CountryCode: "GB"})
	if _, err := f.customers.Delete(t.Context(), caller, ids[1], ""); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	tests := []struct {
		name           string
		caller         auth.Caller
		filter         string
		includeDeleted bool
		want           []uuid.UUID
	}{
		{name: "all live", caller: caller, want: []uuid.UUID{ids[0], ids[2], ids[3]}},
		{name: "deleted included", caller: caller, includeDeleted: true, want: ids},
		{name: "filters combined", caller: caller, filter: `country_code = "GB" AND lifecycle_stage = LIFECYCLE_STAGE_CUSTOMER AND kind = CUSTOMER_KIND_PERSON`, includeDeleted: true, want: []uuid.UUID{ids[1]}},
		{name: "filter and deleted excluded", caller: caller, filter: `country_code = "GB" AND lifecycle_stage = LIFECYCLE_STAGE_CUSTOMER`, want: []uuid.UUID{ids[3]}},
		{name: "another tenant sees its own only", caller: other, includeDeleted: true, want: otherIDs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := f.search.Search(t.Context(), tt.caller, search.Query{Text: "grace hopper", Filter: tt.filter, IncludeDeleted: tt.includeDeleted})
			if err != nil {
				t.Fatalf("Search: %v", err)
			}
			var got []uuid.UUID
			for _, r := range p.Results {
				got = append(got, r.Customer.ID)
			}
			slices.SortFunc(got, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
			want := slices.Clone(tt.want)
			slices.SortFunc(want, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
			if !slices.Equal(got, want) {
				t.Fatalf("Search(filter %q, deleted %t) = %v, want %v", tt.filter, tt.includeDeleted, got, want)
			}
		})
	}
}

func TestSearchBadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	caller := admin()
	f.create(t, caller, customer.Customer{DisplayName: "Alan Turing"}, customer.Customer{DisplayName: "Alan Kay"})
	first, err := f.search.Search(t.Context(), caller, search.Query{Text: "alan", PageSize: 1})
	if err != nil || first.NextPageToken == "" {
		t.Fatalf("Search(alan, 1) = %v, %v; want a next page", first, err)
	}
	tests := []struct {
		name      string
		q         search.Query
		wantField string
	}{
		{"empty query", search.Query{Text: "   "}, "query"},
		{"long query", search.Query{Text: fmt.Sprintf("%0201d", 7)}, "query"},
		{"bad filter", search.Query{Text: "alan", Filter: `nickname = "x"`}, "filter"},
		{"unparsable filter", search.Query{Text: "alan", Filter: `country_code = `}, "filter"},
		{"negative page size", search.Query{Text: "alan", PageSize: -1}, "page_size"},
		{"token of another query", search.Query{Text: "turing", PageToken: first.NextPageToken}, "page_token"},
		{"token with another filter", search.Query{Text: "alan", Filter: `country_code = "GB"`, PageToken: first.NextPageToken}, "page_token"},
		{"garbage token", search.Query{Text: "alan", PageToken: "nope"}, "page_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := f.search.Search(t.Context(), caller, tt.q)
			var v *validation.Error
			if !errors.As(err, &v) || !slices.ContainsFunc(v.Violations, func(x validation.Violation) bool { return x.Field == tt.wantField }) {
				t.Fatalf("Search(%s) = %v, want a violation on %s", tt.name, err, tt.wantField)
			}
		})
	}
	analyst := auth.Caller{TenantID: caller.TenantID, PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAnalyst}}
	if _, err := f.search.Search(t.Context(), analyst, search.Query{Text: "alan"}); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("Search as analyst = %v, want %v", err, auth.ErrForbidden)
	}
}

func TestSearchPagination(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	caller := admin()
	var people []customer.Customer
	for i := range 23 {
		// Identical names tie on score, so the id alone orders them.
		name := "Alex Smith"
		if i%3 == 0 {
			name = fmt.Sprintf("Alex Smithson %d", i)
		}
		people = append(people, customer.Customer{DisplayName: name})
	}
	f.create(t, caller, people...)
	all, err := f.search.Search(t.Context(), caller, search.Query{Text: "alex smith", PageSize: 100})
	if err != nil || len(all.Results) != len(people) || all.NextPageToken != "" {
		t.Fatalf("Search(page 100) = %d results, token %q, %v; want %d and no token", len(all.Results), all.NextPageToken, err, len(people))
	}
	// Full-text matches ("Alex Smith") and fuzzy-only ones ("Alex
	// Smithson") are searched as two tiers; pages of 5 end on the boundary
	// between them, pages of 7 and 1 fall across it.
	for _, size := range []int{1, 5, 7} {
		t.Run(fmt.Sprintf("pages of %d", size), func(t *testing.T) {
			t.Parallel()
			var paged []search.Result
			token := ""
			for pages := 0; ; pages++ {
				if pages > len(people) {
					t.Fatal("pagination does not end")
				}
				p, err := f.search.Search(t.Context(), caller, search.Query{Text: "alex smith", PageSize: size, PageToken: token})
				if err != nil {
					t.Fatalf("Search(page %d): %v", pages, err)
				}
				paged = append(paged, p.Results...)
				if token = p.NextPageToken; token == "" {
					break
				}
			}
			if len(paged) != len(all.Results) {
				t.Fatalf("paging gave %d results, want %d", len(paged), len(all.Results))
			}
			seen := map[uuid.UUID]bool{}
			for i, r := range paged {
				if seen[r.Customer.ID] {
					t.Fatalf("result %d (%s) repeats", i, r.Customer.ID)
				}
				seen[r.Customer.ID] = true
				if r.Customer.ID != all.Results[i].Customer.ID || r.Score != all.Results[i].Score {
					t.Fatalf("paged result %d = %s (%v), want %s (%v) as in one page", i, r.Customer.ID, r.Score, all.Results[i].Customer.ID, all.Results[i].Score)
				}
			}
		})
	}
}

// TestSearchScores checks each result's score against the score's
// definition computed in full: one-word queries skip computing the word
// similarity of customers whose names hold the word, and the fuzzy tier is
// searched apart from the full-text one, and neither may change a score.
func TestSearchScores(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	caller := admin()
	f.create(t, caller,
		customer.Customer{DisplayName: "Anne-Marie Smith"},
		customer.Customer{DisplayName: "Smith"},
		customer.Customer{DisplayName: "Peter O'Smith"},
		customer.Customer{DisplayName: "Smith Smith"},
		customer.Customer{DisplayName: "Smith123 Holdings", Kind: customer.KindOrganization},
		customer.Customer{DisplayName: "Smith & Söhne", Kind: customer.KindOrganization},
		customer.Customer{DisplayName: "Jo Smithson"},
		customer.Customer{DisplayName: "Ann Smyth", Email: "smith.a@example.com"},
		customer.Customer{DisplayName: "Mark Jones", Email: "msmith@example.org"},
		customer.Customer{DisplayName: "Élise Müller"},
	)
	for _, query := range []string{"smith", "Smith", "smiht", "anne smith", "o'smith", "muller", "söhne", "smith123"} {
		t.Run(query, func(t *testing.T) {
			t.Parallel()
			p, err := f.search.Search(t.Context(), caller, search.Query{Text: query, PageSize: 100})
			if err != nil {
				t.Fatalf("Search(%q): %v", query, err)
			}
			if len(p.Results) == 0 {
				t.Fatalf("Search(%q) found nothing", query)
			}
			for _, r := range p.Results {
				var want float64
				if err := f.db.Owner.QueryRow(t.Context(), `
SELECT round(((s.document @@ q)::int + ts_rank_cd(s.document, q, 32) / 2
             + word_similarity(customer_search_fold($2), s.search_text) / 2)::numeric, 6)::float8
FROM customer_search s, websearch_to_tsquery('simple', customer_search_fold($2)) q
WHERE s.customer_id = $1`, r.Customer.ID, query).Scan(&want); err != nil {
					t.Fatal(err)
				}
				if r.Score != want {
					t.Errorf("Search(%q) scores %q %v, want %v", query, r.Customer.DisplayName, r.Score, want)
				}
			}
		})
	}
}

// TestSearchPhoneIsNotFuzzy checks that a phone number finds the customers
// with that number only, not those whose e-mail local parts share digits
// with it.
func TestSearchPhoneIsNotFuzzy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	caller := admin()
	f.create(t, caller,
		customer.Customer{DisplayName: "Has The Phone", Phone: "+441632960961"},
		customer.Customer{DisplayName: "Digits In Mail", Email: "ops1632960961@example.org"},
	)
	p, err := f.search.Search(t.Context(), caller, search.Query{Text: "01632 960961"})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(p); !slices.Equal(got, []string{"Has The Phone"}) {
		t.Fatalf("Search(phone) = %q, want only the customer with that phone", got)
	}
}

func TestSearchFollowsWrites(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	caller := admin()
	id := f.create(t, caller, customer.Customer{DisplayName: "Barbara Liskov", Email: "liskov@mit.edu"})[0]
	find := func(query string) bool {
		t.Helper()
		p, err := f.search.Search(t.Context(), caller, search.Query{Text: query})
		if err != nil {
			t.Fatalf("Search(%q): %v", query, err)
		}
		return slices.ContainsFunc(p.Results, func(r search.Result) bool { return r.Customer.ID == id })
	}
	if _, err := f.customers.Update(t.Context(), caller, customer.Customer{ID: id, DisplayName: "Barbara Jane Huberman", Email: "bjh@example.org", Phone: "+12025550123"}, []string{"display_name", "email", "phone"}, ""); err != nil {
		t.Fatalf("Update: %v", err)
	}
	// The old e-mail stays a (no longer primary) contact point, so it (and
	// its local part "liskov") still find her.
	for query, want := range map[string]bool{"liskov": true, "liskov@mit.edu": true, "barbara jane": true, "lisk0v": true, "huberman": true, "bjh@example.org": true, "202 555 0123": true} {
		if got := find(query); got != want {
			t.Errorf("after update, Search(%q) finds the customer = %t, want %t", query, got, want)
		}
	}

	// Concurrent updates serialise on the customer's row lock, so the search
	// row ends up as the data after the last of them.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			email := fmt.Sprintf("writer%d@example.com", i)
			if _, err := f.customers.Update(t.Context(), caller, customer.Customer{ID: id, Email: email}, []string{"email"}, ""); err != nil {
				t.Errorf("Update(%s): %v", email, err)
			}
		})
	}
	wg.Wait()
	final, err := f.customers.Get(t.Context(), caller, id)
	if err != nil {
		t.Fatal(err)
	}
	var stored, current []string
	if err := f.db.Owner.QueryRow(t.Context(), `SELECT s.emails, v.emails FROM customer_search s JOIN customer_search_source v USING (tenant_id, customer_id)
WHERE s.customer_id = $1`, id).Scan(&stored, &current); err != nil {
		t.Fatal(err)
	}
	slices.Sort(stored)
	slices.Sort(current)
	if !slices.Equal(stored, current) || !slices.Contains(stored, final.Email) || len(stored) != 10 {
		t.Fatalf("search row e-mails = %q after concurrent updates, want the data's %q (10, with %q)", stored, current, final.Email)
	}
}
