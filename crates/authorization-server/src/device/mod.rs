//! The Device Authorization Grant (RFC 8628), for devices that cannot show a sign-in page (a TV, a
//! command-line tool): the device asks `POST /device_authorization` for a `device_code` and a short
//! `user_code`; the user types the user code at `/device` on a phone or computer, signs in there as
//! on any login page, and allows the device (`pages`); the device polls the token endpoint with its
//! device code (`token::device`). Off for every client unless its operator or its registration
//! turns it on (`settings.device_grant`): the flow can be abused to phish (RFC 8628 §5.4), so the
//! confirmation page names the application and the account.

pub(crate) mod pages;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::secret::{random_from, random_token};
use domain::{ClientId, Scope, StorageError};

use crate::AuthorizationServer;
use crate::errors::{ErrorCode, OAuthError, internal};

/// The purposes of the keyed hashes the two codes are kept as.
pub(crate) const DEVICE_PURPOSE: &str = "device-code";
const USER_PURPOSE: &str = "device-user-code";
/// RFC 8628 §6.1: letters only, no vowels (no words), none easily confused; 8 of 20 letters is
/// about 34 bits, against an attacker limited to a few guesses an hour per network.
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LENGTH: usize = 8;
/// How long a device request lives, and how often the device may poll (§3.2), seconds.
pub const EXPIRES_IN: i64 = 600;
pub const INTERVAL: i64 = 5;

/// A device's request as kept (the codes only as keyed hashes).
#[derive(Clone, Debug)]
pub struct DeviceCode {
    pub device_code_hash: Vec<u8>,
    pub user_code_hash: Vec<u8>,
    pub client_id: ClientId,
    pub scope: Scope,
    pub created_at: i64,
    pub expires_at: i64,
    pub poll_interval: i64,
    /// The device's last poll (for `slow_down`).
    pub polled_at: Option<i64>,
    pub approved_at: Option<i64>,
    pub denied_at: Option<i64>,
    /// Once allowed: the authorization code the device's poll redeems.
    pub code_hash: Option<Vec<u8>>,
}

/// Where device requests are kept.
#[async_trait::async_trait]
pub trait DeviceStore: Send + Sync {
    async fn insert_device_code(&self, code: &DeviceCode) -> Result<(), StorageError>;

    /// The request a user code names, while it is live and undecided.
    async fn device_by_user_code(&self, user_code_hash: &[u8], now: i64) -> Result<Option<DeviceCode>, StorageError>;

    /// The request a device code names while it is live and undecided.
    async fn waiting_device_code(&self, device_code_hash: &[u8], now: i64) -> Result<Option<DeviceCode>, StorageError>;

    /// The request a device code names, as it was before this poll, which is recorded (`polled_at`).
    async fn poll_device_code(&self, device_code_hash: &[u8], now: i64) -> Result<Option<DeviceCode>, StorageError>;

    /// Decides a live, undecided request once: allowed, with the code the device will redeem, or
    /// denied (`None`). False when it was decided before or has expired.
    async fn decide_device_code(
        &self,
        device_code_hash: &[u8],
        code_hash: Option<Vec<u8>>,
        now: i64,
    ) -> Result<bool, StorageError>;
}

/// A user code as typed: letters of the alphabet, in any case, with any dashes or spaces.
pub(crate) fn normalise_user_code(typed: &str) -> Option<String> {
    let code: String =
        typed.chars().filter(|c| !matches!(c, '-' | ' ')).map(|c| c.to_ascii_uppercase()).take(32).collect();
    (code.len() == USER_CODE_LENGTH && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b))).then_some(code)
}

pub(crate) fn user_code_hash(srv: &AuthorizationServer, normalised: &str) -> Vec<u8> {
    srv.hasher.hash(USER_PURPOSE, normalised).0
}

/// `POST /device_authorization` (RFC 8628 §3.1): the client authenticates as at the token endpoint
/// (a public client names itself) and asks for a scope; §3.2's answer, or RFC 6749 §5.2 JSON.
pub async fn device_authorization(
    req: HttpRequest,
    body: web::Bytes,
    srv: web::Data<AuthorizationServer>,
) -> HttpResponse {
    match start(&req, &body, &srv).await {
        Ok(answer) => HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(answer),
        Err(e) => e.to_token_response(),
    }
}

async fn start(req: &HttpRequest, body: &[u8], srv: &AuthorizationServer) -> Result<serde_json::Value, OAuthError> {
    let (client, params) = crate::clients::read_client_form(req, body, srv).await?;
    if !client.settings.device_grant {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "this client may not use the device grant"));
    }
    let scope = crate::authorize::check_scope(&client, &params)?;
    // Each request is a stored row anyone holding a public client's id can ask for.
    crate::authorize::check_interaction_budget(req, srv).await?;
    let now = srv.clock.now();
    let device_code = random_token(32);
    let mut user_code = random_from(USER_CODE_ALPHABET, USER_CODE_LENGTH);
    let mut record = DeviceCode {
        device_code_hash: srv.hasher.hash(DEVICE_PURPOSE, &device_code).0,
        user_code_hash: user_code_hash(srv, &user_code),
        client_id: client.id.clone(),
        scope,
        created_at: now,
        expires_at: now + EXPIRES_IN,
        poll_interval: INTERVAL,
        polled_at: None,
        approved_at: None,
        denied_at: None,
        code_hash: None,
    };
    // A user code is unique among the stored ones: on the rare clash, another is drawn once.
    if srv.store.insert_device_code(&record).await.is_err() {
        user_code = random_from(USER_CODE_ALPHABET, USER_CODE_LENGTH);
        record.user_code_hash = user_code_hash(srv, &user_code);
        srv.store.insert_device_code(&record).await.map_err(|e| internal("device code insert", &e))?;
    }
    // §6.1: shown in two groups of four, easier to read out and type.
    let shown = format!("{}-{}", &user_code[..4], &user_code[4..]);
    let verification_uri = srv.config.endpoint(crate::paths::DEVICE);
    Ok(serde_json::json!({
        "device_code": device_code,
        "user_code": shown,
        "verification_uri": verification_uri,
        // §3.3.1: the code already filled in (a QR code on the device, for instance).
        "verification_uri_complete": format!("{verification_uri}?user_code={shown}"),
        "expires_in": EXPIRES_IN,
        "interval": INTERVAL,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_read_as_people_type_them() {
        assert_eq!(normalise_user_code("wdjb-mjht").as_deref(), Some("WDJBMJHT"));
        assert_eq!(normalise_user_code(" WDJB MJHT ").as_deref(), Some("WDJBMJHT"));
        assert_eq!(normalise_user_code("WDJB-MJH"), None, "too short");
        assert_eq!(normalise_user_code("WDJB-MJHA"), None, "a vowel is never in a code");
        assert_eq!(normalise_user_code("WDJB-MJH1"), None);
    }
}
