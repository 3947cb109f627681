// Package pagetoken encodes keyset pagination positions as opaque page tokens
// bound to the query they came from, so a token cannot be replayed against a
// different filter or order.
package pagetoken

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash/fnv"
)

// ErrInvalid means the token is malformed or belongs to another query.
var ErrInvalid = errors.New("invalid page token")

type envelope struct {
	Query uint64          `json:"q"`
	Key   json.RawMessage `json:"k"`
}

// Encode returns a token for the position key (the sort values of the last
// row returned) under query (the filter and order that produced it).
func Encode(query string, key any) (string, error) {
	k, err := json.Marshal(key)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(envelope{Query: hash(query), Key: k})
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Decode reads a token made by Encode for the same query into key.
func Decode(token, query string, key any) error {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return ErrInvalid
	}
	var e envelope
	if err := json.Unmarshal(b, &e); err != nil || e.Query != hash(query) {
		return ErrInvalid
	}
	if err := json.Unmarshal(e.Key, key); err != nil {
		return ErrInvalid
	}
	return nil
}

func hash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}
