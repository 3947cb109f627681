// Package grpctest runs a service's gRPC handlers in tests behind the real
// server and interceptors, on a loopback socket, with callers authenticated
// by JWTs that a throwaway key signs.
package grpctest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
)

// Serve starts a grpcserver.Server (5s default deadline, logs discarded)
// authenticating with authn, lets register add the services, serves it on
// 127.0.0.1 and returns a client connection to it. Both are closed when the
// test ends. Calls to the methods in public need no credentials.
func Serve(t testing.TB, authn grpcserver.Authenticator, register func(*grpcserver.Server), public ...string) *grpc.ClientConn {
	t.Helper()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	srv := grpcserver.New(grpcserver.Config{DefaultDeadline: 5 * time.Second}, log, authn, public...)
	register(srv)
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
	return conn
}

// Tokens signs JWTs with a random Ed25519 key; its embedded Signer serves
// wherever a service needs one.
type Tokens struct {
	*auth.Signer
	t testing.TB
}

// NewTokens returns Tokens over a fresh random key; signing failures fail t.
func NewTokens(t testing.TB) *Tokens {
	t.Helper()
	seed := make([]byte, 32)
	_, _ = rand.Read(seed)
	signer, err := auth.NewSigner(base64.StdEncoding.EncodeToString(seed))
	if err != nil {
		t.Fatal(err)
	}
	return &Tokens{Signer: signer, t: t}
}

// Authenticator accepts the JWTs these Tokens sign and resolves API keys
// with keys; a nil keys rejects every API key as unauthenticated.
func (k *Tokens) Authenticator(keys auth.KeyVerifier) *auth.Authenticator {
	k.t.Helper()
	verifier, err := auth.NewVerifier(k.PublicKey())
	if err != nil {
		k.t.Fatal(err)
	}
	if keys == nil {
		keys = noKeys{}
	}
	return auth.NewAuthenticator(verifier, keys)
}

// Context returns ctx carrying, as outgoing metadata, an hour-long JWT for a
// new principal of tenant with roles.
func (k *Tokens) Context(ctx context.Context, tenant string, roles ...auth.Role) context.Context {
	k.t.Helper()
	now := time.Now()
	tok, err := k.Sign(auth.Caller{TenantID: tenant, PrincipalID: uuid.NewString(), Roles: roles}, now, now.Add(time.Hour))
	if err != nil {
		k.t.Fatal(err)
	}
	return Bearer(ctx, tok)
}

// Bearer returns ctx carrying "authorization: Bearer credential" as outgoing
// metadata.
func Bearer(ctx context.Context, credential string) context.Context {
	return grpcclient.WithBearer(ctx, credential)
}

// Violations returns the fields named by the BadRequest details of err's
// status.
func Violations(err error) map[string]bool {
	out := map[string]bool{}
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out[v.GetField()] = true
			}
		}
	}
	return out
}

// Reason returns the ErrorInfo reason of err's status, "" when it has none.
func Reason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// noKeys knows no API key.
type noKeys struct{}

func (noKeys) VerifyAPIKey(context.Context, string) (auth.Caller, error) {
	return auth.Caller{}, auth.ErrUnauthenticated
}
