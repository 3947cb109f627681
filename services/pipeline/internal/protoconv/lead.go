package protoconv

import (
	"fmt"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/lead"
)

// Lead renders a lead as its API message.
func Lead(l lead.Lead) *pipelinev1.Lead {
	return &pipelinev1.Lead{
		LeadId: l.ID.String(), DisplayName: l.DisplayName, Email: l.Email, Phone: l.Phone, CompanyName: l.CompanyName,
		Source: l.Source, Utm: UTM(l.UTM), Status: pipelinev1.LeadStatus(l.Status), StatusReason: l.StatusReason,
		OwnerId: optionalString(l.OwnerID), Territory: l.Territory, DuplicateCustomerId: optionalString(l.DuplicateCustomerID),
		ConvertedCustomerId: optionalString(l.ConvertedCustomerID), ConvertedOpportunityId: optionalString(l.ConvertedOpportunityID),
		ConvertTime: optionalTime(l.ConvertTime), WebFormId: optionalString(l.WebFormID), ExternalId: l.ExternalID,
		CreateTime: timestamppb.New(l.CreateTime), UpdateTime: timestamppb.New(l.UpdateTime), Etag: l.Etag(),
	}
}

// UTM renders campaign parameters; nil when there are none.
func UTM(u lead.UTM) *pipelinev1.Utm {
	if u == (lead.UTM{}) {
		return nil
	}
	return &pipelinev1.Utm{Source: u.Source, Medium: u.Medium, Campaign: u.Campaign, Term: u.Term, Content: u.Content}
}

// FromUTM reads campaign parameters.
func FromUTM(m *pipelinev1.Utm) lead.UTM {
	return lead.UTM{Source: m.GetSource(), Medium: m.GetMedium(), Campaign: m.GetCampaign(), Term: m.GetTerm(), Content: m.GetContent()}
}

// FromLead reads the writable fields of an API message; field paths in
// violations start with prefix.
func FromLead(m *pipelinev1.Lead, prefix string) (lead.Lead, error) {
	v := &validation.Error{}
	l := lead.Lead{
		DisplayName: m.GetDisplayName(), Email: m.GetEmail(), Phone: m.GetPhone(), CompanyName: m.GetCompanyName(),
		Source: m.GetSource(), UTM: FromUTM(m.GetUtm()), Status: lead.Status(m.GetStatus()), StatusReason: m.GetStatusReason(),
		Territory: m.GetTerritory(), ExternalID: m.GetExternalId(),
	}
	l.OwnerID = optionalID(m.GetOwnerId(), prefix+"owner_id", v)
	if m.GetLeadId() != "" {
		id, err := uuid.Parse(m.GetLeadId())
		if err != nil {
			v.Add(prefix+"lead_id", "must be a UUID")
		}
		l.ID = id
	}
	return l, v.Err()
}

// WebForm renders a web form as its API message.
func WebForm(f lead.WebForm) *pipelinev1.WebForm {
	return &pipelinev1.WebForm{
		WebFormId: f.ID.String(), DisplayName: f.DisplayName, FormKey: f.FormKey, Territory: f.Territory, Active: f.Active,
		CreateTime: timestamppb.New(f.CreateTime), UpdateTime: timestamppb.New(f.UpdateTime), Etag: f.Etag(),
	}
}

// LeadAssignmentRule renders an assignment rule as its API message.
func LeadAssignmentRule(r lead.Rule) *pipelinev1.LeadAssignmentRule {
	ids := make([]string, len(r.AssigneeIDs))
	for i, id := range r.AssigneeIDs {
		ids[i] = id.String()
	}
	return &pipelinev1.LeadAssignmentRule{
		LeadAssignmentRuleId: r.ID.String(), Territory: r.Territory, AssigneeIds: ids, Capacity: r.Capacity,
		CreateTime: timestamppb.New(r.CreateTime), UpdateTime: timestamppb.New(r.UpdateTime), Etag: r.Etag(),
	}
}

// FromLeadAssignmentRule reads the writable fields of an API message.
func FromLeadAssignmentRule(m *pipelinev1.LeadAssignmentRule, prefix string) (lead.Rule, error) {
	v := &validation.Error{}
	r := lead.Rule{Territory: m.GetTerritory(), Capacity: m.GetCapacity()}
	for i, s := range m.GetAssigneeIds() {
		id, err := uuid.Parse(s)
		if err != nil {
			v.Add(fmt.Sprintf("%sassignee_ids[%d]", prefix, i), "must be a UUID")
			continue
		}
		r.AssigneeIDs = append(r.AssigneeIDs, id)
	}
	return r, v.Err()
}
