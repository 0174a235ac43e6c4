//! `POST /token` (RFC 6749 §3.2): the client is authenticated, then each grant type has its own
//! function and file.

mod client_credentials;
mod code;
mod exchange;
mod otp;
mod refresh;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

pub(crate) use code::{issue_code, new_code};
pub use exchange::TOKEN_EXCHANGE_GRANT;
pub use otp::OTP_GRANT;

use crate::AuthorizationServer;
use crate::errors::{ErrorCode, OAuthError};
use crate::mint::TokenResponse;

/// `POST /token` (and Auth0's `POST /oauth/token`).
pub async fn token(req: HttpRequest, body: web::Bytes, srv: web::Data<AuthorizationServer>) -> HttpResponse {
    match exchange(&req, &body, &srv).await {
        Ok(resp) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(resp),
        Err(e) => e.to_token_response(),
    }
}

async fn exchange(req: &HttpRequest, body: &[u8], srv: &AuthorizationServer) -> Result<TokenResponse, OAuthError> {
    let (client, params) = crate::clients::read_client_form(req, body, srv).await?;
    let grant_type: &'static str = match params.get("grant_type") {
        Some("authorization_code") => "authorization_code",
        Some("refresh_token") => "refresh_token",
        Some("client_credentials") => "client_credentials",
        Some(OTP_GRANT) => "otp",
        Some(TOKEN_EXCHANGE_GRANT) => "token_exchange",
        _ => "other",
    };
    let result = grant(req, srv, &client, &params).await;
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
) -> Result<TokenResponse, OAuthError> {
    let now = srv.clock.now();
    match params.get("grant_type") {
        Some("authorization_code") => code::authorization_code(srv, client, params, now).await,
        Some("refresh_token") => refresh::refresh_token(srv, client, params, now).await,
        Some("client_credentials") => client_credentials::client_credentials(srv, client, params, now).await,
        Some(OTP_GRANT) => otp::otp(req, srv, client, params, now).await,
        Some(TOKEN_EXCHANGE_GRANT) => exchange::token_exchange(srv, client, params, now).await,
        None => Err(OAuthError::new(ErrorCode::InvalidRequest, "grant_type is required")),
        Some(_) => Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            "only authorization_code, refresh_token, client_credentials, token exchange and the passwordless OTP grant are supported",
        )),
    }
}
