//! The storage step-up needs, declared here as traits it owns (fosite's shape); `store` implements
//! them for SQLite and PostgreSQL. Step-up sees nothing else of the database.
//!
//! Error contract, for every method: `Err(StorageError)` means the storage could not do its work
//! (the database is down, or a stored value does not parse), and step-up fails closed (an error
//! page, never a sign-in). Outcomes a caller must tell apart are values: `Ok(None)` for "not
//! found", `Ok(false)` for "a conditional write found nothing to change" (spent, expired, already
//! done, or taken by a concurrent request).

use domain::audit::{AuditEntry, AuditLog};
use domain::message::OutgoingMessage;
use domain::{
    Acr, Amr, Client, ClientId, DenyReason, Interaction, InteractionId, LoginResult, StorageError, User, UserId,
};

use crate::policy::Reason;

/// The interaction, as step-up reads and finishes it.
#[async_trait::async_trait]
pub trait InteractionStore: Send + Sync {
    async fn interaction(&self, id: &InteractionId) -> Result<Option<Interaction>, StorageError>;

    /// Ends the interaction without a login (the client will get `access_denied`). True only for
    /// a live interaction that was neither completed nor denied.
    async fn deny_interaction(&self, id: &InteractionId, reason: DenyReason, now: i64) -> Result<bool, StorageError>;
}

/// Accounts and applications, read only.
#[async_trait::async_trait]
pub trait AccountStore: Send + Sync {
    async fn user(&self, id: &UserId) -> Result<Option<User>, StorageError>;
    async fn client(&self, id: &ClientId) -> Result<Option<Client>, StorageError>;
}

/// An authenticator app (RFC 6238): its secret sealed at rest, and the last time step accepted.
#[derive(Clone, Debug)]
pub struct TotpFactor {
    pub sealed_secret: Vec<u8>,
    pub created_at: i64,
    pub confirmed_at: Option<i64>,
    pub last_step: Option<i64>,
    /// The sign-in whose enrolment created a pending (unconfirmed) secret.
    pub interaction_id: Option<InteractionId>,
}

/// Turning a pending enrolment on: only from the sign-in that started it, with the recovery codes
/// (keyed hashes) that replace any older ones.
pub struct Confirm<'a> {
    pub interaction: &'a InteractionId,
    pub recovery_codes: Vec<Vec<u8>>,
}

/// Second factors: authenticator apps and recovery codes.
#[async_trait::async_trait]
pub trait FactorStore: Send + Sync {
    async fn totp_factor(&self, user: &UserId) -> Result<Option<TotpFactor>, StorageError>;

    /// Starts (or restarts) an enrolment for the sign-in `interaction`: a new secret, unconfirmed.
    /// False, changing nothing, when the user has a confirmed authenticator.
    async fn begin_totp(
        &self,
        user: &UserId,
        sealed_secret: Vec<u8>,
        interaction: &InteractionId,
        now: i64,
    ) -> Result<bool, StorageError>;

    /// Accepts a TOTP time step: true only if it is later than every step accepted before (RFC
    /// 6238 §5.2: a code is accepted once), atomically. With `confirm`, the pending enrolment of
    /// that sign-in becomes active and its recovery codes replace any older ones.
    async fn accept_totp_step(
        &self,
        user: &UserId,
        step: i64,
        confirm: Option<Confirm<'_>>,
        now: i64,
    ) -> Result<bool, StorageError>;

    /// Spends a recovery code of the user. True exactly once per code.
    async fn use_recovery_code(&self, user: &UserId, hash: Vec<u8>, now: i64) -> Result<bool, StorageError>;

    async fn recovery_codes_left(&self, user: &UserId) -> Result<i64, StorageError>;

    /// New recovery codes (keyed hashes) replace all the old ones, only while the user has a
    /// confirmed authenticator. False, changing nothing, otherwise.
    async fn replace_recovery_codes(&self, user: &UserId, hashes: Vec<Vec<u8>>, now: i64)
    -> Result<bool, StorageError>;
}

/// A browser (or, for the passwordless API, an application on a network) a user signed in on.
#[derive(Clone, Debug)]
pub struct Device {
    pub description: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub blocked_at: Option<i64>,
}

#[async_trait::async_trait]
pub trait DeviceStore: Send + Sync {
    /// The user's record of this device (by the keyed hash of its id), if it ever signed in there.
    async fn device(&self, user: &UserId, id_hash: Vec<u8>) -> Result<Option<Device>, StorageError>;
}

/// One sign-in that passed step-up.
#[derive(Clone, Debug)]
pub struct LoginEvent {
    pub id: String,
    pub user_id: UserId,
    pub client_id: ClientId,
    pub created_at: i64,
    pub ip: String,
    /// The /24 (IPv4) or /48 (IPv6) network of `ip`.
    pub network: String,
    /// ISO 3166-1 alpha-2, when the address could be placed.
    pub country: Option<String>,
    /// Keyed hash of the device's id.
    pub device_hash: Vec<u8>,
    /// "Firefox on Linux".
    pub device: String,
    pub amr: Vec<Amr>,
    pub acr: Acr,
    /// Why step-up asked (or did not).
    pub reasons: Vec<Reason>,
    /// Keyed hash of the token in the "This wasn't me" link, when a notification was sent.
    pub not_me_hash: Option<Vec<u8>>,
}

