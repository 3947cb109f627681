-- +goose Up
-- The record-access policy as a plain expression instead of a call to
-- customer_visible: PostgreSQL did not inline the function and ran it per
-- row through the SQL-function executor, which tripled the database time of
-- a read. Same rules: no principal is the service itself; admins, sales
-- managers, support agents and analysts see all; sales reps what they or
-- their teams own; partner users what is linked to their partner.
DROP POLICY record_access ON customers;
CREATE POLICY record_access ON customers AS RESTRICTIVE USING (
    coalesce(current_setting('rapport.principal_id', true), '') = ''
    OR string_to_array(current_setting('rapport.roles', true), ',') && ARRAY['admin', 'sales_manager', 'support_agent', 'analyst']
    OR ('sales_rep' = ANY (string_to_array(current_setting('rapport.roles', true), ','))
        AND (owner_id = nullif(current_setting('rapport.principal_id', true), '')::uuid
             OR owner_team_ids && string_to_array(nullif(current_setting('rapport.team_ids', true), ''), ',')::uuid[]))
    OR ('partner_user' = ANY (string_to_array(current_setting('rapport.roles', true), ','))
        AND EXISTS (SELECT 1 FROM customer_partners p
                    WHERE p.tenant_id = customers.tenant_id AND p.customer_id = customers.customer_id
                      AND p.partner_id = nullif(current_setting('rapport.partner_id', true), '')::uuid))
);
DROP FUNCTION customer_visible(uuid, uuid, uuid, uuid[]);

-- +goose Down
-- +goose StatementBegin
CREATE FUNCTION customer_visible(tenant uuid, customer uuid, owner uuid, owner_teams uuid[]) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN coalesce(current_setting('rapport.principal_id', true), '') = '' THEN true
        WHEN string_to_array(current_setting('rapport.roles', true), ',') && ARRAY['admin', 'sales_manager', 'support_agent', 'analyst'] THEN true
        WHEN 'sales_rep' = ANY (string_to_array(current_setting('rapport.roles', true), ','))
             AND (owner = nullif(current_setting('rapport.principal_id', true), '')::uuid
                  OR owner_teams && string_to_array(nullif(current_setting('rapport.team_ids', true), ''), ',')::uuid[]) THEN true
        WHEN 'partner_user' = ANY (string_to_array(current_setting('rapport.roles', true), ','))
             AND nullif(current_setting('rapport.partner_id', true), '') IS NOT NULL THEN
            EXISTS (SELECT 1 FROM customer_partners p
                    WHERE p.tenant_id = tenant AND p.customer_id = customer
                      AND p.partner_id = nullif(current_setting('rapport.partner_id', true), '')::uuid)
        ELSE false
    END
$$;
-- +goose StatementEnd
DROP POLICY record_access ON customers;
CREATE POLICY record_access ON customers AS RESTRICTIVE
    USING (customer_visible(tenant_id, customer_id, owner_id, owner_team_ids));
