-- Forecasts (forecast categories, daily pipeline snapshots, quotas),
-- commissions (plans with tiers, splits, statements with explained lines,
-- visible only to their rep and managers) and marketing (campaigns, members,
-- responses, offers, opportunity attribution).

-- +goose Up
CREATE TABLE campaigns (
    tenant_id     uuid        NOT NULL,
    campaign_id   uuid        NOT NULL,
    display_name  text        NOT NULL,
    channel       smallint    NOT NULL CHECK (channel BETWEEN 1 AND 9),
    segment_id    uuid,
    currency_code text        NOT NULL CHECK (currency_code ~ '^[A-Z]{3}$'),
    budget_minor  bigint      NOT NULL CHECK (budget_minor >= 0),
    cost_minor    bigint      NOT NULL CHECK (cost_minor >= 0),
    start_date    date        NOT NULL,
    end_date      date        NOT NULL CHECK (end_date >= start_date),
    request_id    text,
    revision      bigint      NOT NULL DEFAULT 1,
    create_time   timestamptz NOT NULL DEFAULT now(),
    update_time   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, campaign_id)
);
CREATE INDEX campaigns_create_time ON campaigns (tenant_id, create_time, campaign_id);
CREATE INDEX campaigns_channel ON campaigns (tenant_id, channel, create_time, campaign_id);
CREATE INDEX campaigns_segment ON campaigns (tenant_id, segment_id, create_time, campaign_id) WHERE segment_id IS NOT NULL;
CREATE INDEX campaigns_start_date ON campaigns (tenant_id, start_date, create_time, campaign_id);
CREATE UNIQUE INDEX campaigns_request_id ON campaigns (tenant_id, request_id) WHERE request_id IS NOT NULL;

-- Members are a snapshot of the segment when synced: later changes of the
-- segment do not rewrite who a past campaign reached.
CREATE TABLE campaign_members (
    tenant_id   uuid        NOT NULL,
    campaign_id uuid        NOT NULL,
    customer_id uuid        NOT NULL,
    add_time    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, campaign_id, customer_id),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns
);

CREATE TABLE campaign_responses (
    tenant_id    uuid        NOT NULL,
    campaign_id  uuid        NOT NULL,
    response_id  uuid        NOT NULL,
    customer_id  uuid        NOT NULL,
    kind         smallint    NOT NULL CHECK (kind BETWEEN 1 AND 7),
    respond_time timestamptz NOT NULL,
    request_id   text,
    PRIMARY KEY (tenant_id, campaign_id, response_id),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns
);
CREATE INDEX campaign_responses_order ON campaign_responses (tenant_id, campaign_id, respond_time, response_id);
-- First- and last-touch attribution: a customer's responses in time order.
CREATE INDEX campaign_responses_customer ON campaign_responses (tenant_id, customer_id, respond_time);
CREATE UNIQUE INDEX campaign_responses_request_id ON campaign_responses (tenant_id, request_id) WHERE request_id IS NOT NULL;

CREATE TABLE offers (
    tenant_id    uuid        NOT NULL,
    offer_id     uuid        NOT NULL,
    display_name text        NOT NULL,
    campaign_id  uuid,
    segment_ids  uuid[]      NOT NULL DEFAULT '{}',
    value_tiers  text[]      NOT NULL DEFAULT '{}',
    discount_bps integer     NOT NULL CHECK (discount_bps BETWEEN 1 AND 10000),
    start_date   date        NOT NULL,
    end_date     date        NOT NULL CHECK (end_date >= start_date),
    request_id   text,
    revision     bigint      NOT NULL DEFAULT 1,
    create_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, offer_id),
    CONSTRAINT offers_campaign FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns
);
CREATE INDEX offers_create_time ON offers (tenant_id, create_time, offer_id);
CREATE INDEX offers_campaign ON offers (tenant_id, campaign_id, create_time, offer_id) WHERE campaign_id IS NOT NULL;
CREATE UNIQUE INDEX offers_request_id ON offers (tenant_id, request_id) WHERE request_id IS NOT NULL;

