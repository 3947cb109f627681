package grpcapi_test

import (
	"context"
	"sync"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
)

// deals is a pipeline with entry criteria and reason lists.
func deals() *pipelinev1.Pipeline {
	return &pipelinev1.Pipeline{
		DisplayName: "Enterprise", CurrencyCode: "EUR",
		Stages: []*pipelinev1.PipelineStage{
			{DisplayName: "Discovery", Probability: 10, Kind: pipelinev1.StageKind_STAGE_KIND_OPEN},
			{DisplayName: "Proposal", Probability: 60, Kind: pipelinev1.StageKind_STAGE_KIND_OPEN, RequiredFields: []string{"expected_close_date", "owner_id"}},
			{DisplayName: "Won", Probability: 100, Kind: pipelinev1.StageKind_STAGE_KIND_WON},
			{DisplayName: "Lost", Probability: 0, Kind: pipelinev1.StageKind_STAGE_KIND_LOST},
		},
		WonReasons:  []string{"Price", "Fit"},
		LostReasons: []string{"Competitor", "No budget"},
	}
}

func (e *env) createPipeline(t *testing.T, ctx context.Context, p *pipelinev1.Pipeline) *pipelinev1.Pipeline {
	t.Helper()
	resp, err := e.client.CreatePipeline(ctx, &pipelinev1.CreatePipelineRequest{Pipeline: p})
	if err != nil {
		t.Fatalf("CreatePipeline: %v", err)
	}
	return resp.GetPipeline()
}

func (e *env) move(ctx context.Context, o *pipelinev1.Opportunity, stage, reason string) (*pipelinev1.Opportunity, error) {
	resp, err := e.client.MoveOpportunityStage(ctx, &pipelinev1.MoveOpportunityStageRequest{
		OpportunityId: o.GetOpportunityId(), StageId: stage, Etag: o.GetEtag(), CloseReason: reason})
	return resp.GetOpportunity(), err
}

func TestPipelineCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t, e.tenant, auth.RoleSalesManager)
	p := e.createPipeline(t, ctx, deals())
	if len(p.GetStages()) != 4 || p.GetStages()[2].GetLegacyStage() != pipelinev1.Stage_STAGE_WON || p.GetDefault() || p.GetEtag() != "1" {
		t.Fatalf("CreatePipeline = %v; want 4 stages, Won mapped to STAGE_WON, not default, etag 1", p)
	}
	got, err := e.client.GetPipeline(e.as(t, e.tenant, auth.RoleAnalyst), &pipelinev1.GetPipelineRequest{PipelineId: p.GetPipelineId()})
	if err != nil || got.GetPipeline().GetStages()[1].GetRequiredFields()[0] != "expected_close_date" {
		t.Fatalf("GetPipeline = %v, %v", got, err)
	}
	st := p.GetStages()
	reordered, err := e.client.ReorderPipelineStages(ctx, &pipelinev1.ReorderPipelineStagesRequest{
		PipelineId: p.GetPipelineId(), Etag: p.GetEtag(),
		StageIds: []string{st[1].GetStageId(), st[0].GetStageId(), st[2].GetStageId(), st[3].GetStageId()}})
	if err != nil || reordered.GetPipeline().GetStages()[0].GetDisplayName() != "Proposal" || reordered.GetPipeline().GetEtag() != "2" {
		t.Fatalf("ReorderPipelineStages = %v, %v; want Proposal first, etag 2", reordered, err)
	}
	for _, tt := range []struct {
		name string
		req  *pipelinev1.ReorderPipelineStagesRequest
		want codes.Code
	}{
		{"stale etag", &pipelinev1.ReorderPipelineStagesRequest{PipelineId: p.GetPipelineId(), Etag: "1", StageIds: []string{st[0].GetStageId(), st[1].GetStageId(), st[2].GetStageId(), st[3].GetStageId()}}, codes.Aborted},
		{"missing stage", &pipelinev1.ReorderPipelineStagesRequest{PipelineId: p.GetPipelineId(), StageIds: []string{st[0].GetStageId()}}, codes.InvalidArgument},
		{"repeated stage", &pipelinev1.ReorderPipelineStagesRequest{PipelineId: p.GetPipelineId(), StageIds: []string{st[0].GetStageId(), st[0].GetStageId(), st[2].GetStageId(), st[3].GetStageId()}}, codes.InvalidArgument},
	} {
		if _, err := e.client.ReorderPipelineStages(ctx, tt.req); status.Code(err) != tt.want {
			t.Errorf("ReorderPipelineStages(%s) = %v, want %v", tt.name, err, tt.want)
		}
	}

	// Making it the default takes the flag from the default made on first use.
	first := e.create(t, ctx, e.pilot())
	upd, err := e.client.UpdatePipeline(ctx, &pipelinev1.UpdatePipelineRequest{
		Pipeline: &pipelinev1.Pipeline{PipelineId: p.GetPipelineId(), Default: true}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"default"}}})
	if err != nil || !upd.GetPipeline().GetDefault() {
		t.Fatalf("UpdatePipeline(default) = %v, %v", upd, err)
	}
	old, err := e.client.GetPipeline(ctx, &pipelinev1.GetPipelineRequest{PipelineId: first.GetPipelineId()})
	if err != nil || old.GetPipeline().GetDefault() {
		t.Fatalf("previous default = %v, %v; want no longer default", old, err)
	}
	ready := e.pilot()
	ready.ExpectedCloseDate, ready.OwnerId = "2030-01-01", uuid.NewString()
	if o := e.create(t, ctx, ready); o.GetPipelineId() != p.GetPipelineId() || o.GetStageId() != st[1].GetStageId() {
		t.Errorf("new opportunity on pipeline %s stage %s, want the new default's first stage %s", o.GetPipelineId(), o.GetStageId(), st[1].GetStageId())
	}

	// Removing a stage an opportunity is in fails and changes nothing.
	keep := old.GetPipeline().GetStages()[1:]
	_, err = e.client.UpdatePipeline(ctx, &pipelinev1.UpdatePipelineRequest{
		Pipeline: &pipelinev1.Pipeline{PipelineId: first.GetPipelineId(), Stages: keep}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"stages"}}})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("UpdatePipeline removing an occupied stage = %v, want FailedPrecondition", err)
	}
	for _, tt := range []struct {
		name string
		ctx  context.Context
		req  *pipelinev1.DeletePipelineRequest
		want codes.Code
	}{
		{"sales rep", e.as(t, e.tenant, auth.RoleSalesRep), &pipelinev1.DeletePipelineRequest{PipelineId: first.GetPipelineId()}, codes.PermissionDenied},
		{"other tenant", e.as(t, e.other, auth.RoleAdmin), &pipelinev1.DeletePipelineRequest{PipelineId: first.GetPipelineId()}, codes.NotFound},
		{"default", ctx, &pipelinev1.DeletePipelineRequest{PipelineId: p.GetPipelineId()}, codes.FailedPrecondition},
		{"open opportunities", ctx, &pipelinev1.DeletePipelineRequest{PipelineId: first.GetPipelineId()}, codes.FailedPrecondition},
	} {
		if _, err := e.client.DeletePipeline(tt.ctx, tt.req); status.Code(err) != tt.want {
			t.Errorf("DeletePipeline(%s) = %v, want %v", tt.name, err, tt.want)
		}
	}
	list, err := e.client.ListPipelines(ctx, &pipelinev1.ListPipelinesRequest{PageSize: 1})
	if err != nil || len(list.GetPipelines()) != 1 || list.GetPipelines()[0].GetPipelineId() != p.GetPipelineId() || list.GetNextPageToken() == "" {
		t.Fatalf("ListPipelines page 1 = %v, %v; want the oldest and a next page", list, err)
	}
	list, err = e.client.ListPipelines(ctx, &pipelinev1.ListPipelinesRequest{PageSize: 1, PageToken: list.GetNextPageToken()})
	if err != nil || len(list.GetPipelines()) != 1 || list.GetPipelines()[0].GetPipelineId() != first.GetPipelineId() || list.GetNextPageToken() != "" {
		t.Fatalf("ListPipelines page 2 = %v, %v; want the newest and no next page", list, err)
	}
}

func TestPipelineInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.admin(t)
	with := func(change func(p *pipelinev1.Pipeline)) *pipelinev1.Pipeline {
		p := deals()
		change(p)
		return p
	}
	tests := []struct {
		name      string
		in        *pipelinev1.Pipeline
		wantField string
	}{
		{"no name", with(func(p *pipelinev1.Pipeline) { p.DisplayName = "" }), "pipeline.display_name"},
		{"unknown currency", with(func(p *pipelinev1.Pipeline) { p.CurrencyCode = "EUX" }), "pipeline.currency_code"},
		{"no stages", with(func(p *pipelinev1.Pipeline) { p.Stages = nil }), "pipeline.stages"},
		{"no open stage", with(func(p *pipelinev1.Pipeline) { p.Stages = p.Stages[2:] }), "pipeline.stages"},
		{"probability", with(func(p *pipelinev1.Pipeline) { p.Stages[0].Probability = 101 }), "pipeline.stages[0].probability"},
		{"no kind", with(func(p *pipelinev1.Pipeline) { p.Stages[1].Kind = pipelinev1.StageKind_STAGE_KIND_UNSPECIFIED }), "pipeline.stages[1].kind"},
		{"same names", with(func(p *pipelinev1.Pipeline) { p.Stages[1].DisplayName = "discovery" }), "pipeline.stages[1].display_name"},
		{"unknown required field", with(func(p *pipelinev1.Pipeline) { p.Stages[1].RequiredFields = []string{"budget"} }), "pipeline.stages[1].required_fields[0]"},
		{"repeated reason", with(func(p *pipelinev1.Pipeline) { p.LostReasons = []string{"Price", "Price"} }), "pipeline.lost_reasons[1]"},
	}
	for _, tt := range tests {
		_, err := e.client.CreatePipeline(ctx, &pipelinev1.CreatePipelineRequest{Pipeline: tt.in})
		if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.wantField] {
			t.Errorf("CreatePipeline(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.wantField)
		}
	}
	if _, err := e.client.CreatePipeline(e.as(t, e.tenant, auth.RoleSalesRep), &pipelinev1.CreatePipelineRequest{Pipeline: deals()}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("CreatePipeline as sales rep = %v, want PermissionDenied", err)
	}
	var n int
	if err := e.db.Owner.QueryRow(t.Context(), "SELECT (SELECT count(*) FROM pipelines) + (SELECT count(*) FROM outbox)").Scan(&n); err != nil || n != 0 {
		t.Errorf("rows after rejected creates = %d (%v), want 0", n, err)
	}
}

