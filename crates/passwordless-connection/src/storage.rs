//! The storage the passwordless connection needs, declared here as traits it owns (fosite's
//! shape); `store` implements them for SQLite and PostgreSQL. The connection sees nothing else of
//! the database, and opens interactions only through the authorization server
//! (`domain::ports::InteractionStarter`).
//!
//! Error contract, for every method: `Err(StorageError)` means the storage could not do its work
//! (the database is down, or a stored value does not parse), and the connection fails closed (a
//! 503 or an error page, never a sign-in or an unchecked message). Outcomes a caller must tell
//! apart are values: `Ok(None)` for "not found", `Ok(false)` for "a conditional write found
//! nothing to change" (spent, superseded, expired, capped, or taken by a concurrent request).

use domain::audit::AuditLog;
use domain::message::OutgoingMessage;
use domain::{
    Amr, Branding, ChallengeId, ClientId, Destination, EmailAddress, Interaction, InteractionId, LoginResult,
    MessageId, PhoneNumber, StorageError, User,
};

/// The interaction, as the login pages read and advance it.
#[async_trait::async_trait]
pub trait InteractionStore: Send + Sync {
    async fn interaction(&self, id: &InteractionId) -> Result<Option<Interaction>, StorageError>;

    /// Records what the first factor proved; step-up takes it from there. True only for the first
    /// such record of a live, unfinished interaction.
    async fn record_first_factor(
        &self,
        id: &InteractionId,
        result: &LoginResult,
        now: i64,
    ) -> Result<bool, StorageError>;

    /// Gives an API link's interaction (no browser yet) to the browser that used the link first.
    /// True only for that first browser.
    async fn bind_interaction(&self, id: &InteractionId, browser_hash: Vec<u8>, now: i64)
    -> Result<bool, StorageError>;
}

/// What a challenge proves when it is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// The first factor of a sign-in: who the user is (the login pages and the API).
    FirstFactor,
    /// Step-up's code on the other channel, to the user's own verified address or number.
    SecondFactor,
}

/// A sign-in challenge: one code and one link token, both stored only as keyed hashes.
#[derive(Clone, Debug)]
pub struct Challenge {
    pub id: ChallengeId,
    pub interaction_id: InteractionId,
    pub destination: Destination,
    pub code_hash: Vec<u8>,
    pub link_hash: Vec<u8>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub created_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    pub superseded: bool,
    /// Set when the magic link was approved on another device (cross-device sign-in).
    pub approved_at: Option<i64>,
    /// When its link was first opened on a device other than the one that asked to sign in.
    pub opened_elsewhere_at: Option<i64>,
    pub client_id: ClientId,
    /// Where the sign-in was started: an IP address and a device description.
    pub origin: String,
    pub purpose: Purpose,
}

/// A challenge to create.
pub struct NewChallenge {
    pub id: ChallengeId,
    pub interaction_id: InteractionId,
    pub destination: Destination,
    pub code_hash: Vec<u8>,
    pub link_hash: Vec<u8>,
    pub max_attempts: i32,
    pub created_at: i64,
    pub expires_at: i64,
    pub client_id: ClientId,
    pub origin: String,
    pub purpose: Purpose,
}

#[async_trait::async_trait]
pub trait ChallengeStore: Send + Sync {
    /// Creates a challenge and queues its message (if any) in one transaction: either both exist
    /// or neither. Every earlier open challenge for the same destination, or of the same sign-in,
    /// is superseded. The interaction's state is checked in the same transaction, under its row
    /// lock: a first-factor challenge only while no first factor is recorded, a second-factor one
    /// only after. False, creating nothing, when the interaction is not in that state or ended.
    async fn create_challenge(&self, new: NewChallenge, message: Option<OutgoingMessage>)
    -> Result<bool, StorageError>;

    /// The newest first-factor challenge of an interaction.
    async fn latest_challenge(&self, interaction: &InteractionId) -> Result<Option<Challenge>, StorageError>;

    /// The newest first-factor challenge a client started for a destination.
    async fn latest_challenge_for(
        &self,
        client: &ClientId,
        destination: &Destination,
    ) -> Result<Option<Challenge>, StorageError>;

    /// The newest second-factor challenge of an interaction, to `destination`.
    async fn latest_second_factor(
        &self,
        interaction: &InteractionId,
        destination: &Destination,
    ) -> Result<Option<Challenge>, StorageError>;

    /// The challenge whose link token hashes to `link_hash`.
    async fn challenge_by_link(&self, link_hash: Vec<u8>) -> Result<Option<Challenge>, StorageError>;

