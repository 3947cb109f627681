-- +goose Up
-- A job's rows are staged in one go and then applied in batches; until
-- autovacuum gets round to the table, the planner's statistics describe it
-- as it was before staging, and the within-file duplicate check (a self-join
-- per batch) becomes a nested loop over every staged row of the job: seconds
-- per batch instead of milliseconds. The service role does not own the table
-- and so cannot ANALYZE it; this function, owned by the migration role, lets
-- it refresh the statistics once staging is complete.
-- +goose StatementBegin
CREATE FUNCTION refresh_import_row_statistics() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    ANALYZE import_rows;
END
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION refresh_import_row_statistics() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION refresh_import_row_statistics() TO rapport_customer;

-- +goose Down
DROP FUNCTION refresh_import_row_statistics();
