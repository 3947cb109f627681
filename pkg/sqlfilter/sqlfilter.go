// Package sqlfilter turns an AIP-160 filter into a parameterised SQL
// condition over a fixed set of declared fields, so a list RPC never builds
// SQL from caller text.
package sqlfilter

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.einride.tech/aip/filtering"
	expr "google.golang.org/genproto/googleapis/api/expr/v1alpha1"
)

// Kind is the type of a filterable field.
type Kind int

// Field kinds.
const (
	String      Kind = iota // text column; "=" compares case-sensitively, "*" suffix matches a prefix
	Lowercase               // text column holding lower-cased values; the value is lower-cased too
	UUID                    // uuid column; the value must be a UUID
	Enum                    // integer column holding a proto enum; values are enum value names
	Timestamp               // timestamptz column; values are RFC 3339 strings
	Int                     // integer column
	StringArray             // text[] column; only "field:value" (contains) applies
	Date                    // date column; values are calendar dates, "YYYY-MM-DD"
	Bool                    // boolean column; values are true or false
)

// Field declares one filterable field.
type Field struct {
	Column string
	Kind   Kind
	// Enum maps enum value names to their numbers (the generated X_value map).
	Enum map[string]int32
}

// Condition is a translated filter: SQL to AND into a WHERE clause, with its
// arguments numbered from the offset passed to Translate.
type Condition struct {
	SQL  string
	Args []any
}

// Error explains why a filter was rejected; its text is safe to show callers.
type Error struct{ Reason string }

func (e *Error) Error() string { return "invalid filter: " + e.Reason }

// Translate parses filter and renders it over fields, numbering arguments
// from $argOffset+1. An empty filter yields "TRUE".
func Translate(filter string, fields map[string]Field, argOffset int) (Condition, error) {
	if strings.TrimSpace(filter) == "" {
		return Condition{SQL: "TRUE"}, nil
	}
	if len(filter) > 2000 {
		return Condition{}, &Error{"longer than 2000 characters"}
	}
	var p filtering.Parser
	p.Init(filter)
	parsed, err := p.Parse()
	if err != nil {
		return Condition{}, &Error{err.Error()}
	}
	t := translator{fields: fields, offset: argOffset}
	sql, err := t.expr(parsed.GetExpr(), 0)
	if err != nil {
		return Condition{}, err
	}
	return Condition{SQL: sql, Args: t.args}, nil
}

type translator struct {
	fields map[string]Field
	offset int
	args   []any
}

const maxDepth = 32

