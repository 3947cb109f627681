package customer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/services/partner/internal/clients/customer"
	"github.com/rapportcrm/rapport/services/partner/internal/dealreg"
)

// peer fakes the customer service's ListCustomers: a tenant where the
// company name has a dozen namesakes created before the customer whose
// e-mail the prospect gives.
type peer struct {
	namesakes []*customerv1.Customer
	owner     *customerv1.Customer
	filters   []string
}

func (p *peer) Invoke(_ context.Context, method string, args, reply any, _ ...grpc.CallOption) error {
	if method != customerv1.CustomerService_ListCustomers_FullMethodName {
		return fmt.Errorf("unexpected %s", method)
	}
	req := args.(*customerv1.ListCustomersRequest)
	p.filters = append(p.filters, req.GetFilter())
	var found []*customerv1.Customer
	if strings.Contains(req.GetFilter(), "display_name") {
		found = append(found, p.namesakes...)
	}
	if strings.Contains(req.GetFilter(), `email = "`+p.owner.GetEmail()+`"`) {
		found = append(found, p.owner)
	}
	reply.(*customerv1.ListCustomersResponse).Customers = found[:min(len(found), int(req.GetPageSize()))]
	return nil
}

func (p *peer) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, fmt.Errorf("no streams")
}

func TestMatchFindsTheEmailAmongNamesakes(t *testing.T) {
	t.Parallel()
	p := &peer{owner: &customerv1.Customer{CustomerId: uuid.NewString(), DisplayName: "Smith Logistics Ltd", Email: "info7@smith.example"}}
	for range 12 {
		p.namesakes = append(p.namesakes, &customerv1.Customer{CustomerId: uuid.NewString(), DisplayName: "Smith Logistics Ltd"})
	}
	got, err := customer.New(p).Match(t.Context(), dealreg.Prospect{CompanyName: "Smith Logistics Ltd", Email: " INFO7@smith.example"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[0].ID.String() != p.owner.GetCustomerId() || got[0].Match != "same e-mail" {
		t.Fatalf("Match = %v, want the customer with the e-mail first (filters %q)", got, p.filters)
	}
	seen := map[uuid.UUID]bool{}
	for _, c := range got {
		if seen[c.ID] {
			t.Fatalf("Match = %v, want each customer once", got)
		}
		seen[c.ID] = true
	}
}
