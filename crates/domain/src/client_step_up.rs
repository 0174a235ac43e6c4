//! The step-up part of a client's policy: when a sign-in needs a second factor, and what happens
//! when the user has none.

use serde::{Deserialize, Serialize};

/// When a sign-in to this client needs a second factor (step-up).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepUpPolicy {
    /// Never, unless the request demands it (`acr_values` or an essential `acr`).
    Never,
    /// When a sign-in looks risky: a new device, IP, network or country, or impossible travel.
    #[default]
    Risky,
    /// Every sign-in.
    Always,
}

/// What happens when a second factor is called for and the user has none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithoutFactor {
    /// Let the sign-in through (single-factor) and warn the user by email.
    #[default]
    Allow,
    /// Refuse the sign-in (`access_denied`).
    Deny,
    /// Make the user set up an authenticator app (TOTP) right after the first factor.
    Enroll,
}

/// The step-up part of a client's policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StepUp {
    pub policy: StepUpPolicy,
    pub without_factor: WithoutFactor,
}

impl StepUpPolicy {
    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(text.trim().to_owned())).ok()
    }
}

impl WithoutFactor {
    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(text.trim().to_owned())).ok()
    }
}
