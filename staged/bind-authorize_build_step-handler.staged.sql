-- staged/bind-authorize_build_step-handler.staged.sql — bind the handler
-- (seed 004 STEP 4). One transaction: change handler_ref only if it is still
-- 'unimplemented', raise (rolling everything back) unless exactly one row
-- changed, and read the new value back before committing.
BEGIN;

DO $$
DECLARE
    changed integer;
    seen    text;
BEGIN
    UPDATE apr_action_types
       SET handler_ref = 'dot-apr-execute:authorize_build_step'
     WHERE action_code = 'authorize_build_step'
       AND handler_ref = 'unimplemented';
    GET DIAGNOSTICS changed = ROW_COUNT;
    IF changed <> 1 THEN
        RAISE EXCEPTION 'bind refused: expected exactly 1 row with handler_ref = ''unimplemented'', changed %', changed;
    END IF;

    SELECT handler_ref INTO STRICT seen
      FROM apr_action_types WHERE action_code = 'authorize_build_step';
    IF seen IS DISTINCT FROM 'dot-apr-execute:authorize_build_step' THEN
        RAISE EXCEPTION 'bind readback failed: handler_ref is %', seen;
    END IF;
    RAISE NOTICE 'bound: authorize_build_step.handler_ref = %', seen;
END
$$;

COMMIT;
