-- +goose Up
-- Record-level access: teams and partner links of principals, and a policy
-- that shows each caller only the customers its roles allow. The policy is
-- RESTRICTIVE, so it narrows the tenant isolation policy and never widens it.

CREATE TABLE teams (
    tenant_id    uuid        NOT NULL REFERENCES tenants,
    team_id      uuid        NOT NULL,
    display_name text        NOT NULL,
    request_id   text,
    create_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, team_id)
);
CREATE UNIQUE INDEX teams_name ON teams (tenant_id, display_name);
CREATE UNIQUE INDEX teams_request_id ON teams (tenant_id, request_id) WHERE request_id IS NOT NULL;
ALTER TABLE teams ENABLE ROW LEVEL SECURITY;
ALTER TABLE teams FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON teams
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

ALTER TABLE principals ADD COLUMN team_ids uuid[] NOT NULL DEFAULT '{}';
ALTER TABLE principals ADD COLUMN partner_id uuid;

-- The teams of a customer's owner, kept on the row so that the policy needs
-- no join; a trigger fills it from principals on every change of owner, and
-- UpdatePrincipal rewrites it when the owner's teams change.
ALTER TABLE customers ADD COLUMN owner_team_ids uuid[] NOT NULL DEFAULT '{}';
CREATE INDEX customers_owner_teams ON customers USING gin (owner_team_ids);

-- +goose StatementBegin
CREATE FUNCTION customers_owner_teams() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.owner_team_ids := coalesce((SELECT p.team_ids FROM principals p
                                    WHERE p.tenant_id = NEW.tenant_id AND p.principal_id = NEW.owner_id), '{}');
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER customers_owner_teams BEFORE INSERT OR UPDATE OF owner_id ON customers
    FOR EACH ROW EXECUTE FUNCTION customers_owner_teams();

-- Customers a channel partner brought or registered; partner users see these.
CREATE TABLE customer_partners (
    tenant_id   uuid        NOT NULL,
    customer_id uuid        NOT NULL,
    partner_id  uuid        NOT NULL,
    link_time   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, customer_id, partner_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers
);
CREATE INDEX customer_partners_partner ON customer_partners (tenant_id, partner_id, customer_id);
ALTER TABLE customer_partners ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_partners FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON customer_partners
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- customer_visible says whether the caller of the transaction (the
-- rapport.* settings pkg/pgdb sets from the authenticated caller) may see a
-- customer. No principal means the service acting for itself. Admins, sales
-- managers, support agents and analysts see every customer of the tenant
-- (analysts without personal fields, which the service masks); sales reps
-- the customers they own or their teams own; partner users the customers
-- linked to their partner; anyone else none.
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
CREATE POLICY record_access ON customers AS RESTRICTIVE
    USING (customer_visible(tenant_id, customer_id, owner_id, owner_team_ids));

GRANT SELECT, INSERT ON teams, customer_partners TO rapport_customer;
GRANT DELETE ON customer_partners TO rapport_customer;

-- +goose Down
DROP POLICY record_access ON customers;
DROP FUNCTION customer_visible(uuid, uuid, uuid, uuid[]);
DROP TABLE customer_partners;
DROP TRIGGER customers_owner_teams ON customers;
DROP FUNCTION customers_owner_teams();
ALTER TABLE customers DROP COLUMN owner_team_ids;
ALTER TABLE principals DROP COLUMN partner_id, DROP COLUMN team_ids;
DROP TABLE teams;
