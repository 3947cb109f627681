-- +goose Up
-- Customer search: a projection of every customer's searchable text, kept
-- current in the transaction of each customer write (postgres.rebuildSearch),
-- with the indexes that the three kinds of match need: exact e-mail and phone
-- (GIN over arrays), full text (GIN over a tsvector) and fuzzy names (GIN
-- trigrams). pg_trgm and unaccent are trusted extensions since PostgreSQL 13,
-- so the database owner that migrates may create them.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Row-level security lets the planner use an index for a condition only when
-- the condition's function is LEAKPROOF (it could otherwise see other
-- tenants' rows before the policy filters them), and the operators search
-- needs (&&, @@, <% and %>) are not marked so: under RLS every search would
-- scan the whole table. They raise no errors and have no side effects that
-- depend on the data, so a superuser marks them here. A migration run by a
-- non-superuser owner cannot; it warns, and search then works but scans
-- until a superuser runs these ALTER FUNCTIONs once in the database.
-- +goose StatementBegin
DO $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        ALTER FUNCTION arrayoverlap(anyarray, anyarray) LEAKPROOF;
        ALTER FUNCTION ts_match_vq(tsvector, tsquery) LEAKPROOF;
        ALTER FUNCTION word_similarity_op(text, text) LEAKPROOF;
        ALTER FUNCTION word_similarity_commutator_op(text, text) LEAKPROOF;
    ELSE
        RAISE WARNING 'customer search needs a superuser to mark arrayoverlap, ts_match_vq, word_similarity_op and word_similarity_commutator_op LEAKPROOF; until then searches scan customer_search';
    END IF;
END
$$;
-- +goose StatementEnd

-- customer_search_fold is the one normalisation of searchable text, applied to
-- the stored text and to queries alike: lower case, and accents folded and
-- letters transliterated (é → e, ß → ss, Æ → ae) where unaccent is installed.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent') THEN
        CREATE EXTENSION IF NOT EXISTS unaccent;
        EXECUTE $f$
            CREATE FUNCTION customer_search_fold(t text) RETURNS text
            LANGUAGE sql STABLE PARALLEL SAFE STRICT
            RETURN lower(unaccent('unaccent'::regdictionary, t))
        $f$;
    ELSE
        EXECUTE $f$
            CREATE FUNCTION customer_search_fold(t text) RETURNS text
            LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
            RETURN lower(t)
        $f$;
    END IF;
END
$$;
-- +goose StatementEnd

-- One row per customer. The arrays hold every name, e-mail and phone known
-- for the customer: the customer record's own and its contact points'.
CREATE TABLE customer_search (
    tenant_id    uuid     NOT NULL,
    customer_id  uuid     NOT NULL,
    -- Folded names, space-separated.
    names        text     NOT NULL,
    -- Folded name of the organisation a person belongs to; '' when none.
    organization text     NOT NULL,
    -- Lower-cased, folded e-mail addresses.
    emails       text[]   NOT NULL,
    -- Phones as digits only (E.164 without the plus).
    phones       text[]   NOT NULL,
    -- Every suffix of seven or more digits of each phone, so that a number
    -- typed without its country code ("1632 960961") is an exact match too.
    phone_keys   text[]   NOT NULL,
    -- Names, organisation and the local parts of e-mails: what fuzzy
    -- matching compares with. Domains are left out: shared by thousands of
    -- customers, they would make every e-mail query a near match of all.
    search_text  text     NOT NULL,
    -- Names (weight A), organisation (B), e-mails (C) and phones (D).
    document     tsvector NOT NULL,
    PRIMARY KEY (tenant_id, customer_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers
);
CREATE INDEX customer_search_emails ON customer_search USING gin (emails);
CREATE INDEX customer_search_phone_keys ON customer_search USING gin (phone_keys);
CREATE INDEX customer_search_document ON customer_search USING gin (document);
CREATE INDEX customer_search_trgm ON customer_search USING gin (search_text gin_trgm_ops);

-- customer_search_source computes every customer's search row from the data;
-- the store's rebuild copies one customer's row from it, and the backfill
-- below all of them. It is the one definition of what is searchable: feeding
-- in contact points later means replacing this view (and backfilling).
-- security_invoker keeps the caller's grants and row-level security in force.
CREATE VIEW customer_search_source WITH (security_invoker = true) AS
SELECT src.tenant_id, src.customer_id,
       array_to_string(src.names, ' ') AS names,
       src.organization,
       src.emails,
       src.phones,
       ARRAY(SELECT right(p, n) FROM unnest(src.phones) p, generate_series(7, length(p)) n) AS phone_keys,
       concat_ws(' ', array_to_string(src.names, ' '), nullif(src.organization, ''),
                 array_to_string(ARRAY(SELECT split_part(e, '@', 1) FROM unnest(src.emails) e), ' ')) AS search_text,
       setweight(to_tsvector('simple', array_to_string(src.names, ' ')), 'A')
           || setweight(to_tsvector('simple', src.organization), 'B')
           || setweight(to_tsvector('simple', array_to_string(src.emails, ' ')), 'C')
           || setweight(array_to_tsvector(src.phones), 'D') AS document
FROM (
    SELECT c.tenant_id, c.customer_id,
           ARRAY[customer_search_fold(c.display_name)] AS names,
           -- The names of a person's organisations (organization_contacts)
           -- are not fed in yet: customers' record-level policy would make
           -- them depend on who wrote last, so they need a read that does
           -- not depend on the writer's visibility.
           ''::text AS organization,
           -- The record's own e-mail and phone and those of its contact
           -- points (types 1 e-mail and 2 phone, as profile.ContactType).
           ARRAY(SELECT DISTINCT customer_search_fold(v)
                 FROM (SELECT c.email UNION ALL
                       SELECT cp.value FROM contact_points cp
                       WHERE cp.tenant_id = c.tenant_id AND cp.customer_id = c.customer_id AND cp.type = 1) e(v)
                 WHERE v <> '') AS emails,
           ARRAY(SELECT DISTINCT regexp_replace(v, '\D', '', 'g')
                 FROM (SELECT c.phone UNION ALL
                       SELECT cp.value FROM contact_points cp
                       WHERE cp.tenant_id = c.tenant_id AND cp.customer_id = c.customer_id AND cp.type = 2) p(v)
                 WHERE v <> '') AS phones
    FROM customers c
) src;

-- Backfill. FORCE ROW LEVEL SECURITY hides every row from the owner that
-- migrates, so it is lifted for the copy and restored in the same transaction.
ALTER TABLE customers NO FORCE ROW LEVEL SECURITY;
INSERT INTO customer_search (tenant_id, customer_id, names, organization, emails, phones, phone_keys, search_text, document)
SELECT tenant_id, customer_id, names, organization, emails, phones, phone_keys, search_text, document
FROM customer_search_source;
ALTER TABLE customers FORCE ROW LEVEL SECURITY;

ALTER TABLE customer_search ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_search FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON customer_search
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE ON customer_search TO rapport_customer;
GRANT SELECT ON customer_search_source TO rapport_customer;

-- +goose Down
DROP VIEW customer_search_source;
DROP TABLE customer_search;
DROP FUNCTION customer_search_fold(text);
