-- +goose Up
-- Automation rules; actions is the JSON list of the current version's actions.
CREATE TABLE rules (
    tenant_id    uuid        NOT NULL,
    rule_id      uuid        NOT NULL,
    display_name text        NOT NULL,
    event_types  text[]      NOT NULL,
    filter       text        NOT NULL DEFAULT '',
    actions      jsonb       NOT NULL,
    enabled      boolean     NOT NULL,
    rate_limit   integer     NOT NULL,
    version      bigint      NOT NULL DEFAULT 1,
    request_id   text,
    create_time  timestamptz NOT NULL DEFAULT now(),
    update_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, rule_id)
);
CREATE INDEX rules_create_time ON rules (tenant_id, create_time, rule_id);
CREATE INDEX rules_enabled ON rules (tenant_id, enabled, create_time, rule_id);
CREATE UNIQUE INDEX rules_request_id ON rules (tenant_id, request_id) WHERE request_id IS NOT NULL;

-- Every version of every rule as it was saved, so an execution's version
-- can be read back.
CREATE TABLE rule_versions (
    tenant_id    uuid        NOT NULL,
    rule_id      uuid        NOT NULL,
    version      bigint      NOT NULL,
    definition   jsonb       NOT NULL,
    principal_id text        NOT NULL,
    create_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, rule_id, version),
    FOREIGN KEY (tenant_id, rule_id) REFERENCES rules (tenant_id, rule_id) ON DELETE CASCADE
);

-- One execution per rule and event (the unique pair): a replayed event runs
-- nothing twice.
CREATE TABLE rule_executions (
    tenant_id    uuid        NOT NULL,
    execution_id uuid        NOT NULL,
    rule_id      uuid        NOT NULL,
    rule_version bigint      NOT NULL,
    event_id     uuid        NOT NULL,
    event_type   text        NOT NULL,
    resource     text        NOT NULL,
    outcome      smallint    NOT NULL,
    detail       text        NOT NULL DEFAULT '',
    create_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, execution_id),
    UNIQUE (tenant_id, rule_id, event_id),
    FOREIGN KEY (tenant_id, rule_id) REFERENCES rules (tenant_id, rule_id) ON DELETE CASCADE
);
-- The log (newest first, by each filter field) and the rate guard's count of the last minute.
CREATE INDEX rule_executions_list ON rule_executions (tenant_id, rule_id, create_time, execution_id);
CREATE INDEX rule_executions_outcome ON rule_executions (tenant_id, rule_id, outcome, create_time, execution_id);
CREATE INDEX rule_executions_type ON rule_executions (tenant_id, rule_id, event_type, create_time, execution_id);
CREATE INDEX rule_executions_resource ON rule_executions (tenant_id, rule_id, resource, create_time, execution_id);
-- Dry runs read the tenant's most recent events.
CREATE INDEX webhook_events_recent ON webhook_events (tenant_id, seq);

ALTER TABLE rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE rules FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON rules
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE rule_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE rule_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON rule_versions
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE rule_executions ENABLE ROW LEVEL SECURITY;
ALTER TABLE rule_executions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON rule_executions
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE, DELETE ON rules TO rapport_integration;
GRANT SELECT, INSERT ON rule_versions, rule_executions TO rapport_integration;

-- +goose Down
DROP INDEX webhook_events_recent;
DROP TABLE rule_executions, rule_versions, rules;
