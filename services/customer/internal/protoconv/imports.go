package protoconv

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/services/customer/internal/imports"
)

// ImportJob renders an import job as its API message.
func ImportJob(j imports.Job) *customerv1.ImportJob {
	out := &customerv1.ImportJob{
		JobId:       j.ID.String(),
		RequestId:   j.RequestID,
		State:       customerv1.ImportJobState(j.State),
		Mode:        customerv1.ImportMode(j.Mode),
		Format:      customerv1.ImportFormat(j.Format),
		DryRun:      j.DryRun,
		RowsRead:    j.RowsRead,
		Created:     j.Created,
		Updated:     j.Updated,
		Unchanged:   j.Unchanged,
		Failed:      j.Failed,
		Duplicates:  j.Duplicates,
		NextRow:     j.NextRow(),
		AppliedRows: j.AppliedRows,
		Progress:    j.Progress(),
		PrincipalId: j.PrincipalID,
		CreateTime:  timestamppb.New(j.CreateTime),
		Columns:     j.Columns,
	}
	if j.StartTime != nil {
		out.StartTime = timestamppb.New(*j.StartTime)
	}
	if j.FinishTime != nil {
		out.FinishTime = timestamppb.New(*j.FinishTime)
	}
	return out
}

// ImportRowError renders a row error as its API message.
func ImportRowError(e imports.RowError) *customerv1.ImportRowError {
	out := &customerv1.ImportRowError{
		RowNumber:          e.Row,
		Reason:             customerv1.ImportRowErrorReason(e.Reason),
		DuplicateRowNumber: e.DuplicateRow,
		RawValues:          e.Values,
	}
	for _, v := range e.Violations {
		out.Violations = append(out.Violations, &customerv1.ImportFieldViolation{Field: v.Field, Description: v.Description})
	}
	if e.DuplicateCustomerID != nil {
		out.DuplicateCustomerId = e.DuplicateCustomerID.String()
	}
	return out
}

// ImportValues renders a typed import row in the order of
// imports.TypedColumns. Enum values go by name, so a number the API does not
// know fails the row, not the stream.
func ImportValues(m *customerv1.Customer) ([]string, error) {
	attrs := ""
	if len(m.GetCustomAttributes()) > 0 {
		b, err := protojson.Marshal(&structpb.Struct{Fields: m.GetCustomAttributes()})
		if err != nil {
			return nil, fmt.Errorf("encode custom attributes: %w", err)
		}
		attrs = string(b)
	}
	kind, stage := m.GetKind().String(), m.GetLifecycleStage().String()
	if m.GetKind() == customerv1.CustomerKind_CUSTOMER_KIND_UNSPECIFIED {
		kind = ""
	}
	if m.GetLifecycleStage() == customerv1.LifecycleStage_LIFECYCLE_STAGE_UNSPECIFIED {
		stage = ""
	}
	return []string{m.GetExternalId(), kind, m.GetDisplayName(), m.GetEmail(), m.GetPhone(), stage, m.GetIndustry(),
		m.GetCountryCode(), m.GetOwnerId(), strings.Join(m.GetTags(), imports.TagSeparator), m.GetSourceChannel(), attrs}, nil
}
