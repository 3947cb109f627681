-- +goose Up
-- Partner money: commission and rebate rules by tier, product and period,
-- and partner statements with their lines. Rules are the tenant's programme
-- terms, readable by its partner users; statements and their lines are a
-- partner's own, so the partner_access policy narrows them.

CREATE TABLE commission_rules (
    tenant_id          uuid        NOT NULL,
    commission_rule_id uuid        NOT NULL,
    kind               smallint    NOT NULL,
    tier               text        NOT NULL DEFAULT '',
    product_id         text        NOT NULL DEFAULT '',
    valid_from         date        NOT NULL,
    valid_until        date,
    rate_bps           integer     NOT NULL CHECK (rate_bps BETWEEN 1 AND 10000),
    display_name       text        NOT NULL DEFAULT '',
    request_id         text,
    revision           bigint      NOT NULL DEFAULT 1,
    create_time        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, commission_rule_id),
    CHECK (valid_until IS NULL OR valid_until > valid_from)
);
-- Keyset pagination (newest first) and one index per filterable field.
CREATE INDEX commission_rules_create_time ON commission_rules (tenant_id, create_time, commission_rule_id);
CREATE INDEX commission_rules_kind ON commission_rules (tenant_id, kind, create_time, commission_rule_id);
CREATE INDEX commission_rules_tier ON commission_rules (tenant_id, tier, create_time, commission_rule_id);
CREATE INDEX commission_rules_product ON commission_rules (tenant_id, product_id, create_time, commission_rule_id);
-- The overlap check on create and the rules a statement reads.
CREATE INDEX commission_rules_scope ON commission_rules (tenant_id, tier, kind, product_id, valid_from);
CREATE UNIQUE INDEX commission_rules_request_id ON commission_rules (tenant_id, request_id) WHERE request_id IS NOT NULL;
ALTER TABLE commission_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE commission_rules FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON commission_rules
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

CREATE TABLE partner_statements (
    tenant_id            uuid        NOT NULL,
    partner_statement_id uuid        NOT NULL,
    partner_id           uuid        NOT NULL,
    period_start         date        NOT NULL,
    period_end           date        NOT NULL,
    tier                 text        NOT NULL DEFAULT '',
    totals               jsonb       NOT NULL DEFAULT '[]',
    line_count           integer     NOT NULL DEFAULT 0,
    revision             bigint      NOT NULL DEFAULT 1,
    computed_by          text        NOT NULL DEFAULT '',
    compute_time         timestamptz NOT NULL,
    create_time          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, partner_statement_id),
    FOREIGN KEY (tenant_id, partner_id) REFERENCES partners (tenant_id, partner_id),
    CHECK (period_end > period_start)
);
-- One statement per partner and period: recomputing replaces it.
CREATE UNIQUE INDEX partner_statements_period ON partner_statements (tenant_id, partner_id, period_start, period_end);
CREATE INDEX partner_statements_create_time ON partner_statements (tenant_id, create_time, partner_statement_id);
CREATE INDEX partner_statements_partner ON partner_statements (tenant_id, partner_id, create_time, partner_statement_id);
ALTER TABLE partner_statements ENABLE ROW LEVEL SECURITY;
ALTER TABLE partner_statements FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON partner_statements
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
CREATE POLICY partner_access ON partner_statements AS RESTRICTIVE USING (partner_visible(tenant_id, partner_id));

-- Lines carry their statement's partner so the policy reads them without a join.
CREATE TABLE partner_statement_lines (
    tenant_id            uuid        NOT NULL,
    partner_statement_id uuid        NOT NULL,
    line_number          integer     NOT NULL,
    partner_id           uuid        NOT NULL,
    order_id             uuid        NOT NULL,
    product_id           text        NOT NULL DEFAULT '',
    order_time           timestamptz NOT NULL,
    currency_code        text        NOT NULL,
    revenue_minor        bigint      NOT NULL,
    kind                 smallint    NOT NULL,
    commission_rule_id   uuid,
    rate_bps             integer     NOT NULL DEFAULT 0,
    amount_minor         bigint      NOT NULL DEFAULT 0,
    explanation          text        NOT NULL,
    PRIMARY KEY (tenant_id, partner_statement_id, line_number),
    FOREIGN KEY (tenant_id, partner_statement_id) REFERENCES partner_statements (tenant_id, partner_statement_id)
);
ALTER TABLE partner_statement_lines ENABLE ROW LEVEL SECURITY;
ALTER TABLE partner_statement_lines FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON partner_statement_lines
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
CREATE POLICY partner_access ON partner_statement_lines AS RESTRICTIVE USING (partner_visible(tenant_id, partner_id));

GRANT SELECT, INSERT ON commission_rules TO rapport_partner;
GRANT SELECT, INSERT, UPDATE ON partner_statements TO rapport_partner;
GRANT SELECT, INSERT, DELETE ON partner_statement_lines TO rapport_partner;

-- +goose Down
DROP TABLE partner_statement_lines;
DROP TABLE partner_statements;
DROP TABLE commission_rules;
