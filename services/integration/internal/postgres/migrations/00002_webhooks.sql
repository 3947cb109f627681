-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rapport_integration') THEN
        CREATE ROLE rapport_integration NOLOGIN;
    END IF;
END
$$;
-- +goose StatementEnd

CREATE TABLE webhooks (
    tenant_id    uuid        NOT NULL,
    webhook_id   uuid        NOT NULL,
    display_name text        NOT NULL,
    target_url   text        NOT NULL,
    -- scheme://host:port of target_url: the circuit breaker's key.
    endpoint     text        NOT NULL,
    event_types  text[]      NOT NULL,
    filter       text        NOT NULL DEFAULT '',
    state        smallint    NOT NULL,
    state_reason text        NOT NULL DEFAULT '',
    -- The HMAC key. It cannot be hashed: every delivery is signed with it.
    secret       text        NOT NULL,
    request_id   text,
    revision     bigint      NOT NULL DEFAULT 1,
    create_time  timestamptz NOT NULL DEFAULT now(),
    update_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, webhook_id)
);
CREATE INDEX webhooks_create_time ON webhooks (tenant_id, create_time, webhook_id);
CREATE INDEX webhooks_state ON webhooks (tenant_id, state, create_time, webhook_id);
CREATE UNIQUE INDEX webhooks_request_id ON webhooks (tenant_id, request_id) WHERE request_id IS NOT NULL;

-- What the operator allows a tenant's subscriptions; no row means nothing extra.
CREATE TABLE webhook_policies (
    tenant_id             uuid        NOT NULL,
    allow_private_targets boolean     NOT NULL,
    update_time           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id)
);

-- How far each source's stream has been fanned out into deliveries.
CREATE TABLE feed_checkpoints (
    tenant_id   uuid        NOT NULL,
    source      text        NOT NULL,
    last_cursor text        NOT NULL,
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, source)
);

-- Every event taken in, once: a replayed event finds its row and creates no
-- delivery. seq is the order taken in, which is each source's stream order;
-- body is the exact CloudEvents JSON every delivery of it sends and signs.
CREATE TABLE webhook_events (
    tenant_id    uuid        NOT NULL,
    event_id     uuid        NOT NULL,
    seq          bigint      GENERATED ALWAYS AS IDENTITY,
    source       text        NOT NULL,
    type         text        NOT NULL,
    resource     text        NOT NULL,
    principal_id text        NOT NULL,
    event_time   timestamptz NOT NULL,
    body         text        NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);

-- One delivery per subscription and event (the unique pair), so a replay
-- creates no second one; delivery_id is the receiver's idempotency id.
CREATE TABLE webhook_deliveries (
    tenant_id          uuid        NOT NULL,
    delivery_id        uuid        NOT NULL,
    webhook_id         uuid        NOT NULL,
    event_id           uuid        NOT NULL,
    seq                bigint      NOT NULL,
    event_type         text        NOT NULL,
    resource           text        NOT NULL,
    principal_id       text        NOT NULL,
    state              smallint    NOT NULL,
    attempt_count      integer     NOT NULL DEFAULT 0,
    -- attempt_count when the retry budget last started (a redelivery resets it).
    budget_start       integer     NOT NULL DEFAULT 0,
    next_attempt_time  timestamptz NOT NULL DEFAULT now(),
    last_response_code integer     NOT NULL DEFAULT 0,
    last_error         text        NOT NULL DEFAULT '',
    create_time        timestamptz NOT NULL DEFAULT now(),
    update_time        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, delivery_id),
    UNIQUE (tenant_id, webhook_id, event_id),
    FOREIGN KEY (tenant_id, webhook_id) REFERENCES webhooks (tenant_id, webhook_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, event_id) REFERENCES webhook_events (tenant_id, event_id)
);
-- The delivery log: newest first per subscription, and by each filter field.
CREATE INDEX webhook_deliveries_list ON webhook_deliveries (tenant_id, webhook_id, create_time, delivery_id);
CREATE INDEX webhook_deliveries_state ON webhook_deliveries (tenant_id, webhook_id, state, create_time, delivery_id);
CREATE INDEX webhook_deliveries_type ON webhook_deliveries (tenant_id, webhook_id, event_type, create_time, delivery_id);
CREATE INDEX webhook_deliveries_resource ON webhook_deliveries (tenant_id, webhook_id, resource, create_time, delivery_id);
-- The claim: due pending deliveries, and whether an earlier one of the same
-- subscription and resource is still pending (ordering).
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (tenant_id, next_attempt_time) WHERE state = 1;
CREATE INDEX webhook_deliveries_due_all ON webhook_deliveries (next_attempt_time) WHERE state = 1;
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (tenant_id, webhook_id, resource, seq) WHERE state = 1;

