package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	integrationv1 "github.com/rapportcrm/rapport/gen/go/rapport/integration/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/keyset"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/services/integration/internal/email"
	"github.com/rapportcrm/rapport/services/integration/internal/protoconv"
)

// Emails implements email.Store and email.WorkerStore.
type Emails struct{ pool *pgxpool.Pool }

// Emails returns the e-mail store on the same pool.
func (s *Store) Emails() *Emails { return &Emails{pool: s.pool} }

const templateColumns = `template_id, display_name, purpose, default_locale, variants, version, create_time, update_time`

func scanTemplate(row pgx.CollectableRow) (email.Template, error) {
	var t email.Template
	var variants []byte
	if err := row.Scan(&t.ID, &t.DisplayName, &t.Purpose, &t.DefaultLocale, &variants, &t.Version, &t.CreateTime, &t.UpdateTime); err != nil {
		return t, err
	}
	return t, json.Unmarshal(variants, &t.Variants)
}

const (
	insertTemplateSQL = `
INSERT INTO email_templates (tenant_id, template_id, display_name, purpose, default_locale, variants, request_id)
VALUES ($1, $2, $3, $4, $5, $6, nullif($7, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + templateColumns
	templateByRequestSQL = `SELECT ` + templateColumns + ` FROM email_templates WHERE tenant_id = $1 AND request_id = $2`
	templateByIDSQL      = `SELECT ` + templateColumns + ` FROM email_templates WHERE tenant_id = $1 AND template_id = $2`
	lockTemplateSQL      = templateByIDSQL + ` FOR UPDATE`
	updateTemplateSQL    = `
UPDATE email_templates SET display_name = $3, purpose = $4, default_locale = $5, variants = $6,
    version = version + 1, update_time = now()
WHERE tenant_id = $1 AND template_id = $2
RETURNING ` + templateColumns
	deleteTemplateSQL = `DELETE FROM email_templates WHERE tenant_id = $1 AND template_id = $2`
)

func (s *Emails) record(ctx context.Context, tx pgx.Tx, caller auth.Caller, event string, before *email.Template, t email.Template) error {
	c := outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: event, Resource: t.Resource(), After: protoconv.EmailTemplate(t)}
	if before != nil {
		c.Before = protoconv.EmailTemplate(*before)
	}
	return outbox.Record(ctx, tx, c)
}

// CreateTemplate implements email.Store.
func (s *Emails) CreateTemplate(ctx context.Context, caller auth.Caller, t email.Template, requestID string) (email.Template, error) {
	var saved email.Template
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		variants, err := json.Marshal(t.Variants)
		if err != nil {
			return err
		}
		var created bool
		saved, created, err = pgdb.InsertOnce(ctx, tx,
			insertTemplateSQL, []any{caller.TenantID, t.ID, t.DisplayName, t.Purpose, t.DefaultLocale, variants, requestID},
			templateByRequestSQL, []any{caller.TenantID, requestID}, scanTemplate)
		if err != nil || !created {
			return err
		}
		return s.record(ctx, tx, caller, email.EventTemplateCreated, nil, saved)
	})
	if err != nil {
		return email.Template{}, fmt.Errorf("create e-mail template: %w", err)
	}
	return saved, nil
}

// Template implements email.Store.
func (s *Emails) Template(ctx context.Context, caller auth.Caller, id uuid.UUID) (email.Template, error) {
	t, err := pgdb.Row(ctx, s.pool, caller.TenantID, templateByIDSQL, []any{caller.TenantID, id}, scanTemplate)
	if errors.Is(err, pgx.ErrNoRows) {
		return email.Template{}, email.ErrTemplateNotFound
	}
	if err != nil {
		return email.Template{}, fmt.Errorf("get e-mail template %s: %w", id, err)
	}
	return t, nil
}

var listTemplates = keyset.Query[email.Template]{
	Table: "email_templates", Columns: templateColumns, IDColumn: "template_id",
	Fields: map[string]sqlfilter.Field{"purpose": {Column: "purpose", Kind: sqlfilter.Enum, Enum: integrationv1.EmailPurpose_value}},
	Scan:   scanTemplate,
	Key:    func(t email.Template) (time.Time, uuid.UUID) { return t.CreateTime, t.ID },
}

// Templates implements email.Store.
func (s *Emails) Templates(ctx context.Context, caller auth.Caller, q email.ListQuery) (email.TemplatePage, error) {
	rows, next, err := keyset.NewestFirst(ctx, s.pool, caller.TenantID, listTemplates, q.Filter, q.PageToken, q.PageSize)
	if err != nil {
		return email.TemplatePage{}, err
	}
	return email.TemplatePage{Templates: rows, NextPageToken: next}, nil
}

func lockTemplate(ctx context.Context, tx pgx.Tx, tenant string, id uuid.UUID) (email.Template, error) {
	rows, err := tx.Query(ctx, lockTemplateSQL, tenant, id)
	if err != nil {
		return email.Template{}, err
	}
	t, err := pgx.CollectExactlyOneRow(rows, scanTemplate)
	if errors.Is(err, pgx.ErrNoRows) {
		return email.Template{}, email.ErrTemplateNotFound
	}
	return t, err
}

// UpdateTemplate implements email.Store.
func (s *Emails) UpdateTemplate(ctx context.Context, caller auth.Caller, id uuid.UUID, change func(*email.Template) error) (email.Template, error) {
	var saved email.Template
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := lockTemplate(ctx, tx, caller.TenantID, id)
		if err != nil {
			return err
		}
		t := before
		t.Variants = append([]email.Variant(nil), before.Variants...)
		if err := change(&t); err != nil {
			return err
		}
		variants, err := json.Marshal(t.Variants)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, updateTemplateSQL, caller.TenantID, id, t.DisplayName, t.Purpose, t.DefaultLocale, variants)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanTemplate); err != nil {
			return err
		}
		return s.record(ctx, tx, caller, email.EventTemplateUpdated, &before, saved)
	})
	if err != nil {
		return email.Template{}, fmt.Errorf("update e-mail template %s: %w", id, err)
	}
	return saved, nil
}

// DeleteTemplate implements email.Store.
func (s *Emails) DeleteTemplate(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) error {
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := lockTemplate(ctx, tx, caller.TenantID, id)
		if err != nil {
			return err
		}
		if etag != "" && etag != before.Etag() {
			return email.ErrEtagMismatch
		}
		if _, err := tx.Exec(ctx, deleteTemplateSQL, caller.TenantID, id); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: email.EventTemplateDeleted, Resource: before.Resource(), Before: protoconv.EmailTemplate(before), After: protoconv.EmailTemplate(before)})
	})
	if err != nil {
		return fmt.Errorf("delete e-mail template %s: %w", id, err)
	}
	return nil
}

const messageColumns = `message_id, template_id, purpose, coalesce(customer_id, '00000000-0000-0000-0000-000000000000'), recipient,
    coalesce(rule_id, '00000000-0000-0000-0000-000000000000'), coalesce(event_id, '00000000-0000-0000-0000-000000000000'),
    event_type, event_resource, event_source, coalesce(event_time, 'epoch'), state, attempts, last_reply, locale,
    next_attempt_time, create_time, update_time, coalesce(send_time, 'epoch')`

func scanMessage(row pgx.CollectableRow) (email.Message, error) {
	var m email.Message
	err := row.Scan(&m.ID, &m.TemplateID, &m.Purpose, &m.CustomerID, &m.Recipient, &m.RuleID, &m.Event.ID,
		&m.Event.Type, &m.Event.Resource, &m.Event.Source, &m.Event.Time, &m.State, &m.Attempts, &m.LastReply, &m.Locale,
		&m.NextAttemptTime, &m.CreateTime, &m.UpdateTime, &m.SendTime)
	if m.Event.Time.Equal(time.Unix(0, 0)) {
		m.Event.Time = time.Time{}
	}
	if m.SendTime.Equal(time.Unix(0, 0)) {
		m.SendTime = time.Time{}
	}
	return m, err
}

const (
	// insertMessageSQL takes the purpose from the template, which must exist.
	insertMessageSQL = `
INSERT INTO email_messages (tenant_id, message_id, template_id, purpose, customer_id, recipient, rule_id,
    event_id, event_type, event_resource, event_source, event_time, request_id)
SELECT $1, $2, t.template_id, t.purpose, $4, $5, $6, $7, $8, $9, $10, $11, nullif($12, '')
FROM email_templates t WHERE t.tenant_id = $1 AND t.template_id = $3
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + messageColumns
	messageByRequestSQL = `SELECT ` + messageColumns + ` FROM email_messages WHERE tenant_id = $1 AND request_id = $2`
	templateExistsSQL   = `SELECT EXISTS (SELECT 1 FROM email_templates WHERE tenant_id = $1 AND template_id = $2)`
)

