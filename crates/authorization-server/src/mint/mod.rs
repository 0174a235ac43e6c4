//! Minting tokens: the access token (RFC 9068), the ID token (OIDC Core §2, §3.1.3.6) and the
//! refresh token, from a redeemed code or a rotated refresh token. Every grant type ends here, so
//! the rules about what may be signed live here once.

use domain::secret::random_token;
use domain::{Acr, Amr, AuthTime, Client, GrantId, Scope, UserId};
use openidconnect::core::CoreGenderClaim;
use openidconnect::{
    AccessToken, AccessTokenHash, AdditionalClaims, Audience, AuthenticationContextClass,
    AuthenticationMethodReference, IdTokenClaims, IssuerUrl, Nonce, StandardClaims, SubjectIdentifier,
};
use serde::{Deserialize, Serialize};

use crate::AuthorizationServer;
pub(crate) use crate::before_token::before_token;
use crate::claims::ClaimsRequest;
use crate::errors::{ErrorCode, OAuthError, internal};
use crate::storage::{AuthorizationCode, RefreshToken};

mod access;

pub(crate) use access::{AccessClaims, AccessGrant, issue_access_token, issued_token, read_access_token, token_type};

pub(crate) const REFRESH_PURPOSE: &str = "refresh-token";

#[derive(Serialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// RFC 8693 §2.2.1: what a token exchange issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

/// The `sid` claim (OIDC Front-Channel Logout §3 / Back-Channel Logout §2.4) and the claims the
/// scopes release (`claims::scope_claims`), beside the standard ones.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SessionClaims {
    sid: String,
    #[serde(flatten)]
    scope_claims: serde_json::Map<String, serde_json::Value>,
}
impl AdditionalClaims for SessionClaims {}

/// What tokens are minted from: a redeemed code, or a refresh token being rotated.
pub(crate) struct Issuance<'a> {
    /// The grant type the tokens answer (`authorization_code`, `refresh_token`, Auth0's OTP grant).
    pub grant_type: &'static str,
    /// Claims the `before_token` hook added ([`before_token`]).
    pub extra: serde_json::Map<String, serde_json::Value>,
    pub grant_id: &'a GrantId,
    pub user_id: &'a UserId,
    pub sid: &'a str,
    /// The scope of the tokens issued now.
    pub scope: &'a Scope,
    /// Only in the ID token of the code exchange (OIDC Core §12.2: not after a refresh).
    pub nonce: Option<&'a str>,
    pub amr: &'a [Amr],
    pub acr: Acr,
    pub auth_time: AuthTime,
    /// The earliest `auth_time` the authorization request accepted (`max_age`, `prompt=login`).
    pub auth_after: Option<i64>,
    /// The user claims the `claims` parameter asked for (OIDC Core §5.5).
    pub claims: &'a ClaimsRequest,
    pub refresh: Refresh<'a>,
    /// The key of the request's DPoP proof (RFC 9449 §5): the access token is bound to it, and a
    /// public client's refresh token too.
    pub jkt: Option<&'a str>,
}

/// The refresh token that comes with the tokens.
pub(crate) enum Refresh<'a> {
    None,
    /// The grant's first: its scope (the grant's, RFC 6749 §6) and absolute deadline. Stored only
    /// while the grant is not revoked.
    First {
        scope: &'a Scope,
        deadline: i64,
    },
    /// A token already stored: a rotation's successor (stored with the rotation), or the grant's
    /// first (stored with the code's redemption).
    Stored(String),
}

impl<'a> Issuance<'a> {
    /// A refresh token comes with the code exchange when the client's policy says so
    /// (`offline_access` asked for, by default).
    pub fn from_code(
        grant_type: &'static str,
        code: &'a AuthorizationCode,
        policy: domain::RefreshPolicy,
        refresh_deadline: i64,
    ) -> Self {
        let offline = policy.issues_for(&code.scope);
        Issuance {
            grant_type,
            extra: serde_json::Map::new(),
            grant_id: &code.grant_id,
            user_id: &code.user_id,
            sid: &code.sid,
            scope: &code.scope,
            nonce: code.nonce.as_deref(),
            amr: &code.amr,
            acr: code.acr,
            auth_time: code.auth_time,
            auth_after: code.auth_after,
            claims: &code.claims,
            refresh: if offline {
                Refresh::First { scope: &code.scope, deadline: refresh_deadline }
            } else {
                Refresh::None
            },
            jkt: None,
        }
    }

    /// OIDC Core §3.1.2.1: with `max_age` the login must be recent enough, and with
    /// `prompt=login` it must follow the request. A login that does not is never signed for.
    pub(crate) fn check_auth_time(&self) -> Result<(), OAuthError> {
        match self.auth_after {
            Some(after) if self.auth_time.0 < after => Err(OAuthError::new(
                ErrorCode::InvalidGrant,
                "the sign-in is older than the authorization request allowed",
            )),
            _ => Ok(()),
        }
    }
}

/// A refresh token of the issuance's grant, ready to store: its secret and its record.
pub(crate) fn new_refresh_token(
    srv: &AuthorizationServer,
    client: &Client,
    grant: &Issuance<'_>,
    scope: &Scope,
    deadline: i64,
    now: i64,
) -> (String, RefreshToken) {
    let token = random_token(32);
    let record = RefreshToken {
        token_hash: srv.hasher.hash(REFRESH_PURPOSE, &token).0,
        grant_id: grant.grant_id.clone(),
        client_id: client.id.clone(),
        user_id: grant.user_id.clone(),
        sid: grant.sid.to_owned(),
        scope: scope.clone(),
        amr: grant.amr.to_vec(),
        acr: grant.acr,
        auth_time: grant.auth_time,
        claims: grant.claims.clone(),
        // RFC 9449 §5: a public client's refresh token is bound to the key; a confidential
        // client's is already bound to its authentication.
        dpop_jkt: grant.jkt.filter(|_| client.is_public).map(str::to_owned),
        created_at: now,
        expires_at: deadline,
    };
    (token, record)
}

