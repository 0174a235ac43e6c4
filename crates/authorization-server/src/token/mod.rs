//! `POST /token` (RFC 6749 §3.2): the client is authenticated, then each grant type has its own
//! function and file.

mod client_credentials;
mod code;
mod device;
mod exchange;
mod otp;
mod refresh;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

pub(crate) use code::{issue_code, new_code};
pub use device::DEVICE_CODE_GRANT;
pub use exchange::TOKEN_EXCHANGE_GRANT;
pub use otp::OTP_GRANT;

use crate::AuthorizationServer;
use crate::errors::{ErrorCode, OAuthError};
use crate::mint::TokenResponse;

/// `POST /token` (and Auth0's `POST /oauth/token`).
pub async fn token(req: HttpRequest, body: web::Bytes, srv: web::Data<AuthorizationServer>) -> HttpResponse {
    let mut resp = match exchange(&req, &body, &srv).await {
        Ok(resp) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(resp),
        Err(e) => e.to_token_response(),
    };
    // RFC 9449 §8: each answer carries the nonce the next proof must use.
    if let Some((name, value)) = crate::dpop::nonce_header(&srv) {
        resp.headers_mut().insert(header::HeaderName::from_static(name), value);
    }
    resp
}

async fn exchange(req: &HttpRequest, body: &[u8], srv: &AuthorizationServer) -> Result<TokenResponse, OAuthError> {
    let (client, params) = crate::clients::read_client_form(req, body, srv).await?;
    // RFC 9449 §5: a proof binds the tokens issued to its key. Its URL is the endpoint the client
    // called (Auth0's path or ours).
    let path = if req.path() == crate::paths::OAUTH_TOKEN { crate::paths::OAUTH_TOKEN } else { crate::paths::TOKEN };
    let proof = crate::dpop::proof(srv, req, path, None).await?;
    let jkt = proof.map(|p| p.jkt);
    // RFC 9449 §5.2: a client registered with `dpop_bound_access_tokens` always proves its key.
    if client.settings.dpop_bound_access_tokens && jkt.is_none() {
        return Err(OAuthError::new(ErrorCode::InvalidDpopProof, "this client must send a DPoP proof"));
    }
    let grant_type: &'static str = match params.get("grant_type") {
        Some("authorization_code") => "authorization_code",
        Some("refresh_token") => "refresh_token",
        Some("client_credentials") => "client_credentials",
        Some(OTP_GRANT) => "otp",
        Some(TOKEN_EXCHANGE_GRANT) => "token_exchange",
        Some(DEVICE_CODE_GRANT) => "device_code",
        _ => "other",
    };
    let result = grant(req, srv, &client, &params, jkt.as_deref()).await;
    // `ostiary_token_requests_total{grant_type, result}`: `issued`, or the RFC 6749 §5.2 error code.
    let outcome = result.as_ref().map_or_else(|e| e.error.as_str(), |_| "issued");
    metrics::counter!("ostiary_token_requests_total", "grant_type" => grant_type, "result" => outcome).increment(1);
    result
}

async fn grant(
    req: &HttpRequest,
    srv: &AuthorizationServer,
    client: &domain::Client,
    params: &crate::params::Params,
    jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let now = srv.clock.now();
    match params.get("grant_type") {
        Some("authorization_code") => code::authorization_code(srv, client, params, jkt, now).await,
        Some("refresh_token") => refresh::refresh_token(srv, client, params, jkt, now).await,
        Some("client_credentials") => client_credentials::client_credentials(srv, client, params, jkt, now).await,
        Some(OTP_GRANT) => otp::otp(req, srv, client, params, jkt, now).await,
        Some(TOKEN_EXCHANGE_GRANT) => exchange::token_exchange(srv, client, params, jkt, now).await,
        Some(DEVICE_CODE_GRANT) if client.settings.device_grant => {
            device::device_code(srv, client, params, jkt, now).await
        }
        Some(DEVICE_CODE_GRANT) => {
            Err(OAuthError::new(ErrorCode::UnauthorizedClient, "this client may not use the device grant"))
        }
        None => Err(OAuthError::new(ErrorCode::InvalidRequest, "grant_type is required")),
        Some(_) => Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            "only authorization_code, refresh_token, client_credentials, token exchange, the device code and the passwordless OTP grant are supported",
        )),
    }
}
