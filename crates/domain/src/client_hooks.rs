//! Which of the operator's decision hooks a client's sign-ins go through: part of
//! [`crate::ClientSettings`]; the hooks themselves are the `hooks` crate's.

use serde::{Deserialize, Serialize};

/// A client's choice, for each synchronous hook: the deployment's `[hooks.NAME]` (left out), none
/// (`"off"`), or the hook of the same name under `[hooks.clients.LABEL]` (`"LABEL"`), whose own URL
/// and signing secret live in the configuration, never in the client's record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientHooks {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_user_created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_first_factor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_token: Option<String>,
}

impl ClientHooks {
    /// `"off"`: the client's sign-ins skip the hook.
    pub const OFF: &'static str = "off";

    /// Each choice is `off` or a label: letters, digits, `-` and `_`, at most 64.
    pub fn validate(&self) -> Result<(), String> {
        let all = [&self.before_user_created, &self.after_first_factor, &self.before_token];
        match all.into_iter().flatten().find(|l| !crate::settings::is_label(l)) {
            Some(bad) => Err(format!("{bad:?} is not a hook label (letters, digits, '-' and '_', at most 64)")),
            None => Ok(()),
        }
    }
}
