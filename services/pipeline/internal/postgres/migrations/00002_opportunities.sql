-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rapport_pipeline') THEN
        CREATE ROLE rapport_pipeline NOLOGIN;
    END IF;
END
$$;
-- +goose StatementEnd

CREATE TABLE opportunities (
    tenant_id           uuid        NOT NULL,
    opportunity_id      uuid        NOT NULL,
    customer_id         uuid        NOT NULL,
    display_name        text        NOT NULL,
    currency_code       text        NOT NULL CHECK (currency_code ~ '^[A-Z]{3}$'),
    amount_minor        bigint      NOT NULL CHECK (amount_minor >= 0),
    stage               smallint    NOT NULL,
    expected_close_date date,
    owner_id            uuid,
    source_partner_id   uuid,
    external_id         text        NOT NULL DEFAULT '',
    request_id          text,
    revision            bigint      NOT NULL DEFAULT 1,
    create_time         timestamptz NOT NULL DEFAULT now(),
    update_time         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, opportunity_id)
);
-- Keyset pagination (newest first), and each filterable field followed by
-- the same order, so a filtered page is one index range scan.
CREATE INDEX opportunities_create_time ON opportunities (tenant_id, create_time, opportunity_id);
CREATE INDEX opportunities_customer ON opportunities (tenant_id, customer_id, create_time, opportunity_id);
CREATE INDEX opportunities_stage ON opportunities (tenant_id, stage, create_time, opportunity_id);
CREATE INDEX opportunities_owner ON opportunities (tenant_id, owner_id, create_time, opportunity_id) WHERE owner_id IS NOT NULL;
CREATE INDEX opportunities_source_partner ON opportunities (tenant_id, source_partner_id, create_time, opportunity_id) WHERE source_partner_id IS NOT NULL;
CREATE UNIQUE INDEX opportunities_request_id ON opportunities (tenant_id, request_id) WHERE request_id IS NOT NULL;

ALTER TABLE opportunities ENABLE ROW LEVEL SECURITY;
ALTER TABLE opportunities FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON opportunities
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- The service role reads and writes rows but owns nothing, cannot bypass RLS
-- and never deletes (the outbox and audit log are append-only).
GRANT USAGE ON SCHEMA public TO rapport_pipeline;
GRANT SELECT, INSERT, UPDATE ON opportunities TO rapport_pipeline;
GRANT SELECT, INSERT ON outbox, audit_log TO rapport_pipeline;

-- +goose Down
DROP TABLE opportunities;
