-- +goose Up
-- Cohort retention reads every placed sale of the tenant that names a
-- customer, by time, with its customer: this index covers it.
CREATE INDEX order_fact_purchase ON order_fact (tenant_id, order_time) INCLUDE (customer_id)
    WHERE kind = 1 AND status = 1 AND customer_id IS NOT NULL;

-- +goose Down
DROP INDEX order_fact_purchase;
