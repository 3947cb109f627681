// Package grpcclient opens the long-lived, traced connections a service keeps
// to its peers, forwarding the caller's credentials on every call.
package grpcclient

import (
	"context"
	"fmt"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// New dials target (for example "127.0.0.1:9091" or "dns:///customer:9090")
// lazily; the connection is shared by all calls and closed at shutdown.
// Transport security between pods is the mesh's job here, so the channel is
// plaintext; every call still carries and re-verifies the caller's credential.
func New(target string) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()),
		grpc.WithChainUnaryInterceptor(forwardUnary),
		grpc.WithChainStreamInterceptor(forwardStream),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`),
		// While a peer restarts, calls wait for it (within their deadline)
		// instead of failing at once on a broken connection.
		grpc.WithDefaultCallOptions(grpc.WaitForReady(true)),
	)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	return conn, nil
}

// forward copies the inbound authorization onto the outbound call unless the
// caller set one itself, so a peer sees the same principal and tenant.
func forward(ctx context.Context) context.Context {
	if out, ok := metadata.FromOutgoingContext(ctx); ok && len(out.Get("authorization")) > 0 {
		return ctx
	}
	in, _ := metadata.FromIncomingContext(ctx)
	if v := in.Get("authorization"); len(v) == 1 {
		return metadata.AppendToOutgoingContext(ctx, "authorization", v[0])
	}
	return ctx
}

func forwardUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return invoker(forward(ctx), method, req, reply, cc, opts...)
}

func forwardStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return streamer(forward(ctx), desc, cc, method, opts...)
}