func TestMoveStage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	manager := e.as(t, e.tenant, auth.RoleSalesManager)
	p := e.createPipeline(t, manager, deals())
	other := e.createPipeline(t, manager, deals())
	discovery, proposal, won, lost := p.GetStages()[0].GetStageId(), p.GetStages()[1].GetStageId(), p.GetStages()[2].GetStageId(), p.GetStages()[3].GetStageId()
	in := e.pilot()
	in.PipelineId, in.EngageDate = p.GetPipelineId(), "2026-01-10"
	o := e.create(t, manager, in)
	if o.GetStageId() != discovery || o.GetStage() != pipelinev1.Stage_STAGE_UNSPECIFIED {
		t.Fatalf("created in stage %s (legacy %v), want the first stage %s, unmapped", o.GetStageId(), o.GetStage(), discovery)
	}
	bad := []struct {
		name       string
		stage, tag string
		reason     string
		want       codes.Code
		wantFields []string
	}{
		{"entry criteria", proposal, o.GetEtag(), "", codes.InvalidArgument, []string{"expected_close_date", "owner_id"}},
		{"stage of another pipeline", other.GetStages()[1].GetStageId(), o.GetEtag(), "", codes.InvalidArgument, []string{"stage_id"}},
		{"current stage", discovery, o.GetEtag(), "", codes.InvalidArgument, []string{"stage_id"}},
		{"no etag", proposal, "", "", codes.InvalidArgument, []string{"etag"}},
		{"stale etag", proposal, "7", "", codes.Aborted, nil},
		{"won without reason", won, o.GetEtag(), "", codes.InvalidArgument, []string{"close_reason"}},
		{"lost for a won reason", lost, o.GetEtag(), "Price", codes.InvalidArgument, []string{"close_reason"}},
	}
	for _, tt := range bad {
		_, err := e.client.MoveOpportunityStage(manager, &pipelinev1.MoveOpportunityStageRequest{
			OpportunityId: o.GetOpportunityId(), StageId: tt.stage, Etag: tt.tag, CloseReason: tt.reason})
		v := grpctest.Violations(err)
		if status.Code(err) != tt.want || len(v) != len(tt.wantFields) {
			t.Errorf("MoveOpportunityStage(%s) = %v, want %v on %v", tt.name, err, tt.want, tt.wantFields)
		}
		for _, f := range tt.wantFields {
			if !v[f] {
				t.Errorf("MoveOpportunityStage(%s) = %v, want a violation on %s", tt.name, err, f)
			}
		}
	}

	// Meet the criteria, then move on.
	upd, err := e.client.UpdateOpportunity(manager, &pipelinev1.UpdateOpportunityRequest{
		Opportunity: &pipelinev1.Opportunity{OpportunityId: o.GetOpportunityId(), Etag: o.GetEtag(), ExpectedCloseDate: "2026-06-30", OwnerId: uuid.NewString()},
		UpdateMask:  &fieldmaskpb.FieldMask{Paths: []string{"expected_close_date", "owner_id"}}})
	if err != nil {
		t.Fatalf("UpdateOpportunity: %v", err)
	}
	moved, err := e.move(manager, upd.GetOpportunity(), proposal, "")
	if err != nil || moved.GetStageId() != proposal || moved.GetStageKind() != pipelinev1.StageKind_STAGE_KIND_OPEN {
		t.Fatalf("MoveOpportunityStage(proposal) = %v, %v", moved, err)
	}
	// Clearing a field the current stage requires is refused.
	_, err = e.client.UpdateOpportunity(manager, &pipelinev1.UpdateOpportunityRequest{
		Opportunity: &pipelinev1.Opportunity{OpportunityId: o.GetOpportunityId()}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"expected_close_date"}}})
	if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)["opportunity.expected_close_date"] {
		t.Errorf("UpdateOpportunity clearing a required field = %v, want InvalidArgument", err)
	}

	// Two moves decided on the same read: one wins, the other is Aborted.
	codesSeen := make([]codes.Code, 2)
	var wg sync.WaitGroup
	for i, target := range []string{won, lost} {
		wg.Go(func() {
			reason := "Price"
			if target == lost {
				reason = "Competitor"
			}
			_, err := e.move(manager, moved, target, reason)
			codesSeen[i] = status.Code(err)
		})
	}
	wg.Wait()
	if !(codesSeen[0] == codes.OK && codesSeen[1] == codes.Aborted) && !(codesSeen[0] == codes.Aborted && codesSeen[1] == codes.OK) {
		t.Fatalf("concurrent moves with one etag = %v, want one OK and one Aborted", codesSeen)
	}
	got, err := e.client.GetOpportunity(manager, &pipelinev1.GetOpportunityRequest{OpportunityId: o.GetOpportunityId()})
	if err != nil {
		t.Fatal(err)
	}
	closed := got.GetOpportunity()
	if closed.GetCloseTime() == nil || closed.GetCloseReason() == "" || closed.GetCycleTimeDays() <= 0 || closed.GetTimeInStage() != nil {
		t.Errorf("closed opportunity = %v; want close time, reason, cycle days and no time in stage", closed)
	}
	if want := map[string]pipelinev1.Stage{won: pipelinev1.Stage_STAGE_WON, lost: pipelinev1.Stage_STAGE_LOST}[closed.GetStageId()]; closed.GetStage() != want {
		t.Errorf("legacy stage = %v, want %v", closed.GetStage(), want)
	}

	hist, err := e.client.ListOpportunityStageHistory(e.as(t, e.tenant, auth.RoleAnalyst), &pipelinev1.ListOpportunityStageHistoryRequest{OpportunityId: o.GetOpportunityId(), PageSize: 2})
	if err != nil || len(hist.GetEntries()) != 2 || hist.GetNextPageToken() == "" {
		t.Fatalf("ListOpportunityStageHistory page 1 = %v, %v; want 2 entries and more", hist, err)
	}
	first, second := hist.GetEntries()[0], hist.GetEntries()[1]
	if first.GetStageId() != discovery || second.GetStageId() != proposal || first.GetExitTime() == nil ||
		!first.GetExitTime().AsTime().Equal(second.GetEnterTime().AsTime()) ||
		first.GetDuration().AsDuration() != first.GetExitTime().AsTime().Sub(first.GetEnterTime().AsTime()) {
		t.Errorf("history = %v; want discovery then proposal, each exit the next entry, exact durations", hist.GetEntries())
	}
	rest, err := e.client.ListOpportunityStageHistory(manager, &pipelinev1.ListOpportunityStageHistoryRequest{OpportunityId: o.GetOpportunityId(), PageSize: 2, PageToken: hist.GetNextPageToken()})
	if err != nil || len(rest.GetEntries()) != 1 || rest.GetEntries()[0].GetStageId() != closed.GetStageId() || rest.GetEntries()[0].GetExitTime() != nil {
		t.Fatalf("ListOpportunityStageHistory page 2 = %v, %v; want the closing stage, still open", rest, err)
	}
	if _, err := e.client.ListOpportunityStageHistory(e.as(t, e.other, auth.RoleAdmin), &pipelinev1.ListOpportunityStageHistoryRequest{OpportunityId: o.GetOpportunityId()}); status.Code(err) != codes.NotFound {
		t.Errorf("ListOpportunityStageHistory as another tenant = %v, want NotFound", err)
	}
	var events int
	if err := e.db.Owner.QueryRow(t.Context(), "SELECT count(*) FROM outbox WHERE type = 'opportunity.stage_changed' AND resource = $1", "opportunities/"+o.GetOpportunityId()).Scan(&events); err != nil || events != 2 {
		t.Errorf("stage_changed events = %d (%v), want 2", events, err)
	}
}

