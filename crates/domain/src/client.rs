//! Per-client policy: what each relying party gets beyond its registration. Stored with the client
//! as one JSON document (set by `ostiary client create|update`, later by the admin), so adding a
//! policy needs no migration; every field has a default.

use serde::{Deserialize, Serialize};

/// When the token endpoint issues a refresh token (OIDC Core §11, RFC 6749 §1.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshPolicy {
    /// Only when the client asked for the `offline_access` scope (the default).
    #[default]
    OfflineAccess,
    /// With every code exchange, whether or not `offline_access` was asked for.
    Always,
    /// Never; `offline_access` is dropped from the granted scope.
    Never,
}

impl RefreshPolicy {
    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RefreshPolicy::OfflineAccess => "offline_access",
            RefreshPolicy::Always => "always",
            RefreshPolicy::Never => "never",
        }
    }

    /// Whether a code exchange for `scope` (space-separated) gets a refresh token.
    pub fn issues_for(self, scope: &str) -> bool {
        match self {
            RefreshPolicy::OfflineAccess => scope.split(' ').any(|s| s == "offline_access"),
            RefreshPolicy::Always => true,
            RefreshPolicy::Never => false,
        }
    }
}

/// Everything a client's policy says. Unknown fields are refused so a typo is never silently
/// ignored; missing ones take their defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientSettings {
    pub refresh_tokens: RefreshPolicy,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_policy_decides_by_scope() {
        assert!(RefreshPolicy::OfflineAccess.issues_for("openid offline_access"));
        assert!(!RefreshPolicy::OfflineAccess.issues_for("openid email"));
        assert!(RefreshPolicy::Always.issues_for("openid"));
        assert!(!RefreshPolicy::Never.issues_for("openid offline_access"));
        assert_eq!(RefreshPolicy::parse("always"), Some(RefreshPolicy::Always));
        assert_eq!(RefreshPolicy::parse("sometimes"), None);
    }

    #[test]
    fn settings_default_missing_fields_and_refuse_unknown_ones() {
        let s: ClientSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(s, ClientSettings::default());
        assert!(serde_json::from_str::<ClientSettings>(r#"{"refresh_token":"always"}"#).is_err());
    }
}
