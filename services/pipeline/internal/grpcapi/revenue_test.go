package grpcapi_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/pipeline/internal/commission"
	"github.com/rapportcrm/rapport/services/pipeline/internal/forecast"
	"github.com/rapportcrm/rapport/services/pipeline/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/pipeline/internal/marketing"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
	"github.com/rapportcrm/rapport/services/pipeline/internal/postgres"
)

// fakeSegments stands in for the customer service's segments.
type fakeSegments struct {
	members map[uuid.UUID][]uuid.UUID
	down    uuid.UUID
}

func (f fakeSegments) Exists(_ context.Context, id uuid.UUID) (bool, error) {
	if id == f.down {
		return false, fmt.Errorf("%w: connection refused", marketing.ErrSegmentLookup)
	}
	_, ok := f.members[id]
	return ok, nil
}

func (f fakeSegments) Members(ctx context.Context, id uuid.UUID) ([]uuid.UUID, error) {
	if ok, err := f.Exists(ctx, id); err != nil || !ok {
		return nil, fmt.Errorf("%w: segment %s", marketing.ErrSegmentLookup, id)
	}
	return f.members[id], nil
}

// revenue is the pipeline service with its forecast, commission and
// marketing services on one socket over a private database.
type revenue struct {
	*env
	forecast   pipelinev1.ForecastServiceClient
	commission pipelinev1.CommissionServiceClient
	marketing  pipelinev1.MarketingServiceClient
	// segment has members acme and bolt; downSegment cannot be checked.
	segment, downSegment uuid.UUID
	bolt                 uuid.UUID
}

func newRevenue(t *testing.T) *revenue {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	tokens := grpctest.NewTokens(t)
	e := &env{db: db, tokens: tokens, tenant: uuid.NewString(), other: uuid.NewString(),
		acme: uuid.New(), gone: uuid.New(), down: uuid.New()}
	r := &revenue{env: e, segment: uuid.New(), downSegment: uuid.New(), bolt: uuid.New()}
	customers := fakeCustomers{known: map[uuid.UUID]bool{e.acme: true, r.bolt: true}, down: e.down}
	segs := fakeSegments{members: map[uuid.UUID][]uuid.UUID{r.segment: {e.acme, r.bolt}}, down: r.downSegment}
	store := postgres.New(db.App)
	conn := grpctest.Serve(t, tokens.Authenticator(nil), func(srv *grpcserver.Server) {
		pipelinev1.RegisterPipelineServiceServer(srv, grpcapi.New(pipeline.New(store, customers), db.App, 20*time.Millisecond))
		pipelinev1.RegisterForecastServiceServer(srv, grpcapi.NewForecast(forecast.New(store.Forecast())))
		pipelinev1.RegisterCommissionServiceServer(srv, grpcapi.NewCommission(commission.New(store.Commission())))
		pipelinev1.RegisterMarketingServiceServer(srv, grpcapi.NewMarketing(marketing.New(store.Marketing(), segs, customers)))
	})
	e.client = pipelinev1.NewPipelineServiceClient(conn)
	r.forecast = pipelinev1.NewForecastServiceClient(conn)
	r.commission = pipelinev1.NewCommissionServiceClient(conn)
	r.marketing = pipelinev1.NewMarketingServiceClient(conn)
	return r
}

func (r *revenue) manager(t *testing.T) context.Context {
	return r.as(t, r.tenant, auth.RoleSalesManager)
}

// deal creates an opportunity owned by owner in the default pipeline's
// stage named stage ("Won" and "Lost" move it there after creating it).
func (r *revenue) deal(t *testing.T, owner uuid.UUID, amount int64, currency, stage string, mutate func(*pipelinev1.Opportunity)) *pipelinev1.Opportunity {
	t.Helper()
	ctx := r.manager(t)
	in := &pipelinev1.Opportunity{CustomerId: r.acme.String(), DisplayName: "Deal", OwnerId: owner.String(),
		Amount: &typesv1.Money{CurrencyCode: currency, AmountMinor: amount}, ExpectedCloseDate: time.Now().UTC().Format(time.DateOnly)}
	if mutate != nil {
		mutate(in)
	}
	o := r.create(t, ctx, in)
	p, err := r.client.GetPipeline(ctx, &pipelinev1.GetPipelineRequest{PipelineId: o.GetPipelineId()})
	if err != nil {
		t.Fatalf("GetPipeline: %v", err)
	}
	for _, s := range p.GetPipeline().GetStages() {
		if s.GetDisplayName() == stage && s.GetStageId() != o.GetStageId() {
			if o, err = r.move(ctx, o, s.GetStageId(), ""); err != nil {
				t.Fatalf("move to %s: %v", stage, err)
			}
		}
	}
	return o
}

// monthPeriod is the current UTC month's first and last day.
func monthPeriod() (string, string) {
	now := time.Now().UTC()
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	return first.Format(time.DateOnly), first.AddDate(0, 1, -1).Format(time.DateOnly)
}

func wantCode(t *testing.T, what string, err error, want codes.Code, fields ...string) {
	t.Helper()
	if status.Code(err) != want {
		t.Fatalf("%s = %v, want %v", what, err, want)
	}
	got := grpctest.Violations(err)
	for _, f := range fields {
		if !got[f] {
			t.Errorf("%s violations = %v, want one on %s", what, got, f)
		}
	}
}

