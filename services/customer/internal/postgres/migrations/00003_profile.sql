-- +goose Up
-- Customer profile: new customer fields, contact points, organisation
-- contacts, groups and memberships, relationships, consent with history,
-- and the per-tenant custom attribute schema.

ALTER TABLE customers
    ADD COLUMN source_channel    text  NOT NULL DEFAULT '',
    ADD COLUMN custom_attributes jsonb NOT NULL DEFAULT '{}';
CREATE INDEX customers_source_channel ON customers (tenant_id, source_channel);
-- Finds the customers still carrying an attribute before its definition goes.
CREATE INDEX customers_custom_attributes ON customers USING gin (custom_attributes);

CREATE TABLE contact_points (
    tenant_id          uuid        NOT NULL,
    contact_point_id   uuid        NOT NULL,
    customer_id        uuid        NOT NULL,
    type               smallint    NOT NULL,
    value              text        NOT NULL DEFAULT '',
    network            text        NOT NULL DEFAULT '',
    address_lines      text[]      NOT NULL DEFAULT '{}',
    locality           text        NOT NULL DEFAULT '',
    region             text        NOT NULL DEFAULT '',
    postal_code        text        NOT NULL DEFAULT '',
    country_code       text        NOT NULL DEFAULT '',
    label              text        NOT NULL DEFAULT '',
    is_primary         boolean     NOT NULL DEFAULT false,
    verification_state smallint    NOT NULL,
    verification_time  timestamptz,
    source             text        NOT NULL DEFAULT '',
    consent            boolean     NOT NULL DEFAULT false,
    request_id         text,
    revision           bigint      NOT NULL DEFAULT 1,
    create_time        timestamptz NOT NULL DEFAULT now(),
    update_time        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, contact_point_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers
);
-- A customer's contact points, oldest first (keyset on create_time, id).
CREATE INDEX contact_points_customer ON contact_points (tenant_id, customer_id, create_time, contact_point_id);
-- At most one primary contact point per customer and type.
CREATE UNIQUE INDEX contact_points_primary ON contact_points (tenant_id, customer_id, type) WHERE is_primary;
-- Duplicate detection and the customer e-mail/phone sync look contact points up by value.
CREATE INDEX contact_points_value ON contact_points (tenant_id, type, value) WHERE value <> '';
CREATE UNIQUE INDEX contact_points_request_id ON contact_points (tenant_id, request_id) WHERE request_id IS NOT NULL;

CREATE TABLE organization_contacts (
    tenant_id               uuid        NOT NULL,
    organization_contact_id uuid        NOT NULL,
    organization_id         uuid        NOT NULL,
    person_id               uuid        NOT NULL,
    title                   text        NOT NULL DEFAULT '',
    department              text        NOT NULL DEFAULT '',
    is_primary_contact      boolean     NOT NULL DEFAULT false,
    request_id              text,
    revision                bigint      NOT NULL DEFAULT 1,
    create_time             timestamptz NOT NULL DEFAULT now(),
    update_time             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, organization_contact_id),
    FOREIGN KEY (tenant_id, organization_id) REFERENCES customers,
    FOREIGN KEY (tenant_id, person_id) REFERENCES customers,
    CHECK (organization_id <> person_id)
);
-- One link per organisation and person; listable from either side.
CREATE UNIQUE INDEX organization_contacts_pair ON organization_contacts (tenant_id, organization_id, person_id);
CREATE INDEX organization_contacts_organization ON organization_contacts (tenant_id, organization_id, create_time, organization_contact_id);
CREATE INDEX organization_contacts_person ON organization_contacts (tenant_id, person_id, create_time, organization_contact_id);
CREATE UNIQUE INDEX organization_contacts_primary ON organization_contacts (tenant_id, organization_id) WHERE is_primary_contact;
CREATE UNIQUE INDEX organization_contacts_request_id ON organization_contacts (tenant_id, request_id) WHERE request_id IS NOT NULL;

CREATE TABLE customer_groups (
    tenant_id    uuid        NOT NULL,
    group_id     uuid        NOT NULL,
    kind         smallint    NOT NULL,
    display_name text        NOT NULL,
    description  text        NOT NULL DEFAULT '',
    request_id   text,
    revision     bigint      NOT NULL DEFAULT 1,
    create_time  timestamptz NOT NULL DEFAULT now(),
    update_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, group_id)
);
CREATE INDEX customer_groups_create_time ON customer_groups (tenant_id, create_time, group_id);
CREATE INDEX customer_groups_kind ON customer_groups (tenant_id, kind, create_time, group_id);
CREATE INDEX customer_groups_display_name ON customer_groups (tenant_id, display_name);
CREATE UNIQUE INDEX customer_groups_request_id ON customer_groups (tenant_id, request_id) WHERE request_id IS NOT NULL;

