package protoconv

import (
	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/services/customer/internal/search"
)

// SearchResult renders one search result as its API message.
func SearchResult(r search.Result) *customerv1.SearchResult {
	return &customerv1.SearchResult{Customer: Customer(r.Customer), Score: r.Score, MatchedFields: r.MatchedFields}
}
