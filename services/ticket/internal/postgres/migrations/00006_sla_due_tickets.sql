-- +goose Up
-- The SLA watcher finds due tickets across tenants through a function that
-- returns their ids only, instead of a policy that let any transaction that
-- set a flag read every tenant's tickets. It then locks and changes each
-- ticket inside its own tenant's scope. The function runs as the migration
-- role, which must own the tables and be a superuser or have BYPASSRLS.
DROP POLICY sla_watcher ON tickets;
-- +goose StatementBegin
CREATE FUNCTION sla_due_tickets(due timestamptz, lim integer) RETURNS TABLE (tenant_id uuid, ticket_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT t.tenant_id, t.ticket_id FROM public.tickets t
    WHERE t.sla_next_due <= due
    ORDER BY t.sla_next_due
    LIMIT lim
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION sla_due_tickets(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sla_due_tickets(timestamptz, integer) TO rapport_ticket;

-- +goose Down
DROP FUNCTION sla_due_tickets(timestamptz, integer);
CREATE POLICY sla_watcher ON tickets FOR SELECT
    USING (current_setting('rapport.sla_watcher', true) = 'on');
