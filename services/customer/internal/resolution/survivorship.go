package resolution

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
)

// Rule picks which customer's value a merged field keeps; the numbers match
// the API's enum.
type Rule int32

// Survivorship rules.
const (
	// RuleDefault is the field's default rule (see DefaultRule).
	RuleDefault Rule = iota
	RuleSurvivor
	RuleLoser
	// RuleMostRecent takes the value of the customer updated last: the
	// record keeps one update time, not one per field.
	RuleMostRecent
	RuleNonEmpty
	RuleLongest
	// RuleUnion joins collections: tags and custom attributes only.
	RuleUnion
)

// FieldRule is the survivorship rule of one customer field.
type FieldRule struct {
	Field string
	Rule  Rule
}

// MergeFields are the customer fields a merge decides, in journal order.
// kind must already agree; ids and times are the survivor's.
var MergeFields = []string{"display_name", "email", "phone", "lifecycle_stage", "industry", "country_code",
	"owner_id", "tags", "external_id", "source_channel", "custom_attributes"}

// DefaultRule is a field's rule when the request names none: collections
// are joined, the lifecycle stage is the most recent one (it moves
// forward), and every other field keeps the survivor's value unless that is
// empty.
func DefaultRule(field string) Rule {
	switch field {
	case "tags", "custom_attributes":
		return RuleUnion
	case "lifecycle_stage":
		return RuleMostRecent
	}
	return RuleNonEmpty
}

// resolveRules checks the requested overrides and returns the rule of every
// merge field, defaults filled in.
func resolveRules(in []FieldRule, v *validation.Error) []FieldRule {
	chosen := map[string]Rule{}
	for i, r := range in {
		path := fmt.Sprintf("field_rules[%d]", i)
		switch {
		case !slices.Contains(MergeFields, r.Field):
			v.Add(path+".field", "must be one of %s", strings.Join(MergeFields, ", "))
			continue
		case r.Rule < RuleDefault || r.Rule > RuleUnion:
			v.Add(path+".rule", "is not a known survivorship rule")
		case r.Rule == RuleUnion && r.Field != "tags" && r.Field != "custom_attributes":
			v.Add(path+".rule", "UNION applies only to tags and custom_attributes")
		}
		if _, dup := chosen[r.Field]; dup {
			v.Add(path+".field", "names %s a second time", r.Field)
		}
		chosen[r.Field] = r.Rule
	}
	out := make([]FieldRule, len(MergeFields))
	for i, f := range MergeFields {
		r := chosen[f]
		if r == RuleDefault {
			r = DefaultRule(f)
		}
		out[i] = FieldRule{Field: f, Rule: r}
	}
	return out
}

// survive returns the survivor with every field decided by its rule.
func survive(s, l customer.Customer, rules []FieldRule) customer.Customer {
	out := s
	out.Tags = slices.Clone(s.Tags)
	out.CustomAttributes = maps.Clone(s.CustomAttributes)
	loserNewer := l.UpdateTime.After(s.UpdateTime)
	for _, r := range rules {
		sv, lv := fieldValue(s, r.Field), fieldValue(l, r.Field)
		if r.Rule == RuleUnion {
			union(&out, l, r.Field)
			continue
		}
		if takeLoser(r.Rule, sv, lv, loserNewer) {
			copyField(&out, l, r.Field)
		}
	}
	return out
}

func takeLoser(r Rule, sv, lv any, loserNewer bool) bool {
	switch r {
	case RuleLoser:
		return true
	case RuleMostRecent:
		return loserNewer
	case RuleNonEmpty:
		return size(sv) == 0 && size(lv) > 0
	case RuleLongest:
		return size(lv) > size(sv)
	}
	return false
}

// size is a value's length: characters of a string, entries of a
// collection, 1 for any other set value and 0 for an empty one.
func size(v any) int {
	switch x := v.(type) {
	case string:
		return utf8.RuneCountInString(x)
	case []string:
		return len(x)
	case map[string]any:
		return len(x)
	case customer.Stage:
		if x == customer.StageUnspecified {
			return 0
		}
		return 1
	}
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || rv.IsNil() {
		return 0
	}
	return 1
}

func fieldValue(c customer.Customer, field string) any {
	switch field {
	case "display_name":
		return c.DisplayName
	case "email":
		return c.Email
	case "phone":
		return c.Phone
	case "lifecycle_stage":
		return c.Stage
	case "industry":
		return c.Industry
	case "country_code":
		return c.CountryCode
	case "owner_id":
		return c.OwnerID
	case "tags":
		return c.Tags
	case "external_id":
		return c.ExternalID
	case "source_channel":
		return c.SourceChannel
	case "custom_attributes":
		return c.CustomAttributes
	}
	return nil
}

func copyField(dst *customer.Customer, src customer.Customer, field string) {
	switch field {
	case "display_name":
		dst.DisplayName = src.DisplayName
	case "email":
		dst.Email = src.Email
	case "phone":
		dst.Phone = src.Phone
	case "lifecycle_stage":
		dst.Stage = src.Stage
	case "industry":
		dst.Industry = src.Industry
	case "country_code":
		dst.CountryCode = src.CountryCode
	case "owner_id":
		dst.OwnerID = src.OwnerID
	case "tags":
		dst.Tags = slices.Clone(src.Tags)
	case "external_id":
		dst.ExternalID = src.ExternalID
	case "source_channel":
		dst.SourceChannel = src.SourceChannel
	case "custom_attributes":
		dst.CustomAttributes = maps.Clone(src.CustomAttributes)
	}
}

func union(dst *customer.Customer, l customer.Customer, field string) {
	switch field {
	case "tags":
		for _, t := range l.Tags {
			if !slices.Contains(dst.Tags, t) {
				dst.Tags = append(dst.Tags, t)
			}
		}
	case "custom_attributes":
		if dst.CustomAttributes == nil {
			dst.CustomAttributes = map[string]any{}
		}
		for k, v := range l.CustomAttributes {
			if _, ok := dst.CustomAttributes[k]; !ok {
				dst.CustomAttributes[k] = v
			}
		}
	}
}

// restore is the survivor an unmerge leaves: each field the merge changed
// goes back to its value before the merge, unless someone changed it after
// the merge, in which case that later value stays.
func restore(before, merged, now customer.Customer) customer.Customer {
	out := now
	out.Tags = slices.Clone(now.Tags)
	out.CustomAttributes = maps.Clone(now.CustomAttributes)
	for _, f := range MergeFields {
		if reflect.DeepEqual(normal(fieldValue(now, f)), normal(fieldValue(merged, f))) {
			copyField(&out, before, f)
		}
	}
	return out
}

// normal makes empty collections and nil compare equal, and owner ids by value.
func normal(v any) any {
	switch x := v.(type) {
	case []string:
		if len(x) == 0 {
			return nil
		}
	case map[string]any:
		if len(x) == 0 {
			return nil
		}
	}
	if size(v) == 0 {
		return nil
	}
	if p, ok := v.(interface{ String() string }); ok && reflect.TypeOf(v).Kind() == reflect.Pointer {
		return p.String()
	}
	return v
}
