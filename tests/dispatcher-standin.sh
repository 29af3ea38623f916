#!/usr/bin/env bash
# tests/dispatcher-standin.sh — a minimal stand-in for dot-apr-execute, just
# enough of its shape to drive the staged authorize_build_step arm against a
# real database in the tests. Not shipped; not the real dispatcher.
#
# usage: dispatcher-standin.sh APR_CODE...
# env:   PGHOST PGUSER PGDATABASE        what the handler binary connects to
#        ADMIN_PGHOST ADMIN_PGUSER       what the dispatcher itself uses
#        DISPATCH_LOG                    the log file
#        DOT_AUTHORIZE_BUILD_STEP_BIN    the handler binary
set -euo pipefail
# --- BEGIN authorize_build_step arm (a patched dispatcher has the staged arm pasted here) ---
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=staged/dot-apr-execute.authorize_build_step.arm.sh
source "$here/../staged/dot-apr-execute.authorize_build_step.arm.sh"
# --- END authorize_build_step arm ---
: "${DISPATCH_LOG:?}" "${ADMIN_PGHOST:?}" "${ADMIN_PGUSER:?}" "${PGDATABASE:?}"

admin_psql() {
    psql -X -q -At -v ON_ERROR_STOP=1 -h "$ADMIN_PGHOST" -U "$ADMIN_PGUSER" -d "$PGDATABASE" "$@"
}

apr_log() {
    printf '%s %s %s\n' "$1" "$2" "$3" >>"$DISPATCH_LOG"
}

apr_mark_applied() {
    printf '%s\n' "UPDATE apr_requests SET status = 'applied', applied_at = now() WHERE apr_code = :'apr' AND status = 'approved';" |
        admin_psql -v apr="$1"
}

for apr_code in "$@"; do
    action=$(printf '%s\n' "SELECT action_code FROM apr_requests WHERE apr_code = :'apr';" | admin_psql -v apr="$apr_code")
    case $action in
        authorize_build_step) execute_authorize_build_step "$apr_code" && rc=0 || rc=$? ;;
        *)
            apr_log info "$apr_code" "no arm for action ${action:-<none>}"
            continue
            ;;
    esac
    case $rc in
        0 | 3 | 4) ;;
        *)
            apr_log error "$apr_code" "stopping the run"
            exit 5
            ;;
    esac
done
