package postgres_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/services/customer/internal/search"
)

// benchCustomers is how many customers BenchmarkSearch seeds.
const benchCustomers = 50_000

var (
	benchFirst = strings.Fields(`John Jane José María Mohammed Fatima Wei Li Olga Ivan Anna Peter Sarah David
		Emma Lucas Sofia Liam Noah Mia Chloé Zoë Björn Søren Ana Carlos Lucía Giulia Marco Aisha Omar Yuki Hana
		Priya Arjun Chen Mei Thomas Laura Élodie François Jürgen Ingrid Patrick Siobhan Mateo Valentina Kofi Amara`)
	benchLast = strings.Fields(`Smith Johnson Williams Brown Jones García Martínez Rodríguez López González
		Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Rossi Russo Ferrari Esposito Bianchi Romano
		Dubois Lefèvre Moreau Laurent Nowak Kowalski Wiśniewski Novák Svoboda Nielsen Jensen Hansen Andersson
		Johansson Karlsson Nakamura Tanaka Suzuki Wang Zhang Liu Chen Kumar Sharma Patel Singh OBrien Murphy
		Kelly Walsh Silva Santos Oliveira Pereira Costa Ivanov Petrov Sidorov Okafor Mensah Haddad Khan Ali`)
	benchDomains = []string{"example.com", "example.org", "example.net", "mail.example", "corp.example"}
)

// BenchmarkSearch seeds benchCustomers generated customers into one tenant
// (written straight through the search projection's view, as the store's
// rebuild does) and times one query of each kind. It prints figures only;
// nothing asserts a time.
func BenchmarkSearch(b *testing.B) {
	f := newFixture(b)
	caller := admin()
	tenant := uuid.MustParse(caller.TenantID)
	rnd := rand.New(rand.NewPCG(1, 2))
	rows := make([][]any, benchCustomers)
	for i := range rows {
		first, last := benchFirst[rnd.IntN(len(benchFirst))], benchLast[rnd.IntN(len(benchLast))]
		email := fmt.Sprintf("%s.%s%d@%s", strings.ToLower(first), strings.ToLower(last), i, benchDomains[i%len(benchDomains)])
		phone := fmt.Sprintf("+4477009%05d", i)
		rows[i] = []any{tenant, uuid.Must(uuid.NewV7()), int16(1), first + " " + last, email, phone, int16(1 + i%6), "GB"}
	}
	ctx := b.Context()
	if _, err := f.db.Owner.CopyFrom(ctx, pgx.Identifier{"customers"},
		[]string{"tenant_id", "customer_id", "kind", "display_name", "email", "phone", "lifecycle_stage", "country_code"},
		pgx.CopyFromRows(rows)); err != nil {
		b.Fatalf("seed customers: %v", err)
	}
	if _, err := f.db.Owner.Exec(ctx, `
INSERT INTO customer_search (tenant_id, customer_id, names, organization, emails, phones, phone_keys, search_text, document)
SELECT tenant_id, customer_id, names, organization, emails, phones, phone_keys, search_text, document FROM customer_search_source`); err != nil {
		b.Fatalf("seed search rows: %v", err)
	}
	if _, err := f.db.Owner.Exec(ctx, "VACUUM ANALYZE customers, customer_search"); err != nil {
		b.Fatalf("analyze: %v", err)
	}
	queries := []struct{ name, text string }{
		{"fuzzy", "Jonh Smiht"},
		{"fuzzy_accented", "Jose Garcai"},
		{"fulltext", "maría lópez"},
		{"email", rows[17][4].(string)},
		{"phone", "07700 900017"},
	}
	for _, q := range queries {
		b.Run(q.name, func(b *testing.B) {
			var found int
			for b.Loop() {
				p, err := f.search.Search(ctx, caller, search.Query{Text: q.text})
				if err != nil {
					b.Fatalf("Search(%q): %v", q.text, err)
				}
				found = len(p.Results)
			}
			b.ReportMetric(float64(found), "results")
		})
	}
}
