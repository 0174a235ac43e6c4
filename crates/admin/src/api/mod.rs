//! The admin JSON API (`/api/admin/v1`): bearer tokens from the `client_credentials` grant with
//! the `admin` scope (RFC 6750), JSON only, optimistic concurrency with `ETag` / `If-Match`
//! (RFC 9110 §8.8.3, §13.1.1, and RFC 6585 §3 for 428), and every refusal as
//! `{"error", "error_description", "field"}`.

pub mod clients;
pub mod lifecycle;
pub mod oversight;
pub mod passkeys;
mod schemas;
pub mod sessions;
pub mod spec;
pub mod transfer;
pub mod users;
pub mod webhooks;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::de::DeserializeOwned;

use crate::Admin;
use crate::storage::Actor;

/// The scope an access token needs here.
pub const ADMIN_SCOPE: &str = "admin";
/// The largest request body read (a user, a client): anything bigger is refused, not truncated.
pub const MAX_BODY: usize = 64 * 1024;

/// Why a call was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ApiError {
    /// No bearer token (RFC 6750 §3.1: no error code, only the challenge).
    NoToken,
    /// Not a live token of ours.
    InvalidToken,
    /// A live token without the `admin` scope, or from a client no longer allowed (RFC 6750 §3.1).
    InsufficientScope,
    /// The body is not JSON (415).
    NotJson,
    /// The request is malformed: bad JSON, an unknown or mistyped member (400).
    Malformed {
        field: Option<String>,
        description: String,
    },
    /// A value that is well-formed but not acceptable (422).
    Invalid {
        field: String,
        description: String,
    },
    /// Another record already holds a unique value (409).
    Conflict {
        field: String,
        description: String,
    },
    NotFound,
    /// A change without `If-Match` (428).
    PreconditionRequired,
    /// A change made from an old version (412), with the record as it is now when known, so the
    /// caller sees both versions.
    PreconditionFailed(Option<Box<serde_json::Value>>),
    /// The storage failed (logged where it happened).
    Unavailable,
}

impl ApiError {
    pub fn malformed(field: &str, description: impl Into<String>) -> Self {
        ApiError::Malformed { field: Some(field.to_owned()), description: description.into() }
    }

    pub fn invalid(field: &str, description: impl ToString) -> Self {
        ApiError::Invalid { field: field.to_owned(), description: description.to_string() }
    }

    /// A 412 that also shows the record as it is now.
    pub fn with_current(self, current: serde_json::Value) -> Self {
        match self {
            ApiError::PreconditionFailed(_) => ApiError::PreconditionFailed(Some(Box::new(current))),
            other => other,
        }
    }

    pub fn storage(context: &'static str, e: &domain::StorageError) -> Self {
        tracing::error!(error = %e, "admin API: {context}");
        ApiError::Unavailable
    }

    pub(crate) fn parts(&self) -> (StatusCode, &'static str, String, Option<&str>) {
        match self {
            ApiError::NoToken => (StatusCode::UNAUTHORIZED, "invalid_token", "a bearer token is required".into(), None),
            ApiError::InvalidToken => {
                (StatusCode::UNAUTHORIZED, "invalid_token", "the token is expired, revoked or not ours".into(), None)
            }
            ApiError::InsufficientScope => {
                (StatusCode::FORBIDDEN, "insufficient_scope", "the token does not have the admin scope".into(), None)
            }
            ApiError::NotJson => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                "the body must be application/json".into(),
                None,
            ),
            ApiError::Malformed { field, description } => {
                (StatusCode::BAD_REQUEST, "invalid_request", description.clone(), field.as_deref())
            }
            ApiError::Invalid { field, description } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", description.clone(), Some(field))
            }
            ApiError::Conflict { field, description } => {
                (StatusCode::CONFLICT, "conflict", description.clone(), Some(field))
            }
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found", "no such record".into(), None),
            ApiError::PreconditionRequired => (
                StatusCode::PRECONDITION_REQUIRED,
                "precondition_required",
                "send If-Match with the ETag of the version you edited".into(),
                None,
            ),
            ApiError::PreconditionFailed(_) => (
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                "changed by someone else since you read it: read it again and reapply your change".into(),
                None,
            ),
            ApiError::Unavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "try again shortly".into(), None)
            }
        }
    }

    pub fn respond(&self) -> HttpResponse {
        let (status, error, description, field) = self.parts();
        let mut res = HttpResponse::build(status);
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        // RFC 6750 §3: a refused bearer token is answered with its challenge.
        let challenge = match self {
            ApiError::NoToken => Some("Bearer realm=\"ostiary-admin\"".to_owned()),
            ApiError::InvalidToken | ApiError::InsufficientScope => Some(format!(
                "Bearer realm=\"ostiary-admin\", error=\"{error}\"{}",
                if *self == ApiError::InsufficientScope { ", scope=\"admin\"" } else { "" }
            )),
            _ => None,
        };
        if let Some(c) = challenge {
            res.insert_header((header::WWW_AUTHENTICATE, c));
        }
        let mut body = serde_json::json!({ "error": error, "error_description": description });
        if let Some(f) = field {
            body["field"] = serde_json::json!(f);
        }
        if let ApiError::PreconditionFailed(Some(current)) = self {
            body["current"] = (**current).clone();
        }
        let mut res = res.json(body);
        web_layer::retry_later(&mut res);
        res
    }
}

