package insight

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
)

// ErrCustomerServiceUnavailable means the customer service could not be
// asked to act on a churn risk; the request may be retried.
var ErrCustomerServiceUnavailable = errors.New("the customer service is unavailable")

// Customers is what insight asks of the customer service, with the
// caller's own credentials, so that service's rules and roles apply.
type Customers interface {
	// MarkAtRisk moves the customer to the at-risk lifecycle stage, recording
	// reason; moved is false when the customer service refused because the
	// customer is at that stage already (or may not move there).
	MarkAtRisk(ctx context.Context, customer uuid.UUID, reason string) (moved bool, err error)
	// CreateWinBack creates a follow-up for the customer, once per
	// requestID, and returns its id.
	CreateWinBack(ctx context.Context, customer uuid.UUID, title, notes string, due time.Time, requestID string) (string, error)
}

// WinBackDelay is how long after the at-risk move its win-back follow-up is due.
const WinBackDelay = 48 * time.Hour

// churnActors may act on churn risks: they change customers' lifecycle.
var churnActors = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}

// ChurnAction is what ApplyChurnRisk did.
type ChurnAction struct {
	Risk          ChurnRisk
	MovedToAtRisk bool
	FollowUpID    string
}

var reasonText = map[ChurnReason]string{
	ReasonInactivity: "inactivity", ReasonDecliningSpend: "declining spend", ReasonOpenComplaints: "open complaints",
	ReasonMonthToMonthContract: "month-to-month contract", ReasonOneYearContract: "one-year contract",
	ReasonShortTenure: "short tenure", ReasonHighCharges: "high charges",
}

// describe renders a risk for the customer service's records: figures and
// reasons only, no personal data.
func describe(r ChurnRisk) string {
	parts := make([]string, len(r.Reasons))
	for i, c := range r.Reasons {
		parts[i] = fmt.Sprintf("%s (%d)", reasonText[c.Reason], c.Points)
	}
	return fmt.Sprintf("churn risk %d/100: %s", r.Score, strings.Join(parts, ", "))
}

// ApplyChurnRisk acts on a customer's churn risk now: when the risk
// suggests at-risk, the customer moves to the at-risk stage and gets a
// win-back follow-up, due WinBackDelay later. Each step can be repeated: a
// customer at the stage already is not moved again, and the follow-up's
// request id (customer and UTC day) makes a retry return the first one.
func (s *Service) ApplyChurnRisk(ctx context.Context, caller auth.Caller, customer uuid.UUID) (ChurnAction, error) {
	tenant, err := tenantOf(caller, churnActors)
	if err != nil {
		return ChurnAction{}, err
	}
	if err := s.known(ctx, tenant, customer); err != nil {
		return ChurnAction{}, err
	}
	now := s.now()
	f, err := s.store.ChurnFacts(ctx, tenant, customer, now)
	if err != nil {
		return ChurnAction{}, err
	}
	act := ChurnAction{Risk: churnRisk(customer, f, now)}
	if !act.Risk.SuggestAtRisk {
		return act, nil
	}
	reason := describe(act.Risk)
	if act.MovedToAtRisk, err = s.customers.MarkAtRisk(ctx, customer, reason); err != nil {
		return ChurnAction{}, err
	}
	requestID := "winback-" + customer.String() + "-" + now.UTC().Format("2006-01-02")
	title := fmt.Sprintf("Win-back call (churn risk %d/100)", act.Risk.Score)
	if act.FollowUpID, err = s.customers.CreateWinBack(ctx, customer, title, reason, now.Add(WinBackDelay), requestID); err != nil {
		return ChurnAction{}, err
	}
	return act, nil
}
