-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rapport_partner') THEN
        CREATE ROLE rapport_partner NOLOGIN;
    END IF;
END
$$;
-- +goose StatementEnd

CREATE TABLE partners (
    tenant_id    uuid        NOT NULL,
    partner_id   uuid        NOT NULL,
    display_name text        NOT NULL,
    type         smallint    NOT NULL,
    status       smallint    NOT NULL,
    tier         text        NOT NULL DEFAULT '',
    region       text        NOT NULL DEFAULT '',
    city         text        NOT NULL DEFAULT '',
    external_id  text        NOT NULL DEFAULT '',
    request_id   text,
    revision     bigint      NOT NULL DEFAULT 1,
    create_time  timestamptz NOT NULL DEFAULT now(),
    update_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, partner_id)
);
-- Keyset pagination (newest first). Each filterable field leads an index that
-- ends in the same keyset, so a filtered page is one index range scan.
CREATE INDEX partners_create_time ON partners (tenant_id, create_time, partner_id);
CREATE INDEX partners_type ON partners (tenant_id, type, create_time, partner_id);
CREATE INDEX partners_status ON partners (tenant_id, status, create_time, partner_id);
CREATE INDEX partners_tier ON partners (tenant_id, tier, create_time, partner_id);
CREATE INDEX partners_region ON partners (tenant_id, region, create_time, partner_id);
CREATE UNIQUE INDEX partners_request_id ON partners (tenant_id, request_id) WHERE request_id IS NOT NULL;

ALTER TABLE partners ENABLE ROW LEVEL SECURITY;
ALTER TABLE partners FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON partners
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- The service role reads and writes rows but owns nothing and cannot bypass
-- RLS. No RPC changes a partner yet, so it may not UPDATE; the outbox and
-- audit log are append-only.
GRANT USAGE ON SCHEMA public TO rapport_partner;
GRANT SELECT, INSERT ON partners TO rapport_partner;
GRANT SELECT, INSERT ON outbox, audit_log TO rapport_partner;

-- +goose Down
DROP TABLE partners;
