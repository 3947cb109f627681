package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/services/ticket/internal/protoconv"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

// npsColumns reads a survey with its answers counted by class; the primary
// key of nps_recipients makes the count one range scan.
const npsColumns = `s.nps_survey_id, s.display_name, s.segment_id, s.recipient_count, s.create_time,
    (SELECT count(*) FILTER (WHERE r.score >= 9) FROM nps_recipients r WHERE r.tenant_id = s.tenant_id AND r.nps_survey_id = s.nps_survey_id),
    (SELECT count(*) FILTER (WHERE r.score BETWEEN 7 AND 8) FROM nps_recipients r WHERE r.tenant_id = s.tenant_id AND r.nps_survey_id = s.nps_survey_id),
    (SELECT count(*) FILTER (WHERE r.score <= 6) FROM nps_recipients r WHERE r.tenant_id = s.tenant_id AND r.nps_survey_id = s.nps_survey_id)`

func scanNPS(row pgx.CollectableRow) (ticket.NPSSurvey, error) {
	var s ticket.NPSSurvey
	err := row.Scan(&s.ID, &s.DisplayName, &s.SegmentID, &s.RecipientCount, &s.CreateTime, &s.Promoters, &s.Passives, &s.Detractors)
	return s, err
}

const insertNPSSQL = `
WITH s AS (
    INSERT INTO nps_surveys (tenant_id, nps_survey_id, display_name, segment_id, recipient_count, request_id)
    VALUES ($1, $2, $3, $4, $5, nullif($6, ''))
    ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
    RETURNING *
)
SELECT s.nps_survey_id, s.display_name, s.segment_id, s.recipient_count, s.create_time, 0::bigint, 0::bigint, 0::bigint FROM s`

const npsByRequestSQL = `SELECT ` + npsColumns + ` FROM nps_surveys s WHERE s.tenant_id = $1 AND s.request_id = $2`

const insertRecipientsSQL = `
INSERT INTO nps_recipients (tenant_id, nps_survey_id, customer_id)
SELECT $1, $2, c FROM unnest($3::uuid[]) AS c
ON CONFLICT DO NOTHING`

// CreateNPSSurvey implements ticket.NPSStore.
func (s *Store) CreateNPSSurvey(ctx context.Context, caller auth.Caller, in ticket.NPSSurvey, recipients []uuid.UUID, requestID string) (ticket.NPSSurvey, error) {
	var saved ticket.NPSSurvey
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var inserted bool
		var err error
		saved, inserted, err = pgdb.InsertOnce(ctx, tx, insertNPSSQL,
			[]any{caller.TenantID, in.ID, in.DisplayName, in.SegmentID, in.RecipientCount, requestID},
			npsByRequestSQL, []any{caller.TenantID, requestID}, scanNPS)
		if err != nil || !inserted {
			return err
		}
		if _, err := tx.Exec(ctx, insertRecipientsSQL, caller.TenantID, saved.ID, recipients); err != nil {
			return err
		}
		return record(ctx, tx, caller, ticket.EventNPSSurveyCreated, saved.Resource(), nil, protoconv.NPSSurvey(saved))
	})
	if err != nil {
		return ticket.NPSSurvey{}, fmt.Errorf("create NPS survey: %w", err)
	}
	return saved, nil
}

const npsByIDSQL = `SELECT ` + npsColumns + ` FROM nps_surveys s WHERE s.tenant_id = $1 AND s.nps_survey_id = $2`

// NPSSurvey implements ticket.NPSStore.
func (s *Store) NPSSurvey(ctx context.Context, caller auth.Caller, id uuid.UUID) (ticket.NPSSurvey, error) {
	out, err := pgdb.Row(ctx, s.pool, caller.TenantID, npsByIDSQL, []any{caller.TenantID, id}, scanNPS)
	if errors.Is(err, pgx.ErrNoRows) {
		return ticket.NPSSurvey{}, ticket.ErrNPSSurveyNotFound
	}
	if err != nil {
		return ticket.NPSSurvey{}, fmt.Errorf("get NPS survey %s: %w", id, err)
	}
	return out, nil
}

const answerNPSSQL = `
UPDATE nps_recipients SET score = $4, comment = $5, answer_time = $6, response_id = $7
WHERE tenant_id = $1 AND nps_survey_id = $2 AND customer_id = $3 AND answer_time IS NULL`

const recipientStateSQL = `
SELECT EXISTS (SELECT 1 FROM nps_surveys WHERE tenant_id = $1 AND nps_survey_id = $2),
       EXISTS (SELECT 1 FROM nps_recipients WHERE tenant_id = $1 AND nps_survey_id = $2 AND customer_id = $3)`

// AnswerNPS implements ticket.NPSStore. The conditional update settles
// concurrent answers of one recipient: one finds it unanswered.
func (s *Store) AnswerNPS(ctx context.Context, caller auth.Caller, r ticket.NPSResponse) (ticket.NPSResponse, error) {
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, answerNPSSQL, caller.TenantID, r.SurveyID, r.CustomerID, r.Score, r.Comment, r.AnswerTime, r.ID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var survey, recipient bool
			if err := tx.QueryRow(ctx, recipientStateSQL, caller.TenantID, r.SurveyID, r.CustomerID).Scan(&survey, &recipient); err != nil {
				return err
			}
			switch {
			case !survey:
				return ticket.ErrNPSSurveyNotFound
			case !recipient:
				return ticket.ErrNotRecipient
			}
			return ticket.ErrNPSAnswered
		}
		if err := outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: ticket.EventNPSAnswered, Resource: "npsSurveys/" + r.SurveyID.String() + "/responses/" + r.CustomerID.String(),
			After: protoconv.NPSResponse(r)}); err != nil {
			return err
		}
		if !ticket.IsNPSDetractor(r.Score) {
			return nil
		}
		return recordDetractor(ctx, tx, caller.TenantID, caller.PrincipalID,
			ticket.Detractor{SourceID: r.ID, Kind: ticket.KindNPS, CustomerID: r.CustomerID, Score: r.Score})
	})
	if err != nil {
		return ticket.NPSResponse{}, fmt.Errorf("answer NPS survey %s: %w", r.SurveyID, err)
	}
	return r, nil
}
