package customer_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/services/analytics/internal/clients/customer"
	"github.com/rapportcrm/rapport/services/analytics/internal/insight"
)

// peer answers each customer with the status its table names.
type peer struct {
	customerv1.UnimplementedClassificationServiceServer
	customerv1.UnimplementedRelationshipServiceServer
	codes map[string]codes.Code
}

func (p peer) answer(id string) error {
	if c := p.codes[id]; c != codes.OK {
		return status.Error(c, "refused")
	}
	return nil
}

func (p peer) TransitionLifecycleStage(_ context.Context, req *customerv1.TransitionLifecycleStageRequest) (*customerv1.TransitionLifecycleStageResponse, error) {
	if req.GetLifecycleStage() != customerv1.LifecycleStage_LIFECYCLE_STAGE_AT_RISK || req.GetReason() == "" {
		return nil, status.Error(codes.InvalidArgument, "want at-risk with a reason")
	}
	return &customerv1.TransitionLifecycleStageResponse{}, p.answer(req.GetCustomerId())
}

func (p peer) CreateFollowUp(_ context.Context, req *customerv1.CreateFollowUpRequest) (*customerv1.CreateFollowUpResponse, error) {
	if err := p.answer(req.GetFollowUp().GetCustomerId()); err != nil {
		return nil, err
	}
	return &customerv1.CreateFollowUpResponse{FollowUp: &customerv1.FollowUp{FollowUpId: "f-" + req.GetRequestId()}}, nil
}

func TestClient(t *testing.T) {
	t.Parallel()
	ok, atRisk, gone, denied, broken := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
	p := peer{codes: map[string]codes.Code{atRisk.String(): codes.FailedPrecondition, gone.String(): codes.NotFound,
		denied.String(): codes.PermissionDenied, broken.String(): codes.Internal}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	customerv1.RegisterClassificationServiceServer(srv, p)
	customerv1.RegisterRelationshipServiceServer(srv, p)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := customer.New(conn)
	tests := []struct {
		name      string
		id        uuid.UUID
		wantMoved bool
		wantErr   error
	}{
		{"moved", ok, true, nil},
		{"at the stage already", atRisk, false, nil},
		{"unknown", gone, false, insight.ErrCustomerNotFound},
		{"refused", denied, false, auth.ErrForbidden},
		{"failing", broken, false, insight.ErrCustomerServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			moved, err := c.MarkAtRisk(t.Context(), tt.id, "churn risk 80/100")
			if moved != tt.wantMoved || !errors.Is(err, tt.wantErr) {
				t.Fatalf("MarkAtRisk(%s) = %v, %v; want %v, %v", tt.name, moved, err, tt.wantMoved, tt.wantErr)
			}
		})
	}
	id, err := c.CreateWinBack(t.Context(), ok, "Win-back call", "churn risk 80/100", time.Now(), "winback-x")
	if err != nil || id != "f-winback-x" {
		t.Fatalf("CreateWinBack = %q, %v; want f-winback-x", id, err)
	}
	if _, err := c.CreateWinBack(t.Context(), gone, "Win-back call", "", time.Now(), "winback-y"); !errors.Is(err, insight.ErrCustomerNotFound) {
		t.Fatalf("CreateWinBack(unknown) = %v, want ErrCustomerNotFound", err)
	}
}
