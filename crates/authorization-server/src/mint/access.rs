//! The access token (RFC 9068 `at+jwt`): its claims, issuing one, and reading one back. Its `jti`
//! names its grant, so that a token needs no row of its own until it is revoked alone.

use domain::secret::random_token;
use domain::{Acr, AuthTime, Client, GrantId, Scope};
use serde::{Deserialize, Serialize};

use crate::AuthorizationServer;
use crate::errors::{OAuthError, internal};
use crate::storage::{IssuedToken, TokenKind};

/// Claims of an RFC 9068 access token.
#[derive(Serialize, Deserialize)]
pub(crate) struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub scope: String,
    /// Absent from client-credentials tokens: no user authenticated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// The user claims the `claims` parameter asked `/userinfo` for (OIDC Core §5.5), beside those
    /// of the scope. Names only, which are no secret; `/userinfo` needs nothing else to answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo_claims: Vec<String>,
    /// RFC 9449 §6: the DPoP key the token is bound to (`{"jkt": thumbprint}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// What the `before_token` hook added.
    #[serde(flatten, default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// RFC 7800 `cnf`, with RFC 9449 §6.1's `jkt`.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Confirmation {
    pub jkt: String,
}

impl AccessClaims {
    /// The thumbprint of the DPoP key the token is bound to, if it is.
    pub fn jkt(&self) -> Option<&str> {
        self.cnf.as_ref().map(|c| c.jkt.as_str())
    }
}

/// RFC 9449 §5: `token_type` is `DPoP` for a token bound to a key, else `Bearer` (RFC 6750).
pub(crate) fn token_type(jkt: Option<&str>) -> &'static str {
    if jkt.is_some() { "DPoP" } else { "Bearer" }
}

/// What an access token is issued for.
pub(crate) struct AccessGrant<'a> {
    /// `sub`: the user's as the client sees it (`subject::subject`), or the client's own id under
    /// client_credentials.
    pub subject: &'a str,
    /// None under client_credentials: no user, no grant.
    pub grant_id: Option<&'a GrantId>,
    pub scope: &'a Scope,
    /// When and how the user authenticated (absent without a user).
    pub user_auth: Option<(AuthTime, Acr)>,
    /// The user claims the `claims` parameter asked `/userinfo` for.
    pub userinfo_claims: &'a [String],
    /// Claims the `before_token` hook added, or a token exchange's `act`.
    pub extra: &'a serde_json::Map<String, serde_json::Value>,
    /// The latest expiry allowed (a token exchange's: its subject token's), else the usual lifetime.
    pub not_after: Option<i64>,
    /// The DPoP key the token is bound to (RFC 9449 §6).
    pub jkt: Option<&'a str>,
}

/// Signs an RFC 9068 access token with the active key of `oidc.access_token_alg`. Nothing is
/// written: the token's `jti` names its grant ([`access_jti`]), which is all a later check or
/// revocation needs, so the code exchange and the refresh each commit once.
pub(crate) fn issue_access_token(
    srv: &AuthorizationServer,
    client: &Client,
    t: &AccessGrant<'_>,
    now: i64,
) -> Result<String, OAuthError> {
    let ring = srv.keys.ring();
    let key = ring.active(srv.config.access_token_alg, now).ok_or(crate::errors::SERVER_ERROR)?;
    let claims = AccessClaims {
        iss: srv.config.issuer.clone(),
        sub: t.subject.to_owned(),
        aud: srv.config.issuer.clone(),
        client_id: client.id.to_string(),
        exp: t.not_after.map_or(now + srv.config.access_token_ttl, |end| end.min(now + srv.config.access_token_ttl)),
        iat: now,
        jti: access_jti(t.grant_id),
        scope: t.scope.to_string(),
        auth_time: t.user_auth.map(|(at, _)| at.0),
        acr: t.user_auth.map(|(_, acr)| acr.as_str().to_owned()),
        userinfo_claims: t.userinfo_claims.to_vec(),
        cnf: t.jkt.map(|jkt| Confirmation { jkt: jkt.to_owned() }),
        extra: t.extra.clone(),
    };
    crate::jwt::sign(key, "at+jwt", &claims).map_err(|e| internal("access token", &e))
}

/// An access token's `jti` (RFC 9068 §2.2): unique, and naming the grant the token was issued
/// under, as `GRANT.RANDOM`; a client's own token (client credentials, no grant) is `RANDOM` alone.
/// Neither part is a secret: the token is what is secret, and it carries its signature.
fn access_jti(grant: Option<&GrantId>) -> String {
    match grant {
        Some(grant) => format!("{grant}.{}", random_token(16)),
        None => random_token(16),
    }
}

/// What an access token's claims say about it, for the store's checks: its grant from its `jti`
/// ([`access_jti`]). None when the claims cannot be ours (a malformed client or subject).
pub(crate) fn issued_token(claims: &AccessClaims) -> Option<IssuedToken> {
    // Tokens issued before `jti` named the grant have a stored row that names it; the store reads
    // their grant there.
    let grant_id = claims.jti.split_once('.').and_then(|(grant, _)| GrantId::parse(grant));
    Some(IssuedToken {
        jti: claims.jti.clone(),
        kind: if grant_id.is_some() { TokenKind::Access } else { TokenKind::Client },
        grant_id,
        client_id: domain::ClientId::parse(&claims.client_id)?,
        subject: claims.sub.clone(),
        issued_at: claims.iat,
        expires_at: claims.exp,
    })
}

/// The claims of an access token this provider signed (RFC 9068 `at+jwt`, our issuer), expired or
/// not: callers decide what expiry means for them.
pub(crate) fn read_access_token(srv: &AuthorizationServer, token: &str, now: i64) -> Option<AccessClaims> {
    let claims: AccessClaims = crate::jwt::verify(&srv.keys.ring(), token, "at+jwt", now, srv.config.key_retention())?;
    (claims.iss == srv.config.issuer).then_some(claims)
}
