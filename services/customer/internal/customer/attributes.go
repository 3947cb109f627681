package customer

import (
	"context"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// AttributeType is the type of a custom attribute's values; the numbers
// match the API's enum.
type AttributeType int32

// Custom attribute types.
const (
	AttributeUnspecified AttributeType = iota
	AttributeString
	AttributeNumber
	AttributeBool
	AttributeDate
	AttributeEnum
)

// DefaultMaxLength bounds string attributes whose definition sets no maximum.
const DefaultMaxLength = 1000

// AttributeDef is one definition of the tenant's custom attribute schema.
type AttributeDef struct {
	Key           string
	Type          AttributeType
	DisplayName   string
	Description   string
	AllowedValues []string
	Required      bool
	// MaxLength bounds string values in characters; 0 means DefaultMaxLength.
	MaxLength  int
	CreateTime time.Time
	UpdateTime time.Time
	Revision   int64
}

// Etag is the concurrency token of the definition's current revision.
func (d AttributeDef) Etag() string { return strconv.FormatInt(d.Revision, 10) }

// Schema lists the tenant's custom attribute definitions.
type Schema interface {
	AttributeDefs(ctx context.Context, caller auth.Caller) ([]AttributeDef, error)
}

// validateAttributes checks attrs against defs, reporting each bad value on
// prefix+"custom_attributes.<key>". Values are what a JSON document holds:
// string, float64 or bool (nulls, lists and objects are never valid). With
// checkRequired, missing required attributes are reported too.
func validateAttributes(defs []AttributeDef, attrs map[string]any, prefix string, checkRequired bool, v *validation.Error) {
	byKey := make(map[string]AttributeDef, len(defs))
	for _, d := range defs {
		byKey[d.Key] = d
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		field := prefix + "custom_attributes." + k
		d, ok := byKey[k]
		if !ok {
			v.Add(field, "is not a custom attribute of this tenant")
			continue
		}
		if msg := d.check(attrs[k]); msg != "" {
			v.Add(field, "%s", msg)
		}
	}
	if !checkRequired {
		return
	}
	for _, d := range defs {
		if _, ok := attrs[d.Key]; d.Required && !ok {
			v.Add(prefix+"custom_attributes."+d.Key, "is required")
		}
	}
}

// check returns why value does not fit d, or "".
func (d AttributeDef) check(value any) string {
	switch d.Type {
	case AttributeString:
		s, ok := value.(string)
		if !ok {
			return "must be a string"
		}
		if max := d.maxLength(); utf8.RuneCountInString(s) > max {
			return "must be at most " + itoa(max) + " characters"
		}
	case AttributeNumber:
		f, ok := value.(float64)
		if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
			return "must be a number"
		}
	case AttributeBool:
		if _, ok := value.(bool); !ok {
			return "must be true or false"
		}
	case AttributeDate:
		s, ok := value.(string)
		if _, err := time.Parse(time.DateOnly, s); !ok || err != nil {
			return "must be a date such as 2024-12-31"
		}
	case AttributeEnum:
		s, ok := value.(string)
		if !ok || !slices.Contains(d.AllowedValues, s) {
			return "must be one of " + quoteAll(d.AllowedValues)
		}
	default:
		return "has a definition of unknown type"
	}
	return ""
}

func (d AttributeDef) maxLength() int {
	if d.MaxLength <= 0 {
		return DefaultMaxLength
	}
	return d.MaxLength
}
