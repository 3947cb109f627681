package pipeline

import (
	"regexp"

	"golang.org/x/text/currency"
)

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

// isCurrency reports whether code is an ISO 4217 currency in CLDR's list
// (through x/text), other than XXX and XTS, which name no real money.
func isCurrency(code string) bool {
	if !currencyRE.MatchString(code) || code == "XXX" || code == "XTS" {
		return false
	}
	_, err := currency.ParseISO(code)
	return err == nil
}
