# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_dot_authorize_build_step_global_optspecs
    string join \n json h/help V/version
end

function __fish_dot_authorize_build_step_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_dot_authorize_build_step_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_dot_authorize_build_step_using_subcommand
    set -l cmd (__fish_dot_authorize_build_step_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_needs_command" -l json -d 'Print exactly one JSON object (the verdict) on stdout'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_needs_command" -s h -l help -d 'Print help'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_needs_command" -s V -l version -d 'Print version'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_needs_command" -f -a "execute" -d 'Validate an approved APR, check quorum, mint exactly one grant (or report the one minted)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_needs_command" -f -a "consume" -d 'Spend a grant once: active -> consumed, only if every binding matches and it is unexpired'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_needs_command" -f -a "revoke" -d 'The owner\'s rollback: active -> revoked, with who and why; never deletes. One grant, or in bulk every active grant of a plan, of a key id, or forged (--dry-run first)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_needs_command" -f -a "readback" -d 'The seed 004 STEP 7 readback checklist for an APR, as PASS/FAIL lines'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_needs_command" -f -a "propose" -d 'Build an authorize_build_step APR from a manifest; --dry-run prints it, otherwise inserts it as proposed'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_needs_command" -f -a "list" -d 'List grants, newest first: -o table|wide|json|jsonl|yaml (--json one verdict, --jsonl a line each)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_needs_command" -f -a "show" -d 'One grant with its whole binding, its signature check and its history'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_needs_command" -f -a "aprs" -d 'APRs and their votes: `aprs list`, `aprs show --apr CODE` (read-only)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_needs_command" -f -a "review" -d 'Approve or reject an APR: shows its canonical payload and digest, and records the vote with that digest'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_needs_command" -f -a "digest" -d 'The cser-v1 digest of an APR\'s payload: what an approval must record as payload_digest'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_needs_command" -f -a "manifest" -d 'cser-v1 canonical bytes and SHA-256 of a JSON document'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_needs_command" -f -a "propose-patch" -d 'Owner STEP 1: build the patch_ops_code APR that installs the dispatch arm into dot-apr-execute'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_needs_command" -f -a "show-patch" -d 'Decode a patch_ops_code APR, verify its SHA-256, and diff it or write it out'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_needs_command" -f -a "keys" -d 'The trusted key ids, and per key how many grants it signed are active, consumed or revoked and how many rows claim it but do not verify; also key ids the grants name that are not trusted. Read-only'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_needs_command" -f -a "keygen" -d 'Make an Ed25519 key pair for signing grants: DIR/signing.key (0600) and DIR/<key id>.pub'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_needs_command" -f -a "evidence" -d 'The evidence log: verify its hash chain'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_needs_command" -f -a "harness" -d 'Prove every bad input is refused with nothing written, on a disposable PostgreSQL'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand execute" -l apr -d 'The APR code (apr_requests.apr_code)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand execute" -l db-url -d 'PostgreSQL URL or key=value string (without a password)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand execute" -l connect-timeout -d 'Give up connecting, handshake included, after this long, with its unit: 500ms, 10s, 2m (default: the URL\'s connect_timeout, else PGCONNECT_TIMEOUT, else 10s)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand execute" -l lock-timeout -d 'Give up waiting for a lock after this long, with its unit: 10s, 500ms (a bare number is refused)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand execute" -l statement-timeout -d 'Give up on any one statement after this long, with its unit: 30s, 2m' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand execute" -l schema -d 'The schema of the governance tables (else DOT_ABS_SCHEMA, else public); every transaction\'s search_path is pg_catalog, this schema, pg_temp' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand execute" -l signing-key -d 'The private key execute signs grants with (else DOT_ABS_SIGNING_KEY); mode 0600, yours' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand execute" -l trusted-keys -d 'Public keys a grant\'s signature must verify against: a file, or a directory of *.pub (else DOT_ABS_TRUSTED_KEYS)' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand execute" -l allowed-signers -d 'OpenSSH allowed_signers file: which key may sign an approval for which approver (else DOT_ABS_ALLOWED_SIGNERS); not writable by group or others' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand execute" -l evidence-log -d 'Append one hash-chained JSON line per decision to FILE (else DOT_ABS_EVIDENCE_LOG; absent: none)' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand execute" -l durability -d 'local: OK once the server\'s commit policy is met (with synchronous standbys, once they confirm); replicated[:N]: also N streaming standbys (default 1) have flushed the commit, within the statement timeout, else ERROR_COMMIT_UNKNOWN (else DOT_ABS_DURABILITY; absent: local)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand execute" -l dry-run -d 'Check everything and say what would happen; write nothing'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand execute" -l json -d 'Print exactly one JSON object (the verdict) on stdout'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand execute" -s h -l help -d 'Print help'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand consume" -l auth-code -d 'The grant to spend' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand consume" -l target -d 'The target being built; must be the grant\'s (DOT_C1_VOCAB_BUILD)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand consume" -l carrier -d 'The carrier; must be the grant\'s (C1)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand consume" -l lane -d 'The lane; must be the grant\'s (BUILD_PREP)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand consume" -l plan-ref -d 'The plan being run; must be the grant\'s' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand consume" -l mode -d 'DRY_RUN; REAL_RUN is always refused (C1_PROD_REAL_RUN_BLOCKED)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand consume" -l manifest -d 'The manifest about to be built: hash and action set computed from it' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand consume" -l manifest-hash -d 'The manifest\'s cser-v1 hash (with --action-set, instead of --manifest)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand consume" -l action-set -d 'Comma-separated operation codes; compared as a set, a duplicate is a mismatch' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand consume" -l by -d 'Who consumes (recorded in consumed_by)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand consume" -l request-id -d 'Idempotency key stored with the spend: a re-run with the same key and binding answers CONSUMED; anyone else gets ALREADY_CONSUMED. 1-128 of [A-Za-z0-9._:-]; a fresh random one when absent' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand consume" -l db-url -d 'PostgreSQL URL or key=value string (without a password)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand consume" -l connect-timeout -d 'Give up connecting, handshake included, after this long, with its unit: 500ms, 10s, 2m (default: the URL\'s connect_timeout, else PGCONNECT_TIMEOUT, else 10s)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand consume" -l lock-timeout -d 'Give up waiting for a lock after this long, with its unit: 10s, 500ms (a bare number is refused)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand consume" -l statement-timeout -d 'Give up on any one statement after this long, with its unit: 30s, 2m' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand consume" -l schema -d 'The schema of the governance tables (else DOT_ABS_SCHEMA, else public); every transaction\'s search_path is pg_catalog, this schema, pg_temp' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand consume" -l trusted-keys -d 'Public keys a grant\'s signature must verify against: a file, or a directory of *.pub (else DOT_ABS_TRUSTED_KEYS)' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand consume" -l allowed-signers -d 'OpenSSH allowed_signers file: which key may sign an approval for which approver (else DOT_ABS_ALLOWED_SIGNERS); not writable by group or others' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand consume" -l evidence-log -d 'Append one hash-chained JSON line per decision to FILE (else DOT_ABS_EVIDENCE_LOG; absent: none)' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand consume" -l durability -d 'local: OK once the server\'s commit policy is met (with synchronous standbys, once they confirm); replicated[:N]: also N streaming standbys (default 1) have flushed the commit, within the statement timeout, else ERROR_COMMIT_UNKNOWN (else DOT_ABS_DURABILITY; absent: local)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand consume" -l dry-run -d 'Check everything and say whether it would be consumed; write nothing'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand consume" -l json -d 'Print exactly one JSON object (the verdict) on stdout'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand consume" -s h -l help -d 'Print help'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand revoke" -l auth-code -d 'The grant to revoke' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand revoke" -l apr -d 'Revoke the grant minted for this APR' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand revoke" -l plan -d 'Bulk: revoke every active grant of this plan (expired ones included)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand revoke" -l key-id -d 'Bulk: revoke every active grant that names this key id, verified or not (a leaked key); 16 hex digits, as `keys` lists them' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand revoke" -l expect -d 'Bulk: the number of grants --dry-run listed; required without --dry-run, and if the set is not exactly N grants now, nothing is revoked (REJECT_BULK_MISMATCH)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand revoke" -l reason -d 'Why (recorded in revoke_reason)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand revoke" -l by -d 'Who revokes (recorded in revoked_by)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand revoke" -l db-url -d 'PostgreSQL URL or key=value string (without a password)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand revoke" -l connect-timeout -d 'Give up connecting, handshake included, after this long, with its unit: 500ms, 10s, 2m (default: the URL\'s connect_timeout, else PGCONNECT_TIMEOUT, else 10s)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand revoke" -l lock-timeout -d 'Give up waiting for a lock after this long, with its unit: 10s, 500ms (a bare number is refused)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand revoke" -l statement-timeout -d 'Give up on any one statement after this long, with its unit: 30s, 2m' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand revoke" -l schema -d 'The schema of the governance tables (else DOT_ABS_SCHEMA, else public); every transaction\'s search_path is pg_catalog, this schema, pg_temp' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand revoke" -l trusted-keys -d 'Public keys a grant\'s signature must verify against: a file, or a directory of *.pub (else DOT_ABS_TRUSTED_KEYS)' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand revoke" -l evidence-log -d 'Append one hash-chained JSON line per decision to FILE (else DOT_ABS_EVIDENCE_LOG; absent: none)' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand revoke" -l durability -d 'local: OK once the server\'s commit policy is met (with synchronous standbys, once they confirm); replicated[:N]: also N streaming standbys (default 1) have flushed the commit, within the statement timeout, else ERROR_COMMIT_UNKNOWN (else DOT_ABS_DURABILITY; absent: local)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand revoke" -l forged -d 'Bulk: revoke every active grant whose signature does not verify against the trusted keys'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand revoke" -l dry-run -d 'Check everything and say whether it would be revoked (in bulk: list every grant it would revoke, and with --expect check the count too); write nothing'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand revoke" -l json -d 'Print exactly one JSON object (the verdict) on stdout'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand revoke" -s h -l help -d 'Print help'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand readback" -l apr -d 'The APR to check' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand readback" -l db-url -d 'PostgreSQL URL or key=value string (without a password)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand readback" -l connect-timeout -d 'Give up connecting, handshake included, after this long, with its unit: 500ms, 10s, 2m (default: the URL\'s connect_timeout, else PGCONNECT_TIMEOUT, else 10s)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand readback" -l lock-timeout -d 'Give up waiting for a lock after this long, with its unit: 10s, 500ms (a bare number is refused)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand readback" -l statement-timeout -d 'Give up on any one statement after this long, with its unit: 30s, 2m' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand readback" -l schema -d 'The schema of the governance tables (else DOT_ABS_SCHEMA, else public); every transaction\'s search_path is pg_catalog, this schema, pg_temp' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand readback" -l trusted-keys -d 'Public keys a grant\'s signature must verify against: a file, or a directory of *.pub (else DOT_ABS_TRUSTED_KEYS)' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand readback" -l allowed-signers -d 'OpenSSH allowed_signers file: which key may sign an approval for which approver (else DOT_ABS_ALLOWED_SIGNERS); not writable by group or others' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand readback" -l json -d 'Print exactly one JSON object (the verdict) on stdout'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand readback" -s h -l help -d 'Print help'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose" -l manifest -d 'The cser-v1 manifest the grant will be bound to (its hash and operations)' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose" -l manifest-hash -d 'Instead of --manifest: the manifest\'s cser-v1 hash; the action set is then the live C1 vocabulary (seed 004 STEP 6), so a database must answer' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose" -l plan-ref -d 'The plan the grant is bound to (1-128 of [A-Za-z0-9._:-])' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose" -l ttl -d 'How long the grant lives once minted, with its unit: 90s, 30m, 2h (at most 24h; a bare number is refused)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose" -l rollback-plan-ref -d 'The plan that undoes the build (1-128 of [A-Za-z0-9._:-])' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose" -l by -d 'Who proposes (apr_requests.proposed_by): exactly the database login proposing' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose" -l apr -d 'The APR code; generated (APR-C1-<utc time>-<digest prefix>) when absent' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose" -l session -d 'apr_requests.session_code' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose" -l db-url -d 'PostgreSQL URL or key=value string (without a password)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose" -l connect-timeout -d 'Give up connecting, handshake included, after this long, with its unit: 500ms, 10s, 2m (default: the URL\'s connect_timeout, else PGCONNECT_TIMEOUT, else 10s)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose" -l lock-timeout -d 'Give up waiting for a lock after this long, with its unit: 10s, 500ms (a bare number is refused)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose" -l statement-timeout -d 'Give up on any one statement after this long, with its unit: 30s, 2m' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose" -l schema -d 'The schema of the governance tables (else DOT_ABS_SCHEMA, else public); every transaction\'s search_path is pg_catalog, this schema, pg_temp' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose" -l evidence-log -d 'Append one hash-chained JSON line per decision to FILE (else DOT_ABS_EVIDENCE_LOG; absent: none)' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose" -l dry-run -d 'Print the APR; write nothing (the live vocabulary is checked only if a database answers)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose" -l json -d 'Print exactly one JSON object (the verdict) on stdout'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose" -s h -l help -d 'Print help'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand list" -l status -d 'Only grants with this status as stored (an active grant past its expiry is still active)' -r -f -a "active\t''
consumed\t''
revoked\t''"
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand list" -l apr -d 'Only the grant minted for this APR' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand list" -l plan -d 'Only grants for this plan' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand list" -l expiring-within -d 'Only active grants that expire within this long from now, with its unit: 30m, 2h' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand list" -l key-id -d 'Only grants signed with this key id (as `keygen` named it)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand list" -l since -d 'Only grants minted within this long (30m, 2h, 7d) or since this time (2026-12-01T09:00:00Z, 2026-12-01), by the database\'s clock' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand list" -l limit -d 'At most this many (newest first)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand list" -l sort-by -d 'Sort by this field, ascending (ties by auth_code); default: newest first' -r -f -a "granted_at\t''
expires_at\t''
auth_code\t''
apr\t''
plan\t''
status\t''
key_id\t''"
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand list" -s o -l output -d 'table (default), wide (more columns), json (the one verdict, as --json), jsonl (one object a row, no verdict), yaml (the verdict as YAML)' -r -f -a "table\t''
wide\t''
json\t''
jsonl\t''
yaml\t''"
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand list" -l db-url -d 'PostgreSQL URL or key=value string (without a password)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand list" -l connect-timeout -d 'Give up connecting, handshake included, after this long, with its unit: 500ms, 10s, 2m (default: the URL\'s connect_timeout, else PGCONNECT_TIMEOUT, else 10s)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand list" -l lock-timeout -d 'Give up waiting for a lock after this long, with its unit: 10s, 500ms (a bare number is refused)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand list" -l statement-timeout -d 'Give up on any one statement after this long, with its unit: 30s, 2m' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand list" -l schema -d 'The schema of the governance tables (else DOT_ABS_SCHEMA, else public); every transaction\'s search_path is pg_catalog, this schema, pg_temp' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand list" -l trusted-keys -d 'Public keys a grant\'s signature must verify against: a file, or a directory of *.pub (else DOT_ABS_TRUSTED_KEYS)' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand list" -l forged -d 'Only grants whose signature does not verify against the trusted keys (needs --trusted-keys or DOT_ABS_TRUSTED_KEYS; without them ERROR_TRUSTED_KEYS)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand list" -l jsonl -d 'One JSON object per row per line, instead of the table (no verdict line): -o jsonl'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand list" -l no-headers -d 'table and wide: the rows only, no header line, no legend, no verdict line (the exit status still tells)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand list" -l json -d 'Print exactly one JSON object (the verdict) on stdout'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand list" -s h -l help -d 'Print help'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand show" -l auth-code -d 'The grant with this auth code' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand show" -l apr -d 'The grant minted for this APR' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand show" -l db-url -d 'PostgreSQL URL or key=value string (without a password)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand show" -l connect-timeout -d 'Give up connecting, handshake included, after this long, with its unit: 500ms, 10s, 2m (default: the URL\'s connect_timeout, else PGCONNECT_TIMEOUT, else 10s)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand show" -l lock-timeout -d 'Give up waiting for a lock after this long, with its unit: 10s, 500ms (a bare number is refused)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand show" -l statement-timeout -d 'Give up on any one statement after this long, with its unit: 30s, 2m' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand show" -l schema -d 'The schema of the governance tables (else DOT_ABS_SCHEMA, else public); every transaction\'s search_path is pg_catalog, this schema, pg_temp' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand show" -l trusted-keys -d 'Public keys a grant\'s signature must verify against: a file, or a directory of *.pub (else DOT_ABS_TRUSTED_KEYS)' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand show" -l allowed-signers -d 'OpenSSH allowed_signers file: which key may sign an approval for which approver (else DOT_ABS_ALLOWED_SIGNERS); not writable by group or others' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand show" -l json -d 'Print exactly one JSON object (the verdict) on stdout'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand show" -s h -l help -d 'Print help'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and not __fish_seen_subcommand_from list show help" -l json -d 'Print exactly one JSON object (the verdict) on stdout'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and not __fish_seen_subcommand_from list show help" -s h -l help -d 'Print help'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and not __fish_seen_subcommand_from list show help" -f -a "list" -d 'APRs, newest first: code, action, status, proposer, votes approve/reject, counted, age'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and not __fish_seen_subcommand_from list show help" -f -a "show" -d 'One APR: its payload digest, every vote with whether it counts and why not, and what `execute` would answer now (its dry run, read-only)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and not __fish_seen_subcommand_from list show help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from list" -l status -d 'Only APRs with this status' -r -f -a "proposed\t''
approved\t''
applied\t''
rejected\t''
withdrawn\t''
failed\t''"
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from list" -l action -d 'Only APRs of this action code (authorize_build_step, patch_ops_code, ...)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from list" -l since -d 'Only APRs created within this long (30m, 2h, 7d) or since this time (2026-12-01T09:00:00Z, 2026-12-01), by the database\'s clock' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from list" -l limit -d 'At most this many (newest first)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from list" -s o -l output -d 'table (default), wide (more columns), json (the one verdict, as --json), jsonl (one object a row, no verdict), yaml (the verdict as YAML)' -r -f -a "table\t''
wide\t''
json\t''
jsonl\t''
yaml\t''"
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from list" -l db-url -d 'PostgreSQL URL or key=value string (without a password)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from list" -l connect-timeout -d 'Give up connecting, handshake included, after this long, with its unit: 500ms, 10s, 2m (default: the URL\'s connect_timeout, else PGCONNECT_TIMEOUT, else 10s)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from list" -l lock-timeout -d 'Give up waiting for a lock after this long, with its unit: 10s, 500ms (a bare number is refused)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from list" -l statement-timeout -d 'Give up on any one statement after this long, with its unit: 30s, 2m' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from list" -l schema -d 'The schema of the governance tables (else DOT_ABS_SCHEMA, else public); every transaction\'s search_path is pg_catalog, this schema, pg_temp' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from list" -l allowed-signers -d 'OpenSSH allowed_signers file: which key may sign an approval for which approver (else DOT_ABS_ALLOWED_SIGNERS); not writable by group or others' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from list" -l pending -d 'Only APRs still waiting: proposed, or approved with no grant minted yet'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from list" -l jsonl -d 'One JSON object per row per line, instead of the table (no verdict line): -o jsonl'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from list" -l no-headers -d 'table and wide: the rows only, no header line, no legend, no verdict line (the exit status still tells)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from list" -l json -d 'Print exactly one JSON object (the verdict) on stdout'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from show" -l apr -d 'The APR to show' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from show" -l db-url -d 'PostgreSQL URL or key=value string (without a password)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from show" -l connect-timeout -d 'Give up connecting, handshake included, after this long, with its unit: 500ms, 10s, 2m (default: the URL\'s connect_timeout, else PGCONNECT_TIMEOUT, else 10s)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from show" -l lock-timeout -d 'Give up waiting for a lock after this long, with its unit: 10s, 500ms (a bare number is refused)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from show" -l statement-timeout -d 'Give up on any one statement after this long, with its unit: 30s, 2m' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from show" -l schema -d 'The schema of the governance tables (else DOT_ABS_SCHEMA, else public); every transaction\'s search_path is pg_catalog, this schema, pg_temp' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from show" -l trusted-keys -d 'Public keys a grant\'s signature must verify against: a file, or a directory of *.pub (else DOT_ABS_TRUSTED_KEYS)' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from show" -l allowed-signers -d 'OpenSSH allowed_signers file: which key may sign an approval for which approver (else DOT_ABS_ALLOWED_SIGNERS); not writable by group or others' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from show" -l json -d 'Print exactly one JSON object (the verdict) on stdout'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from help" -f -a "list" -d 'APRs, newest first: code, action, status, proposer, votes approve/reject, counted, age'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from help" -f -a "show" -d 'One APR: its payload digest, every vote with whether it counts and why not, and what `execute` would answer now (its dry run, read-only)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand aprs; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand review" -l apr -d 'The APR to vote on' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand review" -l by -d 'Who reviews: must be exactly the database login running the command (default: that login)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand review" -l digest -d 'The payload digest you reviewed (64 lowercase hex; else a usage error); refused with REJECT_DIGEST_MISMATCH if the payload\'s digest is not that one' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand review" -l reason -d 'Why you reject (1-500 printable characters; only with --reject). It is kept in the verdict and the evidence log only: apr_approvals has no column for it, and the vote\'s signature does not cover it' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand review" -l sign-key -d 'Sign the vote with this OpenSSH key (else DOT_ABS_APPROVER_KEY): a private key file (a passphrase is asked on the terminal), or a .pub file whose key ssh-agent holds' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand review" -l signature -d 'Record this signature, made elsewhere with `ssh-keygen -Y sign -n dot-apr-approval` over `digest --message`' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand review" -l db-url -d 'PostgreSQL URL or key=value string (without a password)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand review" -l connect-timeout -d 'Give up connecting, handshake included, after this long, with its unit: 500ms, 10s, 2m (default: the URL\'s connect_timeout, else PGCONNECT_TIMEOUT, else 10s)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand review" -l lock-timeout -d 'Give up waiting for a lock after this long, with its unit: 10s, 500ms (a bare number is refused)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand review" -l statement-timeout -d 'Give up on any one statement after this long, with its unit: 30s, 2m' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand review" -l schema -d 'The schema of the governance tables (else DOT_ABS_SCHEMA, else public); every transaction\'s search_path is pg_catalog, this schema, pg_temp' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand review" -l allowed-signers -d 'OpenSSH allowed_signers file: which key may sign an approval for which approver (else DOT_ABS_ALLOWED_SIGNERS); not writable by group or others' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand review" -l evidence-log -d 'Append one hash-chained JSON line per decision to FILE (else DOT_ABS_EVIDENCE_LOG; absent: none)' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand review" -l approve -d 'Record an approval'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand review" -l reject -d 'Record a rejection'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand review" -l json -d 'Print exactly one JSON object (the verdict) on stdout'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand review" -s h -l help -d 'Print help'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand digest" -l apr -d 'The APR whose payload to digest' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand digest" -l decision -d 'The decision the message records (with --message)' -r -f -a "approve\t''
reject\t''"
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand digest" -l by -d 'The approver the message names: your database login, exactly (with --message)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand digest" -l db-url -d 'PostgreSQL URL or key=value string (without a password)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand digest" -l connect-timeout -d 'Give up connecting, handshake included, after this long, with its unit: 500ms, 10s, 2m (default: the URL\'s connect_timeout, else PGCONNECT_TIMEOUT, else 10s)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand digest" -l lock-timeout -d 'Give up waiting for a lock after this long, with its unit: 10s, 500ms (a bare number is refused)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand digest" -l statement-timeout -d 'Give up on any one statement after this long, with its unit: 30s, 2m' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand digest" -l schema -d 'The schema of the governance tables (else DOT_ABS_SCHEMA, else public); every transaction\'s search_path is pg_catalog, this schema, pg_temp' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand digest" -l message -d 'Print the exact bytes an approver signs (the vote message M), for `ssh-keygen -Y sign -n dot-apr-approval`, instead of the digest'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand digest" -l json -d 'Print exactly one JSON object (the verdict) on stdout'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand digest" -s h -l help -d 'Print help'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand manifest; and not __fish_seen_subcommand_from hash canon help" -l json -d 'Print exactly one JSON object (the verdict) on stdout'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand manifest; and not __fish_seen_subcommand_from hash canon help" -s h -l help -d 'Print help'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand manifest; and not __fish_seen_subcommand_from hash canon help" -f -a "hash" -d 'Print the lowercase hex SHA-256 of the canonical bytes'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand manifest; and not __fish_seen_subcommand_from hash canon help" -f -a "canon" -d 'Print the canonical bytes (RFC 8785), no trailing newline'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand manifest; and not __fish_seen_subcommand_from hash canon help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand manifest; and __fish_seen_subcommand_from hash" -l json -d 'Print exactly one JSON object (the verdict) on stdout'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand manifest; and __fish_seen_subcommand_from hash" -s h -l help -d 'Print help'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand manifest; and __fish_seen_subcommand_from canon" -l json -d 'Print exactly one JSON object (the verdict) on stdout'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand manifest; and __fish_seen_subcommand_from canon" -s h -l help -d 'Print help'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand manifest; and __fish_seen_subcommand_from help" -f -a "hash" -d 'Print the lowercase hex SHA-256 of the canonical bytes'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand manifest; and __fish_seen_subcommand_from help" -f -a "canon" -d 'Print the canonical bytes (RFC 8785), no trailing newline'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand manifest; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose-patch" -l new-content -d 'The whole new dot-apr-execute, with the staged arm in it' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose-patch" -l file-path -d 'Where the dispatcher lives (absolute, no \'..\')' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose-patch" -l dot-code -d 'The DOT code the patch is filed under (e.g. DOT-310)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose-patch" -l session -d 'apr_requests.session_code' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose-patch" -l test-plan -d 'How the patched dispatcher is tested, for the approvers' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose-patch" -l by -d 'Who proposes (apr_requests.proposed_by): exactly the database login proposing' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose-patch" -l apr -d 'The APR code; generated when absent' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose-patch" -l db-url -d 'PostgreSQL URL or key=value string (without a password)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose-patch" -l connect-timeout -d 'Give up connecting, handshake included, after this long, with its unit: 500ms, 10s, 2m (default: the URL\'s connect_timeout, else PGCONNECT_TIMEOUT, else 10s)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose-patch" -l lock-timeout -d 'Give up waiting for a lock after this long, with its unit: 10s, 500ms (a bare number is refused)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose-patch" -l statement-timeout -d 'Give up on any one statement after this long, with its unit: 30s, 2m' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose-patch" -l schema -d 'The schema of the governance tables (else DOT_ABS_SCHEMA, else public); every transaction\'s search_path is pg_catalog, this schema, pg_temp' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose-patch" -l evidence-log -d 'Append one hash-chained JSON line per decision to FILE (else DOT_ABS_EVIDENCE_LOG; absent: none)' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose-patch" -l restore -d 'Rollback: the content is the dispatcher as it was before the arm (it must not carry the arm)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose-patch" -l dry-run -d 'Print the APR; write nothing (no database needed)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose-patch" -l json -d 'Print exactly one JSON object (the verdict) on stdout'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand propose-patch" -s h -l help -d 'Print help'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand show-patch" -l apr -d 'The patch_ops_code APR to decode' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand show-patch" -l against -d 'Print a unified diff of the current file against the new content' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand show-patch" -l out -d 'Write the verified new content to FILE (refused if FILE exists, unless --force)' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand show-patch" -l db-url -d 'PostgreSQL URL or key=value string (without a password)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand show-patch" -l connect-timeout -d 'Give up connecting, handshake included, after this long, with its unit: 500ms, 10s, 2m (default: the URL\'s connect_timeout, else PGCONNECT_TIMEOUT, else 10s)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand show-patch" -l lock-timeout -d 'Give up waiting for a lock after this long, with its unit: 10s, 500ms (a bare number is refused)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand show-patch" -l statement-timeout -d 'Give up on any one statement after this long, with its unit: 30s, 2m' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand show-patch" -l schema -d 'The schema of the governance tables (else DOT_ABS_SCHEMA, else public); every transaction\'s search_path is pg_catalog, this schema, pg_temp' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand show-patch" -l force -d 'Let --out replace an existing file'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand show-patch" -l json -d 'Print exactly one JSON object (the verdict) on stdout'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand show-patch" -s h -l help -d 'Print help'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand keys" -l db-url -d 'PostgreSQL URL or key=value string (without a password)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand keys" -l connect-timeout -d 'Give up connecting, handshake included, after this long, with its unit: 500ms, 10s, 2m (default: the URL\'s connect_timeout, else PGCONNECT_TIMEOUT, else 10s)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand keys" -l lock-timeout -d 'Give up waiting for a lock after this long, with its unit: 10s, 500ms (a bare number is refused)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand keys" -l statement-timeout -d 'Give up on any one statement after this long, with its unit: 30s, 2m' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand keys" -l schema -d 'The schema of the governance tables (else DOT_ABS_SCHEMA, else public); every transaction\'s search_path is pg_catalog, this schema, pg_temp' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand keys" -l trusted-keys -d 'Public keys a grant\'s signature must verify against: a file, or a directory of *.pub (else DOT_ABS_TRUSTED_KEYS)' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand keys" -l jsonl -d 'One JSON object per key id per line, instead of the table (no verdict line)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand keys" -l json -d 'Print exactly one JSON object (the verdict) on stdout'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand keys" -s h -l help -d 'Print help'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand keygen" -l out -d 'Directory to write the key pair into (created 0700 if missing)' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand keygen" -l json -d 'Print exactly one JSON object (the verdict) on stdout'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand keygen" -s h -l help -d 'Print help'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand evidence; and not __fish_seen_subcommand_from verify help" -l json -d 'Print exactly one JSON object (the verdict) on stdout'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand evidence; and not __fish_seen_subcommand_from verify help" -s h -l help -d 'Print help'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand evidence; and not __fish_seen_subcommand_from verify help" -f -a "verify" -d 'Walk the chain and check every line\'s signature: exit 0 with the count, or exit 4 naming the first broken line; with --db, also the grant whose anchor or MINTED line the log lacks'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand evidence; and not __fish_seen_subcommand_from verify help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand evidence; and __fish_seen_subcommand_from verify" -l db-url -d 'PostgreSQL URL or key=value string (without a password)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand evidence; and __fish_seen_subcommand_from verify" -l connect-timeout -d 'Give up connecting, handshake included, after this long, with its unit: 500ms, 10s, 2m (default: the URL\'s connect_timeout, else PGCONNECT_TIMEOUT, else 10s)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand evidence; and __fish_seen_subcommand_from verify" -l lock-timeout -d 'Give up waiting for a lock after this long, with its unit: 10s, 500ms (a bare number is refused)' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand evidence; and __fish_seen_subcommand_from verify" -l statement-timeout -d 'Give up on any one statement after this long, with its unit: 30s, 2m' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand evidence; and __fish_seen_subcommand_from verify" -l schema -d 'The schema of the governance tables (else DOT_ABS_SCHEMA, else public); every transaction\'s search_path is pg_catalog, this schema, pg_temp' -r
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand evidence; and __fish_seen_subcommand_from verify" -l trusted-keys -d 'Public keys a grant\'s signature must verify against: a file, or a directory of *.pub (else DOT_ABS_TRUSTED_KEYS)' -r -F
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand evidence; and __fish_seen_subcommand_from verify" -l db -d 'Also check the log against the grants (read-only): each grant minted with a log must find its anchor and its MINTED line in it, or the log was cut short or rewritten'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand evidence; and __fish_seen_subcommand_from verify" -l json -d 'Print exactly one JSON object (the verdict) on stdout'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand evidence; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand evidence; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Walk the chain and check every line\'s signature: exit 0 with the count, or exit 4 naming the first broken line; with --db, also the grant whose anchor or MINTED line the log lacks'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand evidence; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand harness" -l keep -d 'Leave the cluster running afterwards (marked KEPT, so no other run\'s reaper removes it) and print its socket dir, data dir, databases and how to stop it'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand harness" -l json -d 'Print exactly one JSON object (the verdict) on stdout'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand harness" -s h -l help -d 'Print help'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand help; and not __fish_seen_subcommand_from execute consume revoke readback propose list show aprs review digest manifest propose-patch show-patch keys keygen evidence harness help" -f -a "execute" -d 'Validate an approved APR, check quorum, mint exactly one grant (or report the one minted)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand help; and not __fish_seen_subcommand_from execute consume revoke readback propose list show aprs review digest manifest propose-patch show-patch keys keygen evidence harness help" -f -a "consume" -d 'Spend a grant once: active -> consumed, only if every binding matches and it is unexpired'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand help; and not __fish_seen_subcommand_from execute consume revoke readback propose list show aprs review digest manifest propose-patch show-patch keys keygen evidence harness help" -f -a "revoke" -d 'The owner\'s rollback: active -> revoked, with who and why; never deletes. One grant, or in bulk every active grant of a plan, of a key id, or forged (--dry-run first)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand help; and not __fish_seen_subcommand_from execute consume revoke readback propose list show aprs review digest manifest propose-patch show-patch keys keygen evidence harness help" -f -a "readback" -d 'The seed 004 STEP 7 readback checklist for an APR, as PASS/FAIL lines'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand help; and not __fish_seen_subcommand_from execute consume revoke readback propose list show aprs review digest manifest propose-patch show-patch keys keygen evidence harness help" -f -a "propose" -d 'Build an authorize_build_step APR from a manifest; --dry-run prints it, otherwise inserts it as proposed'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand help; and not __fish_seen_subcommand_from execute consume revoke readback propose list show aprs review digest manifest propose-patch show-patch keys keygen evidence harness help" -f -a "list" -d 'List grants, newest first: -o table|wide|json|jsonl|yaml (--json one verdict, --jsonl a line each)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand help; and not __fish_seen_subcommand_from execute consume revoke readback propose list show aprs review digest manifest propose-patch show-patch keys keygen evidence harness help" -f -a "show" -d 'One grant with its whole binding, its signature check and its history'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand help; and not __fish_seen_subcommand_from execute consume revoke readback propose list show aprs review digest manifest propose-patch show-patch keys keygen evidence harness help" -f -a "aprs" -d 'APRs and their votes: `aprs list`, `aprs show --apr CODE` (read-only)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand help; and not __fish_seen_subcommand_from execute consume revoke readback propose list show aprs review digest manifest propose-patch show-patch keys keygen evidence harness help" -f -a "review" -d 'Approve or reject an APR: shows its canonical payload and digest, and records the vote with that digest'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand help; and not __fish_seen_subcommand_from execute consume revoke readback propose list show aprs review digest manifest propose-patch show-patch keys keygen evidence harness help" -f -a "digest" -d 'The cser-v1 digest of an APR\'s payload: what an approval must record as payload_digest'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand help; and not __fish_seen_subcommand_from execute consume revoke readback propose list show aprs review digest manifest propose-patch show-patch keys keygen evidence harness help" -f -a "manifest" -d 'cser-v1 canonical bytes and SHA-256 of a JSON document'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand help; and not __fish_seen_subcommand_from execute consume revoke readback propose list show aprs review digest manifest propose-patch show-patch keys keygen evidence harness help" -f -a "propose-patch" -d 'Owner STEP 1: build the patch_ops_code APR that installs the dispatch arm into dot-apr-execute'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand help; and not __fish_seen_subcommand_from execute consume revoke readback propose list show aprs review digest manifest propose-patch show-patch keys keygen evidence harness help" -f -a "show-patch" -d 'Decode a patch_ops_code APR, verify its SHA-256, and diff it or write it out'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand help; and not __fish_seen_subcommand_from execute consume revoke readback propose list show aprs review digest manifest propose-patch show-patch keys keygen evidence harness help" -f -a "keys" -d 'The trusted key ids, and per key how many grants it signed are active, consumed or revoked and how many rows claim it but do not verify; also key ids the grants name that are not trusted. Read-only'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand help; and not __fish_seen_subcommand_from execute consume revoke readback propose list show aprs review digest manifest propose-patch show-patch keys keygen evidence harness help" -f -a "keygen" -d 'Make an Ed25519 key pair for signing grants: DIR/signing.key (0600) and DIR/<key id>.pub'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand help; and not __fish_seen_subcommand_from execute consume revoke readback propose list show aprs review digest manifest propose-patch show-patch keys keygen evidence harness help" -f -a "evidence" -d 'The evidence log: verify its hash chain'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand help; and not __fish_seen_subcommand_from execute consume revoke readback propose list show aprs review digest manifest propose-patch show-patch keys keygen evidence harness help" -f -a "harness" -d 'Prove every bad input is refused with nothing written, on a disposable PostgreSQL'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand help; and not __fish_seen_subcommand_from execute consume revoke readback propose list show aprs review digest manifest propose-patch show-patch keys keygen evidence harness help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand help; and __fish_seen_subcommand_from aprs" -f -a "list" -d 'APRs, newest first: code, action, status, proposer, votes approve/reject, counted, age'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand help; and __fish_seen_subcommand_from aprs" -f -a "show" -d 'One APR: its payload digest, every vote with whether it counts and why not, and what `execute` would answer now (its dry run, read-only)'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand help; and __fish_seen_subcommand_from manifest" -f -a "hash" -d 'Print the lowercase hex SHA-256 of the canonical bytes'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand help; and __fish_seen_subcommand_from manifest" -f -a "canon" -d 'Print the canonical bytes (RFC 8785), no trailing newline'
complete -c dot-authorize-build-step -n "__fish_dot_authorize_build_step_using_subcommand help; and __fish_seen_subcommand_from evidence" -f -a "verify" -d 'Walk the chain and check every line\'s signature: exit 0 with the count, or exit 4 naming the first broken line; with --db, also the grant whose anchor or MINTED line the log lacks'
