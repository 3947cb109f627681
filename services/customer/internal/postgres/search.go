package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/search"
)

// rebuildSearchSQL copies a customer's search row from customer_search_source,
// the view that defines what is searchable (migration 00005).
const rebuildSearchSQL = `
INSERT INTO customer_search (tenant_id, customer_id, names, organization, emails, phones, phone_keys, search_text, document)
SELECT tenant_id, customer_id, names, organization, emails, phones, phone_keys, search_text, document
FROM customer_search_source
WHERE tenant_id = $1 AND customer_id = $2
ON CONFLICT (tenant_id, customer_id) DO UPDATE SET
    names = EXCLUDED.names, organization = EXCLUDED.organization, emails = EXCLUDED.emails,
    phones = EXCLUDED.phones, phone_keys = EXCLUDED.phone_keys, search_text = EXCLUDED.search_text,
    document = EXCLUDED.document`

// rebuildSearch brings a customer's search row up to date with the data. It
// runs in the transaction of every write that changes what is searchable
// about a customer, so search never sees a half-applied change.
func rebuildSearch(ctx context.Context, tx pgx.Tx, tenant string, id uuid.UUID) error {
	if _, err := tx.Exec(ctx, rebuildSearchSQL, tenant, id); err != nil {
		return fmt.Errorf("rebuild search row of %s: %w", id, err)
	}
	return nil
}

// similarityThreshold returns the least word_similarity (0–1) between the
// query and a customer's names and e-mails for a fuzzy match. For queries of
// some length 0.3 lets two transposed letters in each of two words through
// ("jonh smiht" scores 0.36 against "john smith") while unrelated names stay
// out. A query of four letters or fewer has so few trigrams that sharing
// only the first two letters already scores 0.4 ("jose" against "john"), so
// it needs 0.5, which still finds prefixes ("smi" scores 0.75 against "smith").
func similarityThreshold(query string) string {
	if utf8.RuneCountInString(query) <= 4 {
		return "0.5"
	}
	return "0.3"
}

// Expressions over the query text ($2). The index conditions take them
// inline, as the planner needs constants there; scores and matched fields
// read them once from the q row (queryRowSQL) instead of per candidate.
const (
	foldedQuery = `customer_search_fold($2)`
	tsQuery     = `websearch_to_tsquery('simple', ` + foldedQuery + `)`
	emailKeys   = `(CASE WHEN $3 THEN ARRAY[` + foldedQuery + `] ELSE '{}'::text[] END)`
	phoneKeys   = `$4::text[]`
)

// queryRowSQL computes the query's forms once: folded text, tsquery, words,
// the e-mail key, and name_word (nameWord).
const queryRowSQL = `q AS MATERIALIZED (
    SELECT ` + foldedQuery + ` AS folded, ` + tsQuery + ` AS tsq,
           tsvector_to_array(to_tsvector('simple', ` + foldedQuery + `)) AS words, ` + emailKeys + ` AS emails,
           ` + nameWord + ` AS name_word)`

// nameWord is, for a query that is one word of letters and digits ($5), a
// tsquery matching that word among a customer's names and organisation
// (weights A and B), and NULL otherwise. A customer it matches
// holds the query as a whole word of search_text, so its word similarity is
// 1 without computing it: a common name ("smith") matches tens of
// thousands of customers, and word_similarity was most of their scoring.
const nameWord = `(CASE WHEN $5 AND tsvector_to_array(to_tsvector('simple', ` + foldedQuery + `)) = ARRAY[` + foldedQuery + `]
    THEN (quote_literal(` + foldedQuery + `) || ':AB')::tsquery END)`

// scoreSQL scores a candidate s. Tiers: an exact e-mail or phone match adds
// 2, a full-text match 1, and ts_rank_cd (normalised to 0–1, below 1) and
// the trigram word similarity each add up to 0.5, so every exact match
// outranks every full-text one, which outranks every fuzzy-only one (whose
// score is below 1). Scores are rounded so the page token carries them
// exactly.
const scoreSQL = `round((2 * (s.emails && q.emails OR s.phone_keys && ` + phoneKeys + `)::int
            + (s.document @@ q.tsq)::int
            + ts_rank_cd(s.document, q.tsq, 32) / 2
            + (CASE WHEN s.document @@ q.name_word THEN 1 ELSE word_similarity(q.folded, s.search_text) END) / 2)::numeric, 6)::float8`

