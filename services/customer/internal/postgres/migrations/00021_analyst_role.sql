-- +goose Up
-- Analysts read customers without their personal data, and PostgreSQL
-- holds them to it, not only the Go code: a transaction of a caller whose
-- only customer-facing role is analyst runs as rapport_customer_analyst
-- (pkg/pgdb switches to <service role>_analyst when such a role exists)
-- with the analyst_view schema first on its search path. That role may not
-- read the personal columns or the tables that copy them, and reads
-- customers and contact points through views of the same names that blank
-- them. The views run as rapport_customer_masker, which is neither owner nor
-- superuser, so the tenant and record-access policies still apply to them.
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rapport_customer_analyst') THEN
        CREATE ROLE rapport_customer_analyst NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rapport_customer_masker') THEN
        CREATE ROLE rapport_customer_masker NOLOGIN;
    END IF;
END
$$;
-- +goose StatementEnd
GRANT rapport_customer_analyst TO rapport_customer;

GRANT SELECT ON ALL TABLES IN SCHEMA public TO rapport_customer_analyst;
REVOKE SELECT ON customers, contact_points, customer_search, audit_log, customer_merge_rows,
    import_rows, import_row_errors, document_chunks, api_keys FROM rapport_customer_analyst;
-- Other tables' policies look customers up (record access follows the
-- customer's owner): those columns stay readable.
GRANT SELECT (tenant_id, customer_id, kind, lifecycle_stage, industry, country_code, owner_id, tags, external_id,
    revision, create_time, update_time, delete_time, source_channel, owner_team_ids, merged_into, erase_time)
    ON customers TO rapport_customer_analyst;
GRANT EXECUTE ON FUNCTION operator_list_tenants(uuid, integer), operator_get_tenant(uuid) TO rapport_customer_analyst;

CREATE SCHEMA analyst_view;
GRANT USAGE ON SCHEMA analyst_view TO rapport_customer_analyst;
GRANT SELECT ON customers, contact_points, customer_partners TO rapport_customer_masker;

-- A person's name, e-mail and phone and the keys derived from them are
-- blanked; an organisation's name is not personal data and stays.
CREATE VIEW analyst_view.customers AS
SELECT tenant_id, customer_id, kind,
       CASE WHEN kind = 2 THEN display_name ELSE '' END AS display_name,
       ''::text AS email, ''::text AS email_lower, ''::text AS phone,
       lifecycle_stage, industry, country_code, owner_id, tags, external_id, request_id, revision,
       create_time, update_time, delete_time, source_channel, custom_attributes, owner_team_ids, merged_into,
       ''::text AS name_key, erase_time, erase_reason
FROM public.customers;

-- What a contact point is stays (type, network, region, country, state,
-- consent); how to reach the person does not.
CREATE VIEW analyst_view.contact_points AS
SELECT tenant_id, contact_point_id, customer_id, type, ''::text AS value, network,
       '{}'::text[] AS address_lines, ''::text AS locality, region, ''::text AS postal_code, country_code,
       ''::text AS label, is_primary, verification_state, verification_time, source, consent, request_id, revision,
       create_time, update_time
FROM public.contact_points;

ALTER VIEW analyst_view.customers OWNER TO rapport_customer_masker;
ALTER VIEW analyst_view.contact_points OWNER TO rapport_customer_masker;
GRANT SELECT ON analyst_view.customers, analyst_view.contact_points TO rapport_customer_analyst;

-- +goose Down
DROP SCHEMA analyst_view CASCADE;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM rapport_customer_analyst;
REVOKE ALL ON customers, contact_points, customer_partners FROM rapport_customer_masker;
