-- +goose Up
-- Queues and assignment, the conversation, CSAT surveys, imports, and
-- record-level access to tickets.

CREATE TABLE queues (
    tenant_id           uuid        NOT NULL,
    queue_id            uuid        NOT NULL,
    display_name        text        NOT NULL,
    strategy            smallint    NOT NULL,
    calendar_id         uuid,
    escalation_queue_id uuid,
    request_id          text,
    revision            bigint      NOT NULL DEFAULT 1,
    create_time         timestamptz NOT NULL DEFAULT now(),
    update_time         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, queue_id),
    FOREIGN KEY (tenant_id, calendar_id) REFERENCES business_calendars (tenant_id, calendar_id),
    FOREIGN KEY (tenant_id, escalation_queue_id) REFERENCES queues (tenant_id, queue_id)
);
CREATE INDEX queues_create_time ON queues (tenant_id, create_time, queue_id);
CREATE UNIQUE INDEX queues_request_id ON queues (tenant_id, request_id) WHERE request_id IS NOT NULL;

CREATE TABLE queue_members (
    tenant_id        uuid        NOT NULL,
    queue_id         uuid        NOT NULL,
    principal_id     uuid        NOT NULL,
    skills           text[]      NOT NULL DEFAULT '{}',
    capacity         integer     NOT NULL,
    calendar_id      uuid,
    level            integer     NOT NULL DEFAULT 0,
    last_assign_time timestamptz,
    create_time      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, queue_id, principal_id),
    FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, queue_id),
    FOREIGN KEY (tenant_id, calendar_id) REFERENCES business_calendars (tenant_id, calendar_id)
);
-- The access policy asks "is the caller a member of this queue".
CREATE INDEX queue_members_principal ON queue_members (tenant_id, principal_id, queue_id);

ALTER TABLE tickets
    ADD COLUMN queue_id        uuid,
    ADD COLUMN assignee_id     uuid,
    ADD COLUMN partner_id      uuid,
    ADD COLUMN required_skills text[] NOT NULL DEFAULT '{}',
    ADD COLUMN external_id     text,
    ADD CONSTRAINT tickets_queue_fk FOREIGN KEY (tenant_id, queue_id) REFERENCES queues (tenant_id, queue_id);
CREATE INDEX tickets_queue ON tickets (tenant_id, queue_id, create_time, ticket_id);
CREATE INDEX tickets_assignee ON tickets (tenant_id, assignee_id, create_time, ticket_id);
CREATE INDEX tickets_partner ON tickets (tenant_id, partner_id, create_time, ticket_id) WHERE partner_id IS NOT NULL;
-- An agent's load: its open tickets in a queue.
CREATE INDEX tickets_assignee_open ON tickets (tenant_id, queue_id, assignee_id) WHERE status NOT IN (5, 6);
CREATE UNIQUE INDEX tickets_external_id ON tickets (tenant_id, external_id) WHERE external_id IS NOT NULL;

CREATE TABLE ticket_assignments (
    tenant_id            uuid        NOT NULL,
    ticket_id            uuid        NOT NULL,
    assignment_id        uuid        NOT NULL,
    queue_id             uuid,
    assignee_id          uuid,
    previous_assignee_id uuid,
    reason               smallint    NOT NULL,
    escalation_level     integer     NOT NULL,
    note                 text        NOT NULL DEFAULT '',
    principal_id         text        NOT NULL,
    create_time          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, ticket_id, assignment_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets (tenant_id, ticket_id)
);

CREATE TABLE ticket_messages (
    tenant_id    uuid        NOT NULL,
    ticket_id    uuid        NOT NULL,
    message_id   uuid        NOT NULL,
    visibility   smallint    NOT NULL,
    author_kind  smallint    NOT NULL,
    author_id    text        NOT NULL,
    body         text        NOT NULL,
    attachments  jsonb       NOT NULL DEFAULT '[]',
    request_id   text,
    create_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, ticket_id, message_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets (tenant_id, ticket_id)
);
CREATE UNIQUE INDEX ticket_messages_request_id ON ticket_messages (tenant_id, ticket_id, request_id) WHERE request_id IS NOT NULL;

