//! Hooks: the operator's own logic in the sign-in pipeline, kept in the operator's own service.
//! A hook is an HTTP endpoint Ostiary calls at a step and waits for: it POSTs JSON signed per the
//! Standard Webhooks specification ([`signing`]) and reads a decision back
//! (`{"decision": "allow" | "deny" | "require_mfa", "message": "…", "claims": {…}}`). Each hook
//! has a timeout and a declared failure mode: `fail_closed` refuses the step when the hook fails,
//! `fail_open` goes on and logs it.
#![forbid(unsafe_code)]

pub mod signing;
pub mod webhooks;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use signing::SigningSecret;

/// The largest answer a hook may give, in bytes.
pub const MAX_ANSWER: usize = 16 * 1024;
/// The largest set of claims a hook may add, as JSON, in bytes.
pub const MAX_CLAIMS: usize = 4 * 1024;
/// How long a timestamp may be off when a receiver verifies a signature (the specification's
/// suggestion), in seconds.
pub const TOLERANCE: i64 = 300;

/// What a hook does when it cannot be asked (unreachable, too slow, an error status, an answer
/// that is not one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// The step is refused.
    #[default]
    FailClosed,
    /// The step goes on as if the hook had allowed it; the failure is logged and counted.
    FailOpen,
}

fn two_seconds() -> u64 {
    2000
}

/// One hook's settings (`[hooks.NAME]`): `url`, `secret`, `timeout_ms`, `on_failure`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookSettings {
    /// An `https://` URL (`http://` only in development: the server checks).
    pub url: String,
    /// The Standard Webhooks secret, `whsec_` and base64.
    pub secret: SigningSecret,
    /// How long Ostiary waits for the answer: 100 ms to 10 s (default 2 s).
    #[serde(default = "two_seconds", deserialize_with = "domain::settings::within::<_, _, 100, 10000>")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub on_failure: OnFailure,
}

/// The decision hooks of the clients that name a label (`[hooks.clients.LABEL]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepHooks {
    pub before_user_created: Option<HookSettings>,
    pub after_first_factor: Option<HookSettings>,
    pub before_token: Option<HookSettings>,
}

/// `[hooks]`: the hooks a deployment calls, each optional; and other hooks for the clients that
/// choose them (a client's `settings.hooks`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HooksSettings {
    /// Before an unknown email address or phone number becomes an account: it may deny, with a
    /// message shown to the user.
    pub before_user_created: Option<HookSettings>,
    /// After the code, link or passkey, before step-up decides (the hosted pages and the
    /// passwordless API): it may deny, or require a second factor, with a reason.
    pub after_first_factor: Option<HookSettings>,
    /// Before an ID token or access token is minted (code, refresh and OTP grants): it may add
    /// claims, or deny (`access_denied`).
    pub before_token: Option<HookSettings>,
    /// The operator's own sender of email and text messages: the delivery provider `hook`.
    pub send_message: Option<HookSettings>,
    /// `[hooks.clients.LABEL.NAME]`: the hooks of the clients whose `settings.hooks.NAME` is `LABEL`.
    #[serde(default)]
    pub clients: BTreeMap<String, StepHooks>,
}

/// The three decision hooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    BeforeUserCreated = 0,
    AfterFirstFactor = 1,
    BeforeToken = 2,
}

impl Step {
    pub const ALL: [Step; 3] = [Step::BeforeUserCreated, Step::AfterFirstFactor, Step::BeforeToken];

    pub fn name(self) -> &'static str {
        match self {
            Step::BeforeUserCreated => "before_user_created",
            Step::AfterFirstFactor => "after_first_factor",
            Step::BeforeToken => "before_token",
        }
    }

    /// A client's choice for this hook.
    pub fn choice(self, hooks: &domain::ClientHooks) -> Option<&str> {
        match self {
            Step::BeforeUserCreated => hooks.before_user_created.as_deref(),
            Step::AfterFirstFactor => hooks.after_first_factor.as_deref(),
            Step::BeforeToken => hooks.before_token.as_deref(),
        }
    }
}

