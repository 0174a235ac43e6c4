use domain::settings::within;

/// The authorization server's part of the configuration (`[oidc]` in `config/default.toml`).
#[derive(Clone, Debug)]
pub struct AuthorizationServerConfig {
    /// The issuer identifier, used exactly as configured (OIDC Discovery §4.3 compares it as a string).
    pub issuer: String,
    /// Authorization code lifetime in seconds (RFC 6749 §4.1.2 recommends at most 10 minutes).
    pub code_ttl: i64,
    pub id_token_ttl: i64,
    pub access_token_ttl: i64,
    /// What access tokens are signed with (RFC 9068 §2.1 allows any asymmetric JWS algorithm).
    pub access_token_alg: domain::SigningAlg,
    /// Absolute lifetime of a refresh-token family, seconds: rotation never extends it.
    pub refresh_token_ttl: i64,
    /// Seconds after a refresh token's first use in which presenting it again replaces the successor
    /// the client never received (a lost answer, a crash), instead of revoking the grant; 0 turns it off.
    pub refresh_reuse_leeway: i64,
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
    /// What a client's registration may make the server fetch (its `jwks_uri`).
    pub fetch: crate::fetch::FetchPolicy,
    /// RFC 9449 §8: whether every DPoP proof must carry a nonce this server gave out.
    pub dpop_nonce: bool,
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

/// `[oidc]` in `config/default.toml`, as read: each value is checked here (lifetimes in seconds).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// RFC 6749 §4.1.2: a code lives at most 10 minutes.
    #[serde(deserialize_with = "within::<_, _, 1, 600>")]
    pub code_ttl: i64,
    #[serde(deserialize_with = "within::<_, _, 60, 86_400>")]
    pub id_token_ttl: i64,
    #[serde(deserialize_with = "within::<_, _, 60, 86_400>")]
    pub access_token_ttl: i64,
    /// `ES256` by default: a P-256 signature costs about a twentieth of an RSA-2048 one, and every
    /// JWT library verifies it. `RS256` for resource servers that know nothing else; `EdDSA` too.
    pub access_token_alg: domain::SigningAlg,
    #[serde(deserialize_with = "within::<_, _, 300, 31_536_000>")]
    pub refresh_token_ttl: i64,
    /// The reuse leeway (Auth0's "reuse interval", Okta's "grace period"): short, because a token
    /// presented twice within it is not treated as stolen (RFC 9700 §4.14.2 asks for revocation).
    #[serde(deserialize_with = "within::<_, _, 0, 300>")]
    pub refresh_reuse_leeway: i64,
    #[serde(deserialize_with = "within::<_, _, 60, 86_400>")]
    pub interaction_ttl: i64,
    #[serde(deserialize_with = "within::<_, _, 60, 31_536_000>")]
    pub session_ttl: i64,
    /// 0 turns automatic rotation off.
    #[serde(deserialize_with = "within::<_, _, 0, 3650>")]
    pub key_rotation_days: i64,
    /// RFC 7591 §3's initial access token for `/register`; empty turns registration off.
    #[serde(deserialize_with = "domain::settings::optional_long_secret")]
    pub registration_token: Option<domain::Secret>,
    #[serde(deserialize_with = "domain::settings::at_least_one")]
    pub interactions_per_ip_per_hour: u64,
    /// Whether a client's `jwks_uri` may point at a private, loopback or link-local address (a
    /// development machine, an intranet). Off: any client could otherwise make the server reach
    /// inside its own network.
    pub fetch_private_addresses: bool,
    /// RFC 9449 §8: DPoP proofs must carry a nonce from this server (`use_dpop_nonce` hands one
    /// out), which bounds how long a proof made ahead of time can be used.
    pub dpop_nonce: bool,
}

impl OidcSettings {
    /// The server's configuration under `issuer`; `production` allows only https fetches.
    pub fn config(&self, issuer: &domain::Issuer, production: bool) -> AuthorizationServerConfig {
        AuthorizationServerConfig {
            issuer: issuer.to_string(),
            code_ttl: self.code_ttl,
            id_token_ttl: self.id_token_ttl,
            access_token_ttl: self.access_token_ttl,
            access_token_alg: self.access_token_alg,
            refresh_token_ttl: self.refresh_token_ttl,
            refresh_reuse_leeway: self.refresh_reuse_leeway,
            interaction_ttl: self.interaction_ttl,
            session_ttl: self.session_ttl,
            key_rotation_period: self.key_rotation_days * 86_400,
            interactions_per_ip_per_hour: self.interactions_per_ip_per_hour,
            registration_token: self.registration_token.clone(),
            fetch: crate::fetch::FetchPolicy { http: !production, private_addresses: self.fetch_private_addresses },
            dpop_nonce: self.dpop_nonce,
        }
    }
}
