-- Record-level access to opportunities: a RESTRICTIVE policy (it narrows
-- tenant isolation, never widens it) over the caller settings pkg/pgdb
-- sets per transaction.
--
-- The pipeline service keeps no principals, so the owner's teams are kept
-- on the row as the writer gave them: the teams of the caller who set the
-- owner (a rep taking a deal, or a manager handing one out within the
-- team). Asking the identity service on every write would put a remote call
-- inside each transaction for a value the caller already carries.

-- +goose Up
ALTER TABLE opportunities ADD COLUMN owner_team_ids uuid[] NOT NULL DEFAULT '{}';
CREATE INDEX opportunities_owner_teams ON opportunities USING gin (owner_team_ids);

-- opportunity_visible says whether the caller may see (and so change) an
-- opportunity. No principal means the service acting for itself. Admins,
-- analysts and support agents see the whole tenant. Sales reps see the
-- opportunities they own and those owned within their teams. Sales managers
-- see their own, their teams' and the unowned ones (the pool they hand
-- out); a manager of no team sees the whole tenant. Partner users see the
-- opportunities their partner registered. Anyone else sees none. Settings
-- are compared as text, so no caller value can make a cast fail.
-- +goose StatementBegin
CREATE FUNCTION opportunity_visible(owner uuid, owner_teams uuid[], source_partner uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    WITH c AS (
        SELECT coalesce(current_setting('rapport.principal_id', true), '') AS principal,
               string_to_array(coalesce(current_setting('rapport.roles', true), ''), ',') AS roles,
               string_to_array(nullif(current_setting('rapport.team_ids', true), ''), ',') AS teams,
               coalesce(current_setting('rapport.partner_id', true), '') AS partner
    )
    SELECT CASE
        WHEN c.principal = '' THEN true
        WHEN c.roles && ARRAY['admin', 'analyst', 'support_agent'] THEN true
        WHEN c.roles && ARRAY['sales_rep', 'sales_manager'] AND owner::text = c.principal THEN true
        WHEN c.roles && ARRAY['sales_rep', 'sales_manager'] AND owner_teams::text[] && c.teams THEN true
        WHEN 'sales_manager' = ANY (c.roles) AND (owner IS NULL OR c.teams IS NULL) THEN true
        WHEN 'partner_user' = ANY (c.roles) AND c.partner <> '' THEN source_partner::text = c.partner
        ELSE false
    END
    FROM c
$$;
-- +goose StatementEnd
CREATE POLICY record_access ON opportunities AS RESTRICTIVE
    USING (opportunity_visible(owner_id, owner_team_ids, source_partner_id));

-- +goose Down
DROP POLICY record_access ON opportunities;
DROP FUNCTION opportunity_visible(uuid, uuid[], uuid);
DROP INDEX opportunities_owner_teams;
ALTER TABLE opportunities DROP COLUMN owner_team_ids;
