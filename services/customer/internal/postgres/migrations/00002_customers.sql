-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rapport_customer') THEN
        CREATE ROLE rapport_customer NOLOGIN;
    END IF;
END
$$;
-- +goose StatementEnd

CREATE TABLE customers (
    tenant_id       uuid        NOT NULL,
    customer_id     uuid        NOT NULL,
    kind            smallint    NOT NULL,
    display_name    text        NOT NULL,
    email           text        NOT NULL DEFAULT '',
    email_lower     text        GENERATED ALWAYS AS (lower(email)) STORED,
    phone           text        NOT NULL DEFAULT '',
    lifecycle_stage smallint    NOT NULL,
    industry        text        NOT NULL DEFAULT '',
    country_code    text        NOT NULL DEFAULT '',
    owner_id        uuid,
    tags            text[]      NOT NULL DEFAULT '{}',
    external_id     text        NOT NULL DEFAULT '',
    request_id      text,
    revision        bigint      NOT NULL DEFAULT 1,
    create_time     timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now(),
    delete_time     timestamptz,
    PRIMARY KEY (tenant_id, customer_id)
);
-- Keyset pagination for each order_by, and the filterable fields.
CREATE INDEX customers_create_time ON customers (tenant_id, create_time, customer_id);
CREATE INDEX customers_update_time ON customers (tenant_id, update_time, customer_id);
CREATE INDEX customers_display_name ON customers (tenant_id, display_name, customer_id);
CREATE INDEX customers_email ON customers (tenant_id, email_lower) WHERE email <> '';
CREATE INDEX customers_phone ON customers (tenant_id, phone) WHERE phone <> '';
CREATE INDEX customers_stage ON customers (tenant_id, lifecycle_stage);
CREATE INDEX customers_owner ON customers (tenant_id, owner_id) WHERE owner_id IS NOT NULL;
CREATE INDEX customers_country ON customers (tenant_id, country_code);
CREATE INDEX customers_industry ON customers (tenant_id, industry);
CREATE INDEX customers_external_id ON customers (tenant_id, external_id) WHERE external_id <> '';
CREATE INDEX customers_tags ON customers USING gin (tags);
CREATE UNIQUE INDEX customers_request_id ON customers (tenant_id, request_id) WHERE request_id IS NOT NULL;

ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE customers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON customers
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- Identity: tenants, principals and API keys.
CREATE TABLE tenants (
    tenant_id    uuid        NOT NULL PRIMARY KEY,
    display_name text        NOT NULL,
    operator     boolean     NOT NULL DEFAULT false,
    create_time  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE principals (
    tenant_id    uuid        NOT NULL REFERENCES tenants,
    principal_id uuid        NOT NULL,
    display_name text        NOT NULL,
    roles        text[]      NOT NULL,
    request_id   text,
    create_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, principal_id)
);
CREATE UNIQUE INDEX principals_request_id ON principals (tenant_id, request_id) WHERE request_id IS NOT NULL;
CREATE TABLE api_keys (
    tenant_id     uuid        NOT NULL,
    api_key_id    uuid        NOT NULL,
    principal_id  uuid        NOT NULL,
    display_name  text        NOT NULL,
    prefix        text        NOT NULL,
    secret_sha256 bytea       NOT NULL,
    create_time   timestamptz NOT NULL DEFAULT now(),
    revoke_time   timestamptz,
    last_use_time timestamptz,
    PRIMARY KEY (tenant_id, api_key_id),
    FOREIGN KEY (tenant_id, principal_id) REFERENCES principals
);

-- Idempotency of CreateTenant, scoped to the operator tenant that asked.
CREATE TABLE tenant_requests (
    tenant_id         uuid NOT NULL,
    request_id        text NOT NULL,
    created_tenant_id uuid NOT NULL,
    admin_id          uuid NOT NULL,
    api_key_id        uuid NOT NULL,
    PRIMARY KEY (tenant_id, request_id)
);
ALTER TABLE tenant_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_requests FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_requests
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE principals ENABLE ROW LEVEL SECURITY;
ALTER TABLE principals FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON principals
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- The service role reads and writes rows but owns nothing, cannot bypass RLS
-- and never deletes (customers are soft-deleted; the outbox and audit log are append-only).
GRANT USAGE ON SCHEMA public TO rapport_customer;
GRANT SELECT, INSERT, UPDATE ON customers, tenants, tenant_requests, principals, api_keys TO rapport_customer;
GRANT SELECT, INSERT ON outbox, audit_log TO rapport_customer;

-- +goose Down
DROP TABLE api_keys, principals, tenant_requests, tenants, customers;
