-- +goose Up
-- Interactions: the customer's timeline, listed per customer by occur_time.
CREATE TABLE interactions (
    tenant_id                 uuid        NOT NULL,
    interaction_id            uuid        NOT NULL,
    customer_id               uuid        NOT NULL,
    kind                      smallint    NOT NULL,
    direction                 smallint    NOT NULL,
    channel                   text        NOT NULL DEFAULT '',
    occur_time                timestamptz NOT NULL,
    duration_ms               bigint      NOT NULL DEFAULT 0,
    subject                   text        NOT NULL DEFAULT '',
    notes                     text        NOT NULL DEFAULT '',
    outcome                   text        NOT NULL DEFAULT '',
    participant_principal_ids uuid[]      NOT NULL DEFAULT '{}',
    participant_customer_ids  uuid[]      NOT NULL DEFAULT '{}',
    participant_names         text[]      NOT NULL DEFAULT '{}',
    latitude                  double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude                 double precision CHECK (longitude BETWEEN -180 AND 180),
    address                   text        NOT NULL DEFAULT '',
    author_id                 text        NOT NULL,
    request_id                text,
    revision                  bigint      NOT NULL DEFAULT 1,
    create_time               timestamptz NOT NULL DEFAULT now(),
    update_time               timestamptz NOT NULL DEFAULT now(),
    delete_time               timestamptz,
    PRIMARY KEY (tenant_id, interaction_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers,
    CHECK ((latitude IS NULL) = (longitude IS NULL))
);
-- ListInteractions: per customer, newest occur_time first, optionally by kind.
CREATE INDEX interactions_timeline ON interactions (tenant_id, customer_id, occur_time DESC, interaction_id DESC);
CREATE INDEX interactions_kind ON interactions (tenant_id, customer_id, kind, occur_time DESC, interaction_id DESC);
CREATE UNIQUE INDEX interactions_request_id ON interactions (tenant_id, request_id) WHERE request_id IS NOT NULL;

-- Follow-up plans: rules that schedule follow-ups when events happen.
CREATE TABLE follow_up_plans (
    tenant_id          uuid        NOT NULL,
    follow_up_plan_id  uuid        NOT NULL,
    display_name       text        NOT NULL,
    event_source       smallint    NOT NULL,
    event_type         text        NOT NULL,
    delay_ms           bigint      NOT NULL,
    remind_before_ms   bigint      NOT NULL DEFAULT 0,
    title              text        NOT NULL,
    notes              text        NOT NULL DEFAULT '',
    assignee_rule      smallint    NOT NULL,
    assignee_id        uuid,
    active             boolean     NOT NULL,
    active_time        timestamptz,
    request_id         text,
    revision           bigint      NOT NULL DEFAULT 1,
    create_time        timestamptz NOT NULL DEFAULT now(),
    update_time        timestamptz NOT NULL DEFAULT now(),
    delete_time        timestamptz,
    PRIMARY KEY (tenant_id, follow_up_plan_id)
);
-- ListFollowUpPlans (newest first) and the runner's lookup of the plans an event triggers.
CREATE INDEX follow_up_plans_create_time ON follow_up_plans (tenant_id, create_time, follow_up_plan_id);
CREATE INDEX follow_up_plans_trigger ON follow_up_plans (tenant_id, event_source, event_type)
    WHERE active AND delete_time IS NULL;
CREATE UNIQUE INDEX follow_up_plans_request_id ON follow_up_plans (tenant_id, request_id) WHERE request_id IS NOT NULL;

-- Follow-ups: scheduled tasks, listed by due_time.
CREATE TABLE follow_ups (
    tenant_id          uuid        NOT NULL,
    follow_up_id       uuid        NOT NULL,
    customer_id        uuid        NOT NULL,
    title              text        NOT NULL,
    notes              text        NOT NULL DEFAULT '',
    assignee_id        uuid,
    due_time           timestamptz NOT NULL,
    remind_time        timestamptz,
    status             smallint    NOT NULL,
    outcome            text        NOT NULL DEFAULT '',
    close_time         timestamptz,
    interaction_id     uuid,
    follow_up_plan_id  uuid,
    source_event_id    uuid,
    source_event_type  text        NOT NULL DEFAULT '',
    request_id         text,
    revision           bigint      NOT NULL DEFAULT 1,
    create_time        timestamptz NOT NULL DEFAULT now(),
    update_time        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, follow_up_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers,
    FOREIGN KEY (tenant_id, interaction_id) REFERENCES interactions,
    FOREIGN KEY (tenant_id, follow_up_plan_id) REFERENCES follow_up_plans,
    CHECK (remind_time IS NULL OR remind_time <= due_time),
    CHECK ((follow_up_plan_id IS NULL) = (source_event_id IS NULL))
);
-- ListFollowUps orders by due_time under each filter; ListOverdueFollowUps reads open ones per assignee.
CREATE INDEX follow_ups_due ON follow_ups (tenant_id, due_time, follow_up_id);
CREATE INDEX follow_ups_customer_due ON follow_ups (tenant_id, customer_id, due_time, follow_up_id);
CREATE INDEX follow_ups_assignee_due ON follow_ups (tenant_id, assignee_id, due_time, follow_up_id);
CREATE INDEX follow_ups_status_due ON follow_ups (tenant_id, status, due_time, follow_up_id);
CREATE INDEX follow_ups_overdue ON follow_ups (tenant_id, assignee_id, due_time, follow_up_id) WHERE status = 1;
CREATE UNIQUE INDEX follow_ups_request_id ON follow_ups (tenant_id, request_id) WHERE request_id IS NOT NULL;
-- A plan schedules at most one follow-up per event, however often the event is read.
CREATE UNIQUE INDEX follow_ups_plan_event ON follow_ups (tenant_id, follow_up_plan_id, source_event_id)
    WHERE follow_up_plan_id IS NOT NULL;

-- Where the plan runner resumes each event stream of each tenant.
CREATE TABLE plan_checkpoints (
    tenant_id    uuid        NOT NULL,
    source       text        NOT NULL,
    cursor       text        NOT NULL,
    update_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, source)
);

ALTER TABLE interactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE interactions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON interactions
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE follow_up_plans ENABLE ROW LEVEL SECURITY;
ALTER TABLE follow_up_plans FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON follow_up_plans
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE follow_ups ENABLE ROW LEVEL SECURITY;
ALTER TABLE follow_ups FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON follow_ups
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE plan_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE plan_checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON plan_checkpoints
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- The plan runner must find the tenants it works for before it can act as
-- any of them. This function, running as the schema owner (who runs the
-- migrations and is not bound by RLS), tells the service role those tenant
-- ids and nothing else.
-- +goose StatementBegin
CREATE FUNCTION follow_up_plan_tenants() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT DISTINCT tenant_id FROM public.follow_up_plans WHERE active AND delete_time IS NULL
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION follow_up_plan_tenants() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION follow_up_plan_tenants() TO rapport_customer;

-- Rows are soft-deleted or closed, never removed.
GRANT SELECT, INSERT, UPDATE ON interactions, follow_up_plans, follow_ups, plan_checkpoints TO rapport_customer;

-- +goose Down
DROP FUNCTION follow_up_plan_tenants();
DROP TABLE plan_checkpoints, follow_ups, follow_up_plans, interactions;