    /// Takes one attempt before an answer is compared, atomically. False when the challenge is
    /// spent, superseded, expired, capped or gone: nothing may be compared then.
    async fn take_attempt(&self, id: &ChallengeId, now: i64) -> Result<bool, StorageError>;

    /// The attempts a challenge has left (0 when it is gone).
    async fn challenge_attempts_left(&self, id: &ChallengeId) -> Result<i32, StorageError>;

    /// Answers a live challenge, in one transaction: for a code (whose attempt was taken), the typed
    /// code's hash is compared in constant time; a right answer spends the challenge (exactly
    /// one of concurrent callers gets `Right`) and does what `spend.sign_in` asks, in the same
    /// transaction. Under PostgreSQL the interaction to record is locked before the challenge, in
    /// `create_challenge`'s order.
    async fn spend_challenge(&self, spend: Spend) -> Result<Spent, StorageError>;

    /// Records that a live challenge's link was opened on another device (the first time only).
    async fn link_opened_elsewhere(&self, id: &ChallengeId, now: i64) -> Result<(), StorageError>;

    /// Records the approval of a magic link on another device. True for the first approval of a
    /// live challenge only.
    async fn approve_challenge(&self, id: &ChallengeId, now: i64) -> Result<bool, StorageError>;
}

/// How a challenge is answered.
#[derive(Clone, Debug)]
pub enum Answer {
    /// A typed code, as its keyed hash; its attempt was taken first ([`ChallengeStore::take_attempt`]),
    /// so an IP's failure budgets are charged only for answers within the challenge's cap.
    Code(Vec<u8>),
    /// The magic link was opened; `approved`: approved on another device, whose number took an
    /// attempt (the cap may have been reached by it).
    Link { approved: bool },
}

/// A challenge answered, and what a right answer does.
pub struct Spend {
    pub challenge: ChallengeId,
    pub answer: Answer,
    pub now: i64,
    /// For a first factor: the account of the proved address or number, found in the same
    /// transaction (and the login recorded), so that a code step commits once.
    pub sign_in: Option<SignInAs>,
}

/// What a right first-factor answer does in its transaction: the account of the challenge's
/// destination found (and marked verified), or made when `create` and none exists; with `record`,
/// the login recorded as that interaction's first factor (`LoginResult::single_factor`, with
/// `amr`) unless the account is blocked.
#[derive(Clone, Debug)]
pub struct SignInAs {
    pub create: bool,
    pub record: Option<InteractionId>,
    pub amr: Amr,
}

/// The outcome of [`ChallengeStore::spend_challenge`].
#[derive(Clone, Debug)]
pub enum Spent {
    /// Nothing was compared or spent: the challenge is spent, superseded, expired, out of attempts
    /// or gone.
    Closed,
    /// The code was wrong: the attempt stays taken; `remaining` are left.
    Wrong { remaining: i32 },
    /// The challenge is spent; with `SignInAs`, what signing in found (boxed: it carries a user).
    Right(Option<Box<SignedIn>>),
}

/// What signing in found, in a challenge's spending transaction.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub account: SignIn,
    /// The login was recorded as the interaction's first factor: false when none was asked, the
    /// account is blocked or missing, or the interaction is no longer live or has one already.
    pub recorded: bool,
}

/// What signing in with a proved address or number found or did.
#[derive(Clone, Debug)]
pub enum SignIn {
    Existing(User),
    Created(User),
    /// No account has this address or number, and sign-ups are off.
    NoAccount,
}

/// Accounts, as the first factor finds (or makes) them.
#[async_trait::async_trait]
pub trait AccountStore: Send + Sync {
    /// The account of a proved email address (marked verified), created when `create` and none
    /// exists.
    async fn sign_in_by_email(&self, email: &EmailAddress, create: bool, now: i64) -> Result<SignIn, StorageError>;

    /// The account of a proved phone number (marked verified), created when `create` and none
    /// exists.
    async fn sign_in_by_phone(&self, phone: &PhoneNumber, create: bool, now: i64) -> Result<SignIn, StorageError>;

    async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StorageError>;

    async fn user_by_phone(&self, phone: &PhoneNumber) -> Result<Option<User>, StorageError>;

    /// A client's branding, for its stylesheet.
    async fn client_branding(&self, client: &ClientId) -> Result<Option<Branding>, StorageError>;
}

/// Whom an IP block keeps out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockScope {
    /// One account, named by the keyed hash of its address or number.
    Account(String),
    /// Every account.
    AllAccounts,
}

impl BlockScope {
    /// "one account" or "all accounts", for operators.
    pub fn describe(&self) -> &'static str {
        match self {
            BlockScope::Account(_) => "one account",
            BlockScope::AllAccounts => "all accounts",
        }
    }
}