-- Opportunities gain a hand-set forecast category (0: derived from the
-- stage) and the campaign credited with them.
ALTER TABLE opportunities
    ADD COLUMN forecast_category smallint NOT NULL DEFAULT 0 CHECK (forecast_category BETWEEN 0 AND 5),
    ADD COLUMN campaign_id uuid,
    ADD CONSTRAINT opportunities_campaign FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns;
CREATE INDEX opportunities_campaign ON opportunities (tenant_id, campaign_id, create_time, opportunity_id) WHERE campaign_id IS NOT NULL;
-- Won revenue by owner and close time: quota attainment and commissions.
CREATE INDEX opportunities_won ON opportunities (tenant_id, owner_id, close_time) WHERE stage_kind = 2;
-- Forecast by expected close date (open) and close time (closed).
CREATE INDEX opportunities_forecast ON opportunities (tenant_id, expected_close_date) WHERE delete_time IS NULL;
CREATE INDEX opportunities_close_time ON opportunities (tenant_id, close_time) WHERE close_time IS NOT NULL;
-- Clawbacks: won stays that ended.
CREATE INDEX opportunity_stage_history_won ON opportunity_stage_history (tenant_id, exit_time) WHERE stage_kind = 2 AND exit_time IS NOT NULL;
CREATE INDEX opportunities_delete_time ON opportunities (tenant_id, delete_time) WHERE delete_time IS NOT NULL;

-- One snapshot per tenant and day; its rows are the opportunities then.
CREATE TABLE pipeline_snapshots (
    tenant_id         uuid        NOT NULL,
    snapshot_date     date        NOT NULL,
    time_zone         text        NOT NULL,
    take_time         timestamptz NOT NULL DEFAULT now(),
    opportunity_count bigint      NOT NULL,
    PRIMARY KEY (tenant_id, snapshot_date)
);

CREATE TABLE pipeline_snapshot_rows (
    tenant_id           uuid     NOT NULL,
    snapshot_date       date     NOT NULL,
    opportunity_id      uuid     NOT NULL,
    pipeline_id         uuid     NOT NULL,
    stage_id            uuid     NOT NULL,
    stage_kind          smallint NOT NULL,
    probability         smallint NOT NULL,
    forecast_category   smallint NOT NULL,
    currency_code       text     NOT NULL,
    amount_minor        bigint   NOT NULL,
    -- The expected close date, or the day a closed opportunity closed.
    close_date          date,
    owner_id            uuid,
    PRIMARY KEY (tenant_id, snapshot_date, opportunity_id),
    FOREIGN KEY (tenant_id, snapshot_date) REFERENCES pipeline_snapshots
);
CREATE INDEX pipeline_snapshot_rows_close ON pipeline_snapshot_rows (tenant_id, snapshot_date, close_date);

CREATE TABLE quotas (
    tenant_id     uuid        NOT NULL,
    quota_id      uuid        NOT NULL,
    assignee_kind smallint    NOT NULL CHECK (assignee_kind BETWEEN 1 AND 3),
    assignee      text        NOT NULL,
    member_ids    uuid[]      NOT NULL DEFAULT '{}',
    period_start  date        NOT NULL,
    period_end    date        NOT NULL CHECK (period_end >= period_start),
    time_zone     text        NOT NULL,
    currency_code text        NOT NULL CHECK (currency_code ~ '^[A-Z]{3}$'),
    target_minor  bigint      NOT NULL CHECK (target_minor > 0),
    request_id    text,
    revision      bigint      NOT NULL DEFAULT 1,
    create_time   timestamptz NOT NULL DEFAULT now(),
    update_time   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, quota_id),
    -- One quota per assignee, period and currency.
    CONSTRAINT quotas_assignee_period UNIQUE (tenant_id, assignee_kind, assignee, period_start, period_end, currency_code)
);
CREATE INDEX quotas_period ON quotas (tenant_id, period_start, quota_id);
CREATE INDEX quotas_assignee ON quotas (tenant_id, assignee, period_start, quota_id);
CREATE INDEX quotas_kind ON quotas (tenant_id, assignee_kind, period_start, quota_id);
CREATE UNIQUE INDEX quotas_request_id ON quotas (tenant_id, request_id) WHERE request_id IS NOT NULL;

