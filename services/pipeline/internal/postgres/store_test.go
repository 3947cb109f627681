package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
	"github.com/rapportcrm/rapport/services/pipeline/internal/postgres"
)

func newStore(t *testing.T) (*postgres.Store, *pgtest.DB) {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	return postgres.New(db.App), db
}

func rep() auth.Caller {
	return auth.Caller{TenantID: uuid.NewString(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleSalesRep}}
}

func opportunity(customer uuid.UUID, stage pipeline.Stage) pipeline.Opportunity {
	return pipeline.Opportunity{
		ID: uuid.Must(uuid.NewV7()), CustomerID: customer, DisplayName: "Pilot",
		Amount: pipeline.Money{CurrencyCode: "EUR", AmountMinor: 150000}, Stage: stage,
		EngageDate: "2026-01-05", StageEnterTime: time.Now().UTC().Truncate(time.Microsecond),
	}
}

// onDefault builds o on the tenant's default pipeline, in the stage its
// fixed stage maps to, as the domain does for a create without a stage.
func onDefault(o pipeline.Opportunity) func(context.Context, pipeline.Catalog) (pipeline.Opportunity, error) {
	return func(ctx context.Context, cat pipeline.Catalog) (pipeline.Opportunity, error) {
		p, err := cat.DefaultPipeline(ctx, o.Amount.CurrencyCode)
		if err != nil {
			return o, err
		}
		o.PipelineID = p.ID
		for _, s := range p.Stages {
			if s.LegacyStage == o.Stage {
				o.StageID, o.StageKind = s.ID, s.Kind
			}
		}
		return o, nil
	}
}

// ignoreServerFields drops what the database assigns.
var ignoreServerFields = cmpopts.IgnoreFields(pipeline.Opportunity{}, "CreateTime", "UpdateTime", "Revision", "PipelineID", "StageID", "StageKind")

func count(t *testing.T, db *pgtest.DB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Owner.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestCreateGet(t *testing.T) {
	t.Parallel()
	owner, partner := uuid.New(), uuid.New()
	full := opportunity(uuid.New(), pipeline.StageNegotiation)
	full.ExpectedCloseDate, full.OwnerID, full.SourcePartnerID, full.ExternalID = "2026-03-31", &owner, &partner, "crm-42"
	tests := []struct {
		name string
		in   pipeline.Opportunity
	}{
		{"required fields only", opportunity(uuid.New(), pipeline.StageProspecting)},
		{"every field", full},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, db := newStore(t)
			c := rep()
			saved, err := s.Create(t.Context(), c, "", onDefault(tt.in))
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if diff := cmp.Diff(tt.in, saved, ignoreServerFields); diff != "" {
				t.Errorf("Create returned (-want +got):\n%s", diff)
			}
			if saved.Revision != 1 || saved.CreateTime.IsZero() {
				t.Errorf("Create = revision %d, create_time %v; want 1 and a time", saved.Revision, saved.CreateTime)
			}
			got, err := s.Get(t.Context(), c, tt.in.ID)
			if err != nil {
				t.Fatalf("Get(%s): %v", tt.in.ID, err)
			}
			if diff := cmp.Diff(saved, got); diff != "" {
				t.Errorf("Get(%s) (-created +got):\n%s", tt.in.ID, diff)
			}
			if n := count(t, db, "SELECT count(*) FROM outbox WHERE type = 'opportunity.created' AND resource = $1", saved.Resource()); n != 1 {
				t.Errorf("outbox events for %s = %d, want 1", saved.Resource(), n)
			}
		})
	}
}

