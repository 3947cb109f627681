-- Pipelines with ordered stages, products and dated price lists, and
-- opportunities that sit on a pipeline stage, carry line items and keep a
-- stage history. Existing opportunities move onto a default pipeline per
-- tenant whose stages mirror the old fixed stage enum.

-- +goose Up
CREATE TABLE pipelines (
    tenant_id     uuid        NOT NULL,
    pipeline_id   uuid        NOT NULL,
    display_name  text        NOT NULL,
    currency_code text        NOT NULL CHECK (currency_code ~ '^[A-Z]{3}$'),
    is_default    boolean     NOT NULL DEFAULT false,
    won_reasons   text[]      NOT NULL DEFAULT '{}',
    lost_reasons  text[]      NOT NULL DEFAULT '{}',
    request_id    text,
    revision      bigint      NOT NULL DEFAULT 1,
    create_time   timestamptz NOT NULL DEFAULT now(),
    update_time   timestamptz NOT NULL DEFAULT now(),
    delete_time   timestamptz,
    PRIMARY KEY (tenant_id, pipeline_id)
);
-- One default pipeline per tenant; creating it on first use races safely on this index.
CREATE UNIQUE INDEX pipelines_default ON pipelines (tenant_id) WHERE is_default;
CREATE INDEX pipelines_create_time ON pipelines (tenant_id, create_time, pipeline_id);
CREATE UNIQUE INDEX pipelines_request_id ON pipelines (tenant_id, request_id) WHERE request_id IS NOT NULL;

CREATE TABLE pipeline_stages (
    tenant_id       uuid     NOT NULL,
    pipeline_id     uuid     NOT NULL,
    stage_id        uuid     NOT NULL,
    position        integer  NOT NULL,
    display_name    text     NOT NULL,
    probability     smallint NOT NULL CHECK (probability BETWEEN 0 AND 100),
    kind            smallint NOT NULL CHECK (kind BETWEEN 1 AND 3),
    required_fields text[]   NOT NULL DEFAULT '{}',
    -- The old fixed stage (rapport.pipeline.v1.Stage) this stage stands for, 0 for none.
    legacy_stage    smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, pipeline_id, stage_id),
    FOREIGN KEY (tenant_id, pipeline_id) REFERENCES pipelines,
    -- Deferred so that a reorder may swap positions within one transaction.
    UNIQUE (tenant_id, pipeline_id, position) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE products (
    tenant_id    uuid        NOT NULL,
    product_id   uuid        NOT NULL,
    sku          text        NOT NULL,
    display_name text        NOT NULL,
    active       boolean     NOT NULL DEFAULT true,
    request_id   text,
    revision     bigint      NOT NULL DEFAULT 1,
    create_time  timestamptz NOT NULL DEFAULT now(),
    update_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, product_id),
    CONSTRAINT products_sku UNIQUE (tenant_id, sku)
);
CREATE INDEX products_create_time ON products (tenant_id, create_time, product_id);
CREATE INDEX products_active ON products (tenant_id, active, create_time, product_id);
CREATE UNIQUE INDEX products_request_id ON products (tenant_id, request_id) WHERE request_id IS NOT NULL;

CREATE TABLE price_lists (
    tenant_id     uuid        NOT NULL,
    price_list_id uuid        NOT NULL,
    display_name  text        NOT NULL,
    currency_code text        NOT NULL CHECK (currency_code ~ '^[A-Z]{3}$'),
    request_id    text,
    revision      bigint      NOT NULL DEFAULT 1,
    create_time   timestamptz NOT NULL DEFAULT now(),
    update_time   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, price_list_id)
);
CREATE INDEX price_lists_create_time ON price_lists (tenant_id, create_time, price_list_id);
CREATE INDEX price_lists_currency ON price_lists (tenant_id, currency_code, create_time, price_list_id);
CREATE UNIQUE INDEX price_lists_request_id ON price_lists (tenant_id, request_id) WHERE request_id IS NOT NULL;

-- A price holds from valid_from until the next later valid_from of the same
-- product; the primary key serves "the price on a date" as one index probe.
CREATE TABLE prices (
    tenant_id        uuid   NOT NULL,
    price_list_id    uuid   NOT NULL,
    product_id       uuid   NOT NULL,
    valid_from       date   NOT NULL,
    unit_price_minor bigint NOT NULL CHECK (unit_price_minor >= 0),
    PRIMARY KEY (tenant_id, price_list_id, product_id, valid_from),
    FOREIGN KEY (tenant_id, price_list_id) REFERENCES price_lists,
    FOREIGN KEY (tenant_id, product_id) REFERENCES products
);

