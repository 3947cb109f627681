-- +goose Up
-- Detractor follow-ups: a CSAT answer of 2 or less queues a follow-up in the
-- customer service, written in the answer's transaction and delivered later
-- by a runner, so the customer's request never waits on a peer and no answer
-- is lost if the peer is down.
CREATE TABLE detractor_followups (
    tenant_id         uuid        NOT NULL,
    survey_id         uuid        NOT NULL,
    ticket_id         uuid        NOT NULL,
    customer_id       uuid        NOT NULL,
    score             smallint    NOT NULL,
    attempts          integer     NOT NULL DEFAULT 0,
    next_attempt_time timestamptz NOT NULL DEFAULT now(),
    last_error        text        NOT NULL DEFAULT '',
    follow_up_id      text,
    done_time         timestamptz,
    create_time       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, survey_id),
    FOREIGN KEY (tenant_id, survey_id) REFERENCES csat_surveys (tenant_id, survey_id)
);
-- The runner's only search key: pending deliveries by due time.
CREATE INDEX detractor_followups_due ON detractor_followups (tenant_id, next_attempt_time) WHERE done_time IS NULL;

ALTER TABLE detractor_followups ENABLE ROW LEVEL SECURITY;
ALTER TABLE detractor_followups FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON detractor_followups
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE ON detractor_followups TO rapport_ticket;

-- +goose Down
DROP TABLE detractor_followups;
