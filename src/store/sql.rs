//! Every SQL statement the store sends, named, with why it is written as
//! it is. Text only: nothing here talks to the database or decides.

/// A writer's second statement: where commits wait for synchronous
/// standbys, a session that lowered synchronous_commit to `off` or `local`
/// (PGOPTIONS, a pooled session's leftover SET: not the server's commit
/// policy, which a role's, a database's or the file's setting is) has it
/// raised back to `on` for this transaction, so that an OK (a new write,
/// or state found: `Tx::end_found`) is never given for a commit no standby
/// confirmed. Answers `on` when it raised it, else NULL.
pub(crate) const LIFT_SYNCHRONOUS_COMMIT: &str =
    "SELECT CASE WHEN current_setting('synchronous_standby_names') <> '' \
     AND current_setting('synchronous_commit') IN ('off', 'local') \
     AND (SELECT s.source FROM pg_catalog.pg_settings s WHERE s.name = 'synchronous_commit') \
         IN ('client', 'session') \
     THEN set_config('synchronous_commit', 'on', true) END; ";

/// `Tx::end_found`'s write-ahead-logged row lock.
pub(crate) const LOCK_FOUND_GRANT: &str =
    "SELECT 1 FROM governance_build_authorization WHERE auth_code = $1 FOR KEY SHARE";

pub(crate) const WRITER_MARKER: &str =
    "set_config('dot.canonical_writer', 'dot-authorize-build-step', true)";

/// Serializes handlers per APR without any table privilege. Sent with
/// BEGIN, so the APR code is quoted here (see `literal`).
pub(crate) fn lock_apr(apr_code: &str) -> String {
    format!(
        "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('dot-authorize-build-step:apr:' || {}, 0::bigint));",
        literal(apr_code)
    )
}

