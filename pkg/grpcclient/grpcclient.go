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

	"github.com/rapportcrm/rapport/pkg/causation"
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

// WithBearer returns ctx whose calls present credential (an API key or a
// token) in place of the inbound caller's.
func WithBearer(ctx context.Context, credential string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+credential)
}

// forwarded are the inbound metadata a call carries on to peers unless its
// caller set them itself: the credential, so a peer sees the same principal
// and tenant, and the causation id, so the peer's changes name the same
// cause.
var forwarded = []string{"authorization", causation.Header}

func forward(ctx context.Context) context.Context {
	out, _ := metadata.FromOutgoingContext(ctx)
	in, _ := metadata.FromIncomingContext(ctx)
	for _, k := range forwarded {
		if v := in.Get(k); len(v) == 1 && len(out.Get(k)) == 0 {
			ctx = metadata.AppendToOutgoingContext(ctx, k, v[0])
		}
	}
	return ctx
}

func forwardUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return invoker(forward(ctx), method, req, reply, cc, opts...)
}

func forwardStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return streamer(forward(ctx), desc, cc, method, opts...)
}