func TestForecastAndSnapshots(t *testing.T) {
	t.Parallel()
	r := newRevenue(t)
	owner := uuid.New()
	r.deal(t, owner, 100000, "USD", "Negotiation", nil)
	r.deal(t, owner, 200000, "USD", "Prospecting", func(o *pipelinev1.Opportunity) {
		o.ForecastCategory = pipelinev1.ForecastCategory_FORECAST_CATEGORY_COMMIT
	})
	r.deal(t, owner, 50000, "USD", "Won", nil)
	r.deal(t, owner, 70000, "USD", "Lost", nil)
	r.deal(t, uuid.New(), 90000, "EUR", "Proposal", nil)
	start, end := monthPeriod()
	ctx := r.as(t, r.tenant, auth.RoleAnalyst)

	got, err := r.forecast.GetForecast(ctx, &pipelinev1.GetForecastRequest{StartDate: start, EndDate: end})
	if err != nil {
		t.Fatalf("GetForecast: %v", err)
	}
	type row struct {
		cur            string
		cat            pipelinev1.ForecastCategory
		n, amount, wtd int64
	}
	want := []row{
		{"EUR", pipelinev1.ForecastCategory_FORECAST_CATEGORY_PIPELINE, 1, 90000, 45000},
		{"USD", pipelinev1.ForecastCategory_FORECAST_CATEGORY_BEST_CASE, 1, 100000, 75000},
		{"USD", pipelinev1.ForecastCategory_FORECAST_CATEGORY_COMMIT, 1, 200000, 20000},
		{"USD", pipelinev1.ForecastCategory_FORECAST_CATEGORY_CLOSED, 1, 50000, 50000},
		{"USD", pipelinev1.ForecastCategory_FORECAST_CATEGORY_OMITTED, 1, 70000, 0},
	}
	var have []row
	for _, x := range got.GetRows() {
		if x.GetPeriodStart() != start {
			t.Errorf("row period %s, want %s", x.GetPeriodStart(), start)
		}
		have = append(have, row{x.GetAmount().GetCurrencyCode(), x.GetCategory(), x.GetOpportunityCount(), x.GetAmount().GetAmountMinor(), x.GetWeightedAmount().GetAmountMinor()})
	}
	if fmt.Sprint(have) != fmt.Sprint(want) {
		t.Errorf("GetForecast rows = %v, want %v", have, want)
	}
	// By owner only that owner's; quarters group the same rows here.
	byOwner, err := r.forecast.GetForecast(ctx, &pipelinev1.GetForecastRequest{StartDate: start, EndDate: end, OwnerId: owner.String(),
		PeriodKind: pipelinev1.PeriodKind_PERIOD_KIND_QUARTER})
	if err != nil || len(byOwner.GetRows()) != 4 {
		t.Errorf("GetForecast(owner, quarter) = %v, %v; want 4 rows", byOwner, err)
	}

	for _, tt := range []struct {
		name   string
		ctx    context.Context
		req    *pipelinev1.GetForecastRequest
		code   codes.Code
		fields []string
	}{
		{"end before start", ctx, &pipelinev1.GetForecastRequest{StartDate: end, EndDate: start}, codes.InvalidArgument, []string{"end_date"}},
		{"bad zone and dates", ctx, &pipelinev1.GetForecastRequest{StartDate: "2026-13-01", TimeZone: "Mars/Olympus"}, codes.InvalidArgument,
			[]string{"start_date", "end_date", "time_zone"}},
		{"bad owner", ctx, &pipelinev1.GetForecastRequest{StartDate: start, EndDate: end, OwnerId: "x"}, codes.InvalidArgument, []string{"owner_id"}},
		{"support agent", r.as(t, r.tenant, auth.RoleSupportAgent), &pipelinev1.GetForecastRequest{StartDate: start, EndDate: end}, codes.PermissionDenied, nil},
	} {
		_, err := r.forecast.GetForecast(tt.ctx, tt.req)
		wantCode(t, "GetForecast("+tt.name+")", err, tt.code, tt.fields...)
	}
	other, err := r.forecast.GetForecast(r.as(t, r.other, auth.RoleAdmin), &pipelinev1.GetForecastRequest{StartDate: start, EndDate: end})
	if err != nil || len(other.GetRows()) != 0 {
		t.Errorf("GetForecast(other tenant) = %v, %v; want no rows", other, err)
	}

	// Snapshots: once per day, whoever asks.
	if _, err := r.forecast.CreatePipelineSnapshot(ctx, &pipelinev1.CreatePipelineSnapshotRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("CreatePipelineSnapshot(analyst) = %v, want PermissionDenied", err)
	}
	first, err := r.forecast.CreatePipelineSnapshot(r.manager(t), &pipelinev1.CreatePipelineSnapshotRequest{})
	if err != nil || !first.GetCreated() || first.GetSnapshot().GetOpportunityCount() != 5 {
		t.Fatalf("CreatePipelineSnapshot = %v, %v; want a new snapshot of 5", first, err)
	}
	r.deal(t, owner, 1, "USD", "Prospecting", nil)
	again, err := r.forecast.CreatePipelineSnapshot(r.manager(t), &pipelinev1.CreatePipelineSnapshotRequest{})
	if err != nil || again.GetCreated() || again.GetSnapshot().GetOpportunityCount() != 5 {
		t.Errorf("CreatePipelineSnapshot again = %v, %v; want the first snapshot", again, err)
	}
	today := first.GetSnapshot().GetSnapshotDate()
	trend, err := r.forecast.GetForecastTrend(ctx, &pipelinev1.GetForecastTrendRequest{StartDate: today, EndDate: today})
	if err != nil || len(trend.GetPoints()) != len(want) || trend.GetPoints()[1].GetWeightedAmount().GetAmountMinor() != 75000 {
		t.Errorf("GetForecastTrend = %v, %v; want the %d rows of the forecast", trend, err, len(want))
	}
	acc, err := r.forecast.GetForecastAccuracy(ctx, &pipelinev1.GetForecastAccuracyRequest{SnapshotDate: today, PeriodStart: start, PeriodEnd: end})
	if err != nil || len(acc.GetCurrencies()) != 2 {
		t.Fatalf("GetForecastAccuracy = %v, %v; want EUR and USD", acc, err)
	}
	usd := acc.GetCurrencies()[1]
	if usd.GetWeightedForecast().GetAmountMinor() != 145000 || usd.GetCommitForecast().GetAmountMinor() != 250000 ||
		usd.GetWon().GetAmountMinor() != 50000 || usd.GetWeightedAccuracyBps() != 3448 {
		t.Errorf("GetForecastAccuracy(USD) = %v; want weighted 145000, commit 250000, won 50000, 3448 bps", usd)
	}
	_, err = r.forecast.GetForecastAccuracy(ctx, &pipelinev1.GetForecastAccuracyRequest{SnapshotDate: "2001-01-01", PeriodStart: start, PeriodEnd: end})
	wantCode(t, "GetForecastAccuracy(no snapshot)", err, codes.NotFound)
	list, err := r.forecast.ListPipelineSnapshots(ctx, &pipelinev1.ListPipelineSnapshotsRequest{})
	if err != nil || len(list.GetSnapshots()) != 1 {
		t.Errorf("ListPipelineSnapshots = %v, %v; want one", list, err)
	}
}

