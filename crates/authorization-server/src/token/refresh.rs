//! `grant_type=refresh_token` (RFC 6749 §6): rotate the token, never widen the scope, never
//! outlive the family's absolute deadline; a reused token revokes the grant (RFC 9700 §4.14.2),
//! unless it comes again within `oidc.refresh_reuse_leeway` while its successor is unused: then
//! the client most likely never received that successor, and gets another in its place.

use domain::{Client, Scope};

use crate::AuthorizationServer;
use crate::errors::{ErrorCode, OAuthError, internal};
use crate::mint::{Issuance, REFRESH_PURPOSE, Refresh, TokenResponse, mint_tokens, new_refresh_token};
use crate::params::Params;
use crate::storage::RefreshUse;

pub(super) async fn refresh_token(
    srv: &AuthorizationServer,
    client: &Client,
    params: &Params,
    jkt: Option<&str>,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    const INVALID: OAuthError =
        OAuthError::new(ErrorCode::InvalidGrant, "the refresh token is invalid, expired, or was already used");
    let presented =
        params.get("refresh_token").ok_or(OAuthError::new(ErrorCode::InvalidRequest, "refresh_token is required"))?;
    if presented.len() > 256 {
        return Err(INVALID);
    }
    let hash = srv.hasher.hash(REFRESH_PURPOSE, presented).0;
    // Checked before anything is spent: a request for the wrong client or a wider scope is refused
    // and leaves the token to its rightful use.
    let token =
        srv.store.refresh_token(hash.clone()).await.map_err(|e| internal("refresh lookup", &e))?.ok_or(INVALID)?;
    // Bound to the client it was issued to (RFC 6749 §10.4); the absolute lifetime is never extended.
    if token.client_id != client.id || token.expires_at <= now {
        return Err(INVALID);
    }
    // RFC 9449 §5: a refresh token bound to a DPoP key is used only with a proof of that key.
    if let Some(bound) = token.dpop_jkt.as_deref()
        && jkt != Some(bound)
    {
        return Err(OAuthError::new(
            ErrorCode::InvalidDpopProof,
            "this refresh token is bound to a DPoP key: send a proof made with it",
        ));
    }
    let scope = match params.get("scope") {
        None => token.scope.clone(),
        Some(requested) => {
            // Every token as sent (RFC 6749 §6): one that was not granted, well-formed or not, is refused.
            let requested: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
            if requested.iter().any(|s| !token.scope.contains(s)) {
                return Err(OAuthError::new(ErrorCode::InvalidScope, "the requested scope exceeds the granted scope"));
            }
            Scope::from_tokens(requested)
        }
    };
    let mut issuance = Issuance {
        grant_type: "refresh_token",
        extra: serde_json::Map::new(),
        grant_id: &token.grant_id,
        user_id: &token.user_id,
        sid: &token.sid,
        scope: &scope,
        nonce: None,
        amr: &token.amr,
        acr: token.acr,
        auth_time: token.auth_time,
        // `max_age` and `prompt` were about the authorization request, not its refreshes.
        auth_after: None,
        claims: &token.claims,
        refresh: Refresh::None,
        jkt,
    };
    // Asked before the rotation: a hook that refuses, or fails closed, leaves the presented
    // refresh token as it was.
    issuance.extra = crate::mint::before_token(srv, client, &issuance, now).await?;
    // The successor keeps the grant's scope and deadline; it is stored in the same transaction that
    // spends the presented token, under the grant's lock, so a revocation can never leave it live.
    let (successor, record) = new_refresh_token(srv, client, &issuance, &token.scope, token.expires_at, now);
    let leeway = srv.config.refresh_reuse_leeway;
    match srv.store.rotate_refresh_token(hash, &record, now, leeway).await.map_err(|e| internal("refresh use", &e))? {
        RefreshUse::Fresh(_) => {}
        RefreshUse::Retry(_) => {
            tracing::info!(client = %client.id, "refresh token presented again within the reuse leeway; its unused successor was replaced");
        }
        RefreshUse::Reused { client_id } => {
            tracing::warn!(client = %client_id, "refresh token reused; its grant and tokens were revoked");
            return Err(INVALID);
        }
        RefreshUse::Revoked | RefreshUse::Unknown => return Err(INVALID),
    }
    issuance.refresh = Refresh::Stored(successor);
    mint_tokens(srv, client, &issuance, now).await
}
