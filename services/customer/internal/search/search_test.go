package search

import (
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text      string
		wantEmail bool
		wantPhone string
		wantWords []string
	}{
		{"+44 1632 960961", false, "441632960961", []string{"44", "1632", "960961"}},
		{"01632 960961", false, "1632960961", []string{"01632", "960961"}},
		{"(0044) 1632-960961", false, "441632960961", []string{"0044", "1632", "960961"}},
		{"960961", false, "", []string{"960961"}},
		{"Ada@Example.com", true, "", []string{"Ada", "Example", "com"}},
		{"ada@", false, "", []string{"ada"}},
		{"José O'Brien-Smith", false, "", []string{"José", "O", "Brien", "Smith"}},
		{"a b c d e f g h i j", false, "", []string{"a", "b", "c", "d", "e", "f", "g", "h"}},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			t.Parallel()
			got := parse(Query{Text: tt.text})
			if got.Email != tt.wantEmail || got.PhoneKey != tt.wantPhone || !slices.Equal(got.Words, tt.wantWords) {
				t.Fatalf("Parse(%q) = email %t, phone %q, words %q; want %t, %q, %q", tt.text, got.Email, got.PhoneKey, got.Words, tt.wantEmail, tt.wantPhone, tt.wantWords)
			}
		})
	}
}