-- Every HTTP request of a delivery.
CREATE TABLE webhook_attempts (
    tenant_id           uuid        NOT NULL,
    delivery_id         uuid        NOT NULL,
    attempt             integer     NOT NULL,
    request_time        timestamptz NOT NULL,
    target_url          text        NOT NULL,
    signature_timestamp bigint      NOT NULL,
    response_code       integer     NOT NULL,
    latency_ms          bigint      NOT NULL,
    error               text        NOT NULL,
    PRIMARY KEY (tenant_id, delivery_id, attempt),
    FOREIGN KEY (tenant_id, delivery_id) REFERENCES webhook_deliveries (tenant_id, delivery_id) ON DELETE CASCADE
);

-- One circuit breaker per endpoint, in a table so that it holds across
-- restarts and replicas.
CREATE TABLE endpoint_breakers (
    tenant_id            uuid        NOT NULL,
    endpoint             text        NOT NULL,
    consecutive_failures integer     NOT NULL DEFAULT 0,
    open_until           timestamptz,
    update_time          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, endpoint)
);

ALTER TABLE webhooks ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhooks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhooks
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE webhook_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_policies FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_policies
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE feed_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE feed_checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON feed_checkpoints
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE webhook_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_events
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_deliveries
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE webhook_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_attempts
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE endpoint_breakers ENABLE ROW LEVEL SECURITY;
ALTER TABLE endpoint_breakers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON endpoint_breakers
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- The delivery workers serve every tenant: they start from the ids of
-- tenants with due deliveries, then claim inside each tenant's scope.
-- +goose StatementBegin
CREATE FUNCTION webhook_due_tenants(lim integer) RETURNS TABLE (tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT DISTINCT d.tenant_id FROM (
        SELECT w.tenant_id FROM public.webhook_deliveries w
        WHERE w.state = 1 AND w.next_attempt_time <= now()
        ORDER BY w.next_attempt_time
        LIMIT lim
    ) d
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION webhook_backlog() RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT count(*) FROM public.webhook_deliveries WHERE state = 1
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION webhook_due_tenants(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION webhook_backlog() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_due_tenants(integer) TO rapport_integration;
GRANT EXECUTE ON FUNCTION webhook_backlog() TO rapport_integration;

-- The service role reads and writes rows but owns nothing and cannot bypass
-- RLS; the outbox and audit log are append-only.
GRANT USAGE ON SCHEMA public TO rapport_integration;
GRANT SELECT, INSERT, UPDATE, DELETE ON webhooks, webhook_deliveries TO rapport_integration;
GRANT SELECT, INSERT, UPDATE ON webhook_policies, feed_checkpoints, endpoint_breakers TO rapport_integration;
GRANT SELECT, INSERT, DELETE ON webhook_attempts TO rapport_integration;
GRANT SELECT, INSERT ON webhook_events TO rapport_integration;
GRANT SELECT, INSERT ON outbox, audit_log TO rapport_integration;

-- +goose Down
DROP FUNCTION webhook_backlog();
DROP FUNCTION webhook_due_tenants(integer);
DROP TABLE endpoint_breakers, webhook_attempts, webhook_deliveries, webhook_events, feed_checkpoints, webhook_policies, webhooks;
