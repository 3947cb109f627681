-- +goose Up
-- Sales, service, channel and marketing figures are computed from the
-- projections below. Every column added to an existing projection has a
-- default, so rows written before this migration stay valid until their
-- resource's next event (or a rebuild) fills them in.

-- Opportunities: who sells it, through which partner and campaign, which
-- products, and when it was engaged and closed. Dates and ids are kept as
-- the events carry them: an owner may be any principal id.
ALTER TABLE opportunity_state
    ADD COLUMN owner_id          text        NOT NULL DEFAULT '',
    ADD COLUMN partner_id        text        NOT NULL DEFAULT '',
    ADD COLUMN campaign_id       text        NOT NULL DEFAULT '',
    ADD COLUMN stage_id          text        NOT NULL DEFAULT '',
    ADD COLUMN stage_kind        smallint    NOT NULL DEFAULT 0,
    ADD COLUMN forecast_category smallint    NOT NULL DEFAULT 0,
    ADD COLUMN product_ids       text[]      NOT NULL DEFAULT '{}',
    ADD COLUMN engage_date       date,
    ADD COLUMN expected_close_date date,
    ADD COLUMN create_time       timestamptz,
    ADD COLUMN close_time        timestamptz,
    ADD COLUMN deleted           boolean     NOT NULL DEFAULT false;
CREATE INDEX opportunity_state_create ON opportunity_state (tenant_id, create_time);
CREATE INDEX opportunity_state_close ON opportunity_state (tenant_id, close_time) WHERE close_time IS NOT NULL;
CREATE INDEX opportunity_state_owner ON opportunity_state (tenant_id, owner_id, close_time);
CREATE INDEX opportunity_state_partner ON opportunity_state (tenant_id, partner_id, close_time) WHERE partner_id <> '';
CREATE INDEX opportunity_state_campaign ON opportunity_state (tenant_id, campaign_id) WHERE campaign_id <> '';
CREATE INDEX opportunity_state_expected ON opportunity_state (tenant_id, expected_close_date) WHERE stage_kind = 1;
CREATE INDEX opportunity_state_products ON opportunity_state USING gin (product_ids);

-- The stages each opportunity has been in, with the time it first entered
-- each: the funnel counts opportunities per stage reached.
CREATE TABLE opportunity_stage_reached (
    tenant_id      uuid        NOT NULL,
    opportunity_id uuid        NOT NULL,
    stage_id       text        NOT NULL,
    stage_kind     smallint    NOT NULL,
    enter_time     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, opportunity_id, stage_id)
);
CREATE INDEX opportunity_stage_reached_stage ON opportunity_stage_reached (tenant_id, stage_id);

-- Tickets: channel, priority, agent and the service timestamps SLA and
-- percentile figures need.
ALTER TABLE ticket_state
    ADD COLUMN channel                 smallint    NOT NULL DEFAULT 0,
    ADD COLUMN priority                smallint    NOT NULL DEFAULT 0,
    ADD COLUMN assignee_id             text        NOT NULL DEFAULT '',
    ADD COLUMN partner_id              text        NOT NULL DEFAULT '',
    ADD COLUMN has_sla                 boolean     NOT NULL DEFAULT false,
    ADD COLUMN first_response_breached boolean     NOT NULL DEFAULT false,
    ADD COLUMN resolution_breached     boolean     NOT NULL DEFAULT false,
    ADD COLUMN create_time             timestamptz,
    ADD COLUMN first_response_time     timestamptz,
    ADD COLUMN resolve_time            timestamptz;
CREATE INDEX ticket_state_create ON ticket_state (tenant_id, create_time);
CREATE INDEX ticket_state_resolve ON ticket_state (tenant_id, resolve_time) WHERE resolve_time IS NOT NULL;
CREATE INDEX ticket_state_channel ON ticket_state (tenant_id, channel, create_time);
CREATE INDEX ticket_state_assignee ON ticket_state (tenant_id, assignee_id, create_time);

-- Answered CSAT and NPS surveys. A CSAT answer names its ticket (channel and
-- agent come from there); an NPS answer names only its customer.
CREATE TABLE satisfaction_response (
    tenant_id    uuid        NOT NULL,
    kind         smallint    NOT NULL, -- 1 CSAT (score 1–5), 2 NPS (score 0–10)
    response_key text        NOT NULL, -- CSAT survey id, or "<nps survey id>/<customer id>"
    score        smallint    NOT NULL,
    ticket_id    uuid,
    customer_id  uuid,
    answer_time  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, kind, response_key)
);
CREATE INDEX satisfaction_response_answer ON satisfaction_response (tenant_id, kind, answer_time);

-- Campaign costs, for ROI.
CREATE TABLE campaign_state (
    tenant_id     uuid        NOT NULL,
    campaign_id   text        NOT NULL,
    channel       smallint    NOT NULL,
    currency_code text        NOT NULL,
    cost_minor    bigint      NOT NULL,
    update_time   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, campaign_id)
);

