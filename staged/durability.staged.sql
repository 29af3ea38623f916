-- staged/durability.staged.sql — what `--durability replicated[:N]` reads
-- (SPEC §10, "a commit is OK only when it is as durable as ..."): how many
-- streaming standbys have flushed the WAL up to a position.
--
-- pg_stat_replication shows its LSN columns only to members of
-- pg_read_all_stats; granting that role to the handler would also show it
-- every session's query text. So one SECURITY DEFINER function, owned by
-- the owner who applies this file (a superuser, or a member of
-- pg_read_all_stats), answers one number and nothing else, with its
-- search_path pinned; only the minter and the consumer may call it.
--
-- Applied by the owner after handler-role.staged.sql (the roles must
-- exist), in one transaction, read back inside it. Idempotent. Without it,
-- `--durability local` (the default) is unaffected, and `--durability
-- replicated` is ERROR_SCHEMA_CONTRACT before anything is written.
BEGIN;

CREATE OR REPLACE FUNCTION dot_standbys_flushed(target pg_lsn)
RETURNS integer
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.count(*)::integer
      FROM pg_catalog.pg_stat_replication r
      JOIN pg_catalog.pg_stat_activity a ON a.pid = r.pid
     WHERE r.flush_lsn IS NOT NULL AND r.flush_lsn >= target
       -- physical replication only: a logical walsender (a subscriber,
       -- pg_recvlogical) is connected to a database and can never be
       -- promoted, so it never counts as a standby.
       AND a.datid IS NULL
$$;

REVOKE ALL ON FUNCTION dot_standbys_flushed(pg_lsn) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dot_standbys_flushed(pg_lsn)
    TO dot_authorize_build_step, dot_c1_build_consumer;

-- Read back: the function is there, SECURITY DEFINER, and PUBLIC cannot
-- call it.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_proc
         WHERE proname = 'dot_standbys_flushed' AND prosecdef
    ) OR pg_catalog.has_function_privilege('public', 'dot_standbys_flushed(pg_lsn)', 'EXECUTE') THEN
        RAISE EXCEPTION 'durability.staged.sql did not take';
    END IF;
END
$$;

COMMIT;
