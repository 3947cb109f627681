-- +goose Up
-- Documents attached to customers, their immutable versions with content in
-- 256 KiB chunks, the lifecycle log and share links. Nothing here is ever
-- deleted by the service: documents are soft-deleted, links revoked. The
-- child tables repeat the document's customer_id (a document never moves) so
-- each is read under its customer without a join.
CREATE TABLE documents (
    tenant_id       uuid        NOT NULL,
    document_id     uuid        NOT NULL,
    customer_id     uuid        NOT NULL,
    title           text        NOT NULL,
    description     text        NOT NULL DEFAULT '',
    state           smallint    NOT NULL,
    current_version integer     NOT NULL DEFAULT 0,
    revision        bigint      NOT NULL DEFAULT 1,
    create_time     timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now(),
    delete_time     timestamptz,
    PRIMARY KEY (tenant_id, document_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers
);
-- ListDocuments: a customer's documents newest first, optionally by state,
-- with keyset pagination on (create_time, document_id).
CREATE INDEX documents_customer ON documents (tenant_id, customer_id, create_time, document_id);
CREATE INDEX documents_customer_state ON documents (tenant_id, customer_id, state, create_time, document_id);
CREATE INDEX documents_customer_update_time ON documents (tenant_id, customer_id, update_time);

CREATE TABLE document_versions (
    tenant_id             uuid        NOT NULL,
    version_id            uuid        NOT NULL,
    document_id           uuid        NOT NULL,
    customer_id           uuid        NOT NULL,
    version               integer     NOT NULL,
    file_name             text        NOT NULL,
    declared_content_type text        NOT NULL DEFAULT '',
    content_type          text        NOT NULL,
    size_bytes            bigint      NOT NULL,
    sha256                bytea       NOT NULL,
    creator_id            text        NOT NULL,
    request_id            text,
    create_time           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, version_id),
    FOREIGN KEY (tenant_id, document_id) REFERENCES documents,
    UNIQUE (tenant_id, document_id, version)
);
-- ListDocumentVersions: newest first with keyset pagination.
CREATE INDEX document_versions_document ON document_versions (tenant_id, document_id, create_time, version_id);
CREATE UNIQUE INDEX document_versions_request_id ON document_versions (tenant_id, request_id) WHERE request_id IS NOT NULL;

-- The content, in order of seq. The key to the version is checked at commit,
-- because an upload streams its chunks before it knows the version's size
-- and checksum, and writes the version row last.
CREATE TABLE document_chunks (
    tenant_id  uuid    NOT NULL,
    version_id uuid    NOT NULL,
    seq        integer NOT NULL,
    data       bytea   NOT NULL,
    PRIMARY KEY (tenant_id, version_id, seq),
    FOREIGN KEY (tenant_id, version_id) REFERENCES document_versions DEFERRABLE INITIALLY DEFERRED
);
-- The content is already compressed or not worth the CPU; store it out of line as is.
ALTER TABLE document_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE document_transitions (
    tenant_id     uuid        NOT NULL,
    transition_id uuid        NOT NULL,
    document_id   uuid        NOT NULL,
    customer_id   uuid        NOT NULL,
    from_state    smallint    NOT NULL,
    to_state      smallint    NOT NULL,
    principal_id  text        NOT NULL,
    comment       text        NOT NULL DEFAULT '',
    create_time   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, transition_id),
    FOREIGN KEY (tenant_id, document_id) REFERENCES documents
);
-- ListDocumentTransitions: newest first with keyset pagination.
CREATE INDEX document_transitions_document ON document_transitions (tenant_id, document_id, create_time, transition_id);

CREATE TABLE document_share_links (
    tenant_id      uuid        NOT NULL,
    share_link_id  uuid        NOT NULL,
    document_id    uuid        NOT NULL,
    customer_id    uuid        NOT NULL,
    version        integer     NOT NULL DEFAULT 0,
    token_sha256   bytea       NOT NULL,
    creator_id     text        NOT NULL,
    request_id     text,
    expire_time    timestamptz NOT NULL,
    revoke_time    timestamptz,
    create_time    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, share_link_id),
    FOREIGN KEY (tenant_id, document_id) REFERENCES documents
);
-- ListShareLinks: newest first with keyset pagination.
CREATE INDEX document_share_links_document ON document_share_links (tenant_id, document_id, create_time, share_link_id);
CREATE UNIQUE INDEX document_share_links_request_id ON document_share_links (tenant_id, request_id) WHERE request_id IS NOT NULL;

ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE documents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON documents
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE document_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE document_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON document_versions
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE document_chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE document_chunks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON document_chunks
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE document_transitions ENABLE ROW LEVEL SECURITY;
ALTER TABLE document_transitions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON document_transitions
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE document_share_links ENABLE ROW LEVEL SECURITY;
ALTER TABLE document_share_links FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON document_share_links
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- Record-level access: a document and its versions, transitions and links
-- are visible exactly when their customer is, whatever policy restricts
-- customers (the subquery runs under the customers' own row-level security).
-- Chunks are only read by version id after the version itself was read.
CREATE POLICY record_access ON documents AS RESTRICTIVE
    USING (EXISTS (SELECT 1 FROM customers c WHERE c.tenant_id = documents.tenant_id AND c.customer_id = documents.customer_id));
CREATE POLICY record_access ON document_versions AS RESTRICTIVE
    USING (EXISTS (SELECT 1 FROM customers c WHERE c.tenant_id = document_versions.tenant_id AND c.customer_id = document_versions.customer_id));
CREATE POLICY record_access ON document_transitions AS RESTRICTIVE
    USING (EXISTS (SELECT 1 FROM customers c WHERE c.tenant_id = document_transitions.tenant_id AND c.customer_id = document_transitions.customer_id));
CREATE POLICY record_access ON document_share_links AS RESTRICTIVE
    USING (EXISTS (SELECT 1 FROM customers c WHERE c.tenant_id = document_share_links.tenant_id AND c.customer_id = document_share_links.customer_id));

-- Versions, chunks and transitions are append-only: no UPDATE for them.
GRANT SELECT, INSERT, UPDATE ON documents, document_share_links TO rapport_customer;
GRANT SELECT, INSERT ON document_versions, document_chunks, document_transitions TO rapport_customer;

-- +goose Down
DROP TABLE document_share_links, document_transitions, document_chunks, document_versions, documents;