/// A string as an SQL literal, whatever the server's
/// standard_conforming_strings: an escape string constant (E'…') in which
/// backslash and quote are doubled, the only two characters it treats
/// specially. The command line refuses NUL and control characters before
/// any value gets here.
pub(crate) fn literal(s: &str) -> String {
    format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// A grant's columns as the decisions read them, from alias `g`. Whatever
/// a forged row holds must read (SPEC §9, invariant 9): `scope` as text
/// (parsed by `jsonb::read`), timestamps clamped into chrono's range
/// (±infinity would not decode; a clamped one fails the TTL check), and an
/// action set with a NULL element or more than one dimension as no action
/// set at all (it is then generic, and no signature covers it).
pub(crate) const GRANT_COLUMNS: &str = "g.auth_code AS auth_code, g.request_ref AS request_ref, g.status AS status, \
     g.carrier AS carrier, g.lane AS lane, g.target AS target, g.plan_ref AS plan_ref, \
     g.manifest_hash AS manifest_hash, g.protocol_version AS protocol_version, \
     CASE WHEN pg_catalog.array_ndims(g.action_set) IS DISTINCT FROM 1 THEN NULL \
          WHEN pg_catalog.array_position(g.action_set, NULL) IS NOT NULL THEN NULL \
          ELSE g.action_set END AS action_set, \
     g.scope::text AS scope, g.apr_digest AS apr_digest, g.single_use AS single_use, \
     g.commit_allowed AS commit_allowed, g.requires_sovereign_esign AS requires_sovereign_esign, \
     LEAST(GREATEST(g.granted_at, '0001-01-01Z'), '9999-12-31Z') AS granted_at, \
     LEAST(GREATEST(g.expires_at, '0001-01-01Z'), '9999-12-31Z') AS expires_at, \
     g.granted_by AS granted_by, g.rollback_plan_ref AS rollback_plan_ref, g.consumed_at AS consumed_at, \
     g.consumed_by AS consumed_by, g.consume_request_id AS consume_request_id, \
     g.signature AS signature, g.key_id AS key_id, g.quorum::text AS grant_quorum, \
     g.evidence_head AS evidence_head";

/// The APR (alias `a`; its payload as text, parsed by `jsonb::read`: serde
/// refuses what jsonb stores, and no stored payload may make the handler
/// ERROR, SPEC §9 invariant 9), the handler row (alias `h`), the votes as
/// JSON text, quorum_passed() and the wall clock, for the APR `code`.
pub(crate) fn decision_columns(code: &str, quorum_fn: &str) -> String {
    format!(
        "a.apr_code AS apr_code, a.action_code AS apr_action_code, a.status AS apr_status, \
         a.proposed_by AS apr_proposed_by, a.proposed_action::text AS apr_payload, \
         h.action_code IS NOT NULL AS handler_exists, h.handler_ref AS handler_ref, \
         h.status AS handler_status, h.min_approvals AS handler_min_approvals, \
         (SELECT COALESCE(pg_catalog.json_agg(pg_catalog.json_build_array(v.approver, v.decision, v.payload_digest, v.signature)), '[]')::text \
            FROM apr_approvals v WHERE v.apr_code = {code}) AS votes, \
         COALESCE({quorum_fn}({code}), false) AS quorum, \
         clock_timestamp() AS now"
    )
}

/// Everything `execute` decides on, in one statement (read after the APR
/// lock, so it sees what the previous holder committed).
///
/// With `lock_scope` (a real run) the same statement also takes the scope
/// lock, keyed on the payload's own carrier, target and plan_ref (a payload
/// that validates has exactly these strings; one that does not is refused
/// anyway, and a NULL key locks nothing), then reads the wall clock behind
/// that lock (the subquery is a fence): that reading is granted_at (SPEC
/// §9, invariant 8). The check for another APR's active grant is not made
/// here but in the insert, whose snapshot is taken after the lock.
pub(crate) fn select_for_execute(lock_scope: bool, quorum_fn: &str) -> String {
    let scope = if lock_scope {
        "LEFT JOIN LATERAL (SELECT clock_timestamp() AS at FROM \
            (SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('dot-authorize-build-step:scope:' \
                || (a.proposed_action ->> 'carrier') || ':' || (a.proposed_action ->> 'target') \
                || ':' || (a.proposed_action ->> 'plan_ref'), 0::bigint)) OFFSET 0) l0) l ON true"
    } else {
        "LEFT JOIN LATERAL (SELECT NULL::timestamptz AS at) l ON true"
    };
    format!(
        "SELECT {}, \
           (SELECT pg_catalog.array_agg(action_code ORDER BY action_code) FROM apr_action_types \
             WHERE act_type = 'C1_VOCAB_OP' AND status = 'active') AS vocabulary, \
           {GRANT_COLUMNS}, l.at AS scope_locked_at \
         FROM (SELECT $1::text AS code) k \
         LEFT JOIN apr_requests a ON a.apr_code = k.code \
         LEFT JOIN apr_action_types h ON h.action_code = 'authorize_build_step' \
         LEFT JOIN governance_build_authorization g ON g.request_ref = k.code \
         {scope}",
        decision_columns("k.code", quorum_fn)
    )
}

/// Everything `consume` decides on, for one auth code; with `lock`, the
/// grant's row is locked (the compare-and-swap after it then runs without
/// a wait, so its clock is the write's) and the writer marker is set.
pub(crate) fn select_for_consume(lock: bool, quorum_fn: &str) -> String {
    format!(
        "SELECT {GRANT_COLUMNS}, {}{} \
         FROM governance_build_authorization g \
         LEFT JOIN apr_requests a ON a.apr_code = g.request_ref \
         LEFT JOIN apr_action_types h ON h.action_code = 'authorize_build_step' \
         WHERE g.auth_code = $1{}",
        decision_columns("g.request_ref", quorum_fn),
        if lock {
            format!(", {WRITER_MARKER} AS marker")
        } else {
            String::new()
        },
        if lock { " FOR NO KEY UPDATE OF g" } else { "" }
    )
}

/// Other APRs' active, unexpired grants for the same scope (the partial
/// index gba_active_scope_idx answers it), as the decisions read them: the
/// policy ignores those no trusted key signed.
pub(crate) fn other_active_grants() -> String {
    format!(
        "SELECT {GRANT_COLUMNS} FROM governance_build_authorization g WHERE {} ORDER BY g.auth_code",
        active_in_scope("g", ["$1", "$2", "$3", "$4"])
    )
}

/// Another APR's active, unexpired grant for the same scope, on alias `a`:
/// the parameters are the scope's carrier, target and plan_ref, and the
/// APR minting. One definition for the dry run's read
/// (`other_active_grants`) and the mint's guard (`insert_grant`).
fn active_in_scope(a: &str, [carrier, target, plan_ref, apr]: [&str; 4]) -> String {
    format!(
        "{a}.status = 'active' AND {a}.expires_at > clock_timestamp() \
         AND {a}.carrier = {carrier} AND {a}.target = {target} AND {a}.plan_ref = {plan_ref} \
         AND {a}.request_ref <> {apr}"
    )
}

/// The mint: the marker, then the row, only if no other APR holds an
/// active grant for the scope (checked again here, under the scope lock;
/// the rows in $20 are forged ones the policy found, which never block)
/// and none exists for this APR. The timestamps are the signed ones.
pub(crate) fn insert_grant() -> String {
    format!(
        "INSERT INTO governance_build_authorization \
     (auth_code, request_ref, status, carrier, lane, target, plan_ref, manifest_hash, protocol_version, \
      action_set, scope, apr_digest, single_use, commit_allowed, requires_sovereign_esign, \
      granted_at, expires_at, granted_by, rollback_plan_ref, signature, key_id, quorum, evidence_head) \
     SELECT $1, $2, 'active', $3, $4, $5, $6, $7, $8, $9, $10, $11, true, false, false, \
            $12, $13, $14, $15, $16, $17, $18, $19 \
       FROM (SELECT {WRITER_MARKER} OFFSET 0) m \
      WHERE NOT EXISTS (SELECT 1 FROM governance_build_authorization o \
                         WHERE {} AND o.auth_code <> ALL($20)) \
     ON CONFLICT (request_ref) DO NOTHING \
     RETURNING expires_at",
        active_in_scope("o", ["$3", "$5", "$6", "$2"])
    )
}

/// The consume compare-and-swap: every condition the policy checked that
/// can change under it, again, in the one statement that changes the row.
/// Expiry is compared with, and consumed_at stamped from, the wall clock
/// when the row is written; the row lock is already held, so there is no
/// wait in between (SPEC §9, invariant 8).
pub(crate) fn consume_grant(quorum_fn: &str) -> String {
    format!(
        "UPDATE governance_build_authorization g \
         SET status = 'consumed', consumed_at = clock_timestamp(), consumed_by = $2, consume_request_id = $10 \
         WHERE g.auth_code = $1 AND g.status = 'active' AND g.expires_at > clock_timestamp() \
           AND g.carrier = $3 AND g.lane = $4 AND g.target = $5 AND g.plan_ref = $6 AND g.manifest_hash = $7 \
           AND g.apr_digest = $8 \
           AND EXISTS (SELECT 1 FROM apr_requests a WHERE a.apr_code = g.request_ref \
                       AND a.status IN ('approved', 'applied') AND a.proposed_action::text = $9) \
           AND {quorum_fn}(g.request_ref) \
         RETURNING consumed_at"
    )
}
pub(crate) const REVOKE_GRANT: &str = "UPDATE governance_build_authorization \
     SET status = 'revoked', revoked_at = clock_timestamp(), revoked_by = $2, revoke_reason = $3 \
     WHERE auth_code = $1 AND status = 'active' RETURNING revoked_at";

/// Every active row a bulk selector could pick ($1 a plan, $2 a key id;
/// neither: every active row, for `--forged`), as the decisions read them;
/// with `lock`, locked and with the writer marker set. An active row past
/// its expiry is still active and is retired too.
pub(crate) fn select_for_bulk_revoke(lock: bool) -> String {
    format!(
        "SELECT {GRANT_COLUMNS}{} FROM governance_build_authorization g \
          WHERE g.status = 'active' AND ($1::text IS NULL OR g.plan_ref = $1) \
            AND ($2::text IS NULL OR g.key_id = $2) \
          ORDER BY g.auth_code{}",
        if lock {
            format!(", {WRITER_MARKER} AS marker")
        } else {
            String::new()
        },
        if lock { " FOR NO KEY UPDATE OF g" } else { "" }
    )
}

/// The bulk revoke: every grant of the set at once, each only if still active.
pub(crate) const REVOKE_GRANTS: &str = "UPDATE governance_build_authorization \
     SET status = 'revoked', revoked_at = clock_timestamp(), revoked_by = $2, revoke_reason = $3 \
     WHERE auth_code = ANY($1) AND status = 'active' RETURNING auth_code, revoked_at";

pub(crate) const REVOCATION_COLUMNS: &str =
    "g.revoked_at AS revoked_at, g.revoked_by AS revoked_by, g.revoke_reason AS revoke_reason";

/// No status and no timestamps: the proposer role may not name them, so
/// every APR it writes is born `proposed` (the column default).
/// Inserted only under the login's own name (SPEC §10; the database's
/// trigger refuses any other too, but this says why, as a FAIL).
pub(crate) const INSERT_APR: &str = "INSERT INTO apr_requests \
     (apr_code, request_type, action_code, proposed_action, proposed_by, session_code) \
     SELECT $1, $2, $3, $4, $5, $6 \
      WHERE $5 = session_user::text \
         OR (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user) \
     ON CONFLICT (apr_code) DO NOTHING RETURNING apr_code";

/// `target_session_attrs=read-write|read-only`: libpq's check.
pub(crate) const SHOW_READ_ONLY: &str = "SHOW transaction_read_only";

/// `target_session_attrs=primary|standby`: libpq's check.
pub(crate) const IN_RECOVERY: &str = "SELECT pg_catalog.pg_is_in_recovery()";

/// BEGIN, the `SET LOCAL`s, the search_path, the session's facts (is it a
/// superuser's, may PUBLIC create in the schema, do commits wait for
/// synchronous standbys, is the server in recovery), a writer's
/// LIFT_SYNCHRONOUS_COMMIT, under `--durability replicated` a commit
/// flushed here, then `first`: one simple query (see `Tx::begin_then`).
pub(crate) fn begin_transaction(
    read_only: bool,
    set_local: &str,
    search_path: &str,
    schema: &str,
    replicated: bool,
    first: &str,
) -> String {
    format!(
        "BEGIN ISOLATION LEVEL READ COMMITTED{}; {} SET LOCAL search_path = {}; \
         SELECT current_setting('is_superuser'), has_schema_privilege('public', {}, 'CREATE')::text, \
         (current_setting('synchronous_standby_names') <> '' \
          AND current_setting('synchronous_commit') NOT IN ('off', 'local'))::text, \
         pg_catalog.pg_is_in_recovery()::text; {}{}{first}",
        if read_only { " READ ONLY" } else { "" },
        set_local,
        search_path,
        literal(schema),
        if read_only { "" } else { LIFT_SYNCHRONOUS_COMMIT },
        if replicated {
            "SELECT CASE WHEN current_setting('synchronous_commit') = 'off' \
             THEN set_config('synchronous_commit', 'local', true) END; "
        } else {
            ""
        },
    )
}

/// `--durability replicated`'s read, in a read-only transaction of its
/// own: how many standbys flushed WAL up to `position` (an SQL literal).
pub(crate) fn standbys_flushed(set_local: &str, function: &str, position: &str) -> String {
    format!(
        "BEGIN READ ONLY; {set_local} SELECT {function}({position}::pg_catalog.pg_lsn); ROLLBACK"
    )
}

/// The WAL position flushed here (`await_replicated`: past the commit).
pub(crate) const WAL_FLUSHED: &str = "SELECT pg_catalog.pg_current_wal_flush_lsn()::text";

/// Every grant row, as the decisions read them.
pub(crate) fn all_grants_sql() -> String {
    format!("SELECT {GRANT_COLUMNS} FROM governance_build_authorization g ORDER BY g.auth_code")
}

/// One grant by `column` (auth_code or request_ref) = $1; with `lock`, its
/// row locked and the writer marker set (revoke).
pub(crate) fn grant_by(column: &str, lock: bool) -> String {
    if lock {
        format!(
        "SELECT {GRANT_COLUMNS}, {WRITER_MARKER} AS marker FROM governance_build_authorization g \
         WHERE g.{column} = $1 FOR NO KEY UPDATE OF g"
        )
    } else {
        format!(
            "SELECT {GRANT_COLUMNS} FROM governance_build_authorization g WHERE g.{column} = $1"
        )
    }
}

/// Every grant that records an evidence anchor, oldest first.
pub(crate) fn anchored_grants_sql() -> String {
    format!(
        "SELECT {GRANT_COLUMNS} FROM governance_build_authorization g \
     WHERE g.evidence_head IS NOT NULL ORDER BY g.granted_at, g.auth_code"
    )
}

/// `review`'s read: the APR (a row even when there is none), the login, the clock.
pub(crate) const REVIEW_READ: &str =
    "SELECT a.apr_code, a.status, a.proposed_by, a.proposed_action::text, session_user::text, \
                clock_timestamp() \
           FROM (SELECT $1::text AS code) k LEFT JOIN apr_requests a ON a.apr_code = k.code";

/// `review`'s vote, only if the payload is still the one reviewed and the APR still open.
pub(crate) const INSERT_VOTE: &str =
    "INSERT INTO apr_approvals (apr_code, approver, decision, payload_digest, signature) \
         SELECT $1, $2, $3, $4, $6 WHERE EXISTS (SELECT 1 FROM apr_requests \
                WHERE apr_code = $1 AND proposed_action::text = $5 \
                  AND status IN ('proposed', 'approved')) \
         ON CONFLICT DO NOTHING RETURNING approver";

/// This identity's votes on the APR, under any spelling.
pub(crate) const VOTE_OF_IDENTITY: &str = "SELECT approver FROM apr_approvals WHERE apr_code = $1 \
               AND lower(btrim(approver, ' ') COLLATE \"C\") = lower(btrim($2, ' ') COLLATE \"C\")";

/// `aprs list`: APRs, newest first, with their votes and quorum_passed(), the total a window over the filtered rows.
pub(crate) fn list_aprs_sql(quorum_fn: &str) -> String {
    format!(
        "SELECT a.apr_code, a.action_code, a.status, a.proposed_by, a.proposed_action::text AS payload, \
                a.session_code, LEAST(GREATEST(a.created_at, '0001-01-01Z'), '9999-12-31Z') AS created_at, \
                LEAST(GREATEST(a.approved_at, '0001-01-01Z'), '9999-12-31Z') AS approved_at, \
                LEAST(GREATEST(a.applied_at, '0001-01-01Z'), '9999-12-31Z') AS applied_at, t.min_approvals, \
                (SELECT COALESCE(pg_catalog.json_agg(pg_catalog.json_build_array(v.approver, v.decision, \
                        v.payload_digest, v.signature, \
                        LEAST(GREATEST(v.decided_at, '0001-01-01Z'), '9999-12-31Z')) ORDER BY v.decided_at, v.approver), '[]')::text \
                   FROM apr_approvals v WHERE v.apr_code = a.apr_code) AS votes, \
                COALESCE({}(a.apr_code), false) AS quorum, \
                (SELECT g.auth_code FROM governance_build_authorization g WHERE g.request_ref = a.apr_code) AS grant_code, \
                clock_timestamp() AS now, pg_catalog.count(*) OVER () AS total \
           FROM apr_requests a LEFT JOIN apr_action_types t ON t.action_code = a.action_code \
          WHERE ($1::text IS NULL OR a.apr_code = $1) AND ($2::text IS NULL OR a.status = $2) \
            AND ($3::text IS NULL OR a.action_code = $3) \
            AND ($4::double precision IS NULL \
                 OR a.created_at >= clock_timestamp() - pg_catalog.make_interval(secs => $4::double precision)) \
            AND ($5::timestamptz IS NULL OR a.created_at >= $5) \
            AND (NOT $7::boolean OR a.status = 'proposed' OR (a.status = 'approved' AND NOT EXISTS \
                 (SELECT 1 FROM governance_build_authorization g WHERE g.request_ref = a.apr_code))) \
          ORDER BY a.created_at DESC, a.apr_code LIMIT $6",
        quorum_fn
    )
}

/// The login.
pub(crate) const SESSION_USER: &str = "SELECT session_user::text";

/// `propose`: the live vocabulary and the database's UTC time stamp.
pub(crate) const VOCABULARY_AND_STAMP: &str =
    "SELECT (SELECT pg_catalog.array_agg(action_code ORDER BY action_code) FROM apr_action_types \
                  WHERE act_type = 'C1_VOCAB_OP' AND status = 'active'), \
                to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD\"T\"HH24MISS\"Z\"')";

/// An APR's action code and payload as stored.
pub(crate) const APR_PAYLOAD: &str =
    "SELECT action_code, proposed_action::text FROM apr_requests WHERE apr_code = $1";

/// Whether the APR exists.
pub(crate) const APR_EXISTS: &str = "SELECT 1 FROM apr_requests WHERE apr_code = $1";

/// How many grants name the APR.
pub(crate) const GRANT_COUNT: &str =
    "SELECT pg_catalog.count(*) FROM governance_build_authorization WHERE request_ref = $1";

/// The handler row's handler_ref.
pub(crate) const HANDLER_REF_OF: &str =
    "SELECT handler_ref FROM apr_action_types WHERE action_code = 'authorize_build_step'";

/// The APR's status and applied_at.
pub(crate) const APR_APPLIED: &str =
    "SELECT status, applied_at FROM apr_requests WHERE apr_code = $1";

/// `list`: grants by the filters, in `order` (from `grant_order`'s fixed
/// list only), the total a window over the filtered rows before LIMIT.
pub(crate) fn list_grants(order: &str) -> String {
    format!(
        "SELECT {GRANT_COLUMNS}, {REVOCATION_COLUMNS}, pg_catalog.count(*) OVER () AS total \
           FROM governance_build_authorization g \
          WHERE ($1::text IS NULL OR g.status = $1) AND ($2::text IS NULL OR g.request_ref = $2) \
            AND ($3::text IS NULL OR g.plan_ref = $3) \
            AND ($4::bigint IS NULL OR (g.status = 'active' AND g.expires_at > clock_timestamp() \
                 AND g.expires_at <= clock_timestamp() + pg_catalog.make_interval(secs => $4::double precision))) \
            AND ($6::text IS NULL OR g.key_id = $6) \
            AND ($7::double precision IS NULL \
                 OR g.granted_at >= clock_timestamp() - pg_catalog.make_interval(secs => $7::double precision)) \
            AND ($8::timestamptz IS NULL OR g.granted_at >= $8) \
          ORDER BY {order} LIMIT $5"
    )
}

/// `show`: one grant by `column` = $1, who revoked it, its APR's status
/// now, and the clock.
pub(crate) fn show_grant_sql(column: &str) -> String {
    format!(
        "SELECT {GRANT_COLUMNS}, {REVOCATION_COLUMNS}, \
                a.status AS apr_status, clock_timestamp() AS now \
           FROM governance_build_authorization g LEFT JOIN apr_requests a ON a.apr_code = g.request_ref \
          WHERE g.{column} = $1"
    )
}

/// What quorum_passed() says of the APR $1 (NULL: false).
pub(crate) fn quorum_passed(quorum_fn: &str) -> String {
    format!("SELECT COALESCE({quorum_fn}($1), false)")
}