// matchSQL is what makes a customer a match of score 1 or more: an exact
// e-mail or phone, or the full text. The GIN indexes find these (a
// BitmapOr); the conditions take the query's forms inline, as the planner
// needs constants there.
const matchSQL = `(s.emails && ` + emailKeys + `
       OR s.phone_keys && ` + phoneKeys + `
       OR s.document @@ ` + tsQuery + `)`

// tierSQL is one page of one tier of candidates (those meeting its first
// %s) with their customers, best first. Only the id and the score of each
// candidate are sorted (a common word has tens of thousands of them), and
// the customers are looked up in that order only until the page is full:
// the lookup (a primary-key probe, the filter, the record-level policy) is
// what costs most per candidate. OFFSET 0 keeps each lookup a probe: GIN
// conditions are hard to estimate, and a misjudged hash join would read
// the whole customers table. The other %s are the keyset condition, the
// customer filter and the limit's parameter.
const tierSQL = `
    SELECT c.*, m.score
    FROM (
        SELECT m.customer_id, m.score
        FROM (SELECT s.customer_id, ` + scoreSQL + ` AS score
              FROM q, customer_search s
              WHERE s.tenant_id = $1 AND %s) m
        %s
        ORDER BY m.score DESC, m.customer_id DESC
        OFFSET 0
    ) m
    CROSS JOIN LATERAL (
        SELECT * FROM customers WHERE tenant_id = $1 AND customer_id = m.customer_id AND %s OFFSET 0
    ) c
    ORDER BY m.score DESC, m.customer_id DESC
    LIMIT $%d`

// matchedFieldsSQL names the fields of one result that matched: a field
// matched when it holds a word of the query, is an exact key, or is
// similar enough to the query on its own.
const matchedFieldsSQL = `array_remove(ARRAY[
    CASE WHEN tsvector_to_array(to_tsvector('simple', s_names)) && q.words
              OR q.folded <% s_names THEN 'display_name' END,
    CASE WHEN s_emails && q.emails OR s_emails && q.words
              OR q.folded <% array_to_string(s_emails, ' ') THEN 'email' END,
    CASE WHEN s_phone_keys && ` + phoneKeys + ` OR s_phones && q.words THEN 'phone' END,
    CASE WHEN s_organization <> '' AND (tsvector_to_array(to_tsvector('simple', s_organization)) && q.words
              OR q.folded <% s_organization) THEN 'organization' END], NULL)`

// nearWordsSQL finds, for each distinct word of the query ($2, folded), the
// tenant's words whose similarity to it reaches
// pg_trgm.word_similarity_threshold, the closest nearPool of them.
const nearWordsSQL = `
SELECT q.w, array_remove(array_agg(v.word), NULL)
FROM (SELECT DISTINCT customer_search_fold(w) AS w FROM unnest($2::text[]) w) q
LEFT JOIN LATERAL (
    SELECT word FROM search_words
    WHERE tenant_id = $1 AND q.w <% word
    ORDER BY word_similarity(q.w, word) DESC, word
    LIMIT $3
) v ON true
GROUP BY q.w
ORDER BY q.w`

// nearPool is how many words the trigram index proposes for a query word.
// Trigrams rank a typo poorly ("mayr" shares as many with "mateo" as with
// "mary"), so the pool is wide and search.NearWords picks from it.
const nearPool = 200

// maxNearWords bounds the alternatives of one query word.
const maxNearWords = 8

// maxCombinedWords is the longest query whose near words are combined
// word by word (see nearQuery); longer ones require a near word per query
// word in any combination.
const maxCombinedWords = 3

// nearWords returns the full-text query a fuzzy match must satisfy (see
// nearQuery), or "" when some word of the query is near no word of the
// tenant's. A query word's alternatives are the proposed words at the
// least edit distance from it (search.NearWords): a typo's correction, not every
// name that shares two letters with it.
func (s *Store) nearWords(ctx context.Context, caller auth.Caller, words []string, threshold string) (string, error) {
	type proposal struct {
		word string
		near []string
	}
	rows, err := pgdb.RowsWith(ctx, s.pool, caller.TenantID, []pgdb.Setting{{Name: "pg_trgm.word_similarity_threshold", Value: threshold}},
		nearWordsSQL, []any{caller.TenantID, words, nearPool}, func(row pgx.CollectableRow) (proposal, error) {
			var p proposal
			err := row.Scan(&p.word, &p.near)
			return p, err
		})
	if err != nil {
		return "", fmt.Errorf("find the words near the query: %w", err)
	}
	groups := make([][]string, len(rows))
	for i, p := range rows {
		if groups[i] = search.NearWords(p.word, p.near, maxNearWords); len(groups[i]) == 0 {
			return "", nil
		}
	}
	return nearQuery(groups), nil
}