-- Rows of every tenant are rewritten below: the migration role must see them all.
ALTER TABLE opportunities NO FORCE ROW LEVEL SECURITY;

ALTER TABLE opportunities
    ADD COLUMN pipeline_id      uuid,
    ADD COLUMN stage_id         uuid,
    ADD COLUMN stage_kind       smallint NOT NULL DEFAULT 1,
    ADD COLUMN engage_date      date,
    ADD COLUMN close_reason     text NOT NULL DEFAULT '',
    ADD COLUMN close_time       timestamptz,
    ADD COLUMN stage_enter_time timestamptz,
    ADD COLUMN price_list_id    uuid,
    ADD COLUMN delete_time      timestamptz;

CREATE TABLE opportunity_line_items (
    tenant_id        uuid    NOT NULL,
    opportunity_id   uuid    NOT NULL,
    line_id          uuid    NOT NULL,
    position         integer NOT NULL,
    product_id       uuid    NOT NULL,
    quantity         bigint  NOT NULL CHECK (quantity > 0),
    unit_price_minor bigint  NOT NULL CHECK (unit_price_minor >= 0),
    price_overridden boolean NOT NULL,
    discount_bps     integer NOT NULL CHECK (discount_bps BETWEEN 0 AND 10000),
    total_minor      bigint  NOT NULL CHECK (total_minor >= 0),
    PRIMARY KEY (tenant_id, opportunity_id, line_id),
    FOREIGN KEY (tenant_id, opportunity_id) REFERENCES opportunities,
    FOREIGN KEY (tenant_id, product_id) REFERENCES products
);
CREATE INDEX opportunity_line_items_product ON opportunity_line_items (tenant_id, product_id);

-- Each stage an opportunity was in: entered and (once left) exited, so
-- time in stage is exact. Stage names are copied: a stage removed from its
-- pipeline later still reads in the history.
CREATE TABLE opportunity_stage_history (
    tenant_id      uuid        NOT NULL,
    opportunity_id uuid        NOT NULL,
    entry_id       uuid        NOT NULL,
    pipeline_id    uuid        NOT NULL,
    stage_id       uuid        NOT NULL,
    stage_name     text        NOT NULL,
    stage_kind     smallint    NOT NULL,
    principal_id   text        NOT NULL,
    enter_time     timestamptz NOT NULL,
    exit_time      timestamptz CHECK (exit_time >= enter_time),
    PRIMARY KEY (tenant_id, opportunity_id, entry_id),
    FOREIGN KEY (tenant_id, opportunity_id) REFERENCES opportunities
);
CREATE INDEX opportunity_stage_history_order ON opportunity_stage_history (tenant_id, opportunity_id, enter_time, entry_id);
-- At most one open (not exited) entry per opportunity.
CREATE UNIQUE INDEX opportunity_stage_history_current ON opportunity_stage_history (tenant_id, opportunity_id) WHERE exit_time IS NULL;

-- +goose StatementBegin
-- A UUIDv7 (millisecond time prefix, random rest) like the services make.
CREATE FUNCTION pg_temp.uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
        PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
        FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;
-- +goose StatementEnd

-- The default pipeline of every tenant that already has opportunities.
INSERT INTO pipelines (tenant_id, pipeline_id, display_name, currency_code, is_default)
SELECT t.tenant_id, pg_temp.uuid_v7(), 'Sales', t.currency_code, true
FROM (SELECT tenant_id, mode() WITHIN GROUP (ORDER BY currency_code) AS currency_code
      FROM opportunities GROUP BY tenant_id) t;

INSERT INTO pipeline_stages (tenant_id, pipeline_id, stage_id, position, display_name, probability, kind, legacy_stage)
SELECT p.tenant_id, p.pipeline_id, pg_temp.uuid_v7(), s.position, s.display_name, s.probability, s.kind, s.legacy_stage
FROM pipelines p
CROSS JOIN (VALUES (0, 'Prospecting', 10, 1, 1), (1, 'Qualification', 25, 1, 2), (2, 'Proposal', 50, 1, 3),
                   (3, 'Negotiation', 75, 1, 4), (4, 'Won', 100, 2, 5), (5, 'Lost', 0, 3, 6))
    AS s (position, display_name, probability, kind, legacy_stage);

UPDATE opportunities o
SET pipeline_id = s.pipeline_id, stage_id = s.stage_id, stage_kind = s.kind,
    -- Engaged when recorded, or by the expected close if that came first
    -- (an opportunity entered after the fact), so the check below holds.
    engage_date = least((o.create_time AT TIME ZONE 'UTC')::date, o.expected_close_date),
    stage_enter_time = o.create_time,
    close_time = CASE WHEN s.kind IN (2, 3) THEN o.update_time END
