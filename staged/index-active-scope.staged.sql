-- staged/index-active-scope.staged.sql — the partial index that keeps a
-- mint flat however many old grants the table holds (issue: flat at a
-- million grants). execute's guard looks for another APR's active grant
-- for the same carrier, target and plan; without this index that is a scan
-- of the whole table on every mint.
--
-- Applied by the owner as the table's owner, OUTSIDE a transaction (CREATE
-- INDEX CONCURRENTLY cannot run in one, and does not block writers):
--
--     psql -X -v ON_ERROR_STOP=1 -f staged/index-active-scope.staged.sql
--
-- (no -1 / --single-transaction). Idempotent: an existing valid index is
-- kept. If a previous attempt was interrupted it leaves an INVALID index of
-- this name; the readback below then raises, and the owner runs
-- `DROP INDEX CONCURRENTLY gba_active_scope_idx;` and applies this file
-- again. The definition is exactly that of fixtures/schema.sql (a test
-- compares them).

CREATE INDEX CONCURRENTLY IF NOT EXISTS gba_active_scope_idx
    ON governance_build_authorization (carrier, target, plan_ref)
    WHERE status = 'active';

DO $$
DECLARE
    def text;
BEGIN
    SELECT pg_get_indexdef(i.indexrelid) INTO def
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     WHERE c.relname = 'gba_active_scope_idx' AND i.indisvalid AND i.indisready
       AND i.indrelid = 'governance_build_authorization'::regclass;
    IF def IS NULL THEN
        RAISE EXCEPTION 'index-active-scope: gba_active_scope_idx is missing or INVALID; run DROP INDEX CONCURRENTLY gba_active_scope_idx; then apply this file again';
    END IF;
    RAISE NOTICE 'index-active-scope: %', def;
END
$$;
