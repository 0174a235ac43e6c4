//! `grant_type=client_credentials` (RFC 6749 §4.4): a confidential client acting for itself gets an
//! access token whose `sub` is its own id; no ID token, no refresh token (§4.4.3).

use domain::{Client, Scope};

use crate::AuthorizationServer;
use crate::errors::{ErrorCode, OAuthError};
use crate::mint::{AccessGrant, TokenResponse, issue_access_token};
use crate::params::Params;

pub(super) async fn client_credentials(
    srv: &AuthorizationServer,
    client: &Client,
    params: &Params,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    if client.is_public {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "public clients cannot use client_credentials"));
    }
    // No user scopes for a client acting alone; API scopes arrive with the admin API.
    if params.get("scope").is_some_and(|s| s.split(' ').any(|s| !s.is_empty())) {
        return Err(OAuthError::new(ErrorCode::InvalidScope, "no scope is available to client_credentials"));
    }
    let owner = domain::UserId::parse(client.id.as_str()).ok_or(crate::errors::SERVER_ERROR)?;
    let access = AccessGrant { subject: &owner, grant_id: None, scope: &Scope::default(), user_auth: None };
    let access_token = issue_access_token(srv, client, &access, now).await?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: srv.config.access_token_ttl,
        id_token: None,
        scope: None,
        refresh_token: None,
    })
}
