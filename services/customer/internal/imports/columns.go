package imports

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
)

// The column set of imports and exports. Export-only columns are accepted
// on import and ignored, so an export imports back unchanged.
const (
	colCustomerID    = "customer_id"
	colExternalID    = "external_id"
	colKind          = "kind"
	colDisplayName   = "display_name"
	colEmail         = "email"
	colPhone         = "phone"
	colStage         = "lifecycle_stage"
	colIndustry      = "industry"
	colCountry       = "country_code"
	colOwner         = "owner_id"
	colTags          = "tags"
	colSourceChannel = "source_channel"
	colCreateTime    = "create_time"
	colUpdateTime    = "update_time"
	// colAttributes holds all custom attributes as one JSON object (typed rows).
	colAttributes = "custom_attributes"
	// attrPrefix starts a column holding one custom attribute.
	attrPrefix = "attr."
)

// ExportColumns are the fixed columns of an export, before one attr.<key>
// column per custom attribute definition.
var ExportColumns = []string{colCustomerID, colExternalID, colKind, colDisplayName, colEmail, colPhone, colStage,
	colIndustry, colCountry, colOwner, colTags, colSourceChannel, colCreateTime, colUpdateTime}

// exportOnly columns are ignored on import.
var exportOnly = []string{colCustomerID, colCreateTime, colUpdateTime}

// TypedColumns are the columns a typed Customer row is staged in: the
// transport renders each typed row's values in this order, kind and
// lifecycle_stage as API enum names, custom_attributes as a JSON object.
var TypedColumns = []string{colExternalID, colKind, colDisplayName, colEmail, colPhone, colStage,
	colIndustry, colCountry, colOwner, colTags, colSourceChannel, colAttributes}

// TagSeparator joins tags in one CSV cell.
const TagSeparator = ";"

var kindNames = map[customer.Kind]string{customer.KindPerson: "person", customer.KindOrganization: "organization"}

var stageNames = map[customer.Stage]string{
	customer.StageLead: "lead", customer.StageProspect: "prospect", customer.StageCustomer: "customer",
	customer.StageAtRisk: "at_risk", customer.StageChurned: "churned", customer.StageWonBack: "won_back",
}

// field is the UpdateCustomer mask path a column sets, "" for ignored columns.
func field(col string) string {
	if key, ok := strings.CutPrefix(col, attrPrefix); ok {
		return "custom_attributes." + key
	}
	if slices.Contains(exportOnly, col) {
		return ""
	}
	return col
}

// columnOf names a customer field path ("customer.email") as the column
// that carries it.
func columnOf(path string, columns []string) string {
	path = strings.TrimPrefix(path, "customer.")
	if key, ok := strings.CutPrefix(path, "custom_attributes."); ok && !slices.Contains(columns, colAttributes) {
		return attrPrefix + key
	}
	return path
}

// mapHeader turns a CSV header into column names through mapping, and
// checks each against the column set and the tenant's attributes.
func mapHeader(header []string, mapping map[string]string, defs []customer.AttributeDef) ([]string, error) {
	known := append(slices.Clone(ExportColumns), colAttributes)
	v := &validation.Error{}
	cols := make([]string, len(header))
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if m, ok := mapping[h]; ok {
			h = m
		}
		cols[i] = h
		key, isAttr := strings.CutPrefix(h, attrPrefix)
		switch {
		case isAttr && !slices.ContainsFunc(defs, func(d customer.AttributeDef) bool { return d.Key == key }):
			v.Add("csv_chunk", "column %d (%q) names no custom attribute of this tenant", i+1, h)
		case !isAttr && !slices.Contains(known, h):
			v.Add("csv_chunk", "column %d (%q) is not a known column; map it with options.column_mapping", i+1, h)
		case slices.Contains(cols[:i], h):
			v.Add("csv_chunk", "column %q appears twice", h)
		}
	}
	if !slices.Contains(cols, colDisplayName) {
		v.Add("csv_chunk", "the header has no display_name column")
	}
	return cols, v.Err()
}

// parseRow reads a row's values as a customer and the mask paths they set.
// Violations name columns.
func parseRow(columns, values []string, defs []customer.AttributeDef) (customer.Customer, []string, []Violation) {
	var c customer.Customer
	var bad []Violation
	if len(values) != len(columns) {
		return c, nil, []Violation{{Field: "row", Description: fmt.Sprintf("has %d values, the header %d", len(values), len(columns))}}
	}
	c.CustomAttributes = map[string]any{}
	var mask []string
	for i, col := range columns {
		raw := strings.TrimSpace(values[i])
		path := field(col)
		if path == "" {
			continue
		}
		if msg := setColumn(&c, col, raw, defs); msg != "" {
			bad = append(bad, Violation{Field: col, Description: msg})
		}
		mask = append(mask, path)
	}
	if c.Kind == customer.KindUnspecified {
		c.Kind = customer.KindPerson
	}
	return c, mask, bad
}

