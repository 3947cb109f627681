-- +goose Up
-- Channel partners grow a hierarchy, territories, a status machine with a
-- log, and deal registrations with conflict claims and per-tenant rules of
-- engagement. Partner users see only their own partner's rows and its
-- sub-partners', enforced here by RESTRICTIVE policies.

ALTER TABLE partners ADD COLUMN parent_partner_id uuid;
ALTER TABLE partners ADD COLUMN territories jsonb NOT NULL DEFAULT '[]';
ALTER TABLE partners ADD COLUMN postal_prefix text NOT NULL DEFAULT '';
ALTER TABLE partners ADD FOREIGN KEY (tenant_id, parent_partner_id) REFERENCES partners (tenant_id, partner_id);
CREATE INDEX partners_parent ON partners (tenant_id, parent_partner_id, create_time, partner_id);

-- partner_tree is the closure of the hierarchy: one row per (ancestor,
-- descendant) pair including each partner with itself, so the access policy
-- answers "is this row under the caller's partner" with one index probe.
CREATE TABLE partner_tree (
    tenant_id     uuid     NOT NULL,
    ancestor_id   uuid     NOT NULL,
    descendant_id uuid     NOT NULL,
    depth         smallint NOT NULL,
    PRIMARY KEY (tenant_id, ancestor_id, descendant_id),
    FOREIGN KEY (tenant_id, ancestor_id) REFERENCES partners (tenant_id, partner_id),
    FOREIGN KEY (tenant_id, descendant_id) REFERENCES partners (tenant_id, partner_id)
);
CREATE INDEX partner_tree_descendant ON partner_tree (tenant_id, descendant_id, depth);
INSERT INTO partner_tree (tenant_id, ancestor_id, descendant_id, depth)
    SELECT tenant_id, partner_id, partner_id, 0 FROM partners;
ALTER TABLE partner_tree ENABLE ROW LEVEL SECURITY;
ALTER TABLE partner_tree FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON partner_tree
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- partner_visible says whether the caller of the transaction (the rapport.*
-- settings pkg/pgdb sets) may see rows of a partner. No principal means the
-- service acting for itself. Channel staff and analysts see every partner;
-- partner users their own partner and the partners under it; anyone else none.
-- +goose StatementBegin
CREATE FUNCTION partner_visible(tenant uuid, partner uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN coalesce(current_setting('rapport.principal_id', true), '') = '' THEN true
        WHEN string_to_array(current_setting('rapport.roles', true), ',') && ARRAY['admin', 'sales_manager', 'sales_rep', 'analyst'] THEN true
        WHEN 'partner_user' = ANY (string_to_array(current_setting('rapport.roles', true), ','))
             AND nullif(current_setting('rapport.partner_id', true), '') IS NOT NULL THEN
            EXISTS (SELECT 1 FROM partner_tree t
                    WHERE t.tenant_id = tenant AND t.descendant_id = partner
                      AND t.ancestor_id = nullif(current_setting('rapport.partner_id', true), '')::uuid)
        ELSE false
    END
$$;
-- +goose StatementEnd
CREATE POLICY partner_access ON partners AS RESTRICTIVE USING (partner_visible(tenant_id, partner_id));

CREATE TABLE partner_status_changes (
    tenant_id    uuid        NOT NULL,
    change_id    uuid        NOT NULL,
    partner_id   uuid        NOT NULL,
    from_status  smallint    NOT NULL,
    to_status    smallint    NOT NULL,
    reason       text        NOT NULL DEFAULT '',
    principal_id text        NOT NULL,
    change_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, change_id),
    FOREIGN KEY (tenant_id, partner_id) REFERENCES partners (tenant_id, partner_id)
);
CREATE INDEX partner_status_changes_partner ON partner_status_changes (tenant_id, partner_id, change_time, change_id);
ALTER TABLE partner_status_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE partner_status_changes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON partner_status_changes
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
CREATE POLICY partner_access ON partner_status_changes AS RESTRICTIVE USING (partner_visible(tenant_id, partner_id));

CREATE TABLE engagement_rules (
    tenant_id                  uuid        NOT NULL,
    protection_days            integer     NOT NULL,
    direct_owner_conflicts     boolean     NOT NULL,
    open_opportunity_conflicts boolean     NOT NULL,
    revision                   bigint      NOT NULL DEFAULT 1,
    update_time                timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id)
);
ALTER TABLE engagement_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE engagement_rules FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON engagement_rules
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

