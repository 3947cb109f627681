package grpcserver

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/causation"
)

// Authenticator resolves the authorization metadata of a call.
type Authenticator interface {
	Authenticate(ctx context.Context, header string) (auth.Caller, error)
}

// chain holds what the interceptors need.
type chain struct {
	log      *slog.Logger
	authn    Authenticator
	public   func(method string) bool
	deadline time.Duration
	// draining closes when shutdown begins: long-lived streams end then, so
	// GracefulStop does not wait on them until the shutdown timeout.
	draining chan struct{}
}

// unary runs, outermost first: recovery → default deadline → access log →
// error mask → authentication.
func (c *chain) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	defer c.recover(ctx, info.FullMethod, &err)
	ctx, cancel := c.withDeadline(ctx)
	defer cancel()
	start := time.Now()
	defer func() { c.access(ctx, info.FullMethod, start, err) }()
	defer func() { err = c.mask(ctx, info.FullMethod, err) }()
	ctx, err = c.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return h(causation.FromIncoming(ctx), req)
}

func (c *chain) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
	ctx := ss.Context()
	defer c.recover(ctx, info.FullMethod, &err)
	start := time.Now()
	defer func() { c.access(ctx, info.FullMethod, start, err) }()
	defer func() { err = c.mask(ctx, info.FullMethod, err) }()
	ctx, err = c.authenticate(ctx, info.FullMethod)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(causation.FromIncoming(ctx))
	defer cancel()
	go func() {
		select {
		case <-c.draining:
			cancel()
		case <-ctx.Done():
		}
	}()
	err = h(srv, &scopedStream{ServerStream: ss, ctx: ctx})
	if errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled {
		select {
		case <-c.draining:
			// The client should reconnect, to this server's successor.
			return status.Error(codes.Unavailable, "server shutting down")
		default:
		}
	}
	return err
}

// recover turns a panic into Internal for this call only.
func (c *chain) recover(ctx context.Context, method string, err *error) {
	if r := recover(); r != nil {
		c.log.ErrorContext(ctx, "panic in handler", "method", method, "panic", r, "stack", string(debug.Stack()))
		*err = status.Error(codes.Internal, "internal error")
	}
}

func (c *chain) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || c.deadline <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.deadline)
}

func (c *chain) access(ctx context.Context, method string, start time.Time, err error) {
	attrs := make([]slog.Attr, 0, 5)
	attrs = append(attrs, slog.String("method", method), slog.String("code", status.Code(err).String()),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
	if cl, ok := auth.CallerFrom(ctx); ok {
		attrs = append(attrs, slog.String("tenant_id", cl.TenantID), slog.String("principal_id", cl.PrincipalID))
	}
	c.log.LogAttrs(ctx, slog.LevelInfo, "rpc", attrs...)
}

// mask passes statuses through, maps context errors, and hides anything
// else behind Internal after logging it once.
func (c *chain) mask(ctx context.Context, method string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	c.log.ErrorContext(ctx, "internal error", "method", method, "error", err.Error())
	return status.Error(codes.Internal, "internal error")
}

// authenticate resolves the caller of every non-public method; services
// re-check credentials rather than trusting the network.
func (c *chain) authenticate(ctx context.Context, method string) (context.Context, error) {
	if c.public(method) {
		return ctx, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) != 1 {
		return ctx, status.Error(codes.Unauthenticated, "send credentials as authorization: Bearer <API key or token>")
	}
	caller, err := c.authn.Authenticate(ctx, vals[0])
	switch {
	case err == nil:
		return auth.WithCaller(ctx, caller), nil
	case errors.Is(err, auth.ErrUnauthenticated):
		return ctx, status.Error(codes.Unauthenticated, "invalid credentials")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ctx, status.FromContextError(err).Err()
	}
	return ctx, status.Error(codes.Unavailable, "credentials could not be verified; retry")
}

// scopedStream carries the authenticated context into a streaming handler.
type scopedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *scopedStream) Context() context.Context { return s.ctx }

// publicMethods reports whether a method needs no credential: health,
// reflection and the methods named in extra.
func publicMethods(extra []string) func(string) bool {
	return func(method string) bool {
		if strings.HasPrefix(method, "/grpc.health.v1.Health/") || strings.HasPrefix(method, "/grpc.reflection.") {
			return true
		}
		for _, m := range extra {
			if m == method {
				return true
			}
		}
		return false
	}
}
