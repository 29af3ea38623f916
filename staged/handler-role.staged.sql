-- staged/handler-role.staged.sql — the three least-privilege roles (SPEC §9).
--
-- dot_authorize_build_step, the minter: what `execute`, `revoke` and
--   `readback` run as. Reads the APR tables and quorum_passed(); inserts
--   grants; updates only the revoke columns. It cannot consume: it may not
--   write consumed_at, and the table refuses a consumed row without one.
-- dot_c1_build_consumer, the consumer: what the C1 build step runs
--   `consume` as. Reads the APR tables (to re-check the quorum) and the
--   grants; updates only the consume columns. It cannot insert a grant at
--   all, marker or not, and cannot revoke (no revoked_at).
-- dot_c1_grant_issue, the proposer: what `propose` runs as. Reads the
--   action types; inserts APRs naming only apr_code, request_type,
--   action_code, proposed_action, proposed_by and session_code, so every
--   APR it writes is born 'proposed' (the column default) with no
--   timestamps of its choosing. No access to approvals or grants.
-- None of them may delete, truncate, create, or write any other table.
--
-- Applied by the owner after harden-tables.staged.sql, in one transaction.
-- Idempotent, and it narrows what an earlier version granted: every
-- privilege is revoked first, then granted exactly. Passwords are set by
-- the owner out of band (ALTER ROLE … PASSWORD), never in this file.
BEGIN;

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['dot_authorize_build_step', 'dot_c1_build_consumer', 'dot_c1_grant_issue'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS', r);
        END IF;
    END LOOP;
END
$$;

REVOKE ALL ON apr_action_types, apr_requests, apr_approvals, governance_build_authorization
    FROM dot_authorize_build_step, dot_c1_build_consumer, dot_c1_grant_issue;
REVOKE ALL ON FUNCTION quorum_passed(text)
    FROM dot_authorize_build_step, dot_c1_build_consumer, dot_c1_grant_issue;
GRANT USAGE ON SCHEMA public TO dot_authorize_build_step, dot_c1_build_consumer, dot_c1_grant_issue;

-- The minter.
GRANT SELECT ON apr_action_types, apr_requests, apr_approvals TO dot_authorize_build_step;
GRANT EXECUTE ON FUNCTION quorum_passed(text) TO dot_authorize_build_step;
GRANT SELECT, INSERT ON governance_build_authorization TO dot_authorize_build_step;
GRANT UPDATE (status, revoked_at, revoked_by, revoke_reason)
    ON governance_build_authorization TO dot_authorize_build_step;

-- The consumer.
GRANT SELECT ON apr_action_types, apr_requests, apr_approvals TO dot_c1_build_consumer;
GRANT EXECUTE ON FUNCTION quorum_passed(text) TO dot_c1_build_consumer;
GRANT SELECT ON governance_build_authorization TO dot_c1_build_consumer;
GRANT UPDATE (status, consumed_at, consumed_by, consume_request_id)
    ON governance_build_authorization TO dot_c1_build_consumer;

-- The proposer.
GRANT SELECT ON apr_action_types TO dot_c1_grant_issue;
GRANT SELECT (apr_code) ON apr_requests TO dot_c1_grant_issue;
GRANT INSERT (apr_code, request_type, action_code, proposed_action, proposed_by, session_code)
    ON apr_requests TO dot_c1_grant_issue;

COMMIT;