func TestQuotas(t *testing.T) {
	t.Parallel()
	r := newRevenue(t)
	rep, mate := uuid.New(), uuid.New()
	r.deal(t, rep, 50000, "USD", "Won", nil)
	r.deal(t, mate, 30000, "USD", "Won", nil)
	r.deal(t, rep, 99999, "EUR", "Won", nil)
	r.deal(t, rep, 88888, "USD", "Negotiation", nil)
	start, end := monthPeriod()
	quota := func(kind pipelinev1.AssigneeKind, assignee string, members ...string) *pipelinev1.Quota {
		return &pipelinev1.Quota{AssigneeKind: kind, Assignee: assignee, MemberIds: members, PeriodStart: start, PeriodEnd: end,
			Target: &typesv1.Money{CurrencyCode: "USD", AmountMinor: 100000}}
	}
	ctx := r.manager(t)
	for _, tt := range []struct {
		name         string
		in           *pipelinev1.Quota
		wantAttained int64
	}{
		{"principal", quota(pipelinev1.AssigneeKind_ASSIGNEE_KIND_PRINCIPAL, rep.String()), 50000},
		{"team", quota(pipelinev1.AssigneeKind_ASSIGNEE_KIND_TEAM, uuid.NewString(), rep.String(), mate.String()), 80000},
		{"territory", quota(pipelinev1.AssigneeKind_ASSIGNEE_KIND_TERRITORY, "DACH", mate.String()), 30000},
	} {
		got, err := r.forecast.CreateQuota(ctx, &pipelinev1.CreateQuotaRequest{Quota: tt.in, RequestId: tt.name})
		if err != nil {
			t.Fatalf("CreateQuota(%s): %v", tt.name, err)
		}
		q := got.GetQuota()
		if q.GetAttained().GetAmountMinor() != tt.wantAttained || q.GetAttainmentBps() != tt.wantAttained/10 {
			t.Errorf("CreateQuota(%s) attained %v (%d bps), want %d", tt.name, q.GetAttained(), q.GetAttainmentBps(), tt.wantAttained)
		}
		// A retry returns the first quota; another create is a conflict.
		retry, err := r.forecast.CreateQuota(ctx, &pipelinev1.CreateQuotaRequest{Quota: tt.in, RequestId: tt.name})
		if err != nil || retry.GetQuota().GetQuotaId() != q.GetQuotaId() {
			t.Errorf("CreateQuota(%s) retry = %v, %v; want %s", tt.name, retry, err, q.GetQuotaId())
		}
		_, err = r.forecast.CreateQuota(ctx, &pipelinev1.CreateQuotaRequest{Quota: tt.in})
		wantCode(t, "CreateQuota("+tt.name+" again)", err, codes.AlreadyExists)
	}

	for _, tt := range []struct {
		name   string
		in     *pipelinev1.Quota
		fields []string
	}{
		{"principal with members", quota(pipelinev1.AssigneeKind_ASSIGNEE_KIND_PRINCIPAL, rep.String(), mate.String()), []string{"quota.member_ids"}},
		{"team without members", quota(pipelinev1.AssigneeKind_ASSIGNEE_KIND_TEAM, uuid.NewString()), []string{"quota.member_ids"}},
		{"no kind", quota(0, "x"), []string{"quota.assignee_kind"}},
		{"principal not a uuid", quota(pipelinev1.AssigneeKind_ASSIGNEE_KIND_PRINCIPAL, "bob"), []string{"quota.assignee"}},
		{"bad member", quota(pipelinev1.AssigneeKind_ASSIGNEE_KIND_TEAM, uuid.NewString(), "bob"), []string{"quota.member_ids[0]"}},
		{"no target", &pipelinev1.Quota{AssigneeKind: pipelinev1.AssigneeKind_ASSIGNEE_KIND_TERRITORY, Assignee: "N", MemberIds: []string{rep.String()},
			PeriodStart: end, PeriodEnd: start}, []string{"quota.target.currency_code", "quota.target.amount_minor", "quota.period_end"}},
	} {
		_, err := r.forecast.CreateQuota(ctx, &pipelinev1.CreateQuotaRequest{Quota: tt.in})
		wantCode(t, "CreateQuota("+tt.name+")", err, codes.InvalidArgument, tt.fields...)
	}
	_, err := r.forecast.CreateQuota(r.as(t, r.tenant, auth.RoleSalesRep), &pipelinev1.CreateQuotaRequest{Quota: quota(pipelinev1.AssigneeKind_ASSIGNEE_KIND_PRINCIPAL, rep.String())})
	wantCode(t, "CreateQuota(rep)", err, codes.PermissionDenied)

	list, err := r.forecast.ListQuotas(ctx, &pipelinev1.ListQuotasRequest{Filter: `assignee_kind = ASSIGNEE_KIND_TERRITORY`})
	if err != nil || len(list.GetQuotas()) != 1 || list.GetQuotas()[0].GetAssignee() != "DACH" {
		t.Fatalf("ListQuotas(territory) = %v, %v; want DACH", list, err)
	}
	q := list.GetQuotas()[0]
	_, err = r.forecast.GetQuota(r.as(t, r.other, auth.RoleAdmin), &pipelinev1.GetQuotaRequest{QuotaId: q.GetQuotaId()})
	wantCode(t, "GetQuota(other tenant)", err, codes.NotFound)

	q.Target.AmountMinor = 60000
	mask := &fieldmaskpb.FieldMask{Paths: []string{"target.amount_minor", "attained.amount_minor", "etag"}}
	upd, err := r.forecast.UpdateQuota(ctx, &pipelinev1.UpdateQuotaRequest{Quota: q, UpdateMask: mask})
	if err != nil || upd.GetQuota().GetAttainmentBps() != 5000 || upd.GetQuota().GetEtag() != "2" {
		t.Fatalf("UpdateQuota(target) = %v, %v; want 5000 bps at etag 2", upd, err)
	}
	_, err = r.forecast.UpdateQuota(ctx, &pipelinev1.UpdateQuotaRequest{Quota: q, UpdateMask: mask})
	wantCode(t, "UpdateQuota(stale etag)", err, codes.Aborted)
}

func tiered(members ...string) *pipelinev1.CommissionPlan {
	return &pipelinev1.CommissionPlan{DisplayName: "AE 2026", CurrencyCode: "USD", ClawbackDays: 30, MemberIds: members,
		Tiers: []*pipelinev1.CommissionTier{{FromAttainmentBps: 0, ToAttainmentBps: 10000, RateBps: 500}, {FromAttainmentBps: 10000, RateBps: 1000}}}
}

