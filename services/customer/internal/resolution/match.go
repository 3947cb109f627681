package resolution

import (
	"math"
	"slices"
	"strings"
	"unicode"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/services/customer/internal/customer"
)

// Profile is what the scorer compares of a customer: its kind, name, every
// normalised e-mail (lower case) and E.164 phone it has, its postal
// addresses and the organisations it is a contact of.
type Profile struct {
	ID              uuid.UUID
	Kind            customer.Kind
	Name            string
	Emails          []string
	Phones          []string
	Addresses       []Address
	OrganizationIDs []uuid.UUID
}

// Address is the part of a postal address the scorer compares.
type Address struct {
	CountryCode string
	PostalCode  string
	// Line is the first address line.
	Line string
}

// Feature is one explained piece of evidence.
type Feature struct {
	// Name is "email", "phone", "name", "address" or "organization".
	Name string
	// Similarity is how alike the two are on the feature, 0 to 1.
	Similarity float64
	// Weight is what an exact match of the feature alone scores.
	Weight float64
	// Reason says why in words, never quoting the compared values.
	Reason string
}

// Contribution is the feature's share of the evidence: Weight × Similarity.
func (f Feature) Contribution() float64 { return round(f.Weight * f.Similarity) }

// Match is the scored comparison of a customer with a candidate.
type Match struct {
	CustomerID uuid.UUID
	Score      float64
	Features   []Feature
}

// The weights of the features. An exact e-mail or phone is strong evidence
// on its own; a name alike, a shared address or organisation are not, but
// add up. The total treats the features as independent evidence,
// 1 − Π(1 − weight × similarity), so it stays within 0–1, any single
// feature can only raise it, and no feature is counted twice.
//
// Examples: same e-mail alone 0.9; same phone alone 0.8; the same name
// alone 0.45 (below the threshold: namesakes are common); the same name and
// postal code 0.62; the same name, postal code and first line 0.72.
const (
	WeightEmail        = 0.9
	WeightPhone        = 0.8
	WeightName         = 0.45
	WeightAddress      = 0.5
	WeightOrganization = 0.3
	// MinNameSimilarity is where names start to count: below it two names
	// are taken to belong to different people.
	MinNameSimilarity = 0.8
	// postalOnly is the similarity of addresses that share only their
	// country and postal code.
	postalOnly = 0.6
	// Threshold is the least score of a duplicate candidate.
	Threshold = 0.5
)

// Score compares a with b. Customers of different kinds never match.
func Score(a, b Profile) Match {
	m := Match{CustomerID: b.ID}
	if a.Kind != b.Kind || a.ID == b.ID {
		return m
	}
	if shared(a.Emails, b.Emails) {
		m.Features = append(m.Features, Feature{Name: "email", Similarity: 1, Weight: WeightEmail, Reason: "same normalised e-mail address"})
	}
	if shared(a.Phones, b.Phones) {
		m.Features = append(m.Features, Feature{Name: "phone", Similarity: 1, Weight: WeightPhone, Reason: "same E.164 phone number"})
	}
	if s := NameSimilarity(a.Name, b.Name); s >= MinNameSimilarity {
		reason := "names alike after folding accents and transliterating"
		if s == 1 {
			reason = "same name after folding accents and transliterating"
		}
		m.Features = append(m.Features, Feature{Name: "name", Similarity: round(s), Weight: WeightName, Reason: reason})
	}
	if s, reason := addressSimilarity(a.Addresses, b.Addresses); s > 0 {
		m.Features = append(m.Features, Feature{Name: "address", Similarity: s, Weight: WeightAddress, Reason: reason})
	}
	for _, o := range a.OrganizationIDs {
		if slices.Contains(b.OrganizationIDs, o) {
			m.Features = append(m.Features, Feature{Name: "organization", Similarity: 1, Weight: WeightOrganization, Reason: "contacts of the same organisation"})
			break
		}
	}
	miss := 1.0
	for _, f := range m.Features {
		miss *= 1 - f.Contribution()
	}
	m.Score = round(1 - miss)
	return m
}

func round(x float64) float64 { return math.Round(x*10000) / 10000 }

func shared(a, b []string) bool {
	for _, v := range a {
		if v != "" && slices.Contains(b, v) {
			return true
		}
	}
	return false
}

func addressSimilarity(a, b []Address) (float64, string) {
	best, reason := 0.0, ""
	for _, x := range a {
		for _, y := range b {
			if x.PostalCode == "" || !strings.EqualFold(x.CountryCode, y.CountryCode) || normalPostal(x.PostalCode) != normalPostal(y.PostalCode) {
				continue
			}
			lx, ly := fold(x.Line, true), fold(y.Line, true)
			if lx != "" && lx == ly {
				return 1, "same postal code and first address line"
			}
			best, reason = postalOnly, "same postal code"
		}
	}
	return best, reason
}

// normalPostal compares postal codes without spaces or case ("SW1A 1AA" is "sw1a1aa").
func normalPostal(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), ""))
}

