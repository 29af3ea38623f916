mod common;
use common::*;

#[test]
fn an_approved_apr_is_minted_once_and_the_rerun_reports_the_same_grant() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    db.approved_apr("APR-1", &valid_payload());
    let first = db.run(&["execute", "--apr", "APR-1", "--json"]);
    first.expect(0, "OK", "MINTED");
    let again = db.run(&["execute", "--apr", "APR-1", "--json"]);
    again.expect(0, "OK", "ALREADY_MINTED");
    assert_eq!(first.json()["auth_code"], "GBA-C1-APR-1");
    assert_eq!(again.json()["auth_code"], "GBA-C1-APR-1");
    assert_eq!(db.grant_count(), 1);
}
