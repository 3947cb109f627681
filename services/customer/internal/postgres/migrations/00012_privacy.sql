-- +goose Up
-- The audit trail per customer: entries about "customers/<id>" and the
-- resources under it, newest first.
CREATE INDEX audit_log_customer ON audit_log (tenant_id, (split_part(resource, '/', 2)), occurred_at DESC, audit_id DESC)
    WHERE starts_with(resource, 'customers/');

-- When and why a customer was erased; an erased customer stays a tombstone.
ALTER TABLE customers ADD COLUMN erase_time timestamptz;
ALTER TABLE customers ADD COLUMN erase_reason text NOT NULL DEFAULT '';

-- Erasure is the one change to history: it blanks the text of a customer's
-- events and audit rows (pkg/outbox.Redact), and nothing else may write them.
GRANT UPDATE (payload) ON outbox TO rapport_customer;
GRANT UPDATE (before, after) ON audit_log TO rapport_customer;

-- +goose Down
ALTER TABLE customers DROP COLUMN erase_reason, DROP COLUMN erase_time;
REVOKE UPDATE (before, after) ON audit_log FROM rapport_customer;
REVOKE UPDATE (payload) ON outbox FROM rapport_customer;
DROP INDEX audit_log_customer;
