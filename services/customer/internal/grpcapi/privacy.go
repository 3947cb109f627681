package grpcapi

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/services/customer/internal/privacy"
	"github.com/rapportcrm/rapport/services/customer/internal/protoconv"
)

// Privacy implements customerv1.PrivacyServiceServer.
type Privacy struct {
	customerv1.UnimplementedPrivacyServiceServer
	svc *privacy.Service
}

// NewPrivacy returns the server.
func NewPrivacy(svc *privacy.Service) *Privacy { return &Privacy{svc: svc} }

// jsonStruct reads a stored JSON object; nil stays nil.
func jsonStruct(doc []byte) (*structpb.Struct, error) {
	if doc == nil {
		return nil, nil
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(doc, s); err != nil {
		return nil, fmt.Errorf("stored JSON: %w", err)
	}
	return s, nil
}

// ListCustomerAuditEntries implements the RPC.
func (s *Privacy) ListCustomerAuditEntries(ctx context.Context, req *customerv1.ListCustomerAuditEntriesRequest) (*customerv1.ListCustomerAuditEntriesResponse, error) {
	id, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	page, err := s.svc.AuditEntries(ctx, caller(ctx), id, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListCustomerAuditEntriesResponse{NextPageToken: page.NextPageToken}
	for _, a := range page.Entries {
		e := &customerv1.AuditEntry{AuditId: a.ID.String(), PrincipalId: a.PrincipalID, Action: a.Action, Resource: a.Resource, OccurTime: timestamppb.New(a.Time)}
		if e.Before, err = jsonStruct(a.Before); err != nil {
			return nil, err
		}
		if e.After, err = jsonStruct(a.After); err != nil {
			return nil, err
		}
		out.Entries = append(out.Entries, e)
	}
	return out, nil
}

// ExportCustomerData implements the RPC.
func (s *Privacy) ExportCustomerData(ctx context.Context, req *customerv1.ExportCustomerDataRequest) (*customerv1.ExportCustomerDataResponse, error) {
	id, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	doc, err := s.svc.Export(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	data, err := jsonStruct(doc)
	if err != nil {
		return nil, err
	}
	return &customerv1.ExportCustomerDataResponse{Data: data, ExportTime: timestamppb.Now()}, nil
}

// EraseCustomer implements the RPC.
func (s *Privacy) EraseCustomer(ctx context.Context, req *customerv1.EraseCustomerRequest) (*customerv1.EraseCustomerResponse, error) {
	id, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	e, err := s.svc.Erase(ctx, caller(ctx), id, req.GetReason(), req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.EraseCustomerResponse{Customer: protoconv.Customer(e.Customer), RedactedEvents: e.RedactedEvents, RedactedAuditEntries: e.RedactedAudit}, nil
}
