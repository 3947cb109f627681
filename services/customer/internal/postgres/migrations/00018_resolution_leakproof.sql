-- +goose Up
-- Duplicate candidates are blocked by folded name with pg_trgm's % operator,
-- which, like the operators search needs (see 00005_search.sql), is not
-- marked LEAKPROOF: under row-level security the planner then compared the
-- name of every customer of the tenant on each create instead of using the
-- trigram index. It raises no errors and has no side effects that depend on
-- the data, so a superuser marks it; a non-superuser owner warns instead.
-- +goose StatementBegin
DO $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        ALTER FUNCTION similarity_op(text, text) LEAKPROOF;
    ELSE
        RAISE WARNING 'duplicate detection needs a superuser to mark similarity_op LEAKPROOF; until then each lookup compares every name of the tenant';
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
SELECT 1;
