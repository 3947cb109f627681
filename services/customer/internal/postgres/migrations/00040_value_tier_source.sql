-- +goose Up
-- A tier the analytics service suggested is kept apart from one set by
-- hand, so a suggestion never silently replaces a person's decision.
ALTER TABLE customer_value_tiers ADD COLUMN suggested boolean NOT NULL DEFAULT false;
ALTER TABLE value_tier_changes ADD COLUMN suggested boolean NOT NULL DEFAULT false;
-- Idempotency of SetValueTier: the change a request made, once.
ALTER TABLE value_tier_changes ADD COLUMN request_id text;
CREATE UNIQUE INDEX value_tier_changes_request_id ON value_tier_changes (tenant_id, request_id) WHERE request_id IS NOT NULL;

-- +goose Down
DROP INDEX value_tier_changes_request_id;
ALTER TABLE value_tier_changes DROP COLUMN request_id;
ALTER TABLE value_tier_changes DROP COLUMN suggested;
ALTER TABLE customer_value_tiers DROP COLUMN suggested;
