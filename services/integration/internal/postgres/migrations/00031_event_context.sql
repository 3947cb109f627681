-- +goose Up
-- Where each taken-in event came from: the traceparent of the change that
-- emitted it (its deliveries and rule actions join that trace) and the
-- causation id of that change's request (a rule action's id when a rule
-- caused it: the run-time loop guard follows it).
ALTER TABLE webhook_events
    ADD COLUMN trace_parent text NOT NULL DEFAULT '',
    ADD COLUMN causation_id text NOT NULL DEFAULT '';
-- The guard finds an event's causing action by its id now, not by the
-- resource the action produced (which a later change by a person shares).
DROP INDEX rule_actions_result;

-- +goose Down
CREATE INDEX rule_actions_result ON rule_actions (tenant_id, result_resource) WHERE result_resource IS NOT NULL;
ALTER TABLE webhook_events DROP COLUMN causation_id, DROP COLUMN trace_parent;
