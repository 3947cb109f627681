package auth

import (
	"fmt"
	"time"

	"github.com/rapportcrm/rapport/pkg/env"
)

// Config is how a service verifies credentials.
type Config struct {
	// PublicKey is the base64 Ed25519 key that verifies JWTs (RAPPORT_JWT_PUBLIC_KEY).
	PublicKey string
	// KeyCacheTTL is how long a verified API key is trusted without asking
	// again (API_KEY_CACHE_TTL, default 30s); it bounds how late a revocation bites.
	KeyCacheTTL time.Duration
}

// LoadConfig reads RAPPORT_JWT_PUBLIC_KEY and API_KEY_CACHE_TTL.
func LoadConfig(r *env.Reader) Config {
	return Config{
		PublicKey:   r.String("RAPPORT_JWT_PUBLIC_KEY", ""),
		KeyCacheTTL: r.Duration("API_KEY_CACHE_TTL", 30*time.Second),
	}
}

// Build returns an authenticator over keys (cached for KeyCacheTTL).
func (c Config) Build(keys KeyVerifier) (*Authenticator, error) {
	v, err := NewVerifier(c.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("RAPPORT_JWT_PUBLIC_KEY: %w", err)
	}
	return NewAuthenticator(v, NewCachedKeys(keys, c.KeyCacheTTL)), nil
}
