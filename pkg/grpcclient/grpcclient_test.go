package grpcclient_test

import (
	"context"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/rapportcrm/rapport/pkg/causation"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
)

// TestForwardsCredentialAndCause calls a real server over loopback from a
// handler's context, as a service calling a peer does.
func TestForwardsCredentialAndCause(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen metadata.MD
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		mu.Lock()
		seen = md
		mu.Unlock()
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(srv, health.NewServer())
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
	inbound := metadata.NewIncomingContext(t.Context(), metadata.Pairs("authorization", "Bearer caller", causation.Header, "action-9"))
	for _, tc := range []struct {
		name       string
		ctx        context.Context
		wantAuth   string
		wantCaused string
	}{
		{"a handler's call forwards both", inbound, "Bearer caller", "action-9"},
		{"an own credential replaces the caller's", grpcclient.WithBearer(inbound, "service-key"), "Bearer service-key", "action-9"},
		{"an own cause replaces the caller's", causation.Outgoing(inbound, "action-10"), "Bearer caller", "action-10"},
	} {
		if _, err := healthpb.NewHealthClient(conn).Check(tc.ctx, &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("%s: Check = %v", tc.name, err)
		}
		mu.Lock()
		auth, caused := seen.Get("authorization"), seen.Get(causation.Header)
		mu.Unlock()
		if len(auth) != 1 || auth[0] != tc.wantAuth || len(caused) != 1 || caused[0] != tc.wantCaused {
			t.Fatalf("%s: server saw authorization %q, causation %q; want %q, %q", tc.name, auth, caused, tc.wantAuth, tc.wantCaused)
		}
	}
}
