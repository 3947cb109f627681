-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rapport_analytics') THEN
        CREATE ROLE rapport_analytics NOLOGIN;
    END IF;
END
$$;
-- +goose StatementEnd

-- Every event applied, so a replayed event (a reconnect, a restart, a second
-- replica) is recognised and changes nothing.
CREATE TABLE processed_events (
    tenant_id  uuid        NOT NULL,
    event_id   uuid        NOT NULL,
    source     text        NOT NULL,
    apply_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id)
);

-- How far each source's stream has been consumed: the consumer resumes after last_cursor.
CREATE TABLE checkpoints (
    tenant_id       uuid        NOT NULL,
    source          text        NOT NULL,
    last_cursor     text        NOT NULL,
    last_event_time timestamptz NOT NULL,
    applied_events  bigint      NOT NULL,
    update_time     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, source)
);

-- The latest state of each resource. update_time is the time of the latest
-- event applied to the row, so a summary can say how fresh it is.
CREATE TABLE customer_state (
    tenant_id   uuid        NOT NULL,
    customer_id uuid        NOT NULL,
    deleted     boolean     NOT NULL,
    update_time timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, customer_id)
);
CREATE TABLE opportunity_state (
    tenant_id      uuid        NOT NULL,
    opportunity_id uuid        NOT NULL,
    customer_id    uuid        NOT NULL,
    stage          smallint    NOT NULL,
    currency_code  text        NOT NULL,
    amount_minor   bigint      NOT NULL,
    update_time    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, opportunity_id)
);
CREATE INDEX opportunity_state_customer ON opportunity_state (tenant_id, customer_id);
CREATE TABLE ticket_state (
    tenant_id   uuid        NOT NULL,
    ticket_id   uuid        NOT NULL,
    customer_id uuid        NOT NULL,
    status      smallint    NOT NULL,
    update_time timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, ticket_id)
);
CREATE INDEX ticket_state_customer ON ticket_state (tenant_id, customer_id);

ALTER TABLE processed_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE processed_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON processed_events
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON checkpoints
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE customer_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_state FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON customer_state
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE opportunity_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE opportunity_state FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON opportunity_state
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE ticket_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE ticket_state FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ticket_state
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- The service role reads and upserts rows but owns nothing, cannot bypass RLS
-- and never deletes: processed events are append-only, and only "analytics
-- rebuild", connecting as the owner, empties the tables. The service emits no
-- events, so it gets nothing on the outbox or audit log.
GRANT USAGE ON SCHEMA public TO rapport_analytics;
GRANT SELECT, INSERT ON processed_events TO rapport_analytics;
GRANT SELECT, INSERT, UPDATE ON checkpoints, customer_state, opportunity_state, ticket_state TO rapport_analytics;

-- +goose Down
DROP TABLE ticket_state, opportunity_state, customer_state, checkpoints, processed_events;
