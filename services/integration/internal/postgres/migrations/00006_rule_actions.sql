-- +goose Up
-- The outbox of rule actions that change other services' data: written in
-- the transaction that records the execution, run afterwards by a worker
-- at least once (state 1 pending, 2 done, 3 failed), with the same request
-- id on every attempt so the target service applies it once.
CREATE TABLE rule_actions (
    tenant_id       uuid        NOT NULL,
    action_id       uuid        NOT NULL,
    execution_id    uuid        NOT NULL,
    rule_id         uuid        NOT NULL,
    event_id        uuid        NOT NULL,
    position        integer     NOT NULL,
    kind            smallint    NOT NULL,
    request         jsonb       NOT NULL,
    request_id      text        NOT NULL,
    -- How many rule actions deep the chain that led here is (1 for an
    -- action on an event no rule caused).
    depth           smallint    NOT NULL,
    state           smallint    NOT NULL DEFAULT 1,
    attempts        integer     NOT NULL DEFAULT 0,
    next_time       timestamptz NOT NULL DEFAULT now(),
    last_error      text        NOT NULL DEFAULT '',
    -- What the action created, so that resource's events are known to be
    -- caused by it (the loop guard).
    result_resource text,
    finish_time     timestamptz,
    create_time     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, action_id),
    UNIQUE (tenant_id, execution_id, position),
    FOREIGN KEY (tenant_id, execution_id) REFERENCES rule_executions (tenant_id, execution_id) ON DELETE CASCADE
);
-- The worker's due actions, an execution's remaining ones, and the loop
-- guard's look-up of what caused an event.
CREATE INDEX rule_actions_due ON rule_actions (tenant_id, next_time) WHERE state = 1;
CREATE INDEX rule_actions_due_all ON rule_actions (next_time) WHERE state = 1;
CREATE INDEX rule_actions_result ON rule_actions (tenant_id, result_resource) WHERE result_resource IS NOT NULL;

-- An execution becomes FAILED or SUCCEEDED when its last action finishes.
GRANT UPDATE ON rule_executions TO rapport_integration;

ALTER TABLE rule_actions ENABLE ROW LEVEL SECURITY;
ALTER TABLE rule_actions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON rule_actions
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- The worker finds the tenants with due actions across tenants, and only that.
-- +goose StatementBegin
CREATE FUNCTION rule_action_due_tenants(lim integer) RETURNS TABLE (tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT DISTINCT d.tenant_id FROM (
        SELECT a.tenant_id FROM public.rule_actions a
        WHERE a.state = 1 AND a.next_time <= now()
        ORDER BY a.next_time
        LIMIT lim
    ) d
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION rule_action_due_tenants(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rule_action_due_tenants(integer) TO rapport_integration;

GRANT SELECT, INSERT, UPDATE ON rule_actions TO rapport_integration;

-- +goose Down
DROP FUNCTION rule_action_due_tenants(integer);
DROP TABLE rule_actions;
REVOKE UPDATE ON rule_executions FROM rapport_integration;
