package customer_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/services/analytics/internal/clients/customer"
	"github.com/rapportcrm/rapport/services/analytics/internal/tiering"
)

// tierPeer answers SetValueTier with the status its table names per
// customer, after checking the request is a suggestion with credentials.
type tierPeer struct {
	customerv1.UnimplementedClassificationServiceServer
	answers map[string]error
}

func (p tierPeer) SetValueTier(ctx context.Context, req *customerv1.SetValueTierRequest) (*customerv1.SetValueTierResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer tenant-credential" {
		return nil, status.Error(codes.Unauthenticated, "no credential")
	}
	if req.GetSource() != customerv1.ValueTierSource_VALUE_TIER_SOURCE_ANALYTICS || req.GetRequestId() == "" || !req.GetOverrideManual() {
		return nil, status.Error(codes.InvalidArgument, "want a suggestion with a request id and the override flag")
	}
	return &customerv1.SetValueTierResponse{}, p.answers[req.GetCustomerId()]
}

func withReason(code codes.Code, reason string) error {
	st, _ := status.New(code, "refused").WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "rapport"})
	return st.Err()
}

func TestTierSink(t *testing.T) {
	t.Parallel()
	ok, kept, gone, deleted, broken := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
	p := tierPeer{answers: map[string]error{
		kept.String():    withReason(codes.FailedPrecondition, "MANUAL_TIER_KEPT"),
		gone.String():    status.Error(codes.NotFound, "no such customer"),
		deleted.String(): withReason(codes.FailedPrecondition, "CUSTOMER_DELETED"),
		broken.String():  status.Error(codes.Unavailable, "down"),
	}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	customerv1.RegisterClassificationServiceServer(srv, p)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	tenant := uuid.New()
	sink := customer.NewTierSink(conn, func(_ context.Context, got uuid.UUID) (string, error) {
		if got != tenant {
			return "", errors.New("wrong tenant")
		}
		return "tenant-credential", nil
	})
	tests := []struct {
		name string
		id   uuid.UUID
		want error
	}{
		{"taken", ok, nil},
		{"manual tier kept", kept, tiering.ErrManualTierKept},
		{"unknown", gone, tiering.ErrCustomerGone},
		{"deleted", deleted, tiering.ErrCustomerGone},
		{"failing", broken, tiering.ErrDeliveryFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := sink.SuggestTier(t.Context(), tenant, tiering.Suggestion{CustomerID: tt.id, Tier: "A", RunID: uuid.New()}, true)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("SuggestTier(%s) = %v, want %v", tt.name, err, tt.want)
			}
			if st, isStatus := status.FromError(err); err != nil && isStatus && st.Code() != codes.Unknown {
				t.Fatalf("SuggestTier(%s) passed the peer's status up: %v", tt.name, err)
			}
		})
	}
}
