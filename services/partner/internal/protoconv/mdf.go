package protoconv

import (
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
	"github.com/rapportcrm/rapport/services/partner/internal/mdf"
)

// MdfBudget renders a budget as its API message.
func MdfBudget(b mdf.Budget) *partnerv1.MdfBudget {
	return &partnerv1.MdfBudget{
		MdfBudgetId: b.ID.String(), PartnerId: b.PartnerID.String(), DisplayName: b.DisplayName,
		PeriodStart: finance.FormatDate(b.PeriodStart), PeriodEnd: finance.FormatDate(b.PeriodEnd), CurrencyCode: b.CurrencyCode,
		AmountMinor: b.AmountMinor, CommittedMinor: b.CommittedMinor, SpentMinor: b.SpentMinor,
		CreateTime: timestamppb.New(b.CreateTime), Etag: b.Etag(),
	}
}

// FromMdfBudget reads a budget from its API message.
func FromMdfBudget(m *partnerv1.MdfBudget) (mdf.Budget, error) {
	v := &validation.Error{}
	b := mdf.Budget{DisplayName: m.GetDisplayName(), CurrencyCode: m.GetCurrencyCode(), AmountMinor: m.GetAmountMinor()}
	b.PartnerID = optionalUUID(v, "mdf_budget.partner_id", m.GetPartnerId())
	b.PeriodStart = Date(v, "mdf_budget.period_start", m.GetPeriodStart())
	b.PeriodEnd = Date(v, "mdf_budget.period_end", m.GetPeriodEnd())
	return b, v.Err()
}

// MdfRequest renders a request as its API message.
func MdfRequest(r mdf.Request) *partnerv1.MdfRequest {
	return &partnerv1.MdfRequest{
		MdfRequestId: r.ID.String(), MdfBudgetId: r.BudgetID.String(), PartnerId: r.PartnerID.String(), Activity: r.Activity,
		RequestedMinor: r.RequestedMinor, State: partnerv1.MdfRequestState(r.State), ApprovedMinor: r.ApprovedMinor,
		ClaimedMinor: r.ClaimedMinor, ClaimEvidence: r.ClaimEvidence, DecisionNote: r.DecisionNote,
		RequestedBy: r.RequestedBy, DecidedBy: r.DecidedBy, CreateTime: timestamppb.New(r.CreateTime),
		UpdateTime: timestamppb.New(r.UpdateTime), Etag: r.Etag(),
	}
}

// FromMdfRequest reads a request from its API message.
func FromMdfRequest(m *partnerv1.MdfRequest) (mdf.Request, error) {
	v := &validation.Error{}
	r := mdf.Request{Activity: m.GetActivity(), RequestedMinor: m.GetRequestedMinor()}
	r.BudgetID = optionalUUID(v, "mdf_request.mdf_budget_id", m.GetMdfBudgetId())
	return r, v.Err()
}

// optionalUUID reads an id that may be empty (uuid.Nil), adding a
// violation on field when it is neither empty nor a UUID.
func optionalUUID(v *validation.Error, field, s string) uuid.UUID {
	if s == "" {
		return uuid.Nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		v.Add(field, "must be a UUID")
	}
	return id
}
