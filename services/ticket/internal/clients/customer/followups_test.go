package customer_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/services/ticket/internal/clients/customer"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

// relationships accepts follow-ups from one key and remembers request ids.
type relationships struct {
	customerv1.UnimplementedRelationshipServiceServer
	got chan *customerv1.CreateFollowUpRequest
}

func (r *relationships) CreateFollowUp(ctx context.Context, req *customerv1.CreateFollowUpRequest) (*customerv1.CreateFollowUpResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if a := md.Get("authorization"); len(a) != 1 || a[0] != "Bearer rk_ticket" {
		return nil, status.Error(codes.Unauthenticated, "bad key")
	}
	r.got <- req
	return &customerv1.CreateFollowUpResponse{FollowUp: &customerv1.FollowUp{FollowUpId: "f-1"}}, nil
}

func TestCreateFollowUp(t *testing.T) {
	t.Parallel()
	srv := grpc.NewServer()
	r := &relationships{got: make(chan *customerv1.CreateFollowUpRequest, 1)}
	customerv1.RegisterRelationshipServiceServer(srv, r)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	d := ticket.Detractor{SourceID: uuid.New(), Kind: ticket.KindCSAT, TicketID: uuid.New(), CustomerID: uuid.New(), Score: 1}

	f := customer.New(conn, "rk_ticket", "tenant-a")
	if _, err := f.CreateFollowUp(t.Context(), "tenant-b", d); !errors.Is(err, customer.ErrWrongTenant) {
		t.Fatalf("CreateFollowUp in another tenant = %v, want ErrWrongTenant", err)
	}
	id, err := f.CreateFollowUp(t.Context(), "tenant-a", d)
	if err != nil || id != "f-1" {
		t.Fatalf("CreateFollowUp = %q, %v", id, err)
	}
	req := <-r.got
	if req.GetRequestId() != "csat-detractor-"+d.SourceID.String() || req.GetFollowUp().GetCustomerId() != d.CustomerID.String() ||
		req.GetFollowUp().GetDueTime() == nil {
		t.Fatalf("request = %v", req)
	}
	if _, err := customer.New(conn, "rk_other", "tenant-a").CreateFollowUp(t.Context(), "tenant-a", d); status.Code(errors.Unwrap(err)) != codes.Unauthenticated {
		t.Fatalf("CreateFollowUp with a bad key = %v, want Unauthenticated", err)
	}
}
