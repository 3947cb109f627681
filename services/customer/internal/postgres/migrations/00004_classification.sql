-- +goose Up
-- Classification: the lifecycle transition log, value tiers with their
-- rules and history, and dynamic segments with their membership history.

CREATE TABLE lifecycle_transitions (
    tenant_id       uuid        NOT NULL,
    customer_id     uuid        NOT NULL,
    transition_id   uuid        NOT NULL,
    from_stage      smallint    NOT NULL,
    to_stage        smallint    NOT NULL,
    principal_id    uuid,
    reason          text        NOT NULL DEFAULT '',
    create_time     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, transition_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers
);
CREATE INDEX lifecycle_transitions_customer ON lifecycle_transitions (tenant_id, customer_id, create_time DESC, transition_id DESC);

CREATE TABLE value_tier_rules (
    tenant_id   uuid        NOT NULL,
    rule_id     uuid        NOT NULL,
    tier        text        NOT NULL,
    rank        integer     NOT NULL,
    filter      text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    request_id  text,
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    delete_time timestamptz,
    revision    bigint      NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, rule_id)
);
CREATE INDEX value_tier_rules_rank ON value_tier_rules (tenant_id, rank, rule_id) WHERE delete_time IS NULL;
CREATE UNIQUE INDEX value_tier_rules_request_id ON value_tier_rules (tenant_id, request_id) WHERE request_id IS NOT NULL;

-- The current tier of each tiered customer; manual tiers override the rules.
CREATE TABLE customer_value_tiers (
    tenant_id    uuid        NOT NULL,
    customer_id  uuid        NOT NULL,
    tier         text        NOT NULL,
    rule_id      uuid,
    manual       boolean     NOT NULL DEFAULT false,
    principal_id uuid,
    change_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, customer_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers
);
CREATE INDEX customer_value_tiers_tier ON customer_value_tiers (tenant_id, tier);

CREATE TABLE value_tier_changes (
    tenant_id    uuid        NOT NULL,
    customer_id  uuid        NOT NULL,
    change_id    uuid        NOT NULL,
    from_tier    text        NOT NULL,
    to_tier      text        NOT NULL,
    rule_id      uuid,
    principal_id uuid,
    reason       text        NOT NULL DEFAULT '',
    create_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, change_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers
);
CREATE INDEX value_tier_changes_customer ON value_tier_changes (tenant_id, customer_id, create_time DESC, change_id DESC);

CREATE TABLE segments (
    tenant_id    uuid        NOT NULL,
    segment_id   uuid        NOT NULL,
    display_name text        NOT NULL,
    description  text        NOT NULL DEFAULT '',
    filter       text        NOT NULL,
    request_id   text,
    refresh_time timestamptz NOT NULL DEFAULT now(),
    create_time  timestamptz NOT NULL DEFAULT now(),
    update_time  timestamptz NOT NULL DEFAULT now(),
    delete_time  timestamptz,
    revision     bigint      NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, segment_id)
);
CREATE UNIQUE INDEX segments_name ON segments (tenant_id, display_name) WHERE delete_time IS NULL;
CREATE INDEX segments_list ON segments (tenant_id, display_name, segment_id) WHERE delete_time IS NULL;
CREATE UNIQUE INDEX segments_request_id ON segments (tenant_id, request_id) WHERE request_id IS NOT NULL;

-- Membership history: a row per stay; leave_time is null while it lasts.
CREATE TABLE segment_members (
    tenant_id   uuid        NOT NULL,
    segment_id  uuid        NOT NULL,
    customer_id uuid        NOT NULL,
    stay_id     uuid        NOT NULL,
    enter_time  timestamptz NOT NULL DEFAULT now(),
    leave_time  timestamptz,
    PRIMARY KEY (tenant_id, stay_id),
    FOREIGN KEY (tenant_id, segment_id) REFERENCES segments,
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers
);
CREATE UNIQUE INDEX segment_members_current ON segment_members (tenant_id, segment_id, customer_id) WHERE leave_time IS NULL;
CREATE INDEX segment_members_list ON segment_members (tenant_id, segment_id, enter_time, customer_id) WHERE leave_time IS NULL;
CREATE INDEX segment_members_customer ON segment_members (tenant_id, customer_id) WHERE leave_time IS NULL;

ALTER TABLE lifecycle_transitions ENABLE ROW LEVEL SECURITY;
ALTER TABLE lifecycle_transitions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON lifecycle_transitions
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE value_tier_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE value_tier_rules FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON value_tier_rules
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE customer_value_tiers ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_value_tiers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON customer_value_tiers
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE value_tier_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE value_tier_changes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON value_tier_changes
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE segments ENABLE ROW LEVEL SECURITY;
ALTER TABLE segments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON segments
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE segment_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE segment_members FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON segment_members
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- Logs and histories are append-only; the current tier row is replaced in place.
GRANT SELECT, INSERT ON lifecycle_transitions, value_tier_changes TO rapport_customer;
GRANT SELECT, INSERT, UPDATE ON value_tier_rules, customer_value_tiers, segments, segment_members TO rapport_customer;
GRANT DELETE ON customer_value_tiers TO rapport_customer;

-- +goose Down
DROP TABLE segment_members, segments, value_tier_changes, customer_value_tiers, value_tier_rules, lifecycle_transitions;
