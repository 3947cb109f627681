package sqlfilter

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
)

var fields = map[string]Field{
	"name":  {Column: "display_name", Kind: String},
	"email": {Column: "email_lower", Kind: Lowercase},
	"owner": {Column: "owner_id", Kind: UUID},
	"kind":  {Column: "kind", Kind: Enum, Enum: map[string]int32{"KIND_PERSON": 1, "KIND_ORG": 2}},
	"at":    {Column: "create_time", Kind: Timestamp},
	"n":     {Column: "n", Kind: Int},
	"tags":  {Column: "tags", Kind: StringArray},
	"due":   {Column: "due_date", Kind: Date},
	"on":    {Column: "active", Kind: Bool},
}

func TestTranslate(t *testing.T) {
	t.Parallel()
	owner := uuid.MustParse("0190a0f0-0000-7000-8000-000000000001")
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		filter   string
		wantSQL  string
		wantArgs []any
	}{
		{"", "TRUE", nil},
		{`name = "Acme"`, "display_name = $2", []any{"Acme"}},
		{`name = "Ac*"`, "starts_with(display_name, $2)", []any{"Ac"}},
		{`email = "A@B.com"`, "email_lower = $2", []any{"a@b.com"}},
		{`kind = KIND_ORG AND n >= 3`, "(kind = $2 AND n >= $3)", []any{int32(2), int64(3)}},
		{`kind = "KIND_PERSON" OR owner = "` + owner.String() + `"`, "(kind = $2 OR owner_id = $3)", []any{int32(1), owner}},
		{`NOT name = "x"`, "(NOT display_name = $2)", []any{"x"}},
		{`name != "x"`, "display_name IS DISTINCT FROM $2", []any{"x"}},
		{`at > "2026-01-02T03:04:05Z"`, "create_time > $2", []any{at}},
		{`tags:vip`, "$2 = ANY(tags)", []any{"vip"}},
		{`name = "a" n = 1`, "(display_name = $2 AND n = $3)", []any{"a", int64(1)}},
		{`due >= "2026-03-01" AND due < "2026-04-01"`, "(due_date >= $2::text::date AND due_date < $3::text::date)", []any{"2026-03-01", "2026-04-01"}},
		{`due != "2026-03-01"`, "due_date IS DISTINCT FROM $2::text::date", []any{"2026-03-01"}},
		{`on = true`, "active = $2", []any{true}},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			t.Parallel()
			got, err := Translate(tt.filter, fields, 1)
			if err != nil {
				t.Fatalf("Translate(%q) error = %v", tt.filter, err)
			}
			if got.SQL != tt.wantSQL || !reflect.DeepEqual(got.Args, tt.wantArgs) {
				t.Fatalf("Translate(%q) = %q %v, want %q %v", tt.filter, got.SQL, got.Args, tt.wantSQL, tt.wantArgs)
			}
		})
	}
}

func TestTranslateRejects(t *testing.T) {
	t.Parallel()
	for _, filter := range []string{
		`secret = "x"`, `kind = KIND_ALIEN`, `owner = "nope"`, `at > "yesterday"`, `n = "x"`,
		`tags = "vip"`, `name = `, `a.b = 1`, `(name = "x"`, `due > "2026-02-30"`, `due = "0000-01-01"`, `on = "maybe"`,
	} {
		t.Run(filter, func(t *testing.T) {
			t.Parallel()
			_, err := Translate(filter, fields, 0)
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Translate(%q) error = %v, want *Error", filter, err)
			}
		})
	}
}
