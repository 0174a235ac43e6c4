//! The hooks' settings (`[hooks.NAME]`, `[hooks.clients.LABEL.NAME]`), and which hook a client's
//! sign-ins go through at each step ([`Hooks::for_client`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{Hook, HookError, SigningSecret};

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
    pub fn deployment(&self) -> StepHooks {
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
            check_url(&format!("hooks.{name}.url"), &hook.url, production, problems);
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

/// The rule for every URL Ostiary sends the operator's data to: `https://`, or `http://` only in
/// development.
pub(crate) fn check_url(key: &str, url: &str, production: bool, problems: &mut Vec<String>) {
    match reqwest::Url::parse(url) {
        Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && !production) => {}
        Ok(_) => problems.push(format!("{key}: must be an https URL (http only in development)")),
        Err(e) => problems.push(format!("{key}: {e}")),
    }
}
