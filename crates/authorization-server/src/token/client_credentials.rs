//! `grant_type=client_credentials` (RFC 6749 §4.4): a confidential client acting for itself gets an
//! access token whose `sub` is its own id; no ID token, no refresh token (§4.4.3).

use domain::{Client, Scope};

use crate::AuthorizationServer;
use crate::errors::{ErrorCode, OAuthError};
use crate::mint::{AccessGrant, TokenResponse, issue_access_token};
use crate::params::Params;

/// The scope of the admin API (`/api/admin/v1`).
pub const ADMIN_SCOPE: &str = "admin";

pub(super) async fn client_credentials(
    srv: &AuthorizationServer,
    client: &Client,
    params: &Params,
    jkt: Option<&str>,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    if client.is_public {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "public clients cannot use client_credentials"));
    }
    // No user scopes for a client acting alone: the only scope is `admin`, the admin API's, for a
    // client allowed to call it (RFC 6749 §3.3: the server may refuse a scope, `invalid_scope`).
    let raw = params.get("scope").unwrap_or("");
    let scope = Scope::parse(raw);
    if raw.split(' ').any(|s| !s.is_empty() && s != ADMIN_SCOPE)
        || (scope.contains(ADMIN_SCOPE) && !client.settings.admin_api)
    {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "the only scope of client_credentials is admin, for admin API clients",
        ));
    }
    let none = serde_json::Map::new();
    let access = AccessGrant {
        subject: client.id.as_str(),
        grant_id: None,
        scope: &scope,
        user_auth: None,
        userinfo_claims: &[],
        extra: &none,
        not_after: None,
        jkt,
    };
    let access_token = issue_access_token(srv, client, &access, now)?;
    Ok(TokenResponse {
        access_token,
        token_type: crate::mint::token_type(jkt),
        expires_in: srv.config.access_token_ttl,
        id_token: None,
        scope: (!scope.is_empty()).then(|| scope.to_string()),
        refresh_token: None,
        issued_token_type: None,
    })
}