-- One survey per ticket: a ticket resolved again keeps its first survey, so
-- a customer answers once per ticket.
CREATE TABLE csat_surveys (
    tenant_id   uuid        NOT NULL,
    survey_id   uuid        NOT NULL,
    ticket_id   uuid        NOT NULL,
    token_hash  bytea       NOT NULL,
    expire_time timestamptz NOT NULL,
    score       smallint,
    comment     text        NOT NULL DEFAULT '',
    answer_time timestamptz,
    create_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, survey_id),
    UNIQUE (tenant_id, ticket_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets (tenant_id, ticket_id),
    CONSTRAINT csat_surveys_score CHECK (score BETWEEN 1 AND 5)
);

ALTER TABLE ticket_settings
    ADD COLUMN partner_access  boolean NOT NULL DEFAULT false,
    ADD COLUMN csat_survey_ttl bigint  NOT NULL DEFAULT 1209600000000; -- microseconds: 14 days

ALTER TABLE queues ENABLE ROW LEVEL SECURITY;
ALTER TABLE queues FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON queues
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE queue_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE queue_members FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON queue_members
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE ticket_assignments ENABLE ROW LEVEL SECURITY;
ALTER TABLE ticket_assignments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ticket_assignments
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE ticket_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE ticket_messages FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ticket_messages
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE csat_surveys ENABLE ROW LEVEL SECURITY;
ALTER TABLE csat_surveys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON csat_surveys
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- ticket_visible says whether the caller of the transaction (the rapport.*
-- settings pkg/pgdb sets) may see a ticket. No principal means the service
-- acting for itself (the SLA watcher, a survey link). Admins, sales staff
-- and analysts see every ticket; support agents the tickets of their queues
-- and the unrouted ones (the triage pool); partner users their partner's
-- tickets when the tenant allows it; anyone else none.
-- +goose StatementBegin
CREATE FUNCTION ticket_visible(tenant uuid, queue uuid, partner uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN coalesce(current_setting('rapport.principal_id', true), '') = '' THEN true
        WHEN string_to_array(current_setting('rapport.roles', true), ',') && ARRAY['admin', 'sales_manager', 'sales_rep', 'analyst'] THEN true
        WHEN 'support_agent' = ANY (string_to_array(current_setting('rapport.roles', true), ','))
             AND (queue IS NULL OR EXISTS (
                SELECT 1 FROM queue_members m
                WHERE m.tenant_id = tenant AND m.queue_id = queue
                  AND m.principal_id::text = current_setting('rapport.principal_id', true))) THEN true
        WHEN 'partner_user' = ANY (string_to_array(current_setting('rapport.roles', true), ','))
             AND partner IS NOT NULL
             AND partner::text = current_setting('rapport.partner_id', true) THEN
            EXISTS (SELECT 1 FROM ticket_settings s WHERE s.tenant_id = tenant AND s.partner_access)
        ELSE false
    END
$$;
-- +goose StatementEnd

-- RESTRICTIVE: it narrows tenant isolation and never widens it. It covers
-- reads and the rows updates may touch; the SLA watcher's cross-tenant read
-- runs without a principal, so it passes.
CREATE POLICY record_access ON tickets AS RESTRICTIVE FOR SELECT
    USING (ticket_visible(tenant_id, queue_id, partner_id));
CREATE POLICY record_access_update ON tickets AS RESTRICTIVE FOR UPDATE
    USING (ticket_visible(tenant_id, queue_id, partner_id));

GRANT SELECT, INSERT, UPDATE ON queues TO rapport_ticket;
GRANT SELECT, INSERT, UPDATE, DELETE ON queue_members TO rapport_ticket;
GRANT SELECT, INSERT ON ticket_assignments, ticket_messages TO rapport_ticket;
GRANT SELECT, INSERT, UPDATE ON csat_surveys TO rapport_ticket;

-- +goose Down
DROP POLICY record_access_update ON tickets;
DROP POLICY record_access ON tickets;
DROP FUNCTION ticket_visible(uuid, uuid, uuid);
ALTER TABLE ticket_settings DROP COLUMN partner_access, DROP COLUMN csat_survey_ttl;
DROP TABLE csat_surveys;
DROP TABLE ticket_messages;
DROP TABLE ticket_assignments;
ALTER TABLE tickets DROP CONSTRAINT tickets_queue_fk;
DROP INDEX tickets_queue, tickets_assignee, tickets_partner, tickets_assignee_open, tickets_external_id;
ALTER TABLE tickets DROP COLUMN queue_id, DROP COLUMN assignee_id, DROP COLUMN partner_id,
    DROP COLUMN required_skills, DROP COLUMN external_id;
DROP TABLE queue_members;
DROP TABLE queues;
