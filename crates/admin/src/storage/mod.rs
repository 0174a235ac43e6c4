//! The storage the admin API needs, implemented by `store` for both backends. Error contract, as
//! for the protocol crates: `Err(StorageError)` means the storage could not do its work and the
//! caller answers 500 (nothing is half-written: every change is one transaction); the outcomes a
//! caller must tell apart are values (`Created`, `Saved`).

use domain::audit::AuditLog;

mod account;
mod webhooks;
pub use account::{AccountStore, CodeFor, DeviceInfo, PendingCode, Restored, Undo};
pub use webhooks::{DeliveryInfo, EndpointInfo, EventInfo};

pub use crate::audit::{Actor, AdminAudit};
use domain::{Acr, Amr, Client, ClientId, EmailAddress, PhoneNumber, Profile, StorageError, User, UserId};
use serde::Serialize;

/// A page of the user list: the users whose id comes after `after`, in id order (keyset
/// pagination, stable while users are added), matching `q` when given.
#[derive(Clone, Debug, Default)]
pub struct UserQuery {
    /// An id (exact), or part of an email address or phone number (case-insensitive).
    pub q: Option<String>,
    pub limit: i64,
    pub after: Option<UserId>,
}

/// An account an admin creates: at least an email address or a phone number.
#[derive(Clone, Debug, Default)]
pub struct NewUser {
    pub email: Option<EmailAddress>,
    pub email_verified: bool,
    pub phone: Option<PhoneNumber>,
    pub phone_verified: bool,
    pub profile: Profile,
    pub is_admin: bool,
}

/// A change to an account; `None` leaves a field as it is. A new email address or phone number is
/// unverified unless `email_verified` / `phone_verified` says otherwise in the same change.
#[derive(Clone, Debug, Default)]
pub struct UserChange {
    pub profile: Option<Profile>,
    /// `Some(None)` removes the address (a phone number must then remain).
    pub email: Option<Option<EmailAddress>>,
    pub email_verified: Option<bool>,
    /// `Some(None)` removes the number (an email address must then remain).
    pub phone: Option<Option<PhoneNumber>>,
    pub phone_verified: Option<bool>,
    pub is_admin: Option<bool>,
}

