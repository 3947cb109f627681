package grpcapi_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	analyticsv1 "github.com/rapportcrm/rapport/gen/go/rapport/analytics/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/services/analytics/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/analytics/internal/tiering"
)

// fakeSink stands in for the customer service's SetValueTier: it keeps
// manual tiers unless overridden, fails for the customers in failing, and
// counts calls per request id.
type fakeSink struct {
	mu      sync.Mutex
	manual  map[uuid.UUID]bool
	failing map[uuid.UUID]bool
	tiers   map[uuid.UUID]string
	calls   map[string]int
}

func (f *fakeSink) SuggestTier(_ context.Context, _ uuid.UUID, s tiering.Suggestion, override bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[s.RequestID()]++
	switch {
	case f.failing[s.CustomerID]:
		return fmt.Errorf("%w: unavailable", tiering.ErrDeliveryFailed)
	case f.manual[s.CustomerID] && !override:
		return tiering.ErrManualTierKept
	}
	f.tiers[s.CustomerID] = s.Tier
	return nil
}

func TestTierSuggestions(t *testing.T) {
	t.Parallel()
	e := newInsightEnv(t)
	sink := &fakeSink{manual: map[uuid.UUID]bool{e.bob: true}, failing: map[uuid.UUID]bool{}, tiers: map[uuid.UUID]string{}, calls: map[string]int{}}
	var mu sync.Mutex
	now := insightNow
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	svc := tiering.New(e.store, sink, clock)
	conn := grpctest.Serve(t, e.tokens.Authenticator(nil), func(srv *grpcserver.Server) {
		analyticsv1.RegisterTierSuggestionServiceServer(srv, grpcapi.NewTiering(svc))
	})
	api := analyticsv1.NewTierSuggestionServiceClient(conn)
	admin := e.as(t, e.tenant, auth.RoleAdmin)

	list := func(state analyticsv1.TierSuggestionState) map[string]*analyticsv1.TierSuggestion {
		t.Helper()
		resp, err := api.ListTierSuggestions(admin, &analyticsv1.ListTierSuggestionsRequest{State: state})
		if err != nil {
			t.Fatalf("ListTierSuggestions: %v", err)
		}
		out := map[string]*analyticsv1.TierSuggestion{}
		for _, s := range resp.GetSuggestions() {
			out[s.GetCustomerId()] = s
		}
		return out
	}
	run := func() *analyticsv1.TierSuggestionRun {
		t.Helper()
		resp, err := api.RunTierSuggestions(admin, &analyticsv1.RunTierSuggestionsRequest{})
		if err != nil {
			t.Fatalf("RunTierSuggestions: %v", err)
		}
		return resp.GetRun()
	}
	deliver := func() {
		t.Helper()
		if _, err := svc.Deliver(t.Context(), e.tenant, 100); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
	}

	// ada (two purchases, more money, later) outranks bob: R+F+M 3+3+3 and 1+1+1.
	if r := run(); r.GetScoredCount() != 2 || r.GetQueuedCount() != 2 || r.GetCurrencyCode() != "GBP" {
		t.Fatalf("first run = %v, want 2 scored and queued in GBP", r)
	}
	pending := list(analyticsv1.TierSuggestionState_TIER_SUGGESTION_STATE_PENDING)
	if pending[e.ada.String()].GetTier() != "B" || pending[e.bob.String()].GetTier() != "C" {
		t.Fatalf("pending = %v, want ada B and bob C", pending)
	}
	// An unchanged suggestion is not queued again.
	if r := run(); r.GetQueuedCount() != 0 {
		t.Fatalf("second run queued %d, want 0", r.GetQueuedCount())
	}
	sink.failing[e.ada] = true
	deliver()
	all := list(analyticsv1.TierSuggestionState_TIER_SUGGESTION_STATE_UNSPECIFIED)
	if s := all[e.ada.String()]; s.GetState() != analyticsv1.TierSuggestionState_TIER_SUGGESTION_STATE_PENDING || s.GetAttempts() != 1 ||
		s.GetLastError() == "" || !s.GetNextAttemptTime().AsTime().Equal(insightNow.Add(tiering.MinRetry)) {
		t.Fatalf("failed delivery = %v, want pending, one attempt, retry after %v", s, tiering.MinRetry)
	}
	if s := all[e.bob.String()]; s.GetState() != analyticsv1.TierSuggestionState_TIER_SUGGESTION_STATE_KEPT_MANUAL {
		t.Fatalf("bob = %v, want KEPT_MANUAL", s)
	}
	// Not due yet: no call. Once due, the retry goes through with the same request id.
	adaRequest := tiering.Suggestion{CustomerID: e.ada, RunID: uuid.MustParse(pending[e.ada.String()].GetRunId())}.RequestID()
	sink.failing[e.ada] = false
	deliver()
	if got := sink.tiers[e.ada]; got != "" || sink.calls[adaRequest] != 1 {
		t.Fatalf("delivered before due: %q after %d calls", got, sink.calls[adaRequest])
	}
	mu.Lock()
	now = now.Add(tiering.MinRetry)
	mu.Unlock()
	deliver()
	if got := list(analyticsv1.TierSuggestionState_TIER_SUGGESTION_STATE_DELIVERED); sink.tiers[e.ada] != "B" || len(got) != 1 {
		t.Fatalf("after the retry, sink has %q and delivered %v; want B and ada alone", sink.tiers[e.ada], got)
	}
	if n := sink.calls[adaRequest]; n != 2 {
		t.Errorf("ada's request sent %d times, want 2 (one failure, one success)", n)
	}

	// Opting in to overriding manual tiers sends the kept suggestion again.
	settings, err := api.GetTierSuggestionSettings(admin, &analyticsv1.GetTierSuggestionSettingsRequest{})
	if err != nil || !settings.GetSettings().GetEnabled() || settings.GetSettings().GetAMinScore() != 12 {
		t.Fatalf("GetTierSuggestionSettings = %v, %v; want the defaults", settings, err)
	}
	upd, err := api.UpdateTierSuggestionSettings(admin, &analyticsv1.UpdateTierSuggestionSettingsRequest{
		Settings:   &analyticsv1.TierSuggestionSettings{OverrideManual: true, Etag: settings.GetSettings().GetEtag()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"override_manual"}}})
	if err != nil || !upd.GetSettings().GetOverrideManual() || upd.GetSettings().GetEtag() == settings.GetSettings().GetEtag() {
		t.Fatalf("UpdateTierSuggestionSettings = %v, %v; want override on and a new etag", upd, err)
	}
	deliver()
	if sink.tiers[e.bob] != "C" {
		t.Fatalf("bob's tier at the sink = %q, want C once overriding is allowed", sink.tiers[e.bob])
	}
	// New thresholds change ada's suggestion (sum 9 < 10): only ada is queued.
	if _, err := api.UpdateTierSuggestionSettings(admin, &analyticsv1.UpdateTierSuggestionSettingsRequest{
		Settings: &analyticsv1.TierSuggestionSettings{BMinScore: 10}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"b_min_score"}}}); err != nil {
		t.Fatalf("UpdateTierSuggestionSettings(b_min_score): %v", err)
	}
	if r := run(); r.GetQueuedCount() != 1 {
		t.Fatalf("run after new thresholds queued %d, want 1", r.GetQueuedCount())
	}
	deliver()
	if sink.tiers[e.ada] != "C" {
		t.Fatalf("ada's tier at the sink = %q, want C", sink.tiers[e.ada])
	}
	// Turned off, a run suggests nothing.
	if _, err := api.UpdateTierSuggestionSettings(admin, &analyticsv1.UpdateTierSuggestionSettingsRequest{
		Settings: &analyticsv1.TierSuggestionSettings{}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"enabled"}}}); err != nil {
		t.Fatalf("UpdateTierSuggestionSettings(enabled): %v", err)
	}
	if r := run(); r.GetScoredCount() != 0 {
		t.Fatalf("disabled run scored %d, want 0", r.GetScoredCount())
	}

	refusals := []struct {
		name string
		call func() error
		code codes.Code
		want string
	}{
		{"stale etag", func() error {
			_, err := api.UpdateTierSuggestionSettings(admin, &analyticsv1.UpdateTierSuggestionSettingsRequest{
				Settings: &analyticsv1.TierSuggestionSettings{Enabled: true, Etag: settings.GetSettings().GetEtag()}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"enabled"}}})
			return err
		}, codes.Aborted, ""},
		{"thresholds out of order", func() error {
			_, err := api.UpdateTierSuggestionSettings(admin, &analyticsv1.UpdateTierSuggestionSettingsRequest{
				Settings: &analyticsv1.TierSuggestionSettings{AMinScore: 16}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"a_min_score"}}})
			return err
		}, codes.InvalidArgument, "settings.b_min_score"},
		{"unknown mask path", func() error {
			_, err := api.UpdateTierSuggestionSettings(admin, &analyticsv1.UpdateTierSuggestionSettingsRequest{
				Settings: &analyticsv1.TierSuggestionSettings{}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"tier"}}})
			return err
		}, codes.InvalidArgument, "update_mask"},
		{"bad page token", func() error {
			_, err := api.ListTierSuggestions(admin, &analyticsv1.ListTierSuggestionsRequest{PageToken: "nope"})
			return err
		}, codes.InvalidArgument, "page_token"},
		{"analyst changes settings", func() error {
			_, err := api.UpdateTierSuggestionSettings(e.as(t, e.tenant, auth.RoleAnalyst), &analyticsv1.UpdateTierSuggestionSettingsRequest{
				Settings: &analyticsv1.TierSuggestionSettings{}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"enabled"}}})
			return err
		}, codes.PermissionDenied, ""},
		{"analyst runs the model", func() error {
			_, err := api.RunTierSuggestions(e.as(t, e.tenant, auth.RoleAnalyst), &analyticsv1.RunTierSuggestionsRequest{})
			return err
		}, codes.PermissionDenied, ""},
		{"sales rep lists", func() error {
			_, err := api.ListTierSuggestions(e.as(t, e.tenant, auth.RoleSalesRep), &analyticsv1.ListTierSuggestionsRequest{})
			return err
		}, codes.PermissionDenied, ""},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.call()
			if status.Code(err) != tt.code || (tt.want != "" && !grpctest.Violations(err)[tt.want]) {
				t.Fatalf("got %v, want %v on %q", err, tt.code, tt.want)
			}
		})
	}

	// Another tenant sees none of it and has its own defaults.
	other := e.as(t, e.other, auth.RoleAdmin)
	if resp, err := api.ListTierSuggestions(other, &analyticsv1.ListTierSuggestionsRequest{}); err != nil || len(resp.GetSuggestions()) != 0 {
		t.Fatalf("other tenant's list = %v, %v; want empty", resp, err)
	}
	if resp, err := api.GetTierSuggestionSettings(other, &analyticsv1.GetTierSuggestionSettingsRequest{}); err != nil || !resp.GetSettings().GetEnabled() {
		t.Fatalf("other tenant's settings = %v, %v; want the defaults", resp, err)
	}
}

