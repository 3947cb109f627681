// Package finance is partner money: commission and rebate rules by tier,
// product and period, and partner statements computed line by line from the
// won orders the sales-pipeline service attributes to a partner. It declares
// the ports it needs: its store, and the attributed orders.
package finance

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
)

// Kind is what a rule pays; the numbers match the API's enum.
type Kind int32

// Rule kinds.
const (
	KindUnspecified Kind = iota
	KindCommission
	KindRebate
)

// String names the kind for explanations.
func (k Kind) String() string {
	switch k {
	case KindCommission:
		return "commission"
	case KindRebate:
		return "rebate"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Events this package emits.
const (
	EventRuleCreated         = "commission_rule.created"
	EventStatementComputed   = "partner_statement.computed"
	EventStatementRecomputed = "partner_statement.recomputed"
)

// Errors of the finance use cases.
var (
	// ErrRuleOverlap means a rule of the same kind, tier and product already
	// covers part of the new rule's period.
	ErrRuleOverlap = errors.New("commission rule overlaps an existing rule of the same kind, tier and product")
	// ErrNoRules means no rule covers any day of the period for the
	// partner's tier: the statement would be meaningless, so none is written.
	ErrNoRules = errors.New("no commission or rebate rule covers the period for the partner's tier")
	// ErrPartnerNotFound means the partner does not exist or the caller may not see it.
	ErrPartnerNotFound = errors.New("partner not found")
	// ErrStatementNotFound means the statement does not exist or the caller may not see it.
	ErrStatementNotFound = errors.New("partner statement not found")
	// ErrPeer means the sales-pipeline service could not answer; nothing was written.
	ErrPeer = errors.New("the sales-pipeline service is unavailable")
)

// dateLayout is the API's calendar date.
const dateLayout = time.DateOnly

// Rule pays RateBPS of matching revenue. Tier and ProductID empty match
// everything; ValidUntil zero is open-ended.
type Rule struct {
	ID          uuid.UUID
	Kind        Kind
	Tier        string
	ProductID   string
	ValidFrom   time.Time
	ValidUntil  time.Time
	RateBPS     int32
	DisplayName string
	CreateTime  time.Time
	Revision    int64
}

// Etag is the opaque concurrency token of the rule.
func (r Rule) Etag() string { return strconv.FormatInt(r.Revision, 10) }

// Resource is the rule's resource name.
func (r Rule) Resource() string { return "commissionRules/" + r.ID.String() }

// covers reports whether the rule is in force on day.
func (r Rule) covers(day time.Time) bool {
	return !day.Before(r.ValidFrom) && (r.ValidUntil.IsZero() || day.Before(r.ValidUntil))
}

// specificity ranks rules that fit the same line: product beats tier beats
// neither.
func (r Rule) specificity() int {
	n := 0
	if r.ProductID != "" {
		n += 2
	}
	if r.Tier != "" {
		n++
	}
	return n
}

// OrderKind is a sale, a return or a money-only adjustment.
type OrderKind int32

// Order kinds, matching the sales-pipeline API.
const (
	OrderUnspecified OrderKind = iota
	OrderSale
	OrderReturn
	OrderAdjustment
)

// OrderLine is one product line of an order.
type OrderLine struct {
	ProductID  string
	TotalMinor int64
}

// Order is a placed order attributed to a partner.
type Order struct {
	ID              uuid.UUID
	Kind            OrderKind
	Time            time.Time
	CurrencyCode    string
	Lines           []OrderLine
	AdjustmentMinor int64
}

// Revenue is an order's signed revenue: sales positive, returns negative,
// adjustments as they are.
func Revenue(o Order) int64 {
	if o.Kind == OrderAdjustment {
		return o.AdjustmentMinor
	}
	var sum int64
	for _, l := range o.Lines {
		if o.Kind == OrderReturn {
			sum -= abs(l.TotalMinor)
		} else {
			sum += l.TotalMinor
		}
	}
	return sum
}

// Orders reads the orders attributed to a partner.
type Orders interface {
	// Attributed calls fn for every placed order attributed to partner with
	// an order time in [from, to), paging through the peer.
	Attributed(ctx context.Context, partner uuid.UUID, from, to time.Time, fn func(Order) error) error
}

// Total is a statement's sums in one currency.
type Total struct {
	CurrencyCode    string `json:"currency_code"`
	RevenueMinor    int64  `json:"revenue_minor"`
	CommissionMinor int64  `json:"commission_minor"`
	RebateMinor     int64  `json:"rebate_minor"`
}

// Statement is what a partner earned in [PeriodStart, PeriodEnd).
type Statement struct {
	ID          uuid.UUID
	PartnerID   uuid.UUID
	PeriodStart time.Time
	PeriodEnd   time.Time
	Tier        string
	Totals      []Total
	LineCount   int
	Revision    int64
	ComputeTime time.Time
	ComputedBy  string
	// CreateTime is when it was first computed; it orders lists.
	CreateTime time.Time
}

// Etag is the opaque concurrency token of the statement's current revision.
func (s Statement) Etag() string { return strconv.FormatInt(s.Revision, 10) }

// Resource is the statement's resource name.
func (s Statement) Resource() string { return "partnerStatements/" + s.ID.String() }

// Line explains one amount of a statement.
type Line struct {
	Number       int
	OrderID      uuid.UUID
	ProductID    string
	OrderTime    time.Time
	CurrencyCode string
	RevenueMinor int64
	Kind         Kind
	RuleID       uuid.UUID // uuid.Nil: no rule fitted
	RateBPS      int32
	AmountMinor  int64
	Explanation  string
}

// Partner is what a statement needs to know of a partner.
type Partner struct {
	ID   uuid.UUID
	Tier string
}

// RuleQuery selects a page of rules, newest first.
type RuleQuery struct {
	PageSize  int
	PageToken string
	Filter    string
}

// RulePage is one page of rules.
type RulePage struct {
	Rules         []Rule
	NextPageToken string
}

// StatementQuery selects a page of statements, newest first.
type StatementQuery struct {
	PageSize  int
	PageToken string
	Filter    string
}

// StatementPage is one page of statements.
type StatementPage struct {
	Statements    []Statement
	NextPageToken string
}

// LinePage is one page of a statement's lines.
type LinePage struct {
	Lines         []Line
	NextPageToken string
}

// Store keeps rules and statements. Every method is scoped to the caller's
// tenant and reads only what the caller may see.
type Store interface {
	// CreateRule inserts r with its event unless a rule of the same kind,
	// tier and product overlaps it (ErrRuleOverlap), or returns the rule an
	// earlier create with the same non-empty requestID made.
	CreateRule(ctx context.Context, caller auth.Caller, r Rule, requestID string) (Rule, error)
	ListRules(ctx context.Context, caller auth.Caller, q RuleQuery) (RulePage, error)
	// RulesFor returns the rules of tier (or of every tier) in force on
	// some day of [from, to).
	RulesFor(ctx context.Context, caller auth.Caller, tier string, from, to time.Time) ([]Rule, error)
	// Partner returns the partner a statement is for (ErrPartnerNotFound).
	Partner(ctx context.Context, caller auth.Caller, id uuid.UUID) (Partner, error)
	// SaveStatement stores st with lines, replacing the lines of an earlier
	// computation of the same partner and period, with its event, in one
	// transaction.
	SaveStatement(ctx context.Context, caller auth.Caller, st Statement, lines []Line) (Statement, error)
	Statement(ctx context.Context, caller auth.Caller, id uuid.UUID) (Statement, error)
	ListStatements(ctx context.Context, caller auth.Caller, q StatementQuery) (StatementPage, error)
	// Lines returns a page of a statement's lines from line number after+1.
	Lines(ctx context.Context, caller auth.Caller, id uuid.UUID, after, pageSize int) ([]Line, error)
}

// rate applies bps to minor units, rounding half away from zero.
func rate(minor int64, bps int32) int64 {
	neg := minor < 0
	if neg {
		minor = -minor
	}
	q := (minor*int64(bps) + 5000) / 10000
	if neg {
		return -q
	}
	return q
}

// bestRule picks the most specific rule of kind fitting the line; ties go
// to the rule starting later, then the later-created one, so the outcome
// does not depend on read order.
func bestRule(rules []Rule, kind Kind, tier, product string, day time.Time) (Rule, bool) {
	var best Rule
	found := false
	for _, r := range rules {
		if r.Kind != kind || (r.Tier != "" && r.Tier != tier) || (r.ProductID != "" && r.ProductID != product) || !r.covers(day) {
			continue
		}
		if !found || r.specificity() > best.specificity() ||
			(r.specificity() == best.specificity() && (r.ValidFrom.After(best.ValidFrom) ||
				(r.ValidFrom.Equal(best.ValidFrom) && r.ID.String() > best.ID.String()))) {
			best, found = r, true
		}
	}
	return best, found
}

// explainer builds the lines of one statement and sums them.
type explainer struct {
	tier   string
	rules  []Rule
	lines  []Line
	totals map[string]*Total
	order  []string
}

func newExplainer(tier string, rules []Rule) *explainer {
	return &explainer{tier: tier, rules: rules, totals: map[string]*Total{}}
}

func (e *explainer) total(currency string) *Total {
	t, ok := e.totals[currency]
	if !ok {
		t = &Total{CurrencyCode: currency}
		e.totals[currency] = t
		e.order = append(e.order, currency)
	}
	return t
}

// add explains one order: a commission and a rebate line per product line
// (or per adjustment), each with the rule that fits it or none.
func (e *explainer) add(o Order) {
	day := o.Time.UTC().Truncate(24 * time.Hour)
	type base struct {
		product string
		revenue int64
	}
	var bases []base
	switch o.Kind {
	case OrderAdjustment:
		bases = append(bases, base{"", o.AdjustmentMinor})
	case OrderReturn:
		for _, l := range o.Lines {
			bases = append(bases, base{l.ProductID, -abs(l.TotalMinor)})
		}
	default:
		for _, l := range o.Lines {
			bases = append(bases, base{l.ProductID, l.TotalMinor})
		}
	}
	t := e.total(o.CurrencyCode)
	for _, b := range bases {
		t.RevenueMinor += b.revenue
		for _, kind := range []Kind{KindCommission, KindRebate} {
			line := Line{
				Number: len(e.lines) + 1, OrderID: o.ID, ProductID: b.product, OrderTime: o.Time,
				CurrencyCode: o.CurrencyCode, RevenueMinor: b.revenue, Kind: kind,
			}
			r, ok := bestRule(e.rules, kind, e.tier, b.product, day)
			if !ok {
				line.Explanation = fmt.Sprintf("no %s rule for tier %q and %s on %s", kind, e.tier, productWords(b.product), day.Format(dateLayout))
				e.lines = append(e.lines, line)
				continue
			}
			line.RuleID, line.RateBPS = r.ID, r.RateBPS
			line.AmountMinor = rate(b.revenue, r.RateBPS)
			line.Explanation = fmt.Sprintf("%s rule %q (%s, %s) at %d bps of %d %s = %d",
				kind, r.DisplayName, tierWords(r.Tier), productWords(r.ProductID), r.RateBPS, b.revenue, o.CurrencyCode, line.AmountMinor)
			if kind == KindCommission {
				t.CommissionMinor += line.AmountMinor
			} else {
				t.RebateMinor += line.AmountMinor
			}
			e.lines = append(e.lines, line)
		}
	}
}

func (e *explainer) sums() []Total {
	out := make([]Total, 0, len(e.order))
	for _, c := range e.order {
		out = append(out, *e.totals[c])
	}
	return out
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

func productWords(p string) string {
	if p == "" {
		return "any product"
	}
	return "product " + p
}

func tierWords(t string) string {
	if t == "" {
		return "any tier"
	}
	return "tier " + t
}
