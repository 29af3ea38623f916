//! The store's old front door, kept while the layers refactor lands (issue
//! 19): every name that other folders called `crate::store::db::X` is
//! re-exported from the file that now owns it. Holds no code; new code
//! names the owning file (`store::conn`, `store::mint`, …).

pub use crate::store::aprs::{
    insert_apr, list_aprs, propose, read_apr_payload, read_for_review, record_vote, AprFilter,
    ListedAprs, Proposed, ReviewRead,
};
pub use crate::store::conn::{
    connect, connection_lost, fault, in_recovery_seen, superuser_seen, Conn, Failed,
};
pub use crate::store::durability::{await_replicated, check_durability_contract};
pub use crate::store::grants::{all_grants, anchored_grants, read_all_grants, GrantKey, Keys};
pub use crate::store::mint::{execute, Executed, Mint};
pub use crate::store::read::{
    list, readback, show_grant, Check, GrantSort, ListFilter, Listed, Shown, Since,
};
pub use crate::store::rows::{AprView, DatedVote, Revocation};
pub use crate::store::spend::{
    consume, revoke, revoke_bulk, BulkOutcome, BulkRevoked, Consumed, RevokeOutcome, Revoked,
};
