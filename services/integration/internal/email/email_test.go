package email_test

import (
	"strings"
	"testing"
	"time"

	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/integration/internal/email"
)

func TestValidateTemplate(t *testing.T) {
	t.Parallel()
	ok := email.Variant{Locale: "en", Subject: "Hi {{recipient.name}}", Text: "{{event.type}} at {{ event.time }}"}
	tests := []struct {
		name    string
		edit    func(*email.Template)
		field   string
		mention string
	}{
		{name: "valid"},
		{name: "unknown placeholder", edit: func(t *email.Template) { t.Variants[0].Text = "Dear {{customer.first_name}}" },
			field: "email_template.variants[0].text_body", mention: "{{customer.first_name}}"},
		{name: "unknown in html", edit: func(t *email.Template) { t.Variants[0].HTML = "<p>{{order.total}}</p>" },
			field: "email_template.variants[0].html_body", mention: "{{order.total}}"},
		{name: "bad locale", edit: func(t *email.Template) { t.Variants[0].Locale = "not a tag" }, field: "email_template.variants[0].locale"},
		{name: "duplicate locale", edit: func(t *email.Template) { t.Variants = append(t.Variants, t.Variants[0]) }, field: "email_template.variants[1].locale"},
		{name: "no purpose", edit: func(t *email.Template) { t.Purpose = 0 }, field: "email_template.purpose"},
		{name: "header injection", edit: func(t *email.Template) { t.Variants[0].Subject = "a\r\nBcc: x@example.com" }, field: "email_template.variants[0].subject"},
		{name: "no variants", edit: func(t *email.Template) { t.Variants = nil }, field: "email_template.variants"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tpl := email.Template{DisplayName: "x", Purpose: email.Transactional, Variants: []email.Variant{ok}}
			if tt.edit != nil {
				tt.edit(&tpl)
			}
			v := &validation.Error{}
			email.ValidateTemplate(&tpl, "email_template", v)
			if tt.field == "" {
				if v.Err() != nil {
					t.Fatalf("ValidateTemplate = %v, want none", v)
				}
				return
			}
			for _, x := range v.Violations {
				if x.Field == tt.field && strings.Contains(x.Description, tt.mention) {
					return
				}
			}
			t.Fatalf("ValidateTemplate = %v, want a violation on %s naming %q", v.Violations, tt.field, tt.mention)
		})
	}
}

func TestRenderChoosesVariantAndFormatsTime(t *testing.T) {
	t.Parallel()
	tpl := email.Template{DefaultLocale: "fr", Variants: []email.Variant{
		{Locale: "en", Subject: "en", Text: "{{event.time}}"},
		{Locale: "fr", Subject: "fr", Text: "{{event.time}}"},
		{Locale: "en-US", Subject: "en-US", Text: "{{event.time}}", HTML: "<b>{{customer.display_name}}</b>"},
	}}
	ny, _ := time.LoadLocation("America/New_York")
	at := time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC)
	tests := []struct {
		locale string
		zone   *time.Location
		want   email.Rendered
	}{
		{"en-US", ny, email.Rendered{Locale: "en-US", Subject: "en-US", Text: "03/01/2026 6:30 PM EST", HTML: "<b>A &amp; B</b>"}},
		{"fr-CA", nil, email.Rendered{Locale: "fr", Subject: "fr", Text: "01/03/2026 23:30 UTC"}},
		{"ja", nil, email.Rendered{Locale: "fr", Subject: "fr", Text: "01/03/2026 23:30 UTC"}},
	}
	for _, tt := range tests {
		got := tpl.Render(email.Values{Event: email.Event{Time: at}, CustomerName: "A & B", Locale: tt.locale, TimeZone: tt.zone})
		if got != tt.want {
			t.Errorf("Render(%s) = %+v, want %+v", tt.locale, got, tt.want)
		}
	}
}

func TestBackoffDoublesUpToTheCap(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 10: 5 * time.Second} {
		if got := email.Backoff(n, time.Second, 5*time.Second); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestMask(t *testing.T) {
	t.Parallel()
	if got := email.Mask("grete@example.de"); got != "g***@example.de" {
		t.Fatalf("Mask = %q", got)
	}
}