func (t *translator) expr(e *expr.Expr, depth int) (string, error) {
	if depth > maxDepth {
		return "", &Error{"nested too deeply"}
	}
	call := e.GetCallExpr()
	if call == nil {
		return "", &Error{"expected a comparison such as `field = value`"}
	}
	args := call.GetArgs()
	switch call.GetFunction() {
	case filtering.FunctionAnd, filtering.FunctionFuzzyAnd, filtering.FunctionOr:
		op := " AND "
		if call.GetFunction() == filtering.FunctionOr {
			op = " OR "
		}
		parts := make([]string, 0, len(args))
		for _, a := range args {
			s, err := t.expr(a, depth+1)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return "(" + strings.Join(parts, op) + ")", nil
	case filtering.FunctionNot:
		if len(args) != 1 {
			return "", &Error{"NOT takes one operand"}
		}
		s, err := t.expr(args[0], depth+1)
		if err != nil {
			return "", err
		}
		return "(NOT " + s + ")", nil
	case filtering.FunctionEquals, filtering.FunctionNotEquals, filtering.FunctionLessThan,
		filtering.FunctionLessEquals, filtering.FunctionGreaterThan, filtering.FunctionGreaterEquals, filtering.FunctionHas:
		if len(args) != 2 {
			return "", &Error{"a comparison takes two operands"}
		}
		return t.comparison(call.GetFunction(), args[0], args[1])
	}
	return "", &Error{fmt.Sprintf("unsupported function %q", call.GetFunction())}
}

func (t *translator) comparison(op string, lhs, rhs *expr.Expr) (string, error) {
	name := lhs.GetIdentExpr().GetName()
	f, ok := t.fields[name]
	if name == "" || !ok {
		return "", &Error{fmt.Sprintf("unknown field %q; filterable fields: %s", identText(lhs), t.names())}
	}
	raw, ok := literal(rhs)
	if !ok {
		return "", &Error{fmt.Sprintf("the value compared with %s must be a literal", name)}
	}
	if f.Kind == StringArray {
		if op != filtering.FunctionHas {
			return "", &Error{fmt.Sprintf("%s is a list: use %s:value", name, name)}
		}
		return fmt.Sprintf("%s = ANY(%s)", t.arg(raw), f.Column), nil
	}
	if op == filtering.FunctionHas {
		op = filtering.FunctionEquals
	}
	var v any
	switch f.Kind {
	case String, Lowercase:
		if f.Kind == Lowercase {
			raw = strings.ToLower(raw)
		}
		if op == filtering.FunctionEquals && strings.HasSuffix(raw, "*") {
			prefix := strings.TrimSuffix(raw, "*")
			return fmt.Sprintf("starts_with(%s, %s)", f.Column, t.arg(prefix)), nil
		}
		v = raw
	case UUID:
		id, err := uuid.Parse(raw)
		if err != nil {
			return "", &Error{fmt.Sprintf("%s must be a UUID", name)}
		}
		v = id
	case Enum:
		n, ok := f.Enum[raw]
		if !ok {
			return "", &Error{fmt.Sprintf("%q is not a value of %s", raw, name)}
		}
		v = n
	case Timestamp:
		ts, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			return "", &Error{fmt.Sprintf("%s must be an RFC 3339 time such as 2026-01-02T15:04:05Z", name)}
		}
		v = ts
	case Int:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return "", &Error{fmt.Sprintf("%s must be an integer", name)}
		}
		v = n
	case Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return "", &Error{fmt.Sprintf("%s must be true or false", name)}
		}
		v = b
	case Date:
		// Year 0 parses but PostgreSQL's date has no year 0.
		if d, err := time.Parse(time.DateOnly, raw); err != nil || d.Year() < 1 {
			return "", &Error{fmt.Sprintf("%s must be a calendar date such as 2026-03-31", name)}
		}
		// Sent as text and cast, so the server parses the ISO date itself.
		return fmt.Sprintf("%s %s %s::text::date", f.Column, comparisonSQL(op), t.arg(raw)), nil
	}
	return fmt.Sprintf("%s %s %s", f.Column, comparisonSQL(op), t.arg(v)), nil
}

// comparisonSQL is the SQL operator of a filter comparison.
func comparisonSQL(op string) string {
	if op == filtering.FunctionNotEquals {
		return "IS DISTINCT FROM"
	}
	return op
}

func (t *translator) arg(v any) string {
	t.args = append(t.args, v)
	return "$" + strconv.Itoa(t.offset+len(t.args))
}

func (t *translator) names() string {
	names := make([]string, 0, len(t.fields))
	for n := range t.fields {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// literal returns the text of a constant, or of a bare word (the parser
// reads unquoted enum values such as STAGE_WON as identifiers).
func literal(e *expr.Expr) (string, bool) {
	if c := e.GetConstExpr(); c != nil {
		switch k := c.GetConstantKind().(type) {
		case *expr.Constant_StringValue:
			return k.StringValue, true
		case *expr.Constant_Int64Value:
			return strconv.FormatInt(k.Int64Value, 10), true
		case *expr.Constant_BoolValue:
			return strconv.FormatBool(k.BoolValue), true
		case *expr.Constant_DoubleValue:
			return strconv.FormatFloat(k.DoubleValue, 'f', -1, 64), true
		}
		return "", false
	}
	if id := e.GetIdentExpr(); id != nil {
		return id.GetName(), true
	}
	return "", false
}

func identText(e *expr.Expr) string {
	if s := e.GetSelectExpr(); s != nil {
		return identText(s.GetOperand()) + "." + s.GetField()
	}
	return e.GetIdentExpr().GetName()
}
