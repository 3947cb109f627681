-- +goose Up
-- Detractor follow-ups are no longer delivered by the ticket service with one
-- tenant's API key: an unhappy answer emits detractor.recorded, and the
-- customer service, which follows every tenant's stream, creates the
-- follow-up. Answers still queued here become such events (their payload,
-- rapport.ticket.v1.Detractor, encoded by hand: fields 1 source_id, 2 kind,
-- 3 ticket_id, 4 customer_id, 5 score; every string is a 36-byte UUID and
-- every number fits one byte), and the queue goes. Their follow-ups keep
-- the request ids the old delivery used, so none is made twice. Like every
-- migration here this runs as the tables' owner with BYPASSRLS.
INSERT INTO outbox (tenant_id, event_id, type, resource, principal_id, occurred_at, payload_type, payload)
SELECT d.tenant_id, gen_random_uuid(), 'detractor.recorded',
       CASE d.kind WHEN 2 THEN 'npsResponses/' || d.source_id ELSE 'tickets/' || d.ticket_id || '/csatSurvey' END,
       'system:migration', d.create_time, 'rapport.ticket.v1.Detractor',
       '\x0a24'::bytea || convert_to(d.source_id::text, 'UTF8')
       || '\x10'::bytea || set_byte('\x00'::bytea, 0, d.kind)
       || CASE WHEN d.ticket_id IS NULL THEN ''::bytea ELSE '\x1a24'::bytea || convert_to(d.ticket_id::text, 'UTF8') END
       || '\x2224'::bytea || convert_to(d.customer_id::text, 'UTF8')
       || '\x28'::bytea || set_byte('\x00'::bytea, 0, d.score)
FROM detractor_followups d
WHERE d.done_time IS NULL
ORDER BY d.create_time;
DROP TABLE detractor_followups;

-- +goose Down
CREATE TABLE detractor_followups (
    tenant_id         uuid        NOT NULL,
    source_id         uuid        NOT NULL,
    kind              smallint    NOT NULL,
    ticket_id         uuid,
    customer_id       uuid        NOT NULL,
    score             smallint    NOT NULL,
    attempts          integer     NOT NULL DEFAULT 0,
    next_attempt_time timestamptz NOT NULL DEFAULT now(),
    last_error        text        NOT NULL DEFAULT '',
    follow_up_id      text,
    done_time         timestamptz,
    create_time       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, source_id)
);
CREATE INDEX detractor_followups_due ON detractor_followups (tenant_id, next_attempt_time) WHERE done_time IS NULL;
ALTER TABLE detractor_followups ENABLE ROW LEVEL SECURITY;
ALTER TABLE detractor_followups FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON detractor_followups
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE ON detractor_followups TO rapport_ticket;
