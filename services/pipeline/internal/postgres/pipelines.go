package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
	"github.com/rapportcrm/rapport/services/pipeline/internal/protoconv"
)

// The stages come along as one JSON array in order, so a pipeline is read
// in one statement.
const pipelineColumns = `pipeline_id, display_name, currency_code, is_default, won_reasons, lost_reasons,
create_time, update_time, delete_time, revision,
coalesce((SELECT jsonb_agg(jsonb_build_object('id', s.stage_id, 'name', s.display_name, 'prob', s.probability,
    'kind', s.kind, 'req', s.required_fields, 'legacy', s.legacy_stage) ORDER BY s.position)
  FROM pipeline_stages s
  WHERE s.tenant_id = pipelines.tenant_id AND s.pipeline_id = pipelines.pipeline_id), '[]')`

type stageJSON struct {
	ID     uuid.UUID          `json:"id"`
	Name   string             `json:"name"`
	Prob   int32              `json:"prob"`
	Kind   pipeline.StageKind `json:"kind"`
	Req    []string           `json:"req"`
	Legacy pipeline.Stage     `json:"legacy"`
}

func scanPipeline(row pgx.CollectableRow) (pipeline.Pipeline, error) {
	var p pipeline.Pipeline
	var stages []byte
	err := row.Scan(&p.ID, &p.DisplayName, &p.CurrencyCode, &p.Default, &p.WonReasons, &p.LostReasons,
		&p.CreateTime, &p.UpdateTime, &p.DeleteTime, &p.Revision, &stages)
	if err != nil {
		return p, err
	}
	var ss []stageJSON
	if err := json.Unmarshal(stages, &ss); err != nil {
		return p, fmt.Errorf("read stages: %w", err)
	}
	for _, s := range ss {
		p.Stages = append(p.Stages, pipeline.PipelineStage{ID: s.ID, DisplayName: s.Name, Probability: s.Prob, Kind: s.Kind,
			RequiredFields: s.Req, LegacyStage: s.Legacy})
	}
	return p, nil
}

const insertPipelineSQL = `
INSERT INTO pipelines (tenant_id, pipeline_id, display_name, currency_code, is_default, won_reasons, lost_reasons, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + pipelineColumns

const pipelineByRequestSQL = `SELECT ` + pipelineColumns + ` FROM pipelines WHERE tenant_id = $1 AND request_id = $2`

const pipelineByIDSQL = `SELECT ` + pipelineColumns + ` FROM pipelines WHERE tenant_id = $1 AND pipeline_id = $2`

const defaultPipelineSQL = `SELECT ` + pipelineColumns + ` FROM pipelines WHERE tenant_id = $1 AND is_default`

// The default pipeline made on first use; a concurrent first use waits on
// the unique index and then finds the winner's.
const insertDefaultPipelineSQL = `
INSERT INTO pipelines (tenant_id, pipeline_id, display_name, currency_code, is_default)
VALUES ($1, $2, $3, $4, true)
ON CONFLICT (tenant_id) WHERE is_default DO NOTHING
RETURNING ` + pipelineColumns

// clearDefaultSQL takes the default flag off the previous default.
const clearDefaultSQL = `
UPDATE pipelines SET is_default = false, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND is_default AND pipeline_id <> $2
RETURNING ` + pipelineColumns

const deleteStagesSQL = `DELETE FROM pipeline_stages WHERE tenant_id = $1 AND pipeline_id = $2 AND NOT stage_id = ANY($3)`

const upsertStagesSQL = `
INSERT INTO pipeline_stages (tenant_id, pipeline_id, stage_id, position, display_name, probability, kind, required_fields, legacy_stage)
SELECT $1, $2, s.id, s.pos - 1, s.name, s.prob, s.kind, ARRAY(SELECT jsonb_array_elements_text(s.req)), s.legacy
FROM unnest($3::uuid[], $4::text[], $5::smallint[], $6::smallint[], $7::jsonb[], $8::smallint[])
    WITH ORDINALITY AS s (id, name, prob, kind, req, legacy, pos)