CREATE TABLE deal_registrations (
    tenant_id            uuid        NOT NULL,
    deal_registration_id uuid        NOT NULL,
    partner_id           uuid        NOT NULL,
    customer_id          uuid,
    company_name         text        NOT NULL DEFAULT '',
    email                text        NOT NULL DEFAULT '',
    phone                text        NOT NULL DEFAULT '',
    display_name         text        NOT NULL,
    currency_code        text        NOT NULL DEFAULT '',
    amount_minor         bigint      NOT NULL DEFAULT 0,
    expected_close_date  date,
    state                smallint    NOT NULL,
    conflicts            jsonb       NOT NULL DEFAULT '[]',
    opportunity_id       uuid,
    expire_time          timestamptz NOT NULL,
    decision_note        text        NOT NULL DEFAULT '',
    decided_by           text        NOT NULL DEFAULT '',
    decide_time          timestamptz,
    arbitration_outcome  smallint    NOT NULL DEFAULT 0,
    registered_by        text        NOT NULL,
    request_id           text,
    revision             bigint      NOT NULL DEFAULT 1,
    create_time          timestamptz NOT NULL DEFAULT now(),
    update_time          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, deal_registration_id),
    FOREIGN KEY (tenant_id, partner_id) REFERENCES partners (tenant_id, partner_id)
);
-- Keyset pagination (newest first) and one index per filterable field.
CREATE INDEX deal_registrations_create_time ON deal_registrations (tenant_id, create_time, deal_registration_id);
CREATE INDEX deal_registrations_state ON deal_registrations (tenant_id, state, create_time, deal_registration_id);
CREATE INDEX deal_registrations_partner ON deal_registrations (tenant_id, partner_id, create_time, deal_registration_id);
CREATE INDEX deal_registrations_customer ON deal_registrations (tenant_id, customer_id, create_time, deal_registration_id);
CREATE UNIQUE INDEX deal_registrations_request_id ON deal_registrations (tenant_id, request_id) WHERE request_id IS NOT NULL;
ALTER TABLE deal_registrations ENABLE ROW LEVEL SECURITY;
ALTER TABLE deal_registrations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON deal_registrations
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
-- Also the WITH CHECK of inserts: a partner user registers only for its own
-- partner or a partner under it.
CREATE POLICY partner_access ON deal_registrations AS RESTRICTIVE USING (partner_visible(tenant_id, partner_id));

-- deal_claims are what active registrations claim (the customer, and hashes
-- of the normalised e-mail, phone and company name) across all partners, so
-- conflict detection sees other partners' claims without their
-- registrations being visible to the caller. Rejection deletes a
-- registration's claims; approval extends their expiry.
CREATE TABLE deal_claims (
    tenant_id            uuid        NOT NULL,
    claim_key            text        NOT NULL,
    deal_registration_id uuid        NOT NULL,
    partner_id           uuid        NOT NULL,
    expire_time          timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, claim_key, deal_registration_id),
    FOREIGN KEY (tenant_id, deal_registration_id) REFERENCES deal_registrations (tenant_id, deal_registration_id)
);
CREATE INDEX deal_claims_registration ON deal_claims (tenant_id, deal_registration_id);
ALTER TABLE deal_claims ENABLE ROW LEVEL SECURITY;
ALTER TABLE deal_claims FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON deal_claims
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

GRANT UPDATE ON partners TO rapport_partner;
GRANT SELECT, INSERT ON partner_tree, partner_status_changes TO rapport_partner;
GRANT SELECT, INSERT, UPDATE ON engagement_rules, deal_registrations TO rapport_partner;
GRANT SELECT, INSERT, UPDATE, DELETE ON deal_claims TO rapport_partner;

-- +goose Down
DROP TABLE deal_claims;
DROP TABLE deal_registrations;
DROP TABLE engagement_rules;
DROP TABLE partner_status_changes;
DROP POLICY partner_access ON partners;
DROP FUNCTION partner_visible(uuid, uuid);
DROP TABLE partner_tree;
DROP INDEX partners_parent;
ALTER TABLE partners DROP COLUMN postal_prefix, DROP COLUMN territories, DROP COLUMN parent_partner_id;
REVOKE UPDATE ON partners FROM rapport_partner;
