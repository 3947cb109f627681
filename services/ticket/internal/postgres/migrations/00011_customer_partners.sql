-- +goose Up
-- Partner users see the tickets of their own customers when the tenant
-- allows it: besides the partner named on the ticket, a ticket keeps the
-- partners its customer was linked to in the customer service when it was
-- created (a reseller and the partners above it), and the access policy
-- admits the partner users of any of them.
ALTER TABLE tickets ADD COLUMN customer_partner_ids uuid[] NOT NULL DEFAULT '{}';

DROP POLICY record_access ON tickets;
DROP POLICY record_access_update ON tickets;
DROP FUNCTION ticket_visible(uuid, uuid, uuid);
-- +goose StatementBegin
CREATE FUNCTION ticket_visible(tenant uuid, queue uuid, partner uuid, customer_partners uuid[]) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN coalesce(current_setting('rapport.principal_id', true), '') = '' THEN true
        WHEN string_to_array(current_setting('rapport.roles', true), ',') && ARRAY['admin', 'sales_manager', 'sales_rep', 'analyst'] THEN true
        WHEN 'support_agent' = ANY (string_to_array(current_setting('rapport.roles', true), ','))
             AND (queue IS NULL OR EXISTS (
                SELECT 1 FROM queue_members m
                WHERE m.tenant_id = tenant AND m.queue_id = queue
                  AND m.principal_id::text = current_setting('rapport.principal_id', true))) THEN true
        WHEN 'partner_user' = ANY (string_to_array(current_setting('rapport.roles', true), ','))
             AND coalesce(current_setting('rapport.partner_id', true), '') <> ''
             AND (partner::text IS NOT DISTINCT FROM current_setting('rapport.partner_id', true)
                  OR current_setting('rapport.partner_id', true) = ANY (customer_partners::text[])) THEN
            EXISTS (SELECT 1 FROM ticket_settings s WHERE s.tenant_id = tenant AND s.partner_access)
        ELSE false
    END
$$;
-- +goose StatementEnd
CREATE POLICY record_access ON tickets AS RESTRICTIVE FOR SELECT
    USING (ticket_visible(tenant_id, queue_id, partner_id, customer_partner_ids));
CREATE POLICY record_access_update ON tickets AS RESTRICTIVE FOR UPDATE
    USING (ticket_visible(tenant_id, queue_id, partner_id, customer_partner_ids));

-- +goose Down
DROP POLICY record_access ON tickets;
DROP POLICY record_access_update ON tickets;
DROP FUNCTION ticket_visible(uuid, uuid, uuid, uuid[]);
-- +goose StatementBegin
CREATE FUNCTION ticket_visible(tenant uuid, queue uuid, partner uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN coalesce(current_setting('rapport.principal_id', true), '') = '' THEN true
        WHEN string_to_array(current_setting('rapport.roles', true), ',') && ARRAY['admin', 'sales_manager', 'sales_rep', 'analyst'] THEN true
        WHEN 'support_agent' = ANY (string_to_array(current_setting('rapport.roles', true), ','))
             AND (queue IS NULL OR EXISTS (
                SELECT 1 FROM queue_members m
                WHERE m.tenant_id = tenant AND m.queue_id = queue
                  AND m.principal_id::text = current_setting('rapport.principal_id', true))) THEN true
        WHEN 'partner_user' = ANY (string_to_array(current_setting('rapport.roles', true), ','))
             AND partner IS NOT NULL
             AND partner::text = current_setting('rapport.partner_id', true) THEN
            EXISTS (SELECT 1 FROM ticket_settings s WHERE s.tenant_id = tenant AND s.partner_access)
        ELSE false
    END
$$;
-- +goose StatementEnd
CREATE POLICY record_access ON tickets AS RESTRICTIVE FOR SELECT
    USING (ticket_visible(tenant_id, queue_id, partner_id));
CREATE POLICY record_access_update ON tickets AS RESTRICTIVE FOR UPDATE
    USING (ticket_visible(tenant_id, queue_id, partner_id));
ALTER TABLE tickets DROP COLUMN customer_partner_ids;
