-- +goose Up
-- Customer insight (issue 7, part A): quarantined events, the customer
-- service's facts (profile, segments, interactions, follow-ups, loyalty),
-- the pipeline's orders, and next-best-offer feedback.

-- Events a consumer could not project: kept with the reason, listed through
-- the API, never blocking the feed. event_id is the event's own id, or one
-- derived from (source, cursor) when the envelope carried none, so a replay
-- quarantines nothing twice.
CREATE TABLE quarantined_events (
    tenant_id    uuid        NOT NULL,
    event_id     uuid        NOT NULL,
    source       text        NOT NULL,
    cursor       text        NOT NULL,
    type         text        NOT NULL,
    reason       text        NOT NULL,
    payload_type text        NOT NULL,
    payload      bytea       NOT NULL,
    create_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id)
);
-- ListQuarantinedEvents: newest first, keyset on (create_time, event_id), filter on source and type.
CREATE INDEX quarantined_events_newest ON quarantined_events (tenant_id, create_time DESC, event_id DESC);
-- The filter on source (and type), and the per-feed counts of ListFeeds.
CREATE INDEX quarantined_events_source ON quarantined_events (tenant_id, source, type, create_time DESC);

-- The latest profile facts of a customer. The Telco attributes are the
-- custom attributes the customer import gives subscribers; NULL when absent.
-- Columns may be NULL until the customer's own event arrives (a value-tier
-- change can come first after a rebuild of part of the stream).
CREATE TABLE customer_profile (
    tenant_id       uuid        NOT NULL,
    customer_id     uuid        NOT NULL,
    kind            smallint    NOT NULL DEFAULT 0,
    lifecycle_stage smallint    NOT NULL DEFAULT 0,
    value_tier      text        NOT NULL DEFAULT '',
    country_code    text        NOT NULL DEFAULT '',
    contract        text,
    tenure_months   double precision,
    monthly_charges double precision,
    create_time     timestamptz,
    deleted         boolean     NOT NULL DEFAULT false,
    update_time     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, customer_id)
);

-- Current segment memberships: a row per segment entered and not yet left.
CREATE TABLE segment_membership (
    tenant_id   uuid        NOT NULL,
    customer_id uuid        NOT NULL,
    segment_id  uuid        NOT NULL,
    enter_time  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, customer_id, segment_id)
);
-- Next best offer: the other members of a customer's segments.
CREATE INDEX segment_membership_segment ON segment_membership (tenant_id, segment_id);

CREATE TABLE interaction_fact (
    tenant_id      uuid        NOT NULL,
    interaction_id uuid        NOT NULL,
    customer_id    uuid        NOT NULL,
    kind           smallint    NOT NULL,
    direction      smallint    NOT NULL,
    channel        text        NOT NULL,
    occur_time     timestamptz NOT NULL,
    deleted        boolean     NOT NULL,
    PRIMARY KEY (tenant_id, interaction_id)
);
-- Customer 360 (latest interactions) and churn risk (last activity).
CREATE INDEX interaction_fact_customer ON interaction_fact (tenant_id, customer_id, occur_time DESC);

CREATE TABLE follow_up_fact (
    tenant_id    uuid        NOT NULL,
    follow_up_id uuid        NOT NULL,
    customer_id  uuid        NOT NULL,
    status       smallint    NOT NULL,
    due_time     timestamptz,
    PRIMARY KEY (tenant_id, follow_up_id)
);
CREATE INDEX follow_up_fact_customer ON follow_up_fact (tenant_id, customer_id);

CREATE TABLE loyalty_fact (
    tenant_id   uuid        NOT NULL,
    customer_id uuid        NOT NULL,
    program_id  uuid        NOT NULL,
    balance     bigint      NOT NULL DEFAULT 0,
    tier_id     text        NOT NULL DEFAULT '',
    update_time timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, customer_id, program_id)
);

-- Orders as the pipeline service last described them. value_currency and
-- value_minor are what every value figure sums: the reporting total when the
-- order carries one, its own total otherwise. customer_id is NULL for guest
-- orders, which still count for items bought together.
CREATE TABLE order_fact (
    tenant_id      uuid        NOT NULL,
    order_id       uuid        NOT NULL,
    customer_id    uuid,
    kind           smallint    NOT NULL,
    status         smallint    NOT NULL,
    order_number   text        NOT NULL,
    value_currency text        NOT NULL,
    value_minor    bigint      NOT NULL,
    order_time     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, order_id)
);
-- Value, churn and the 360 read a customer's orders by time; RFM over the
-- tenant reads every order by currency and time.
CREATE INDEX order_fact_customer ON order_fact (tenant_id, customer_id, order_time DESC);
CREATE INDEX order_fact_value ON order_fact (tenant_id, value_currency, order_time) INCLUDE (customer_id, kind, status, value_minor);

CREATE TABLE order_line_fact (
    tenant_id  uuid   NOT NULL,
    order_id   uuid   NOT NULL,
    line_no    int    NOT NULL,
    product_id uuid   NOT NULL,
    quantity   bigint NOT NULL,
    PRIMARY KEY (tenant_id, order_id, line_no)
);
-- Items bought together: the orders holding a product.
CREATE INDEX order_line_fact_product ON order_line_fact (tenant_id, product_id, order_id);

-- Accept / reject answers to next-best offers.
CREATE TABLE offer_feedback (
    tenant_id    uuid        NOT NULL,
    feedback_id  uuid        NOT NULL,
    customer_id  uuid        NOT NULL,
    product_id   uuid        NOT NULL,
    outcome      smallint    NOT NULL,
    principal_id text        NOT NULL,
    request_id   text,
    create_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, feedback_id)
);
CREATE UNIQUE INDEX offer_feedback_request ON offer_feedback (tenant_id, request_id) WHERE request_id IS NOT NULL;
-- A customer's own answers, and every customer's answers per product (acceptance rate).
CREATE INDEX offer_feedback_customer ON offer_feedback (tenant_id, customer_id, product_id);
CREATE INDEX offer_feedback_product ON offer_feedback (tenant_id, product_id, outcome);

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['quarantined_events', 'customer_profile', 'segment_membership', 'interaction_fact',
        'follow_up_fact', 'loyalty_fact', 'order_fact', 'order_line_fact', 'offer_feedback']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)$p$, t);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- Facts are upserted; segment memberships are deleted when left. Feedback is
-- an API change, so it writes its event and audit row: the service role may
-- now append to the outbox and audit log.
GRANT SELECT, INSERT ON quarantined_events, order_line_fact, offer_feedback TO rapport_analytics;
GRANT SELECT, INSERT, UPDATE ON customer_profile, interaction_fact, follow_up_fact, loyalty_fact, order_fact TO rapport_analytics;
GRANT SELECT, INSERT, UPDATE, DELETE ON segment_membership TO rapport_analytics;
GRANT INSERT ON outbox, audit_log TO rapport_analytics;

-- +goose Down
REVOKE INSERT ON outbox, audit_log FROM rapport_analytics;
DROP TABLE offer_feedback, order_line_fact, order_fact, loyalty_fact, follow_up_fact, interaction_fact,
    segment_membership, customer_profile, quarantined_events;
