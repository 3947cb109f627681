package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Issuer and audience of every Rapport token.
const (
	Issuer   = "rapport"
	Audience = "rapport"
)

type claims struct {
	jwt.RegisteredClaims
	TenantID string   `json:"tid"`
	Roles    []Role   `json:"roles"`
	Operator bool     `json:"op,omitempty"`
	Teams    []string `json:"teams,omitempty"`
	Partner  string   `json:"pid,omitempty"`
}

// Signer issues tokens; only the identity service holds the private key.
type Signer struct{ key ed25519.PrivateKey }

// NewSigner takes the base64 32-byte Ed25519 seed.
func NewSigner(seedB64 string) (*Signer, error) {
	seed, err := base64.StdEncoding.DecodeString(seedB64)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("the JWT private key must be a base64 32-byte Ed25519 seed")
	}
	return &Signer{key: ed25519.NewKeyFromSeed(seed)}, nil
}

// PublicKey returns the base64 public key that verifiers need.
func (s *Signer) PublicKey() string {
	return base64.StdEncoding.EncodeToString(s.key.Public().(ed25519.PublicKey))
}

// Sign returns a token for c valid until expiry.
func (s *Signer) Sign(c Caller, now, expiry time.Time) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: Issuer, Subject: c.PrincipalID, Audience: jwt.ClaimStrings{Audience},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			ExpiresAt: jwt.NewNumericDate(expiry), ID: uuid.NewString(),
		},
		TenantID: c.TenantID, Roles: c.Roles, Operator: c.Operator, Teams: c.TeamIDs, Partner: c.PartnerID,
	})
	return t.SignedString(s.key)
}

// Verifier checks tokens with the public key.
type Verifier struct {
	key    ed25519.PublicKey
	parser *jwt.Parser
}

// NewVerifier takes the base64 Ed25519 public key.
func NewVerifier(pubB64 string) (*Verifier, error) {
	pub, err := base64.StdEncoding.DecodeString(pubB64)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, errors.New("the JWT public key must be a base64 32-byte Ed25519 key")
	}
	return &Verifier{key: pub, parser: jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(Issuer), jwt.WithAudience(Audience), jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second),
	)}, nil
}

// Verify returns the caller a valid token stands for.
func (v *Verifier) Verify(token string) (Caller, error) {
	var c claims
	_, err := v.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return v.key, nil })
	if err != nil {
		return Caller{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	if _, err := uuid.Parse(c.TenantID); err != nil {
		return Caller{}, fmt.Errorf("%w: bad tenant claim", ErrUnauthenticated)
	}
	return Caller{TenantID: c.TenantID, PrincipalID: c.Subject, Roles: c.Roles, Operator: c.Operator, TeamIDs: c.Teams, PartnerID: c.Partner}, nil
}
