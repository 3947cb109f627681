package email

import (
	"fmt"
	"html"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/language"
)

// Placeholders are the only names a template may use.
var Placeholders = []string{
	"event.type", "event.resource", "event.source", "event.time",
	"customer.display_name", "recipient.name",
}

// placeholder finds template placeholders.
var placeholder = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)

// unknownPlaceholders lists the placeholders of t outside Placeholders.
func unknownPlaceholders(t string) []string {
	var out []string
	for _, m := range placeholder.FindAllStringSubmatch(t, -1) {
		if !slices.Contains(Placeholders, m[1]) && !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// Values are what the placeholders of one message stand for.
type Values struct {
	Event        Event
	CustomerName string
	Recipient    string
	Locale       string
	TimeZone     *time.Location
}

// render fills a checked template; escape is applied to every value, so
// an HTML body cannot be broken by a customer's name.
func render(t string, v Values, escape func(string) string) string {
	return placeholder.ReplaceAllStringFunc(t, func(m string) string {
		switch strings.TrimSpace(m[2 : len(m)-2]) {
		case "event.type":
			return escape(v.Event.Type)
		case "event.resource":
			return escape(v.Event.Resource)
		case "event.source":
			return escape(v.Event.Source)
		case "event.time":
			if v.Event.Time.IsZero() {
				return ""
			}
			return escape(FormatTime(v.Event.Time, v.Locale, v.TimeZone))
		case "customer.display_name":
			return escape(v.CustomerName)
		case "recipient.name":
			return escape(v.Recipient)
		}
		return m
	})
}

// Rendered is a message ready for the relay.
type Rendered struct {
	Locale, Subject, Text, HTML string
}

// Render picks the variant for locale (then the template's default
// locale, then "en", then the first) and fills it.
func (t Template) Render(v Values) Rendered {
	vr := t.Variant(v.Locale)
	v.Locale = vr.Locale
	if v.TimeZone == nil {
		v.TimeZone = time.UTC
	}
	same := func(s string) string { return s }
	out := Rendered{Locale: vr.Locale, Subject: render(vr.Subject, v, same), Text: render(vr.Text, v, same)}
	if vr.HTML != "" {
		out.HTML = render(vr.HTML, v, html.EscapeString)
	}
	return out
}

// Variant chooses the variant for locale: an exact tag, then its base
// language, then the default locale, then "en", then the first variant.
func (t Template) Variant(locale string) Variant {
	for _, want := range []string{locale, base(locale), t.DefaultLocale, base(t.DefaultLocale), "en"} {
		if want == "" {
			continue
		}
		for _, v := range t.Variants {
			if strings.EqualFold(v.Locale, want) {
				return v
			}
		}
		for _, v := range t.Variants {
			if strings.EqualFold(base(v.Locale), want) {
				return v
			}
		}
	}
	return t.Variants[0]
}

// base is the language of a BCP 47 tag ("pt" for "pt-BR"), or "".
func base(tag string) string {
	t, err := language.Parse(tag)
	if err != nil {
		return ""
	}
	b, _ := t.Base()
	return b.String()
}

// Date and time layouts by language, and by full tag where a country
// writes dates its own way; others get ISO 8601.
var layouts = map[string]string{
	"en-US": "01/02/2006 3:04 PM MST",
	"en":    "02/01/2006 15:04 MST",
	"de":    "02.01.2006 15:04 MST",
	"fr":    "02/01/2006 15:04 MST",
	"es":    "02/01/2006 15:04 MST",
	"it":    "02/01/2006 15:04 MST",
	"pt":    "02/01/2006 15:04 MST",
	"nl":    "02-01-2006 15:04 MST",
	"ja":    "2006/01/02 15:04 MST",
	"zh":    "2006/01/02 15:04 MST",
}

// FormatTime renders at in zone, in locale's usual numeric date format.
func FormatTime(at time.Time, locale string, zone *time.Location) string {
	if zone == nil {
		zone = time.UTC
	}
	layout, ok := layouts[canonical(locale)]
	if !ok {
		if layout, ok = layouts[base(locale)]; !ok {
			layout = "2006-01-02 15:04 MST"
		}
	}
	return at.In(zone).Format(layout)
}

// canonical is the tag in its usual case ("en-US"), or "" when invalid.
func canonical(tag string) string {
	t, err := language.Parse(tag)
	if err != nil {
		return ""
	}
	return t.String()
}

// validLocale reports whether tag is a well-formed BCP 47 tag.
func validLocale(tag string) bool {
	_, err := language.Parse(tag)
	return err == nil && tag != ""
}

func fieldf(prefix string, i int, name string) string {
	return fmt.Sprintf("%s[%d].%s", prefix, i, name)
}
