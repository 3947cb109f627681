-- +goose Up
-- Customer imports: a job per import, its rows staged durably before they
-- are applied, and the rows that were not applied with why.

CREATE TABLE import_jobs (
    tenant_id    uuid        NOT NULL,
    job_id       uuid        NOT NULL,
    request_id   text        NOT NULL,
    -- The starter, so that a job resumed after a crash writes as them.
    principal_id text        NOT NULL,
    roles        text[]      NOT NULL,
    state        smallint    NOT NULL,
    mode         smallint    NOT NULL,
    format       smallint    NOT NULL,
    dry_run      boolean     NOT NULL,
    columns      text[]      NOT NULL DEFAULT '{}',
    rows_read    bigint      NOT NULL DEFAULT 0,
    applied_rows bigint      NOT NULL DEFAULT 0,
    created      bigint      NOT NULL DEFAULT 0,
    updated      bigint      NOT NULL DEFAULT 0,
    unchanged    bigint      NOT NULL DEFAULT 0,
    failed       bigint      NOT NULL DEFAULT 0,
    duplicates   bigint      NOT NULL DEFAULT 0,
    create_time  timestamptz NOT NULL DEFAULT now(),
    start_time   timestamptz,
    finish_time  timestamptz,
    PRIMARY KEY (tenant_id, job_id)
);
CREATE UNIQUE INDEX import_jobs_request_id ON import_jobs (tenant_id, request_id);
-- ListImportJobs: newest first, optionally by state.
CREATE INDEX import_jobs_create_time ON import_jobs (tenant_id, create_time, job_id);
CREATE INDEX import_jobs_state ON import_jobs (tenant_id, state, create_time, job_id);
-- Start-up finds the jobs a crash interrupted.
CREATE INDEX import_jobs_applying ON import_jobs (tenant_id, job_id) WHERE state = 2;

-- Staged rows: the values in the job's column order and the keys duplicate
-- detection compares (normalised e-mail and E.164 phone).
CREATE TABLE import_rows (
    tenant_id   uuid   NOT NULL,
    job_id      uuid   NOT NULL,
    row_number  bigint NOT NULL,
    vals        text[] NOT NULL,
    external_id text   NOT NULL DEFAULT '',
    email_key   text   NOT NULL DEFAULT '',
    phone_key   text   NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, job_id, row_number),
    FOREIGN KEY (tenant_id, job_id) REFERENCES import_jobs
);
CREATE INDEX import_rows_email ON import_rows (tenant_id, job_id, email_key, row_number) WHERE email_key <> '';
CREATE INDEX import_rows_phone ON import_rows (tenant_id, job_id, phone_key, row_number) WHERE phone_key <> '';

CREATE TABLE import_row_errors (
    tenant_id             uuid     NOT NULL,
    job_id                uuid     NOT NULL,
    row_number            bigint   NOT NULL,
    reason                smallint NOT NULL,
    violations            jsonb    NOT NULL DEFAULT '[]',
    duplicate_customer_id uuid,
    duplicate_row_number  bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, job_id, row_number),
    FOREIGN KEY (tenant_id, job_id) REFERENCES import_jobs
);

ALTER TABLE import_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE import_jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON import_jobs
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE import_rows ENABLE ROW LEVEL SECURITY;
ALTER TABLE import_rows FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON import_rows
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE import_row_errors ENABLE ROW LEVEL SECURITY;
ALTER TABLE import_row_errors FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON import_row_errors
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- The jobs a crash left applying, across tenants, for the start-up resume:
-- the one cross-tenant read, so it runs as the owner and returns ids only.
-- +goose StatementBegin
CREATE FUNCTION import_jobs_interrupted() RETURNS TABLE (tenant_id uuid, job_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT tenant_id, job_id FROM import_jobs WHERE state = 2 ORDER BY create_time
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION import_jobs_interrupted() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_jobs_interrupted() TO rapport_customer;

GRANT SELECT, INSERT, UPDATE ON import_jobs, import_rows, import_row_errors TO rapport_customer;

-- +goose Down
DROP FUNCTION import_jobs_interrupted();
DROP TABLE import_row_errors, import_rows, import_jobs;
