// Package env reads typed configuration from environment variables and
// reports every problem at once, so an operator fixes them in one pass.
package env

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Reader reads variables through getenv and collects parse errors.
type Reader struct {
	getenv func(string) string
	errs   []error
}

// New returns a Reader over getenv (os.Getenv in main, a map in tests).
func New(getenv func(string) string) *Reader { return &Reader{getenv: getenv} }

// String returns the variable, or def when it is unset or empty.
func (r *Reader) String(key, def string) string {
	if v := r.getenv(key); v != "" {
		return v
	}
	return def
}

// Required returns the variable and records an error when it is unset.
func (r *Reader) Required(key string) string {
	v := r.getenv(key)
	if v == "" {
		r.errs = append(r.errs, fmt.Errorf("%s is required", key))
	}
	return v
}

// Duration parses a Go duration such as "10s".
func (r *Reader) Duration(key string, def time.Duration) time.Duration {
	v := r.getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		r.errs = append(r.errs, fmt.Errorf("%s=%q is not a non-negative duration", key, v))
		return def
	}
	return d
}

// Int parses a decimal integer.
func (r *Reader) Int(key string, def int) int {
	v := r.getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s=%q is not an integer", key, v))
		return def
	}
	return n
}

// Bool parses true/false, 1/0 and the like.
func (r *Reader) Bool(key string, def bool) bool {
	v := r.getenv(key)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s=%q is not a boolean", key, v))
		return def
	}
	return b
}

// Err returns every problem met so far, joined, or nil.
func (r *Reader) Err() error { return errors.Join(r.errs...) }