func nullUUID(id uuid.UUID) any {
	if id == uuid.Nil {
		return nil
	}
	return id
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func messageArgs(tenant any, m email.Message, requestID string) []any {
	return []any{tenant, m.ID, m.TemplateID, nullUUID(m.CustomerID), m.Recipient, nullUUID(m.RuleID), nullUUID(m.Event.ID),
		m.Event.Type, m.Event.Resource, m.Event.Source, nullTime(m.Event.Time), requestID}
}

// messageChange is the event of a message; its recipient is masked, as
// events and the audit log are read more widely than the message log.
func messageChange(tenant, principal, event string, m email.Message) outbox.Change {
	m.Recipient = email.Mask(m.Recipient)
	return outbox.Change{TenantID: tenant, PrincipalID: principal, Type: event, Resource: m.Resource(), After: protoconv.EmailMessage(m, "")}
}

// Queue implements email.Store.
func (s *Emails) Queue(ctx context.Context, caller auth.Caller, m email.Message, requestID string) (email.Message, error) {
	var saved email.Message
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, templateExistsSQL, caller.TenantID, m.TemplateID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return email.ErrTemplateNotFound
		}
		var created bool
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertMessageSQL, messageArgs(caller.TenantID, m, requestID),
			messageByRequestSQL, []any{caller.TenantID, requestID}, scanMessage)
		if err != nil || !created {
			return err
		}
		return outbox.Record(ctx, tx, messageChange(caller.TenantID, caller.PrincipalID, email.EventMessageQueued, saved))
	})
	if err != nil {
		return email.Message{}, fmt.Errorf("queue e-mail: %w", err)
	}
	return saved, nil
}

