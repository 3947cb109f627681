package follower

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	eventsv1 "github.com/rapportcrm/rapport/gen/go/rapport/events/v1"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	id, tenant := uuid.New(), uuid.New()
	payload, err := anypb.New(&customerv1.Customer{CustomerId: "c1", DisplayName: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pe := &eventsv1.Event{EventId: id.String(), Cursor: "7.1", Type: "customer.created", Resource: "customers/c1",
		TenantId: tenant.String(), Time: timestamppb.New(at), Payload: payload, PrincipalId: "p1"}
	e, err := Decode("customer", pe)
	if err != nil {
		t.Fatalf("Decode = %v", err)
	}
	var ce map[string]any
	if err := json.Unmarshal([]byte(e.Body), &ce); err != nil {
		t.Fatalf("body %s: %v", e.Body, err)
	}
	data, _ := ce["data"].(map[string]any)
	if ce["specversion"] != "1.0" || ce["id"] != id.String() || ce["source"] != "rapport/customer" || ce["subject"] != "customers/c1" ||
		ce["time"] != "2026-01-02T03:04:05Z" || data["displayName"] != "Ada" || e.TenantID != tenant || e.Cursor != "7.1" {
		t.Fatalf("Decode = %+v with body %v, want the CloudEvent of the customer", e, ce)
	}
	unknown := &eventsv1.Event{EventId: id.String(), Cursor: "7.2", Type: "x.y", TenantId: tenant.String(), Time: timestamppb.New(at),
		Payload: &anypb.Any{TypeUrl: "type.googleapis.com/not.Known", Value: []byte{1, 2}}}
	if e, err := Decode("customer", unknown); err != nil || !json.Valid([]byte(e.Body)) {
		t.Fatalf("Decode(unknown payload) = %v, %v; want a body with data_base64", e, err)
	}
	for name, bad := range map[string]*eventsv1.Event{
		"no id":     {Cursor: "1.1", Type: "a.b", TenantId: tenant.String(), Time: timestamppb.New(at)},
		"no tenant": {EventId: id.String(), Cursor: "1.1", Type: "a.b", Time: timestamppb.New(at)},
		"no cursor": {EventId: id.String(), Type: "a.b", TenantId: tenant.String(), Time: timestamppb.New(at)},
		"no time":   {EventId: id.String(), Cursor: "1.1", Type: "a.b", TenantId: tenant.String()},
	} {
		if _, err := Decode("customer", bad); err == nil {
			t.Errorf("Decode(%s) = nil, want an error", name)
		}
	}
}
