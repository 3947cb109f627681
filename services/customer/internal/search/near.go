package search

import "strings"

// NearWords picks a query word's alternatives from proposed words: those
// that begin with it (the word itself among them; at most max), which
// full-text search does not find from a prefix, and those at the least edit
// distance other than none (at most max), which are what a typo meant:
// "Adam Lovell" finds "Ada Lovelace", "rodr" finds "rodriguez".
func NearWords(word string, proposed []string, max int) []string {
	var completions, typos []string
	best := 0
	for _, w := range proposed {
		if strings.HasPrefix(w, word) {
			if len(completions) < max {
				completions = append(completions, w)
			}
			continue
		}
		switch d := EditDistance(word, w); {
		case best == 0 || d < best:
			best, typos = d, append(typos[:0], w)
		case d == best && len(typos) < max:
			typos = append(typos, w)
		}
	}
	return append(completions, typos...)
}

// EditDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of neighbouring
// letters, one edit each ("mayr" is one from "mary", two from "mark").
func EditDistance(a, b string) int {
	x, y := []rune(a), []rune(b)
	prev2, prev, cur := make([]int, len(y)+1), make([]int, len(y)+1), make([]int, len(y)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(x); i++ {
		cur[0] = i
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(y)]
}
