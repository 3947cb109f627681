-- +goose Up
-- The head of each subscription's queue per resource: the one pending
-- delivery that may go out next (order per resource). Workers claim from
-- here, oldest due first, so a claim reads a few rows of one index instead
-- of walking the backlog, and the churn of claims lands in this narrow
-- table, not in the wide delivery log with its eight indexes. A claim
-- writes only lease_until (a worker holds the head until then; a
-- redelivery of an older delivery does not take its place meanwhile), which
-- no index holds, so it is a heap-only update in a half-empty page; moving
-- on to the queue's next delivery puts the queue at the back of the line
-- (next_attempt_time = now), one index entry a delivery.
CREATE TABLE webhook_heads (
    tenant_id         uuid        NOT NULL,
    webhook_id        uuid        NOT NULL,
    resource          text        NOT NULL,
    delivery_id       uuid        NOT NULL,
    next_attempt_time timestamptz NOT NULL DEFAULT now(),
    lease_until       timestamptz,
    PRIMARY KEY (tenant_id, webhook_id, resource),
    FOREIGN KEY (tenant_id, webhook_id) REFERENCES webhooks (tenant_id, webhook_id) ON DELETE CASCADE
) WITH (fillfactor = 50, autovacuum_vacuum_threshold = 200, autovacuum_vacuum_scale_factor = 0,
        autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_threshold = 200, autovacuum_analyze_scale_factor = 0);
CREATE INDEX webhook_heads_due ON webhook_heads (tenant_id, next_attempt_time);
CREATE INDEX webhook_heads_due_all ON webhook_heads (next_attempt_time);

INSERT INTO webhook_heads (tenant_id, webhook_id, resource, delivery_id, next_attempt_time)
SELECT DISTINCT ON (tenant_id, webhook_id, resource) tenant_id, webhook_id, resource, delivery_id, next_attempt_time
FROM webhook_deliveries WHERE state = 1
ORDER BY tenant_id, webhook_id, resource, seq;

-- Nothing looks for due deliveries in the log any more; without those
-- indexes a claim's lease touches no indexed column there, so it can be a
-- heap-only update, for which pages keep room.
DROP INDEX webhook_deliveries_due;
DROP INDEX webhook_deliveries_due_all;
ALTER TABLE webhook_deliveries SET (fillfactor = 80);

ALTER TABLE webhook_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_heads
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_heads TO rapport_integration;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION webhook_due_tenants(lim integer) RETURNS TABLE (tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT DISTINCT d.tenant_id FROM (
        SELECT h.tenant_id FROM public.webhook_heads h
        WHERE h.next_attempt_time <= now() AND (h.lease_until IS NULL OR h.lease_until <= now())
        ORDER BY h.next_attempt_time
        LIMIT lim
    ) d
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION webhook_due_tenants(lim integer) RETURNS TABLE (tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT DISTINCT d.tenant_id FROM (
        SELECT w.tenant_id FROM public.webhook_deliveries w
        WHERE w.state = 1 AND w.next_attempt_time <= now()
        ORDER BY w.next_attempt_time
        LIMIT lim
    ) d
$$;
-- +goose StatementEnd
ALTER TABLE webhook_deliveries RESET (fillfactor);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (tenant_id, next_attempt_time) WHERE state = 1;
CREATE INDEX webhook_deliveries_due_all ON webhook_deliveries (next_attempt_time) WHERE state = 1;
DROP TABLE webhook_heads;