// setColumn sets one column's value on c, returning why it cannot be read.
func setColumn(c *customer.Customer, col, raw string, defs []customer.AttributeDef) string {
	switch col {
	case colExternalID:
		c.ExternalID = raw
	case colKind:
		k, ok := parseEnum(raw, kindNames, "CUSTOMER_KIND_")
		if !ok {
			return "must be person or organization"
		}
		c.Kind = k
	case colDisplayName:
		c.DisplayName = raw
	case colEmail:
		c.Email = raw
	case colPhone:
		c.Phone = raw
	case colStage:
		s, ok := parseEnum(raw, stageNames, "LIFECYCLE_STAGE_")
		if !ok {
			return "must be one of lead, prospect, customer, at_risk, churned, won_back"
		}
		c.Stage = s
	case colIndustry:
		c.Industry = raw
	case colCountry:
		c.CountryCode = raw
	case colOwner:
		if raw == "" {
			return ""
		}
		id, err := uuid.Parse(raw)
		if err != nil {
			return "must be a UUID"
		}
		c.OwnerID = &id
	case colTags:
		c.Tags = nil
		for t := range strings.SplitSeq(raw, TagSeparator) {
			if t = strings.TrimSpace(t); t != "" {
				c.Tags = append(c.Tags, t)
			}
		}
	case colSourceChannel:
		c.SourceChannel = raw
	case colAttributes:
		if raw == "" {
			return ""
		}
		if err := json.Unmarshal([]byte(raw), &c.CustomAttributes); err != nil {
			return "must be a JSON object"
		}
	default:
		key := strings.TrimPrefix(col, attrPrefix)
		if raw == "" {
			return "" // a blank cell is an absent attribute
		}
		value, msg := attributeValue(defs, key, raw)
		if msg == "" {
			c.CustomAttributes[key] = value
		}
		return msg
	}
	return ""
}

// attributeValue reads a CSV cell as the type its definition declares.
func attributeValue(defs []customer.AttributeDef, key, raw string) (any, string) {
	i := slices.IndexFunc(defs, func(d customer.AttributeDef) bool { return d.Key == key })
	if i < 0 {
		return nil, "is not a custom attribute of this tenant"
	}
	switch defs[i].Type {
	case customer.AttributeNumber:
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return nil, "must be a number"
		}
		return f, ""
	case customer.AttributeBool:
		b, err := strconv.ParseBool(strings.ToLower(raw))
		if err != nil {
			switch strings.ToLower(raw) {
			case "yes", "y":
				return true, ""
			case "no", "n":
				return false, ""
			}
			return nil, "must be true or false"
		}
		return b, ""
	}
	return raw, "" // strings, dates and enums are checked by the schema
}

func parseEnum[E comparable](raw string, names map[E]string, prefix string) (E, bool) {
	var zero E
	if raw == "" {
		return zero, true
	}
	want := strings.ToLower(strings.TrimPrefix(strings.ToUpper(raw), prefix))
	if want == "organisation" {
		want = "organization"
	}
	for e, n := range names {
		if n == want {
			return e, true
		}
	}
	return zero, false
}

// keys computes a row's duplicate detection keys; a value that does not
// normalise yields no key (the row fails validation anyway).
func keys(columns, values []string) (externalID, email, phone string) {
	get := func(col string) string {
		if i := slices.Index(columns, col); i >= 0 && i < len(values) {
			return strings.TrimSpace(values[i])
		}
		return ""
	}
	externalID = get(colExternalID)
	if e, ok := customer.NormalizeEmail(get(colEmail)); ok {
		email = e
	}
	if p, ok := customer.NormalizePhone(get(colPhone), get(colCountry)); ok {
		phone = p
	}
	return externalID, email, phone
}

// exportHeader is the export's header for the tenant's attribute keys.
func exportHeader(attrKeys []string) []string {
	h := slices.Clone(ExportColumns)
	for _, k := range attrKeys {
		h = append(h, attrPrefix+k)
	}
	return h
}

// exportValues renders one customer as an export row.
func exportValues(c customer.Customer, attrKeys []string) []string {
	owner := ""
	if c.OwnerID != nil {
		owner = c.OwnerID.String()
	}
	out := []string{c.ID.String(), c.ExternalID, kindNames[c.Kind], c.DisplayName, c.Email, c.Phone, stageNames[c.Stage],
		c.Industry, c.CountryCode, owner, strings.Join(c.Tags, TagSeparator), c.SourceChannel,
		c.CreateTime.UTC().Format(time.RFC3339Nano), c.UpdateTime.UTC().Format(time.RFC3339Nano)}
	for _, k := range attrKeys {
		out = append(out, attributeText(c.CustomAttributes[k]))
	}
	return out
}

func attributeText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case string:
		return x
	}
	return fmt.Sprint(v)
}
