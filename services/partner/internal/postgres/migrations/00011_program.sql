-- +goose Up
-- The partner programme: the tenant's tier schedule (one row, its tiers read
-- and replaced whole) and partners' certifications, which partner users see
-- only for their own partner and those under it.

CREATE TABLE tier_schedules (
    tenant_id     uuid        NOT NULL,
    currency_code text        NOT NULL DEFAULT '',
    tiers         jsonb       NOT NULL DEFAULT '[]',
    revision      bigint      NOT NULL DEFAULT 1,
    update_time   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id)
);
ALTER TABLE tier_schedules ENABLE ROW LEVEL SECURITY;
ALTER TABLE tier_schedules FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tier_schedules
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

CREATE TABLE certifications (
    tenant_id        uuid        NOT NULL,
    certification_id uuid        NOT NULL,
    partner_id       uuid        NOT NULL,
    name             text        NOT NULL,
    earn_date        date        NOT NULL,
    expire_date      date,
    recorded_by      text        NOT NULL,
    request_id       text,
    create_time      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, certification_id),
    FOREIGN KEY (tenant_id, partner_id) REFERENCES partners (tenant_id, partner_id),
    CHECK (expire_date IS NULL OR expire_date > earn_date)
);
-- Keyset pagination (newest first) and one index per filterable field; the
-- partner index also serves evaluation, which reads a partner's all.
CREATE INDEX certifications_create_time ON certifications (tenant_id, create_time, certification_id);
CREATE INDEX certifications_partner ON certifications (tenant_id, partner_id, create_time, certification_id);
CREATE INDEX certifications_name ON certifications (tenant_id, name, create_time, certification_id);
CREATE UNIQUE INDEX certifications_request_id ON certifications (tenant_id, request_id) WHERE request_id IS NOT NULL;
ALTER TABLE certifications ENABLE ROW LEVEL SECURITY;
ALTER TABLE certifications FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON certifications
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
CREATE POLICY partner_access ON certifications AS RESTRICTIVE USING (partner_visible(tenant_id, partner_id));

GRANT SELECT, INSERT, UPDATE ON tier_schedules TO rapport_partner;
GRANT SELECT, INSERT ON certifications TO rapport_partner;

-- +goose Down
DROP TABLE certifications;
DROP TABLE tier_schedules;
