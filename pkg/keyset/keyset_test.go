package keyset_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/keyset"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/pkg/validation"
)

const role = "rapport_keysettest"

var migrations = fstest.MapFS{"00002_things.sql": {Data: []byte(`-- +goose Up
-- +goose StatementBegin
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '` + role + `') THEN CREATE ROLE ` + role + ` NOLOGIN; END IF;
END $$;
-- +goose StatementEnd
CREATE TABLE things (tenant_id uuid NOT NULL, thing_id uuid NOT NULL, kind text NOT NULL,
    create_time timestamptz NOT NULL, PRIMARY KEY (tenant_id, thing_id));
GRANT SELECT ON things TO ` + role + `;
-- +goose Down
DROP TABLE things;
`)}}

type thing struct {
	ID         uuid.UUID
	Kind       string
	CreateTime time.Time
}

var listThings = keyset.Query[thing]{
	Table: "things", Columns: "thing_id, kind, create_time", IDColumn: "thing_id",
	Fields: map[string]sqlfilter.Field{"kind": {Column: "kind", Kind: sqlfilter.String}},
	Scan: func(row pgx.CollectableRow) (thing, error) {
		var t thing
		err := row.Scan(&t.ID, &t.Kind, &t.CreateTime)
		return t, err
	},
	Key: func(t thing) (time.Time, uuid.UUID) { return t.CreateTime, t.ID },
}

// TestNewestFirst pages through rows that share create_times, so the id
// must break ties for no row to repeat or go missing, and checks that tokens
// are bound to their filter and the tenant's rows are the only ones seen.
func TestNewestFirst(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, migrations, role)
	tenant, other := uuid.NewString(), uuid.NewString()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// Three rows per instant, alternating kinds, oldest first.
	var seeded []thing
	for i := range 9 {
		seeded = append(seeded, thing{ID: uuid.New(), Kind: []string{"a", "b"}[i%2], CreateTime: base.Add(time.Duration(i/3) * time.Second)})
	}
	insert := func(tenant string, th thing) {
		t.Helper()
		if _, err := db.Owner.Exec(t.Context(), `INSERT INTO things (tenant_id, thing_id, kind, create_time) VALUES ($1, $2, $3, $4)`,
			tenant, th.ID, th.Kind, th.CreateTime); err != nil {
			t.Fatal(err)
		}
	}
	for _, th := range seeded {
		insert(tenant, th)
		insert(other, thing{ID: uuid.New(), Kind: th.Kind, CreateTime: th.CreateTime})
	}
	// newestFirst is the order the list must follow: create_time, then id, descending.
	newestFirst := func(kind string) []uuid.UUID {
		var out []thing
		for _, th := range seeded {
			if kind == "" || th.Kind == kind {
				out = append(out, th)
			}
		}
		slices.SortFunc(out, func(a, b thing) int {
			if c := b.CreateTime.Compare(a.CreateTime); c != 0 {
				return c
			}
			return bytes.Compare(b.ID[:], a.ID[:]) // as PostgreSQL orders uuids
		})
		ids := make([]uuid.UUID, len(out))
		for i, th := range out {
			ids[i] = th.ID
		}
		return ids
	}

	tests := []struct {
		name, filter string
		pageSize     int
		want         []uuid.UUID
	}{
		{"all in pages of 2", "", 2, newestFirst("")},
		{"all in one exact page", "", 9, newestFirst("")},
		{"filtered in pages of 2", `kind = "a"`, 2, newestFirst("a")},
		{"nothing matches", `kind = "c"`, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []uuid.UUID
			token := ""
			for pages := 0; ; pages++ {
				if pages > len(seeded) {
					t.Fatalf("NewestFirst(%q) does not end", tt.filter)
				}
				rows, next, err := keyset.NewestFirst(t.Context(), db.App, tenant, listThings, tt.filter, token, tt.pageSize)
				if err != nil {
					t.Fatalf("NewestFirst(%q): %v", tt.filter, err)
				}
				if len(rows) > tt.pageSize {
					t.Fatalf("NewestFirst(%q) = %d rows, want at most %d", tt.filter, len(rows), tt.pageSize)
				}
				for _, r := range rows {
					got = append(got, r.ID)
				}
				if token = next; token == "" {
					break
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("NewestFirst(%q) ids (-want +got):\n%s", tt.filter, diff)
			}
		})
	}

	_, token, err := keyset.NewestFirst(t.Context(), db.App, tenant, listThings, "", "", 1)
	if err != nil || token == "" {
		t.Fatalf("NewestFirst first page = token %q, %v; want a token", token, err)
	}
	bad := []struct {
		name, filter, token, wantField string
	}{
		{"unknown field", `colour = "red"`, "", "filter"},
		{"syntax", `kind = (`, "", "filter"},
		{"garbage token", "", "garbage", "page_token"},
		{"token of another filter", `kind = "a"`, token, "page_token"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := keyset.NewestFirst(t.Context(), db.App, tenant, listThings, tt.filter, tt.token, 1)
			var verr *validation.Error
			if !errors.As(err, &verr) || len(verr.Violations) != 1 || verr.Violations[0].Field != tt.wantField {
				t.Fatalf("NewestFirst(%q, %q) error = %v, want a violation on %s", tt.filter, tt.token, err, tt.wantField)
			}
		})
	}
}
