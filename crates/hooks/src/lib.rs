//! Hooks: the operator's own logic in the sign-in pipeline, kept in the operator's own service.
//! A hook is an HTTP endpoint Ostiary calls at a step and waits for: it POSTs JSON signed per the
//! Standard Webhooks specification ([`signing`]) and reads a decision back
//! (`{"decision": "allow" | "deny" | "require_mfa", "message": "…", "claims": {…}}`). Each hook
//! has a timeout and a declared failure mode: `fail_closed` refuses the step when the hook fails,
//! `fail_open` goes on and logs it.
#![forbid(unsafe_code)]

mod settings;
pub mod signing;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use settings::{HookSettings, Hooks, HooksSettings, OnFailure, Step, StepHooks};
pub use signing::SigningSecret;

/// The largest answer a hook may give, in bytes.
pub const MAX_ANSWER: usize = 16 * 1024;
/// The largest set of claims a hook may add, as JSON, in bytes.
pub const MAX_CLAIMS: usize = 4 * 1024;
/// How long a timestamp may be off when a receiver verifies a signature (the specification's
/// suggestion), in seconds.
pub const TOLERANCE: i64 = 300;

/// What the hook decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Deny,
    RequireMfa,
}

/// A hook's answer. Unknown members are refused, so that a misspelt one is an error, not ignored.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    pub decision: Decision,
    /// Shown to the user with a denial (at most 300 characters are kept).
    #[serde(default)]
    pub message: Option<String>,
    /// Claims to add to the tokens (`before_token`).
    #[serde(default)]
    pub claims: Map<String, Value>,
}

impl Answer {
    /// The answer a `fail_open` hook stands for.
    pub fn allow() -> Self {
        Answer { decision: Decision::Allow, message: None, claims: Map::new() }
    }

    /// The message, trimmed, without control characters, at most 300 characters.
    pub fn shown_message(&self) -> Option<String> {
        let m: String = self.message.as_deref()?.chars().filter(|c| !c.is_control()).take(300).collect();
        let m = m.trim();
        (!m.is_empty()).then(|| m.to_owned())
    }
}

/// Why a hook gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("the hook did not answer within {0} ms")]
    Timeout(u64),
    #[error("the hook could not be reached: {0}")]
    Unreachable(String),
    #[error("the hook answered HTTP {0}")]
    Status(u16),
    #[error("the hook's answer is larger than {MAX_ANSWER} bytes")]
    TooLarge,
    #[error("the hook's answer is not one: {0}")]
    Malformed(String),
}

impl HookError {
    fn label(&self) -> &'static str {
        match self {
            HookError::Timeout(_) => "timeout",
            HookError::Unreachable(_) => "unreachable",
            HookError::Status(_) => "status",
            HookError::TooLarge => "too_large",
            HookError::Malformed(_) => "malformed",
        }
    }
}

/// A configured hook, ready to call.
pub struct Hook {
    name: &'static str,
    settings: HookSettings,
    http: reqwest::Client,
}

/// The claims no hook may set: the ones that say who, for whom, when and how (OIDC Core §2,
/// RFC 9068 §2.2, RFC 7519 §4.1).
pub const RESERVED_CLAIMS: [&str; 21] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "at_hash",
    "sid",
    "nbf",
    "jti",
    "client_id",
    "scope",
    // The user claims the `claims` parameter asked `/userinfo` for (in the access token).
    "userinfo_claims",
    // Delegation (RFC 8693 §4.1, §4.4), confirmation keys (RFC 7800) and security events
    // (RFC 8417, logout tokens): a hook must not forge an actor, a binding or an event.
    "act",
    "may_act",
    "cnf",
    "events",
];

/// Checks claims a hook would add: none reserved or already set (`taken`), and at most
/// [`MAX_CLAIMS`] bytes of JSON.
pub fn check_claims(claims: &Map<String, Value>, taken: &Map<String, Value>) -> Result<(), HookError> {
    if let Some(name) = claims.keys().find(|k| RESERVED_CLAIMS.contains(&k.as_str()) || taken.contains_key(*k)) {
        return Err(HookError::Malformed(format!("the claim {name:?} is Ostiary's to set")));
    }
    if serde_json::to_vec(claims).map_or(usize::MAX, |b| b.len()) > MAX_CLAIMS {
        return Err(HookError::Malformed(format!("the claims are larger than {MAX_CLAIMS} bytes")));
    }
    Ok(())
}

impl Hook {
    pub fn new(name: &'static str, settings: HookSettings) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(settings.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ostiary/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("hooks.{name}: cannot build the HTTP client: {e}"))?;
        Ok(Hook { name, settings, http })
    }

    /// The hook `settings` configure, if they do.
    pub fn configured(settings: &Option<HookSettings>, name: &'static str) -> Result<Option<Arc<Hook>>, String> {
        settings.clone().map(|s| Hook::new(name, s).map(Arc::new)).transpose()
    }

    pub fn on_failure(&self) -> OnFailure {
        self.settings.on_failure
    }

    /// Calls the hook with `payload` (sent with `"type"`, the hook's name, and a timestamp) and
    /// reads its answer, within the timeout.
    pub async fn call(&self, payload: Value, now: i64) -> Result<Answer, HookError> {
        let started = std::time::Instant::now();
        let result = self.ask(payload, now).await;
        let outcome = match &result {
            Ok(a) => match a.decision {
                Decision::Allow => "allow",
                Decision::Deny => "deny",
                Decision::RequireMfa => "require_mfa",
            },
            Err(e) => e.label(),
        };
        metrics::counter!("ostiary_hook_calls_total", "hook" => self.name, "outcome" => outcome).increment(1);
        metrics::histogram!("ostiary_hook_seconds", "hook" => self.name).record(started.elapsed().as_secs_f64());
        result
    }

    /// What the step makes of a call: the answer; a failure refuses the step under `fail_closed`
    /// and allows it, logged, under `fail_open`.
    pub async fn decide(&self, payload: Value, now: i64) -> Result<Answer, HookError> {
        match (self.call(payload, now).await, self.settings.on_failure) {
            (Ok(answer), _) => Ok(answer),
            (Err(e), OnFailure::FailOpen) => {
                tracing::warn!(hook = self.name, error = %e, "the hook failed; going on (fail_open)");
                Ok(Answer::allow())
            }
            (Err(e), OnFailure::FailClosed) => {
                tracing::error!(hook = self.name, error = %e, "the hook failed; the step is refused (fail_closed)");
                Err(e)
            }
        }
    }

    async fn ask(&self, mut payload: Value, now: i64) -> Result<Answer, HookError> {
        if let Some(object) = payload.as_object_mut() {
            object.insert("type".into(), self.name.into());
            object.insert("timestamp".into(), now.into());
        }
        let body = serde_json::to_vec(&payload).map_err(|e| HookError::Malformed(e.to_string()))?;
        let id = format!("msg_{}", domain::secret::random_token(16));
        let timeout = self.settings.timeout_ms;
        let request =
            self.settings.secret.post(&self.http, &self.settings.url, Duration::from_millis(timeout), &id, now, body);
        let failed = |e: reqwest::Error| match e.is_timeout() {
            true => HookError::Timeout(timeout),
            false => HookError::Unreachable(e.to_string()),
        };
        let mut resp = request.send().await.map_err(failed)?;
        if !resp.status().is_success() {
            return Err(HookError::Status(resp.status().as_u16()));
        }
        let mut answer = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(failed)? {
            if answer.len() + chunk.len() > MAX_ANSWER {
                return Err(HookError::TooLarge);
            }
            answer.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&answer).map_err(|e| HookError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests;
