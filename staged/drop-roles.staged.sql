-- staged/drop-roles.staged.sql — rollback, last step: the exact reverse of
-- handler-role.staged.sql and reviewer-role.staged.sql. Revokes every
-- privilege they granted and drops the four roles (the approvers' own
-- logins stay; they only lose their membership in dot_apr_reviewer).
--
-- Applied by the owner, after the unbind, in one transaction. Refused (and
-- nothing changes) while authorize_build_step is still bound: the minter's
-- role must not vanish under a bound handler. Idempotent: a role already
-- gone is skipped. If anything else still depends on a role (an object it
-- owns, a privilege somebody else granted it), DROP ROLE raises and the
-- whole file rolls back: find it with
--   SELECT * FROM pg_shdepend WHERE refobjid = 'ROLE'::regrole;
BEGIN;

DO $$
DECLARE
    bound text;
    r text;
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
            EXECUTE format('REVOKE ALL ON SCHEMA public FROM %I', r);
            EXECUTE format('DROP ROLE %I', r);
        END IF;
    END LOOP;
    SELECT count(*) INTO left_over FROM pg_roles
     WHERE rolname IN ('dot_authorize_build_step', 'dot_c1_build_consumer', 'dot_c1_grant_issue', 'dot_apr_reviewer');
    IF left_over <> 0 THEN
        RAISE EXCEPTION 'drop-roles: % of the four roles are still there', left_over;
    END IF;
    RAISE NOTICE 'drop-roles: dot_authorize_build_step, dot_c1_build_consumer, dot_c1_grant_issue and dot_apr_reviewer are gone';
END
$$;

COMMIT;
