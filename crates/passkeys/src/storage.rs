//! What the passkey ceremonies keep: the credentials, each account's user handle, and the
//! ceremonies waiting for a browser's answer. Declared here, implemented by `store`.

use domain::audit::{AuditEntry, AuditKind, AuditLog, Audited};
use domain::{StorageError, User, UserId};
use serde::Serialize;

use crate::Refusal;

/// A registered passkey, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredPasskey {
    /// Ours: random, what pages and the API name it by.
    pub id: String,
    pub user_id: UserId,
    /// The WebAuthn credential id, as the authenticator made it (WebAuthn §6.1).
    pub credential_id: Vec<u8>,
    /// webauthn-rs's credential (public key, algorithm, counter, flags) as JSON; only this crate
    /// reads it.
    pub credential: String,
    /// The signature counter last seen (WebAuthn §6.1.1); never lowered.
    pub sign_count: u32,
    /// May be synced to the user's other devices (the BE flag, WebAuthn §6.1).
    pub backup_eligible: bool,
    /// Is synced (the BS flag), as of its last use.
    pub backed_up: bool,
    /// How the browser can reach the authenticator (`internal`, `hybrid`, `usb`, …).
    pub transports: Vec<String>,
    /// The authenticator's model (AAGUID, WebAuthn §6.5.1), when it says; none when all zero.
    pub aaguid: Option<String>,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl StoredPasskey {
    /// A synced passkey (it may live in a password manager on several devices) rather than one
    /// bound to a single device.
    pub fn synced(&self) -> bool {
        self.backup_eligible
    }
}

/// A ceremony waiting for the browser's answer: webauthn-rs's state (its challenge), bound to
/// what started it (`key`: the sign-in or the account page's ticket) and to the browser.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingCeremony {
    pub key: String,
    /// Whose passkeys the ceremony is about (enrolment, step-up); none for a usernameless sign-in.
    pub user_id: Option<UserId>,
    /// Keyed hash of the browser cookie of the browser that asked.
    pub browser_hash: Vec<u8>,
    pub state: String,
    pub expires_at: i64,
}

/// A use of a passkey: its new counter and flags.
#[derive(Clone, Debug)]
pub struct PasskeyUse {
    pub id: String,
    pub credential: String,
    pub sign_count: u32,
    pub backed_up: bool,
    pub at: i64,
}

/// What the passkey ceremonies need from storage.
#[async_trait::async_trait]
pub trait PasskeyStore: Send + Sync {
    /// The account's user handle (WebAuthn §14.6.1: random, never the address), made `fresh` the
    /// first time it is asked for.
    async fn user_handle(&self, user: &UserId, fresh: &str) -> Result<String, StorageError>;
    /// The account a user handle belongs to.
    async fn user_by_handle(&self, handle: &str) -> Result<Option<User>, StorageError>;
    /// Keeps a ceremony, replacing any other under the same key.
    async fn put_ceremony(&self, ceremony: PendingCeremony) -> Result<(), StorageError>;
    /// Takes the ceremony under `key` (it is deleted: single use); none when there is none or it
    /// has expired.
    async fn take_ceremony(&self, key: &str, now: i64) -> Result<Option<PendingCeremony>, StorageError>;
    /// An account's passkeys, oldest first.
    async fn passkeys(&self, user: &UserId) -> Result<Vec<StoredPasskey>, StorageError>;
    /// The passkey with this credential id, whoever's it is.
    async fn passkey_by_credential(&self, credential_id: &[u8]) -> Result<Option<StoredPasskey>, StorageError>;
    /// Adds a passkey and its audit entry in one transaction; false (nothing written) when the
    /// credential id is registered already.
    async fn add_passkey(&self, passkey: StoredPasskey, audit: AuditEntry<PasskeyAudit>) -> Result<bool, StorageError>;
    /// Records a use, only if it moves the counter forward (or the authenticator keeps none,
    /// counter 0): false, with nothing written, when it does not or the passkey is gone.
    async fn record_use(&self, used: PasskeyUse) -> Result<bool, StorageError>;
    /// Renames one of the account's passkeys; false when it has no such passkey.
    async fn rename_passkey(&self, user: &UserId, id: &str, name: &str) -> Result<bool, StorageError>;
    /// Removes one of the account's passkeys with its audit entry; false when it has no such passkey.
    async fn remove_passkey(
        &self,
        user: &UserId,
        id: &str,
        audit: AuditEntry<PasskeyAudit>,
    ) -> Result<bool, StorageError>;
}

/// Everything this crate keeps, and its audit entries.
pub trait PasskeyStorage: PasskeyStore + AuditLog<PasskeyAudit> {}
impl<T: PasskeyStore + AuditLog<PasskeyAudit>> PasskeyStorage for T {}

/// What the passkey ceremonies write to the audit log.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PasskeyAudit {
    /// A passkey was registered.
    Added { passkey: String, name: String, synced: bool },
    /// A passkey was removed, by its owner or (`actor`) an admin.
    Removed { passkey: String, name: String, actor: Option<String> },
    /// A ceremony's answer was refused: why, in which ceremony, and from where.
    Refused { refusal: Refusal, ceremony: &'static str, passkey: Option<String>, ip: Option<String> },
}

impl Audited for PasskeyAudit {
    fn kind(&self) -> AuditKind {
        match self {
            PasskeyAudit::Added { .. } => AuditKind::PasskeyAdded,
            PasskeyAudit::Removed { .. } => AuditKind::PasskeyRemoved,
            PasskeyAudit::Refused { .. } => AuditKind::PasskeyRefused,
        }
    }

    fn actor(&self) -> Option<String> {
        match self {
            PasskeyAudit::Removed { actor, .. } => actor.clone(),
            _ => None,
        }
    }
}
