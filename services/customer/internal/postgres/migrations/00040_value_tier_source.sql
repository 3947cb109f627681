-- +goose Up
-- A tier the analytics service suggested is kept apart from one set by
-- hand, so a suggestion never silently replaces a person's decision.
ALTER TABLE customer_value_tiers ADD COLUMN suggested boolean NOT NULL DEFAULT false;
ALTER TABLE value_tier_changes ADD COLUMN suggested boolean NOT NULL DEFAULT false;
-- Idempotency of SetValueTier: the change a request made, once.
ALTER TABLE value_tier_changes ADD COLUMN request_id text;
CREATE UNIQUE INDEX value_tier_changes_request_id ON value_tier_changes (tenant_id, request_id) WHERE request_id IS NOT NULL;

-- The analytics service sends suggestions with an analyst's credential (a
-- tenant token is an analyst's), whose transactions run as the analyst
-- role: it may lock a customer row (which takes UPDATE on some column, here
-- one it cannot change anything with: the lock query never updates) and
-- write tiers with their log, event and audit row, and nothing else.
GRANT UPDATE (update_time) ON customers TO rapport_customer_analyst;
GRANT INSERT, UPDATE, DELETE ON customer_value_tiers TO rapport_customer_analyst;
GRANT INSERT ON value_tier_changes, outbox, audit_log TO rapport_customer_analyst;

-- +goose Down
REVOKE INSERT ON value_tier_changes, outbox, audit_log FROM rapport_customer_analyst;
REVOKE INSERT, UPDATE, DELETE ON customer_value_tiers FROM rapport_customer_analyst;
REVOKE UPDATE (update_time) ON customers FROM rapport_customer_analyst;
DROP INDEX value_tier_changes_request_id;
ALTER TABLE value_tier_changes DROP COLUMN request_id;
ALTER TABLE value_tier_changes DROP COLUMN suggested;
ALTER TABLE customer_value_tiers DROP COLUMN suggested;
