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
    Acr, Amr, AuthTime, Client, ClientId, GrantId, Interaction, InteractionId, InteractionKind, LoginResult, Scope,
    SigningAlg, StorageError, User, UserId,
};
use serde::{Deserialize, Serialize};

use crate::claims::ClaimsRequest;

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

/// A single-use authorization code, bound to its client, redirect URI and PKCE challenge, and
/// carrying how and when the user authenticated. Its `grant_id` ties together every token issued
/// from it.
#[derive(Clone, Debug)]
pub struct AuthorizationCode {
    pub code_hash: Vec<u8>,
    pub grant_id: GrantId,
    pub client_id: ClientId,
    pub redirect_uri: String,
    pub user_id: UserId,
    pub sid: String,
    pub scope: Scope,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub amr: Vec<Amr>,
    pub acr: Acr,
    pub auth_time: AuthTime,
    /// The earliest `auth_time` the authorization request accepts (`max_age`, `prompt=login`).
    pub auth_after: Option<i64>,
    /// Whether the grant ends with the session it was issued in (sign-out, a new login).
    pub ends_with_session: bool,
    /// The user claims the `claims` parameter asked for (OIDC Core §5.5).
    pub claims: ClaimsRequest,
    /// RFC 9449 §10: the code is redeemed only with a DPoP proof of this key.
    pub dpop_jkt: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// The result of presenting a code at the token endpoint.
#[derive(Debug)]
pub enum Redemption {
    /// First presentation: the code is now spent and its grant may receive tokens.
    Redeemed(Box<AuthorizationCode>),
    /// The code had been presented before. Its grant and every token issued from it are now
    /// revoked (RFC 6749 §4.1.2).
    Replayed {
        client_id: ClientId,
    },
    /// Its grant was revoked (logout, "This wasn't me", a replay, an admin): a revoked grant never
    /// yields a redeemed code.
    Revoked,
    Unknown,
}

/// What an access token was issued for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// For a user, under a grant.
    Access,
    /// For a client acting for itself (client credentials): no user, no grant.
    Client,
}

/// An access token as its own claims describe it. Nothing is stored when one is issued: the token
/// is self-contained, and its `jti` names its grant (`mint::access_jti`). What is stored is what
/// ends it: its grant's revocation, a row for the token itself once it is revoked alone (RFC 7009),
/// and, for a client's own tokens, the moment the client last had all of them revoked.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    pub jti: String,
    /// None for [`TokenKind::Client`].
    pub grant_id: Option<GrantId>,
    pub client_id: ClientId,
    /// `sub` as the token says it: the user's as its client sees it (`subject::subject`), or the
    /// client's own id.
    pub subject: String,
    pub kind: TokenKind,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// A refresh token (RFC 6749 §6), rotated on every use; one family per grant.
#[derive(Clone, Debug)]
pub struct RefreshToken {
    pub token_hash: Vec<u8>,
    pub grant_id: GrantId,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub sid: String,
    pub scope: Scope,
    pub amr: Vec<Amr>,
    pub acr: Acr,
    pub auth_time: AuthTime,
    /// The user claims the `claims` parameter asked for (OIDC Core §5.5), for every refresh.
    pub claims: ClaimsRequest,
    /// RFC 9449 §5: a public client's refresh token is used only with a DPoP proof of this key.
    pub dpop_jkt: Option<String>,
    pub created_at: i64,
    /// The family's absolute deadline: rotation never extends it.
    pub expires_at: i64,
}

/// The result of presenting a refresh token.
#[derive(Debug)]
pub enum RefreshUse {
    /// First use: the token is now spent and its successor stored, in one transaction.
    Fresh(Box<RefreshToken>),
    /// Spent within the reuse leeway, and its successor never used: that successor was replaced by
    /// the one given, in one transaction, and the family still has one live token.
    Retry(Box<RefreshToken>),
    /// Spent before: the grant and every token issued from it are now revoked (RFC 9700 §4.14.2).
    Reused {
        client_id: ClientId,
    },
    /// Its grant was revoked: nothing was spent or issued.
    Revoked,
    Unknown,
}

#[async_trait::async_trait]
pub trait GrantStore: Send + Sync {
    async fn insert_code(&self, code: &AuthorizationCode) -> Result<(), StorageError>;

    /// A code as issued, without spending it, so the token endpoint can check who presents it
    /// before anything is spent: a stranger holding a code cannot burn it.
    async fn authorization_code(&self, code_hash: Vec<u8>) -> Result<Option<AuthorizationCode>, StorageError>;

    /// Spends a code: of N simultaneous presentations exactly one is `Redeemed`; the others are
    /// replays and revoke the grant. A code whose grant was revoked is never redeemed. Expiry and
    /// client binding are the caller's checks. `first_refresh`, the grant's first refresh token, is
    /// stored in the same transaction when the code is redeemed, and only then.
    async fn redeem_code(
        &self,
        code_hash: Vec<u8>,
        now: i64,
        first_refresh: Option<RefreshToken>,
    ) -> Result<Redemption, StorageError>;

    /// The user a grant was made to (its code's), revoked or not.
    async fn grant_user(&self, grant_id: &GrantId) -> Result<Option<UserId>, StorageError>;

    /// Revokes a grant: its code, its access tokens and its refresh tokens.
    async fn revoke_grant(&self, grant_id: &GrantId, now: i64) -> Result<(), StorageError>;

    /// Whether an access token is still good: unexpired, not revoked alone, its grant not revoked
    /// (which also covers a token minted in the instant a replay revoked its grant), and, for a
    /// client's own token, issued after the client's tokens were last revoked. A read: nothing is
    /// written.
    async fn token_is_active(&self, token: &IssuedToken, now: i64) -> Result<bool, StorageError>;

    /// Revokes one access token (RFC 7009). True when it was live.
    async fn revoke_token(&self, token: &IssuedToken, now: i64) -> Result<bool, StorageError>;
}

/// Refresh tokens: one family per grant, rotated on every use (RFC 9700 §4.14).
#[async_trait::async_trait]
pub trait RefreshStore: Send + Sync {
    /// Stores the first refresh token of a grant, under the grant's row lock. False, storing
    /// nothing, when the grant is revoked: a revocation during the code exchange is final.
    async fn insert_refresh_token(&self, token: &RefreshToken) -> Result<bool, StorageError>;

    /// Reads a refresh token without spending it (to check client, lifetime and scope first).
    async fn refresh_token(&self, token_hash: Vec<u8>) -> Result<Option<RefreshToken>, StorageError>;

    /// Whether a refresh token could still be used: not spent, not revoked, not past its deadline.
    async fn refresh_token_is_live(&self, token_hash: Vec<u8>, now: i64) -> Result<bool, StorageError>;

    /// Rotates a refresh token in one transaction under the grant's row lock: spends the presented
    /// token and stores `successor` (whose `grant_id` must be the presented token's). Of concurrent
    /// presentations exactly one is `Fresh`; a later one is a `Retry` within `leeway` seconds of the
    /// first use while the successor then issued is unused (it is replaced by `successor`), and
    /// otherwise a reuse that revokes the grant.
    async fn rotate_refresh_token(
        &self,
        token_hash: Vec<u8>,
        successor: &RefreshToken,
        now: i64,
        leeway: i64,
    ) -> Result<RefreshUse, StorageError>;
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
