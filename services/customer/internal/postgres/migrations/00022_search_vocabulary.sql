-- +goose Up
-- Fuzzy search through the tenant's vocabulary. A fuzzy search first finds
-- the words near each word of the query in search_words (a trigram index
-- over thousands of distinct words, not a million texts), then the
-- customers holding one of them for every query word through the full-text
-- index: a misspelt common name ("Jonh Jonse") no longer ranks every text
-- that shares a trigram with it.
--
-- Fuzzy matching has always reached the words of e-mail local parts
-- ("lisk0v" finds liskov@mit.edu) through search_text; for the full-text
-- index to find them too, the search document now holds them as words of
-- weight C beside the whole addresses.
CREATE OR REPLACE VIEW customer_search_source WITH (security_invoker = true) AS
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
           || setweight(to_tsvector('simple', array_to_string(ARRAY(
                  SELECT regexp_replace(split_part(e, '@', 1), '[^[:alnum:]]+', ' ', 'g') FROM unnest(src.emails) e), ' ')), 'C')
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
ALTER TABLE contact_points NO FORCE ROW LEVEL SECURITY;
ALTER TABLE customer_search NO FORCE ROW LEVEL SECURITY;
UPDATE customer_search s SET document = v.document
FROM customer_search_source v
WHERE v.tenant_id = s.tenant_id AND v.customer_id = s.customer_id AND v.document <> s.document;

-- The words of letters in the tenant's search documents (names,
-- organisations, e-mail local parts; not whole addresses, phones or words
-- with digits, which in e-mail local parts are mostly unique to one
-- customer and would make the vocabulary as large as the customer base),
-- only ever added: a word no customer holds any more finds nobody.
CREATE TABLE search_words (
    tenant_id uuid NOT NULL,
    word      text NOT NULL,
    PRIMARY KEY (tenant_id, word)
);
CREATE INDEX search_words_trgm ON search_words USING gin (word gin_trgm_ops);
INSERT INTO search_words (tenant_id, word)
SELECT DISTINCT s.tenant_id, u.lexeme
FROM customer_search s, unnest(s.document) u
WHERE u.weights && ARRAY['A', 'B', 'C'] AND u.lexeme ~ '^[[:alpha:]]+$';
ALTER TABLE customers FORCE ROW LEVEL SECURITY;
ALTER TABLE contact_points FORCE ROW LEVEL SECURITY;
ALTER TABLE customer_search FORCE ROW LEVEL SECURITY;

ALTER TABLE search_words ENABLE ROW LEVEL SECURITY;
ALTER TABLE search_words FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON search_words
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT ON search_words TO rapport_customer;

-- Every write of search rows teaches the vocabulary their words, in the
-- same statement's transaction.
-- +goose StatementBegin
CREATE FUNCTION search_words_learn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_words (tenant_id, word)
    SELECT DISTINCT n.tenant_id, u.lexeme
    FROM new_rows n, unnest(n.document) u
    WHERE u.weights && ARRAY['A', 'B', 'C'] AND u.lexeme ~ '^[[:alpha:]]+$'
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER search_words_on_insert AFTER INSERT ON customer_search
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_words_learn();
CREATE TRIGGER search_words_on_update AFTER UPDATE ON customer_search
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_words_learn();

-- +goose Down
DROP TRIGGER search_words_on_update ON customer_search;
DROP TRIGGER search_words_on_insert ON customer_search;
DROP FUNCTION search_words_learn();
DROP TABLE search_words;
CREATE OR REPLACE VIEW customer_search_source WITH (security_invoker = true) AS
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
