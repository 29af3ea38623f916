//! The typed outcome codes of every command. `code()` strings are the public
//! contract (SPEC §4): tests and callers match them exactly. Nothing here does
//! IO or decides anything; it only names.

use std::fmt;

/// Whether a refusal is "not yet" (SKIP) or "never, as asked" (FAIL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Skip,
    Fail,
}

/// Every refusal the handler can return, execute's and consume's alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reject {
    // execute
    AprNotFound,
    AprNotApproved,
    AprTerminal,
    AprWrongAction,
    HandlerNotBound,
    QuorumNotMet,
    QuorumVetoed,
    PayloadMalformed,
    ScopeCarrier,
    ScopeTarget,
    ScopeLane,
    RealRunBlocked,
    ScopeProduction,
    ScopeSovereign,
    ManifestHash,
    ProtocolVersion,
    ActionSet,
    PlanRef,
    Ttl,
    RollbackPlanMissing,
    AprTampered,
    ActiveGrantExists,
    // consume / revoke
    AuthNotFound,
    AuthGeneric,
    AuthWrongCarrier,
    AuthWrongLane,
    AuthWrongTarget,
    AuthWrongPlan,
    AuthManifestMismatch,
    AuthActionSetMismatch,
    AuthStale,
    AuthExpired,
    AuthRevoked,
    AuthAlreadyConsumed,
    AuthNotActive,
    /// A row the handler would not have minted (SPEC §9, invariant 7).
    GrantInvalid,
    /// A row no trusted key signed: unsigned, unknown key, bad signature.
    GrantForged,
    /// `evidence verify`: the chain is broken at a line.
    EvidenceBroken,
    /// `review`: this approver already voted on this APR.
    AlreadyReviewed,
    /// `review --by` names someone other than the login running it.
    ReviewerNotSelf,
    /// `propose --by` names someone other than the login proposing.
    ProposerNotSelf,
    /// `review --approve` by the APR's own proposer.
    SelfApproval,
    /// `review`: the vote's signature would not be counted (says why).
    ApprovalSignature,
    /// `review --digest H`: H is well formed, but not the digest of the
    /// payload review read (a mistyped or stale digest, not a payload that
    /// changed between review's read and its write: that is AprTampered).
    DigestMismatch,
    /// Bulk `revoke --expect N`: the set the selector picks now is not N
    /// grants (it changed since the dry run counted it).
    BulkMismatch,
    // manifests and propose
    ManifestMissing,
    ManifestInvalid,
    ManifestNotRegular,
    ManifestTooLarge,
    ManifestProtocolVersion,
    ManifestCarrier,
    ManifestDuplicateOperation,
    ManifestExtraOperation,
    ManifestMissingOperation,
    AprExists,
    ReadbackFailed,
    HarnessFailed,
    // propose-patch / show-patch
    PatchFilePath,
    PatchMissing,
    PatchEmpty,
    PatchTooLarge,
    PatchNotUtf8,
    PatchArmMissing,
    PatchArmStale,
    PatchArmPresent,
    PatchSyntax,
    PatchDigestMismatch,
}