CREATE TABLE commission_plans (
    tenant_id     uuid        NOT NULL,
    plan_id       uuid        NOT NULL,
    display_name  text        NOT NULL,
    currency_code text        NOT NULL CHECK (currency_code ~ '^[A-Z]{3}$'),
    -- [{"from": bps, "to": bps or 0, "rate": bps}, …] in order.
    tiers         jsonb       NOT NULL,
    clawback_days integer     NOT NULL CHECK (clawback_days >= 0),
    time_zone     text        NOT NULL,
    request_id    text,
    revision      bigint      NOT NULL DEFAULT 1,
    create_time   timestamptz NOT NULL DEFAULT now(),
    update_time   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, plan_id)
);
CREATE INDEX commission_plans_create_time ON commission_plans (tenant_id, create_time, plan_id);
CREATE UNIQUE INDEX commission_plans_request_id ON commission_plans (tenant_id, request_id) WHERE request_id IS NOT NULL;

-- A principal is paid by at most one plan.
CREATE TABLE commission_plan_members (
    tenant_id    uuid NOT NULL,
    principal_id uuid NOT NULL,
    plan_id      uuid NOT NULL,
    PRIMARY KEY (tenant_id, principal_id),
    FOREIGN KEY (tenant_id, plan_id) REFERENCES commission_plans
);
CREATE INDEX commission_plan_members_plan ON commission_plan_members (tenant_id, plan_id);

CREATE TABLE commission_splits (
    tenant_id      uuid    NOT NULL,
    opportunity_id uuid    NOT NULL,
    principal_id   uuid    NOT NULL,
    share_bps      integer NOT NULL CHECK (share_bps BETWEEN 1 AND 10000),
    PRIMARY KEY (tenant_id, opportunity_id, principal_id),
    FOREIGN KEY (tenant_id, opportunity_id) REFERENCES opportunities
);
-- A rep's credited opportunities.
CREATE INDEX commission_splits_principal ON commission_splits (tenant_id, principal_id, opportunity_id);

CREATE TABLE commission_statements (
    tenant_id     uuid        NOT NULL,
    statement_id  uuid        NOT NULL,
    principal_id  uuid        NOT NULL,
    plan_id       uuid        NOT NULL,
    period_start  date        NOT NULL,
    period_end    date        NOT NULL,
    currency_code text        NOT NULL,
    total_minor   bigint      NOT NULL,
    quota_minor   bigint      NOT NULL,
    compute_time  timestamptz NOT NULL DEFAULT now(),
    revision      bigint      NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, statement_id),
    CONSTRAINT commission_statements_period UNIQUE (tenant_id, principal_id, period_start, period_end),
    FOREIGN KEY (tenant_id, plan_id) REFERENCES commission_plans
);
CREATE INDEX commission_statements_order ON commission_statements (tenant_id, period_start, statement_id);

CREATE TABLE commission_statement_lines (
    tenant_id      uuid     NOT NULL,
    statement_id   uuid     NOT NULL,
    line_number    integer  NOT NULL,
    principal_id   uuid     NOT NULL,
    opportunity_id uuid     NOT NULL,
    kind           smallint NOT NULL CHECK (kind BETWEEN 1 AND 3),
    credit_minor   bigint   NOT NULL,
    rate_bps       bigint   NOT NULL,
    amount_minor   bigint   NOT NULL,
    tier_index     integer  NOT NULL,
    explanation    text     NOT NULL,
    PRIMARY KEY (tenant_id, statement_id, line_number),
    FOREIGN KEY (tenant_id, statement_id) REFERENCES commission_statements
);
-- Clawbacks look up what earlier statements paid a rep on an opportunity.
CREATE INDEX commission_statement_lines_opportunity ON commission_statement_lines (tenant_id, principal_id, opportunity_id);

