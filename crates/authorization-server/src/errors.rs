//! OAuth errors are values with a fixed public description; causes go to the log, never to the
//! client (RFC 6749 §5.2: `error_description` is US-ASCII without `"` or `\`; we also keep it free
//! of CR/LF/TAB and internal detail).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: &'static str,
}

impl OAuthError {
    pub const fn new(error: &'static str, description: &'static str) -> Self {
        Self { error, description }
    }

    /// RFC 6749 §5.2 JSON. `invalid_client` is 401 with `WWW-Authenticate` (the client may have used
    /// HTTP Basic); `server_error` is 500 and says nothing more.
    pub fn to_token_response(self) -> HttpResponse {
        let status = match self.error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            // Auth0's brute-force answer, as /passwordless/start gives it too.
            "too_many_attempts" => StatusCode::TOO_MANY_REQUESTS,
            // Auth0's answers when a sign-in needs a second factor or is refused by policy.
            "mfa_required" | "access_denied" => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        };
        let mut resp = HttpResponse::build(status);
        resp.insert_header((header::CACHE_CONTROL, "no-store"));
        if status == StatusCode::UNAUTHORIZED {
            resp.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"ostiary\"")));
        }
        resp.json(serde_json::json!({ "error": self.error, "error_description": self.description }))
    }
}

pub const SERVER_ERROR: OAuthError = OAuthError::new("server_error", "server_error");

/// Logs the cause of a 5xx with its chain and returns the bare `server_error`.
pub fn internal(context: &'static str, err: &dyn std::error::Error) -> OAuthError {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    tracing::error!(error = %chain, "{context}");
    SERVER_ERROR
}
