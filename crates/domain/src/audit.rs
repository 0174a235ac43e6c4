//! The audit log: what happened to whom, from where, and why. Every crate that decides something
//! about an account writes to it; nothing edits it.

use serde::{Deserialize, Serialize};

use crate::storage::StorageError;
use crate::{ClientId, UserId};

/// The kinds of audit entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditKind {
    /// Step-up assessed a sign-in (its decision, signals and reasons).
    #[serde(rename = "step_up.decision")]
    StepUpDecision,
    /// Step-up refused a sign-in.
    #[serde(rename = "step_up.denied")]
    StepUpDenied,
    /// A sign-in completed (its `acr`, `amr` and reasons).
    #[serde(rename = "step_up.signed_in")]
    SignedIn,
    /// A second factor was set up.
    #[serde(rename = "factor.enrolled")]
    FactorEnrolled,
    /// The account's owner said a sign-in was not theirs.
    #[serde(rename = "not_me")]
    NotMe,
    /// An IP (or IPv6 /64) was blocked after too many wrong codes.
    #[serde(rename = "ip.blocked")]
    IpBlocked,
    /// An alert for the people who run the service (a failure budget crossed, an IP blocked,
    /// texts bought and never used): what was also emailed to the owner, if one is configured.
    #[serde(rename = "alert")]
    Alert,
    /// An admin created an account.
    #[serde(rename = "admin.user_created")]
    AdminUserCreated,
    /// An admin changed an account (before and after).
    #[serde(rename = "admin.user_updated")]
    AdminUserUpdated,
    /// An admin blocked an account (and ended its sessions and grants).
    #[serde(rename = "admin.user_blocked")]
    AdminUserBlocked,
    /// An admin lifted an account's block.
    #[serde(rename = "admin.user_unblocked")]
    AdminUserUnblocked,
    /// An admin ended one session of an account.
    #[serde(rename = "admin.session_ended")]
    AdminSessionEnded,
    /// An admin erased an account: its personal data is gone, its audit entries anonymised.
    #[serde(rename = "admin.user_erased")]
    AdminUserErased,
    /// An admin lifted an IP block.
    #[serde(rename = "admin.block_lifted")]
    AdminBlockLifted,
    /// An admin created, changed, disabled or deleted a client, or rotated its secret.
    #[serde(rename = "admin.client_changed")]
    AdminClientChanged,
    /// An admin linked one account to another, or unlinked it.
    #[serde(rename = "admin.accounts_linked")]
    AdminAccountsLinked,
    /// An admin exported every user.
    #[serde(rename = "admin.users_exported")]
    AdminUsersExported,
    /// An admin removed an account's authenticator and recovery codes.
    #[serde(rename = "admin.factors_reset")]
    AdminFactorsReset,
    /// An admin enabled a webhook endpoint again, or replayed an event.
    #[serde(rename = "admin.webhooks")]
    AdminWebhooks,
    /// The account's owner changed their profile, or an address or number they proved.
    #[serde(rename = "account.updated")]
    AccountUpdated,
    /// Someone holding an account's old address or number put it back (the undo link).
    #[serde(rename = "account.contact_restored")]
    AccountContactRestored,
    /// The account's owner signed out of one session, or all of them.
    #[serde(rename = "account.signed_out")]
    AccountSignedOut,
    /// The account's owner removed their authenticator app and recovery codes.
    #[serde(rename = "account.factors_removed")]
    AccountFactorsRemoved,
    /// The account's owner replaced their recovery codes.
    #[serde(rename = "account.recovery_codes_renewed")]
    AccountRecoveryCodesRenewed,
    /// The account's owner deleted it.
    #[serde(rename = "account.deleted")]
    AccountDeleted,
    /// A passkey was registered to the account.
    #[serde(rename = "passkey.added")]
    PasskeyAdded,
    /// A passkey was removed, by the account's owner or an admin.
    #[serde(rename = "passkey.removed")]
    PasskeyRemoved,
    /// A passkey's answer was refused (its reason: a wrong origin, a counter gone back, …).
    #[serde(rename = "passkey.refused")]
    PasskeyRefused,
}

