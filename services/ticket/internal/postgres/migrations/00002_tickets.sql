-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rapport_ticket') THEN
        CREATE ROLE rapport_ticket NOLOGIN;
    END IF;
END
$$;
-- +goose StatementEnd

CREATE TABLE tickets (
    tenant_id   uuid        NOT NULL,
    ticket_id   uuid        NOT NULL,
    customer_id uuid        NOT NULL,
    subject     text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    priority    smallint    NOT NULL,
    status      smallint    NOT NULL,
    channel     smallint    NOT NULL,
    request_id  text,
    revision    bigint      NOT NULL DEFAULT 1,
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, ticket_id)
);
-- Keyset pagination (newest first), and each filterable field followed by
-- the same order, so a filtered page is one index range scan.
CREATE INDEX tickets_create_time ON tickets (tenant_id, create_time, ticket_id);
CREATE INDEX tickets_customer ON tickets (tenant_id, customer_id, create_time, ticket_id);
CREATE INDEX tickets_status ON tickets (tenant_id, status, create_time, ticket_id);
CREATE INDEX tickets_priority ON tickets (tenant_id, priority, create_time, ticket_id);
CREATE INDEX tickets_channel ON tickets (tenant_id, channel, create_time, ticket_id);
CREATE UNIQUE INDEX tickets_request_id ON tickets (tenant_id, request_id) WHERE request_id IS NOT NULL;

ALTER TABLE tickets ENABLE ROW LEVEL SECURITY;
ALTER TABLE tickets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tickets
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- The service role reads and writes rows but owns nothing, cannot bypass RLS
-- and never deletes (the outbox and audit log are append-only).
GRANT USAGE ON SCHEMA public TO rapport_ticket;
GRANT SELECT, INSERT, UPDATE ON tickets TO rapport_ticket;
GRANT SELECT, INSERT ON outbox, audit_log TO rapport_ticket;

-- +goose Down
DROP TABLE tickets;
