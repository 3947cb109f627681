package grpcapi_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
)

// lastInteraction reads the customer's last_interaction_time (nil: never).
func (e *relEnv) lastInteraction(t *testing.T, id string) *timestamppb.Timestamp {
	t.Helper()
	c, err := e.customers.GetCustomer(e.as(t, e.tenant, auth.RoleAdmin), &customerv1.GetCustomerRequest{CustomerId: id})
	if err != nil {
		t.Fatalf("GetCustomer: %v", err)
	}
	return c.GetCustomer().GetLastInteractionTime()
}

func TestLastInteractionTimeFollowsInteractions(t *testing.T) {
	t.Parallel()
	e := newRelEnv(t)
	ctx := e.asPrincipal(t, e.tenant, e.rep, auth.RoleSalesRep)
	if got := e.lastInteraction(t, e.customer); got != nil {
		t.Fatalf("new customer last_interaction_time = %v, want absent", got)
	}
	etag := func() string {
		c, err := e.customers.GetCustomer(e.as(t, e.tenant, auth.RoleAdmin), &customerv1.GetCustomerRequest{CustomerId: e.customer})
		if err != nil {
			t.Fatal(err)
		}
		return c.GetCustomer().GetEtag()
	}
	before := etag()
	older, err := e.rel.CreateInteraction(ctx, &customerv1.CreateInteractionRequest{CustomerId: e.customer, Interaction: call(day0)})
	if err != nil {
		t.Fatalf("CreateInteraction: %v", err)
	}
	newer, err := e.rel.CreateInteraction(ctx, &customerv1.CreateInteractionRequest{CustomerId: e.customer, Interaction: call(day0.Add(48 * time.Hour))})
	if err != nil {
		t.Fatalf("CreateInteraction: %v", err)
	}
	steps := []struct {
		name string
		do   func() error
		want *time.Time
	}{
		{"two interactions", func() error { return nil }, ptr(day0.Add(48 * time.Hour))},
		{"newest moved later", func() error {
			upd := newer.GetInteraction()
			upd.OccurTime = timestamppb.New(day0.Add(72 * time.Hour))
			_, err := e.rel.UpdateInteraction(ctx, &customerv1.UpdateInteractionRequest{Interaction: upd,
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"occur_time"}}})
			return err
		}, ptr(day0.Add(72 * time.Hour))},
		{"newest deleted", func() error {
			_, err := e.rel.DeleteInteraction(ctx, &customerv1.DeleteInteractionRequest{CustomerId: e.customer,
				InteractionId: newer.GetInteraction().GetInteractionId()})
			return err
		}, ptr(day0)},
		{"last one deleted", func() error {
			_, err := e.rel.DeleteInteraction(ctx, &customerv1.DeleteInteractionRequest{CustomerId: e.customer,
				InteractionId: older.GetInteraction().GetInteractionId()})
			return err
		}, nil},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got := e.lastInteraction(t, e.customer)
		if (got == nil) != (s.want == nil) || (got != nil && !got.AsTime().Equal(*s.want)) {
			t.Fatalf("%s: last_interaction_time = %v, want %v", s.name, got, s.want)
		}
	}
	if after := etag(); after != before {
		t.Errorf("etag changed from %s to %s by interaction writes; an earlier read must still update the customer", before, after)
	}
}

func ptr[T any](v T) *T { return &v }

func TestListCustomersByLastInteraction(t *testing.T) {
	t.Parallel()
	e := newRelEnv(t)
	ctx := e.as(t, e.tenant, auth.RoleAdmin)
	stale, fresh, never := e.customer, e.newCustomer(t, e.tenant), e.newCustomer(t, e.tenant)
	for id, at := range map[string]time.Time{stale: day0, fresh: day0.Add(100 * 24 * time.Hour)} {
		if _, err := e.rel.CreateInteraction(ctx, &customerv1.CreateInteractionRequest{CustomerId: id, Interaction: call(at)}); err != nil {
			t.Fatalf("CreateInteraction: %v", err)
		}
	}
	cutoff := day0.Add(50 * 24 * time.Hour).Format(time.RFC3339)
	tests := []struct {
		name, filter, orderBy string
		want                  []string
	}{
		{"before cutoff", `last_interaction_time < "` + cutoff + `"`, "", []string{stale}},
		{"never contacted", `contacted = false`, "", []string{never}},
		{"stale or never", `last_interaction_time < "` + cutoff + `" OR contacted = false`, "last_interaction_time", []string{never, stale}},
		{"oldest contact first", "", "last_interaction_time", []string{never, stale, fresh}},
		{"newest contact first", "", "last_interaction_time desc", []string{fresh, stale, never}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			token := ""
			for {
				resp, err := e.customers.ListCustomers(ctx, &customerv1.ListCustomersRequest{Filter: tt.filter, OrderBy: tt.orderBy, PageSize: 1, PageToken: token})
				if err != nil {
					t.Fatalf("ListCustomers(%q): %v", tt.filter, err)
				}
				for _, c := range resp.GetCustomers() {
					got = append(got, c.GetCustomerId())
				}
				if token = resp.GetNextPageToken(); token == "" {
					break
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ListCustomers(%q, %q) = %v, want %v", tt.filter, tt.orderBy, got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("ListCustomers(%q, %q) = %v, want %v", tt.filter, tt.orderBy, got, tt.want)
				}
			}
		})
	}
	_, err := e.customers.ListCustomers(ctx, &customerv1.ListCustomersRequest{Filter: `last_interaction_time < "yesterday"`})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("ListCustomers(bad time) = %v, want InvalidArgument", err)
	}
}
