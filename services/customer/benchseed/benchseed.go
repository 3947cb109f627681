// Package benchseed generates customers for benchmarks and copies them into
// a customer service database. It is shared by the search benchmark and the
// deal-registration benchmark (deploy/dev), which load the same people so
// that their figures are about the same data.
package benchseed

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rapportcrm/rapport/services/customer/internal/customer"
)

// Seed fills tenant with people, marked with channel as their source
// channel, unless a previous run already did. db connects as the database
// owner (a superuser), since COPY goes around the service's writes.
func Seed(ctx context.Context, db *pgxpool.Pool, tenant uuid.UUID, channel string, people []Person) error {
	var have int
	if err := db.QueryRow(ctx, "SELECT count(*) FROM customers WHERE tenant_id = $1 AND source_channel = $2", tenant, channel).Scan(&have); err != nil {
		return fmt.Errorf("seed customers: %w", err)
	}
	if have == len(people) {
		return nil
	}
	if have != 0 {
		return fmt.Errorf("the bench tenant holds %d customers, not %d: drop the database to reseed", have, len(people))
	}
	start := time.Now()
	fmt.Fprintf(os.Stderr, "seeding %d customers …\n", len(people))
	conn, err := db.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("seed customers: %w", err)
	}
	defer conn.Release()
	c := conn.Conn()
	if _, err := c.Exec(ctx, "SET maintenance_work_mem = '1GB'"); err != nil {
		return fmt.Errorf("seed customers: %w", err)
	}
	tx, err := c.Begin(ctx)
	if err != nil {
		return fmt.Errorf("seed customers: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	rebuild, err := dropIndexes(ctx, tx, "customers", "customer_search")
	if err != nil {
		return fmt.Errorf("seed customers: %w", err)
	}
	i := 0
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"customers"},
		[]string{"tenant_id", "customer_id", "kind", "display_name", "email", "phone", "lifecycle_stage", "country_code", "create_time", "update_time", "source_channel"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == len(people) {
				return nil, nil
			}
			p := people[i]
			i++
			return []any{tenant, p.ID, p.Kind, p.Name, p.Email, p.Phone, int16(1 + i%6), p.Country, p.Created, p.Created, channel}, nil
		}))
	if err != nil {
		return fmt.Errorf("copy customers: %w", err)
	}
	if _, err := tx.Exec(ctx, `
INSERT INTO customer_search (tenant_id, customer_id, names, organization, emails, phones, phone_keys, search_text, document)
SELECT tenant_id, customer_id, names, organization, emails, phones, phone_keys, search_text, document
FROM customer_search_source WHERE tenant_id = $1
    AND customer_id IN (SELECT customer_id FROM customers WHERE tenant_id = $1 AND source_channel = $2)`, tenant, channel); err != nil {
		return fmt.Errorf("build search rows: %w", err)
	}
	for _, def := range rebuild {
		if _, err := tx.Exec(ctx, def); err != nil {
			return fmt.Errorf("rebuild index: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("seed customers: %w", err)
	}
	if _, err := c.Exec(ctx, "VACUUM (ANALYZE) customers, customer_search"); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	fmt.Fprintf(os.Stderr, "seeded in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// dropIndexes drops the secondary indexes of tables and returns the
// statements that recreate them, taken from the catalogue so that they are
// exactly the migrations' indexes.
func dropIndexes(ctx context.Context, tx pgx.Tx, tables ...string) ([]string, error) {
	rows, err := tx.Query(ctx, `
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid = ANY ($1::regclass[]) AND NOT i.indisprimary`, tables)
	if err != nil {
		return nil, err
	}
	type index struct{ name, def string }
	indexes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (index, error) {
		var ix index
		return ix, r.Scan(&ix.name, &ix.def)
	})
	if err != nil {
		return nil, fmt.Errorf("list indexes: %w", err)
	}
	defs := make([]string, 0, len(indexes))
	for _, ix := range indexes {
		if _, err := tx.Exec(ctx, "DROP INDEX "+ix.name); err != nil {
			return nil, fmt.Errorf("drop index %s: %w", ix.name, err)
		}
		defs = append(defs, ix.def)
	}
	return defs, nil
}

// Name lists. Surnames and first names are drawn with weights falling as
// 1/(rank+10), so the first ones are common (some 3 % of customers are
// Smiths, as in an English-speaking market) and the last ones rare.
var (
	// FirstNames are the given names, commonest first.
	FirstNames = strings.Fields(`John Mary James Maria David Sarah Michael Anna Robert Laura Peter Emma
		Thomas Sophie Daniel Julia Richard Olivia Mark Chloé José Lucía Mohammed Fatima Wei Li Olga Ivan
		Lucas Sofia Liam Noah Mia Zoë Björn Søren Ana Carlos Giulia Marco Aisha Omar Yuki Hana Priya
		Arjun Chen Mei Élodie François Jürgen Ingrid Patrick Siobhan Mateo Valentina Kofi Amara Hugo
		Léa Jakub Zofia Matteo Aurora Elif Emre Nia Tariq Leila Kenji Sakura Ravi Ananya Diego Camila
		Sven Astrid Pablo Inés Nikolai Tatiana Kwame Adaeze Yusuf Zainab Minh Linh Jin Soo Ahmed Nadia`)
	// LastNames are the surnames, commonest first.
	LastNames = strings.Fields(`Smith Johnson Williams Brown Jones García Miller Davis Rodríguez Martínez
		Wilson Anderson Taylor Thomas Moore Jackson Martin Lee Thompson White Harris Clark Lewis Walker
		Hall Allen Young King Wright Scott Green Baker Adams Nelson Hill Campbell Mitchell Roberts Carter
		Phillips Evans Turner Torres Parker Collins Edwards Stewart Morris Murphy Cook Rogers Morgan
		Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Rossi Russo Ferrari Esposito Bianchi
		Romano Dubois Lefèvre Moreau Laurent Nowak Kowalski Wiśniewski Novák Svoboda Nielsen Jensen
		Hansen Andersson Johansson Karlsson Nakamura Tanaka Suzuki Wang Zhang Liu Chen Kumar Sharma
		Patel Singh OBrien Kelly Walsh Silva Santos Oliveira Pereira Costa Ivanov Petrov Sidorov Okafor
		Mensah Haddad Khan Ali Nguyen Tran Pham Kim Park Choi Yilmaz Kaya Demir Sato Watanabe Ito
		Fernández González López Hernández Pérez Sánchez Ramírez Flores Rivera Gómez Díaz Reyes Cruz
		Morales Ortiz Gutiérrez Chávez Ramos Ruiz Álvarez Mendoza Castillo Jiménez Vargas Romero Herrera`)
	orgWords  = strings.Fields(`Logistics Bakery Consulting Dental Motors Builders Foods Textiles Analytics Travel Pharmacy Legal Energy Studio Garden`)
	orgTypes  = strings.Fields(`Ltd GmbH SARL Inc BV AB Oy SpA`)
	domains   = []string{"example.com", "example.org", "example.net", "mail.example", "corp.example", "post.example"}
	countries = []struct{ code, prefix string }{{"GB", "44"}, {"US", "1"}, {"DE", "49"}, {"FR", "33"}, {"ES", "34"}, {"IT", "39"}}
)

// Person is one generated customer.
type Person struct {
	ID   uuid.UUID
	Kind int16
	// Name is the display name; Email and Phone (E.164) are unique per
	// customer.
	Name, Email, Phone string
	Country            string
	// Last is a person's surname (an organisation's leading word) and
	// National the phone number as written at home ("02000 000005").
	Last, National string
	Created        time.Time
}

// Generate makes n customers deterministically (the same n give the same
// names, e-mails and phones on every run; only the ids are new): a tenth
// organisations ("Smith Logistics Ltd"), the rest people with an e-mail
// address and a phone number each.
func Generate(n int) []Person {
	g := &generator{rnd: rand.New(rand.NewPCG(7, 11))}
	first, last := weights(len(FirstNames)), weights(len(LastNames))
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	people := make([]Person, n)
	for i := range people {
		created := base.Add(time.Duration(i) * 90 * time.Second)
		f, l := FirstNames[g.pick(first)], LastNames[g.pick(last)]
		c := countries[i%len(countries)]
		local := fmt.Sprintf("%d%07d", 200+i%700, i)
		p := Person{
			ID: uuid.Must(uuid.NewV7()), Kind: int16(customer.KindPerson), Last: l,
			Name: f + " " + l, Country: c.code, Created: created,
			Phone: "+" + c.prefix + local, National: "0" + local[:4] + " " + local[4:],
		}
		p.Email = fmt.Sprintf("%s.%s%d@%s", asciiLower(f), asciiLower(l), i, domains[i%len(domains)])
		if i%10 == 9 {
			p.Kind = int16(customer.KindOrganization)
			p.Name = l + " " + orgWords[g.rnd.IntN(len(orgWords))] + " " + orgTypes[g.rnd.IntN(len(orgTypes))]
			p.Email = fmt.Sprintf("info%d@%s.example", i, asciiLower(l))
		}
		people[i] = p
	}
	return people
}

// generator draws names with a fixed seed.
type generator struct{ rnd *rand.Rand }

func weights(n int) []float64 {
	cum := make([]float64, n)
	total := 0.0
	for i := range cum {
		total += 1 / float64(i+10)
		cum[i] = total
	}
	for i := range cum {
		cum[i] /= total
	}
	return cum
}

func (g *generator) pick(cum []float64) int {
	i, _ := slices.BinarySearch(cum, g.rnd.Float64())
	return min(i, len(cum)-1)
}

func asciiLower(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r < utf8.RuneSelf && r >= 'a' && r <= 'z' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Misspell swaps two neighbouring letters in the middle of each word of s
// ("John Smith" → "Jonh Smiht"), the typo fuzzy search is for.
func Misspell(s string) string {
	words := strings.Fields(s)
	for i, w := range words {
		r := []rune(w)
		if len(r) >= 4 {
			j := len(r) - 2
			r[j], r[j+1] = r[j+1], r[j]
		}
		words[i] = string(r)
	}
	return strings.Join(words, " ")
}
