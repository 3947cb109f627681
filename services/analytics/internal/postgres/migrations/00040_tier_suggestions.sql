-- +goose Up
-- A tenant's control over the value tiers analytics suggests to the
-- customer service; no row means the defaults (tiering.DefaultSettings).
CREATE TABLE tier_suggestion_settings (
    tenant_id       uuid        NOT NULL,
    enabled         boolean     NOT NULL,
    override_manual boolean     NOT NULL,
    vip_min_score   integer     NOT NULL,
    a_min_score     integer     NOT NULL,
    b_min_score     integer     NOT NULL,
    revision        bigint      NOT NULL,
    update_time     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id),
    CHECK (3 <= b_min_score AND b_min_score < a_min_score AND a_min_score <= vip_min_score AND vip_min_score <= 15)
);

-- The latest suggestion per customer and its delivery: the outbox the
-- delivery worker drains (state 'pending'), at least once, with retries.
CREATE TABLE tier_suggestions (
    tenant_id         uuid        NOT NULL,
    customer_id       uuid        NOT NULL,
    tier              text        NOT NULL,
    reason            text        NOT NULL,
    run_id            uuid        NOT NULL,
    state             smallint    NOT NULL,
    attempts          integer     NOT NULL DEFAULT 0,
    last_error        text        NOT NULL DEFAULT '',
    next_attempt_time timestamptz NOT NULL DEFAULT now(),
    update_time       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, customer_id)
);
-- The worker's queue: pending suggestions by when they are due.
CREATE INDEX tier_suggestions_due ON tier_suggestions (tenant_id, next_attempt_time) WHERE state = 1;
-- ListTierSuggestions filtered by state, by customer id (unfiltered uses the key).
CREATE INDEX tier_suggestions_state ON tier_suggestions (tenant_id, state, customer_id);

ALTER TABLE tier_suggestion_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE tier_suggestion_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tier_suggestion_settings
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE tier_suggestions ENABLE ROW LEVEL SECURITY;
ALTER TABLE tier_suggestions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tier_suggestions
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE ON tier_suggestion_settings, tier_suggestions TO rapport_analytics;

-- +goose Down
DROP TABLE tier_suggestions, tier_suggestion_settings;
