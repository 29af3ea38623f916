//! The staged SQL the owner applies: bind and unbind are one guarded
//! transaction each, change exactly one row, and change nothing when their
//! guard fails; the role file is idempotent.
mod common;
use common::*;
use dot_authorize_build_step::fixtures::{BIND_SQL, HANDLER_ROLE_SQL, UNBIND_SQL};

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
