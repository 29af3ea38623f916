-- staged/handler-role.staged.sql — the least-privilege roles (SPEC §7, §8).
--
-- dot_authorize_build_step: what `execute`, `consume`, `revoke` and
--   `readback` run as. Reads the APR tables and quorum_passed(); inserts and
--   updates (only the lifecycle columns of) governance_build_authorization.
--   No DELETE, no TRUNCATE, no DDL, no write to any APR table.
-- dot_c1_grant_issue: what `propose` runs as. Reads the action types and
--   inserts APRs; nothing else.
--
-- Applied by the owner through the governed migration path, in one
-- transaction. Idempotent: re-running it changes nothing. Passwords are set
-- by the owner out of band (ALTER ROLE … PASSWORD), never in this file.
BEGIN;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dot_authorize_build_step') THEN
        CREATE ROLE dot_authorize_build_step LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dot_c1_grant_issue') THEN
        CREATE ROLE dot_c1_grant_issue LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO dot_authorize_build_step, dot_c1_grant_issue;

GRANT SELECT ON apr_action_types, apr_requests, apr_approvals TO dot_authorize_build_step;
GRANT EXECUTE ON FUNCTION quorum_passed(text) TO dot_authorize_build_step;
GRANT SELECT, INSERT ON governance_build_authorization TO dot_authorize_build_step;
GRANT UPDATE (status, consumed_at, consumed_by, revoked_at, revoked_by, revoke_reason)
    ON governance_build_authorization TO dot_authorize_build_step;

GRANT SELECT ON apr_action_types TO dot_c1_grant_issue;
GRANT SELECT (apr_code), INSERT ON apr_requests TO dot_c1_grant_issue;

COMMIT;
