-- +goose Up
-- Scheduled rules: a rule with a schedule runs over a selection of another
-- service's resources instead of on events. schedule and selection hold the
-- API's JSON of RuleSchedule and RuleSelection; next_run_time is set while
-- the rule is scheduled.
ALTER TABLE rules ADD COLUMN schedule jsonb, ADD COLUMN selection jsonb, ADD COLUMN next_run_time timestamptz;
-- The scheduler's look-up of due rules.
CREATE INDEX rules_due ON rules (tenant_id, next_run_time) WHERE enabled AND schedule IS NOT NULL;

-- One pass of a scheduled rule over its selection. A running run is leased
-- by one scheduler (lease_until); page_token is the selection page it
-- resumes from, create_time when it started, and query the filter it was started with (page tokens are
-- bound to it), so a scheduler that dies mid-run leaves a run another one
-- picks up where it stopped.
CREATE TABLE rule_runs (
    tenant_id    uuid        NOT NULL,
    run_id       uuid        NOT NULL,
    rule_id      uuid        NOT NULL,
    rule_version bigint      NOT NULL,
    trigger      smallint    NOT NULL,
    state        smallint    NOT NULL,
    query        text        NOT NULL,
    page_token   text        NOT NULL DEFAULT '',
    selected     integer     NOT NULL DEFAULT 0,
    fired        integer     NOT NULL DEFAULT 0,
    detail       text        NOT NULL DEFAULT '',
    lease_until  timestamptz NOT NULL,
    lease_owner  uuid,
    create_time  timestamptz NOT NULL DEFAULT now(),
    end_time     timestamptz,
    PRIMARY KEY (tenant_id, run_id),
    FOREIGN KEY (tenant_id, rule_id) REFERENCES rules (tenant_id, rule_id) ON DELETE CASCADE
);
-- ListRuleRuns (newest first, by each filter field), the claim of runs whose
-- lease ran out, and at most one run in progress per rule.
CREATE INDEX rule_runs_list ON rule_runs (tenant_id, rule_id, create_time, run_id);
CREATE INDEX rule_runs_state ON rule_runs (tenant_id, rule_id, state, create_time, run_id);
CREATE INDEX rule_runs_trigger ON rule_runs (tenant_id, rule_id, trigger, create_time, run_id);
CREATE INDEX rule_runs_lease ON rule_runs (tenant_id, lease_until) WHERE state = 1;
CREATE UNIQUE INDEX rule_runs_one_running ON rule_runs (tenant_id, rule_id) WHERE state = 1;

-- What a scheduled rule has acted on: one row per rule and resource, for
-- the version and episode it last fired in. A resource fires when it has no
-- row or its row is of another version or episode; a completed run deletes
-- the rows of resources it no longer selected (seen_run_id is not its id),
-- so a resource that leaves the selection fires again when it comes back.
CREATE TABLE rule_firings (
    tenant_id    uuid        NOT NULL,
    rule_id      uuid        NOT NULL,
    resource     text        NOT NULL,
    rule_version bigint      NOT NULL,
    episode      text        NOT NULL,
    seen_run_id  uuid        NOT NULL,
    fire_time    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, rule_id, resource),
    FOREIGN KEY (tenant_id, rule_id) REFERENCES rules (tenant_id, rule_id) ON DELETE CASCADE
);
CREATE INDEX rule_firings_seen ON rule_firings (tenant_id, rule_id, seen_run_id);

-- The tenants with a scheduled rule due or a run to pick up, across RLS.
-- +goose StatementBegin
CREATE FUNCTION rule_due_tenants(lim integer) RETURNS TABLE (tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT DISTINCT d.tenant_id FROM (
        (SELECT r.tenant_id FROM public.rules r
         WHERE r.enabled AND r.schedule IS NOT NULL AND r.next_run_time <= now() LIMIT lim)
        UNION ALL
        (SELECT u.tenant_id FROM public.rule_runs u WHERE u.state = 1 AND u.lease_until <= now() LIMIT lim)
    ) d
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION rule_due_tenants(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rule_due_tenants(integer) TO rapport_integration;

ALTER TABLE rule_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE rule_runs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON rule_runs
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE rule_firings ENABLE ROW LEVEL SECURITY;
ALTER TABLE rule_firings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON rule_firings
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE ON rule_runs TO rapport_integration;
GRANT SELECT, INSERT, UPDATE, DELETE ON rule_firings TO rapport_integration;

-- +goose Down
DROP FUNCTION rule_due_tenants(integer);
DROP TABLE rule_firings, rule_runs;
DROP INDEX rules_due;
ALTER TABLE rules DROP COLUMN schedule, DROP COLUMN selection, DROP COLUMN next_run_time;
