-- +goose Up
-- NPS surveys sent to a segment, detractor follow-ups, and feedback items.

CREATE TABLE nps_surveys (
    tenant_id       uuid        NOT NULL,
    nps_survey_id   uuid        NOT NULL,
    display_name    text        NOT NULL,
    segment_id      uuid        NOT NULL,
    recipient_count integer     NOT NULL,
    request_id      text,
    create_time     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, nps_survey_id)
);
CREATE UNIQUE INDEX nps_surveys_request_id ON nps_surveys (tenant_id, request_id) WHERE request_id IS NOT NULL;

-- The segment's members when the survey was created; each answers once.
CREATE TABLE nps_recipients (
    tenant_id     uuid        NOT NULL,
    nps_survey_id uuid        NOT NULL,
    customer_id   uuid        NOT NULL,
    -- Names the answer in events and in the follow-up's request id.
    response_id   uuid,
    score         smallint,
    comment       text        NOT NULL DEFAULT '',
    answer_time   timestamptz,
    PRIMARY KEY (tenant_id, nps_survey_id, customer_id),
    FOREIGN KEY (tenant_id, nps_survey_id) REFERENCES nps_surveys (tenant_id, nps_survey_id),
    CONSTRAINT nps_recipients_score CHECK (score BETWEEN 0 AND 10)
);

-- Detractors (CSAT 1-2, NPS 0-6) queue a follow-up in the customer service
-- in the answer's transaction; a runner delivers it later, so the answer
-- never waits on a peer and none is lost while the peer is down.
CREATE TABLE detractor_followups (
    tenant_id         uuid        NOT NULL,
    -- The CSAT survey or the NPS response.
    source_id         uuid        NOT NULL,
    kind              smallint    NOT NULL, -- 1: CSAT, 2: NPS
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
-- The runner's only search key: pending deliveries by due time.
CREATE INDEX detractor_followups_due ON detractor_followups (tenant_id, next_attempt_time) WHERE done_time IS NULL;

CREATE TABLE feedback_items (
    tenant_id        uuid        NOT NULL,
    feedback_item_id uuid        NOT NULL,
    customer_id      uuid,
    channel          smallint    NOT NULL,
    body             text        NOT NULL,
    topics           text[]      NOT NULL DEFAULT '{}',
    status           smallint    NOT NULL,
    ticket_id        uuid,
    resolution       text        NOT NULL DEFAULT '',
    request_id       text,
    revision         bigint      NOT NULL DEFAULT 1,
    create_time      timestamptz NOT NULL DEFAULT now(),
    update_time      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, feedback_item_id)
);
-- Keyset pagination newest first, and each filter followed by that order.
CREATE INDEX feedback_items_create_time ON feedback_items (tenant_id, create_time, feedback_item_id);
CREATE INDEX feedback_items_status ON feedback_items (tenant_id, status, create_time, feedback_item_id);
CREATE INDEX feedback_items_channel ON feedback_items (tenant_id, channel, create_time, feedback_item_id);
CREATE INDEX feedback_items_customer ON feedback_items (tenant_id, customer_id, create_time, feedback_item_id);
CREATE UNIQUE INDEX feedback_items_request_id ON feedback_items (tenant_id, request_id) WHERE request_id IS NOT NULL;
ALTER TABLE feedback_items ENABLE ROW LEVEL SECURITY;
ALTER TABLE feedback_items FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON feedback_items
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE ON feedback_items TO rapport_ticket;

ALTER TABLE nps_surveys ENABLE ROW LEVEL SECURITY;
ALTER TABLE nps_surveys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nps_surveys
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE nps_recipients ENABLE ROW LEVEL SECURITY;
ALTER TABLE nps_recipients FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nps_recipients
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE detractor_followups ENABLE ROW LEVEL SECURITY;
ALTER TABLE detractor_followups FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON detractor_followups
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT ON nps_surveys TO rapport_ticket;
GRANT SELECT, INSERT, UPDATE ON nps_recipients, detractor_followups TO rapport_ticket;

-- +goose Down
DROP TABLE feedback_items;
DROP TABLE detractor_followups;
DROP TABLE nps_recipients;
DROP TABLE nps_surveys;
