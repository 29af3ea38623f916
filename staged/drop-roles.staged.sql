-- staged/drop-roles.staged.sql — rollback, last step: the exact reverse of
-- handler-role.staged.sql, reviewer-role.staged.sql and durability.staged.sql (its grants). Revokes every
-- privilege they granted in this database and drops the four roles (the
-- approvers' own logins stay; they only lose their membership in
-- dot_apr_reviewer).
--
-- Applied by the owner, after the unbind, in one transaction. Refused (and
-- nothing changes) while authorize_build_step is still bound: the minter's
-- role must not vanish under a bound handler. Idempotent: a role already
-- gone is skipped.
--
-- Roles belong to the cluster, privileges to each database. A role that
-- still holds privileges in another database of the cluster is kept (its
-- privileges here are revoked) and the NOTICE names that database: apply
-- this file there too; the last application drops it. If anything else
-- still depends on a role (an object it owns), DROP ROLE raises and the
-- whole file rolls back: find it with
--   SELECT * FROM pg_shdepend WHERE refobjid = 'ROLE'::regrole;
BEGIN;

DO $$
DECLARE
    bound text;
    r text;
    elsewhere text;
    kept text[] := '{}';
    left_over int;
BEGIN
    SELECT handler_ref INTO bound FROM apr_action_types WHERE action_code = 'authorize_build_step';
    IF bound IS DISTINCT FROM 'unimplemented' THEN
        RAISE EXCEPTION 'drop-roles refused: authorize_build_step.handler_ref is %, not unimplemented; apply the unbind first',
            coalesce(bound, 'NULL');
    END IF;
    FOREACH r IN ARRAY ARRAY['dot_authorize_build_step', 'dot_c1_build_consumer', 'dot_c1_grant_issue', 'dot_apr_reviewer'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('REVOKE ALL ON apr_action_types, apr_requests, apr_approvals, governance_build_authorization FROM %I', r);
            EXECUTE format('REVOKE ALL ON FUNCTION quorum_passed(text) FROM %I', r);
            -- durability.staged.sql is optional (STEP 0g).
            IF pg_catalog.to_regprocedure('dot_standbys_flushed(pg_lsn)') IS NOT NULL THEN
                EXECUTE format('REVOKE ALL ON FUNCTION dot_standbys_flushed(pg_lsn) FROM %I', r);
            END IF;
            EXECUTE format('REVOKE ALL ON SCHEMA public FROM %I', r);
            SELECT string_agg(DISTINCT d.datname, ', ') INTO elsewhere
              FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
             WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = r::regrole
               AND d.datname <> current_database();
            IF elsewhere IS NULL THEN
                EXECUTE format('DROP ROLE %I', r);
            ELSE
                kept := kept || format('%s (still granted in %s)', r, elsewhere);
            END IF;
        END IF;
    END LOOP;
    SELECT count(*) INTO left_over FROM pg_roles
     WHERE rolname IN ('dot_authorize_build_step', 'dot_c1_build_consumer', 'dot_c1_grant_issue', 'dot_apr_reviewer');
    IF left_over <> cardinality(kept) THEN
        RAISE EXCEPTION 'drop-roles: % roles are still there, % of them kept on purpose', left_over, cardinality(kept);
    END IF;
    IF cardinality(kept) > 0 THEN
        RAISE NOTICE 'drop-roles: revoked here; kept %: apply this file in those databases too',
            array_to_string(kept, '; ');
    ELSE
        RAISE NOTICE 'drop-roles: dot_authorize_build_step, dot_c1_build_consumer, dot_c1_grant_issue and dot_apr_reviewer are gone';
    END IF;
END
$$;

COMMIT;
