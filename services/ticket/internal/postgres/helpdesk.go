package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/services/ticket/internal/protoconv"
	"github.com/rapportcrm/rapport/services/ticket/internal/ticket"
)

const messageColumns = `message_id, ticket_id, visibility, author_kind, author_id, body, attachments, create_time`

func scanMessage(row pgx.CollectableRow) (ticket.Message, error) {
	var m ticket.Message
	err := row.Scan(&m.ID, &m.TicketID, &m.Visibility, &m.AuthorKind, &m.AuthorID, &m.Body, &m.Attachments, &m.CreateTime)
	return m, err
}

const insertMessageSQL = `
INSERT INTO ticket_messages (tenant_id, ticket_id, message_id, visibility, author_kind, author_id, body, attachments, request_id, create_time)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, ''), $10)
ON CONFLICT (tenant_id, ticket_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + messageColumns

const messageByRequestSQL = `SELECT ` + messageColumns + ` FROM ticket_messages
WHERE tenant_id = $1 AND ticket_id = $2 AND request_id = $3`

// AddMessage implements ticket.ConversationStore. The ticket's row lock is
// the transaction's first write and orders the ticket's events.
func (s *Store) AddMessage(ctx context.Context, caller auth.Caller, m ticket.Message, requestID string, touch ticket.Mutation) (ticket.Message, error) {
	var saved ticket.Message
	if m.Attachments == nil {
		m.Attachments = []ticket.Attachment{}
	}
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := lockTicket(ctx, tx, caller.TenantID, m.TicketID)
		if err != nil {
			return err
		}
		var inserted bool
		saved, inserted, err = pgdb.InsertOnce(ctx, tx, insertMessageSQL,
			[]any{caller.TenantID, m.TicketID, m.ID, m.Visibility, m.AuthorKind, m.AuthorID, m.Body, m.Attachments, requestID, m.CreateTime},
			messageByRequestSQL, []any{caller.TenantID, m.TicketID, requestID}, scanMessage)
		if err != nil || !inserted {
			return err
		}
		if err := outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: ticket.EventMessageCreated, Resource: saved.Resource(), After: protoconv.Message(saved)}); err != nil {
			return err
		}
		t := copyTicket(before)
		event, err := touch(&t)
		if err != nil || event == "" {
			return err
		}
		_, err = save(ctx, tx, caller.TenantID, caller.PrincipalID, before, t, event)
		return err
	})
	if err != nil {
		return ticket.Message{}, fmt.Errorf("add message to ticket %s: %w", m.TicketID, err)
	}
	return saved, nil
}

const listMessagesSQL = `SELECT ` + messageColumns + ` FROM ticket_messages
WHERE tenant_id = $1 AND ticket_id = $2 AND message_id > $3
ORDER BY message_id LIMIT $4`

const listPublicMessagesSQL = `SELECT ` + messageColumns + ` FROM ticket_messages
WHERE tenant_id = $1 AND ticket_id = $2 AND message_id > $3 AND visibility = 1
ORDER BY message_id LIMIT $4`

// Messages implements ticket.ConversationStore.
func (s *Store) Messages(ctx context.Context, caller auth.Caller, ticketID uuid.UUID, publicOnly bool, pageSize int, pageToken string) ([]ticket.Message, string, error) {
	sql, kind := listMessagesSQL, "messages"
	if publicOnly {
		sql, kind = listPublicMessagesSQL, "publicMessages"
	}
	return childPage(ctx, s, caller, ticketID, kind, sql, pageSize, pageToken, scanMessage,
		func(m ticket.Message) uuid.UUID { return m.ID })
}

// publicMessagesSQL reads the public conversation of a page of tickets
// along the primary key.
const publicMessagesSQL = `SELECT ` + messageColumns + ` FROM ticket_messages
WHERE tenant_id = $1 AND ticket_id = ANY($2) AND visibility = 1
ORDER BY ticket_id, message_id`

// PublicMessages implements ticket.ConversationStore.
func (s *Store) PublicMessages(ctx context.Context, caller auth.Caller, ticketIDs []uuid.UUID) (map[uuid.UUID][]ticket.Message, error) {
	out := map[uuid.UUID][]ticket.Message{}
	if len(ticketIDs) == 0 {
		return out, nil
	}
	ms, err := pgdb.Rows(ctx, s.pool, caller.TenantID, publicMessagesSQL, []any{caller.TenantID, ticketIDs}, scanMessage)
	if err != nil {
		return nil, fmt.Errorf("public messages of %d tickets: %w", len(ticketIDs), err)
	}
	for _, m := range ms {
		out[m.TicketID] = append(out[m.TicketID], m)
	}
	return out, nil
}

const surveyColumns = `survey_id, ticket_id, token_hash, expire_time, coalesce(score, 0), comment, answer_time, create_time`

func scanSurvey(row pgx.CollectableRow) (ticket.Survey, error) {
	var s ticket.Survey
	err := row.Scan(&s.ID, &s.TicketID, &s.TokenHash, &s.ExpireTime, &s.Score, &s.Comment, &s.AnswerTime, &s.CreateTime)
	return s, err
}

const insertSurveySQL = `
INSERT INTO csat_surveys (tenant_id, survey_id, ticket_id, token_hash, expire_time, score, comment, answer_time, create_time)
VALUES ($1, $2, $3, $4, $5, nullif($6, 0), $7, $8, $9)
ON CONFLICT (tenant_id, ticket_id) DO NOTHING
RETURNING ` + surveyColumns

// createSurvey inserts sv unless its ticket has a survey, recording the
// creation when it did.
func createSurvey(ctx context.Context, tx pgx.Tx, tenant, principal string, sv ticket.Survey) error {
	rows, err := tx.Query(ctx, insertSurveySQL, tenant, sv.ID, sv.TicketID, sv.TokenHash, sv.ExpireTime, sv.Score, sv.Comment, sv.AnswerTime, sv.CreateTime)
	if err != nil {
		return err
	}
	saved, err := pgx.CollectExactlyOneRow(rows, scanSurvey)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return outbox.Record(ctx, tx, outbox.Change{TenantID: tenant, PrincipalID: principal, Type: ticket.EventSurveyCreated,
		Resource: saved.Resource(), After: protoconv.Survey(saved)})
}

// publicSurveySQL joins only the ticket's subject and resolution time: the
// conversation never reaches a survey link.
const publicSurveySQL = `
SELECT s.survey_id, s.ticket_id, s.token_hash, s.expire_time, coalesce(s.score, 0), s.comment, s.answer_time, s.create_time,
    t.subject, t.resolve_time
