-- +goose Up
-- Market development funds: budgets set aside for partners and the
-- requests against them. Partner users see only their own partner's (and
-- its sub-partners') budgets and requests, and create requests only for
-- them: the partner_access policy is also the WITH CHECK of their inserts.

CREATE TABLE mdf_budgets (
    tenant_id       uuid        NOT NULL,
    mdf_budget_id   uuid        NOT NULL,
    partner_id      uuid        NOT NULL,
    display_name    text        NOT NULL,
    period_start    date        NOT NULL,
    period_end      date        NOT NULL,
    currency_code   text        NOT NULL,
    amount_minor    bigint      NOT NULL CHECK (amount_minor > 0),
    committed_minor bigint      NOT NULL DEFAULT 0 CHECK (committed_minor >= 0),
    spent_minor     bigint      NOT NULL DEFAULT 0 CHECK (spent_minor >= 0),
    request_id      text,
    revision        bigint      NOT NULL DEFAULT 1,
    create_time     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, mdf_budget_id),
    FOREIGN KEY (tenant_id, partner_id) REFERENCES partners (tenant_id, partner_id),
    CHECK (period_end > period_start),
    -- The last line of defence of the budget: never more out than in.
    CHECK (committed_minor + spent_minor <= amount_minor)
);
CREATE INDEX mdf_budgets_create_time ON mdf_budgets (tenant_id, create_time, mdf_budget_id);
CREATE INDEX mdf_budgets_partner ON mdf_budgets (tenant_id, partner_id, create_time, mdf_budget_id);
CREATE UNIQUE INDEX mdf_budgets_request_id ON mdf_budgets (tenant_id, request_id) WHERE request_id IS NOT NULL;
ALTER TABLE mdf_budgets ENABLE ROW LEVEL SECURITY;
ALTER TABLE mdf_budgets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON mdf_budgets
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
CREATE POLICY partner_access ON mdf_budgets AS RESTRICTIVE USING (partner_visible(tenant_id, partner_id));

CREATE TABLE mdf_requests (
    tenant_id       uuid        NOT NULL,
    mdf_request_id  uuid        NOT NULL,
    mdf_budget_id   uuid        NOT NULL,
    partner_id      uuid        NOT NULL,
    activity        text        NOT NULL,
    requested_minor bigint      NOT NULL CHECK (requested_minor > 0),
    state           smallint    NOT NULL,
    approved_minor  bigint      NOT NULL DEFAULT 0,
    claimed_minor   bigint      NOT NULL DEFAULT 0,
    claim_evidence  text        NOT NULL DEFAULT '',
    decision_note   text        NOT NULL DEFAULT '',
    requested_by    text        NOT NULL,
    decided_by      text        NOT NULL DEFAULT '',
    request_id      text,
    revision        bigint      NOT NULL DEFAULT 1,
    create_time     timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, mdf_request_id),
    FOREIGN KEY (tenant_id, mdf_budget_id) REFERENCES mdf_budgets (tenant_id, mdf_budget_id),
    FOREIGN KEY (tenant_id, partner_id) REFERENCES partners (tenant_id, partner_id)
);
CREATE INDEX mdf_requests_create_time ON mdf_requests (tenant_id, create_time, mdf_request_id);
CREATE INDEX mdf_requests_partner ON mdf_requests (tenant_id, partner_id, create_time, mdf_request_id);
CREATE INDEX mdf_requests_budget ON mdf_requests (tenant_id, mdf_budget_id, create_time, mdf_request_id);
CREATE INDEX mdf_requests_state ON mdf_requests (tenant_id, state, create_time, mdf_request_id);
CREATE UNIQUE INDEX mdf_requests_request_id ON mdf_requests (tenant_id, request_id) WHERE request_id IS NOT NULL;
ALTER TABLE mdf_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE mdf_requests FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON mdf_requests
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
CREATE POLICY partner_access ON mdf_requests AS RESTRICTIVE USING (partner_visible(tenant_id, partner_id));

GRANT SELECT, INSERT, UPDATE ON mdf_budgets, mdf_requests TO rapport_partner;

-- +goose Down
DROP TABLE mdf_requests;
DROP TABLE mdf_budgets;