/// The caller, when its bearer token is a live `admin` token of a client still allowed to use the
/// admin API; checked on every call, so turning `admin_api` off takes effect at once.
pub async fn authenticate(req: &HttpRequest, admin: &Admin) -> Result<Actor, ApiError> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::NoToken)?;
    let info = admin.tokens.inspect(token).await.map_err(|_| ApiError::Unavailable)?.ok_or(ApiError::InvalidToken)?;
    if !info.scope.contains(ADMIN_SCOPE) {
        return Err(ApiError::InsufficientScope);
    }
    let client = admin.store.client(&info.client_id).await.map_err(|e| ApiError::storage("client lookup", &e))?;
    // A `client_credentials` token's subject is its client: a user's token never passes.
    if !client.is_some_and(|c| c.settings.admin_api && !c.is_disabled()) || info.subject != info.client_id.as_str() {
        return Err(ApiError::InsufficientScope);
    }
    Ok(Actor::Client { client_id: info.client_id })
}

/// The body as JSON of type `T`: only uncompressed `application/json`, at most [`MAX_BODY`]
/// (refused, not truncated, with this API's own error).
pub async fn json_body<T: DeserializeOwned>(req: &HttpRequest, payload: web::Payload) -> Result<T, ApiError> {
    if web_layer::plain_media_type(req).as_deref() != Some("application/json") {
        return Err(ApiError::NotJson);
    }
    parse(&read_body(payload).await?)
}

/// [`json_body`] for a body that may be left out: an empty one (however it was sent) is `T`'s default.
pub async fn optional_json_body<T: DeserializeOwned + Default>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, ApiError> {
    let body = read_body(payload).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    if web_layer::plain_media_type(req).as_deref() != Some("application/json") {
        return Err(ApiError::NotJson);
    }
    parse(&body)
}

async fn read_body(payload: web::Payload) -> Result<web::Bytes, ApiError> {
    let too_big = || ApiError::Malformed { field: None, description: format!("the body is over {MAX_BODY} bytes") };
    payload
        .to_bytes_limited(MAX_BODY)
        .await
        .map_err(|_| too_big())?
        .map_err(|_| ApiError::Malformed { field: None, description: "the body could not be read".into() })
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::Malformed { field: None, description: format!("{e}") })
}

/// Runs a handler body: its refusal becomes the API's error answer.
pub async fn run(f: impl std::future::Future<Output = Result<HttpResponse, ApiError>>) -> HttpResponse {
    f.await.unwrap_or_else(|e| e.respond())
}

/// The longest reason an admin gives (for a block, or for vouching for an address).
pub const MAX_REASON: usize = 500;

/// An admin's reason: trimmed, empty for none, refused when longer than [`MAX_REASON`] or not one
/// line (it reaches the audit log and the console).
pub fn reason(text: Option<&str>) -> Result<Option<String>, ApiError> {
    let reason = text.map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > MAX_REASON || r.chars().any(char::is_control)) {
        return Err(ApiError::invalid("reason", format!("at most {MAX_REASON} characters on one line")));
    }
    Ok(reason.map(str::to_owned))
}

/// Whether `id` can be one of our ids (base64url, short): anything else is no record at all.
pub fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The strong entity tag of a record at `version` (RFC 9110 §8.8.3).
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// Whether `If-Match` (RFC 9110 §13.1.1) admits the record at `version`: 428 when it is missing,
/// 412 when no tag in it is the current one. `*` admits any existing record.
pub fn check_if_match(req: &HttpRequest, version: i64) -> Result<(), ApiError> {
    let values: Vec<&str> = req.headers().get_all(header::IF_MATCH).filter_map(|v| v.to_str().ok()).collect();
    if values.is_empty() {
        return Err(ApiError::PreconditionRequired);
    }
    let current = etag(version);
    // Strong comparison: a weak tag (`W/"…"`) never matches.
    let matches = values.iter().flat_map(|v| v.split(',')).map(str::trim).any(|t| t == "*" || t == current);
    if matches { Ok(()) } else { Err(ApiError::PreconditionFailed(None)) }
}
