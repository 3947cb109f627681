package causation_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"

	"github.com/rapportcrm/rapport/pkg/causation"
)

func TestFromIncoming(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		vals []string
		want string
	}{
		{"an action id", []string{"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"}, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"},
		{"none", nil, ""},
		{"two", []string{"a", "b"}, ""},
		{"too long", []string{strings.Repeat("a", 65)}, ""},
		{"not an id", []string{"a b\n"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			md := metadata.MD{}
			for _, v := range tc.vals {
				md.Append(causation.Header, v)
			}
			got := causation.From(causation.FromIncoming(metadata.NewIncomingContext(context.Background(), md)))
			if got != tc.want {
				t.Fatalf("From(FromIncoming(%q)) = %q, want %q", tc.vals, got, tc.want)
			}
		})
	}
}

func TestOutgoingReachesTheServer(t *testing.T) {
	t.Parallel()
	ctx := causation.Outgoing(context.Background(), "rule-action-1")
	out, _ := metadata.FromOutgoingContext(ctx)
	in := metadata.NewIncomingContext(context.Background(), out)
	if got := causation.From(causation.FromIncoming(in)); got != "rule-action-1" {
		t.Fatalf("round trip = %q, want rule-action-1", got)
	}
}
