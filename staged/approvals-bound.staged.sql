-- staged/approvals-bound.staged.sql — one person is never a quorum (SPEC
-- §10, invariant 10): the database binds every vote and every proposal to
-- the login that writes it, counts identities, and pins the names the
-- quorum is judged by.
--
-- - apr_approvals.signature: the approver's SSH signature over the vote
--   (the handler counts an approve only with a valid one; README, "Signed
--   approvals"); governance_build_authorization.quorum: the approvals a
--   grant was minted on, under the grant's signature.
-- - apr_identity(name): the one identity rule (trimmed of spaces,
--   lowercased, NULL for anything but printable ASCII), the same as the
--   handler's recount.
-- - One vote per identity per APR (a unique index); a login votes only as
--   itself, never changes a vote, never approves what it proposed; a login
--   proposes only as itself (triggers, from session_user; a superuser is
--   beyond what a trigger binds, and its unsigned votes are not counted).
-- - quorum_passed() counts distinct readable identities other than the
--   proposer's, with its search_path pinned.
-- - No CREATE on schema public for PUBLIC (PostgreSQL 13 and 14 grant it,
--   and there only a superuser can revoke it: staged/README.md, STEP 0a′):
--   a function or aggregate there could shadow one the quorum is judged by.
--   The handler refuses to run (ERROR_SCHEMA_CONTRACT) while PUBLIC has it.
--
-- Applied by the owner after harden-tables.staged.sql and before the role
-- files (reviewer-role grants INSERT on signature), in one transaction,
-- read back inside it. Idempotent. If two votes of one APR already share an
-- identity, the unique index fails and the whole file rolls back; find them
-- with the query in staged/README.md (STEP 0c). fixtures/schema.sql is the
-- live tables before this file; every disposable database applies it.
BEGIN;

ALTER TABLE apr_approvals ADD COLUMN IF NOT EXISTS signature text;
ALTER TABLE governance_build_authorization ADD COLUMN IF NOT EXISTS quorum jsonb;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                    WHERE conrelid = 'apr_approvals'::regclass AND conname = 'apr_approvals_signature_size') THEN
        ALTER TABLE apr_approvals ADD CONSTRAINT apr_approvals_signature_size
            CHECK (signature IS NULL OR octet_length(signature) <= 16384);
    END IF;
END
$$;


-- An approver's or proposer's identity for counting: trimmed of spaces and
-- lowercased as ASCII (COLLATE "C": a Turkish collation's lower('I') is
-- not 'i'); NULL for a name that is empty or holds anything but printable
-- ASCII (a control, invisible or non-ASCII character can pass for another
-- name). The handler's recount uses exactly this rule (policy::identity).
-- Every name in it is pg_catalog's, written out, so it needs no SET of its
-- own and the planner inlines it where it is called.
CREATE OR REPLACE FUNCTION apr_identity(p_name text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT CASE WHEN pg_catalog.btrim(p_name, ' ') OPERATOR(pg_catalog.~) '^[!-~]([ -~]*[!-~])?$'
                THEN pg_catalog.lower(pg_catalog.btrim(p_name, ' ') COLLATE "C") END
$$;

-- One vote per person per APR, whatever the spelling: 'alice', 'Alice '
-- and ' ALICE' are one key.
CREATE UNIQUE INDEX IF NOT EXISTS apr_approvals_one_per_identity
    ON apr_approvals (apr_code, lower(btrim(approver, ' ') COLLATE "C"));

-- A login votes only as itself (session_user, which SET ROLE does not
-- change), never changes a vote, and never approves an APR it proposed.
-- decided_at is the database's clock. A superuser is beyond what a
-- trigger can bind (it can disable triggers); the handler does not count
-- its unsigned votes either.
CREATE OR REPLACE FUNCTION apr_approvals_bind_identity() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    proposer text;
BEGIN
    IF (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user) THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION 'apr_approvals: % refused; a vote is never changed or removed', TG_OP
            USING ERRCODE = 'DG004';
    END IF;
    IF NEW.approver IS DISTINCT FROM session_user::text THEN
        RAISE EXCEPTION 'apr_approvals: login % may vote only under its own name, not as %',
            session_user, NEW.approver USING ERRCODE = 'DG004';
    END IF;
    SELECT a.proposed_by INTO proposer FROM apr_requests a WHERE a.apr_code = NEW.apr_code;
    IF NEW.decision = 'approve'
       AND (apr_identity(NEW.approver) IS NULL OR apr_identity(proposer) IS NULL
            OR apr_identity(NEW.approver) = apr_identity(proposer)) THEN
        RAISE EXCEPTION 'apr_approvals: % may not approve APR % (proposed by %): a proposer never approves their own APR, and an unreadable name is never told apart from it',
            NEW.approver, NEW.apr_code, proposer USING ERRCODE = 'DG004';
    END IF;
    NEW.decided_at := clock_timestamp();
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS apr_approvals_bind_identity ON apr_approvals;
CREATE TRIGGER apr_approvals_bind_identity
    BEFORE INSERT OR UPDATE OR DELETE ON apr_approvals
    FOR EACH ROW EXECUTE FUNCTION apr_approvals_bind_identity();

-- A login proposes only under its own name (SPEC §10): proposed_by is the
-- session_user of every insert but a superuser's, and never changes.
CREATE OR REPLACE FUNCTION apr_requests_bind_proposer() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user) THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' AND NEW.proposed_by IS DISTINCT FROM session_user::text THEN
        RAISE EXCEPTION 'apr_requests: login % may propose only under its own name, not as %',
            session_user, NEW.proposed_by USING ERRCODE = 'DG005';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.proposed_by IS DISTINCT FROM OLD.proposed_by THEN
        RAISE EXCEPTION 'apr_requests: proposed_by never changes' USING ERRCODE = 'DG005';
    END IF;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS apr_requests_bind_proposer ON apr_requests;
