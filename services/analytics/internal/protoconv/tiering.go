package protoconv

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/rapportcrm/rapport/gen/go/rapport/analytics/v1"
	"github.com/rapportcrm/rapport/services/analytics/internal/tiering"
)

// TierSettings renders a tenant's tier suggestion settings.
func TierSettings(s tiering.Settings) *analyticsv1.TierSuggestionSettings {
	out := &analyticsv1.TierSuggestionSettings{
		Enabled: s.Enabled, OverrideManual: s.OverrideManual,
		VipMinScore: s.Thresholds.VIP, AMinScore: s.Thresholds.A, BMinScore: s.Thresholds.B,
		Etag: s.Etag(),
	}
	if !s.UpdateTime.IsZero() {
		out.UpdateTime = timestamppb.New(s.UpdateTime)
	}
	return out
}

// FromTierSettings reads the settings a request carries.
func FromTierSettings(m *analyticsv1.TierSuggestionSettings) tiering.Settings {
	return tiering.Settings{Enabled: m.GetEnabled(), OverrideManual: m.GetOverrideManual(),
		Thresholds: tiering.Thresholds{VIP: m.GetVipMinScore(), A: m.GetAMinScore(), B: m.GetBMinScore()}}
}

// TierSuggestion renders a customer's latest suggestion.
func TierSuggestion(s tiering.Suggestion) *analyticsv1.TierSuggestion {
	return &analyticsv1.TierSuggestion{
		CustomerId: s.CustomerID.String(), Tier: s.Tier, Reason: s.Reason, RunId: s.RunID.String(),
		State: analyticsv1.TierSuggestionState(s.State), Attempts: s.Attempts, LastError: s.LastError,
		NextAttemptTime: timestamppb.New(s.NextAttemptTime), UpdateTime: timestamppb.New(s.UpdateTime),
	}
}

// TierRun renders a model run.
func TierRun(r tiering.Run) *analyticsv1.TierSuggestionRun {
	return &analyticsv1.TierSuggestionRun{RunId: r.ID.String(), CurrencyCode: r.CurrencyCode,
		ScoredCount: int32(r.Scored), QueuedCount: int32(r.Queued)}
}