CREATE TABLE group_members (
    tenant_id   uuid        NOT NULL,
    member_id   uuid        NOT NULL,
    group_id    uuid        NOT NULL,
    customer_id uuid        NOT NULL,
    role        text        NOT NULL DEFAULT '',
    valid_from  timestamptz,
    valid_to    timestamptz,
    request_id  text,
    revision    bigint      NOT NULL DEFAULT 1,
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, member_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES customer_groups ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers,
    CHECK (valid_from IS NULL OR valid_to IS NULL OR valid_from < valid_to)
);
CREATE INDEX group_members_group ON group_members (tenant_id, group_id, create_time, member_id);
CREATE INDEX group_members_customer ON group_members (tenant_id, customer_id, create_time, member_id);
CREATE UNIQUE INDEX group_members_request_id ON group_members (tenant_id, request_id) WHERE request_id IS NOT NULL;

CREATE TABLE relationships (
    tenant_id        uuid        NOT NULL,
    relationship_id  uuid        NOT NULL,
    from_customer_id uuid        NOT NULL,
    to_customer_id   uuid        NOT NULL,
    type             smallint    NOT NULL,
    custom_label     text        NOT NULL DEFAULT '',
    valid_from       timestamptz,
    valid_to         timestamptz,
    note             text        NOT NULL DEFAULT '',
    request_id       text,
    revision         bigint      NOT NULL DEFAULT 1,
    create_time      timestamptz NOT NULL DEFAULT now(),
    update_time      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, relationship_id),
    FOREIGN KEY (tenant_id, from_customer_id) REFERENCES customers,
    FOREIGN KEY (tenant_id, to_customer_id) REFERENCES customers,
    CHECK (from_customer_id <> to_customer_id),
    CHECK (valid_from IS NULL OR valid_to IS NULL OR valid_from < valid_to)
);
-- A customer's relationships in either direction, oldest first.
CREATE INDEX relationships_from ON relationships (tenant_id, from_customer_id, create_time, relationship_id);
CREATE INDEX relationships_to ON relationships (tenant_id, to_customer_id, create_time, relationship_id);
-- The same open-ended relationship is recorded once.
CREATE UNIQUE INDEX relationships_open ON relationships (tenant_id, from_customer_id, to_customer_id, type, custom_label) WHERE valid_to IS NULL;
CREATE UNIQUE INDEX relationships_request_id ON relationships (tenant_id, request_id) WHERE request_id IS NOT NULL;

-- Current consent per customer, channel and purpose, and its append-only history.
CREATE TABLE consents (
    tenant_id         uuid        NOT NULL,
    customer_id       uuid        NOT NULL,
    channel           smallint    NOT NULL,
    purpose           smallint    NOT NULL,
    state             smallint    NOT NULL,
    source            text        NOT NULL,
    principal_id      text        NOT NULL,
    consent_record_id uuid        NOT NULL,
    record_time       timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, customer_id, channel, purpose),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers
);
CREATE TABLE consent_records (
    tenant_id         uuid        NOT NULL,
    consent_record_id uuid        NOT NULL,
    customer_id       uuid        NOT NULL,
    channel           smallint    NOT NULL,
    purpose           smallint    NOT NULL,
    state             smallint    NOT NULL,
    source            text        NOT NULL,
    principal_id      text        NOT NULL,
    record_time       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, consent_record_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers
);
-- History newest first (keyset on record_time, id), optionally for one channel and purpose.
CREATE INDEX consent_records_customer ON consent_records (tenant_id, customer_id, record_time, consent_record_id);

CREATE TABLE custom_attribute_definitions (
    tenant_id      uuid        NOT NULL,
    key            text        NOT NULL,
    type           smallint    NOT NULL,
    display_name   text        NOT NULL DEFAULT '',
    description    text        NOT NULL DEFAULT '',
    allowed_values text[]      NOT NULL DEFAULT '{}',
    required       boolean     NOT NULL DEFAULT false,
    max_length     integer     NOT NULL DEFAULT 0,
    revision       bigint      NOT NULL DEFAULT 1,
    create_time    timestamptz NOT NULL DEFAULT now(),
    update_time    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);

ALTER TABLE contact_points ENABLE ROW LEVEL SECURITY;
ALTER TABLE contact_points FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON contact_points
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE organization_contacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE organization_contacts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON organization_contacts
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE customer_groups ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_groups FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON customer_groups
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE group_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE group_members FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON group_members
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE relationships ENABLE ROW LEVEL SECURITY;
ALTER TABLE relationships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON relationships
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE consents ENABLE ROW LEVEL SECURITY;
ALTER TABLE consents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON consents
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE consent_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE consent_records FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON consent_records
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE custom_attribute_definitions ENABLE ROW LEVEL SECURITY;
ALTER TABLE custom_attribute_definitions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON custom_attribute_definitions
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- Profile parts are removed outright (their last state stays in the audit
-- log); the consent history is append-only, so it gets no UPDATE or DELETE.
GRANT SELECT, INSERT, UPDATE, DELETE ON contact_points, organization_contacts, customer_groups, group_members,
    relationships, custom_attribute_definitions TO rapport_customer;
GRANT SELECT, INSERT, UPDATE ON consents TO rapport_customer;
GRANT SELECT, INSERT ON consent_records TO rapport_customer;

-- +goose Down
DROP TABLE custom_attribute_definitions, consent_records, consents, relationships, group_members,
    customer_groups, organization_contacts, contact_points;
ALTER TABLE customers DROP COLUMN custom_attributes, DROP COLUMN source_channel;
