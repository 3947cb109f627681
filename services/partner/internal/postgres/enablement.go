package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/keyset"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/services/partner/internal/enablement"
	"github.com/rapportcrm/rapport/services/partner/internal/protoconv"
)

// Enablement implements enablement.Store.
type Enablement struct{ pool *pgxpool.Pool }

// Enablement returns the enablement store on the same pool.
func (s *Store) Enablement() *Enablement { return &Enablement{pool: s.pool} }

const checklistSQL = `SELECT steps, revision FROM onboarding_checklists WHERE tenant_id = $1`

func scanChecklist(row pgx.CollectableRow) (enablement.Checklist, error) {
	var c enablement.Checklist
	err := row.Scan(&c.Steps, &c.Revision)
	return c, err
}

// Checklist implements enablement.Store; a tenant that never set one has
// an empty checklist at revision 0.
func (s *Enablement) Checklist(ctx context.Context, caller auth.Caller) (enablement.Checklist, error) {
	c, err := pgdb.Row(ctx, s.pool, caller.TenantID, checklistSQL, []any{caller.TenantID}, scanChecklist)
	if errors.Is(err, pgx.ErrNoRows) {
		return enablement.Checklist{}, nil
	}
	if err != nil {
		return enablement.Checklist{}, fmt.Errorf("get onboarding checklist: %w", err)
	}
	return c, nil
}

const (
	ensureChecklistSQL = `INSERT INTO onboarding_checklists (tenant_id, revision) VALUES ($1, 0) ON CONFLICT (tenant_id) DO NOTHING`
	lockChecklistSQL   = checklistSQL + ` FOR UPDATE`
	saveChecklistSQL   = `UPDATE onboarding_checklists SET steps = $2, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 RETURNING steps, revision`
)

// UpdateChecklist implements enablement.Store.
func (s *Enablement) UpdateChecklist(ctx context.Context, caller auth.Caller, change func(*enablement.Checklist) error) (enablement.Checklist, error) {
	var saved enablement.Checklist
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, ensureChecklistSQL, caller.TenantID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, lockChecklistSQL, caller.TenantID)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanChecklist)
		if err != nil {
			return err
		}
		next := before
		if err := change(&next); err != nil {
			return err
		}
		steps := next.Steps
		if steps == nil {
			steps = []string{}
		}
		rows, err = tx.Query(ctx, saveChecklistSQL, caller.TenantID, steps)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanChecklist); err != nil {
			return err
		}
		c := outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: enablement.EventChecklistUpdated,
			Resource: "onboardingChecklist", After: protoconv.OnboardingChecklist(saved),
		}
		if before.Revision > 0 {
			c.Before = protoconv.OnboardingChecklist(before)
		}
		return outbox.Record(ctx, tx, c)
	})
	if err != nil {
		return enablement.Checklist{}, fmt.Errorf("update onboarding checklist: %w", err)
	}
	return saved, nil
}

const progressSQL = `SELECT step, completed_by, complete_time FROM onboarding_progress WHERE tenant_id = $1 AND partner_id = $2`

// Onboarding implements enablement.Store. The partner is read first, so
// one the caller may not see is not found rather than without progress.
func (s *Enablement) Onboarding(ctx context.Context, caller auth.Caller, partner uuid.UUID) (map[string]enablement.Step, error) {
	if _, err := pgdb.Row(ctx, s.pool, caller.TenantID, visiblePartnerSQL, []any{caller.TenantID, partner}, pgx.RowTo[string]); errors.Is(err, pgx.ErrNoRows) {
		return nil, enablement.ErrPartnerNotFound
	} else if err != nil {
		return nil, fmt.Errorf("get partner %s: %w", partner, err)
	}
	steps, err := pgdb.Rows(ctx, s.pool, caller.TenantID, progressSQL, []any{caller.TenantID, partner}, func(row pgx.CollectableRow) (enablement.Step, error) {
		st := enablement.Step{Done: true}
		err := row.Scan(&st.Name, &st.CompletedBy, &st.CompleteTime)
		return st, err
	})
	if err != nil {
		return nil, fmt.Errorf("onboarding of partner %s: %w", partner, err)
	}
	out := make(map[string]enablement.Step, len(steps))
	for _, st := range steps {
		out[st.Name] = st
	}
	return out, nil
}

