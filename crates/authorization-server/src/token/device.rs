//! `grant_type=urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4): the device polls with
//! its device code until the user decides at `/device`. Pending, it hears `authorization_pending`,
//! or `slow_down` when it polls sooner than the interval; denied, `access_denied`; too late,
//! `expired_token`. Allowed, its request names an authorization code, redeemed as any other
//! (`code::redeem`), once: a second poll is a replay, which revokes what the first one got.

use domain::Client;

use super::code::redeem;
use crate::AuthorizationServer;
use crate::device::DEVICE_PURPOSE;
use crate::errors::{ErrorCode, OAuthError, internal};
use crate::mint::TokenResponse;
use crate::params::Params;

pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

const INVALID: OAuthError = OAuthError::new(ErrorCode::InvalidGrant, "the device_code is invalid or was already used");

pub(super) async fn device_code(
    srv: &AuthorizationServer,
    client: &Client,
    params: &Params,
    jkt: Option<&str>,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let presented =
        params.get("device_code").ok_or(OAuthError::new(ErrorCode::InvalidRequest, "device_code is required"))?;
    if presented.len() > 256 {
        return Err(INVALID);
    }
    let hash = srv.hasher.hash(DEVICE_PURPOSE, presented).0;
    let polled = srv.store.poll_device_code(&hash, now).await.map_err(|e| internal("device poll", &e))?;
    // Another client's device code is as good as none (RFC 6749 §10.4).
    let device = polled.filter(|d| d.client_id == client.id).ok_or(INVALID)?;
    if device.denied_at.is_some() {
        return Err(OAuthError::new(ErrorCode::AccessDenied, "the user denied the device"));
    }
    let Some(code_hash) = device.code_hash else {
        if device.expires_at <= now {
            return Err(OAuthError::new(ErrorCode::ExpiredToken, "the device_code has expired: start again"));
        }
        // §3.5: polled sooner than the interval after the last poll.
        if device.polled_at.is_some_and(|at| now - at < device.poll_interval) {
            return Err(OAuthError::new(ErrorCode::SlowDown, "poll no more often than the interval"));
        }
        return Err(OAuthError::new(ErrorCode::AuthorizationPending, "the user has not decided yet"));
    };
    let record = srv.store.authorization_code(code_hash.clone()).await.map_err(|e| internal("code lookup", &e))?;
    let record = record.filter(|r| r.client_id == client.id).ok_or(INVALID)?;
    if record.expires_at <= now {
        return Err(OAuthError::new(ErrorCode::ExpiredToken, "the device_code has expired: start again"));
    }
    redeem(srv, client, &record, code_hash, "device_code", jkt, now).await
}
