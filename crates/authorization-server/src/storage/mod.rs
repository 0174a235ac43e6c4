//! The storage the authorization server needs, declared here as traits it owns (fosite's shape);
//! `store` implements them for SQLite and PostgreSQL. The server sees nothing else of the database.
//!
//! Error contract, for every method: `Err(StorageError)` means the storage could not do its work
//! (the database is down, or a stored value does not parse), and the server fails closed (a
//! `server_error` or an error page, never a token). Outcomes a caller must tell apart are values:
//! `Ok(None)` for "not found", `Ok(false)` for "a conditional write found nothing to change"
//! (spent, revoked, expired, or taken by a concurrent request), and the [`Redemption`] and
//! [`RefreshUse`] enums for the single-use rules.

use domain::{
    Acr, Amr, AuthTime, Client, ClientId, Interaction, InteractionId, InteractionKind, LoginResult, Scope, SigningAlg,
    StorageError, User, UserId,
};
use serde::{Deserialize, Serialize};

use crate::claims::ClaimsRequest;

mod grants;

pub use grants::{
    AuthorizationCode, GrantStore, IssuedToken, Redemption, RefreshStore, RefreshToken, RefreshUse, TokenKind,
};

/// The validated authorization request, kept with its interaction until the login completes.
/// Only this crate reads it; `store` keeps it as it is given.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: ClientId,
    pub redirect_uri: String,
    pub scope: Scope,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub max_age: Option<i64>,
    pub acr_values: Option<String>,
    #[serde(default)]
    pub form_post: bool,
    /// `acr` values the client demanded as essential through the `claims` parameter, those this
    /// provider knows (an unknown value can never be met; a demand of none known is refused).
    #[serde(default, deserialize_with = "known_acrs")]
    pub essential_acr: Option<Vec<Acr>>,
    /// The user claims the `claims` parameter asked for by name (OIDC Core §5.5).
    #[serde(default, skip_serializing_if = "ClaimsRequest::is_empty")]
    pub claims: ClaimsRequest,
    /// The user the client expects: the `sub` of a valid `id_token_hint` (OIDC Core §3.1.2.2) or
    /// the `sub` value the `claims` parameter asked for (§5.5.1).
    #[serde(default)]
    pub hinted_sub: Option<String>,
    /// `prompt=login`: the user must authenticate after the request was made.
    #[serde(default)]
    pub prompt_login: bool,
    /// RFC 9449 §10: the thumbprint of the DPoP key the code is bound to (`dpop_jkt`, or the key of
    /// the DPoP proof that came with the pushed request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    /// RFC 8628: a device's sign-in (the keyed hash of its device code, base64url). It ends on the
    /// provider's own page, where the user allows or denies the device, not at a redirect URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

impl AuthorizationRequest {
    /// A request that ends without a redirect (the passwordless OTP grant's tokens go straight back
    /// to the client; a device's sign-in ends on the provider's own page): only a client and a
    /// scope, none of the options of `/authorize`.
    pub fn without_redirect(client_id: &ClientId, scope: Scope) -> Self {
        AuthorizationRequest {
            client_id: client_id.clone(),
            redirect_uri: String::new(),
            scope,
            state: None,
            nonce: None,
            code_challenge: None,
            max_age: None,
            acr_values: None,
            form_post: false,
            essential_acr: None,
            claims: ClaimsRequest::default(),
            hinted_sub: None,
            prompt_login: false,
            dpop_jkt: None,
            device: None,
        }
    }
}

/// The `acr` values of a stored list this provider knows (requests stored before the list was
/// typed kept unknown essential values, which can never be met).
fn known_acrs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<Acr>>, D::Error> {
    let values: Option<Vec<String>> = Option::deserialize(d)?;
    Ok(values.map(|v| v.iter().filter_map(|a| Acr::parse(a)).collect()))
}

/// An interaction to open.
pub struct NewInteraction {
    pub id: InteractionId,
    pub kind: InteractionKind,
    pub client_id: ClientId,
    /// None for a code sent through the API, which no browser resumes.
    pub redirect_uri: Option<String>,
    pub login_hint: Option<String>,
    pub ui_locales: Option<String>,
    /// The `acr` values the login must reach (see `domain::Interaction::requested_acr`).
    pub requested_acr: Vec<Acr>,
    /// Set when the user is already authenticated (a session that needs a second factor): the
    /// interaction goes straight to step-up.
    pub first_factor: Option<LoginResult>,
    /// None for a code sent through the API: no authorization request, never resumed.
    pub request: Option<AuthorizationRequest>,
    /// The keyed hash of the browser that owns the interaction; none until the first browser
    /// continues an API link (and never for an API code).
    pub browser_hash: Option<Vec<u8>>,
    pub created_at: i64,
    pub expires_at: i64,
}

#[async_trait::async_trait]
pub trait InteractionStore: Send + Sync {
    async fn insert_interaction(&self, new: NewInteraction) -> Result<(), StorageError>;

    /// The interaction and the authorization request it was opened for.
    async fn interaction_with_request(
        &self,
        id: &InteractionId,
    ) -> Result<Option<(Interaction, Option<AuthorizationRequest>)>, StorageError>;

    /// Marks a completed interaction as used. True exactly once.
    async fn resume_interaction(&self, id: &InteractionId, now: i64) -> Result<bool, StorageError>;
}

#[async_trait::async_trait]
pub trait ClientStore: Send + Sync {
    async fn client(&self, id: &ClientId) -> Result<Option<Client>, StorageError>;