impl StepHooks {
    fn get(&self, step: Step) -> &Option<HookSettings> {
        match step {
            Step::BeforeUserCreated => &self.before_user_created,
            Step::AfterFirstFactor => &self.after_first_factor,
            Step::BeforeToken => &self.before_token,
        }
    }

    fn build(&self) -> Result<[Option<Arc<Hook>>; 3], String> {
        let mut out: [Option<Arc<Hook>>; 3] = Default::default();
        for step in Step::ALL {
            out[step as usize] = Hook::configured(self.get(step), step.name())?;
        }
        Ok(out)
    }
}

impl HooksSettings {
    /// The deployment's decision hooks.
    fn deployment(&self) -> StepHooks {
        StepHooks {
            before_user_created: self.before_user_created.clone(),
            after_first_factor: self.after_first_factor.clone(),
            before_token: self.before_token.clone(),
        }
    }

    /// Every problem with the hooks' URLs (`https://` required outside development) and labels.
    pub fn validate(&self, production: bool, problems: &mut Vec<String>) {
        let deployment = self.deployment();
        let mut all: Vec<(String, &HookSettings)> = Vec::new();
        for step in Step::ALL {
            all.extend(deployment.get(step).iter().map(|h| (step.name().to_owned(), h)));
            for (label, hooks) in &self.clients {
                all.extend(hooks.get(step).iter().map(|h| (format!("clients.{label}.{}", step.name()), h)));
            }
        }
        all.extend(self.send_message.iter().map(|h| ("send_message".to_owned(), h)));
        for label in self.clients.keys() {
            if !domain::settings::is_label(label) || label == domain::ClientHooks::OFF {
                problems.push(format!(
                    "hooks.clients.{label}: a label is letters, digits, '-' and '_', at most 64, and not \"off\""
                ));
            }
        }
        for (name, hook) in all {
            match reqwest::Url::parse(&hook.url) {
                Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && !production) => {}
                Ok(_) => problems.push(format!("hooks.{name}.url: must be an https URL (http only in development)")),
                Err(e) => problems.push(format!("hooks.{name}.url: {e}")),
            }
        }
    }

    /// Every configured decision hook, ready to call.
    pub fn build(&self) -> Result<Hooks, String> {
        let mut clients = BTreeMap::new();
        for (label, hooks) in &self.clients {
            clients.insert(label.clone(), hooks.build()?);
        }
        Ok(Hooks { deployment: self.deployment().build()?, clients })
    }
}

/// The configured decision hooks, ready to call: the deployment's and the labelled ones.
#[derive(Default)]
pub struct Hooks {
    deployment: [Option<Arc<Hook>>; 3],
    clients: BTreeMap<String, [Option<Arc<Hook>>; 3]>,
}

impl Hooks {
    /// Whether any hook, the deployment's or a client's, is configured for `step`.
    pub fn any(&self, step: Step) -> bool {
        self.deployment[step as usize].is_some() || self.clients.values().any(|h| h[step as usize].is_some())
    }

    /// The hook a client's sign-ins go through at `step`: the deployment's unless the client's
    /// settings say `off` or name a label. A label the configuration lacks is a failure (the step
    /// is refused), never a silent skip.
    pub fn for_client(&self, step: Step, client: &domain::ClientHooks) -> Result<Option<&Arc<Hook>>, HookError> {
        match step.choice(client) {
            None => Ok(self.deployment[step as usize].as_ref()),
            Some(domain::ClientHooks::OFF) => Ok(None),
            Some(label) => match self.clients.get(label) {
                Some(hooks) => Ok(hooks[step as usize].as_ref()),
                None => {
                    tracing::error!(
                        hook = step.name(),
                        label,
                        "a client names a hook label that is not configured (hooks.clients.LABEL); the step is refused"
                    );
                    Err(HookError::Unreachable(format!("hooks.clients.{label} is not configured")))
                }
            },
        }
    }
}

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
pub const RESERVED_CLAIMS: [&str; 16] = [
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
        let request = self
            .http
            .post(&self.settings.url)
            .timeout(Duration::from_millis(timeout))
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", self.settings.secret.sign(&id, now, &body))
            .body(body);
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