FROM pipeline_stages s JOIN pipelines p USING (tenant_id, pipeline_id)
WHERE p.is_default AND s.tenant_id = o.tenant_id AND s.legacy_stage = o.stage;

-- What was known of each opportunity's stage: entered when it was created.
INSERT INTO opportunity_stage_history (tenant_id, opportunity_id, entry_id, pipeline_id, stage_id, stage_name,
    stage_kind, principal_id, enter_time)
SELECT o.tenant_id, o.opportunity_id, pg_temp.uuid_v7(), o.pipeline_id, o.stage_id, s.display_name, s.kind, '', o.stage_enter_time
FROM opportunities o JOIN pipeline_stages s USING (tenant_id, pipeline_id, stage_id);

DROP FUNCTION pg_temp.uuid_v7();

ALTER TABLE opportunities
    ALTER COLUMN pipeline_id SET NOT NULL,
    ALTER COLUMN stage_id SET NOT NULL,
    ALTER COLUMN engage_date SET NOT NULL,
    ALTER COLUMN stage_enter_time SET NOT NULL,
    ADD CONSTRAINT opportunities_stage FOREIGN KEY (tenant_id, pipeline_id, stage_id) REFERENCES pipeline_stages,
    ADD CONSTRAINT opportunities_price_list FOREIGN KEY (tenant_id, price_list_id) REFERENCES price_lists,
    ADD CONSTRAINT opportunities_close_date CHECK (expected_close_date >= engage_date);
ALTER TABLE opportunities FORCE ROW LEVEL SECURITY;

-- List filters and orders: each filter followed by the default order, and
-- one index per sort key (scanned either way for descending orders).
CREATE INDEX opportunities_pipeline ON opportunities (tenant_id, pipeline_id, create_time, opportunity_id);
CREATE INDEX opportunities_stage_id ON opportunities (tenant_id, stage_id, create_time, opportunity_id);
CREATE INDEX opportunities_stage_kind ON opportunities (tenant_id, stage_kind, create_time, opportunity_id);
CREATE INDEX opportunities_close_date ON opportunities (tenant_id, coalesce(expected_close_date, 'infinity'::date), opportunity_id);
CREATE INDEX opportunities_amount ON opportunities (tenant_id, amount_minor, opportunity_id);

ALTER TABLE pipelines ENABLE ROW LEVEL SECURITY;
ALTER TABLE pipelines FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON pipelines
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE pipeline_stages ENABLE ROW LEVEL SECURITY;
ALTER TABLE pipeline_stages FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON pipeline_stages
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE products ENABLE ROW LEVEL SECURITY;
ALTER TABLE products FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON products
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE price_lists ENABLE ROW LEVEL SECURITY;
ALTER TABLE price_lists FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON price_lists
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE prices ENABLE ROW LEVEL SECURITY;
ALTER TABLE prices FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON prices
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE opportunity_line_items ENABLE ROW LEVEL SECURITY;
ALTER TABLE opportunity_line_items FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON opportunity_line_items
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE opportunity_stage_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE opportunity_stage_history FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON opportunity_stage_history
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- Stages, prices and line items are replaced as sets, so the service role
-- deletes those rows; everything else is soft-deleted or append-only.
GRANT SELECT, INSERT, UPDATE ON pipelines, products, price_lists, opportunity_stage_history TO rapport_pipeline;
GRANT SELECT, INSERT, UPDATE, DELETE ON pipeline_stages, prices, opportunity_line_items TO rapport_pipeline;

-- +goose Down
ALTER TABLE opportunities NO FORCE ROW LEVEL SECURITY;
DROP TABLE opportunity_stage_history, opportunity_line_items;
DROP INDEX opportunities_pipeline, opportunities_stage_id, opportunities_stage_kind, opportunities_close_date, opportunities_amount;
ALTER TABLE opportunities
    DROP COLUMN pipeline_id, DROP COLUMN stage_id, DROP COLUMN stage_kind, DROP COLUMN engage_date,
    DROP COLUMN close_reason, DROP COLUMN close_time, DROP COLUMN stage_enter_time, DROP COLUMN price_list_id,
    DROP COLUMN delete_time;
ALTER TABLE opportunities FORCE ROW LEVEL SECURITY;
DROP TABLE prices, price_lists, products, pipeline_stages, pipelines;
