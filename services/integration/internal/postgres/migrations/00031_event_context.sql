-- +goose Up
-- Where each taken-in event came from: the traceparent of the change that
-- emitted it (its deliveries and rule actions join that trace) and the
-- causation id of that change's request (a rule action's id when a rule
-- caused it: the run-time loop guard follows it).
ALTER TABLE webhook_events
    ADD COLUMN trace_parent text NOT NULL DEFAULT '',
    ADD COLUMN causation_id text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE webhook_events DROP COLUMN causation_id, DROP COLUMN trace_parent;