ALTER TABLE campaigns ENABLE ROW LEVEL SECURITY;
ALTER TABLE campaigns FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON campaigns
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE campaign_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE campaign_members FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON campaign_members
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE campaign_responses ENABLE ROW LEVEL SECURITY;
ALTER TABLE campaign_responses FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON campaign_responses
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE offers ENABLE ROW LEVEL SECURITY;
ALTER TABLE offers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON offers
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE pipeline_snapshots ENABLE ROW LEVEL SECURITY;
ALTER TABLE pipeline_snapshots FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON pipeline_snapshots
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE pipeline_snapshot_rows ENABLE ROW LEVEL SECURITY;
ALTER TABLE pipeline_snapshot_rows FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON pipeline_snapshot_rows
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE quotas ENABLE ROW LEVEL SECURITY;
ALTER TABLE quotas FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON quotas
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE commission_plans ENABLE ROW LEVEL SECURITY;
ALTER TABLE commission_plans FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON commission_plans
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE commission_plan_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE commission_plan_members FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON commission_plan_members
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE commission_splits ENABLE ROW LEVEL SECURITY;
ALTER TABLE commission_splits FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON commission_splits
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE commission_statements ENABLE ROW LEVEL SECURITY;
ALTER TABLE commission_statements FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON commission_statements
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE commission_statement_lines ENABLE ROW LEVEL SECURITY;
ALTER TABLE commission_statement_lines FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON commission_statement_lines
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- statement_visible says whether the caller of the transaction (the
-- rapport.* settings pkg/pgdb sets) may see a rep's commission statement:
-- the service acting for itself (no principal), admins and sales managers
-- see all; anyone else only their own.
-- +goose StatementBegin
CREATE FUNCTION commission_statement_visible(rep uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN coalesce(current_setting('rapport.principal_id', true), '') = '' THEN true
        WHEN string_to_array(current_setting('rapport.roles', true), ',') && ARRAY['admin', 'sales_manager'] THEN true
        ELSE rep = nullif(current_setting('rapport.principal_id', true), '')::uuid
    END
$$;
-- +goose StatementEnd
CREATE POLICY record_access ON commission_statements AS RESTRICTIVE
    USING (commission_statement_visible(principal_id));
CREATE POLICY record_access ON commission_statement_lines AS RESTRICTIVE
    USING (commission_statement_visible(principal_id));

-- The snapshot loop must find the tenants with opportunities before it can
-- act as any of them; this function, running as the schema owner, tells
-- the service role those ids and nothing else.
-- +goose StatementBegin
CREATE FUNCTION pipeline_snapshot_tenants() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT DISTINCT tenant_id FROM public.pipelines
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION pipeline_snapshot_tenants() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pipeline_snapshot_tenants() TO rapport_pipeline;

-- Members, splits and statement lines are replaced as sets; the rest is
-- append-only or updated in place.
GRANT SELECT, INSERT, UPDATE ON campaigns, offers, pipeline_snapshots, quotas, commission_plans,
    commission_statements TO rapport_pipeline;
GRANT SELECT, INSERT ON campaign_members, campaign_responses, pipeline_snapshot_rows TO rapport_pipeline;
GRANT SELECT, INSERT, DELETE ON commission_plan_members, commission_splits, commission_statement_lines TO rapport_pipeline;

-- +goose Down
DROP FUNCTION pipeline_snapshot_tenants();
DROP TABLE commission_statement_lines, commission_statements;
DROP FUNCTION commission_statement_visible(uuid);
DROP TABLE commission_splits, commission_plan_members, commission_plans, quotas, pipeline_snapshot_rows, pipeline_snapshots;
DROP INDEX opportunity_stage_history_won;
DROP INDEX opportunities_won, opportunities_forecast, opportunities_close_time, opportunities_delete_time, opportunities_campaign;
ALTER TABLE opportunities DROP COLUMN campaign_id, DROP COLUMN forecast_category;
DROP TABLE offers, campaign_responses, campaign_members, campaigns;