-- Deal registrations, for partner scorecards.
CREATE TABLE deal_registration_state (
    tenant_id            uuid        NOT NULL,
    deal_registration_id uuid        NOT NULL,
    partner_id           text        NOT NULL,
    state                smallint    NOT NULL,
    currency_code        text        NOT NULL,
    amount_minor         bigint      NOT NULL,
    create_time          timestamptz NOT NULL,
    update_time          timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, deal_registration_id)
);
CREATE INDEX deal_registration_state_create ON deal_registration_state (tenant_id, create_time);
CREATE INDEX deal_registration_state_partner ON deal_registration_state (tenant_id, partner_id, create_time);

-- Quotas with the attainment the pipeline service computed.
CREATE TABLE quota_state (
    tenant_id      uuid        NOT NULL,
    quota_id       uuid        NOT NULL,
    assignee       text        NOT NULL,
    period_start   date        NOT NULL,
    period_end     date        NOT NULL,
    currency_code  text        NOT NULL,
    target_minor   bigint      NOT NULL,
    attained_minor bigint      NOT NULL,
    update_time    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, quota_id)
);
CREATE INDEX quota_state_period ON quota_state (tenant_id, period_start);

-- Daily pipeline snapshots, for the pipeline trend.
CREATE TABLE pipeline_snapshot (
    tenant_id         uuid        NOT NULL,
    snapshot_date     date        NOT NULL,
    opportunity_count bigint      NOT NULL,
    take_time         timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, snapshot_date)
);

-- Web and app behaviour, ingested through the API (not rebuilt from any
-- stream: a rebuild keeps these tables). customer_id is the customer the
-- event named, if any.
CREATE TABLE behaviour_event (
    tenant_id    uuid        NOT NULL,
    event_id     uuid        NOT NULL,
    anonymous_id text        NOT NULL,
    customer_id  uuid,
    kind         smallint    NOT NULL,
    target       text        NOT NULL,
    dwell_ms     bigint      NOT NULL,
    occur_time   timestamptz NOT NULL,
    ingest_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX behaviour_event_anonymous ON behaviour_event (tenant_id, anonymous_id, occur_time);
CREATE INDEX behaviour_event_customer ON behaviour_event (tenant_id, customer_id, occur_time) WHERE customer_id IS NOT NULL;

-- Stitching: the customer each anonymous id belongs to, taken from the
-- latest event (by occur_time) that named one.
CREATE TABLE behaviour_identity (
    tenant_id    uuid        NOT NULL,
    anonymous_id text        NOT NULL,
    customer_id  uuid        NOT NULL,
    stitch_time  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, anonymous_id)
);
CREATE INDEX behaviour_identity_customer ON behaviour_identity (tenant_id, customer_id);

ALTER TABLE opportunity_stage_reached ENABLE ROW LEVEL SECURITY;
ALTER TABLE opportunity_stage_reached FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON opportunity_stage_reached
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE satisfaction_response ENABLE ROW LEVEL SECURITY;
ALTER TABLE satisfaction_response FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON satisfaction_response
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE campaign_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE campaign_state FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON campaign_state
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE deal_registration_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE deal_registration_state FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON deal_registration_state
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE quota_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE quota_state FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON quota_state
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE pipeline_snapshot ENABLE ROW LEVEL SECURITY;
ALTER TABLE pipeline_snapshot FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON pipeline_snapshot
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE behaviour_event ENABLE ROW LEVEL SECURITY;
ALTER TABLE behaviour_event FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON behaviour_event
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE behaviour_identity ENABLE ROW LEVEL SECURITY;
ALTER TABLE behaviour_identity FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON behaviour_identity
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- Projections are upserted; behaviour events are append-only (a replayed
-- batch inserts nothing). Ingesting behaviour is a change made through the
-- API, so the service now records its event and audit row.
GRANT SELECT, INSERT, UPDATE ON opportunity_stage_reached, satisfaction_response, campaign_state,
    deal_registration_state, quota_state, pipeline_snapshot, behaviour_identity TO rapport_analytics;
GRANT SELECT, INSERT ON behaviour_event, outbox, audit_log TO rapport_analytics;

-- +goose Down
REVOKE SELECT, INSERT ON outbox, audit_log FROM rapport_analytics;
DROP TABLE behaviour_identity, behaviour_event, pipeline_snapshot, quota_state, deal_registration_state,
    campaign_state, satisfaction_response, opportunity_stage_reached;
DROP INDEX ticket_state_create, ticket_state_resolve, ticket_state_channel, ticket_state_assignee;
ALTER TABLE ticket_state
    DROP COLUMN channel, DROP COLUMN priority, DROP COLUMN assignee_id, DROP COLUMN partner_id, DROP COLUMN has_sla,
    DROP COLUMN first_response_breached, DROP COLUMN resolution_breached, DROP COLUMN create_time,
    DROP COLUMN first_response_time, DROP COLUMN resolve_time;
DROP INDEX opportunity_state_create, opportunity_state_close, opportunity_state_owner, opportunity_state_partner,
    opportunity_state_campaign, opportunity_state_expected, opportunity_state_products;
ALTER TABLE opportunity_state
    DROP COLUMN owner_id, DROP COLUMN partner_id, DROP COLUMN campaign_id, DROP COLUMN stage_id, DROP COLUMN stage_kind,
    DROP COLUMN forecast_category, DROP COLUMN product_ids, DROP COLUMN engage_date, DROP COLUMN expected_close_date,
    DROP COLUMN create_time, DROP COLUMN close_time, DROP COLUMN deleted;
