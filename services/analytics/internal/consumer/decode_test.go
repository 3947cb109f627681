package consumer

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
)

func TestProjectDecodesOnlyTheResourceItself(t *testing.T) {
	t.Parallel()
	id := "0194c2a6-8f4c-7000-8000-000000000001"
	tests := []struct {
		name         string
		typ          string
		payload      proto.Message
		wantCustomer bool
	}{
		{"customer", "customer.updated", &customerv1.Customer{CustomerId: id}, true},
		{"sub-resource under the prefix", "customer.segment.entered", &customerv1.SegmentMembership{SegmentId: id, CustomerId: id}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			payload, err := anypb.New(tt.payload)
			if err != nil {
				t.Fatal(err)
			}
			e := analytics.Event{Type: tt.typ}
			if err := project(&e, payload); err != nil {
				t.Fatalf("project(%s) = %v, want nil", tt.typ, err)
			}
			if got := e.Customer != nil; got != tt.wantCustomer {
				t.Errorf("project(%s) projected a customer: %v, want %v", tt.typ, got, tt.wantCustomer)
			}
		})
	}
}
