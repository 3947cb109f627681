package grpctest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/grpctest"
)

func TestServe(t *testing.T) {
	t.Parallel()
	tokens := grpctest.NewTokens(t)
	registered := false
	conn := grpctest.Serve(t, tokens.Authenticator(nil), func(*grpcserver.Server) { registered = true })
	if !registered {
		t.Fatal("Serve did not call register")
	}
	resp, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Check = %v, %v; want NOT_SERVING", resp, err)
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	tokens := grpctest.NewTokens(t)
	authn := tokens.Authenticator(nil)
	tenant := uuid.NewString()
	header := func(ctx context.Context) string {
		md, _ := metadata.FromOutgoingContext(ctx)
		return md.Get("authorization")[0]
	}
	c, err := authn.Authenticate(t.Context(), header(tokens.Context(t.Context(), tenant, auth.RoleAnalyst)))
	if err != nil || c.TenantID != tenant || c.PrincipalID == "" || !c.HasAny(auth.RoleAnalyst) || c.HasAny(auth.RoleAdmin) {
		t.Fatalf("Authenticate(signed JWT) = %+v, %v; want an analyst of %s", c, err, tenant)
	}
	if _, err := authn.Authenticate(t.Context(), header(grpctest.Bearer(t.Context(), auth.APIKeyPrefix+"nonsense"))); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("Authenticate(API key) = %v, want ErrUnauthenticated", err)
	}
	if _, err := grpctest.NewTokens(t).Authenticator(nil).Authenticate(t.Context(), header(tokens.Context(t.Context(), tenant))); err == nil {
		t.Fatal("a JWT signed by other Tokens was accepted")
	}
}

func TestViolations(t *testing.T) {
	t.Parallel()
	st, err := status.New(codes.InvalidArgument, "bad").WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "a"}, {Field: "b.c"}}})
	if err != nil {
		t.Fatal(err)
	}
	got := grpctest.Violations(st.Err())
	if len(got) != 2 || !got["a"] || !got["b.c"] {
		t.Fatalf("Violations = %v, want a and b.c", got)
	}
	if got := grpctest.Violations(errors.New("plain")); len(got) != 0 {
		t.Fatalf("Violations(plain error) = %v, want none", got)
	}
}
