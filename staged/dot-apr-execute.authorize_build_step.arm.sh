# shellcheck shell=bash
# staged/dot-apr-execute.authorize_build_step.arm.sh — the authorize_build_step
# dispatch arm for dot-apr-execute (seed 004 STEP 1). Source it into the
# dispatcher (or paste it in) and add one line to its case over action_code:
#
#     authorize_build_step) execute_authorize_build_step "$apr_code" ;;
#
# The dispatcher provides two functions:
#     apr_mark_applied APR_CODE        set status = 'applied', applied_at = now()
#     apr_log LEVEL APR_CODE TEXT      its log
# and sets DOT_APR_DRY_RUN=1 for a dry run (the arm then never marks anything).
#
# The arm calls the handler with --json and maps its exit status:
#     0 OK    -> applied  (the APR is marked applied only now)      returns 0
#     3 SKIP  -> skip     (left exactly as it is; try again later)  returns 3
#     4 FAIL  -> fail     (left as it is; the code says why)        returns 4
#     5 ERROR -> error    (left as it is; stop the run)             returns 5
#     anything else, or exit 0 without an OK verdict -> error       returns 5
# The dispatcher must not continue its run after a return of 5.

: "${DOT_AUTHORIZE_BUILD_STEP_BIN:=/opt/incomex/dot/bin/dot-authorize-build-step}"

execute_authorize_build_step() {
    local apr_code=$1 out rc code
    local -a args=(execute --apr "$apr_code" --json)
    if [ "${DOT_APR_DRY_RUN:-0}" = 1 ]; then
        args+=(--dry-run)
    fi
    # stdout is exactly one JSON verdict; stderr passes through to the log.
    out=$("$DOT_AUTHORIZE_BUILD_STEP_BIN" "${args[@]}") && rc=0 || rc=$?
    code=$(printf '%s' "$out" | sed -n 's/.*"code":"\([A-Za-z0-9_]*\)".*/\1/p')
    case $rc in
        0)
            if [[ $out != *'"verdict":"OK"'* ]]; then
                apr_log error "$apr_code" "authorize_build_step: exit 0 without an OK verdict; not applied: $out"
                return 5
            fi
            if [ "${DOT_APR_DRY_RUN:-0}" = 1 ]; then
                apr_log info "$apr_code" "authorize_build_step: dry run $code; nothing marked"
                return 0
            fi
            if ! apr_mark_applied "$apr_code"; then
                apr_log error "$apr_code" "authorize_build_step: $code, but marking the APR applied failed"
                return 5
            fi
            apr_log info "$apr_code" "authorize_build_step: applied ($code)"
            return 0
            ;;
        3)
            apr_log info "$apr_code" "authorize_build_step: skip $code: $out"
            return 3
            ;;
        4)
            apr_log warn "$apr_code" "authorize_build_step: fail $code: $out"
            return 4
            ;;
        5)
            apr_log error "$apr_code" "authorize_build_step: error $code: $out"
            return 5
            ;;
        *)
            apr_log error "$apr_code" "authorize_build_step: unknown exit $rc; not applied, stop the run: $out"
            return 5
            ;;
    esac
}