// TestTierSuggestionPaging pages through suggestions one at a time.
func TestTierSuggestionPaging(t *testing.T) {
	t.Parallel()
	e := newInsightEnv(t)
	svc := tiering.New(e.store, &fakeSink{}, func() time.Time { return insightNow })
	conn := grpctest.Serve(t, e.tokens.Authenticator(nil), func(srv *grpcserver.Server) {
		analyticsv1.RegisterTierSuggestionServiceServer(srv, grpcapi.NewTiering(svc))
	})
	api := analyticsv1.NewTierSuggestionServiceClient(conn)
	ctx := e.as(t, e.tenant, auth.RoleSalesManager)
	if _, err := api.RunTierSuggestions(ctx, &analyticsv1.RunTierSuggestionsRequest{}); err != nil {
		t.Fatalf("RunTierSuggestions: %v", err)
	}
	var got []string
	token := ""
	for range 3 {
		resp, err := api.ListTierSuggestions(ctx, &analyticsv1.ListTierSuggestionsRequest{PageSize: 1, PageToken: token})
		if err != nil {
			t.Fatalf("ListTierSuggestions: %v", err)
		}
		for _, s := range resp.GetSuggestions() {
			got = append(got, s.GetCustomerId())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(got) != 2 || got[0] >= got[1] || token != "" {
		t.Fatalf("paged customers = %v (token %q), want both once in order", got, token)
	}
}