impl Reject {
    /// The stable string. One exhaustive match: adding a variant without a
    /// code does not compile.
    pub fn code(self) -> &'static str {
        match self {
            Reject::AprNotFound => "REJECT_APR_NOT_FOUND",
            Reject::AprNotApproved => "REJECT_APR_NOT_APPROVED",
            Reject::AprTerminal => "REJECT_APR_TERMINAL",
            Reject::AprWrongAction => "REJECT_APR_WRONG_ACTION",
            Reject::HandlerNotBound => "REJECT_HANDLER_NOT_BOUND",
            Reject::QuorumNotMet => "REJECT_QUORUM_NOT_MET",
            Reject::QuorumVetoed => "REJECT_QUORUM_VETOED",
            Reject::PayloadMalformed => "REJECT_PAYLOAD_MALFORMED",
            Reject::ScopeCarrier => "REJECT_SCOPE_CARRIER",
            Reject::ScopeTarget => "REJECT_SCOPE_TARGET",
            Reject::ScopeLane => "REJECT_SCOPE_LANE",
            Reject::RealRunBlocked => "C1_PROD_REAL_RUN_BLOCKED",
            Reject::ScopeProduction => "REJECT_SCOPE_PRODUCTION",
            Reject::ScopeSovereign => "REJECT_SCOPE_SOVEREIGN",
            Reject::ManifestHash => "REJECT_MANIFEST_HASH",
            Reject::ProtocolVersion => "REJECT_PROTOCOL_VERSION",
            Reject::ActionSet => "REJECT_ACTION_SET",
            Reject::PlanRef => "REJECT_PLAN_REF",
            Reject::Ttl => "REJECT_TTL",
            Reject::RollbackPlanMissing => "REJECT_ROLLBACK_PLAN_MISSING",
            Reject::AprTampered => "REJECT_APR_TAMPERED",
            Reject::ActiveGrantExists => "REJECT_ACTIVE_GRANT_EXISTS",
            Reject::AuthNotFound => "REJECT_AUTH_NOT_FOUND",
            Reject::AuthGeneric => "REJECT_AUTH_GENERIC",
            Reject::AuthWrongCarrier => "REJECT_AUTH_WRONG_CARRIER",
            Reject::AuthWrongLane => "REJECT_AUTH_WRONG_LANE",
            Reject::AuthWrongTarget => "REJECT_AUTH_WRONG_TARGET",
            Reject::AuthWrongPlan => "REJECT_AUTH_WRONG_PLAN",
            Reject::AuthManifestMismatch => "REJECT_AUTH_MANIFEST_MISMATCH",
            Reject::AuthActionSetMismatch => "REJECT_AUTH_ACTION_SET_MISMATCH",
            Reject::AuthStale => "REJECT_AUTH_STALE",
            Reject::AuthExpired => "REJECT_AUTH_EXPIRED",
            Reject::AuthRevoked => "REJECT_AUTH_REVOKED",
            Reject::AuthAlreadyConsumed => "REJECT_AUTH_ALREADY_CONSUMED",
            Reject::AuthNotActive => "REJECT_AUTH_NOT_ACTIVE",
            Reject::GrantInvalid => "REJECT_GRANT_INVALID",
            Reject::GrantForged => "REJECT_GRANT_FORGED",
            Reject::EvidenceBroken => "REJECT_EVIDENCE_BROKEN",
            Reject::AlreadyReviewed => "REJECT_ALREADY_REVIEWED",
            Reject::ReviewerNotSelf => "REJECT_REVIEWER_NOT_SELF",
            Reject::SelfApproval => "REJECT_SELF_APPROVAL",
            Reject::ProposerNotSelf => "REJECT_PROPOSER_NOT_SELF",
            Reject::ApprovalSignature => "REJECT_APPROVAL_SIGNATURE",
            Reject::DigestMismatch => "REJECT_DIGEST_MISMATCH",
            Reject::BulkMismatch => "REJECT_BULK_MISMATCH",
            Reject::ManifestMissing => "REJECT_MANIFEST_MISSING",
            Reject::ManifestInvalid => "REJECT_MANIFEST_INVALID",
            Reject::ManifestNotRegular => "REJECT_MANIFEST_NOT_REGULAR",
            Reject::ManifestTooLarge => "REJECT_MANIFEST_TOO_LARGE",
            Reject::ManifestProtocolVersion => "REJECT_MANIFEST_PROTOCOL_VERSION",
            Reject::ManifestCarrier => "REJECT_MANIFEST_CARRIER",
            Reject::ManifestDuplicateOperation => "REJECT_MANIFEST_DUPLICATE_OPERATION",
            Reject::ManifestExtraOperation => "REJECT_MANIFEST_EXTRA_OPERATION",
            Reject::ManifestMissingOperation => "REJECT_MANIFEST_MISSING_OPERATION",
            Reject::AprExists => "REJECT_APR_EXISTS",
            Reject::ReadbackFailed => "READBACK_FAILED",
            Reject::HarnessFailed => "HARNESS_FAILED",
            Reject::PatchFilePath => "REJECT_PATCH_FILE_PATH",
            Reject::PatchMissing => "REJECT_PATCH_MISSING",
            Reject::PatchEmpty => "REJECT_PATCH_EMPTY",
            Reject::PatchTooLarge => "REJECT_PATCH_TOO_LARGE",
            Reject::PatchNotUtf8 => "REJECT_PATCH_NOT_UTF8",
            Reject::PatchArmMissing => "REJECT_PATCH_ARM_MISSING",
            Reject::PatchArmStale => "REJECT_PATCH_ARM_STALE",
            Reject::PatchArmPresent => "REJECT_PATCH_ARM_PRESENT",
            Reject::PatchSyntax => "REJECT_PATCH_SYNTAX",
            Reject::PatchDigestMismatch => "REJECT_PATCH_DIGEST_MISMATCH",
        }
    }

    /// SKIP for "not eligible yet", FAIL for everything else (SPEC §3).
    pub fn severity(self) -> Severity {
        match self {
            Reject::AprNotApproved | Reject::QuorumNotMet => Severity::Skip,
            _ => Severity::Fail,
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why the environment, not the input, stopped a command. Always the
/// `ERROR` verdict, always with nothing written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Could not connect (refused, no such socket, no such database).
    DbUnreachable,
    /// The server refused the login: no such role, wrong password, not
    /// allowed by pg_hba.conf.
    DbAuth,
    /// A server answered but TLS as sslmode asks could not be set up: its
    /// certificate is not trusted or does not name the host, or it offers
    /// no TLS where sslmode requires it.
    DbTls,
    /// The database is not the shape the contract promises.
    SchemaContract,
    /// The canonical-writer guard refused the write.
    GuardRefused,
    /// The role lacks a privilege the command needs.
    PermissionDenied,
    /// A lock, statement or transaction timeout was hit.
    Timeout,
    /// quorum_passed() said no where the handler's stricter recount said yes.
    QuorumDrift,
    /// The row changed under us in a way a forward-only state cannot explain.
    ConcurrentChange,
    /// Any other database error.
    Database,
    /// A local file could not be read.
    Io,
    /// The connection was lost while COMMIT was under way and reading back
    /// on a new connection could not tell whether it was written.
    CommitUnknown,
    /// The signing key is missing, unreadable, loose or not trusted.
    SigningKey,
    /// The trusted public keys are missing, unreadable or loose.
    TrustedKeys,
    /// The evidence log cannot be opened, read or appended to.
    EvidenceLog,
    /// The allowed-signers file (who may sign an approval) is missing,
    /// unreadable, loose or malformed.
    AllowedSigners,
    /// The approver's own key (review's --sign-key, ssh-agent) cannot sign.
    ApproverKey,
}

impl Fault {
    pub fn code(self) -> &'static str {
        match self {
            Fault::DbUnreachable => "ERROR_DB_UNREACHABLE",
            Fault::DbAuth => "ERROR_DB_AUTH",
            Fault::DbTls => "ERROR_DB_TLS",
            Fault::SchemaContract => "ERROR_SCHEMA_CONTRACT",
            Fault::GuardRefused => "ERROR_GUARD_REFUSED",
            Fault::PermissionDenied => "ERROR_PERMISSION_DENIED",
            Fault::Timeout => "ERROR_TIMEOUT",
            Fault::QuorumDrift => "ERROR_QUORUM_DRIFT",
            Fault::ConcurrentChange => "ERROR_CONCURRENT_CHANGE",
            Fault::Database => "ERROR_DATABASE",
            Fault::Io => "ERROR_IO",
            Fault::CommitUnknown => "ERROR_COMMIT_UNKNOWN",
            Fault::SigningKey => "ERROR_SIGNING_KEY",
            Fault::TrustedKeys => "ERROR_TRUSTED_KEYS",
            Fault::EvidenceLog => "ERROR_EVIDENCE_LOG",
            Fault::AllowedSigners => "ERROR_ALLOWED_SIGNERS",
            Fault::ApproverKey => "ERROR_APPROVER_KEY",
        }
    }
}

