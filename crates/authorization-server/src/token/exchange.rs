//! `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693), for the confidential
//! clients an operator allows it (`settings.token_exchange`): a service that received a user's
//! access token from another client trades it for one of its own, to act for that user. The new
//! token names the same user as this client sees them (`subject::subject`), no more scope than the
//! subject token had, an `act` claim naming this client (§4.1), and no later expiry than the
//! subject token's. It belongs to the subject token's grant, so revoking the grant (logout, a
//! block, "This wasn't me") ends it too. No refresh token and no ID token.

use domain::{Acr, AuthTime, Client, Scope};

use crate::AuthorizationServer;
use crate::errors::{ErrorCode, OAuthError, internal};
use crate::mint::{AccessGrant, TokenResponse, issue_access_token};
use crate::params::Params;

pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693 §3: the one token type taken and issued here.
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

pub(super) async fn token_exchange(
    srv: &AuthorizationServer,
    client: &Client,
    params: &Params,
    jkt: Option<&str>,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    if client.is_public || !client.settings.token_exchange {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "this client may not exchange tokens"));
    }
    // §2.1: `subject_token` and its type are required; only our access tokens are taken.
    let (Some(subject_token), Some(subject_type)) = (params.get("subject_token"), params.get("subject_token_type"))
    else {
        return Err(OAuthError::new(ErrorCode::InvalidRequest, "subject_token and subject_token_type are required"));
    };
    if subject_type != ACCESS_TOKEN_TYPE || params.get("requested_token_type").is_some_and(|t| t != ACCESS_TOKEN_TYPE) {
        return Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            "only access tokens are exchanged here (urn:ietf:params:oauth:token-type:access_token)",
        ));
    }
    // §2.1: no actor token is taken: the actor is the authenticated client itself.
    if params.get("actor_token").is_some() || params.get("actor_token_type").is_some() {
        return Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            "actor_token is not supported: the client is the actor",
        ));
    }
    // §2.2.2 `invalid_target`: the tokens issued here are for this provider's own resources.
    let issuer = srv.config.issuer.as_str();
    if params.get("audience").is_some_and(|a| a != issuer) || params.get("resource").is_some_and(|r| r != issuer) {
        return Err(OAuthError::new(ErrorCode::InvalidTarget, "the only audience here is the issuer"));
    }
    let live = crate::inspect::live_claims(srv, subject_token, now).await.map_err(|e| internal("token lookup", &e))?;
    // §2.2.2: an invalid or unacceptable subject token is `invalid_request`.
    let invalid =
        || OAuthError::new(ErrorCode::InvalidRequest, "the subject_token is not a live access token for a user");
    let subject = live.ok_or_else(invalid)?;
    // RFC 9449: a DPoP-bound subject token is exchanged only with a proof of its own key; else an
    // exchange would turn a sender-constrained token into one anyone holding it may use.
    if let Some(bound) = subject.jkt()
        && jkt != Some(bound)
    {
        return Err(OAuthError::new(
            ErrorCode::InvalidDpopProof,
            "the subject_token is bound to a DPoP key: send a proof made with it",
        ));
    }
    let grant = crate::mint::issued_token(&subject).and_then(|t| t.grant_id).ok_or_else(invalid)?;
    let user = srv.store.grant_user(&grant).await.map_err(|e| internal("grant lookup", &e))?.ok_or_else(invalid)?;
    // RFC 6749 §3.3 via RFC 8693 §2.1: never more scope than the subject token carries.
    let granted = Scope::parse(&subject.scope);
    let scope = match params.get("scope") {
        None => granted.clone(),
        Some(asked) => {
            let asked = Scope::parse(asked);
            if !asked.iter().all(|s| granted.contains(s)) {
                return Err(OAuthError::new(ErrorCode::InvalidScope, "more scope than the subject_token carries"));
            }
            asked
        }
    };
    // §4.1: this client acts for the user; earlier actors nest inside.
    let mut act = serde_json::json!({ "sub": client.id.to_string() });
    if let Some(earlier) = subject.extra.get("act") {
        act["act"] = earlier.clone();
    }
    let extra = serde_json::Map::from_iter([("act".to_owned(), act)]);
    let sub = crate::subject::subject(&srv.hasher, client, &user);
    let acr = subject.acr.as_deref().and_then(Acr::parse);
    let access = AccessGrant {
        subject: &sub,
        grant_id: Some(&grant),
        scope: &scope,
        user_auth: subject.auth_time.zip(acr).map(|(at, acr)| (AuthTime(at), acr)),
        userinfo_claims: &subject.userinfo_claims,
        extra: &extra,
        not_after: Some(subject.exp),
        jkt,
    };
    let access_token = issue_access_token(srv, client, &access, now)?;
    Ok(TokenResponse {
        access_token,
        token_type: crate::mint::token_type(jkt),
        expires_in: (now + srv.config.access_token_ttl).min(subject.exp) - now,
        id_token: None,
        scope: Some(scope.to_string()),
        refresh_token: None,
        issued_token_type: Some(ACCESS_TOKEN_TYPE),
    })
}
