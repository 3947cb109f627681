package customer

import (
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Prepare normalises c and checks it as CreateCustomer and UpdateCustomer
// do, so that bulk writers (the import) apply exactly the API's rules.
// With attrs, custom attributes are checked against defs, as on create and
// on updates that change them. Violations name fields under "customer.".
func Prepare(c *Customer, defs []AttributeDef, attrs bool) error {
	c.normalize()
	v := &validation.Error{}
	c.validate("customer.", v)
	if attrs {
		validateAttributes(defs, c.CustomAttributes, "customer.", true, v)
	}
	return v.Err()
}

// ApplyField copies one field of in onto c, as UpdateCustomer does for each
// path of its update mask ("custom_attributes.<key>" sets or removes one
// attribute).
func ApplyField(c *Customer, in Customer, field string) { apply(c, in, field) }

// Updatable lists the update mask paths UpdateCustomer accepts, besides
// "custom_attributes.<key>".
func Updatable() []string { return append([]string{}, updatable...) }
