-- staged/unbind-authorize_build_step-handler.staged.sql — the exact reverse
-- of the bind, with the same guards: change handler_ref back to
-- 'unimplemented' only if it is the bound value, raise unless exactly one row
-- changed, read it back inside the transaction.
BEGIN;

DO $$
DECLARE
    changed integer;
    seen    text;
BEGIN
    UPDATE apr_action_types
       SET handler_ref = 'unimplemented'
     WHERE action_code = 'authorize_build_step'
       AND handler_ref = 'dot-apr-execute:authorize_build_step';
    GET DIAGNOSTICS changed = ROW_COUNT;
    IF changed <> 1 THEN
        RAISE EXCEPTION 'unbind refused: expected exactly 1 row with handler_ref = ''dot-apr-execute:authorize_build_step'', changed %', changed;
    END IF;

    SELECT handler_ref INTO STRICT seen
      FROM apr_action_types WHERE action_code = 'authorize_build_step';
    IF seen IS DISTINCT FROM 'unimplemented' THEN
        RAISE EXCEPTION 'unbind readback failed: handler_ref is %', seen;
    END IF;
    RAISE NOTICE 'unbound: authorize_build_step.handler_ref = %', seen;
END
$$;

COMMIT;