/// An IP address (or IPv6 /64) blocked after too many wrong codes.
#[derive(Clone, Debug)]
pub struct IpBlock {
    pub id: String,
    pub ip: String,
    pub scope: BlockScope,
    pub reason: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub lifted_at: Option<i64>,
}

/// A block to create.
pub struct NewBlock {
    pub ip: String,
    pub scope: BlockScope,
    pub reason: String,
    /// Keyed hash of the token in the unblock link sent to the account's owner, if one was sent.
    pub unblock_hash: Option<Vec<u8>>,
    pub created_at: i64,
    pub expires_at: i64,
}

#[async_trait::async_trait]
pub trait BlockStore: Send + Sync {
    /// Blocks an IP unless an active block for the same IP and scope exists (several nodes may
    /// cross the threshold at once). The new block's id, or `None` when one was already there.
    async fn insert_block(&self, new: NewBlock) -> Result<Option<String>, StorageError>;

    /// [`BlockStore::insert_block`], and when it blocks, `audit` (the block's entry, and its
    /// `ip.blocked` event) in the same transaction.
    async fn insert_block_audited(
        &self,
        new: NewBlock,
        audit: domain::audit::AuditEntry<ConnectionAudit>,
    ) -> Result<Option<String>, StorageError>;

    /// Whether `ip` is blocked for `account` (the keyed hash of a destination) or for every
    /// account at `now`.
    async fn is_blocked(&self, ip: &str, account: &str, now: i64) -> Result<bool, StorageError>;

    /// The active block an unblock link stands for, without lifting it.
    async fn block_by_unblock_hash(&self, hash: Vec<u8>, now: i64) -> Result<Option<IpBlock>, StorageError>;

    /// Lifts the block an unblock link stands for. True exactly once.
    async fn lift_block_by_unblock_hash(&self, hash: Vec<u8>, now: i64) -> Result<bool, StorageError>;
}

/// A message leased by the delivery worker.
#[derive(Clone, Debug)]
pub struct QueuedMessage {
    pub id: MessageId,
    pub channel: domain::Channel,
    pub recipient: String,
    pub subject: String,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    pub attempts: i32,
}

/// The outgoing message queue.
#[async_trait::async_trait]
pub trait MessageStore: Send + Sync {
    async fn enqueue_message(&self, message: OutgoingMessage, now: i64) -> Result<(), StorageError>;

    /// Leases up to `limit` due messages for `lease` seconds. A message whose lease ran out (its
    /// worker died) is due again; two workers never share one.
    async fn claim_due_messages(&self, now: i64, lease: i64, limit: i64) -> Result<Vec<QueuedMessage>, StorageError>;

    /// Moves the lease of a message still leased until `leased_until` (nobody else took it over) to
    /// `until`; false if the lease is no longer that one.
    async fn renew_message_lease(&self, id: &MessageId, leased_until: i64, until: i64) -> Result<bool, StorageError>;

    /// Records that `provider` took the message. Unless `keep_bodies` (the development outbox,
    /// which shows them), the bodies are cleared: they held a code or a link.
    async fn mark_message_sent(
        &self,
        id: &MessageId,
        provider: &str,
        now: i64,
        keep_bodies: bool,
    ) -> Result<(), StorageError>;

    /// Records a failed attempt and when to try again (`None`: never).
    async fn mark_message_failed(
        &self,
        id: &MessageId,
        reason: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StorageError>;
}

/// Everything the passwordless connection stores.
pub trait PasswordlessStorage:
    InteractionStore + ChallengeStore + AccountStore + BlockStore + MessageStore + AuditLog<ConnectionAudit>
{
}

impl<T> PasswordlessStorage for T where
    T: InteractionStore + ChallengeStore + AccountStore + BlockStore + MessageStore + AuditLog<ConnectionAudit>
{
}

/// Whom a block recorded in the audit log keeps out (never which account: that is a keyed hash).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockedFor {
    Account,
    All,
}

/// What the connection writes to the audit log.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(untagged)]
pub enum ConnectionAudit {
    /// An IP (or IPv6 /64) was blocked after too many wrong codes.
    IpBlocked { ip: String, reason: String, scope: BlockedFor },
    /// An alert for the people who run the service (also emailed to the owner, if configured).
    Alert { subject: String, text: String },
}

impl domain::audit::Audited for ConnectionAudit {
    fn kind(&self) -> domain::audit::AuditKind {
        match self {
            ConnectionAudit::IpBlocked { .. } => domain::audit::AuditKind::IpBlocked,
            ConnectionAudit::Alert { .. } => domain::audit::AuditKind::Alert,
        }
    }
}
