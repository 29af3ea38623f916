-- staged/harden-tables.staged.sql — the table refuses what the handler
-- would never write, whoever writes it (SPEC §9, "Roles" and invariant 7).
--
-- On governance_build_authorization: a TTL over the 24 h cap, a granted_at
-- in the future, an active row without its full C1 binding, a consume or
-- revoke stamped outside the grant's life; and times stamped by the
-- database (a trigger: consumed_at and revoked_at are clock_timestamp() at
-- the write, an expired grant is never consumed). A role that sets the writer
-- marker (or a superuser that bypasses the guard trigger) still cannot
-- store such a row. Also the consume idempotency column, the signature
-- and key_id columns of signed grants, the evidence_head column (the
-- evidence chain's head at the mint, signed with the grant), and a default
-- status of 'proposed' on apr_requests so that the proposer role can insert
-- without naming a status it has no privilege to choose.
--
-- Applied by the owner before handler-role.staged.sql (the roles grant on
-- consume_request_id), in one transaction: every constraint is added NOT
-- VALID, then validated against the rows already there; if any existing
-- row violates one, VALIDATE raises, the whole file rolls back, and the
-- owner finds the rows with the queries in staged/README.md (STEP 0a).
-- Idempotent: re-running it on a hardened table changes nothing. The
-- definitions are exactly those of fixtures/schema.sql (a test compares
-- them).
BEGIN;

ALTER TABLE apr_requests ALTER COLUMN status SET DEFAULT 'proposed';
ALTER TABLE governance_build_authorization ADD COLUMN IF NOT EXISTS consume_request_id text;
-- Signed grants: the handler's Ed25519 signature over the binding and the
-- id of the key that made it (README, "Signed grants").
ALTER TABLE governance_build_authorization ADD COLUMN IF NOT EXISTS signature text;
ALTER TABLE governance_build_authorization ADD COLUMN IF NOT EXISTS key_id text;
-- The evidence anchor (README, "The evidence log"): under the grant's
-- signature, so an edit of it makes the grant REJECT_GRANT_FORGED.
ALTER TABLE governance_build_authorization ADD COLUMN IF NOT EXISTS evidence_head text;

DO $$
DECLARE
    wanted text[][] := ARRAY[
        ['gba_ttl_within_cap', $c$
        status NOT IN ('active', 'consumed', 'revoked')
        OR expires_at - granted_at <= interval '24 hours'$c$],
        ['gba_granted_not_in_future', $c$granted_at <= clock_timestamp()$c$],
        ['gba_active_has_c1_binding', $c$
        status <> 'active' OR COALESCE(
            auth_code = 'GBA-C1-' || request_ref
            AND carrier = 'C1' AND lane = 'BUILD_PREP' AND target = 'DOT_C1_VOCAB_BUILD'
            AND protocol_version = 'cser-v1'
            AND plan_ref ~ '^[A-Za-z0-9._:-]{1,128}$'
            AND rollback_plan_ref ~ '^[A-Za-z0-9._:-]{1,128}$'
            AND manifest_hash ~ '^[0-9a-f]{64}$' AND apr_digest ~ '^[0-9a-f]{64}$'
            AND cardinality(action_set) > 0
            AND jsonb_typeof(scope) = 'object' AND scope ->> 'target' = target
            AND granted_by IS NOT NULL
            AND single_use AND NOT commit_allowed AND NOT requires_sovereign_esign,
            false)$c$],
        ['gba_lifecycle_times', $c$
        (consumed_at IS NULL OR (consumed_at >= granted_at AND consumed_at < expires_at))
        AND (revoked_at IS NULL OR revoked_at >= granted_at)
        AND (consume_request_id IS NULL
             OR (status = 'consumed' AND consume_request_id ~ '^[A-Za-z0-9._:-]{1,128}$'))$c$]
    ];
    i int;
BEGIN
    FOR i IN 1 .. array_length(wanted, 1) LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_constraint
                        WHERE conrelid = 'governance_build_authorization'::regclass
                          AND conname = wanted[i][1]) THEN
            EXECUTE format('ALTER TABLE governance_build_authorization ADD CONSTRAINT %I CHECK (%s) NOT VALID',
                           wanted[i][1], wanted[i][2]);
        END IF;
        EXECUTE format('ALTER TABLE governance_build_authorization VALIDATE CONSTRAINT %I', wanted[i][1]);
    END LOOP;
