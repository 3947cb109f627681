package dealreg

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestNormalizers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, got, want string
	}{
		{"e-mail case and space", NormalizeEmail("  Ada@Example.COM "), "ada@example.com"},
		{"phone punctuation", NormalizePhone("+44 (0)20 7946-0958"), "+4402079460958"},
		{"phone plus only leading", NormalizePhone("12+34"), "1234"},
		{"company punctuation", NormalizeName("Globex, Inc."), "globex inc"},
		{"company spacing", NormalizeName("  GLOBEX   inc "), "globex inc"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestClaimKeysHideIdentity(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	a := claimKeys(Registration{Prospect: Prospect{CompanyName: "Globex, Inc.", Email: "Ops@Globex.example", Phone: "+1 555 0100"}}, []uuid.UUID{id})
	b := claimKeys(Registration{Prospect: Prospect{CompanyName: "globex inc", Email: "ops@globex.example", Phone: "+1-555-0100"}}, nil)
	if len(a) != 4 || a[0] != CustomerKey(id) {
		t.Fatalf("claimKeys = %v, want the customer and three identity keys", a)
	}
	for i, k := range b {
		if a[i+1] != k {
			t.Errorf("key %d: %q and %q differ for the same prospect spelt differently", i, a[i+1], k)
		}
		if describeKey(k) == "same customer" {
			t.Errorf("describeKey(%q) = same customer", k)
		}
	}
	for _, k := range a {
		for _, plain := range []string{"globex", "555", "ops@"} {
			if strings.Contains(k, plain) {
				t.Errorf("claim key %q carries %q in clear", k, plain)
			}
		}
	}
}
