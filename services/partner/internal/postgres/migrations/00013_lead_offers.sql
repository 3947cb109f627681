-- +goose Up
-- Lead distribution: each lead of the sales-pipeline service offered to one
-- partner at a time. Partner users see and answer only their own partner's
-- offers (and its sub-partners').

CREATE TABLE lead_offers (
    tenant_id      uuid        NOT NULL,
    lead_offer_id  uuid        NOT NULL,
    lead_id        uuid        NOT NULL,
    partner_id     uuid        NOT NULL,
    state          smallint    NOT NULL,
    region         text        NOT NULL DEFAULT '',
    industry       text        NOT NULL DEFAULT '',
    tier           text        NOT NULL DEFAULT '',
    expire_time    timestamptz NOT NULL,
    decide_time    timestamptz,
    decided_by     text        NOT NULL DEFAULT '',
    decline_reason text        NOT NULL DEFAULT '',
    offered_by     text        NOT NULL DEFAULT '',
    request_id     text,
    revision       bigint      NOT NULL DEFAULT 1,
    create_time    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, lead_offer_id),
    FOREIGN KEY (tenant_id, partner_id) REFERENCES partners (tenant_id, partner_id)
);
-- A lead has at most one live (pending or accepted) offer.
CREATE UNIQUE INDEX lead_offers_live ON lead_offers (tenant_id, lead_id) WHERE state IN (1, 2);
-- Keyset pagination (newest first) and one index per filterable field; the
-- partner index also counts a partner's offers of the month (capacity), the
-- lead index the partners a lead was offered to.
CREATE INDEX lead_offers_create_time ON lead_offers (tenant_id, create_time, lead_offer_id);
CREATE INDEX lead_offers_partner ON lead_offers (tenant_id, partner_id, create_time, lead_offer_id);
CREATE INDEX lead_offers_lead ON lead_offers (tenant_id, lead_id, create_time, lead_offer_id);
CREATE INDEX lead_offers_state ON lead_offers (tenant_id, state, create_time, lead_offer_id);
-- The expiry sweep.
CREATE INDEX lead_offers_pending_expiry ON lead_offers (tenant_id, expire_time) WHERE state = 1;
CREATE UNIQUE INDEX lead_offers_request_id ON lead_offers (tenant_id, request_id) WHERE request_id IS NOT NULL;
ALTER TABLE lead_offers ENABLE ROW LEVEL SECURITY;
ALTER TABLE lead_offers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON lead_offers
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
CREATE POLICY partner_access ON lead_offers AS RESTRICTIVE USING (partner_visible(tenant_id, partner_id));
-- Choosing a partner reads active partners.
CREATE INDEX partners_status_tier ON partners (tenant_id, status, tier);

GRANT SELECT, INSERT, UPDATE ON lead_offers TO rapport_partner;

-- +goose Down
DROP INDEX partners_status_tier;
DROP TABLE lead_offers;
