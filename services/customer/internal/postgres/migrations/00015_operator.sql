-- +goose Up
-- Operator tenants see the list of tenants, ids and names only, through a
-- function: the tenants table itself stays isolated per tenant.
-- +goose StatementBegin
CREATE FUNCTION operator_list_tenants(after uuid, lim integer)
RETURNS TABLE (tenant_id uuid, display_name text, operator boolean, create_time timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT t.tenant_id, t.display_name, t.operator, t.create_time FROM public.tenants t
    WHERE t.tenant_id > after ORDER BY t.tenant_id LIMIT lim
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION operator_list_tenants(uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION operator_list_tenants(uuid, integer) TO rapport_customer;
-- +goose StatementBegin
CREATE FUNCTION operator_get_tenant(id uuid)
RETURNS TABLE (tenant_id uuid, display_name text, operator boolean, create_time timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT t.tenant_id, t.display_name, t.operator, t.create_time FROM public.tenants t WHERE t.tenant_id = id
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION operator_get_tenant(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION operator_get_tenant(uuid) TO rapport_customer;

-- +goose Down
DROP FUNCTION operator_get_tenant(uuid);
DROP FUNCTION operator_list_tenants(uuid, integer);