/// What "This wasn't me" does to the account, decided by step-up (`notify::NOT_ME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotMeConsequence {
    /// Every session of the account ends.
    EndSessions,
    /// Every grant of the account is revoked: its codes, access and refresh tokens.
    RevokeGrants,
    /// The device that signed in is blocked for the account.
    BlockDevice,
}

/// A "This wasn't me" report.
pub struct NotMeReport<'a> {
    /// Keyed hash of the link's token.
    pub link_hash: Vec<u8>,
    /// Links of sign-ins older than this no longer work.
    pub issued_after: i64,
    pub consequences: &'a [NotMeConsequence],
    pub at: i64,
}

/// What a report did.
#[derive(Clone, Debug)]
pub struct NotMeOutcome {
    pub event: LoginEvent,
    pub sessions_ended: usize,
    pub grants_revoked: usize,
}

/// Everything a sign-in that passed step-up writes, kept together or not at all.
pub struct SignInRecord<'a> {
    /// The hosted pages' interaction, completed with the sign-in's result for the authorization
    /// server (the passwordless API has none).
    pub complete: Option<(&'a InteractionId, &'a LoginResult)>,
    /// The history entry.
    pub event: &'a LoginEvent,
    /// Whether `event.device_hash` becomes known to the user (last seen now, described as
    /// `event.device`).
    pub remember_device: bool,
    /// The audit entries: the sign-in, and the decision when it was not written before.
    pub audit: Vec<AuditEntry<StepUpAudit>>,
    /// The owner's "new sign-in" email, queued with the rest.
    pub message: Option<OutgoingMessage>,
}

/// The sign-in history.
#[async_trait::async_trait]
pub trait HistoryStore: Send + Sync {
    /// A sign-in that passed step-up, all in one transaction (see [`SignInRecord`]). False, writing
    /// nothing, when the interaction to complete is no longer live, or was completed or denied.
    async fn record_sign_in(&self, record: SignInRecord<'_>, now: i64) -> Result<bool, StorageError>;

    /// The user's sign-ins, newest first, `limit` at most.
    async fn login_history(&self, user: &UserId, limit: i64) -> Result<Vec<LoginEvent>, StorageError>;

    /// The sign-in a "This wasn't me" link stands for, while the link is unused and the sign-in
    /// not older than `issued_after`.
    async fn login_event_by_not_me(&self, hash: Vec<u8>, issued_after: i64)
    -> Result<Option<LoginEvent>, StorageError>;

    /// All or nothing, in one transaction: spends the link (once, while its sign-in is younger than
    /// `issued_after`), then applies each consequence to the sign-in's account and writes the
    /// `not_me` audit entry. `None`: the link was used, too old or unknown; nothing changed.
    async fn report_not_me(&self, report: NotMeReport<'_>) -> Result<Option<NotMeOutcome>, StorageError>;
}

/// The outgoing message queue (the new-sign-in email).
#[async_trait::async_trait]
pub trait MessageStore: Send + Sync {
    async fn enqueue_message(&self, message: OutgoingMessage, now: i64) -> Result<(), StorageError>;
}

/// Everything step-up stores.
pub trait StepUpStorage:
    InteractionStore + AccountStore + FactorStore + DeviceStore + HistoryStore + MessageStore + AuditLog<StepUpAudit>
{
}

impl<T> StepUpStorage for T where
    T: InteractionStore
        + AccountStore
        + FactorStore
        + DeviceStore
        + HistoryStore
        + MessageStore
        + AuditLog<StepUpAudit>
{
}

/// Through which door a sign-in came to step-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Door {
    /// The hosted pages.
    Pages,
    /// The passwordless API's OTP grant.
    Api,
}

/// What step-up writes to the audit log.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(untagged)]
pub enum StepUpAudit {
    /// A sign-in was assessed.
    Decision {
        decision: crate::policy::Decision,
        signals: crate::policy::Signals,
        ip: std::net::IpAddr,
        country: Option<String>,
        path: Door,
    },
    /// A sign-in was refused: why, and the policy's reasons when the policy refused it.
    Denied { reason: DenyReason, reasons: Vec<crate::policy::Reason>, path: Door },
    /// A sign-in completed.
    SignedIn { acr: domain::Acr, amr: Vec<domain::Amr>, reasons: Vec<crate::policy::Reason> },
    /// A second factor was set up.
    FactorEnrolled { factor: crate::policy::Factor },
    /// The account's owner replaced their recovery codes (on the account page).
    RecoveryCodesRenewed { count: usize },
}

impl domain::audit::Audited for StepUpAudit {
    fn kind(&self) -> domain::audit::AuditKind {
        use domain::audit::AuditKind;
        match self {
            StepUpAudit::Decision { .. } => AuditKind::StepUpDecision,
            StepUpAudit::Denied { .. } => AuditKind::StepUpDenied,
            StepUpAudit::SignedIn { .. } => AuditKind::SignedIn,
            StepUpAudit::FactorEnrolled { .. } => AuditKind::FactorEnrolled,
            StepUpAudit::RecoveryCodesRenewed { .. } => AuditKind::AccountRecoveryCodesRenewed,
        }
    }
}
