-- +goose Up
-- Identity resolution: blocking keys for duplicate candidates, the review
-- queue of duplicate pairs, long-running duplicate scans, and the merge
-- journal that makes a merge undoable.

-- Trigram similarity blocks candidate names through an index. unaccent is
-- enabled where the server ships it, for ad-hoc queries; index keys use
-- resolution_fold, which is IMMUTABLE as an index expression must be.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent') THEN
        CREATE EXTENSION IF NOT EXISTS unaccent;
    END IF;
END
$$;
-- +goose StatementEnd

-- resolution_fold lower-cases a name and spells its letters in plain ASCII
-- the way people re-type them: German umlauts and ß as ae/oe/ue/ss (so
-- "Müller" meets "Mueller"), other accents dropped ("José" meets "Jose").
-- The Go scorer folds the same way (internal/resolution).
-- +goose StatementBegin
CREATE FUNCTION resolution_fold(name text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT regexp_replace(translate(
        replace(replace(replace(replace(replace(replace(lower(name), 'ä', 'ae'), 'ö', 'oe'), 'ü', 'ue'), 'ß', 'ss'), 'æ', 'ae'), 'œ', 'oe'),
        'àáâãåāăąçćčďđèéêëēėęěìíîïīįıłľĺñńňòóôõøōőŕřśšşťţùúûůūűųýÿžźż',
        'aaaaaaaacccddeeeeeeeeiiiiiiilllnnnooooooorrsssttuuuuuuuyyzzz'),
        '[^a-z0-9]+', ' ', 'g')
$$;
-- +goose StatementEnd

-- merged_into marks a customer merged away (it is also soft-deleted);
-- name_key is its folded name, the trigram blocking key.
ALTER TABLE customers
    ADD COLUMN merged_into uuid,
    ADD COLUMN name_key text GENERATED ALWAYS AS (resolution_fold(display_name)) STORED;
CREATE INDEX customers_name_trgm ON customers USING gin (name_key gin_trgm_ops);
-- Candidates share a postal code (the address blocking key); customers
-- merged into one are found when that one is unmerged.
CREATE INDEX contact_points_postal ON contact_points (tenant_id, country_code, postal_code) WHERE type = 3 AND postal_code <> '';
CREATE INDEX customers_merged_into ON customers (tenant_id, merged_into) WHERE merged_into IS NOT NULL;

-- The review queue: a pair is queued once, smaller customer id first.
CREATE TABLE duplicate_pairs (
    tenant_id          uuid        NOT NULL,
    pair_id            uuid        NOT NULL,
    first_customer_id  uuid        NOT NULL,
    second_customer_id uuid        NOT NULL,
    score              double precision NOT NULL,
    features           jsonb       NOT NULL,
    state              smallint    NOT NULL,
    scan_id            uuid,
    merge_id           uuid,
    revision           bigint      NOT NULL DEFAULT 1,
    create_time        timestamptz NOT NULL DEFAULT now(),
    update_time        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, pair_id),
    FOREIGN KEY (tenant_id, first_customer_id) REFERENCES customers,
    FOREIGN KEY (tenant_id, second_customer_id) REFERENCES customers,
    CHECK (first_customer_id < second_customer_id),
    CHECK (score >= 0 AND score <= 1)
);
CREATE UNIQUE INDEX duplicate_pairs_pair ON duplicate_pairs (tenant_id, first_customer_id, second_customer_id);
CREATE INDEX duplicate_pairs_second ON duplicate_pairs (tenant_id, second_customer_id);
-- ListDuplicatePairs: by state, highest score first (keyset on score, id).
CREATE INDEX duplicate_pairs_queue ON duplicate_pairs (tenant_id, state, score DESC, pair_id DESC);

CREATE TABLE duplicate_scans (
    tenant_id       uuid        NOT NULL,
    scan_id         uuid        NOT NULL,
    state           smallint    NOT NULL,
    -- The last customer id compared: the scan resumes after it.
    cursor_id       uuid,
    processed_count bigint      NOT NULL DEFAULT 0,
    total_count     bigint      NOT NULL,
    pairs_found     bigint      NOT NULL DEFAULT 0,
    principal_id    text        NOT NULL,
    request_id      text,
    create_time     timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now(),
    finish_time     timestamptz,
    PRIMARY KEY (tenant_id, scan_id)
);
-- One running scan per tenant; the worker finds running scans by state.
CREATE UNIQUE INDEX duplicate_scans_running ON duplicate_scans (tenant_id) WHERE state = 1;
CREATE UNIQUE INDEX duplicate_scans_request_id ON duplicate_scans (tenant_id, request_id) WHERE request_id IS NOT NULL;

