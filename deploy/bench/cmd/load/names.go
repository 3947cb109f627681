package main

import "strings"

// syllables make generated names. Numbered names ("Bench 123") share their
// letters' trigrams with every other bench customer, which makes each
// create's duplicate lookup weigh the whole tenant: no real customer base
// looks like that. Names of two or three syllables each are varied the way
// real names are: some shared, most rare.
var syllables = strings.Fields("an bel cor da el fen gi har is jo ka lin mar no or pe qui ra sol ta ul vi wen xa yo zu ber dan mi ro")

// personName returns the n-th generated name, a given name and a family name.
func personName(n int64) string {
	k := int64(len(syllables))
	word := func(parts int, x int64) string {
		var b strings.Builder
		for range parts {
			b.WriteString(syllables[x%k])
			x /= k
		}
		s := b.String()
		return strings.ToUpper(s[:1]) + s[1:]
	}
	// Mixing n spreads neighbours over the name space.
	x := n*2654435761 + 97
	return word(2, x) + " " + word(3, x/(k*k))
}
