-- Leads with their source and campaign parameters, qualification and
-- conversion; public web forms that capture them; and per-territory
-- round-robin assignment rules.

-- +goose Up
CREATE TABLE leads (
    tenant_id                uuid        NOT NULL,
    lead_id                  uuid        NOT NULL,
    display_name             text        NOT NULL,
    email                    text        NOT NULL DEFAULT '',
    phone                    text        NOT NULL DEFAULT '',
    company_name             text        NOT NULL DEFAULT '',
    source                   text        NOT NULL,
    utm_source               text        NOT NULL DEFAULT '',
    utm_medium               text        NOT NULL DEFAULT '',
    utm_campaign             text        NOT NULL DEFAULT '',
    utm_term                 text        NOT NULL DEFAULT '',
    utm_content              text        NOT NULL DEFAULT '',
    status                   smallint    NOT NULL CHECK (status BETWEEN 1 AND 5),
    status_reason            text        NOT NULL DEFAULT '',
    owner_id                 uuid,
    territory                text        NOT NULL DEFAULT '',
    duplicate_customer_id    uuid,
    converted_customer_id    uuid,
    converted_opportunity_id uuid,
    convert_time             timestamptz,
    conversion_request_id    text,
    web_form_id              uuid,
    external_id              text        NOT NULL DEFAULT '',
    request_id               text,
    revision                 bigint      NOT NULL DEFAULT 1,
    create_time              timestamptz NOT NULL DEFAULT now(),
    update_time              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, lead_id),
    -- Converted (5) exactly when a customer is recorded.
    CONSTRAINT leads_converted CHECK ((status = 5) = (converted_customer_id IS NOT NULL))
);
-- Keyset pagination (newest first), and each filterable field followed by
-- the same order.
CREATE INDEX leads_create_time ON leads (tenant_id, create_time, lead_id);
CREATE INDEX leads_status ON leads (tenant_id, status, create_time, lead_id);
CREATE INDEX leads_owner ON leads (tenant_id, owner_id, create_time, lead_id) WHERE owner_id IS NOT NULL;
CREATE INDEX leads_territory ON leads (tenant_id, territory, create_time, lead_id);
CREATE INDEX leads_source ON leads (tenant_id, source, create_time, lead_id);
CREATE INDEX leads_web_form ON leads (tenant_id, web_form_id, create_time, lead_id) WHERE web_form_id IS NOT NULL;
-- Assignment counts each assignee's open leads (new, working, qualified).
CREATE INDEX leads_open_by_owner ON leads (tenant_id, owner_id) WHERE status IN (1, 2, 3);
CREATE UNIQUE INDEX leads_request_id ON leads (tenant_id, request_id) WHERE request_id IS NOT NULL;

CREATE TABLE web_forms (
    tenant_id    uuid        NOT NULL,
    web_form_id  uuid        NOT NULL,
    display_name text        NOT NULL,
    form_key     text        NOT NULL,
    territory    text        NOT NULL DEFAULT '',
    active       boolean     NOT NULL DEFAULT true,
    request_id   text,
    revision     bigint      NOT NULL DEFAULT 1,
    create_time  timestamptz NOT NULL DEFAULT now(),
    update_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, web_form_id)
);
-- A public submission names only its key, so keys are unique across tenants.
CREATE UNIQUE INDEX web_forms_form_key ON web_forms (form_key);
CREATE INDEX web_forms_create_time ON web_forms (tenant_id, create_time, web_form_id);
CREATE UNIQUE INDEX web_forms_request_id ON web_forms (tenant_id, request_id) WHERE request_id IS NOT NULL;

CREATE TABLE lead_assignment_rules (
    tenant_id    uuid        NOT NULL,
    rule_id      uuid        NOT NULL,
    territory    text        NOT NULL,
    assignee_ids uuid[]      NOT NULL CHECK (cardinality(assignee_ids) > 0),
    capacity     integer     NOT NULL CHECK (capacity >= 0),
    -- Index into assignee_ids of whose turn is next.
    next_turn    integer     NOT NULL DEFAULT 0,
    request_id   text,
    revision     bigint      NOT NULL DEFAULT 1,
    create_time  timestamptz NOT NULL DEFAULT now(),
    update_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, rule_id),
    CONSTRAINT lead_assignment_rules_territory UNIQUE (tenant_id, territory)
);
CREATE INDEX lead_assignment_rules_create_time ON lead_assignment_rules (tenant_id, create_time, rule_id);
CREATE UNIQUE INDEX lead_assignment_rules_request_id ON lead_assignment_rules (tenant_id, request_id) WHERE request_id IS NOT NULL;

ALTER TABLE leads ENABLE ROW LEVEL SECURITY;
ALTER TABLE leads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON leads
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE web_forms ENABLE ROW LEVEL SECURITY;
ALTER TABLE web_forms FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON web_forms
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE lead_assignment_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE lead_assignment_rules FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON lead_assignment_rules
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- A public submission must learn its tenant before it can act in it. This
-- function, running as the schema owner (not bound by RLS), tells the
-- service role the tenant and form of an active key and nothing else.
-- +goose StatementBegin
CREATE FUNCTION web_form_by_key(key text) RETURNS TABLE (tenant_id uuid, web_form_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT f.tenant_id, f.web_form_id FROM public.web_forms f WHERE f.form_key = key AND f.active
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION web_form_by_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION web_form_by_key(text) TO rapport_pipeline;

-- Rows are updated in place, never removed.
GRANT SELECT, INSERT, UPDATE ON leads, web_forms, lead_assignment_rules TO rapport_pipeline;

-- +goose Down
DROP FUNCTION web_form_by_key(text);
DROP TABLE lead_assignment_rules, web_forms, leads;
