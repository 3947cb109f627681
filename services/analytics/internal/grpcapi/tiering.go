package grpcapi

import (
	"context"
	"slices"

	analyticsv1 "github.com/rapportcrm/rapport/gen/go/rapport/analytics/v1"
	"github.com/rapportcrm/rapport/services/analytics/internal/protoconv"
	"github.com/rapportcrm/rapport/services/analytics/internal/tiering"
)

// Tiering implements analyticsv1.TierSuggestionServiceServer.
type Tiering struct {
	analyticsv1.UnimplementedTierSuggestionServiceServer
	svc *tiering.Service
}

// NewTiering returns the server.
func NewTiering(svc *tiering.Service) *Tiering { return &Tiering{svc: svc} }

// GetTierSuggestionSettings implements the RPC.
func (s *Tiering) GetTierSuggestionSettings(ctx context.Context, _ *analyticsv1.GetTierSuggestionSettingsRequest) (*analyticsv1.GetTierSuggestionSettingsResponse, error) {
	st, err := s.svc.Settings(ctx, caller(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	return &analyticsv1.GetTierSuggestionSettingsResponse{Settings: protoconv.TierSettings(st)}, nil
}

// UpdateTierSuggestionSettings implements the RPC. Output-only fields in a
// mask (REST infers it from the body, etag included) are dropped.
func (s *Tiering) UpdateTierSuggestionSettings(ctx context.Context, req *analyticsv1.UpdateTierSuggestionSettingsRequest) (*analyticsv1.UpdateTierSuggestionSettingsResponse, error) {
	mask := slices.DeleteFunc(slices.Clone(req.GetUpdateMask().GetPaths()), func(p string) bool { return p == "etag" || p == "update_time" })
	st, err := s.svc.UpdateSettings(ctx, caller(ctx), protoconv.FromTierSettings(req.GetSettings()), mask, req.GetSettings().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &analyticsv1.UpdateTierSuggestionSettingsResponse{Settings: protoconv.TierSettings(st)}, nil
}

// ListTierSuggestions implements the RPC.
func (s *Tiering) ListTierSuggestions(ctx context.Context, req *analyticsv1.ListTierSuggestionsRequest) (*analyticsv1.ListTierSuggestionsResponse, error) {
	page, err := s.svc.List(ctx, caller(ctx), tiering.State(req.GetState()), req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &analyticsv1.ListTierSuggestionsResponse{NextPageToken: page.NextPageToken}
	for _, sg := range page.Suggestions {
		out.Suggestions = append(out.Suggestions, protoconv.TierSuggestion(sg))
	}
	return out, nil
}

// RunTierSuggestions implements the RPC.
func (s *Tiering) RunTierSuggestions(ctx context.Context, _ *analyticsv1.RunTierSuggestionsRequest) (*analyticsv1.RunTierSuggestionsResponse, error) {
	run, err := s.svc.RunNow(ctx, caller(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	return &analyticsv1.RunTierSuggestionsResponse{Run: protoconv.TierRun(run)}, nil
}
