// Package validation collects field violations of a request so a caller
// learns every problem at once. It is transport-neutral: grpcerr renders it
// as InvalidArgument with google.rpc.BadRequest details.
package validation

import (
	"fmt"
	"strings"
)

// Violation is one problem with one field (a dotted path such as "customer.email").
type Violation struct {
	Field       string
	Description string
}

// Error is a set of violations; it is an error only when non-empty.
type Error struct {
	Violations []Violation
}

// Add records a violation.
func (e *Error) Add(field, format string, args ...any) {
	e.Violations = append(e.Violations, Violation{Field: field, Description: fmt.Sprintf(format, args...)})
}

// Err returns e when it holds violations and nil otherwise.
func (e *Error) Err() error {
	if len(e.Violations) == 0 {
		return nil
	}
	return e
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.Field + ": " + v.Description
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

// Field is shorthand for an Error holding one violation.
func Field(field, format string, args ...any) error {
	e := &Error{}
	e.Add(field, format, args...)
	return e
}