func TestOwnership(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	me, colleague := uuid.New(), uuid.New()
	mine := e.asPrincipal(t, e.tenant, me, auth.RoleSalesRep)
	theirs := e.asPrincipal(t, e.tenant, colleague, auth.RoleSalesRep)
	o := e.create(t, mine, e.pilot())
	if o.GetOwnerId() != me.String() {
		t.Fatalf("a rep's new opportunity is owned by %q, want the rep %s", o.GetOwnerId(), me)
	}
	rename := &pipelinev1.UpdateOpportunityRequest{Opportunity: &pipelinev1.Opportunity{OpportunityId: o.GetOpportunityId(), DisplayName: "Renamed"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}
	handOver := &pipelinev1.UpdateOpportunityRequest{Opportunity: &pipelinev1.Opportunity{OpportunityId: o.GetOpportunityId(), OwnerId: colleague.String()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"owner_id"}}}
	for _, tt := range []struct {
		name string
		ctx  context.Context
		req  *pipelinev1.UpdateOpportunityRequest
		want codes.Code
	}{
		// Another rep, not on the owner's team, does not even see it.
		{"another rep", theirs, rename, codes.NotFound},
		{"analyst", e.as(t, e.tenant, auth.RoleAnalyst), rename, codes.PermissionDenied},
		{"other tenant", e.as(t, e.other, auth.RoleAdmin), rename, codes.NotFound},
		{"owner hands it over", mine, handOver, codes.PermissionDenied},
		{"owner", mine, rename, codes.OK},
		{"manager hands it over", e.as(t, e.tenant, auth.RoleSalesManager), handOver, codes.OK},
		{"former owner", mine, rename, codes.NotFound},
	} {
		if _, err := e.client.UpdateOpportunity(tt.ctx, tt.req); status.Code(err) != tt.want {
			t.Errorf("UpdateOpportunity(%s) = %v, want %v", tt.name, err, tt.want)
		}
	}
	other := e.pilot()
	other.OwnerId = colleague.String()
	if _, err := e.client.CreateOpportunity(mine, &pipelinev1.CreateOpportunityRequest{Opportunity: other}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("CreateOpportunity by a rep for a colleague = %v, want PermissionDenied", err)
	}
}

func TestUpdateDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.admin(t)
	o := e.create(t, ctx, e.pilot())
	upd, err := e.client.UpdateOpportunity(ctx, &pipelinev1.UpdateOpportunityRequest{
		Opportunity: &pipelinev1.Opportunity{OpportunityId: o.GetOpportunityId(), Etag: o.GetEtag(), Amount: &typesv1.Money{CurrencyCode: "JPY", AmountMinor: 5000}},
		UpdateMask:  &fieldmaskpb.FieldMask{Paths: []string{"amount.amount_minor", "amount.currency_code"}}})
	if err != nil || upd.GetOpportunity().GetAmount().GetAmountMinor() != 5000 || upd.GetOpportunity().GetEtag() != "2" {
		t.Fatalf("UpdateOpportunity(amount) = %v, %v", upd, err)
	}
	for _, tt := range []struct {
		name      string
		req       *pipelinev1.UpdateOpportunityRequest
		want      codes.Code
		wantField string
	}{
		{"stale etag", &pipelinev1.UpdateOpportunityRequest{Opportunity: &pipelinev1.Opportunity{OpportunityId: o.GetOpportunityId(), Etag: "1", DisplayName: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}, codes.Aborted, ""},
		{"negative amount", &pipelinev1.UpdateOpportunityRequest{Opportunity: &pipelinev1.Opportunity{OpportunityId: o.GetOpportunityId(), Amount: &typesv1.Money{CurrencyCode: "USD", AmountMinor: -5}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"amount"}}}, codes.InvalidArgument, "opportunity.amount.amount_minor"},
		{"close before engage", &pipelinev1.UpdateOpportunityRequest{Opportunity: &pipelinev1.Opportunity{OpportunityId: o.GetOpportunityId(), ExpectedCloseDate: "2000-01-01"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"expected_close_date"}}}, codes.InvalidArgument, "opportunity.expected_close_date"},
		{"stage by update", &pipelinev1.UpdateOpportunityRequest{Opportunity: &pipelinev1.Opportunity{OpportunityId: o.GetOpportunityId(), DisplayName: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name", "customer"}}}, codes.InvalidArgument, "update_mask"},
		{"unknown", &pipelinev1.UpdateOpportunityRequest{Opportunity: &pipelinev1.Opportunity{OpportunityId: uuid.NewString(), DisplayName: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}, codes.NotFound, ""},
	} {
		_, err := e.client.UpdateOpportunity(ctx, tt.req)
		if status.Code(err) != tt.want || (tt.wantField != "" && !grpctest.Violations(err)[tt.wantField]) {
			t.Errorf("UpdateOpportunity(%s) = %v, want %v %s", tt.name, err, tt.want, tt.wantField)
		}
	}
	del, err := e.client.DeleteOpportunity(ctx, &pipelinev1.DeleteOpportunityRequest{OpportunityId: o.GetOpportunityId(), Etag: "2"})
	if err != nil || del.GetOpportunity().GetDeleteTime() == nil {
		t.Fatalf("DeleteOpportunity = %v, %v", del, err)
	}
	for _, tt := range []struct {
		show bool
		want int
	}{{false, 0}, {true, 1}} {
		list, err := e.client.ListOpportunities(ctx, &pipelinev1.ListOpportunitiesRequest{ShowDeleted: tt.show})
		if err != nil || len(list.GetOpportunities()) != tt.want {
			t.Errorf("ListOpportunities(show_deleted=%t) = %d, %v; want %d", tt.show, len(list.GetOpportunities()), err, tt.want)
		}
	}
	if _, err := e.move(ctx, del.GetOpportunity(), del.GetOpportunity().GetStageId(), ""); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("MoveOpportunityStage of a deleted opportunity = %v, want FailedPrecondition", err)
	}
	und, err := e.client.UndeleteOpportunity(ctx, &pipelinev1.UndeleteOpportunityRequest{OpportunityId: o.GetOpportunityId()})
	if err != nil || und.GetOpportunity().GetDeleteTime() != nil {
		t.Fatalf("UndeleteOpportunity = %v, %v", und, err)
	}
	if _, err := e.client.UndeleteOpportunity(ctx, &pipelinev1.UndeleteOpportunityRequest{OpportunityId: o.GetOpportunityId()}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("UndeleteOpportunity of a live one = %v, want FailedPrecondition", err)
	}
}
