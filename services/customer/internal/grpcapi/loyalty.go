package grpcapi

import (
	"context"

	"github.com/google/uuid"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/loyalty"
	"github.com/rapportcrm/rapport/services/customer/internal/protoconv"
)

// Loyalty implements customerv1.LoyaltyServiceServer.
type Loyalty struct {
	customerv1.UnimplementedLoyaltyServiceServer
	svc *loyalty.Service
}

// NewLoyalty returns the server.
func NewLoyalty(svc *loyalty.Service) *Loyalty { return &Loyalty{svc: svc} }

// CreateLoyaltyProgram implements the RPC.
func (s *Loyalty) CreateLoyaltyProgram(ctx context.Context, req *customerv1.CreateLoyaltyProgramRequest) (*customerv1.CreateLoyaltyProgramResponse, error) {
	if req.GetProgram() == nil {
		return nil, toStatus(validation.Field("program", "is required"))
	}
	p, err := s.svc.CreateProgram(ctx, caller(ctx), protoconv.FromLoyaltyProgram(req.GetProgram()), req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.CreateLoyaltyProgramResponse{Program: protoconv.LoyaltyProgram(p)}, nil
}

// GetLoyaltyProgram implements the RPC.
func (s *Loyalty) GetLoyaltyProgram(ctx context.Context, req *customerv1.GetLoyaltyProgramRequest) (*customerv1.GetLoyaltyProgramResponse, error) {
	id, err := parseID("program_id", req.GetProgramId())
	if err != nil {
		return nil, toStatus(err)
	}
	p, err := s.svc.Program(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.GetLoyaltyProgramResponse{Program: protoconv.LoyaltyProgram(p)}, nil
}

// ListLoyaltyPrograms implements the RPC.
func (s *Loyalty) ListLoyaltyPrograms(ctx context.Context, _ *customerv1.ListLoyaltyProgramsRequest) (*customerv1.ListLoyaltyProgramsResponse, error) {
	ps, err := s.svc.Programs(ctx, caller(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListLoyaltyProgramsResponse{}
	for _, p := range ps {
		out.Programs = append(out.Programs, protoconv.LoyaltyProgram(p))
	}
	return out, nil
}

// UpdateLoyaltyProgram implements the RPC.
func (s *Loyalty) UpdateLoyaltyProgram(ctx context.Context, req *customerv1.UpdateLoyaltyProgramRequest) (*customerv1.UpdateLoyaltyProgramResponse, error) {
	id, err := parseID("program.program_id", req.GetProgram().GetProgramId())
	if err != nil {
		return nil, toStatus(err)
	}
	in := protoconv.FromLoyaltyProgram(req.GetProgram())
	in.ID = id
	p, err := s.svc.UpdateProgram(ctx, caller(ctx), in, maskPaths(req.GetUpdateMask().GetPaths(), "program_id", "create_time", "update_time"), req.GetProgram().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.UpdateLoyaltyProgramResponse{Program: protoconv.LoyaltyProgram(p)}, nil
}

// CreateLoyaltyTier implements the RPC.
func (s *Loyalty) CreateLoyaltyTier(ctx context.Context, req *customerv1.CreateLoyaltyTierRequest) (*customerv1.CreateLoyaltyTierResponse, error) {
	program, err := parseID("program_id", req.GetProgramId())
	if err != nil {
		return nil, toStatus(err)
	}
	if req.GetTier() == nil {
		return nil, toStatus(validation.Field("tier", "is required"))
	}
	in := protoconv.FromLoyaltyTier(req.GetTier())
	in.ProgramID = program
	t, err := s.svc.CreateTier(ctx, caller(ctx), in)
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.CreateLoyaltyTierResponse{Tier: protoconv.LoyaltyTier(t)}, nil
}

// ListLoyaltyTiers implements the RPC.
func (s *Loyalty) ListLoyaltyTiers(ctx context.Context, req *customerv1.ListLoyaltyTiersRequest) (*customerv1.ListLoyaltyTiersResponse, error) {
	program, err := parseID("program_id", req.GetProgramId())
	if err != nil {
		return nil, toStatus(err)
	}
	ts, err := s.svc.Tiers(ctx, caller(ctx), program)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListLoyaltyTiersResponse{}
	for _, t := range ts {
		out.Tiers = append(out.Tiers, protoconv.LoyaltyTier(t))
	}
	return out, nil
}

// loyaltyMember names a membership: a program and a customer.
type loyaltyMember struct{ program, customer uuid.UUID }

// memberIDs parses a program and customer id pair.
func memberIDs(program, customer string) (loyaltyMember, error) {
	p, err := parseID("program_id", program)
	if err != nil {
		return loyaltyMember{}, err
	}
	c, err := parseID("customer_id", customer)
	return loyaltyMember{program: p, customer: c}, err
}

// EnrollLoyaltyMember implements the RPC.
func (s *Loyalty) EnrollLoyaltyMember(ctx context.Context, req *customerv1.EnrollLoyaltyMemberRequest) (*customerv1.EnrollLoyaltyMemberResponse, error) {
	ids, err := memberIDs(req.GetProgramId(), req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	m, err := s.svc.Enroll(ctx, caller(ctx), ids.program, ids.customer)
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.EnrollLoyaltyMemberResponse{Membership: protoconv.LoyaltyMembership(m)}, nil
}

// GetLoyaltyMembership implements the RPC.
func (s *Loyalty) GetLoyaltyMembership(ctx context.Context, req *customerv1.GetLoyaltyMembershipRequest) (*customerv1.GetLoyaltyMembershipResponse, error) {
	ids, err := memberIDs(req.GetProgramId(), req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	m, err := s.svc.Membership(ctx, caller(ctx), ids.program, ids.customer)
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.GetLoyaltyMembershipResponse{Membership: protoconv.LoyaltyMembership(m)}, nil
}

// ListLoyaltyMemberships implements the RPC.
func (s *Loyalty) ListLoyaltyMemberships(ctx context.Context, req *customerv1.ListLoyaltyMembershipsRequest) (*customerv1.ListLoyaltyMembershipsResponse, error) {
	program, err := parseID("program_id", req.GetProgramId())
	if err != nil {
		return nil, toStatus(err)
	}
	tier, err := protoconv.OptionalUUID(req.GetTierId())
	if err != nil {
		return nil, toStatus(validation.Field("tier_id", "must be a UUID"))
	}
	ms, next, err := s.svc.Memberships(ctx, caller(ctx), program, tier, loyalty.PageQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListLoyaltyMembershipsResponse{NextPageToken: next}
	for _, m := range ms {
		out.Memberships = append(out.Memberships, protoconv.LoyaltyMembership(m))
	}
	return out, nil
}

// PostPointsTransaction implements the RPC.
func (s *Loyalty) PostPointsTransaction(ctx context.Context, req *customerv1.PostPointsTransactionRequest) (*customerv1.PostPointsTransactionResponse, error) {
	ids, err := memberIDs(req.GetProgramId(), req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	t, m, err := s.svc.Post(ctx, caller(ctx), loyalty.Transaction{
		ProgramID: ids.program, CustomerID: ids.customer, Kind: loyalty.Kind(req.GetKind()), Points: req.GetPoints(),
		ExternalReference: req.GetExternalReference(), Reason: req.GetReason(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.PostPointsTransactionResponse{Transaction: protoconv.PointsTransaction(t), Membership: protoconv.LoyaltyMembership(m)}, nil
}

// ListPointsTransactions implements the RPC.
func (s *Loyalty) ListPointsTransactions(ctx context.Context, req *customerv1.ListPointsTransactionsRequest) (*customerv1.ListPointsTransactionsResponse, error) {
	ids, err := memberIDs(req.GetProgramId(), req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	ts, next, err := s.svc.Transactions(ctx, caller(ctx), ids.program, ids.customer, loyalty.PageQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListPointsTransactionsResponse{NextPageToken: next}
	for _, t := range ts {
		out.Transactions = append(out.Transactions, protoconv.PointsTransaction(t))
	}
	return out, nil
}

// ListLoyaltyTierChanges implements the RPC.
func (s *Loyalty) ListLoyaltyTierChanges(ctx context.Context, req *customerv1.ListLoyaltyTierChangesRequest) (*customerv1.ListLoyaltyTierChangesResponse, error) {
	ids, err := memberIDs(req.GetProgramId(), req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	cs, err := s.svc.TierChanges(ctx, caller(ctx), ids.program, ids.customer)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListLoyaltyTierChangesResponse{}
	for _, c := range cs {
		out.Changes = append(out.Changes, protoconv.LoyaltyTierChange(c))
	}
	return out, nil
}

// ExpireLoyaltyPoints implements the RPC.
func (s *Loyalty) ExpireLoyaltyPoints(ctx context.Context, req *customerv1.ExpireLoyaltyPointsRequest) (*customerv1.ExpireLoyaltyPointsResponse, error) {
	program, err := parseID("program_id", req.GetProgramId())
	if err != nil {
		return nil, toStatus(err)
	}
	e, err := s.svc.Expire(ctx, caller(ctx), program)
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.ExpireLoyaltyPointsResponse{ExpiredLots: e.Lots, ExpiredPoints: e.Points}, nil
}