// NameSimilarity is how alike two names are, 0 to 1: the better of the
// Jaro-Winkler similarity of their folded tokens in sorted order (so word
// order does not matter) and of the folded names as written, under two
// foldings of umlauts: "ü" as "ue" (as Germans re-type it) and as "u" (as
// others do). Accents are dropped and Cyrillic is transliterated, so
// "Jürgen Müller" and "Juergen Mueller", "José" and "Jose" score 1.
func NameSimilarity(a, b string) float64 {
	best := 0.0
	for _, german := range []bool{true, false} {
		fa, fb := fold(a, german), fold(b, german)
		if fa == "" || fb == "" {
			continue
		}
		best = max(best, JaroWinkler(fa, fb), JaroWinkler(sortedTokens(fa), sortedTokens(fb)))
	}
	return best
}

func sortedTokens(s string) string {
	t := strings.Fields(s)
	slices.Sort(t)
	return strings.Join(t, " ")
}

// umlauts are the letters Germans spell out when a keyboard lacks them.
var umlauts = map[rune]string{'ä': "ae", 'ö': "oe", 'ü': "ue", 'ß': "ss", 'æ': "ae", 'œ': "oe"}

// plain maps accented Latin letters to their base letter.
var plain = map[rune]string{
	'à': "a", 'á': "a", 'â': "a", 'ã': "a", 'å': "a", 'ā': "a", 'ă': "a", 'ą': "a", 'ä': "a",
	'ç': "c", 'ć': "c", 'č': "c", 'ď': "d", 'đ': "d",
	'è': "e", 'é': "e", 'ê': "e", 'ë': "e", 'ē': "e", 'ė': "e", 'ę': "e", 'ě': "e",
	'ì': "i", 'í': "i", 'î': "i", 'ï': "i", 'ī': "i", 'į': "i", 'ı': "i",
	'ł': "l", 'ľ': "l", 'ĺ': "l", 'ñ': "n", 'ń': "n", 'ň': "n",
	'ò': "o", 'ó': "o", 'ô': "o", 'õ': "o", 'ø': "o", 'ō': "o", 'ő': "o", 'ö': "o",
	'ŕ': "r", 'ř': "r", 'ś': "s", 'š': "s", 'ş': "s", 'ť': "t", 'ţ': "t",
	'ù': "u", 'ú': "u", 'û': "u", 'ů': "u", 'ū': "u", 'ű': "u", 'ų': "u", 'ü': "u",
	'ý': "y", 'ÿ': "y", 'ž': "z", 'ź': "z", 'ż': "z", 'ß': "ss", 'æ': "ae", 'œ': "oe",
}

// cyrillic transliterates Russian Cyrillic the way passports spell it.
var cyrillic = map[rune]string{
	'а': "a", 'б': "b", 'в': "v", 'г': "g", 'д': "d", 'е': "e", 'ё': "e", 'ж': "zh", 'з': "z", 'и': "i", 'й': "y",
	'к': "k", 'л': "l", 'м': "m", 'н': "n", 'о': "o", 'п': "p", 'р': "r", 'с': "s", 'т': "t", 'у': "u", 'ф': "f",
	'х': "kh", 'ц': "ts", 'ч': "ch", 'ш': "sh", 'щ': "shch", 'ъ': "", 'ы': "y", 'ь': "", 'э': "e", 'ю': "yu", 'я': "ya",
}

// fold lower-cases s, spells its letters in ASCII and keeps only letters
// and digits, one space between words. german spells umlauts out ("ue");
// otherwise they lose their dots ("u"). With german set it agrees with the
// SQL function resolution_fold for Latin script.
func fold(s string, german bool) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToLower(s) {
		var out string
		if german {
			if u, ok := umlauts[r]; ok {
				out = u
			}
		}
		if out == "" {
			if p, ok := plain[r]; ok {
				out = p
			} else if c, ok := cyrillic[r]; ok {
				out = c
			} else if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
				out = string(r)
			}
		}
		if out == "" {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteString(out)
	}
	return b.String()
}

// JaroWinkler is the Jaro-Winkler similarity of a and b, 0 to 1, with the
// usual prefix scale 0.1 over at most four leading characters.
func JaroWinkler(a, b string) float64 {
	ra, rb := []rune(a), []rune(b)
	if len(ra) == 0 || len(rb) == 0 {
		if len(ra) == len(rb) {
			return 1
		}
		return 0
	}
	window := max(len(ra), len(rb))/2 - 1
	window = max(window, 0)
	ma, mb := make([]bool, len(ra)), make([]bool, len(rb))
	matches := 0
	for i, r := range ra {
		for j := max(0, i-window); j <= min(len(rb)-1, i+window); j++ {
			if !mb[j] && rb[j] == r {
				ma[i], mb[j] = true, true
				matches++
				break
			}
		}
	}
	if matches == 0 {
		return 0
	}
	transpositions, j := 0, 0
	for i := range ra {
		if !ma[i] {
			continue
		}
		for !mb[j] {
			j++
		}
		if ra[i] != rb[j] {
			transpositions++
		}
		j++
	}
	m := float64(matches)
	jaro := (m/float64(len(ra)) + m/float64(len(rb)) + (m-float64(transpositions)/2)/m) / 3
	prefix := 0
	for prefix < min(4, len(ra), len(rb)) && ra[prefix] == rb[prefix] {
		prefix++
	}
	return jaro + float64(prefix)*0.1*(1-jaro)
}
