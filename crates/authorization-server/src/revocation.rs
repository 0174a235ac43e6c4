//! Token revocation (RFC 7009) and introspection (RFC 7662).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::AuthorizationServer;
use crate::errors::{ErrorCode, OAuthError, internal};
use crate::mint::{REFRESH_PURPOSE, read_access_token};

/// `POST /revoke`. RFC 7009 §2.2: 200 whether or not the token was valid, so the answer reveals
/// nothing; a token of another client is left alone. Revoking a refresh token revokes its whole
/// grant, access tokens included (§2.1).
pub async fn revoke(req: HttpRequest, body: web::Bytes, srv: web::Data<AuthorizationServer>) -> HttpResponse {
    match revoke_token(&req, &body, &srv).await {
        Ok(()) => HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).finish(),
        Err(e) => e.to_token_response(),
    }
}

async fn revoke_token(req: &HttpRequest, body: &[u8], srv: &AuthorizationServer) -> Result<(), OAuthError> {
    let (client, params) = crate::clients::read_client_form(req, body, srv).await?;
    let token = params.get("token").ok_or(OAuthError::new(ErrorCode::InvalidRequest, "token is required"))?;
    if !matches!(params.get("token_type_hint"), None | Some("access_token" | "refresh_token")) {
        return Err(OAuthError::new(
            ErrorCode::UnsupportedTokenType,
            "token_type_hint must be access_token or refresh_token",
        ));
    }
    let now = srv.clock.now();
    if let Some(claims) = read_access_token(srv, token, now) {
        if claims.client_id == client.id.as_str()
            && let Some(issued) = crate::mint::issued_token(&claims)
        {
            srv.store.revoke_token(&issued, now).await.map_err(|e| internal("revoke token", &e))?;
        }
        return Ok(());
    }
    if token.len() <= 256
        && let Some(refresh) = srv
            .store
            .refresh_token(srv.hasher.hash(REFRESH_PURPOSE, token).0)
            .await
            .map_err(|e| internal("refresh lookup", &e))?
        && refresh.client_id == client.id
    {
        srv.store.revoke_grant(&refresh.grant_id, now).await.map_err(|e| internal("revoke grant", &e))?;
    }
    Ok(())
}

/// `POST /introspect` (RFC 7662), for confidential clients about their own tokens. Anything else —
/// unknown, expired, revoked, another client's — is `{"active": false}` (§2.2).
pub async fn introspect(req: HttpRequest, body: web::Bytes, srv: web::Data<AuthorizationServer>) -> HttpResponse {
    match introspection(&req, &body, &srv).await {
        Ok(answer) => HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(answer),
        Err(e) => e.to_token_response(),
    }
}

async fn introspection(
    req: &HttpRequest,
    body: &[u8],
    srv: &AuthorizationServer,
) -> Result<serde_json::Value, OAuthError> {
    let (client, params) = crate::clients::read_client_form(req, body, srv).await?;
    if client.is_public {
        return Err(OAuthError::new(ErrorCode::InvalidClient, "introspection is for confidential clients"));
    }
    let token = params.get("token").ok_or(OAuthError::new(ErrorCode::InvalidRequest, "token is required"))?;
    let inactive = serde_json::json!({ "active": false });
    let now = srv.clock.now();
    if read_access_token(srv, token, now).is_some() {
        let live = crate::inspect::live_claims(srv, token, now).await.map_err(|e| internal("token lookup", &e))?;
        let Some(claims) = live.filter(|c| c.client_id == client.id.as_str()) else {
            return Ok(inactive);
        };
        let mut answer = serde_json::json!({
            "active": true, "token_type": crate::mint::token_type(claims.jkt()), "scope": claims.scope,
            "client_id": claims.client_id, "sub": claims.sub, "exp": claims.exp, "iat": claims.iat, "iss": claims.iss,
            "aud": claims.aud, "jti": claims.jti,
        });
        // RFC 9449 §6.2: a resource server learns the key a bound token needs a proof of.
        if let Some(jkt) = claims.jkt() {
            answer["cnf"] = serde_json::json!({ "jkt": jkt });
        }
        return Ok(answer);
    }
    if token.len() > 256 {
        return Ok(inactive);
    }
    let hash = srv.hasher.hash(REFRESH_PURPOSE, token).0;
    let Some(refresh) = srv.store.refresh_token(hash.clone()).await.map_err(|e| internal("refresh lookup", &e))? else {
        return Ok(inactive);
    };
    let live = refresh.client_id == client.id
        && srv.store.refresh_token_is_live(hash, now).await.map_err(|e| internal("refresh lookup", &e))?;
    if !live {
        return Ok(inactive);
    }
    Ok(serde_json::json!({
        "active": true, "token_type": "refresh_token", "scope": refresh.scope.to_string(), "client_id": refresh.client_id.to_string(),
        "sub": crate::subject::subject(&srv.hasher, &client, &refresh.user_id), "exp": refresh.expires_at, "iat": refresh.created_at, "iss": srv.config.issuer,
    }))
}