func TestCreateIdempotent(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	c := rep()
	first, err := s.Create(t.Context(), c, "req-1", onDefault(opportunity(uuid.New(), pipeline.StageProspecting)))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	again, err := s.Create(t.Context(), c, "req-1", onDefault(opportunity(uuid.New(), pipeline.StageWon)))
	if err != nil {
		t.Fatalf("Create repeat: %v", err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Fatalf("repeated request_id (-first +repeat):\n%s", diff)
	}
	byReq, err := s.ByRequestID(t.Context(), c, "req-1")
	if err != nil || byReq.ID != first.ID {
		t.Fatalf("ByRequestID(req-1) = %v, %v; want %s", byReq.ID, err, first.ID)
	}
	if _, err := s.ByRequestID(t.Context(), c, "req-2"); !errors.Is(err, pipeline.ErrNotFound) {
		t.Fatalf("ByRequestID(req-2) error = %v, want ErrNotFound", err)
	}
	// The same request_id in another tenant is another request.
	other, err := s.Create(t.Context(), rep(), "req-1", onDefault(opportunity(uuid.New(), pipeline.StageProspecting)))
	if err != nil || other.ID == first.ID {
		t.Fatalf("Create(req-1) in another tenant = %v, %v; want a new opportunity", other.ID, err)
	}
	rows := count(t, db, "SELECT count(*) FROM opportunities")
	events := count(t, db, "SELECT count(*) FROM outbox WHERE type LIKE 'opportunity.%'")
	audits := count(t, db, "SELECT count(*) FROM audit_log WHERE resource LIKE 'opportunities/%'")
	if rows != 2 || events != 2 || audits != 2 {
		t.Fatalf("after a repeated create: %d rows, %d events, %d audit rows; want 2 each", rows, events, audits)
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	c := rep()
	acme, globex, owner := uuid.New(), uuid.New(), uuid.New()
	var created []pipeline.Opportunity // oldest first
	for i, stage := range []pipeline.Stage{pipeline.StageProspecting, pipeline.StageWon, pipeline.StageWon, pipeline.StageLost, pipeline.StageWon} {
		o := opportunity(acme, stage)
		if i%2 == 1 {
			o.CustomerID, o.OwnerID = globex, &owner
		}
		saved, err := s.Create(t.Context(), c, "", onDefault(o))
		if err != nil {
			t.Fatal(err)
		}
		created = append(created, saved)
	}
	ids := func(os []pipeline.Opportunity) []uuid.UUID {
		out := make([]uuid.UUID, len(os))
		for i, o := range os {
			out[i] = o.ID
		}
		return out
	}
	newestFirst := func(pick ...int) []uuid.UUID {
		var out []uuid.UUID
		for i := len(created) - 1; i >= 0; i-- {
			for _, p := range pick {
				if p == i {
					out = append(out, created[i].ID)
				}
			}
		}
		return out
	}
	tests := []struct {
		name   string
		filter string
		want   []uuid.UUID
	}{
		{"all", "", newestFirst(0, 1, 2, 3, 4)},
		{"customer", `customer_id = "` + globex.String() + `"`, newestFirst(1, 3)},
		{"stage", `stage = STAGE_WON`, newestFirst(1, 2, 4)},
		{"stage and customer", `stage = "STAGE_WON" AND customer_id = "` + acme.String() + `"`, newestFirst(2, 4)},
		{"owner", `owner_id = "` + owner.String() + `"`, newestFirst(1, 3)},
		{"partner", `source_partner_id = "` + uuid.NewString() + `"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []uuid.UUID
			token := ""
			for pages := 0; ; pages++ {
				if pages > len(created) {
					t.Fatalf("List(%q) does not end", tt.filter)
				}
				page, err := s.List(t.Context(), c, pipeline.ListQuery{PageSize: 2, PageToken: token, Filter: tt.filter})
				if err != nil {
					t.Fatalf("List(%q): %v", tt.filter, err)
				}
				got = append(got, ids(page.Opportunities)...)
				if token = page.NextPageToken; token == "" {
					break
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("List(%q) ids (-want +got):\n%s", tt.filter, diff)
			}
		})
	}

	first, err := s.List(t.Context(), c, pipeline.ListQuery{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name      string
		q         pipeline.ListQuery
		wantField string
	}{
		{"unknown field", pipeline.ListQuery{PageSize: 1, Filter: `display_name = "x"`}, "filter"},
		{"bad enum", pipeline.ListQuery{PageSize: 1, Filter: `stage = WON`}, "filter"},
		{"bad uuid", pipeline.ListQuery{PageSize: 1, Filter: `customer_id = "nope"`}, "filter"},
		{"syntax", pipeline.ListQuery{PageSize: 1, Filter: `stage = (`}, "filter"},
		{"garbage token", pipeline.ListQuery{PageSize: 1, PageToken: "garbage"}, "page_token"},
		{"token of another filter", pipeline.ListQuery{PageSize: 1, PageToken: first.NextPageToken, Filter: `stage = STAGE_WON`}, "page_token"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := s.List(t.Context(), c, tt.q)
			var verr *validation.Error
			if !errors.As(err, &verr) || len(verr.Violations) != 1 || verr.Violations[0].Field != tt.wantField {
				t.Fatalf("List(%+v) error = %v, want a violation on %s", tt.q, err, tt.wantField)
			}
		})
	}
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	mine, theirs := rep(), rep()
	o, err := s.Create(t.Context(), mine, "req-1", onDefault(opportunity(uuid.New(), pipeline.StageProspecting)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(t.Context(), theirs, o.ID); !errors.Is(err, pipeline.ErrNotFound) {
		t.Errorf("Get(%s) as another tenant error = %v, want ErrNotFound", o.ID, err)
	}
	if _, err := s.ByRequestID(t.Context(), theirs, "req-1"); !errors.Is(err, pipeline.ErrNotFound) {
		t.Errorf("ByRequestID(req-1) as another tenant error = %v, want ErrNotFound", err)
	}
	page, err := s.List(t.Context(), theirs, pipeline.ListQuery{PageSize: 10})
	if err != nil || len(page.Opportunities) != 0 {
		t.Errorf("List as another tenant = %d rows, %v; want none", len(page.Opportunities), err)
	}
	// The row is there: RLS, not a missing row, hides it.
	if n := count(t, db, "SELECT count(*) FROM opportunities WHERE opportunity_id = $1", o.ID); n != 1 {
		t.Errorf("owner sees %d rows of %s, want 1", n, o.ID)
	}
	// Even a query that names the tenant explicitly is filtered for the service role.
	var visible int
	if err := db.App.QueryRow(t.Context(), "SELECT count(*) FROM opportunities WHERE tenant_id = $1", mine.TenantID).Scan(&visible); err != nil || visible != 0 {
		t.Errorf("service role without a tenant setting sees %d rows (%v), want 0", visible, err)
	}
}