var listMessages = keyset.Query[email.Message]{
	Table: "email_messages", Columns: messageColumns, IDColumn: "message_id",
	Fields: map[string]sqlfilter.Field{
		"state":             {Column: "state", Kind: sqlfilter.Enum, Enum: integrationv1.EmailMessageState_value},
		"email_template_id": {Column: "template_id", Kind: sqlfilter.UUID},
		"customer_id":       {Column: "customer_id", Kind: sqlfilter.UUID},
		"rule_id":           {Column: "rule_id", Kind: sqlfilter.UUID},
	},
	Scan: scanMessage,
	Key:  func(m email.Message) (time.Time, uuid.UUID) { return m.CreateTime, m.ID },
}

// Messages implements email.Store.
func (s *Emails) Messages(ctx context.Context, caller auth.Caller, q email.ListQuery) (email.MessagePage, error) {
	rows, next, err := keyset.NewestFirst(ctx, s.pool, caller.TenantID, listMessages, q.Filter, q.PageToken, q.PageSize)
	if err != nil {
		return email.MessagePage{}, err
	}
	return email.MessagePage{Messages: rows, NextPageToken: next}, nil
}

// DueEmailTenants implements email.WorkerStore.
func (s *Emails) DueEmailTenants(ctx context.Context, limit int) ([]uuid.UUID, error) {
	rows, err := s.pool.Query(ctx, `SELECT tenant_id FROM email_due_tenants($1)`, limit)
	if err != nil {
		return nil, fmt.Errorf("e-mail due tenants: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("e-mail due tenants: %w", err)
	}
	return ids, nil
}

// EmailBacklog implements email.WorkerStore.
func (s *Emails) EmailBacklog(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT email_backlog()`).Scan(&n); err != nil {
		return 0, fmt.Errorf("e-mail backlog: %w", err)
	}
	return n, nil
}

// claimEmailsSQL leases up to $2 due messages of tenant $1 for $3
// seconds, counting the attempt; SKIP LOCKED lets workers share the queue.
const claimEmailsSQL = `
UPDATE email_messages m
SET attempts = m.attempts + 1, next_attempt_time = now() + make_interval(secs => $3), update_time = now()
WHERE m.tenant_id = $1 AND m.message_id IN (
    SELECT c.message_id FROM email_messages c
    WHERE c.tenant_id = $1 AND c.state = 1 AND c.next_attempt_time <= now()
    ORDER BY c.next_attempt_time
    LIMIT $2
    FOR UPDATE SKIP LOCKED)
RETURNING ` + messageColumns

// ClaimEmails implements email.WorkerStore.
func (s *Emails) ClaimEmails(ctx context.Context, tenant uuid.UUID, limit int, lease time.Duration) ([]email.Job, error) {
	var jobs []email.Job
	err := pgdb.InTx(ctx, s.pool, tenant.String(), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, claimEmailsSQL, tenant, limit, lease.Seconds())
		if err != nil {
			return err
		}
		msgs, err := pgx.CollectRows(rows, scanMessage)
		if err != nil {
			return err
		}
		ids := make([]uuid.UUID, len(msgs))
		for i, m := range msgs {
			ids[i] = m.TemplateID
		}
		rows, err = tx.Query(ctx, `SELECT `+templateColumns+` FROM email_templates WHERE tenant_id = $1 AND template_id = ANY($2)`, tenant, ids)
		if err != nil {
			return err
		}
		templates, err := pgx.CollectRows(rows, scanTemplate)
		if err != nil {
			return err
		}
		byID := map[uuid.UUID]*email.Template{}
		for i := range templates {
			byID[templates[i].ID] = &templates[i]
		}
		jobs = make([]email.Job, len(msgs))
		for i, m := range msgs {
			jobs[i] = email.Job{TenantID: tenant, Message: m, Template: byID[m.TemplateID]}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim e-mails of %s: %w", tenant, err)
	}
	return jobs, nil
}

// settleEmailSQL records an attempt only if no later claim superseded it.
const settleEmailSQL = `
UPDATE email_messages SET state = $4::smallint, last_reply = $5, recipient = $6, locale = $7,
    next_attempt_time = now() + make_interval(secs => $8), update_time = now(),
    send_time = CASE WHEN $4::smallint = 2 THEN now() ELSE send_time END
WHERE tenant_id = $1 AND message_id = $2 AND attempts = $3 AND state = 1
RETURNING ` + messageColumns

// SettleEmail implements email.WorkerStore; a message leaving the queue
// emits its settled event.
func (s *Emails) SettleEmail(ctx context.Context, tenant uuid.UUID, st email.Settlement) error {
	err := pgdb.InTx(ctx, s.pool, tenant.String(), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, settleEmailSQL, tenant, st.MessageID, st.Attempt, st.State, st.Reply, st.Recipient, st.Locale,
			st.RetryIn.Seconds())
		if err != nil {
			return err
		}
		m, err := pgx.CollectExactlyOneRow(rows, scanMessage)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && m.State == email.Pending) {
			return nil
		}
		if err != nil {
			return err
		}
		return outbox.Record(ctx, tx, messageChange(tenant.String(), email.WorkerPrincipal, email.EventMessageSettled, m))
	})
	if err != nil {
		return fmt.Errorf("settle e-mail %s: %w", st.MessageID, err)
	}
	return nil
}
