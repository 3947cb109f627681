package customerclient_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/customerclient"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
)

// fakeServer answers GetCustomer from a table and records what it was sent.
type fakeServer struct {
	customerv1.UnimplementedCustomerServiceServer
	answers map[string]func(ctx context.Context) (*customerv1.Customer, error)

	mu            sync.Mutex
	authorization []string
	budget        time.Duration
}

func (f *fakeServer) GetCustomer(ctx context.Context, req *customerv1.GetCustomerRequest) (*customerv1.GetCustomerResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	deadline, _ := ctx.Deadline()
	f.mu.Lock()
	f.authorization, f.budget = md.Get("authorization"), time.Until(deadline)
	f.mu.Unlock()
	c, err := f.answers[req.GetCustomerId()](ctx)
	if err != nil {
		return nil, err
	}
	return &customerv1.GetCustomerResponse{Customer: c}, nil
}

func TestExists(t *testing.T) {
	t.Parallel()
	live, deleted, missing, broken, denied, slow := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
	fake := &fakeServer{answers: map[string]func(context.Context) (*customerv1.Customer, error){
		live.String(): func(context.Context) (*customerv1.Customer, error) {
			return &customerv1.Customer{CustomerId: live.String()}, nil
		},
		deleted.String(): func(context.Context) (*customerv1.Customer, error) {
			return &customerv1.Customer{CustomerId: deleted.String(), DeleteTime: timestamppb.Now()}, nil
		},
		missing.String(): func(context.Context) (*customerv1.Customer, error) {
			return nil, status.Error(codes.NotFound, "customer not found")
		},
		broken.String(): func(context.Context) (*customerv1.Customer, error) {
			return nil, status.Error(codes.Internal, "internal error")
		},
		denied.String(): func(context.Context) (*customerv1.Customer, error) {
			return nil, status.Error(codes.PermissionDenied, "no")
		},
		slow.String(): func(ctx context.Context) (*customerv1.Customer, error) {
			<-ctx.Done()
			return nil, status.FromContextError(ctx.Err()).Err()
		},
	}}
	srv := grpc.NewServer()
	customerv1.RegisterCustomerServiceServer(srv, fake)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpcclient.New(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// A service's domain sentinel for failed lookups.
	errLookup := errors.New("the customer could not be checked")
	client := customerclient.New(conn, errLookup)

	// An inbound call with credentials and a generous deadline.
	inbound := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		t.Cleanup(cancel)
		return metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", "Bearer caller-token"))
	}
	tests := []struct {
		name    string
		id      uuid.UUID
		want    bool
		wantErr error
	}{
		{"live", live, true, nil},
		{"soft-deleted", deleted, false, nil},
		{"not found", missing, false, nil},
		{"peer failure", broken, false, errLookup},
		{"peer refuses", denied, false, errLookup},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := client.Exists(inbound(t), tt.id)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Fatalf("Exists(%s) = %v, %v; want %v, %v", tt.name, got, err, tt.want, tt.wantErr)
			}
			fake.mu.Lock()
			auth, budget := fake.authorization, fake.budget
			fake.mu.Unlock()
			if len(auth) != 1 || auth[0] != "Bearer caller-token" {
				t.Errorf("peer saw authorization %q, want the caller's", auth)
			}
			if budget <= 0 || budget > 3*time.Second {
				t.Errorf("peer saw a deadline %v away, want at most the 3s call timeout", budget)
			}
		})
	}

	t.Run("inbound deadline ends first", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(inbound(t), 50*time.Millisecond)
		defer cancel()
		_, err := client.Exists(ctx, slow)
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errLookup) {
			t.Fatalf("Exists past the inbound deadline error = %v, want DeadlineExceeded and not the lookup error", err)
		}
	})
}