CREATE TRIGGER apr_requests_bind_proposer
    BEFORE INSERT OR UPDATE ON apr_requests
    FOR EACH ROW EXECUTE FUNCTION apr_requests_bind_proposer();

-- Distinct readable identities other than the proposer's, at least
-- min_approvals of the APR's action type, and no reject vote at all (SPEC
-- §10: the dispatcher's judge of patch_ops_code APRs sees what the handler
-- counts, short of the signatures only the handler can check). Its names
-- are pinned: no temp object or other schema changes what it reads, and
-- the aggregates are pg_catalog's, whatever public holds.
CREATE OR REPLACE FUNCTION quorum_passed(p_apr_code text) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT COALESCE((
        SELECT t.min_approvals IS NOT NULL
           AND apr_identity(r.proposed_by) IS NOT NULL
           AND pg_catalog.count(DISTINCT apr_identity(a.approver)) FILTER (
                   WHERE a.decision = 'approve'
                     AND apr_identity(a.approver) <> apr_identity(r.proposed_by)
               ) >= t.min_approvals
           AND pg_catalog.count(*) FILTER (WHERE a.decision = 'reject') = 0
          FROM apr_requests r
          JOIN apr_action_types t ON t.action_code = r.action_code
          LEFT JOIN apr_approvals a ON a.apr_code = r.apr_code
         WHERE r.apr_code = p_apr_code
         GROUP BY r.proposed_by, t.min_approvals
    ), false)
$$;

-- No login but the owner creates objects beside the governance tables: a
-- function or aggregate there could shadow one the handler calls (the
-- default of PostgreSQL 13 and 14 lets everyone create in public).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- Read back inside the transaction; else roll back.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                    WHERE table_name = 'apr_approvals' AND column_name = 'signature')
       OR NOT EXISTS (SELECT 1 FROM information_schema.columns
                       WHERE table_name = 'governance_build_authorization' AND column_name = 'quorum') THEN
        RAISE EXCEPTION 'approvals-bound: a column is missing; rolled back';
    END IF;
    IF (SELECT count(*) FROM pg_trigger
         WHERE tgname IN ('apr_approvals_bind_identity', 'apr_requests_bind_proposer') AND NOT tgisinternal
           AND tgenabled = 'O') <> 2 THEN
        RAISE EXCEPTION 'approvals-bound: the identity triggers are not both enabled; rolled back';
    END IF;
    IF to_regclass('apr_approvals_one_per_identity') IS NULL THEN
        RAISE EXCEPTION 'approvals-bound: the one-vote-per-identity index is missing; rolled back';
    END IF;
    IF apr_identity(' Alice ') IS DISTINCT FROM 'alice' OR apr_identity(E'al\u200Bice') IS NOT NULL THEN
        RAISE EXCEPTION 'approvals-bound: apr_identity() does not read names as the handler does; rolled back';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_proc
                    WHERE proname = 'quorum_passed'
                      AND proconfig @> ARRAY['search_path=pg_catalog, public, pg_temp']) THEN
        RAISE EXCEPTION 'approvals-bound: quorum_passed() has no pinned search_path; rolled back';
    END IF;
    IF has_schema_privilege('public', 'public', 'CREATE') THEN
        RAISE EXCEPTION 'approvals-bound: PUBLIC may still create in schema public; rolled back'
            USING HINT = format('only the schema''s owner %s (or a superuser) can revoke it: '
                                'REVOKE CREATE ON SCHEMA public FROM PUBLIC (staged/README.md, STEP 0a′)',
                                (SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'public'));
    END IF;
    RAISE NOTICE 'approvals-bound: votes and proposals bound to their login, one vote per identity, quorum_passed() pinned';
END
$$;

COMMIT;
