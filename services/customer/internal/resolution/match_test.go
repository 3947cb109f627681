package resolution

import (
	"math"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
)

func TestNameSimilarity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b     string
		min, max float64
	}{
		{"Jürgen Müller", "Juergen Mueller", 1, 1},
		{"Jürgen Müller", "Jurgen Muller", 1, 1},
		{"José García", "Jose Garcia", 1, 1},
		{"Müller, Jürgen", "Jürgen Müller", 1, 1},
		{"Дмитрий Иванов", "Dmitriy Ivanov", 1, 1},
		{"Ada Lovelace", "Ada Lovelace", 1, 1},
		{"Jon Smith", "John Smith", 0.9, 0.99},
		{"Ada Lovelace", "Grace Hopper", 0, 0.6},
		{"", "Ada", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.a+"~"+tt.b, func(t *testing.T) {
			t.Parallel()
			if got := NameSimilarity(tt.a, tt.b); got < tt.min || got > tt.max {
				t.Errorf("NameSimilarity(%q, %q) = %v, want within [%v, %v]", tt.a, tt.b, got, tt.min, tt.max)
			}
		})
	}
}

func TestJaroWinkler(t *testing.T) {
	t.Parallel()
	// Textbook values.
	tests := []struct {
		a, b string
		want float64
	}{
		{"martha", "marhta", 0.9611},
		{"dwayne", "duane", 0.84},
		{"dixon", "dicksonx", 0.8133},
		{"abc", "xyz", 0},
		{"same", "same", 1},
	}
	for _, tt := range tests {
		if got := JaroWinkler(tt.a, tt.b); math.Abs(got-tt.want) > 0.0001 {
			t.Errorf("JaroWinkler(%q, %q) = %.4f, want %.4f", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestScore(t *testing.T) {
	t.Parallel()
	person := func(name string) Profile {
		return Profile{ID: uuid.New(), Kind: customer.KindPerson, Name: name}
	}
	org := uuid.New()
	tests := []struct {
		name         string
		a, b         Profile
		want         float64
		wantFeatures []string
	}{
		{name: "same e-mail only", a: with(person("Ada"), "e", "ada@x.example"), b: with(person("Grace Hopper"), "e", "ada@x.example"),
			want: 0.9, wantFeatures: []string{"email"}},
		{name: "same phone only", a: with(person("A B"), "p", "+441632960961"), b: with(person("Zed Q"), "p", "+441632960961"),
			want: 0.8, wantFeatures: []string{"phone"}},
		{name: "namesakes only", a: person("John Smith"), b: person("John Smith"), want: 0.45, wantFeatures: []string{"name"}},
		{name: "transliterated name and postal code", a: with(person("Jürgen Müller"), "z", "DE|10115|Invalidenstraße 1"),
			b: with(person("Juergen Mueller"), "z", "DE|10115|Chausseestraße 9"), want: 1 - 0.55*0.7, wantFeatures: []string{"name", "address"}},
		{name: "name and full address", a: with(person("José García"), "z", "ES|28001|Calle Mayor 1"),
			b: with(person("Jose Garcia"), "z", "ES|28001|calle  mayor 1"), want: 1 - 0.55*0.5, wantFeatures: []string{"name", "address"}},
		{name: "name and organisation", a: withOrg(person("Grace Hopper"), org), b: withOrg(person("Grace Hopper"), org),
			want: 1 - 0.55*0.7, wantFeatures: []string{"name", "organization"}},
		{name: "everything", a: with(with(person("Ada Lovelace"), "e", "ada@x.example"), "p", "+441632960961"),
			b: with(with(person("Ada Lovelace"), "e", "ada@x.example"), "p", "+441632960961"), want: 1 - 0.1*0.2*0.55,
			wantFeatures: []string{"email", "phone", "name"}},
		{name: "different people", a: with(person("Ada Lovelace"), "e", "ada@x.example"), b: with(person("Grace Hopper"), "e", "grace@x.example")},
		{name: "person and organisation never match", a: with(person("Acme"), "e", "info@acme.example"),
			b: Profile{ID: uuid.New(), Kind: customer.KindOrganization, Name: "Acme", Emails: []string{"info@acme.example"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := Score(tt.a, tt.b)
			if math.Abs(m.Score-tt.want) > 0.0001 {
				t.Errorf("Score = %v, want %v (features %+v)", m.Score, tt.want, m.Features)
			}
			if m.Score < 0 || m.Score > 1 {
				t.Errorf("Score = %v, want within 0..1", m.Score)
			}
			var names []string
			for _, f := range m.Features {
				names = append(names, f.Name)
				if f.Reason == "" {
					t.Errorf("feature %s has no reason", f.Name)
				}
			}
			if len(names) != len(tt.wantFeatures) {
				t.Fatalf("features = %v, want %v", names, tt.wantFeatures)
			}
			for i := range names {
				if names[i] != tt.wantFeatures[i] {
					t.Errorf("features = %v, want %v", names, tt.wantFeatures)
				}
			}
			if back := Score(tt.b, tt.a); back.Score != m.Score {
				t.Errorf("Score is not symmetric: %v one way, %v the other", m.Score, back.Score)
			}
		})
	}
}

// with adds an e-mail ("e"), phone ("p") or address ("z", as country|postal code|line).
func with(p Profile, kind, v string) Profile {
	switch kind {
	case "e":
		p.Emails = append(p.Emails, v)
	case "p":
		p.Phones = append(p.Phones, v)
	case "z":
		var a Address
		parts := [3]*string{&a.CountryCode, &a.PostalCode, &a.Line}
		i := 0
		for j, r := range v {
			if r == '|' {
				i++
				continue
			}
			*parts[i] += v[j : j+len(string(r))]
		}
		p.Addresses = append(p.Addresses, a)
	}
	return p
}

func withOrg(p Profile, org uuid.UUID) Profile {
	p.OrganizationIDs = append(p.OrganizationIDs, org)
	return p
}

func TestSurvive(t *testing.T) {
	t.Parallel()
	owner := uuid.New()
	older, newer := time.Now().Add(-time.Hour), time.Now()
	s := customer.Customer{ID: uuid.New(), DisplayName: "Ada", Email: "", Phone: "+441632960961", Stage: customer.StageLead,
		Industry: "Maths", Tags: []string{"a"}, CustomAttributes: map[string]any{"x": "s"}, UpdateTime: older}
	l := customer.Customer{ID: uuid.New(), DisplayName: "Ada Lovelace", Email: "ada@x.example", Phone: "+441632960962", Stage: customer.StageCustomer,
		Industry: "Computing", OwnerID: &owner, Tags: []string{"b", "a"}, CustomAttributes: map[string]any{"x": "l", "y": true}, UpdateTime: newer}
	v := newValidation()
	got := survive(s, l, resolveRules([]FieldRule{{Field: "display_name", Rule: RuleLongest}, {Field: "industry", Rule: RuleLoser}}, v))
	if err := v.Err(); err != nil {
		t.Fatal(err)
	}
	if got.DisplayName != "Ada Lovelace" || got.Email != "ada@x.example" || got.Phone != "+441632960961" || got.Stage != customer.StageCustomer ||
		got.Industry != "Computing" || got.OwnerID == nil || *got.OwnerID != owner || len(got.Tags) != 2 ||
		got.CustomAttributes["x"] != "s" || got.CustomAttributes["y"] != true {
		t.Errorf("survive = %+v", got)
	}
	if len(s.Tags) != 1 || s.CustomAttributes["y"] != nil {
		t.Errorf("survive changed its input: %+v", s)
	}
	// An unmerge restores what the merge changed and keeps later edits.
	now := got
	now.Industry = "Edited after the merge"
	back := restore(s, got, now)
	if back.DisplayName != "Ada" || back.Email != "" || back.Stage != customer.StageLead || back.OwnerID != nil ||
		back.Industry != "Edited after the merge" || len(back.Tags) != 1 || back.CustomAttributes["y"] != nil {
		t.Errorf("restore = %+v", back)
	}
}

func TestResolveRules(t *testing.T) {
	t.Parallel()
	v := newValidation()
	resolveRules([]FieldRule{{Field: "nope", Rule: RuleSurvivor}, {Field: "email", Rule: RuleUnion}, {Field: "phone", Rule: 42},
		{Field: "tags", Rule: RuleSurvivor}, {Field: "tags", Rule: RuleLoser}}, v)
	want := map[string]bool{"field_rules[0].field": true, "field_rules[1].rule": true, "field_rules[2].rule": true, "field_rules[4].field": true}
	got := map[string]bool{}
	for _, x := range v.Violations {
		got[x.Field] = true
	}
	if len(got) != len(want) {
		t.Fatalf("violations = %v, want %v", got, want)
	}
	for f := range want {
		if !got[f] {
			t.Errorf("violations = %v, want %v", got, want)
		}
	}
	rules := resolveRules(nil, newValidation())
	for _, r := range rules {
		if r.Rule != DefaultRule(r.Field) {
			t.Errorf("default rule of %s = %v, want %v", r.Field, r.Rule, DefaultRule(r.Field))
		}
	}
}

func newValidation() *validation.Error { return &validation.Error{} }
