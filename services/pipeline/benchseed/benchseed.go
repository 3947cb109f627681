// Package benchseed loads opportunities in bulk into a pipeline service
// database for benchmarks, with one INSERT … SELECT as the database owner
// rather than through the API. The pipeline benchmark (deploy/bench) and the
// deal-registration benchmark (deploy/dev) share it.
package benchseed

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// bulkSQL adds a pipeline of six stages and $2 opportunities in it to the
// tenant in one statement, spread over the first $7 stages (4: the open
// ones only; 6: a sixth in each, won and lost closed on their close date),
// closing over 2026, owned by $5 reps in turn numbered from $6, and taken
// in turn from the customers $4.
const bulkSQL = `
WITH p AS (
    INSERT INTO pipelines (tenant_id, pipeline_id, display_name, currency_code, is_default)
    VALUES ($1, gen_random_uuid(), 'Bench ' || $3::text, 'USD', false) RETURNING tenant_id, pipeline_id),
s AS (
    INSERT INTO pipeline_stages (tenant_id, pipeline_id, stage_id, position, display_name, probability, kind, legacy_stage)
    SELECT p.tenant_id, p.pipeline_id, gen_random_uuid(), v.pos, v.name, v.prob, v.kind, v.legacy
    FROM p, (VALUES (0, 'Prospecting', 10, 1, 1), (1, 'Qualification', 25, 1, 2), (2, 'Proposal', 50, 1, 3),
                    (3, 'Negotiation', 75, 1, 4), (4, 'Won', 100, 2, 5), (5, 'Lost', 0, 3, 6)) AS v (pos, name, prob, kind, legacy)
    RETURNING *)
INSERT INTO opportunities (tenant_id, opportunity_id, customer_id, display_name, currency_code, amount_minor, stage,
    expected_close_date, owner_id, pipeline_id, stage_id, stage_kind, engage_date, close_time, stage_enter_time)
SELECT s.tenant_id, gen_random_uuid(), ($4::uuid[])[1 + (g - 1) % cardinality($4::uuid[])], 'Bulk ' || g, 'USD', 1000 + (g * 7919) % 1000000, s.legacy_stage,
    date '2026-01-01' + g % 365, ('00000000-0000-0000-0000-' || lpad(($6 + g % $5)::text, 12, '0'))::uuid, s.pipeline_id,
    s.stage_id, s.kind, date '2025-12-01',
    CASE WHEN s.kind IN (2, 3) THEN (date '2026-01-01' + g % 365)::timestamp AT TIME ZONE 'UTC' END, now()
FROM generate_series(1, $2) g JOIN s ON s.position = g % $7`

// Opportunities describes one bulk load.
type Opportunities struct {
	Tenant uuid.UUID
	// N opportunities go into a new pipeline named after Label.
	N     int
	Label string
	// Customers own the opportunities in turn (opportunity g belongs to
	// Customers[(g-1) % len(Customers)]).
	Customers []uuid.UUID
	// Reps own them in turn, numbered from FirstRep
	// (00000000-0000-0000-0000-<FirstRep+i>).
	Reps, FirstRep int
	// OpenOnly puts them all in the four open stages; otherwise a third
	// are won or lost.
	OpenOnly bool
}

// Load inserts o's opportunities through db, connected as the pipeline
// database's owner, and analyses the table so the planner sees them.
func Load(ctx context.Context, db *pgx.Conn, o Opportunities) error {
	stages := 6
	if o.OpenOnly {
		stages = 4
	}
	if len(o.Customers) == 0 || o.Reps <= 0 {
		return errors.New("bulk load: need customers and reps")
	}
	if _, err := db.Exec(ctx, bulkSQL, o.Tenant, o.N, o.Label, o.Customers, o.Reps, o.FirstRep, stages); err != nil {
		return fmt.Errorf("bulk load: %w", err)
	}
	if _, err := db.Exec(ctx, `ANALYZE opportunities`); err != nil {
		return fmt.Errorf("analyze opportunities: %w", err)
	}
	return nil
}