/// The tokens of an issuance: a refresh token (stored first, while the grant is live), an access
/// token, and an ID token while the scope is still for OpenID.
pub(crate) async fn mint_tokens(
    srv: &AuthorizationServer,
    client: &Client,
    grant: &Issuance<'_>,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    grant.check_auth_time()?;
    // The refresh token first: it is stored only while the grant is not revoked, and a grant
    // revoked meanwhile gets nothing at all.
    let refresh_token = match &grant.refresh {
        Refresh::None => None,
        Refresh::Stored(token) => Some(token.clone()),
        Refresh::First { scope, deadline } => {
            let (token, record) = new_refresh_token(srv, client, grant, scope, *deadline, now);
            if !srv.store.insert_refresh_token(&record).await.map_err(|e| internal("refresh insert", &e))? {
                return Err(OAuthError::new(ErrorCode::InvalidGrant, "the grant was revoked"));
            }
            Some(token)
        }
    };
    let sub = crate::subject::subject(&srv.hasher, client, grant.user_id);
    let access = AccessGrant {
        subject: &sub,
        grant_id: Some(grant.grant_id),
        scope: grant.scope,
        user_auth: Some((grant.auth_time, grant.acr)),
        userinfo_claims: &grant.claims.userinfo,
        extra: &grant.extra,
        not_after: None,
        jkt: grant.jkt,
    };
    let access_token = issue_access_token(srv, client, &access, now)?;
    // OIDC Core §12.2: an ID token only while the tokens are still for OpenID (scope `openid`).
    let id_token = match grant.scope.contains("openid") {
        true => Some(id_token(srv, client, grant, &sub, &access_token, now).await?),
        false => None,
    };
    Ok(TokenResponse {
        access_token,
        token_type: token_type(grant.jkt),
        expires_in: srv.config.access_token_ttl,
        id_token,
        scope: Some(grant.scope.to_string()),
        refresh_token,
        issued_token_type: None,
    })
}

/// The ID token (OIDC Core §2) of an issuance, with `at_hash` for its access token.
async fn id_token(
    srv: &AuthorizationServer,
    client: &Client,
    grant: &Issuance<'_>,
    sub: &str,
    access_token: &str,
    now: i64,
) -> Result<String, OAuthError> {
    let ring = srv.keys.ring();
    let alg = client.id_token_alg;
    let key = ring.active(alg, now).ok_or(crate::errors::SERVER_ERROR)?;
    let user = srv.store.user(grant.user_id).await.map_err(|e| internal("user lookup", &e))?;
    // A blocked account gets no token, whatever grant still names it (the block revoked them all;
    // this holds for one racing it).
    if user.as_ref().is_some_and(domain::User::is_blocked) {
        return Err(OAuthError::new(ErrorCode::InvalidGrant, "the account is blocked"));
    }
    let time = |t: i64| chrono::DateTime::from_timestamp(t, 0).ok_or(crate::errors::SERVER_ERROR);
    let standard = StandardClaims::<CoreGenderClaim>::new(SubjectIdentifier::new(sub.to_owned()));
    let released = |u| crate::claims::released(u, grant.scope, &grant.claims.id_token);
    let mut scope_claims = user.as_ref().map(released).unwrap_or_default();
    scope_claims.extend(grant.extra.clone());
    let issuer = IssuerUrl::new(srv.config.issuer.clone()).map_err(|e| internal("issuer", &e))?;
    let at_hash =
        AccessTokenHash::from_token(&AccessToken::new(access_token.to_owned()), &crate::keys::core_alg(alg), &key.jwk)
            .map_err(|e| internal("at_hash", &e))?;
    let amr = grant.amr.iter().map(|a| AuthenticationMethodReference::new(a.as_str().to_owned()));
    let claims = IdTokenClaims::new(
        issuer,
        vec![Audience::new(client.id.to_string())],
        time(now + srv.config.id_token_ttl)?,
        time(now)?,
        standard,
        SessionClaims { sid: grant.sid.to_owned(), scope_claims },
    )
    .set_auth_time(Some(time(grant.auth_time.0)?))
    .set_nonce(grant.nonce.map(|n| Nonce::new(n.to_owned())))
    .set_auth_context_ref(Some(AuthenticationContextClass::new(grant.acr.as_str().to_owned())))
    .set_auth_method_refs(Some(amr.collect()))
    .set_access_token_hash(Some(at_hash));
    crate::jwt::sign(key, "JWT", &claims).map_err(|e| internal("id token", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_older_than_the_request_allowed_is_never_signed_for() {
        let (grant, user, scope) = (GrantId::generate(), UserId::generate(), Scope::parse("openid"));
        let claims = ClaimsRequest::default();
        let issuance = |auth_time, auth_after| Issuance {
            grant_type: "authorization_code",
            extra: serde_json::Map::new(),
            grant_id: &grant,
            user_id: &user,
            sid: "s",
            scope: &scope,
            nonce: None,
            amr: &[Amr::Otp],
            acr: Acr::SingleFactor,
            auth_time: AuthTime(auth_time),
            auth_after,
            claims: &claims,
            refresh: Refresh::None,
            jkt: None,
        };
        assert!(issuance(100, None).check_auth_time().is_ok());
        assert!(issuance(100, Some(100)).check_auth_time().is_ok());
        assert_eq!(issuance(99, Some(100)).check_auth_time().unwrap_err().error, "invalid_grant");
    }
}
