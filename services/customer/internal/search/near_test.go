package search

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
		if got := EditDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestNearWords(t *testing.T) {
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
		if got := NearWords(tt.word, tt.proposed, 8); !slices.Equal(got, tt.want) {
			t.Errorf("NearWords(%q, %q) = %q, want %q", tt.word, tt.proposed, got, tt.want)
		}
	}
}