-- The merge journal: before images of both customers and the rows moved.
CREATE TABLE customer_merges (
    tenant_id       uuid        NOT NULL,
    merge_id        uuid        NOT NULL,
    survivor_id     uuid        NOT NULL,
    loser_id        uuid        NOT NULL,
    pair_id         uuid,
    state           smallint    NOT NULL,
    field_rules     jsonb       NOT NULL,
    survivor_before jsonb       NOT NULL,
    survivor_after  jsonb       NOT NULL,
    loser_before    jsonb       NOT NULL,
    moved_row_count bigint      NOT NULL,
    principal_id    text        NOT NULL,
    request_id      text,
    create_time     timestamptz NOT NULL DEFAULT now(),
    expire_time     timestamptz NOT NULL,
    unmerge_time    timestamptz,
    PRIMARY KEY (tenant_id, merge_id),
    FOREIGN KEY (tenant_id, survivor_id) REFERENCES customers,
    FOREIGN KEY (tenant_id, loser_id) REFERENCES customers,
    CHECK (survivor_id <> loser_id)
);
CREATE INDEX customer_merges_loser ON customer_merges (tenant_id, loser_id, create_time);
CREATE INDEX customer_merges_survivor ON customer_merges (tenant_id, survivor_id, create_time);
CREATE UNIQUE INDEX customer_merges_request_id ON customer_merges (tenant_id, request_id) WHERE request_id IS NOT NULL;

-- One row per row a merge touched: its table, the customer column it
-- re-parented (moved) or the survivor's row it overwrote (adjusted), and
-- the row's image before the merge.
CREATE TABLE customer_merge_rows (
    tenant_id   uuid     NOT NULL,
    merge_id    uuid     NOT NULL,
    row_no      bigint   GENERATED ALWAYS AS IDENTITY,
    table_name  text     NOT NULL,
    column_name text     NOT NULL,
    kind        smallint NOT NULL,
    image       jsonb    NOT NULL,
    PRIMARY KEY (tenant_id, merge_id, row_no),
    FOREIGN KEY (tenant_id, merge_id) REFERENCES customer_merges
);

ALTER TABLE duplicate_pairs ENABLE ROW LEVEL SECURITY;
ALTER TABLE duplicate_pairs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON duplicate_pairs
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE duplicate_scans ENABLE ROW LEVEL SECURITY;
ALTER TABLE duplicate_scans FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON duplicate_scans
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE customer_merges ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_merges FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON customer_merges
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE customer_merge_rows ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_merge_rows FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON customer_merge_rows
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- resolution_running_scans tells the background worker which tenants have
-- a scan to continue, and nothing else: it is the one read across tenants,
-- so it runs as the migration owner and returns only ids. The owner is
-- subject to RLS too (FORCE), so a policy lets it, and only it, read every
-- tenant's scans; the service role still sees its tenant's alone.
CREATE POLICY scan_discovery ON duplicate_scans FOR SELECT TO CURRENT_USER USING (true);
-- +goose StatementBegin
CREATE FUNCTION resolution_running_scans() RETURNS TABLE (tenant_id uuid, scan_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT s.tenant_id, s.scan_id FROM duplicate_scans s WHERE s.state = 1 ORDER BY s.create_time
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION resolution_running_scans() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION resolution_running_scans() TO rapport_customer;

GRANT SELECT, INSERT, UPDATE ON duplicate_pairs, duplicate_scans, customer_merges TO rapport_customer;
GRANT SELECT, INSERT ON customer_merge_rows TO rapport_customer;
-- A merge re-parents history rows that are otherwise append-only: only
-- their customer column may change.
GRANT UPDATE (customer_id) ON consent_records, lifecycle_transitions, value_tier_changes, customer_partners TO rapport_customer;

-- +goose Down
DROP POLICY scan_discovery ON duplicate_scans;
REVOKE UPDATE (customer_id) ON consent_records, lifecycle_transitions, value_tier_changes, customer_partners FROM rapport_customer;
DROP FUNCTION resolution_running_scans();
DROP TABLE customer_merge_rows, customer_merges, duplicate_scans, duplicate_pairs;
DROP INDEX contact_points_postal;
ALTER TABLE customers DROP COLUMN name_key, DROP COLUMN merged_into;
DROP FUNCTION resolution_fold(text);