/// Which unique field another account already holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Contact {
    Email,
    PhoneNumber,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Created {
    Created(Box<User>),
    Taken(Contact),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Saved {
    Saved {
        before: Box<User>,
        after: Box<User>,
    },
    /// The record moved on since the version the change was made from: nothing was written.
    Stale(Box<User>),
    NotFound,
    Taken(Contact),
    /// The change would leave the account with neither an email address nor a phone number.
    NoContact,
}

/// The audit entry of a new account, made from it.
pub type AuditCreated = Box<dyn FnOnce(&User) -> AdminAudit + Send>;
/// The audit entry of a change, made from the record before and after it.
pub type AuditChanged = Box<dyn FnOnce(&User, &User) -> AdminAudit + Send>;
/// The audit entry of a block or an unblock, made from what it ended.
pub type AuditBlocked = Box<dyn FnOnce(&Blocked) -> AdminAudit + Send>;

/// What blocking or unblocking an account did.
#[derive(Clone, Debug, PartialEq)]
pub struct Blocked {
    pub user: Box<User>,
    pub sessions_ended: usize,
    pub grants_revoked: usize,
}

#[async_trait::async_trait]
pub trait UserDirectory: Send + Sync {
    async fn find_users(&self, query: &UserQuery) -> Result<Vec<User>, StorageError>;

    async fn user(&self, id: &UserId) -> Result<Option<User>, StorageError>;

    async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StorageError>;

    async fn user_by_phone(&self, phone: &PhoneNumber) -> Result<Option<User>, StorageError>;

    /// Creates the account and writes `audit(&created)` to the audit log, in one transaction.
    async fn create_user(&self, user: NewUser, now: i64, audit: AuditCreated) -> Result<Created, StorageError>;

    /// Applies `change` when the record is still at `version` (checked in the update itself), moves
    /// it to `version + 1` and `updated_at` to `now`, and writes `audit(&before, &after)` to the
    /// audit log; all in one transaction, so no change is ever unaudited.
    async fn change_user(
        &self,
        id: &UserId,
        version: i64,
        change: UserChange,
        now: i64,
        audit: AuditChanged,
    ) -> Result<Saved, StorageError>;

    /// Blocks (`true`) or unblocks the account and moves its version on. A block also ends every
    /// session of the account and revokes every grant (codes, access and refresh tokens); all of it
    /// and the audit entry in one transaction. `None` when there is no such account.
    async fn set_blocked(
        &self,
        id: &UserId,
        blocked: bool,
        now: i64,
        audit: AuditBlocked,
    ) -> Result<Option<Blocked>, StorageError>;

    /// Erases the account (GDPR Art. 17): its sessions end, its grants are revoked, its devices,
    /// sign-in history, second factors, pending codes and queued messages are deleted, its audit
    /// entries are anonymised (who acted and what was decided stay), and the account goes; then
    /// `audit` is recorded. All in one transaction. False when there is no such account.
    async fn erase_user(&self, id: &UserId, now: i64, audit: AdminAudit) -> Result<bool, StorageError>;

    /// Links `secondary` to `primary`: signing in with the secondary's address or number then signs
    /// in as the primary. The secondary's sessions end and its grants are revoked (its `sub` stops
    /// being used), with the audit entry, in one transaction.
    async fn link_users(
        &self,
        primary: &UserId,
        secondary: &UserId,
        now: i64,
        audit: AdminAudit,
    ) -> Result<Linked, StorageError>;

    /// Undoes a link; false when `secondary` is not linked to `primary`.
    async fn unlink_users(
        &self,
        primary: &UserId,
        secondary: &UserId,
        now: i64,
        audit: AdminAudit,
    ) -> Result<bool, StorageError>;

    /// Removes the account's authenticator and recovery codes, with `audit`, in one transaction:
    /// its next sign-in that needs a second factor sets one up again. False when it had none.
    async fn reset_factors(&self, id: &UserId, now: i64, audit: AdminAudit) -> Result<bool, StorageError>;

    /// The accounts linked to `primary`.
    async fn linked_to(&self, primary: &UserId) -> Result<Vec<User>, StorageError>;
}

/// What linking two accounts ran into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Linked {
    Linked,
    /// One of the two accounts does not exist.
    NotFound,
    /// The two are the same account.
    Same,
    /// The primary is itself linked to another account, or the secondary is linked elsewhere or has
    /// accounts linked to it: links are one level deep.
    Chained,
}

/// A live session of an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionInfo {
    /// The public session id (the ID tokens' `sid` claim).
    pub sid: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub auth_time: i64,
    pub amr: Vec<Amr>,
    pub acr: Acr,
}

/// One sign-in of an account's history, with the reasons step-up gave for its decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SignInEvent {
    pub id: String,
    pub client_id: ClientId,
    pub at: i64,
    pub ip: String,
    /// ISO 3166-1 alpha-2, when the address could be placed.
    pub country: Option<String>,
    /// "Firefox on Linux".
    pub device: String,
    pub amr: Vec<Amr>,
    pub acr: Acr,
    /// Step-up's reasons, by name (`new_device`, `new_country`, …; `hook_required: …` with what the hook said).
    pub reasons: Vec<String>,
}

/// The audit entry of an ended session, made from the account it belonged to.
pub type AuditEnded = Box<dyn FnOnce(&UserId) -> AdminAudit + Send>;

#[async_trait::async_trait]
pub trait SessionDirectory: Send + Sync {
    /// The account's live sessions, newest first.
    async fn sessions_of(&self, user: &UserId, now: i64) -> Result<Vec<SessionInfo>, StorageError>;

    /// Ends the live session `sid` and revokes the grants that end with it (those without
    /// `offline_access`, as at sign-out), with its audit entry, in one transaction. The account it
    /// belonged to, or `None` when no live session has that id.
    async fn end_session(&self, sid: &str, now: i64, audit: AuditEnded) -> Result<Option<UserId>, StorageError>;

    /// The account's sign-ins, newest first, `limit` at most.
    async fn sign_ins_of(&self, user: &UserId, limit: i64) -> Result<Vec<SignInEvent>, StorageError>;
}

/// An active IP block (set after too many wrong codes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlockInfo {
    pub id: String,
    /// The address, or the IPv6 /64, that is blocked.
    pub ip: String,
    /// For every account, or for one (which one is kept only as a keyed hash).
    pub all_accounts: bool,
    pub reason: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A page of the audit log: newest first, entries older than the cursor `before`.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub kind: Option<domain::audit::AuditKind>,
    pub user: Option<UserId>,
    pub client: Option<ClientId>,
    /// Entries written by this actor: an admin API client's id, or an admin's user id.
    pub actor: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub before: Option<String>,
    pub limit: i64,
}

