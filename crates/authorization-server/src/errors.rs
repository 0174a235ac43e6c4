//! OAuth errors are values with a fixed public description; causes go to the log, never to the
//! client (RFC 6749 §5.2: `error_description` is US-ASCII without `"` or `\`; we also keep it free
//! of CR/LF/TAB and internal detail).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};

/// The error codes of the protocol: RFC 6749 §4.1.2.1 and §5.2, RFC 7009 §2.2.1, OIDC Core
/// §3.1.2.6 and §6, OpenID Connect Core Unmet Authentication Requirements 1.0, RFC 9449 (DPoP),
/// and Auth0's own answers for the passwordless grant (`too_many_attempts`, `mfa_required`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    UnsupportedResponseType,
    ServerError,
    TemporarilyUnavailable,
    InteractionRequired,
    LoginRequired,
    InvalidRequestObject,
    InvalidRequestUri,
    UnmetAuthenticationRequirements,
    UnsupportedTokenType,
    /// RFC 8693 §2.2.2: the audience or resource asked for is not one tokens are issued for.
    InvalidTarget,
    TooManyAttempts,
    MfaRequired,
    /// RFC 9449 §5, §7.1: the DPoP proof is missing where needed, malformed or does not verify.
    InvalidDpopProof,
    /// RFC 9449 §8: the proof must carry the nonce in the answer's `DPoP-Nonce` header.
    UseDpopNonce,
    /// RFC 8628 §3.5: the user has not decided yet; poll again after the interval.
    AuthorizationPending,
    /// RFC 8628 §3.5: polling too fast; add 5 seconds to the interval.
    SlowDown,
    /// RFC 8628 §3.5: the device code has expired; start again.
    ExpiredToken,
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::InvalidRequestObject => "invalid_request_object",
            ErrorCode::InvalidRequestUri => "invalid_request_uri",
            ErrorCode::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::TooManyAttempts => "too_many_attempts",
            ErrorCode::MfaRequired => "mfa_required",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::UseDpopNonce => "use_dpop_nonce",
            ErrorCode::AuthorizationPending => "authorization_pending",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::ExpiredToken => "expired_token",
        }
    }

    /// The status of a JSON error answer (the token, revocation and introspection endpoints):
    /// `invalid_client` is 401 (the client may have used HTTP Basic), `server_error` 500, and a
    /// refusal by policy 403, as Auth0 answers.
    pub const fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::MfaRequired | ErrorCode::AccessDenied => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answer: its code, and a fixed description for the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OAuthError {
    pub error: ErrorCode,
    pub description: &'static str,
}

impl OAuthError {
    pub const fn new(error: ErrorCode, description: &'static str) -> Self {
        Self { error, description }
    }

    /// RFC 6749 §5.2 JSON. `invalid_client` is 401 with `WWW-Authenticate` (the client may have used
    /// HTTP Basic); `server_error` is 500 and says nothing more; `temporarily_unavailable` is 503
    /// with `Retry-After`.
    pub fn to_token_response(self) -> HttpResponse {
        let status = self.error.status();
        let mut resp = HttpResponse::build(status);
        resp.insert_header((header::CACHE_CONTROL, "no-store"));
        if status == StatusCode::UNAUTHORIZED {
            resp.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"ostiary\"")));
        }
        let mut resp =
            resp.json(serde_json::json!({ "error": self.error.as_str(), "error_description": self.description }));
        web_layer::retry_later(&mut resp);
        resp
    }
}

pub const SERVER_ERROR: OAuthError = OAuthError::new(ErrorCode::ServerError, "server_error");

/// The database is away: RFC 6749 §5.2 and §4.1.2.1 `temporarily_unavailable`, 503.
pub const UNAVAILABLE: OAuthError =
    OAuthError::new(ErrorCode::TemporarilyUnavailable, "the service is temporarily unavailable; try again shortly");

/// Logs the cause of a 5xx with its chain and returns the bare answer: `temporarily_unavailable`
/// while the database is away, `server_error` for anything else ([`web_layer::failure_status`]).
pub fn internal(context: &'static str, err: &(dyn std::error::Error + 'static)) -> OAuthError {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    tracing::error!(error = %chain, "{context}");
    match web_layer::failure_status(err) {
        StatusCode::SERVICE_UNAVAILABLE => UNAVAILABLE,
        _ => SERVER_ERROR,
    }
}
