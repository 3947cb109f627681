package postgres

import "testing"

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