const completeStepSQL = `
INSERT INTO onboarding_progress (tenant_id, partner_id, step, completed_by) VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id, partner_id, step) DO NOTHING`

// CompleteStep implements enablement.Store; a step done before changes
// nothing and records no second event.
func (s *Enablement) CompleteStep(ctx context.Context, caller auth.Caller, partner uuid.UUID, step string) error {
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, partnerByIDSQL, caller.TenantID, partner)
		if err != nil {
			return err
		}
		p, err := pgx.CollectExactlyOneRow(rows, scanPartner)
		if errors.Is(err, pgx.ErrNoRows) {
			return enablement.ErrPartnerNotFound
		}
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, completeStepSQL, caller.TenantID, partner, step, caller.PrincipalID)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: enablement.EventStepCompleted,
			Resource: p.Resource(), After: protoconv.Partner(p),
		})
	})
	if err != nil {
		return fmt.Errorf("complete onboarding step of partner %s: %w", partner, err)
	}
	return nil
}

const courseColumns = `training_course_id, display_name, certification, validity_days, passing_score, create_time`

func scanCourse(row pgx.CollectableRow) (enablement.Course, error) {
	var c enablement.Course
	err := row.Scan(&c.ID, &c.DisplayName, &c.Certification, &c.ValidityDays, &c.PassingScore, &c.CreateTime)
	return c, err
}

