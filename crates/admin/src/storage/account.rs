//! The account page's storage: its pending codes, the undo links of replaced addresses, and the
//! owner's own sessions and devices.

use domain::{StorageError, UserId};
use serde::Serialize;

use super::{AuditChanged, Contact, Saved, UserChange};

/// What a code of the account page is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeFor {
    /// A new email address, proved before it replaces the old one.
    Email,
    /// A new phone number, likewise.
    Phone,
    /// Deleting the account.
    Delete,
}

impl CodeFor {
    pub fn as_str(self) -> &'static str {
        match self {
            CodeFor::Email => "email",
            CodeFor::Phone => "phone",
            CodeFor::Delete => "delete",
        }
    }
}

/// A code the account page sent: its keyed hash, where it went, and the wrong tries so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingCode {
    pub user: UserId,
    pub purpose: CodeFor,
    /// The address or number it went to (the new one, for a change).
    pub destination: String,
    pub code_hash: Vec<u8>,
    pub failures: i32,
    pub expires_at: i64,
}

/// The undo link of an address or number the owner replaced (its token as a keyed hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undo {
    pub token_hash: Vec<u8>,
    pub user: UserId,
    pub field: Contact,
    pub old_value: String,
    pub new_value: String,
    pub expires_at: i64,
}

/// What following an undo link did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Restored {
    /// The old address or number is the account's again; every session and grant ended.
    Restored { user: UserId },
    /// Used, expired, unknown, or the account has changed that field again since.
    Gone,
    /// Another account holds the old address or number now.
    Taken,
}

/// A browser or application the user signed in on (step-up's record of it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceInfo {
    pub description: String,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
    pub blocked: bool,
}

/// The account page's storage: its codes, undo links, and the owner's own sessions.
#[async_trait::async_trait]
pub trait AccountStore: Send + Sync {
    /// Keeps `code`, replacing the user's pending code for the same purpose.
    async fn put_code(&self, code: PendingCode, now: i64) -> Result<(), StorageError>;

    async fn code(&self, user: &UserId, purpose: CodeFor) -> Result<Option<PendingCode>, StorageError>;

    /// Counts a wrong try at the pending code; the tries so far (0 when there is no code).
    async fn code_failed(&self, user: &UserId, purpose: CodeFor) -> Result<i32, StorageError>;

    async fn drop_code(&self, user: &UserId, purpose: CodeFor) -> Result<(), StorageError>;

    /// Makes a proved address or number the account's, verified, in one transaction: the change
    /// (checked against `version`, audited), the code spent, and the undo link kept.
    async fn prove_contact(
        &self,
        code: &PendingCode,
        version: i64,
        change: UserChange,
        undo: Option<Undo>,
        now: i64,
        audit: AuditChanged,
    ) -> Result<Saved, StorageError>;

    /// The live undo link of this token hash.
    async fn undo(&self, token_hash: &[u8], now: i64) -> Result<Option<Undo>, StorageError>;

    /// Follows an undo link: the old value back (verified), the link spent, every session and
    /// grant of the account ended, audited; all in one transaction.
    async fn restore_contact(
        &self,
        token_hash: &[u8],
        now: i64,
        ip: std::net::IpAddr,
    ) -> Result<Restored, StorageError>;

    /// Ends every session of the user and revokes every grant (refresh tokens), audited.
    async fn sign_out_everywhere(&self, user: &UserId, now: i64, ip: std::net::IpAddr) -> Result<(), StorageError>;

    async fn devices_of(&self, user: &UserId) -> Result<Vec<DeviceInfo>, StorageError>;
}
