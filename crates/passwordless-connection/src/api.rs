//! The JSON API for applications that draw their own sign-in screen, compatible with Auth0's
//! Authentication API so existing apps and SDKs can switch:
//! - `POST /passwordless/start` sends a code or a link (`connection` = `email` | `sms`,
//!   `send` = `code` | `link`, `authParams` for links), under the same limits as the hosted pages;
//! - the code becomes tokens at the authorization server's `POST /oauth/token` with Auth0's
//!   `passwordless/otp` grant, which calls [`OtpVerifier`] here.
//!
//! Answers never tell whether an account exists: known and unknown destinations get the same bytes.

use std::sync::Arc;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use domain::ports::{ApiStart, BoxFuture, OtpError, OtpRequest, OtpVerifier, StartError};
use domain::{
    Channel, EmailAddress, Interaction, InteractionKind, LoginMethod, LoginResult, PhoneNumber, StorageError,
};
use serde::Deserialize;
use serde_json::json;
use web_layer::Lang;

use crate::PasswordlessConnection;
use crate::abuse::{Refusal, check_send};
use crate::challenge::{Asking, Destination, FirstFactor, Origin, VerifyError, start_challenge, verify_code};
use crate::messages::Sent;
use crate::storage::Purpose;

#[derive(Deserialize)]
pub struct StartRequest {
    client_id: String,
    client_secret: Option<domain::Secret>,
    connection: String,
    email: Option<String>,
    phone_number: Option<String>,
    /// `link` (Auth0's default) or `code`; a text always carries a code.
    send: Option<String>,
    #[serde(rename = "authParams")]
    auth_params: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Why `/passwordless/start` refused, each as Auth0's Authentication API answers it:
/// `{"error", "error_description"}` with its status.
#[derive(Debug)]
enum ApiError {
    /// The body is not uncompressed JSON (415).
    NotJson,
    /// The body is not a start request.
    Malformed,
    /// The authorization server's refusal: the client, its `api_login`, or its `authParams`.
    Start(StartError),
    /// Something this client or server does not offer: `bad.connection`, `bad.send`, `bad.email`,
    /// `bad.phone_number`, and a description.
    Bad(&'static str, String),
    /// The abuse limits (429 with `Retry-After`, or the number's country).
    Refused(Refusal),
    /// Nothing could be sent right now (logged).
    Unavailable,
}

impl ApiError {
    fn respond(self) -> HttpResponse {
        let (status, code, description, retry) = match &self {
            ApiError::NotJson => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                "the body must be application/json, uncompressed".to_owned(),
                None,
            ),
            ApiError::Malformed => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body must be a JSON object with client_id and connection".to_owned(),
                None,
            ),
            ApiError::Start(e) => {
                let (status, code) = match e {
                    StartError::InvalidClient => (StatusCode::UNAUTHORIZED, "invalid_client"),
                    StartError::ApiLoginOff => (StatusCode::FORBIDDEN, "unauthorized_client"),
                    StartError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
                    StartError::Unavailable => return ApiError::Unavailable.respond(),
                };
                (status, code, e.to_string(), None)
            }
            ApiError::Bad(code, description) => (StatusCode::BAD_REQUEST, *code, description.clone(), None),
            ApiError::Refused(refusal) => refused(refusal),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "try again in a moment".to_owned(),
                Some(u64::from(web_layer::RETRY_AFTER_SECONDS)),
            ),
        };
        let mut resp = HttpResponse::build(status)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({ "error": code, "error_description": description }));
        if let Some(r) = retry {
            resp.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(r));
        }
        resp
    }
}

/// A refusal of the abuse limits, as Auth0 words it.
fn refused(refusal: &Refusal) -> (StatusCode, &'static str, String, Option<u64>) {
    let (status, code, description, retry) = match refusal {
        Refusal::Limited { retry_after } => {
            (StatusCode::TOO_MANY_REQUESTS, "too_many_requests", "too many messages were asked for", Some(*retry_after))
        }
        Refusal::TooSoon { retry_after } => (
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "a message was just sent; wait before asking again",
            Some(*retry_after),
        ),
        Refusal::Blocked => {
            (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", "too many wrong codes from this network", None)
        }
        Refusal::Country => (
            StatusCode::BAD_REQUEST,
            "bad.phone_number",
            "text messages cannot be sent to numbers in this country",
            None,
        ),
        Refusal::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "try again in a moment",
            Some(u64::from(web_layer::RETRY_AFTER_SECONDS)),
        ),
    };
    (status, code, description.to_owned(), retry)
}