END
$$;

-- Time is stamped by the database (SPEC §10), whoever writes: a grant's
-- granted_at lies within the transaction that inserts it (never earlier;
-- gba_granted_not_in_future refuses later); consumed_at and revoked_at,
-- when a write sets them, become clock_timestamp() at that write (setting
-- them still needs the column privilege: a status-only update leaves them
-- NULL and the table refuses it); and an expired grant is never marked
-- consumed, by anyone.
CREATE OR REPLACE FUNCTION gba_stamp_times() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.granted_at < transaction_timestamp() THEN
            RAISE EXCEPTION 'governance_build_authorization: granted_at % is before the inserting transaction began; a grant is stamped at its mint',
                NEW.granted_at USING ERRCODE = 'DG006';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.consumed_at IS DISTINCT FROM OLD.consumed_at AND NEW.consumed_at IS NOT NULL THEN
        NEW.consumed_at := clock_timestamp();
    END IF;
    IF NEW.revoked_at IS DISTINCT FROM OLD.revoked_at AND NEW.revoked_at IS NOT NULL THEN
        NEW.revoked_at := clock_timestamp();
    END IF;
    IF NEW.status = 'consumed' AND OLD.status IS DISTINCT FROM 'consumed'
       AND OLD.expires_at <= clock_timestamp() THEN
        RAISE EXCEPTION 'governance_build_authorization: % expired at %; an expired grant is never consumed',
            OLD.auth_code, OLD.expires_at USING ERRCODE = 'DG007';
    END IF;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS gba_stamp_times ON governance_build_authorization;
CREATE TRIGGER gba_stamp_times
    BEFORE INSERT OR UPDATE ON governance_build_authorization
    FOR EACH ROW EXECUTE FUNCTION gba_stamp_times();

-- Read back inside the transaction: every constraint present and
-- validated, the column and the default in place; else roll back.
DO $$
DECLARE
    n int;
BEGIN
    SELECT count(*) INTO n FROM pg_constraint
     WHERE conrelid = 'governance_build_authorization'::regclass AND contype = 'c' AND convalidated
       AND conname IN ('gba_ttl_within_cap', 'gba_granted_not_in_future',
                       'gba_active_has_c1_binding', 'gba_lifecycle_times');
    IF n <> 4 THEN
        RAISE EXCEPTION 'harden-tables: % of 4 constraints present and validated; rolled back', n;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                    WHERE table_name = 'governance_build_authorization' AND column_name = 'consume_request_id') THEN
        RAISE EXCEPTION 'harden-tables: consume_request_id is missing; rolled back';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                    WHERE table_name = 'governance_build_authorization' AND column_name = 'evidence_head') THEN
        RAISE EXCEPTION 'harden-tables: evidence_head is missing; rolled back';
    END IF;
    IF (SELECT column_default FROM information_schema.columns
         WHERE table_name = 'apr_requests' AND column_name = 'status') IS DISTINCT FROM '''proposed''::text' THEN
        RAISE EXCEPTION 'harden-tables: apr_requests.status has no default ''proposed''; rolled back';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger
                    WHERE tgrelid = 'governance_build_authorization'::regclass
                      AND tgname = 'gba_stamp_times' AND tgenabled = 'O') THEN
        RAISE EXCEPTION 'harden-tables: the time-stamping trigger is missing; rolled back';
    END IF;
    RAISE NOTICE 'harden-tables: 4 constraints validated, times stamped by the database, consume_request_id present, status defaults to proposed';
END
$$;

COMMIT;