    /// Registers a client (RFC 7591).
    async fn insert_client(&self, client: &Client) -> Result<(), StorageError>;

    /// Spends a client assertion: its `jti`'s keyed hash is kept until `expires_at` (RFC 7523 §3
    /// item 7). True the first time; false when the client presented it before.
    async fn spend_assertion(&self, client: &ClientId, jti_hash: &[u8], expires_at: i64) -> Result<bool, StorageError>;

    /// Keeps a pushed authorization request (RFC 9126 §2): its parameters (a JSON object of
    /// strings), under the keyed hash of the reference its `request_uri` carries, until `expires_at`.
    async fn push_request(
        &self,
        reference_hash: &[u8],
        client: &ClientId,
        params: &str,
        expires_at: i64,
    ) -> Result<(), StorageError>;

    /// Spends a pushed request of `client`: its parameters, the first time it is asked for before
    /// it expires (RFC 9126 §4: one-time use); `None` after that, or for another client.
    async fn take_pushed_request(
        &self,
        reference_hash: &[u8],
        client: &ClientId,
        now: i64,
    ) -> Result<Option<String>, StorageError>;
}

#[async_trait::async_trait]
pub trait UserStore: Send + Sync {
    async fn user(&self, id: &UserId) -> Result<Option<User>, StorageError>;
}

/// A browser session at the provider. Its cookie value is stored only as a keyed hash.
#[derive(Clone, Debug)]
pub struct Session {
    pub id_hash: Vec<u8>,
    /// The public session id (`sid` claim, OIDC Front/Back-Channel Logout).
    pub sid: String,
    pub user_id: UserId,
    pub amr: Vec<Amr>,
    pub acr: Acr,
    pub auth_time: AuthTime,
    pub created_at: i64,
    pub expires_at: i64,
}

impl Session {
    /// The login this session stands for.
    pub fn login(&self) -> LoginResult {
        LoginResult { user_id: self.user_id.clone(), amr: self.amr.clone(), acr: self.acr, auth_time: self.auth_time }
    }
}

/// A login's session and its first code, written together ([`SessionStore::start_session`]).
#[derive(Clone, Debug)]
pub struct SessionStart {
    /// The interaction the login completed, spent in the same transaction: nothing is written when
    /// it was already resumed or has expired. None for a sign-in through the API.
    pub resumes: Option<InteractionId>,
    /// The session this browser held until now, ended in the same transaction.
    pub replaces: Option<Vec<u8>>,
    pub session: Session,
    pub code: AuthorizationCode,
}

#[async_trait::async_trait]
pub trait SessionStore: Send + Sync {
    /// Starts a login's session in one transaction, so the step commits once: spends the
    /// interaction it resumes, ends the session it replaces (as [`SessionStore::end_session`]
    /// does), stores the session and its code. False, writing nothing, when the interaction cannot
    /// be resumed (used, expired, or not completed).
    async fn start_session(&self, start: &SessionStart, now: i64) -> Result<bool, StorageError>;

    /// The live session whose cookie hashes to `id_hash`.
    async fn session(&self, id_hash: Vec<u8>, now: i64) -> Result<Option<Session>, StorageError>;

    /// Ends a session (logout, or a new login in the same browser) and, in the same transaction,
    /// revokes the grants issued in it that end with it (`AuthorizationCode::ends_with_session`).
    /// True when a live session was ended.
    async fn end_session(&self, id_hash: Vec<u8>, now: i64) -> Result<bool, StorageError>;

    /// The clients that were issued a code in the session `sid` (Front-Channel Logout 1.0 §2:
    /// the RPs the user is logged in to through it).
    async fn session_clients(&self, sid: &str) -> Result<Vec<ClientId>, StorageError>;
}

/// A signing key as stored: the private half sealed under the master key, the public half as the
/// JWK the JWKS publishes.
#[derive(Clone, Debug)]
pub struct StoredKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub sealed_private: Vec<u8>,
    pub public_jwk: String,
    /// When it starts signing.
    pub created_at: i64,
    /// When it stops signing (it is still published for a while, to verify what it signed).
    pub retired_at: Option<i64>,
}

#[async_trait::async_trait]
pub trait KeyStore: Send + Sync {
    /// Every key, newest first.
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StorageError>;

    /// Publishes `new_keys` and sets every unretired key to retire at `retire_at`, in one
    /// transaction, so there is never a moment with no signing key.
    async fn rotate_signing_keys(&self, new_keys: Vec<StoredKey>, retire_at: i64) -> Result<(), StorageError>;

    async fn insert_signing_keys(&self, keys: Vec<StoredKey>) -> Result<(), StorageError>;
}

/// Back-Channel Logout's notices, declared beside their worker.
pub use crate::backchannel::{LogoutNotice, LogoutNoticeStore};
/// The Device Authorization Grant's requests, declared beside their endpoint.
pub use crate::device::{DeviceCode, DeviceStore};

/// Everything the authorization server stores.
pub trait AuthorizationStorage:
    InteractionStore
    + ClientStore
    + UserStore
    + SessionStore
    + GrantStore
    + RefreshStore
    + KeyStore
    + LogoutNoticeStore
    + DeviceStore
{
}

impl<T> AuthorizationStorage for T where
    T: InteractionStore
        + ClientStore
        + UserStore
        + SessionStore
        + GrantStore
        + RefreshStore
        + KeyStore
        + LogoutNoticeStore
        + DeviceStore
{
}
