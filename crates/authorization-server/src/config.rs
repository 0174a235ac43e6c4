/// The authorization server's part of the configuration (`[oidc]` in `config/default.toml`).
#[derive(Clone, Debug)]
pub struct AuthorizationServerConfig {
    /// The issuer identifier, used exactly as configured (OIDC Discovery §4.3 compares it as a string).
    pub issuer: String,
    /// Authorization code lifetime in seconds (RFC 6749 §4.1.2 recommends at most 10 minutes).
    pub code_ttl: i64,
    pub id_token_ttl: i64,
    pub access_token_ttl: i64,
    /// Absolute lifetime of a refresh-token family, seconds: rotation never extends it.
    pub refresh_token_ttl: i64,
    /// How long a started login may take before it must be started again.
    pub interaction_ttl: i64,
    pub session_ttl: i64,
    /// The initial access token that `/register` requires (RFC 7591 §3); `None` turns registration off.
    pub registration_token: Option<domain::Secret>,
    /// Automatic key rotation period in seconds; 0 turns it off.
    pub key_rotation_period: i64,
    /// Sign-ins that need a login page (an interaction stored) started from one client IP (or
    /// IPv6 /64) per hour: every interaction is a stored row, and anyone can ask for one.
    pub interactions_per_ip_per_hour: u64,
}

impl AuthorizationServerConfig {
    /// An endpoint URL under the issuer (`/token` → `https://id.example.com/token`).
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.issuer.trim_end_matches('/'), path)
    }

    /// How long a retired key stays published: until the last token it signed has expired.
    pub fn key_retention(&self) -> i64 {
        self.id_token_ttl.max(self.access_token_ttl) + 300
    }
}
