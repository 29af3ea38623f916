//! The staged SQL the owner applies: bind and unbind are one guarded
//! transaction each, change exactly one row, and change nothing when their
//! guard fails; the role file is idempotent; dropping the roles is refused
//! while bound and never leaves a role half-dropped.
mod common;
use common::*;
use dot_authorize_build_step::disposable::fixtures::{
    BIND_SQL, HANDLER_ROLE_SQL, TEMPLATE_DB, UNBIND_SQL,
};
use dot_authorize_build_step::disposable::pgtemp::SUPERUSER;

fn handler_ref(db: &Db<'_>) -> String {
    db.superuser()
        .query_one(
            "SELECT handler_ref FROM apr_action_types WHERE action_code = 'authorize_build_step'",
            &[],
        )
        .unwrap()
        .get(0)
}

#[test]
fn bind_changes_exactly_the_one_row_and_unbind_restores_it() {
    let pg = Pg::start();
    let db = pg.db();
    let original = db.snapshot();
    assert_eq!(handler_ref(&db), "unimplemented");
    db.superuser().batch_execute(BIND_SQL).unwrap();
    assert_eq!(handler_ref(&db), "dot-apr-execute:authorize_build_step");
    let bound = db.snapshot();
    let changed: Vec<(&str, &str)> = original
        .lines()
        .zip(bound.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed.len(),
        1,
        "only apr_action_types changes: {changed:?}"
    );
    assert!(changed[0].0.starts_with("apr_action_types:"));
    db.superuser().batch_execute(UNBIND_SQL).unwrap();
    assert_eq!(db.snapshot(), original);
}

#[test]
fn bind_twice_fails_and_changes_nothing() {
    let pg = Pg::start();
    let db = pg.db();
    db.superuser().batch_execute(BIND_SQL).unwrap();
    let bound = db.snapshot();
    let err = db.superuser().batch_execute(BIND_SQL).unwrap_err();
    assert!(
        err.to_string().contains("bind refused") || format!("{err:?}").contains("bind refused"),
        "{err:?}"
    );
    assert_eq!(db.snapshot(), bound);
}

#[test]
fn unbind_of_an_unbound_or_foreign_value_fails_and_changes_nothing() {
    let pg = Pg::start();
    let db = pg.db();
    let original = db.snapshot();
    assert!(db.superuser().batch_execute(UNBIND_SQL).is_err());
    assert_eq!(db.snapshot(), original);
    db.sql("UPDATE apr_action_types SET handler_ref = 'someone-else:handler' WHERE action_code = 'authorize_build_step'");
    let foreign = db.snapshot();
    assert!(
        db.superuser().batch_execute(BIND_SQL).is_err(),
        "bind must not overwrite a foreign handler"
    );
    assert!(db.superuser().batch_execute(UNBIND_SQL).is_err());
    assert_eq!(db.snapshot(), foreign);
}

#[test]
fn each_staged_change_is_one_transaction() {
    for (name, sql) in [
        ("bind", BIND_SQL),
        ("unbind", UNBIND_SQL),
        ("role", HANDLER_ROLE_SQL),
        ("drop-roles", DROP_ROLES_SQL),
    ] {
        let code: String = sql
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(code.matches("BEGIN;").count(), 1, "{name}");
        assert_eq!(code.matches("COMMIT;").count(), 1, "{name}");
        assert!(
            code.trim_start().starts_with("BEGIN;") && code.trim_end().ends_with("COMMIT;"),
            "{name}"
        );
    }
}

#[test]
fn the_role_file_is_idempotent() {
    let pg = Pg::start();
    let db = pg.db();
    let before = db.snapshot();
    db.superuser().batch_execute(HANDLER_ROLE_SQL).unwrap();
    db.superuser().batch_execute(HANDLER_ROLE_SQL).unwrap();
    assert_eq!(db.snapshot(), before);
}

const DROP_ROLES_SQL: &str = include_str!("../staged/drop-roles.staged.sql");

/// The four roles that exist and what each may do to the governance tables.
fn roles_and_privileges(db: &Db<'_>) -> Vec<String> {
    db.superuser()
        .query(
            "SELECT r.rolname || ' ' || t.table_name || ' ' || \
                    array_to_string(ARRAY(SELECT p FROM unnest(ARRAY['SELECT','INSERT','UPDATE','DELETE']) p \
                        WHERE CASE WHEN p = 'DELETE' THEN has_table_privilege(r.rolname, t.table_name, p) \
                                   ELSE has_any_column_privilege(r.rolname, t.table_name, p) END), ',') \
               FROM pg_roles r \
              CROSS JOIN (VALUES ('apr_requests'), ('apr_approvals'), ('governance_build_authorization')) t(table_name) \
              WHERE r.rolname IN ('dot_authorize_build_step', 'dot_c1_build_consumer', 'dot_c1_grant_issue', 'dot_apr_reviewer') \
              ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn drop_roles_is_refused_while_bound_and_otherwise_drops_exactly_the_four_roles() {
    // Its own cluster: roles are the cluster's, and this drops them.
    let pg = Pg::own();
    let db = pg.db();
    db.sql("CREATE ROLE approver_kept LOGIN; GRANT dot_apr_reviewer TO approver_kept");
    db.bind();
    let before = db.snapshot();
    let privileges = roles_and_privileges(&db);
    assert_eq!(privileges.len(), 12, "{privileges:#?}");
    let err = db.superuser().batch_execute(DROP_ROLES_SQL).unwrap_err();
    assert!(
        err.as_db_error()
            .is_some_and(|e| e.message().contains("drop-roles refused")),
        "{err}"
    );
    assert_eq!(db.snapshot(), before);
    assert_eq!(
        roles_and_privileges(&db),
        privileges,
        "a refused drop changed roles"
    );

    db.superuser().batch_execute(UNBIND_SQL).unwrap();
    let unbound = db.snapshot();
    // The roles also hold privileges in the template database: here they
    // are revoked, and the roles kept until that database is done too.
    db.superuser().batch_execute(DROP_ROLES_SQL).unwrap();
    assert_eq!(
        roles_and_privileges(&db)
            .iter()
            .filter(|p| !p.ends_with(' '))
            .count(),
        0,
        "privileges left here: {:#?}",
        roles_and_privileges(&db)
    );
    assert_eq!(roles_and_privileges(&db).len(), 12, "the roles are kept");
    let mut template = pg.cluster.connect(SUPERUSER, TEMPLATE_DB).unwrap();
    template.batch_execute(DROP_ROLES_SQL).unwrap();
    assert!(roles_and_privileges(&db).is_empty());
    assert_eq!(db.snapshot(), unbound, "dropping roles touched the tables");
    let kept: i64 = db
        .superuser()
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname = 'approver_kept'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        kept, 1,
        "an approver's own login is not the rollback's to drop"
    );
    // Idempotent: applied again, it finds nothing to drop and succeeds.
    db.superuser().batch_execute(DROP_ROLES_SQL).unwrap();
}
