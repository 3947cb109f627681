package pgdb_test

import (
	"testing"
	"testing/fstest"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/pgtest"
)

const role = "rapport_pgdbtest"

var migrations = fstest.MapFS{"00002_notes.sql": {Data: []byte(`-- +goose Up
-- +goose StatementBegin
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '` + role + `') THEN CREATE ROLE ` + role + ` NOLOGIN; END IF;
END $$;
-- +goose StatementEnd
CREATE TABLE notes (tenant_id uuid NOT NULL, note_id uuid NOT NULL, body text NOT NULL, request_id text,
    PRIMARY KEY (tenant_id, note_id));
CREATE UNIQUE INDEX notes_request ON notes (tenant_id, request_id) WHERE request_id IS NOT NULL;
GRANT SELECT, INSERT ON notes TO ` + role + `;
-- +goose Down
DROP TABLE notes;
`)}}

const insertNoteSQL = `
INSERT INTO notes (tenant_id, note_id, body, request_id) VALUES ($1, $2, $3, nullif($4, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING note_id, body`

const noteByRequestSQL = `SELECT note_id, body FROM notes WHERE tenant_id = $1 AND request_id = $2`

type note struct {
	ID   uuid.UUID
	Body string
}

func scanNote(row pgx.CollectableRow) (note, error) {
	var n note
	err := row.Scan(&n.ID, &n.Body)
	return n, err
}

// TestInsertOnce checks that a repeated request key returns the first row
// unchanged and reports it was not created, while other errors still fail.
func TestInsertOnce(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, migrations, role)
	tenant := uuid.NewString()
	create := func(id uuid.UUID, body, requestID string) (note, bool, error) {
		var n note
		var created bool
		err := pgdb.InTx(t.Context(), db.App, tenant, func(tx pgx.Tx) error {
			var err error
			n, created, err = pgdb.InsertOnce(t.Context(), tx,
				insertNoteSQL, []any{tenant, id, body, requestID},
				noteByRequestSQL, []any{tenant, requestID},
				scanNote)
			return err
		})
		return n, created, err
	}

	first := note{ID: uuid.New(), Body: "first"}
	// Sequential: each case runs against the rows the earlier ones left.
	tests := []struct {
		name        string
		in          note
		requestID   string
		want        note
		wantCreated bool
		wantBroken  string // the constraint a real conflict breaks
	}{
		{name: "new", in: first, requestID: "r1", want: first, wantCreated: true},
		{name: "repeat returns the first row", in: note{ID: uuid.New(), Body: "second"}, requestID: "r1", want: first},
		{name: "same key under another request", in: note{ID: first.ID, Body: "other"}, requestID: "r2", wantBroken: "notes_pkey"},
	}
	for _, tt := range tests {
		got, created, err := create(tt.in.ID, tt.in.Body, tt.requestID)
		if tt.wantBroken != "" {
			if _, constraint, ok := pgdb.Constraint(err); !ok || constraint != tt.wantBroken {
				t.Fatalf("InsertOnce(%s) error = %v, want a violation of %s", tt.name, err, tt.wantBroken)
			}
			continue
		}
		if err != nil || got != tt.want || created != tt.wantCreated {
			t.Fatalf("InsertOnce(%s) = %v, %v, %v; want %v, %v, nil", tt.name, got, created, err, tt.want, tt.wantCreated)
		}
	}
}
