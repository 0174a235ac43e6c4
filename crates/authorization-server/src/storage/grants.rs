//! The grants' storage: authorization codes, the tokens issued from them and refresh-token
//! chains, with the single-use rules ([`Redemption`], [`RefreshUse`]). The error contract is the
//! module's parent's.

use domain::{Acr, Amr, AuthTime, ClientId, GrantId, Scope, StorageError, UserId};

use crate::claims::ClaimsRequest;

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