/// One audit entry and its id (the cursor of the next page).
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRecord {
    pub id: String,
    pub event: domain::audit::AuditEvent,
}

/// A message in the outbox, as the console shows its delivery (never its body).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MessageInfo {
    pub id: String,
    /// `email` or `sms`.
    pub channel: String,
    pub recipient: String,
    /// `queued`, `sending`, `sent` or `failed`.
    pub status: String,
    pub attempts: i32,
    /// The provider that took it, or last tried.
    pub provider: Option<String>,
    /// The provider's reason for the last failure, in its words.
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// The security views: IP blocks, deliveries, and the audit log (read only: nothing edits it).
#[async_trait::async_trait]
pub trait Oversight: Send + Sync {
    /// The newest messages of the outbox (`failing`: only those not delivered yet after a try,
    /// or given up on).
    async fn recent_messages(&self, limit: i64, failing: bool) -> Result<Vec<MessageInfo>, StorageError>;

    async fn active_blocks(&self, now: i64) -> Result<Vec<BlockInfo>, StorageError>;

    /// Lifts the active block `id` with its audit entry, in one transaction; false when there is
    /// no such active block.
    async fn lift_block(&self, id: &str, now: i64, audit: AdminAudit) -> Result<bool, StorageError>;

    async fn audit_page(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StorageError>;

    /// The configured webhook endpoints and their health.
    async fn webhook_endpoints(&self) -> Result<Vec<EndpointInfo>, StorageError>;

    /// Enables a disabled endpoint again (its waiting deliveries go out at once), with its audit
    /// entry; false when no endpoint of that name is configured.
    async fn enable_endpoint(&self, name: &str, now: i64, audit: AdminAudit) -> Result<bool, StorageError>;

    /// Events, newest first: of one type, older than the cursor `before`.
    async fn recent_events(
        &self,
        event_type: Option<domain::events::EventType>,
        before: Option<String>,
        limit: i64,
    ) -> Result<Vec<EventInfo>, StorageError>;

    /// Sends the event again, with its id, to `endpoint` (or to every configured endpoint that
    /// wants it), with its audit entry: the endpoints it will go to, or `None` when there is no
    /// such event (or it is of a type `endpoint` does not take).
    async fn replay_event(
        &self,
        id: &str,
        endpoint: Option<String>,
        now: i64,
        audit: AdminAudit,
    ) -> Result<Option<Vec<String>>, StorageError>;
}

/// What a client change ran into.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientSaved {
    Saved(Box<Client>),
    /// The record moved on since the version the change was made from: nothing was written.
    Stale(Box<Client>),
    NotFound,
}

/// The audit entry of a client change, made from the record before and after it.
pub type AuditClient = Box<dyn FnOnce(Option<&Client>, Option<&Client>) -> AdminAudit + Send>;

#[async_trait::async_trait]
pub trait ClientDirectory: Send + Sync {
    async fn client(&self, id: &ClientId) -> Result<Option<Client>, StorageError>;

    /// Every client, in creation order.
    async fn clients(&self) -> Result<Vec<Client>, StorageError>;

    /// Stores a new client with its audit entry, in one transaction.
    async fn create_client(&self, client: &Client, now: i64, audit: AuditClient) -> Result<(), StorageError>;

    /// Replaces the client's record with `client` when it is still at `version` (checked in the
    /// update), moving it to `version + 1`. When the change disables it, every grant and token of
    /// the client is revoked in the same transaction, with the audit entry.
    async fn save_client(
        &self,
        client: &Client,
        version: i64,
        now: i64,
        audit: AuditClient,
    ) -> Result<ClientSaved, StorageError>;

    /// Deletes the client and revokes its grants and tokens, with the audit entry; false when there
    /// is no such client.
    async fn delete_client(&self, id: &ClientId, now: i64, audit: AuditClient) -> Result<bool, StorageError>;
}

/// Everything the admin crate keeps.
pub trait AdminStorage:
    UserDirectory + SessionDirectory + Oversight + ClientDirectory + AccountStore + AuditLog<AdminAudit>
{
}
impl<T: UserDirectory + SessionDirectory + Oversight + ClientDirectory + AccountStore + AuditLog<AdminAudit>>
    AdminStorage for T
{
}