// nearQuery is the tsquery of customers holding, for each group (the near
// words of one query word), one of its words as a word of a name,
// organisation or e-mail local part (weights A to C). For queries of up to
// maxCombinedWords words, the words taken from the groups must differ:
// "Davdi Davsi" is near both "david" and "davis", and "(david | davis) &
// (david | davis)" would hold every David, a fortieth of the customers,
// where "david & davis" holds the few David Davises.
func nearQuery(groups [][]string) string {
	lexeme := func(w string) string { return "'" + strings.ReplaceAll(w, "'", "''") + "':ABC" }
	anyOf := func(g []string) string {
		alternatives := make([]string, len(g))
		for i, w := range g {
			alternatives[i] = lexeme(w)
		}
		return "(" + strings.Join(alternatives, " | ") + ")"
	}
	var combos []string
	if len(groups) > 1 && len(groups) <= maxCombinedWords {
		var pick func(i int, taken []string)
		pick = func(i int, taken []string) {
			if i == len(groups) {
				terms := make([]string, len(taken))
				for j, w := range taken {
					terms[j] = lexeme(w)
				}
				combos = append(combos, "("+strings.Join(terms, " & ")+")")
				return
			}
			for _, w := range groups[i] {
				if !slices.Contains(taken, w) {
					pick(i+1, append(taken, w))
				}
			}
		}
		pick(0, nil)
	}
	if len(combos) > 0 {
		return strings.Join(combos, " | ")
	}
	all := make([]string, len(groups))
	for i, g := range groups {
		all[i] = anyOf(g)
	}
	return strings.Join(all, " & ")
}

// singleWord reports whether t's text is one word of letters and digits, the
// queries nameWord serves.
func singleWord(t search.Terms) bool {
	return len(t.Words) == 1 && t.Words[0] == t.Text
}

// searchCursor is the keyset position after a page's last result. Its JSON
// names are part of every token handed out, so they must not change.
type searchCursor struct {
	Score float64   `json:"s"`
	ID    uuid.UUID `json:"i"`
}

func scanSearchRow(row pgx.CollectableRow) (search.Result, error) {
	var r search.Result
	err := row.Scan(append(customerFields(&r.Customer), &r.Score, &r.MatchedFields)...)
	return r, err
}

// searchSQL is one page of a search: the match tier, and the fuzzy tier of
// candidates meeting fuzzy when it is not empty; after is the keyset
// condition, where the customer filter and $limit the page size plus one.
func searchSQL(after, where string, limit int, fuzzy string) string {
	tiers := "ranked AS MATERIALIZED (" + fmt.Sprintf(tierSQL, matchSQL, after, where, limit) + ")"
	page := "SELECT * FROM ranked"
	if fuzzy != "" {
		cond := fmt.Sprintf("%s AND NOT %s AND (SELECT count(*) FROM ranked) < $%d", fuzzy, matchSQL, limit)
		tiers += ",\nnear AS MATERIALIZED (" + fmt.Sprintf(tierSQL, cond, after, where, limit) + ")"
		page = fmt.Sprintf("SELECT * FROM ranked UNION ALL SELECT * FROM near ORDER BY score DESC, customer_id DESC LIMIT $%d", limit)
	}
	// The search row's fields, for what matched, are read for the page's
	// results alone. Every search gets a custom plan (plan_cache_mode in
	// Search): the index conditions need the query's text as constants, and
	// a generic plan (which PostgreSQL switches to after five runs of a
	// prepared statement) scans the whole table, taking seconds at a million
	// customers. (pgdb.Open turns JIT off: a common word's estimated cost
	// passed its threshold, and compiling took longer than the query.)
	return fmt.Sprintf(`
WITH %s,
%s
SELECT %s, score, %s
FROM q, (%s) page
CROSS JOIN LATERAL (
    SELECT names AS s_names, organization AS s_organization, emails AS s_emails, phones AS s_phones, phone_keys AS s_phone_keys
    FROM customer_search WHERE tenant_id = $1 AND customer_search.customer_id = page.customer_id
) s
ORDER BY score DESC, customer_id DESC`, queryRowSQL, tiers, customerColumns, matchedFieldsSQL, page)
}

