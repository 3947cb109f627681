package postgres

import (
	"slices"
	"testing"
)

func TestEditDistance(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"mary", "mary", 0},
		{"mayr", "mary", 1},
		{"mayr", "mark", 2},
		{"jonse", "jones", 1},
		{"ada", "adam", 1},
		{"lovell", "lovelace", 3},
		{"", "abc", 3},
		{"josé", "jose", 1},
	} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestNearest(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		word     string
		proposed []string
		want     []string
	}{
		{"mayr", []string{"mateo", "marco", "mark", "mary", "maria"}, []string{"mary"}},
		{"adam", []string{"adams", "adam", "ada", "adrian"}, []string{"adams", "adam", "ada"}},
		{"rodr", []string{"rodriguez", "rosa", "rod", "rodrigues"}, []string{"rodriguez", "rodrigues", "rod"}},
		{"lovell", []string{"lovell", "lovelace"}, []string{"lovell", "lovelace"}},
		{"zzz", nil, nil},
	} {
		if got := nearest(tt.word, tt.proposed); !slices.Equal(got, tt.want) {
			t.Errorf("nearest(%q, %q) = %q, want %q", tt.word, tt.proposed, got, tt.want)
		}
	}
}

func TestNearQueryCombinesDifferentWords(t *testing.T) {
	t.Parallel()
	got := nearQuery([][]string{{"david", "davis"}, {"davis", "david"}})
	want := `('david':ABC & 'davis':ABC) | ('davis':ABC & 'david':ABC)`
	if got != want {
		t.Errorf("nearQuery = %s, want %s", got, want)
	}
	if got := nearQuery([][]string{{"smith"}}); got != `('smith':ABC)` {
		t.Errorf("nearQuery(one word) = %s", got)
	}
	if got := nearQuery([][]string{{"o'brien"}, {"ann"}}); got != `('o''brien':ABC & 'ann':ABC)` {
		t.Errorf("nearQuery(quote) = %s", got)
	}
}