func TestCommissionPlans(t *testing.T) {
	t.Parallel()
	r := newRevenue(t)
	ctx := r.manager(t)
	rep := uuid.NewString()
	created, err := r.commission.CreateCommissionPlan(ctx, &pipelinev1.CreateCommissionPlanRequest{Plan: tiered(rep), RequestId: "p1"})
	if err != nil || created.GetPlan().GetTimeZone() != "UTC" || len(created.GetPlan().GetTiers()) != 2 {
		t.Fatalf("CreateCommissionPlan = %v, %v", created, err)
	}
	retry, err := r.commission.CreateCommissionPlan(ctx, &pipelinev1.CreateCommissionPlanRequest{Plan: tiered(rep), RequestId: "p1"})
	if err != nil || retry.GetPlan().GetPlanId() != created.GetPlan().GetPlanId() {
		t.Errorf("CreateCommissionPlan retry = %v, %v; want the first plan", retry, err)
	}
	_, err = r.commission.CreateCommissionPlan(ctx, &pipelinev1.CreateCommissionPlanRequest{Plan: tiered(rep)})
	wantCode(t, "CreateCommissionPlan(rep on another plan)", err, codes.FailedPrecondition)

	tier := func(from, to, rate int64) *pipelinev1.CommissionTier {
		return &pipelinev1.CommissionTier{FromAttainmentBps: from, ToAttainmentBps: to, RateBps: rate}
	}
	for _, tt := range []struct {
		name   string
		tiers  []*pipelinev1.CommissionTier
		fields []string
	}{
		{"overlapping tiers", []*pipelinev1.CommissionTier{tier(0, 10000, 500), tier(8000, 0, 800)}, []string{"plan.tiers[1].from_attainment_bps"}},
		{"gap", []*pipelinev1.CommissionTier{tier(0, 10000, 500), tier(12000, 0, 800)}, []string{"plan.tiers[1].from_attainment_bps"}},
		{"open middle", []*pipelinev1.CommissionTier{tier(0, 0, 500), tier(10000, 0, 800)}, []string{"plan.tiers[0].to_attainment_bps"}},
		{"not from zero", []*pipelinev1.CommissionTier{tier(100, 0, 500)}, []string{"plan.tiers[0].from_attainment_bps"}},
		{"last tier ends", []*pipelinev1.CommissionTier{tier(0, 10000, 500)}, []string{"plan.tiers[0].to_attainment_bps"}},
		{"empty range and rate", []*pipelinev1.CommissionTier{tier(0, 0, 20000)}, []string{"plan.tiers[0].rate_bps"}},
		{"no tiers", nil, []string{"plan.tiers"}},
	} {
		p := tiered()
		p.Tiers = tt.tiers
		_, err := r.commission.CreateCommissionPlan(ctx, &pipelinev1.CreateCommissionPlanRequest{Plan: p})
		wantCode(t, "CreateCommissionPlan("+tt.name+")", err, codes.InvalidArgument, tt.fields...)
	}
	_, err = r.commission.CreateCommissionPlan(r.as(t, r.tenant, auth.RoleSalesRep), &pipelinev1.CreateCommissionPlanRequest{Plan: tiered()})
	wantCode(t, "CreateCommissionPlan(rep)", err, codes.PermissionDenied)
	_, err = r.commission.GetCommissionPlan(r.as(t, r.other, auth.RoleAdmin), &pipelinev1.GetCommissionPlanRequest{PlanId: created.GetPlan().GetPlanId()})
	wantCode(t, "GetCommissionPlan(other tenant)", err, codes.NotFound)
	p := created.GetPlan()
	p.ClawbackDays = 10
	upd, err := r.commission.UpdateCommissionPlan(ctx, &pipelinev1.UpdateCommissionPlanRequest{Plan: p,
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"clawback_days"}}})
	if err != nil || upd.GetPlan().GetClawbackDays() != 10 || upd.GetPlan().GetEtag() != "2" || len(upd.GetPlan().GetMemberIds()) != 1 {
		t.Errorf("UpdateCommissionPlan = %v, %v", upd, err)
	}
}