/// `authParams` as authorization parameters: strings kept, numbers written out, the rest dropped.
fn auth_params(map: &serde_json::Map<String, serde_json::Value>) -> Vec<(String, String)> {
    map.iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k.clone(), s.clone())),
            serde_json::Value::Number(n) => Some((k.clone(), n.to_string())),
            _ => None,
        })
        .collect()
}

/// `POST /passwordless/start`.
pub async fn start(req: HttpRequest, body: web::Bytes, conn: web::Data<PasswordlessConnection>) -> HttpResponse {
    send(&req, &body, &conn).await.unwrap_or_else(ApiError::respond)
}

async fn send(req: &HttpRequest, body: &[u8], conn: &PasswordlessConnection) -> Result<HttpResponse, ApiError> {
    // JSON only: a browser cannot send it cross-site without a CORS preflight, which only
    // registered web origins pass.
    if web_layer::plain_media_type(req).as_deref() != Some("application/json") {
        return Err(ApiError::NotJson);
    }
    let request = serde_json::from_slice::<StartRequest>(body).map_err(|_| ApiError::Malformed)?;
    // The client, authenticated as at the token endpoint (a secret for confidential clients). The
    // API draws its own sign-in screen, so no browser is bound to the sign-in: only clients that
    // were allowed to may use it (the OTP grant checks the same setting).
    let client = conn
        .starter
        .api_client(request.client_id.clone(), request.client_secret.clone())
        .await
        .map_err(ApiError::Start)?;
    let (to, send_link) = destination(conn, &request, &client.settings)?;
    let params = request.auth_params.as_ref().map(auth_params).unwrap_or_default();
    let ui_locales = params.iter().find(|(k, _)| k == "ui_locales").map(|(_, v)| v.clone());
    let lang = Lang::of(req).pick(&conn.catalog, ui_locales.as_deref()).to_owned();
    let origin = Origin::of(req);
    check_send(conn, &origin, &to).await.map_err(ApiError::Refused)?;
    // A link ends at the client's redirect URI with an authorization code, so its `authParams` are
    // checked like an authorization request now, before anything is sent. A code needs none: its
    // interaction is never resumed, only its code is checked.
    let start = if send_link {
        ApiStart::Link { params }
    } else {
        ApiStart::Code { ui_locales, ttl: conn.config.channel(to.channel()).ttl }
    };
    let interaction = conn.starter.open(client.id.clone(), start).await.map_err(ApiError::Start)?;
    let sent = Sent { code: !send_link, link: send_link };
    match start_challenge(conn, &interaction, &to, Purpose::FirstFactor, sent, &origin, &lang).await {
        Ok(Some(_)) => {}
        Ok(None) => return Err(ApiError::Unavailable),
        Err(e) => {
            tracing::error!(error = %e, "challenge start");
            return Err(ApiError::Unavailable);
        }
    }
    // Auth0 answers with the destination, unverified as far as the caller may know.
    let body = match &to {
        Destination::Email(e) => json!({ "email": e.as_str(), "email_verified": false }),
        Destination::Phone(p) => json!({ "phone_number": p.as_str(), "phone_verified": false }),
    };
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(body))
}

