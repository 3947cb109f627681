-- +goose Up
-- The time of a customer's latest live interaction, kept by the interaction
-- writes in their own transaction, so lists can select customers nobody has
-- contacted lately without reading the timeline. NULL means never contacted
-- (or every interaction deleted).
ALTER TABLE customers ADD COLUMN last_interaction_time timestamptz;

UPDATE customers c SET last_interaction_time = i.latest
FROM (
    SELECT tenant_id, customer_id, max(occur_time) AS latest
    FROM interactions WHERE delete_time IS NULL
    GROUP BY tenant_id, customer_id
) i
WHERE c.tenant_id = i.tenant_id AND c.customer_id = i.customer_id;

-- ListCustomers: filters on last_interaction_time (NULLs included, for
-- "contacted = false"), and its order_by, which sorts never-contacted
-- customers as the oldest.
CREATE INDEX customers_last_interaction ON customers (tenant_id, last_interaction_time, customer_id);
CREATE INDEX customers_last_interaction_order
    ON customers (tenant_id, coalesce(last_interaction_time, '-infinity'::timestamptz), customer_id);

-- Analysts list customers through analyst_view.customers (00021): the time
-- of the last contact is no personal data, so it passes unmasked.
GRANT SELECT (last_interaction_time) ON customers TO rapport_customer_analyst;
CREATE OR REPLACE VIEW analyst_view.customers AS
SELECT tenant_id, customer_id, kind,
       CASE WHEN kind = 2 THEN display_name ELSE '' END AS display_name,
       ''::text AS email, ''::text AS email_lower, ''::text AS phone,
       lifecycle_stage, industry, country_code, owner_id, tags, external_id, request_id, revision,
       create_time, update_time, delete_time, source_channel, custom_attributes, owner_team_ids, merged_into,
       ''::text AS name_key, erase_time, erase_reason, last_interaction_time
FROM public.customers;

-- +goose Down
DROP VIEW analyst_view.customers;
CREATE VIEW analyst_view.customers AS
SELECT tenant_id, customer_id, kind,
       CASE WHEN kind = 2 THEN display_name ELSE '' END AS display_name,
       ''::text AS email, ''::text AS email_lower, ''::text AS phone,
       lifecycle_stage, industry, country_code, owner_id, tags, external_id, request_id, revision,
       create_time, update_time, delete_time, source_channel, custom_attributes, owner_team_ids, merged_into,
       ''::text AS name_key, erase_time, erase_reason
FROM public.customers;
ALTER VIEW analyst_view.customers OWNER TO rapport_customer_masker;
GRANT SELECT ON analyst_view.customers TO rapport_customer_analyst;
REVOKE SELECT (last_interaction_time) ON customers FROM rapport_customer_analyst;
DROP INDEX customers_last_interaction_order;
DROP INDEX customers_last_interaction;
ALTER TABLE customers DROP COLUMN last_interaction_time;
