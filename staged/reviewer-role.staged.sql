-- staged/reviewer-role.staged.sql — the approvers' group role, for
-- `dot-authorize-build-step review` (issue: the commands approvers reach
-- for). Applied by the owner after handler-role.staged.sql, in one
-- transaction; idempotent.
--
-- dot_apr_reviewer (NOLOGIN) may read the APRs and record one approval row
-- per approver: apr_code, approver, decision, payload_digest, signature.
-- Applied after approvals-bound.staged.sql (the signature column). Nothing else:
-- no grant table, no APR status, no update or delete of a vote. Each
-- approver logs in as their own role, a member of dot_apr_reviewer
-- (GRANT dot_apr_reviewer TO alice;); the database records a vote only
-- under the login's own name (approvals-bound.staged.sql), so nobody can
-- approve as somebody else, and the handler counts it only when signed.
BEGIN;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dot_apr_reviewer') THEN
        CREATE ROLE dot_apr_reviewer NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
    END IF;
END
$$;

REVOKE ALL ON apr_action_types, apr_requests, apr_approvals, governance_build_authorization
    FROM dot_apr_reviewer;
GRANT USAGE ON SCHEMA public TO dot_apr_reviewer;
GRANT SELECT (apr_code, action_code, proposed_action, proposed_by, status) ON apr_requests TO dot_apr_reviewer;
GRANT SELECT (apr_code, approver) ON apr_approvals TO dot_apr_reviewer;
GRANT INSERT (apr_code, approver, decision, payload_digest, signature) ON apr_approvals TO dot_apr_reviewer;

DO $$
BEGIN
    IF NOT has_any_column_privilege('dot_apr_reviewer', 'apr_approvals', 'INSERT')
       OR has_table_privilege('dot_apr_reviewer', 'apr_approvals', 'UPDATE')
       OR has_table_privilege('dot_apr_reviewer', 'apr_approvals', 'DELETE')
       OR has_table_privilege('dot_apr_reviewer', 'governance_build_authorization', 'SELECT') THEN
        RAISE EXCEPTION 'reviewer-role: privileges are not exactly as staged';
    END IF;
    RAISE NOTICE 'reviewer-role: dot_apr_reviewer may read APRs and insert approvals, nothing else';
END
$$;

COMMIT;
