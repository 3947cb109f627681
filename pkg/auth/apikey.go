package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/google/uuid"
)

// APIKeyPrefix starts every API key, so scanners and humans recognise one.
const APIKeyPrefix = "rk_"

// NewAPIKey returns a new key for keyID, and the hash to store. The key is
// rk_<key id>_<256-bit secret>; only the secret's SHA-256 is kept, and a fast
// hash suffices because the secret is random, not a password.
func NewAPIKey(keyID uuid.UUID) (key string, hash []byte) {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	s := base64.RawURLEncoding.EncodeToString(secret)
	h := sha256.Sum256([]byte(s))
	return APIKeyPrefix + strings.ReplaceAll(keyID.String(), "-", "") + "_" + s, h[:]
}

// ParseAPIKey splits a key into its id and the SHA-256 of its secret.
func ParseAPIKey(key string) (keyID uuid.UUID, hash []byte, ok bool) {
	rest, found := strings.CutPrefix(key, APIKeyPrefix)
	if !found {
		return uuid.Nil, nil, false
	}
	id, secret, found := strings.Cut(rest, "_")
	if !found || len(id) != 32 || len(secret) != 43 {
		return uuid.Nil, nil, false
	}
	keyID, err := uuid.Parse(id)
	if err != nil {
		return uuid.Nil, nil, false
	}
	h := sha256.Sum256([]byte(secret))
	return keyID, h[:], true
}

// IsAPIKey tells an API key from a JWT.
func IsAPIKey(credential string) bool { return strings.HasPrefix(credential, APIKeyPrefix) }