/// Where the message goes, and whether it carries a link (else a code): `connection`, `send`,
/// and the address or number, for a method the client offers.
fn destination(
    conn: &PasswordlessConnection,
    request: &StartRequest,
    settings: &domain::ClientSettings,
) -> Result<(Destination, bool), ApiError> {
    let bad = |code: &'static str, description: &str| ApiError::Bad(code, description.to_owned());
    let send_link = match (request.connection.as_str(), request.send.as_deref()) {
        ("sms", None | Some("code")) => false,
        ("sms", Some(_)) => return Err(bad("bad.send", "a text message always carries a code")),
        ("email", None | Some("link")) => true,
        ("email", Some("code")) => false,
        ("email", Some(_)) => return Err(bad("bad.send", "send must be link or code")),
        _ => return Err(bad("bad.connection", "connection must be email or sms")),
    };
    let method = match (request.connection.as_str(), send_link) {
        ("sms", _) => LoginMethod::SmsCode,
        (_, true) => LoginMethod::EmailLink,
        _ => LoginMethod::EmailCode,
    };
    if !settings.allows(method) || (method == LoginMethod::SmsCode && !conn.config.sms_policy.available) {
        return Err(bad("bad.connection", &format!("{} is not enabled for this client", method.as_str())));
    }
    let to = match method {
        LoginMethod::SmsCode => {
            let raw = request.phone_number.as_deref().unwrap_or("");
            PhoneNumber::parse(raw, conn.phone_region(settings))
                .map(Destination::Phone)
                .map_err(|e| bad("bad.phone_number", &e.to_string()))?
        }
        _ => EmailAddress::parse(request.email.as_deref().unwrap_or(""))
            .map(Destination::Email)
            .map_err(|e| bad("bad.email", &e.to_string()))?,
    };
    Ok((to, send_link))
}

/// The OTP grant's check: the newest code the API sent this client for this destination.
async fn verify_otp(conn: &PasswordlessConnection, request: OtpRequest) -> Result<LoginResult, OtpError> {
    let store_error = |e: StorageError| {
        tracing::error!(error = %e, "OTP verification");
        OtpError::Unavailable
    };
    let method = if request.realm == Channel::Sms { LoginMethod::SmsCode } else { LoginMethod::EmailCode };
    if !request.client_settings.allows(method) {
        return Err(OtpError::MethodOff);
    }
    let to = match request.realm {
        Channel::Email => {
            EmailAddress::parse(&request.username).map(Destination::Email).map_err(|_| OtpError::Invalid)?
        }
        Channel::Sms => PhoneNumber::parse(&request.username, conn.phone_region(&request.client_settings))
            .map(Destination::Phone)
            .map_err(|_| OtpError::Invalid)?,
    };
    let challenge = conn.store.latest_challenge_for(&request.client_id, &to).await.map_err(store_error)?;
    // Only codes sent through the API: a sign-in started on the hosted pages finishes there.
    let from_api = match &challenge {
        Some(c) => matches!(
            conn.store.interaction(&c.interaction_id).await.map_err(store_error)?,
            Some(Interaction { kind: InteractionKind::ApiCode, .. })
        ),
        None => false,
    };
    let origin = Origin {
        ip: domain::ClientIp::new(request.ip),
        country: None,
        device: request.user_agent.as_deref().and_then(web_layer::describe_user_agent),
    };
    let challenge = if from_api { challenge } else { None };
    let asking = Asking {
        client_id: &request.client_id,
        client_hooks: &request.client_settings.hooks,
        client_name: None,
        origin: &origin,
    };
    let first = FirstFactor { asking, record: None };
    match verify_code(conn, &request.client_settings, challenge, request.otp.expose(), &origin, Some(&first)).await {
        Ok((_, Some(login))) => Ok(login),
        Ok((_, None)) => Err(OtpError::Invalid),
        Err(VerifyError::Blocked) => Err(OtpError::Blocked),
        Err(VerifyError::Unavailable) => Err(OtpError::Unavailable),
        Err(VerifyError::MethodOff) => Err(OtpError::MethodOff),
        Err(VerifyError::Store(e)) => Err(store_error(e)),
        Err(VerifyError::AccountBlocked) => Err(OtpError::AccountBlocked),
        Err(VerifyError::SignUpRefused(_)) => Err(OtpError::SignUpRefused),
        Err(_) => Err(OtpError::Invalid),
    }
}

/// The connection as the authorization server's OTP checker.
pub struct OtpGate(pub Arc<PasswordlessConnection>);

impl OtpVerifier for OtpGate {
    fn verify(&self, request: OtpRequest) -> BoxFuture<'_, Result<LoginResult, OtpError>> {
        Box::pin(verify_otp(&self.0, request))
    }
}