/// The successful outcomes (SPEC §4, "OK codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Done {
    Minted,
    AlreadyMinted,
    Consumed,
    Revoked,
    AlreadyRevoked,
    Proposed,
    WouldMint,
    WouldConsume,
    WouldRevoke,
    WouldPropose,
    /// Bulk `revoke`: no active grant matches the selector.
    NothingToRevoke,
    ReadbackPassed,
    HarnessPassed,
    PatchVerified,
    Hashed,
    KeyGenerated,
    EvidenceVerified,
    Digest,
    Listed,
    Shown,
    Reviewed,
}

impl Done {
    pub fn code(self) -> &'static str {
        match self {
            Done::Minted => "MINTED",
            Done::AlreadyMinted => "ALREADY_MINTED",
            Done::Consumed => "CONSUMED",
            Done::Revoked => "REVOKED",
            Done::AlreadyRevoked => "ALREADY_REVOKED",
            Done::Proposed => "PROPOSED",
            Done::WouldMint => "WOULD_MINT",
            Done::WouldConsume => "WOULD_CONSUME",
            Done::WouldRevoke => "WOULD_REVOKE",
            Done::WouldPropose => "WOULD_PROPOSE",
            Done::NothingToRevoke => "NOTHING_TO_REVOKE",
            Done::ReadbackPassed => "READBACK_PASSED",
            Done::HarnessPassed => "HARNESS_PASSED",
            Done::PatchVerified => "PATCH_VERIFIED",
            Done::Hashed => "HASHED",
            Done::KeyGenerated => "KEY_GENERATED",
            Done::EvidenceVerified => "EVIDENCE_VERIFIED",
            Done::Digest => "DIGEST",
            Done::Listed => "LISTED",
            Done::Shown => "SHOWN",
            Done::Reviewed => "REVIEWED",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SPEC §4 pinned: every execute/consume/revoke code, spelled exactly.
    #[test]
    fn spec_codes_are_spelled_exactly() {
        let spec = [
            (Reject::AprNotFound, "REJECT_APR_NOT_FOUND"),
            (Reject::AprNotApproved, "REJECT_APR_NOT_APPROVED"),
            (Reject::AprTerminal, "REJECT_APR_TERMINAL"),
            (Reject::AprWrongAction, "REJECT_APR_WRONG_ACTION"),
            (Reject::HandlerNotBound, "REJECT_HANDLER_NOT_BOUND"),
            (Reject::QuorumNotMet, "REJECT_QUORUM_NOT_MET"),
            (Reject::QuorumVetoed, "REJECT_QUORUM_VETOED"),
            (Reject::PayloadMalformed, "REJECT_PAYLOAD_MALFORMED"),
            (Reject::ScopeCarrier, "REJECT_SCOPE_CARRIER"),
            (Reject::ScopeTarget, "REJECT_SCOPE_TARGET"),
            (Reject::ScopeLane, "REJECT_SCOPE_LANE"),
            (Reject::RealRunBlocked, "C1_PROD_REAL_RUN_BLOCKED"),
            (Reject::ScopeProduction, "REJECT_SCOPE_PRODUCTION"),
            (Reject::ScopeSovereign, "REJECT_SCOPE_SOVEREIGN"),
            (Reject::ManifestHash, "REJECT_MANIFEST_HASH"),
            (Reject::ProtocolVersion, "REJECT_PROTOCOL_VERSION"),
            (Reject::ActionSet, "REJECT_ACTION_SET"),
            (Reject::PlanRef, "REJECT_PLAN_REF"),
            (Reject::Ttl, "REJECT_TTL"),
            (Reject::RollbackPlanMissing, "REJECT_ROLLBACK_PLAN_MISSING"),
            (Reject::AprTampered, "REJECT_APR_TAMPERED"),
            (Reject::ActiveGrantExists, "REJECT_ACTIVE_GRANT_EXISTS"),
            (Reject::AuthNotFound, "REJECT_AUTH_NOT_FOUND"),
            (Reject::AuthGeneric, "REJECT_AUTH_GENERIC"),
            (Reject::AuthWrongCarrier, "REJECT_AUTH_WRONG_CARRIER"),
            (Reject::AuthWrongLane, "REJECT_AUTH_WRONG_LANE"),
            (Reject::AuthWrongTarget, "REJECT_AUTH_WRONG_TARGET"),
            (Reject::AuthWrongPlan, "REJECT_AUTH_WRONG_PLAN"),
            (
                Reject::AuthManifestMismatch,
                "REJECT_AUTH_MANIFEST_MISMATCH",
            ),
            (
                Reject::AuthActionSetMismatch,
                "REJECT_AUTH_ACTION_SET_MISMATCH",
            ),
            (Reject::AuthStale, "REJECT_AUTH_STALE"),
            (Reject::AuthExpired, "REJECT_AUTH_EXPIRED"),
            (Reject::AuthRevoked, "REJECT_AUTH_REVOKED"),
            (Reject::AuthAlreadyConsumed, "REJECT_AUTH_ALREADY_CONSUMED"),
            (Reject::AuthNotActive, "REJECT_AUTH_NOT_ACTIVE"),
            (Reject::DigestMismatch, "REJECT_DIGEST_MISMATCH"),
            (Reject::BulkMismatch, "REJECT_BULK_MISMATCH"),
        ];
        for (reject, code) in spec {
            assert_eq!(reject.code(), code);
        }
        let skips: Vec<_> = spec
            .iter()
            .filter(|(r, _)| r.severity() == Severity::Skip)
            .map(|(r, _)| r.code())
            .collect();
        assert_eq!(skips, ["REJECT_APR_NOT_APPROVED", "REJECT_QUORUM_NOT_MET"]);
    }

    #[test]
    fn ok_codes_are_spelled_exactly() {
        let got: Vec<_> = [
            Done::Minted,
            Done::AlreadyMinted,
            Done::Consumed,
            Done::Revoked,
            Done::AlreadyRevoked,
            Done::Proposed,
            Done::WouldMint,
            Done::WouldConsume,
            Done::WouldRevoke,
            Done::WouldPropose,
        ]
        .iter()
        .map(|d| d.code())
        .collect();
        assert_eq!(
            got,
            [
                "MINTED",
                "ALREADY_MINTED",
                "CONSUMED",
                "REVOKED",
                "ALREADY_REVOKED",
                "PROPOSED",
                "WOULD_MINT",
                "WOULD_CONSUME",
                "WOULD_REVOKE",
                "WOULD_PROPOSE"
            ]
        );
    }
}