ON CONFLICT (tenant_id, pipeline_id, stage_id) DO UPDATE SET position = excluded.position,
    display_name = excluded.display_name, probability = excluded.probability, kind = excluded.kind,
    required_fields = excluded.required_fields, legacy_stage = excluded.legacy_stage`

// saveStages makes the stored stages p's, in p's order.
func saveStages(ctx context.Context, tx pgx.Tx, tenant string, p pipeline.Pipeline) error {
	n := len(p.Stages)
	ids, names, prob, kind, req, legacy := make([]uuid.UUID, n), make([]string, n), make([]int16, n), make([]int16, n), make([][]byte, n), make([]int16, n)
	for i, s := range p.Stages {
		r, err := json.Marshal(append([]string{}, s.RequiredFields...))
		if err != nil {
			return err
		}
		ids[i], names[i], prob[i], kind[i], req[i], legacy[i] = s.ID, s.DisplayName, int16(s.Probability), int16(s.Kind), r, int16(s.LegacyStage)
	}
	if _, err := tx.Exec(ctx, deleteStagesSQL, tenant, p.ID, ids); err != nil {
		if code, constraint, ok := pgdb.Constraint(err); ok && code == "23503" && constraint == "opportunities_stage" {
			return pipeline.ErrStageInUse
		}
		return err
	}
	_, err := tx.Exec(ctx, upsertStagesSQL, tenant, p.ID, ids, names, prob, kind, req, legacy)
	return err
}

// clearDefault records the previous default's loss of the flag.
func clearDefault(ctx context.Context, tx pgx.Tx, caller auth.Caller, id uuid.UUID) error {
	rows, err := tx.Query(ctx, clearDefaultSQL, caller.TenantID, id)
	if err != nil {
		return err
	}
	cleared, err := pgx.CollectRows(rows, scanPipeline)
	if err != nil {
		return err
	}
	for _, c := range cleared {
		before := c
		before.Default, before.Revision = true, c.Revision-1
		if err := outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: pipeline.EventPipelineUpdated, Resource: c.Resource(), Before: protoconv.Pipeline(before), After: protoconv.Pipeline(c)}); err != nil {
			return err
		}
	}
	return nil
}

// insertPipeline stores a new pipeline and its stages; inserted is false
// when an earlier create with requestID won.
func insertPipeline(ctx context.Context, tx pgx.Tx, caller auth.Caller, p pipeline.Pipeline, requestID string) (pipeline.Pipeline, error) {
	if p.Default {
		if err := clearDefault(ctx, tx, caller, p.ID); err != nil {
			return pipeline.Pipeline{}, err
		}
	}
	saved, inserted, err := pgdb.InsertOnce(ctx, tx,
		insertPipelineSQL, []any{caller.TenantID, p.ID, p.DisplayName, p.CurrencyCode, p.Default, nonNil(p.WonReasons), nonNil(p.LostReasons), requestID},
		pipelineByRequestSQL, []any{caller.TenantID, requestID}, scanPipeline)
	if err != nil || !inserted {
		return saved, err
	}
	return recordNewPipeline(ctx, tx, caller, p, saved)
}

func recordNewPipeline(ctx context.Context, tx pgx.Tx, caller auth.Caller, p, saved pipeline.Pipeline) (pipeline.Pipeline, error) {
	if err := saveStages(ctx, tx, caller.TenantID, p); err != nil {
		return pipeline.Pipeline{}, err
	}
	saved.Stages = p.Stages
	err := outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
		Type: pipeline.EventPipelineCreated, Resource: saved.Resource(), After: protoconv.Pipeline(saved)})
	return saved, err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// CreatePipeline implements pipeline.Store.
func (s *Store) CreatePipeline(ctx context.Context, caller auth.Caller, p pipeline.Pipeline, requestID string) (pipeline.Pipeline, error) {
	var saved pipeline.Pipeline
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var err error
		saved, err = insertPipeline(ctx, tx, caller, p, requestID)
		return err
	})
	if err != nil {
		return pipeline.Pipeline{}, fmt.Errorf("create pipeline: %w", err)
	}
	return saved, nil
}

// GetPipeline implements pipeline.Store.
func (s *Store) GetPipeline(ctx context.Context, caller auth.Caller, id uuid.UUID) (pipeline.Pipeline, error) {
	p, err := pgdb.Row(ctx, s.pool, caller.TenantID, pipelineByIDSQL, []any{caller.TenantID, id}, scanPipeline)
	if errors.Is(err, pgx.ErrNoRows) {
		return pipeline.Pipeline{}, pipeline.ErrPipelineNotFound
	}
	if err != nil {
		return pipeline.Pipeline{}, fmt.Errorf("get pipeline %s: %w", id, err)
	}
	return p, nil
}

var pipelines = listing[pipeline.Pipeline]{
	table: "pipelines", columns: pipelineColumns, idColumn: "pipeline_id", scan: scanPipeline,
	id: func(p pipeline.Pipeline) uuid.UUID { return p.ID },
}

var pipelineOrder = sortKey[pipeline.Pipeline]{expr: "create_time", sqlType: "timestamptz",
	key: func(p pipeline.Pipeline) string { return p.CreateTime.Format(time.RFC3339Nano) }}

// ListPipelines implements pipeline.Store.
func (s *Store) ListPipelines(ctx context.Context, caller auth.Caller, pageSize int, pageToken string, showDeleted bool) (pipeline.PipelinePage, error) {
	r := listRequest{pageToken: pageToken, pageSize: pageSize, query: fmt.Sprintf("pipelines|%t", showDeleted)}
	if !showDeleted {
		r.where = []string{"delete_time IS NULL"}
	}
	rows, next, err := pipelines.page(ctx, s.pool, caller.TenantID, pipelineOrder, r)
	if err != nil {
		return pipeline.PipelinePage{}, err
	}
	return pipeline.PipelinePage{Pipelines: rows, NextPageToken: next}, nil
}

const lockPipelineSQL = `SELECT ` + pipelineColumns + ` FROM pipelines WHERE tenant_id = $1 AND pipeline_id = $2 FOR UPDATE`

const pipelineInUseSQL = `
SELECT EXISTS (SELECT 1 FROM opportunities WHERE tenant_id = $1 AND pipeline_id = $2 AND stage_kind = 1 AND delete_time IS NULL)`

const savePipelineSQL = `
UPDATE pipelines SET display_name = $3, currency_code = $4, is_default = $5, won_reasons = $6, lost_reasons = $7,
    delete_time = $8, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND pipeline_id = $2
