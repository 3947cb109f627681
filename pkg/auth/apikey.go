package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/google/uuid"
)

// APIKeyPrefix starts every API key, so scanners and humans recognise one.
const APIKeyPrefix = "rk_"

// NewAPIKey returns a new key and the hash to store. The key is
// rk_<tenant id><key id>_<256-bit secret>: the ids let the key be looked up
// under the tenant's row-level security, and only the secret's SHA-256 is
// kept; a fast hash suffices because the secret is random, not a password.
func NewAPIKey(tenantID, keyID uuid.UUID) (key string, hash []byte) {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	s := base64.RawURLEncoding.EncodeToString(secret)
	h := sha256.Sum256([]byte(s))
	return APIKeyPrefix + hex.EncodeToString(tenantID[:]) + hex.EncodeToString(keyID[:]) + "_" + s, h[:]
}

// ParsedAPIKey is what a well-formed key says about itself.
type ParsedAPIKey struct {
	TenantID, KeyID uuid.UUID
	// SecretHash is the SHA-256 of the secret, to compare with the stored one.
	SecretHash []byte
}

// ParseAPIKey splits a key into its ids and the SHA-256 of its secret.
func ParseAPIKey(key string) (ParsedAPIKey, bool) {
	rest, found := strings.CutPrefix(key, APIKeyPrefix)
	if !found {
		return ParsedAPIKey{}, false
	}
	ids, secret, found := strings.Cut(rest, "_")
	raw, err := hex.DecodeString(ids)
	if !found || err != nil || len(raw) != 32 || len(secret) != 43 {
		return ParsedAPIKey{}, false
	}
	p := ParsedAPIKey{TenantID: uuid.UUID(raw[:16]), KeyID: uuid.UUID(raw[16:])}
	h := sha256.Sum256([]byte(secret))
	p.SecretHash = h[:]
	return p, true
}

// IsAPIKey tells an API key from a JWT.
func IsAPIKey(credential string) bool { return strings.HasPrefix(credential, APIKeyPrefix) }