// Search implements search.Store, best results first, with keyset
// pagination on (score, customer_id). Scores are recomputed for every page,
// so paging is stable while the data is; a customer whose data changes
// between two pages may move across the page boundary.
func (s *Store) Search(ctx context.Context, caller auth.Caller, t search.Terms) (search.Page, error) {
	phone := []string{}
	if t.PhoneKey != "" {
		phone = append(phone, t.PhoneKey)
	}
	args := []any{caller.TenantID, t.Text, t.Email, phone, singleWord(t)}
	threshold := similarityThreshold(t.Text)
	cond, err := sqlfilter.Translate(t.Filter, filterFields, len(args))
	if err != nil {
		var fe *sqlfilter.Error
		if errors.As(err, &fe) {
			return search.Page{}, validation.Field("filter", "%s", fe.Reason)
		}
		return search.Page{}, err
	}
	args = append(args, cond.Args...)
	// The filter names customers' columns; it applies in the lookup of each
	// candidate's customer.
	where := cond.SQL
	if !t.IncludeDeleted {
		where += " AND delete_time IS NULL"
	}
	query := t.Text + "\x00" + t.Filter + "\x00" + strconv.FormatBool(t.IncludeDeleted)
	after := ""
	if t.PageToken != "" {
		var cur searchCursor
		if err := pagetoken.Decode(t.PageToken, query, &cur); err != nil {
			return search.Page{}, validation.Field("page_token", "is not a token from this query; start again without it")
		}
		args = append(args, cur.Score, cur.ID)
		after = fmt.Sprintf("WHERE (m.score, m.customer_id) < ($%d::float8, $%d::uuid)", len(args)-1, len(args))
	}
	// One row more than the page shows whether another page follows.
	args = append(args, t.PageSize+1)
	limit := len(args)
	// Every match scores 1 or more and every fuzzy-only match less, so the
	// fuzzy tier is searched only when the matches do not fill the page: a
	// misspelt common name ("jonh") is near tens of thousands of names, and
	// a correctly spelt one would otherwise pay for all of them too. The
	// words near the query's (nearWords) are looked up only then as well.
	settings := []pgdb.Setting{
		{Name: "pg_trgm.word_similarity_threshold", Value: threshold},
		{Name: "plan_cache_mode", Value: "force_custom_plan"},
	}
	results, err := pgdb.RowsWith(ctx, s.pool, caller.TenantID, settings, searchSQL(after, where, limit, ""), args, scanSearchRow)
	if err != nil {
		return search.Page{}, fmt.Errorf("search customers: %w", err)
	}
	// A fuzzy match needs each word of the query to be near a word of the
	// customer's names or organisation, and the whole query near the
	// customer's text. The words near each query word come from the tenant's
	// vocabulary (nearWords); the full-text index finds the customers that
	// hold one of them for every query word, and the whole query is checked
	// on what that leaves. E-mail addresses and phone numbers have no fuzzy
	// matches: domains are not in search_text, and the digits there are only
	// those of e-mail local parts, so a fuzzy match of either would be noise.
	if len(results) <= t.PageSize && !t.Email && t.PhoneKey == "" && len(t.Words) > 0 {
		near, err := s.nearWords(ctx, caller, t.Words, threshold)
		if err != nil {
			return search.Page{}, err
		}
		if near != "" {
			args = append(args, near)
			fuzzy := fmt.Sprintf("s.document @@ $%d::tsquery AND word_similarity(%s, s.search_text) >= %s::float8", len(args), foldedQuery, threshold)
			if results, err = pgdb.RowsWith(ctx, s.pool, caller.TenantID, settings, searchSQL(after, where, limit, fuzzy), args, scanSearchRow); err != nil {
				return search.Page{}, fmt.Errorf("search customers: %w", err)
			}
		}
	}
	out := search.Page{Results: results}
	if len(results) > t.PageSize {
		out.Results = results[:t.PageSize]
		last := out.Results[t.PageSize-1]
		if out.NextPageToken, err = pagetoken.Encode(query, searchCursor{Score: last.Score, ID: last.Customer.ID}); err != nil {
			return search.Page{}, err
		}
	}
	return out, nil
}
