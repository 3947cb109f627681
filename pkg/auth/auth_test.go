package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func newSigner(t *testing.T) *Signer {
	t.Helper()
	seed := make([]byte, 32)
	_, _ = rand.Read(seed)
	s, err := NewSigner(base64.StdEncoding.EncodeToString(seed))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAPIKeyRoundTrip(t *testing.T) {
	t.Parallel()
	tenant, id := uuid.New(), uuid.New()
	key, hash := NewAPIKey(tenant, id)
	p, ok := ParseAPIKey(key)
	if !ok || p.TenantID != tenant || p.KeyID != id || string(p.SecretHash) != string(hash) {
		t.Fatalf("ParseAPIKey(%q) = %+v, %v", key, p, ok)
	}
	for _, bad := range []string{"", "rk_", key[:len(key)-1], strings.Replace(key, "rk_", "xx_", 1), "rk_zz" + key[5:]} {
		if _, ok := ParseAPIKey(bad); ok {
			t.Errorf("ParseAPIKey(%q) accepted a malformed key", bad)
		}
	}
}

func TestJWT(t *testing.T) {
	t.Parallel()
	s := newSigner(t)
	v, err := NewVerifier(s.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	c := Caller{TenantID: uuid.NewString(), PrincipalID: uuid.NewString(), Roles: []Role{RoleAnalyst}}
	now := time.Now()
	tok, err := s.Sign(c, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(tok)
	if err != nil || got.TenantID != c.TenantID || got.PrincipalID != c.PrincipalID || !got.HasAny(RoleAnalyst) {
		t.Fatalf("Verify = %+v, %v; want %+v", got, err, c)
	}
	expired, _ := s.Sign(c, now.Add(-2*time.Hour), now.Add(-time.Hour))
	other, _ := newSigner(t).Sign(c, now, now.Add(time.Hour))
	for name, bad := range map[string]string{"expired": expired, "foreign key": other, "garbage": "a.b.c", "tampered": tok[:len(tok)-2] + "xx"} {
		if _, err := v.Verify(bad); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("Verify(%s) = %v, want ErrUnauthenticated", name, err)
		}
	}
}

type countingKeys struct{ calls int }

func (k *countingKeys) VerifyAPIKey(_ context.Context, key string) (Caller, error) {
	k.calls++
	if key == "rk_good" {
		return Caller{TenantID: "t"}, nil
	}
	return Caller{}, ErrUnauthenticated
}

func TestAuthenticatorAndCache(t *testing.T) {
	t.Parallel()
	s := newSigner(t)
	v, _ := NewVerifier(s.PublicKey())
	keys := &countingKeys{}
	cache := NewCachedKeys(keys, time.Minute)
	now := time.Now()
	cache.now = func() time.Time { return now }
	a := NewAuthenticator(v, cache)
	for range 3 {
		if _, err := a.Authenticate(t.Context(), "Bearer rk_good"); err != nil {
			t.Fatal(err)
		}
	}
	if keys.calls != 1 {
		t.Fatalf("verifier called %d times for one key, want 1 (cached)", keys.calls)
	}
	now = now.Add(2 * time.Minute)
	if _, err := a.Authenticate(t.Context(), "bearer rk_good"); err != nil || keys.calls != 2 {
		t.Fatalf("after expiry: err %v, calls %d; want a fresh verification", err, keys.calls)
	}
	for _, h := range []string{"", "Basic abc", "Bearer ", "Bearer rk_bad", "Bearer not.a.jwt"} {
		if _, err := a.Authenticate(t.Context(), h); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("Authenticate(%q) = %v, want ErrUnauthenticated", h, err)
		}
	}
}
