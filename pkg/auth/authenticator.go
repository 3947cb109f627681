package auth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"time"
)

// KeyVerifier resolves an API key: the identity service's store does it
// directly, other services ask the identity service over gRPC.
type KeyVerifier interface {
	VerifyAPIKey(ctx context.Context, key string) (Caller, error)
}

// Authenticator resolves an Authorization header value to a caller.
type Authenticator struct {
	tokens *Verifier
	keys   KeyVerifier
}

// NewAuthenticator verifies JWTs with tokens and API keys with keys.
func NewAuthenticator(tokens *Verifier, keys KeyVerifier) *Authenticator {
	return &Authenticator{tokens: tokens, keys: keys}
}

// Authenticate accepts "Bearer <API key or JWT>".
func (a *Authenticator) Authenticate(ctx context.Context, header string) (Caller, error) {
	scheme, credential, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || credential == "" {
		return Caller{}, ErrUnauthenticated
	}
	credential = strings.TrimSpace(credential)
	if IsAPIKey(credential) {
		return a.keys.VerifyAPIKey(ctx, credential)
	}
	return a.tokens.Verify(credential)
}

// CachedKeys remembers successful API key verifications for ttl, so a
// service does not ask the identity service on every call. A revoked key
// keeps working in other services for at most ttl.
type CachedKeys struct {
	next KeyVerifier
	ttl  time.Duration
	now  func() time.Time

	mu      sync.Mutex
	entries map[[32]byte]cachedCaller
}

type cachedCaller struct {
	caller  Caller
	expires time.Time
}

// maxCachedKeys bounds the cache; when full it is emptied, which is cheap
// and rare, since a tenant uses few keys.
const maxCachedKeys = 10000

// NewCachedKeys wraps next with a cache of lifetime ttl.
func NewCachedKeys(next KeyVerifier, ttl time.Duration) *CachedKeys {
	return &CachedKeys{next: next, ttl: ttl, now: time.Now, entries: map[[32]byte]cachedCaller{}}
}

// VerifyAPIKey implements KeyVerifier.
func (c *CachedKeys) VerifyAPIKey(ctx context.Context, key string) (Caller, error) {
	k := sha256.Sum256([]byte(key))
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[k]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.caller, nil
	}
	caller, err := c.next.VerifyAPIKey(ctx, key)
	if err != nil {
		return Caller{}, fmt.Errorf("verify api key: %w", err)
	}
	c.mu.Lock()
	if len(c.entries) >= maxCachedKeys {
		clear(c.entries)
	}
	c.entries[k] = cachedCaller{caller: caller, expires: now.Add(c.ttl)}
	c.mu.Unlock()
	return caller, nil
}

// Keys returns the authenticator's (cached) API key verifier.
func (a *Authenticator) Keys() KeyVerifier { return a.keys }