FROM csat_surveys s JOIN tickets t ON t.tenant_id = s.tenant_id AND t.ticket_id = s.ticket_id
WHERE s.tenant_id = $1 AND s.survey_id = $2`

func scanPublicSurvey(row pgx.CollectableRow) (ticket.PublicSurvey, error) {
	var p ticket.PublicSurvey
	s := &p.Survey
	err := row.Scan(&s.ID, &s.TicketID, &s.TokenHash, &s.ExpireTime, &s.Score, &s.Comment, &s.AnswerTime, &s.CreateTime, &p.Subject, &p.ResolveTime)
	return p, err
}

// PublicSurvey implements ticket.SurveyStore. It runs without a principal:
// the token, checked by the caller, stands for the customer.
func (s *Store) PublicSurvey(ctx context.Context, tenant, id uuid.UUID) (ticket.PublicSurvey, error) {
	p, err := pgdb.Row(ctx, s.pool, tenant.String(), publicSurveySQL, []any{tenant, id}, scanPublicSurvey)
	if errors.Is(err, pgx.ErrNoRows) {
		return ticket.PublicSurvey{}, ticket.ErrSurveyNotFound
	}
	if err != nil {
		return ticket.PublicSurvey{}, fmt.Errorf("get survey %s: %w", id, err)
	}
	return p, nil
}

const lockSurveySQL = `SELECT ` + surveyColumns + ` FROM csat_surveys WHERE tenant_id = $1 AND survey_id = $2 FOR UPDATE`

const lockTicketSurveySQL = `SELECT ` + surveyColumns + ` FROM csat_surveys WHERE tenant_id = $1 AND ticket_id = $2 FOR UPDATE`

const saveSurveySQL = `
UPDATE csat_surveys SET token_hash = $3, score = nullif($4, 0), comment = $5, answer_time = $6
WHERE tenant_id = $1 AND survey_id = $2
RETURNING ` + surveyColumns

// changeSurvey locks the survey lockSQL finds, applies m and saves it with event.
func changeSurvey(ctx context.Context, tx pgx.Tx, tenant, principal, lockSQL string, key uuid.UUID, event string, m func(*ticket.Survey) error) (ticket.Survey, error) {
	rows, err := tx.Query(ctx, lockSQL, tenant, key)
	if err != nil {
		return ticket.Survey{}, err
	}
	before, err := pgx.CollectExactlyOneRow(rows, scanSurvey)
	if errors.Is(err, pgx.ErrNoRows) {
		return ticket.Survey{}, ticket.ErrSurveyNotFound
	}
	if err != nil {
		return ticket.Survey{}, err
	}
	sv := before
	if err := m(&sv); err != nil {
		return ticket.Survey{}, err
	}
	if rows, err = tx.Query(ctx, saveSurveySQL, tenant, sv.ID, sv.TokenHash, sv.Score, sv.Comment, sv.AnswerTime); err != nil {
		return ticket.Survey{}, err
	}
	saved, err := pgx.CollectExactlyOneRow(rows, scanSurvey)
	if err != nil {
		return ticket.Survey{}, err
	}
	return saved, outbox.Record(ctx, tx, outbox.Change{TenantID: tenant, PrincipalID: principal, Type: event,
		Resource: saved.Resource(), Before: protoconv.Survey(before), After: protoconv.Survey(saved)})
}

const surveyCustomerSQL = `SELECT customer_id FROM tickets WHERE tenant_id = $1 AND ticket_id = $2`

// AnswerSurvey implements ticket.SurveyStore. A detractor's answer records
// its detractor event in the same transaction.
func (s *Store) AnswerSurvey(ctx context.Context, tenant, id uuid.UUID, answer func(*ticket.Survey) error) (ticket.PublicSurvey, error) {
	err := pgdb.InTx(ctx, s.pool, tenant.String(), func(tx pgx.Tx) error {
		saved, err := changeSurvey(ctx, tx, tenant.String(), ticket.SurveyPrincipal, lockSurveySQL, id, ticket.EventSurveyAnswered, answer)
		if err != nil || !ticket.IsCSATDetractor(saved.Score) {
			return err
		}
		d := ticket.Detractor{SourceID: saved.ID, Kind: ticket.KindCSAT, TicketID: saved.TicketID, Score: saved.Score}
		if err := tx.QueryRow(ctx, surveyCustomerSQL, tenant, saved.TicketID).Scan(&d.CustomerID); err != nil {
			return err
		}
		return recordDetractor(ctx, tx, tenant.String(), ticket.SurveyPrincipal, d)
	})
	if err != nil {
		return ticket.PublicSurvey{}, fmt.Errorf("answer survey %s: %w", id, err)
	}
	return s.PublicSurvey(ctx, tenant, id)
}

// recordDetractor emits d's event, which the customer service turns into
// the customer's follow-up.
func recordDetractor(ctx context.Context, tx pgx.Tx, tenant, principal string, d ticket.Detractor) error {
	return outbox.Record(ctx, tx, outbox.Change{TenantID: tenant, PrincipalID: principal,
		Type: ticket.EventDetractorRecorded, Resource: d.Resource(), After: protoconv.Detractor(d)})
}

// IssueSurveyLink implements ticket.SurveyStore. Reading the ticket first
// applies the caller's record access.
func (s *Store) IssueSurveyLink(ctx context.Context, caller auth.Caller, ticketID uuid.UUID, issue func(*ticket.Survey) error) (ticket.Survey, error) {
	var saved ticket.Survey
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if _, err := lockTicket(ctx, tx, caller.TenantID, ticketID); err != nil {
			return err
		}
		var err error
		saved, err = changeSurvey(ctx, tx, caller.TenantID, caller.PrincipalID, lockTicketSurveySQL, ticketID, ticket.EventSurveyIssued, issue)
		return err
	})
	if err != nil {
		return ticket.Survey{}, fmt.Errorf("issue survey link of ticket %s: %w", ticketID, err)
	}
	return saved, nil
}

// qualitySQL computes the figures of tickets created in [$2, $3), grouped
// by assignee ($4 false) or queue ($4 true). Percentiles are exact
// (percentile_cont over every ticket's stored times, NULLs ignored).
// Resolved means resolved at least once; a reopen is a transition to
// reopened; a first-contact resolution is a resolved, never reopened ticket
// with at most one public agent reply.
const qualitySQL = `
WITH t AS (
    SELECT CASE WHEN $4 THEN t.queue_id ELSE t.assignee_id END AS g,
        extract(epoch FROM t.first_response_time - t.create_time) AS frt,
        extract(epoch FROM t.resolve_time - t.create_time) AS rt,
        t.resolve_time IS NOT NULL AS resolved,
        (t.sla_first_response_target > 0 OR t.sla_resolution_target > 0) AS has_sla,
        (t.first_response_breached_time IS NOT NULL OR t.resolution_breached_time IS NOT NULL) AS breached,
        EXISTS (SELECT 1 FROM ticket_transitions r
                WHERE r.tenant_id = t.tenant_id AND r.ticket_id = t.ticket_id AND r.to_status = 7) AS reopened,
        (SELECT count(*) FROM ticket_messages m
         WHERE m.tenant_id = t.tenant_id AND m.ticket_id = t.ticket_id AND m.visibility = 1 AND m.author_kind = 1) AS replies,
        c.score
    FROM tickets t
    LEFT JOIN csat_surveys c ON c.tenant_id = t.tenant_id AND c.ticket_id = t.ticket_id
    WHERE t.tenant_id = $1 AND t.create_time >= $2 AND t.create_time < $3
)
SELECT g, count(*), count(*) FILTER (WHERE resolved),
    coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY frt), 0),
    coalesce(percentile_cont(0.9) WITHIN GROUP (ORDER BY frt), 0),
    coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY rt), 0),
    coalesce(percentile_cont(0.9) WITHIN GROUP (ORDER BY rt), 0),
    count(*) FILTER (WHERE has_sla), count(*) FILTER (WHERE has_sla AND NOT breached),
    coalesce(avg(score), 0)::float8, count(score),
    count(*) FILTER (WHERE resolved AND reopened),
    count(*) FILTER (WHERE resolved AND NOT reopened AND replies <= 1)
