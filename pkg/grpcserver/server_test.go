package grpcserver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/causation"
)

// testAuth accepts "Bearer good".
type testAuth struct{}

func (testAuth) Authenticate(_ context.Context, h string) (auth.Caller, error) {
	if h == "Bearer good" {
		return auth.Caller{TenantID: "t1", PrincipalID: "p1"}, nil
	}
	return auth.Caller{}, auth.ErrUnauthenticated
}

// probe is a tiny service whose one method acts on its string argument.
type probe struct{ started chan struct{} }

func (p *probe) call(ctx context.Context, in *wrapperspb.StringValue) (*emptypb.Empty, error) {
	switch in.GetValue() {
	case "panic":
		panic("boom")
	case "fail":
		return nil, errors.New("database exploded with secret details")
	case "slow":
		close(p.started)
		time.Sleep(300 * time.Millisecond)
	case "deadline":
		if _, ok := ctx.Deadline(); !ok {
			return nil, status.Error(codes.FailedPrecondition, "no deadline")
		}
	case "caller":
		if c, ok := auth.CallerFrom(ctx); !ok || c.TenantID != "t1" {
			return nil, status.Error(codes.FailedPrecondition, "no caller")
		}
	case "caused":
		if causation.From(ctx) != "action-1" {
			return nil, status.Error(codes.FailedPrecondition, "no causation id")
		}
	}
	return &emptypb.Empty{}, nil
}

var probeDesc = grpc.ServiceDesc{
	ServiceName: "test.Probe",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{MethodName: "Call", Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
		in := &wrapperspb.StringValue{}
		if err := dec(in); err != nil {
			return nil, err
		}
		h := func(ctx context.Context, req any) (any, error) {
			return srv.(*probe).call(ctx, req.(*wrapperspb.StringValue))
		}
		return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/test.Probe/Call"}, h)
	}}},
}

func start(t *testing.T, ctx context.Context) (*grpc.ClientConn, *probe, chan error) {
	t.Helper()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	srv := New(Config{DefaultDeadline: time.Second, ShutdownTimeout: 5 * time.Second, Reflection: true}, log, testAuth{})
	p := &probe{started: make(chan struct{})}
	srv.RegisterService(&probeDesc, p)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, lis, func(context.Context) error { return nil }) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, p, done
}

func call(ctx context.Context, conn *grpc.ClientConn, arg string) error {
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer good")
	return conn.Invoke(ctx, "/test.Probe/Call", wrapperspb.String(arg), &emptypb.Empty{})
}

func TestInterceptors(t *testing.T) {
	t.Parallel()
	conn, _, _ := start(t, t.Context())
	tests := []struct {
		arg  string
		want codes.Code
	}{
		{"panic", codes.Internal},
		{"ok", codes.OK}, // the server survived the panic
		{"fail", codes.Internal},
		{"deadline", codes.OK},
		{"caller", codes.OK},
		{"caused", codes.OK},
	}
	for _, tt := range tests {
		err := call(causation.Outgoing(t.Context(), "action-1"), conn, tt.arg)
		if status.Code(err) != tt.want {
			t.Fatalf("Call(%s) = %v, want %v", tt.arg, err, tt.want)
		}
		if tt.arg == "fail" && status.Convert(err).Message() != "internal error" {
			t.Fatalf("Call(fail) leaked %q, want the masked message", status.Convert(err).Message())
		}
	}
	if err := conn.Invoke(t.Context(), "/test.Probe/Call", wrapperspb.String("ok"), &emptypb.Empty{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("Call without credentials = %v, want Unauthenticated", err)
	}
	// Health is public and reports SERVING once ready succeeded.
	deadline := time.Now().Add(3 * time.Second)
	for {
		r, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health = %v, %v; want SERVING", r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestShutdownDrainsInFlightCalls(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	conn, p, done := start(t, ctx)
	result := make(chan error, 1)
	go func() { result <- call(t.Context(), conn, "slow") }()
	<-p.started
	cancel() // SIGTERM arrives while the call is in flight
	if err := <-result; err != nil {
		t.Fatalf("in-flight call during shutdown = %v, want it to complete", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want a clean stop", err)
	}
}