impl AuditKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::StepUpDecision => "step_up.decision",
            AuditKind::StepUpDenied => "step_up.denied",
            AuditKind::SignedIn => "step_up.signed_in",
            AuditKind::FactorEnrolled => "factor.enrolled",
            AuditKind::NotMe => "not_me",
            AuditKind::IpBlocked => "ip.blocked",
            AuditKind::Alert => "alert",
            AuditKind::AdminUserCreated => "admin.user_created",
            AuditKind::AdminUserUpdated => "admin.user_updated",
            AuditKind::AdminUserBlocked => "admin.user_blocked",
            AuditKind::AdminUserUnblocked => "admin.user_unblocked",
            AuditKind::AdminSessionEnded => "admin.session_ended",
            AuditKind::AdminUserErased => "admin.user_erased",
            AuditKind::AdminBlockLifted => "admin.block_lifted",
            AuditKind::AdminClientChanged => "admin.client_changed",
            AuditKind::AdminAccountsLinked => "admin.accounts_linked",
            AuditKind::AdminUsersExported => "admin.users_exported",
            AuditKind::AdminFactorsReset => "admin.factors_reset",
            AuditKind::AdminWebhooks => "admin.webhooks",
            AuditKind::AccountUpdated => "account.updated",
            AuditKind::AccountContactRestored => "account.contact_restored",
            AuditKind::AccountSignedOut => "account.signed_out",
            AuditKind::AccountFactorsRemoved => "account.factors_removed",
            AuditKind::AccountRecoveryCodesRenewed => "account.recovery_codes_renewed",
            AuditKind::AccountDeleted => "account.deleted",
            AuditKind::PasskeyAdded => "passkey.added",
            AuditKind::PasskeyRemoved => "passkey.removed",
            AuditKind::PasskeyRefused => "passkey.refused",
        }
    }

    pub const ALL: [AuditKind; 28] = [
        AuditKind::StepUpDecision,
        AuditKind::StepUpDenied,
        AuditKind::SignedIn,
        AuditKind::FactorEnrolled,
        AuditKind::NotMe,
        AuditKind::IpBlocked,
        AuditKind::Alert,
        AuditKind::AdminUserCreated,
        AuditKind::AdminUserUpdated,
        AuditKind::AdminUserBlocked,
        AuditKind::AdminUserUnblocked,
        AuditKind::AdminSessionEnded,
        AuditKind::AdminUserErased,
        AuditKind::AdminBlockLifted,
        AuditKind::AdminClientChanged,
        AuditKind::AdminAccountsLinked,
        AuditKind::AdminUsersExported,
        AuditKind::AdminFactorsReset,
        AuditKind::AdminWebhooks,
        AuditKind::AccountUpdated,
        AuditKind::AccountContactRestored,
        AuditKind::AccountSignedOut,
        AuditKind::AccountFactorsRemoved,
        AuditKind::AccountRecoveryCodesRenewed,
        AuditKind::AccountDeleted,
        AuditKind::PasskeyAdded,
        AuditKind::PasskeyRemoved,
        AuditKind::PasskeyRefused,
    ];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// What an audit entry records. Each crate that writes to the log has its own typed enum of what
/// it records; `store` writes its kind and its fields (as JSON, which stays inside `store`).
pub trait Audited: Serialize + Send + Sync + 'static {
    fn kind(&self) -> AuditKind;

    /// Who acted, when someone other than the account's owner did (an admin API client's id).
    fn actor(&self) -> Option<String> {
        None
    }
}

/// An entry to write: what happened, to whom, through which client, when.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry<D> {
    pub what: D,
    pub user: Option<UserId>,
    pub client: Option<ClientId>,
    pub at: i64,
}

/// Where audit entries go.
#[async_trait::async_trait]
pub trait AuditLog<D: Audited>: Send + Sync {
    async fn record(&self, entry: AuditEntry<D>) -> Result<(), StorageError>;
}

/// An entry as it is read back (by operators and tests): its kind, and what its writer recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent {
    pub kind: AuditKind,
    pub user: Option<UserId>,
    pub client: Option<ClientId>,
    pub detail: serde_json::Value,
    pub at: i64,
}
