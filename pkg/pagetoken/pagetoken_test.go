package pagetoken

import (
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	type key struct{ A string }
	tok, err := Encode("q1", key{"x"})
	if err != nil {
		t.Fatal(err)
	}
	var got key
	if err := Decode(tok, "q1", &got); err != nil || got.A != "x" {
		t.Fatalf("Decode = %v, %v; want {x}", got, err)
	}
	if err := Decode(tok, "q2", &got); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Decode under another query = %v, want ErrInvalid", err)
	}
	for _, bad := range []string{"%%%", "e30", tok[:len(tok)-3]} {
		if err := Decode(bad, "q1", &got); !errors.Is(err, ErrInvalid) {
			t.Errorf("Decode(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}