RETURNING ` + pipelineColumns

// MutatePipeline implements pipeline.Store.
func (s *Store) MutatePipeline(ctx context.Context, caller auth.Caller, id uuid.UUID, m pipeline.PipelineMutation) (pipeline.Pipeline, error) {
	var saved pipeline.Pipeline
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockPipelineSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanPipeline)
		if errors.Is(err, pgx.ErrNoRows) {
			return pipeline.ErrPipelineNotFound
		}
		if err != nil {
			return err
		}
		var inUse bool
		if err := tx.QueryRow(ctx, pipelineInUseSQL, caller.TenantID, id).Scan(&inUse); err != nil {
			return err
		}
		p := before
		p.Stages = append([]pipeline.PipelineStage(nil), before.Stages...)
		event, err := m(&p, inUse)
		if err != nil {
			return err
		}
		if p.Default && !before.Default {
			if err := clearDefault(ctx, tx, caller, id); err != nil {
				return err
			}
		}
		if err := saveStages(ctx, tx, caller.TenantID, p); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, savePipelineSQL, caller.TenantID, id, p.DisplayName, p.CurrencyCode, p.Default,
			nonNil(p.WonReasons), nonNil(p.LostReasons), p.DeleteTime)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanPipeline); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: event, Resource: saved.Resource(), Before: protoconv.Pipeline(before), After: protoconv.Pipeline(saved)})
	})
	if err != nil {
		return pipeline.Pipeline{}, fmt.Errorf("change pipeline %s: %w", id, err)
	}
	return saved, nil
}

// catalog implements pipeline.Catalog inside a transaction.
type catalog struct {
	tx     pgx.Tx
	caller auth.Caller
}

func (c catalog) one(ctx context.Context, sql string, args ...any) (pipeline.Pipeline, error) {
	rows, err := c.tx.Query(ctx, sql, args...)
	if err != nil {
		return pipeline.Pipeline{}, err
	}
	p, err := pgx.CollectExactlyOneRow(rows, scanPipeline)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, pipeline.ErrPipelineNotFound
	}
	return p, err
}

// Pipeline implements pipeline.Catalog.
func (c catalog) Pipeline(ctx context.Context, id uuid.UUID) (pipeline.Pipeline, error) {
	return c.one(ctx, pipelineByIDSQL, c.caller.TenantID, id)
}

// DefaultPipeline implements pipeline.Catalog.
func (c catalog) DefaultPipeline(ctx context.Context, currencyCode string) (pipeline.Pipeline, error) {
	p, err := c.one(ctx, defaultPipelineSQL, c.caller.TenantID)
	if !errors.Is(err, pipeline.ErrPipelineNotFound) {
		return p, err
	}
	d := pipeline.DefaultPipeline(currencyCode)
	rows, err := c.tx.Query(ctx, insertDefaultPipelineSQL, c.caller.TenantID, d.ID, d.DisplayName, d.CurrencyCode)
	if err != nil {
		return p, err
	}
	saved, err := pgx.CollectExactlyOneRow(rows, scanPipeline)
	if errors.Is(err, pgx.ErrNoRows) {
		// Another first use won the race.
		return c.one(ctx, defaultPipelineSQL, c.caller.TenantID)
	}
	if err != nil {
		return p, err
	}
	return recordNewPipeline(ctx, c.tx, c.caller, d, saved)
}
