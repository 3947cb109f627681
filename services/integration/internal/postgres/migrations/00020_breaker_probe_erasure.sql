-- +goose Up
-- The breaker's half-open probe: once open_until has passed, one delivery
-- may go to the endpoint; probe_until is that probe's lease, so only one
-- worker of any replica holds it, and trips counts the openings since the
-- endpoint last succeeded, which lengthens each next cool-down.
ALTER TABLE endpoint_breakers
    ADD COLUMN trips       integer NOT NULL DEFAULT 0,
    ADD COLUMN probe_until timestamptz;

-- Erasure finds the events about a customer (and its sub-resources) by
-- their resource name, equal or by prefix.
CREATE INDEX webhook_events_resource ON webhook_events (tenant_id, resource text_pattern_ops);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (tenant_id, event_id);
GRANT UPDATE (body) ON webhook_events TO rapport_integration;

-- The resource a rule's notification was about, so that erasing a customer
-- can blank the texts copied from its events.
ALTER TABLE notifications ADD COLUMN resource text NOT NULL DEFAULT '';
CREATE INDEX notifications_resource ON notifications (tenant_id, resource text_pattern_ops) WHERE resource <> '';
-- Those notifications' events and audit rows are redacted in place.
GRANT UPDATE (payload) ON outbox TO rapport_integration;
GRANT UPDATE (before, after) ON audit_log TO rapport_integration;

-- +goose Down
REVOKE UPDATE (before, after) ON audit_log FROM rapport_integration;
REVOKE UPDATE (payload) ON outbox FROM rapport_integration;
DROP INDEX notifications_resource;
ALTER TABLE notifications DROP COLUMN resource;
REVOKE UPDATE (body) ON webhook_events FROM rapport_integration;
DROP INDEX webhook_deliveries_event;
DROP INDEX webhook_events_resource;
ALTER TABLE endpoint_breakers DROP COLUMN probe_until, DROP COLUMN trips;