func TestCommissionStatements(t *testing.T) {
	t.Parallel()
	r := newRevenue(t)
	ctx := r.manager(t)
	rep, mate := uuid.New(), uuid.New()
	start, end := monthPeriod()
	if _, err := r.commission.CreateCommissionPlan(ctx, &pipelinev1.CreateCommissionPlanRequest{Plan: tiered(rep.String())}); err != nil {
		t.Fatal(err)
	}
	compute := func(ctx context.Context, who uuid.UUID, from, to string) (*pipelinev1.CommissionStatement, error) {
		resp, err := r.commission.ComputeCommissionStatement(ctx, &pipelinev1.ComputeCommissionStatementRequest{
			PrincipalId: who.String(), PeriodStart: from, PeriodEnd: to})
		return resp.GetStatement(), err
	}
	_, err := compute(ctx, rep, start, end)
	wantCode(t, "Compute(no quota)", err, codes.FailedPrecondition)
	_, err = compute(ctx, mate, start, end)
	wantCode(t, "Compute(no plan)", err, codes.FailedPrecondition)
	if _, err := r.forecast.CreateQuota(ctx, &pipelinev1.CreateQuotaRequest{Quota: &pipelinev1.Quota{
		AssigneeKind: pipelinev1.AssigneeKind_ASSIGNEE_KIND_PRINCIPAL, Assignee: rep.String(), PeriodStart: start, PeriodEnd: end,
		Target: &typesv1.Money{CurrencyCode: "USD", AmountMinor: 100000}}}); err != nil {
		t.Fatal(err)
	}
	x := r.deal(t, rep, 80000, "USD", "Won", nil)
	y := r.deal(t, rep, 60000, "USD", "Won", nil)
	eur := r.deal(t, rep, 10000, "EUR", "Won", nil)
	r.deal(t, rep, 999999, "USD", "Negotiation", nil)

	st, err := compute(ctx, rep, start, end)
	if err != nil {
		t.Fatalf("Compute: %v", err)
	}
	type line struct {
		opp                  string
		kind                 pipelinev1.CommissionLineKind
		tier                 int32
		credit, rate, amount int64
	}
	lines := func(st *pipelinev1.CommissionStatement) []line {
		var out []line
		for _, l := range st.GetLines() {
			if l.GetExplanation() == "" {
				t.Errorf("line %d has no explanation", l.GetLineNumber())
			}
			out = append(out, line{l.GetOpportunityId(), l.GetKind(), l.GetTierIndex(), l.GetCreditMinor(), l.GetRateBps(), l.GetAmountMinor()})
		}
		return out
	}
	earn, excl := pipelinev1.CommissionLineKind_COMMISSION_LINE_KIND_EARNING, pipelinev1.CommissionLineKind_COMMISSION_LINE_KIND_EXCLUDED
	// 80000 at 5 %; then 60000 crosses 100 % of quota: 20000 at 5 %, 40000 at the 10 % accelerator.
	want := []line{
		{x.GetOpportunityId(), earn, 0, 80000, 500, 4000},
		{y.GetOpportunityId(), earn, 0, 20000, 500, 1000},
		{y.GetOpportunityId(), earn, 1, 40000, 1000, 4000},
		{eur.GetOpportunityId(), excl, 0, 10000, 0, 0},
	}
	if fmt.Sprint(lines(st)) != fmt.Sprint(want) || st.GetTotal().GetAmountMinor() != 9000 || st.GetQuota().GetAmountMinor() != 100000 {
		t.Fatalf("statement = %v total %v, want %v total 9000", lines(st), st.GetTotal(), want)
	}
	t.Logf("line 3 explained: %s", st.GetLines()[2].GetExplanation())

	// Splits: half of y goes to the mate; a recompute replaces the lines.
	splits := &pipelinev1.CommissionSplits{OpportunityId: y.GetOpportunityId(), Splits: []*pipelinev1.CommissionSplit{
		{PrincipalId: rep.String(), ShareBps: 5000}, {PrincipalId: mate.String(), ShareBps: 5000}}}
	if _, err := r.commission.UpdateCommissionSplits(ctx, &pipelinev1.UpdateCommissionSplitsRequest{Splits: splits}); err != nil {
		t.Fatalf("UpdateCommissionSplits: %v", err)
	}
	for _, tt := range []struct {
		name   string
		splits []*pipelinev1.CommissionSplit
		fields []string
	}{
		{"not 100 %", []*pipelinev1.CommissionSplit{{PrincipalId: rep.String(), ShareBps: 6000}}, []string{"splits.splits"}},
		{"twice", []*pipelinev1.CommissionSplit{{PrincipalId: rep.String(), ShareBps: 5000}, {PrincipalId: rep.String(), ShareBps: 5000}},
			[]string{"splits.splits[1].principal_id"}},
		{"bad id", []*pipelinev1.CommissionSplit{{PrincipalId: "x", ShareBps: 10000}}, []string{"splits.splits[0].principal_id"}},
	} {
		_, err := r.commission.UpdateCommissionSplits(ctx, &pipelinev1.UpdateCommissionSplitsRequest{Splits: &pipelinev1.CommissionSplits{
			OpportunityId: y.GetOpportunityId(), Splits: tt.splits}})
		wantCode(t, "UpdateCommissionSplits("+tt.name+")", err, codes.InvalidArgument, tt.fields...)
	}
	_, err = r.commission.GetCommissionSplits(r.as(t, r.other, auth.RoleAdmin), &pipelinev1.GetCommissionSplitsRequest{OpportunityId: y.GetOpportunityId()})
	wantCode(t, "GetCommissionSplits(other tenant)", err, codes.NotFound)
	again, err := compute(ctx, rep, start, end)
	if err != nil || again.GetStatementId() != st.GetStatementId() || again.GetRevision() != 2 || again.GetTotal().GetAmountMinor() != 6000 {
		t.Fatalf("recompute = %v, %v; want the same statement at revision 2 totalling 6000", again, err)
	}

	// Only the rep and managers see the statement.
	for _, tt := range []struct {
		name string
		ctx  context.Context
		want codes.Code
	}{
		{"own rep", r.asPrincipal(t, r.tenant, rep, auth.RoleSalesRep), codes.OK},
		{"manager", r.manager(t), codes.OK},
		{"other rep", r.asPrincipal(t, r.tenant, mate, auth.RoleSalesRep), codes.NotFound},
		{"analyst", r.as(t, r.tenant, auth.RoleAnalyst), codes.PermissionDenied},
		{"other tenant", r.as(t, r.other, auth.RoleAdmin), codes.NotFound},
	} {
		got, err := r.commission.GetCommissionStatement(tt.ctx, &pipelinev1.GetCommissionStatementRequest{StatementId: st.GetStatementId()})
		if status.Code(err) != tt.want || (err == nil && len(got.GetStatement().GetLines()) != 4) {
			t.Errorf("GetCommissionStatement(%s) = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	mine, err := r.commission.ListCommissionStatements(r.asPrincipal(t, r.tenant, mate, auth.RoleSalesRep), &pipelinev1.ListCommissionStatementsRequest{})
	if err != nil || len(mine.GetStatements()) != 0 {
		t.Errorf("ListCommissionStatements(other rep) = %v, %v; want none", mine, err)
	}
	_, err = compute(r.asPrincipal(t, r.tenant, rep, auth.RoleSalesRep), rep, start, end)
	wantCode(t, "Compute(rep)", err, codes.PermissionDenied)
	_, err = compute(ctx, rep, end, start)
	wantCode(t, "Compute(end before start)", err, codes.InvalidArgument, "period_end")
}

func TestCommissionClawback(t *testing.T) {
	t.Parallel()
	r := newRevenue(t)
	ctx := r.manager(t)
	rep := uuid.New()
	flat := &pipelinev1.CommissionPlan{DisplayName: "Flat", CurrencyCode: "USD", ClawbackDays: 30, MemberIds: []string{rep.String()},
		Tiers: []*pipelinev1.CommissionTier{{RateBps: 1000}}}
	if _, err := r.commission.CreateCommissionPlan(ctx, &pipelinev1.CreateCommissionPlanRequest{Plan: flat}); err != nil {
		t.Fatal(err)
	}
	won := r.deal(t, rep, 10000, "USD", "Won", nil)
	deleted := r.deal(t, rep, 20000, "USD", "Won", nil)
	start, end := monthPeriod()
	month, err := r.commission.ComputeCommissionStatement(ctx, &pipelinev1.ComputeCommissionStatementRequest{PrincipalId: rep.String(), PeriodStart: start, PeriodEnd: end})
	if err != nil || month.GetStatement().GetTotal().GetAmountMinor() != 3000 {
		t.Fatalf("Compute(month) = %v, %v; want 3000", month, err)
	}
	// Both are cancelled: one moves back out of won, one is deleted.
	p, err := r.client.GetPipeline(ctx, &pipelinev1.GetPipelineRequest{PipelineId: won.GetPipelineId()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.move(ctx, won, p.GetPipeline().GetStages()[0].GetStageId(), ""); err != nil {
		t.Fatalf("move out of won: %v", err)
	}
	if _, err := r.client.DeleteOpportunity(ctx, &pipelinev1.DeleteOpportunityRequest{OpportunityId: deleted.GetOpportunityId()}); err != nil {
		t.Fatal(err)
	}
	// The clawback lands in the statement of the period of the cancellation (today).
	today := time.Now().UTC().Format(time.DateOnly)
	day, err := r.commission.ComputeCommissionStatement(ctx, &pipelinev1.ComputeCommissionStatementRequest{PrincipalId: rep.String(), PeriodStart: today, PeriodEnd: today})
	if err != nil {
		t.Fatalf("Compute(today): %v", err)
	}
	st := day.GetStatement()
	if st.GetTotal().GetAmountMinor() != -3000 || len(st.GetLines()) != 2 {
		t.Fatalf("Compute(today) = %v; want two clawbacks totalling -3000", st)
	}
	for _, l := range st.GetLines() {
		if l.GetKind() != pipelinev1.CommissionLineKind_COMMISSION_LINE_KIND_CLAWBACK {
			t.Errorf("line %v, want a clawback", l)
		}
	}
	// Recomputing claws nothing back twice.
	again, err := r.commission.ComputeCommissionStatement(ctx, &pipelinev1.ComputeCommissionStatementRequest{PrincipalId: rep.String(), PeriodStart: today, PeriodEnd: today})
	if err != nil || again.GetStatement().GetTotal().GetAmountMinor() != -3000 {
		t.Errorf("recompute(today) = %v, %v; want -3000", again, err)
	}
}

func (r *revenue) campaign(t *testing.T, name string, segment string, cost int64) *pipelinev1.Campaign {
	t.Helper()
	start, end := monthPeriod()
	resp, err := r.marketing.CreateCampaign(r.manager(t), &pipelinev1.CreateCampaignRequest{Campaign: &pipelinev1.Campaign{
		DisplayName: name, Channel: pipelinev1.CampaignChannel_CAMPAIGN_CHANNEL_EMAIL, SegmentId: segment,
		Budget: &typesv1.Money{CurrencyCode: "USD", AmountMinor: 50000}, CostMinor: cost, StartDate: start, EndDate: end}})
	if err != nil {
		t.Fatalf("CreateCampaign(%s): %v", name, err)
	}
	return resp.GetCampaign()
}

func TestCampaigns(t *testing.T) {
	t.Parallel()
	r := newRevenue(t)
	ctx := r.manager(t)
	c := r.campaign(t, "Spring", r.segment.String(), 10000)
	start, end := monthPeriod()
	valid := func() *pipelinev1.Campaign {
		return &pipelinev1.Campaign{DisplayName: "X", Channel: pipelinev1.CampaignChannel_CAMPAIGN_CHANNEL_EVENT,
			Budget: &typesv1.Money{CurrencyCode: "USD", AmountMinor: 1}, StartDate: start, EndDate: end}
	}
	for _, tt := range []struct {
		name   string
		ctx    context.Context
		mutate func(*pipelinev1.Campaign)
		code   codes.Code
		fields []string
	}{
		{"unknown segment", ctx, func(c *pipelinev1.Campaign) { c.SegmentId = uuid.NewString() }, codes.InvalidArgument, []string{"campaign.segment_id"}},
		{"segment service down", ctx, func(c *pipelinev1.Campaign) { c.SegmentId = r.downSegment.String() }, codes.Unavailable, nil},
		{"bad fields", ctx, func(c *pipelinev1.Campaign) {
			c.Channel, c.Budget, c.CostMinor, c.EndDate = 0, &typesv1.Money{CurrencyCode: "usd!", AmountMinor: -1}, -5, "2000-01-01"
		}, codes.InvalidArgument, []string{"campaign.channel", "campaign.budget.currency_code", "campaign.budget.amount_minor", "campaign.cost_minor", "campaign.end_date"}},
		{"sales rep", r.as(t, r.tenant, auth.RoleSalesRep), func(*pipelinev1.Campaign) {}, codes.PermissionDenied, nil},
	} {
		in := valid()
		tt.mutate(in)
		_, err := r.marketing.CreateCampaign(tt.ctx, &pipelinev1.CreateCampaignRequest{Campaign: in})
		wantCode(t, "CreateCampaign("+tt.name+")", err, tt.code, tt.fields...)
	}
	_, err := r.marketing.GetCampaign(r.as(t, r.other, auth.RoleAdmin), &pipelinev1.GetCampaignRequest{CampaignId: c.GetCampaignId()})
	wantCode(t, "GetCampaign(other tenant)", err, codes.NotFound)

	// Members come from the segment, once each.
	for i, want := range []int64{2, 0} {
		got, err := r.marketing.SyncCampaignMembers(ctx, &pipelinev1.SyncCampaignMembersRequest{CampaignId: c.GetCampaignId()})
		if err != nil || got.GetAdded() != want || got.GetMemberCount() != 2 {
			t.Errorf("SyncCampaignMembers #%d = %v, %v; want %d added of 2", i, got, err, want)
		}
	}
	noSeg := r.campaign(t, "Untargeted", "", 0)
	_, err = r.marketing.SyncCampaignMembers(ctx, &pipelinev1.SyncCampaignMembersRequest{CampaignId: noSeg.GetCampaignId()})
	wantCode(t, "SyncCampaignMembers(no segment)", err, codes.FailedPrecondition)
	members, err := r.marketing.ListCampaignMembers(ctx, &pipelinev1.ListCampaignMembersRequest{CampaignId: c.GetCampaignId(), PageSize: 1})
	if err != nil || len(members.GetMembers()) != 1 || members.GetNextPageToken() == "" {
		t.Fatalf("ListCampaignMembers = %v, %v; want a first page of one", members, err)
	}
	rest, err := r.marketing.ListCampaignMembers(ctx, &pipelinev1.ListCampaignMembersRequest{CampaignId: c.GetCampaignId(), PageToken: members.GetNextPageToken()})
	if err != nil || len(rest.GetMembers()) != 1 || rest.GetMembers()[0].GetCustomerId() == members.GetMembers()[0].GetCustomerId() {
		t.Errorf("ListCampaignMembers page 2 = %v, %v; want the other member", rest, err)
	}

	// Updates need a current etag.
	c.CostMinor = 20000
	mask := &fieldmaskpb.FieldMask{Paths: []string{"cost_minor"}}
	upd, err := r.marketing.UpdateCampaign(ctx, &pipelinev1.UpdateCampaignRequest{Campaign: c, UpdateMask: mask})
	if err != nil || upd.GetCampaign().GetCostMinor() != 20000 {
		t.Fatalf("UpdateCampaign = %v, %v", upd, err)
	}
	_, err = r.marketing.UpdateCampaign(ctx, &pipelinev1.UpdateCampaignRequest{Campaign: c, UpdateMask: mask})
	wantCode(t, "UpdateCampaign(stale)", err, codes.Aborted)
	list, err := r.marketing.ListCampaigns(r.as(t, r.tenant, auth.RoleAnalyst), &pipelinev1.ListCampaignsRequest{Filter: `segment_id = "` + r.segment.String() + `"`})
	if err != nil || len(list.GetCampaigns()) != 1 {
		t.Errorf("ListCampaigns(segment) = %v, %v; want one", list, err)
	}

	// Offers.
	offer := &pipelinev1.Offer{DisplayName: "10 % off", CampaignId: c.GetCampaignId(), SegmentIds: []string{r.segment.String()},
		ValueTiers: []string{"A"}, DiscountBps: 1000, StartDate: start, EndDate: end}
	if _, err := r.marketing.CreateOffer(ctx, &pipelinev1.CreateOfferRequest{Offer: offer, RequestId: "o1"}); err != nil {
		t.Fatalf("CreateOffer: %v", err)
	}
	for _, tt := range []struct {
		name   string
		mutate func(*pipelinev1.Offer)
		fields []string
	}{
		{"no target", func(o *pipelinev1.Offer) { o.SegmentIds, o.ValueTiers = nil, nil }, []string{"offer.segment_ids"}},
		{"unknown campaign", func(o *pipelinev1.Offer) { o.CampaignId = uuid.NewString() }, []string{"offer.campaign_id"}},
		{"unknown segment", func(o *pipelinev1.Offer) { o.SegmentIds = []string{uuid.NewString()} }, []string{"offer.segment_ids[0]"}},
		{"discount", func(o *pipelinev1.Offer) { o.DiscountBps = 0 }, []string{"offer.discount_bps"}},
	} {
		in := &pipelinev1.Offer{DisplayName: offer.DisplayName, CampaignId: offer.CampaignId, SegmentIds: offer.SegmentIds,
			ValueTiers: offer.ValueTiers, DiscountBps: offer.DiscountBps, StartDate: start, EndDate: end}
		tt.mutate(in)
		_, err := r.marketing.CreateOffer(ctx, &pipelinev1.CreateOfferRequest{Offer: in})
		wantCode(t, "CreateOffer("+tt.name+")", err, codes.InvalidArgument, tt.fields...)
	}
	offers, err := r.marketing.ListOffers(ctx, &pipelinev1.ListOffersRequest{Filter: `campaign_id = "` + c.GetCampaignId() + `"`})
	if err != nil || len(offers.GetOffers()) != 1 {
		t.Errorf("ListOffers = %v, %v; want one", offers, err)
	}
}

func TestAttribution(t *testing.T) {
	t.Parallel()
	r := newRevenue(t)
	ctx := r.manager(t)
	first := r.campaign(t, "Webinar", "", 10000)
	last := r.campaign(t, "Event", "", 0)
	respond := func(c *pipelinev1.Campaign, customer uuid.UUID, at time.Time, requestID string) (*pipelinev1.CampaignResponse, error) {
		resp, err := r.marketing.RecordCampaignResponse(r.as(t, r.tenant, auth.RoleSalesRep), &pipelinev1.RecordCampaignResponseRequest{
			CampaignId: c.GetCampaignId(), RequestId: requestID, Response: &pipelinev1.CampaignResponse{
				CustomerId: customer.String(), Kind: pipelinev1.ResponseKind_RESPONSE_KIND_ATTENDED, RespondTime: timestamppb.New(at)}})
		return resp.GetResponse(), err
	}
	now := time.Now()
	one, err := respond(first, r.acme, now.Add(-2*time.Hour), "r1")
	if err != nil {
		t.Fatalf("RecordCampaignResponse: %v", err)
	}
	if again, err := respond(first, r.acme, now.Add(-2*time.Hour), "r1"); err != nil || again.GetResponseId() != one.GetResponseId() {
		t.Errorf("RecordCampaignResponse retry = %v, %v; want the first", again, err)
	}
	if _, err := respond(last, r.acme, now.Add(-time.Hour), ""); err != nil {
		t.Fatal(err)
	}
	_, err = respond(first, r.gone, now, "")
	wantCode(t, "RecordCampaignResponse(unknown customer)", err, codes.InvalidArgument, "response.customer_id")
	_, err = respond(&pipelinev1.Campaign{CampaignId: uuid.NewString()}, r.acme, now, "")
	wantCode(t, "RecordCampaignResponse(unknown campaign)", err, codes.NotFound)
	_, err = respond(first, r.acme, now.Add(time.Hour), "")
	wantCode(t, "RecordCampaignResponse(future)", err, codes.InvalidArgument, "response.respond_time")

	// Explicitly credited to the first campaign: one won, one open.
	r.deal(t, uuid.New(), 50000, "USD", "Won", func(o *pipelinev1.Opportunity) { o.CampaignId = first.GetCampaignId() })
	r.deal(t, uuid.New(), 7000, "USD", "Proposal", func(o *pipelinev1.Opportunity) { o.CampaignId = first.GetCampaignId() })
	_, err = r.client.CreateOpportunity(ctx, &pipelinev1.CreateOpportunityRequest{Opportunity: &pipelinev1.Opportunity{
		CustomerId: r.acme.String(), DisplayName: "X", Amount: &typesv1.Money{CurrencyCode: "USD", AmountMinor: 1}, CampaignId: uuid.NewString()}})
	wantCode(t, "CreateOpportunity(unknown campaign)", err, codes.InvalidArgument, "opportunity.campaign_id")

	roi := func(c *pipelinev1.Campaign, m pipelinev1.AttributionModel) *pipelinev1.GetCampaignRoiResponse {
		t.Helper()
		got, err := r.marketing.GetCampaignRoi(r.as(t, r.tenant, auth.RoleAnalyst), &pipelinev1.GetCampaignRoiRequest{CampaignId: c.GetCampaignId(), Model: m})
		if err != nil {
			t.Fatalf("GetCampaignRoi: %v", err)
		}
		return got
	}
	for _, tt := range []struct {
		name                      string
		c                         *pipelinev1.Campaign
		model                     pipelinev1.AttributionModel
		attributed, won, rev, bps int64
	}{
		// (50000 − 10000) / 10000 = 400 %.
		{"explicit", first, pipelinev1.AttributionModel_ATTRIBUTION_MODEL_UNSPECIFIED, 2, 1, 50000, 40000},
		// Both of acme's deals came after both responses: the earliest touch is the webinar…
		{"first touch", first, pipelinev1.AttributionModel_ATTRIBUTION_MODEL_FIRST_TOUCH, 2, 1, 50000, 40000},
		{"first touch, event", last, pipelinev1.AttributionModel_ATTRIBUTION_MODEL_FIRST_TOUCH, 0, 0, 0, 0},
		// …and the latest the event, which cost nothing.
		{"last touch", last, pipelinev1.AttributionModel_ATTRIBUTION_MODEL_LAST_TOUCH, 2, 1, 50000, 0},
		{"last touch, webinar", first, pipelinev1.AttributionModel_ATTRIBUTION_MODEL_LAST_TOUCH, 0, 0, 0, -10000},
	} {
		got := roi(tt.c, tt.model)
		if got.GetAttributedOpportunities() != tt.attributed || got.GetWonOpportunities() != tt.won ||
			got.GetWonRevenue().GetAmountMinor() != tt.rev || got.GetRoiBps() != tt.bps {
			t.Errorf("GetCampaignRoi(%s) = %v; want %d attributed, %d won, revenue %d, %d bps", tt.name, got, tt.attributed, tt.won, tt.rev, tt.bps)
		}
	}
	_, err = r.marketing.GetCampaignRoi(r.as(t, r.other, auth.RoleAdmin), &pipelinev1.GetCampaignRoiRequest{CampaignId: first.GetCampaignId()})
	wantCode(t, "GetCampaignRoi(other tenant)", err, codes.NotFound)
	_, err = r.marketing.GetCampaignRoi(r.as(t, r.tenant, auth.RoleSupportAgent), &pipelinev1.GetCampaignRoiRequest{CampaignId: first.GetCampaignId()})
	wantCode(t, "GetCampaignRoi(support agent)", err, codes.PermissionDenied)
}

func TestAddCampaignMember(t *testing.T) {
	t.Parallel()
	r := newRevenue(t)
	ctx := r.manager(t)
	c := r.campaign(t, "Win-back", "", 0)
	add := func(ctx context.Context, campaign, customer string) (*pipelinev1.AddCampaignMemberResponse, error) {
		return r.marketing.AddCampaignMember(ctx, &pipelinev1.AddCampaignMemberRequest{CampaignId: campaign, CustomerId: customer})
	}
	// Concurrent adds of one customer make one member and one event.
	var wg sync.WaitGroup
	var added atomic.Int32
	for range 4 {
		wg.Go(func() {
			got, err := add(ctx, c.GetCampaignId(), r.acme.String())
			if err != nil || got.GetMember().GetCustomerId() != r.acme.String() {
				t.Errorf("AddCampaignMember = %v, %v; want acme", got, err)
			}
			if got.GetAdded() {
				added.Add(1)
			}
		})
	}
	wg.Wait()
	var events int
	if err := r.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE type = 'campaign.member_added'`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if added.Load() != 1 || events != 1 {
		t.Fatalf("added %d times with %d events; want once", added.Load(), events)
	}
	members, err := r.marketing.ListCampaignMembers(ctx, &pipelinev1.ListCampaignMembersRequest{CampaignId: c.GetCampaignId()})
	if err != nil || len(members.GetMembers()) != 1 {
		t.Fatalf("ListCampaignMembers = %v, %v; want acme alone", members, err)
	}
	ended, err := r.marketing.CreateCampaign(ctx, &pipelinev1.CreateCampaignRequest{Campaign: &pipelinev1.Campaign{
		DisplayName: "Last year", Channel: pipelinev1.CampaignChannel_CAMPAIGN_CHANNEL_EMAIL,
		Budget: &typesv1.Money{CurrencyCode: "USD", AmountMinor: 100}, StartDate: "2020-01-01", EndDate: "2020-01-31"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name               string
		ctx                context.Context
		campaign, customer string
		code               codes.Code
		fields             []string
	}{
		{"bad ids", ctx, "x", "", codes.InvalidArgument, []string{"campaign_id"}},
		{"no customer", ctx, c.GetCampaignId(), "y", codes.InvalidArgument, []string{"customer_id"}},
		{"unknown customer", ctx, c.GetCampaignId(), uuid.NewString(), codes.InvalidArgument, []string{"customer_id"}},
		{"customer service down", ctx, c.GetCampaignId(), r.down.String(), codes.Unavailable, nil},
		{"unknown campaign", ctx, uuid.NewString(), r.bolt.String(), codes.NotFound, nil},
		{"ended campaign", ctx, ended.GetCampaign().GetCampaignId(), r.bolt.String(), codes.FailedPrecondition, nil},
		{"sales rep", r.as(t, r.tenant, auth.RoleSalesRep), c.GetCampaignId(), r.bolt.String(), codes.PermissionDenied, nil},
		{"other tenant", r.as(t, r.other, auth.RoleAdmin), c.GetCampaignId(), r.bolt.String(), codes.NotFound, nil},
	} {
		_, err := add(tt.ctx, tt.campaign, tt.customer)
		wantCode(t, "AddCampaignMember("+tt.name+")", err, tt.code, tt.fields...)
	}
}
