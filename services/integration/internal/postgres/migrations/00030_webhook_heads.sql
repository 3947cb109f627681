-- +goose Up
-- The head of each subscription's queue per resource: the one pending
-- delivery that may go out next (order per resource). Workers claim from
-- here, so a claim reads one row per queue with a backlog instead of
-- walking the backlog itself, and the churn of claims and settlements (a
-- new row version each) lands in this narrow table, not in the wide
-- delivery log with its eight indexes. lease_until is the claim: a worker
-- holds the head until then, and a redelivery of an older delivery does not
-- take its place meanwhile. No index holds a column a claim or a settlement
-- changes, so every such update is heap-only, pruned within its half-empty
-- page. Indexing the due time was measured and dropped: each settlement
-- then left a dead entry at the front of that index, and claims slowed
-- (p99 4.3 s against 2.0 s at 1,000 events a second; 11.7 s against 3.6 s
-- through the real suite). A claim reads the tenant's heads and sorts them.
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