const (
	insertCourseSQL = `
INSERT INTO training_courses (tenant_id, training_course_id, display_name, certification, validity_days, passing_score, request_id)
VALUES ($1, $2, $3, $4, $5, $6, nullif($7, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + courseColumns
	courseByRequestSQL = `SELECT ` + courseColumns + ` FROM training_courses WHERE tenant_id = $1 AND request_id = $2`
	courseByIDSQL      = `SELECT ` + courseColumns + ` FROM training_courses WHERE tenant_id = $1 AND training_course_id = $2`
)

// CreateCourse implements enablement.Store.
func (s *Enablement) CreateCourse(ctx context.Context, caller auth.Caller, c enablement.Course, requestID string) (enablement.Course, error) {
	var saved enablement.Course
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var created bool
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertCourseSQL,
			[]any{caller.TenantID, c.ID, c.DisplayName, c.Certification, c.ValidityDays, c.PassingScore, requestID},
			courseByRequestSQL, []any{caller.TenantID, requestID}, scanCourse)
		if err != nil || !created {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: enablement.EventCourseCreated,
			Resource: saved.Resource(), After: protoconv.TrainingCourse(saved),
		})
	})
	if err != nil {
		return enablement.Course{}, fmt.Errorf("create training course: %w", err)
	}
	return saved, nil
}

var listCourses = keyset.Query[enablement.Course]{
	Table: "training_courses", Columns: courseColumns, IDColumn: "training_course_id", Scan: scanCourse,
	Fields: map[string]sqlfilter.Field{},
	Key:    func(c enablement.Course) (time.Time, uuid.UUID) { return c.CreateTime, c.ID },
}

// ListCourses implements enablement.Store.
func (s *Enablement) ListCourses(ctx context.Context, caller auth.Caller, q enablement.ListQuery) (enablement.CoursePage, error) {
	rows, next, err := keyset.NewestFirst(ctx, s.pool, caller.TenantID, listCourses, "", q.PageToken, q.PageSize)
	if err != nil {
		return enablement.CoursePage{}, err
	}
	return enablement.CoursePage{Courses: rows, NextPageToken: next}, nil
}

const completionColumns = `course_completion_id, training_course_id, partner_id, learner_id, completion_date, score,
coalesce(certification_id, '00000000-0000-0000-0000-000000000000'), recorded_by, create_time`

func scanCompletion(row pgx.CollectableRow) (enablement.Completion, error) {
	var c enablement.Completion
	err := row.Scan(&c.ID, &c.CourseID, &c.PartnerID, &c.LearnerID, &c.CompletionDate, &c.Score, &c.CertificationID, &c.RecordedBy, &c.CreateTime)
	return c, err
}

const (
	completionByRequestSQL = `SELECT ` + completionColumns + ` FROM course_completions WHERE tenant_id = $1 AND request_id = $2`
	insertCompletionSQL    = `
INSERT INTO course_completions (tenant_id, course_completion_id, training_course_id, partner_id, learner_id, completion_date, score,
    certification_id, recorded_by, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, nullif($10, ''))
RETURNING ` + completionColumns
	grantCertificationSQL = `
INSERT INTO certifications (tenant_id, certification_id, partner_id, name, earn_date, expire_date, recorded_by)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING ` + certificationColumns
)

// CreateCompletion implements enablement.Store. An earlier completion with
// the same request id is returned before anything else is read, so a retry
// grants nothing twice.
func (s *Enablement) CreateCompletion(ctx context.Context, caller auth.Caller, c enablement.Completion, grant func(enablement.Course) *enablement.Grant, requestID string) (enablement.Completion, error) {
	var saved enablement.Completion
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if requestID != "" {
			rows, err := tx.Query(ctx, completionByRequestSQL, caller.TenantID, requestID)
			if err != nil {
				return err
			}
			if earlier, err := pgx.CollectExactlyOneRow(rows, scanCompletion); err == nil {
				saved = earlier
				return nil
			} else if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		rows, err := tx.Query(ctx, courseByIDSQL, caller.TenantID, c.CourseID)
		if err != nil {
			return err
		}
		course, err := pgx.CollectExactlyOneRow(rows, scanCourse)
		if errors.Is(err, pgx.ErrNoRows) {
			return enablement.ErrCourseNotFound
		}
		if err != nil {
			return err
		}
		var tier string
		if err := tx.QueryRow(ctx, visiblePartnerSQL, caller.TenantID, c.PartnerID).Scan(&tier); errors.Is(err, pgx.ErrNoRows) {
			return enablement.ErrPartnerNotFound
		} else if err != nil {
			return err
		}
		if g := grant(course); g != nil {
			rows, err := tx.Query(ctx, grantCertificationSQL, caller.TenantID, g.ID, c.PartnerID, g.Name, g.EarnDate, nullTime(g.ExpireDate), caller.PrincipalID)
			if err != nil {
				return err
			}
			cert, err := pgx.CollectExactlyOneRow(rows, scanCertification)
			if err != nil {
				return fmt.Errorf("grant certification: %w", err)
			}
			c.CertificationID = cert.ID
			if err := outbox.Record(ctx, tx, outbox.Change{
				TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: enablement.EventCertificationGranted,
				Resource: cert.Resource(), After: protoconv.Certification(cert),
			}); err != nil {
				return err
			}
		}
		rows, err = tx.Query(ctx, insertCompletionSQL, caller.TenantID, c.ID, c.CourseID, c.PartnerID, c.LearnerID, c.CompletionDate, c.Score,
			nullID(c.CertificationID), c.RecordedBy, requestID)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanCompletion); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: enablement.EventCompleted,
			Resource: saved.Resource(), After: protoconv.CourseCompletion(saved),
		})
	})
	if err != nil {
		return enablement.Completion{}, fmt.Errorf("record course completion: %w", err)
	}
	return saved, nil
}

var listCompletions = keyset.Query[enablement.Completion]{
	Table: "course_completions", Columns: completionColumns, IDColumn: "course_completion_id", Scan: scanCompletion,
	Fields: map[string]sqlfilter.Field{
		"partner_id":         {Column: "partner_id", Kind: sqlfilter.UUID},
		"training_course_id": {Column: "training_course_id", Kind: sqlfilter.UUID},
	},
	Key: func(c enablement.Completion) (time.Time, uuid.UUID) { return c.CreateTime, c.ID },
}

// ListCompletions implements enablement.Store.
func (s *Enablement) ListCompletions(ctx context.Context, caller auth.Caller, q enablement.ListQuery) (enablement.CompletionPage, error) {
	rows, next, err := keyset.NewestFirst(ctx, s.pool, caller.TenantID, listCompletions, q.Filter, q.PageToken, q.PageSize)
	if err != nil {
		return enablement.CompletionPage{}, err
	}
	return enablement.CompletionPage{Completions: rows, NextPageToken: next}, nil
}