FROM t
GROUP BY g
ORDER BY g NULLS LAST`

func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond)
}

// Quality implements ticket.QualityStore. Record access applies: an agent
// gets the figures of the tickets it may see.
func (s *Store) Quality(ctx context.Context, caller auth.Caller, q ticket.QualityQuery) ([]ticket.Figures, error) {
	out, err := pgdb.Rows(ctx, s.pool, caller.TenantID, qualitySQL, []any{caller.TenantID, q.Start, q.End, q.GroupBy == ticket.GroupQueue},
		func(row pgx.CollectableRow) (ticket.Figures, error) {
			var f ticket.Figures
			var g uuid.NullUUID
			var fr50, fr90, r50, r90 float64
			err := row.Scan(&g, &f.Tickets, &f.Resolved, &fr50, &fr90, &r50, &r90, &f.SLATickets, &f.SLAMet,
				&f.CSATAverage, &f.CSATAnswers, &f.Reopened, &f.FirstContact)
			f.GroupID = g.UUID
			f.FirstResponseP50, f.FirstResponseP90, f.ResolutionP50, f.ResolutionP90 = seconds(fr50), seconds(fr90), seconds(r50), seconds(r90)
			return f, err
		})
	if err != nil {
		return nil, fmt.Errorf("compute quality figures: %w", err)
	}
	return out, nil
}

const externalIDSQL = `SELECT ticket_id FROM tickets WHERE tenant_id = $1 AND external_id = $2`

// Import implements ticket.ImportStore: one transaction for the batch, so a
// failed batch leaves nothing behind and its retry imports it whole.
func (s *Store) Import(ctx context.Context, caller auth.Caller, rows []ticket.Imported) ([]ticket.ImportResult, error) {
	var out []ticket.ImportResult
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		out = make([]ticket.ImportResult, len(rows))
		for i, r := range rows {
			res := ticket.ImportResult{ExternalID: r.ExternalID}
			saved, inserted, err := pgdb.InsertOnce(ctx, tx, importTicketSQL, insertArgs(caller.TenantID, r.Ticket, ""),
				externalIDSQL, []any{caller.TenantID, r.ExternalID}, func(row pgx.CollectableRow) (ticket.Ticket, error) {
					if len(row.FieldDescriptions()) == 1 {
						var t ticket.Ticket
						return t, row.Scan(&t.ID)
					}
					return scanTicket(row)
				})
			if err != nil {
				return err
			}
			res.TicketID, res.Created = saved.ID, inserted
			out[i] = res
			if !inserted {
				continue
			}
			if err := outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
				Type: ticket.EventImported, Resource: saved.Resource(), After: protoconv.Ticket(saved)}); err != nil {
				return err
			}
			if r.CSATScore == 0 {
				continue
			}
			if err := createSurvey(ctx, tx, caller.TenantID, caller.PrincipalID, ticket.ImportedSurvey(saved, r.CSATScore)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("import tickets: %w", err)
	}
	return out, nil
}
