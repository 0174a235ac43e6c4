//! Per-client policy: what each relying party gets beyond its registration. Stored with the client
//! as one JSON document (set by `ostiary client create|update`, later by the admin), so adding a
//! policy needs no migration; every field has a default.

use serde::{Deserialize, Serialize};

pub use crate::branding::{Branding, BrandingError};
pub use crate::client_hooks::ClientHooks;
pub use crate::client_keys::{ClientSecretJwt, PrivateKeyJwt, RequestObjects};
pub use crate::client_step_up::{StepUp, StepUpPolicy, WithoutFactor};
pub use crate::client_subject::Pairwise;

/// A registered relying party.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub id: crate::ClientId,
    pub name: String,
    /// Keyed hash of the client secret; `None` for public clients.
    pub secret_hash: Option<Vec<u8>>,
    /// The secret itself, sealed ([`crate::MasterKey::client_secret_sealer`], bound to the client
    /// id): only for a client that authenticates with `client_secret_jwt`, whose HMAC the server
    /// must compute with it (OIDC Core §9).
    pub secret_sealed: Option<Vec<u8>>,
    pub is_public: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// The JWS algorithm of this client's ID tokens.
    pub id_token_alg: SigningAlg,
    pub created_at: i64,
    pub application_type: ApplicationType,
    /// The client's policy (refresh tokens, sign-in methods, branding, step-up, …).
    pub settings: ClientSettings,
    /// The secret before the last rotation, still accepted until its time.
    pub previous_secret: Option<PreviousSecret>,
    /// When an admin disabled the client: it can no longer authenticate or start a sign-in.
    pub disabled_at: Option<i64>,
    /// Moves by one with every change to the record (the admin API's ETag).
    pub version: i64,
}

/// A rotated-out client secret and the end of its grace period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviousSecret {
    pub hash: Vec<u8>,
    pub until: i64,
    /// Sealed, for a `client_secret_jwt` client (see [`Client::secret_sealed`]).
    pub sealed: Option<Vec<u8>>,
}

impl Client {
    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

/// A JWS algorithm Ostiary signs with (RFC 7518 §3.1, RFC 8037).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    RS256,
    ES256,
    EdDSA,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 3] = [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA];

    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::ES256 => "ES256",
            SigningAlg::EdDSA => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<SigningAlg> {
        SigningAlg::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// What kind of application a client is (OpenID Connect Dynamic Client Registration §2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationType {
    #[default]
    Web,
    /// A native app: its loopback redirect URIs match any port (RFC 8252 §7.3).
    Native,
}

impl ApplicationType {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationType::Web => "web",
            ApplicationType::Native => "native",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "web" => Some(ApplicationType::Web),
            "native" => Some(ApplicationType::Native),
            _ => None,
        }
    }
}

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
    pub fn issues_for(self, scope: &crate::Scope) -> bool {
        match self {
            RefreshPolicy::OfflineAccess => scope.contains("offline_access"),
            RefreshPolicy::Always => true,
            RefreshPolicy::Never => false,
        }
    }
}

/// Where a one-time secret is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "email" => Some(Channel::Email),
            "sms" => Some(Channel::Sms),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }
}

/// A way to sign in that a client may offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginMethod {
    /// A code sent by email.
    EmailCode,
    /// A magic link sent by email.
    EmailLink,
    /// A code sent by text message.
    SmsCode,
}

impl LoginMethod {
    pub const ALL: [LoginMethod; 3] = [LoginMethod::EmailCode, LoginMethod::EmailLink, LoginMethod::SmsCode];

    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(text.trim().to_owned())).ok()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LoginMethod::EmailCode => "email_code",
            LoginMethod::EmailLink => "email_link",
            LoginMethod::SmsCode => "sms_code",
        }
    }
}

fn default_login_methods() -> Vec<LoginMethod> {
    vec![LoginMethod::EmailCode, LoginMethod::EmailLink]
}

/// Whether `name` may be shown as an application's or product's name: 1 to `max` characters, no
/// control characters (a CR or LF in an email subject starts a header of the sender's choosing)
/// and no invisible formatting characters (bidirectional overrides can make a name read as
/// another: Unicode TR #36 §2.1).
pub fn is_display_name(name: &str, max: usize) -> bool {
    let invisible =
        |c: char| matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}');
    !name.trim().is_empty() && name.chars().count() <= max && !name.chars().any(|c| c.is_control() || invisible(c))
}

/// Everything a client's policy says. Unknown fields are refused so a typo is never silently
/// ignored; missing ones take their defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientSettings {
    pub refresh_tokens: RefreshPolicy,
    /// The sign-in methods the hosted pages and the API offer this client's users.
    pub login_methods: Vec<LoginMethod>,
    pub branding: Branding,
    pub step_up: StepUp,
    /// Whether the application may sign users in through the passwordless API
    /// (`POST /passwordless/start` and the `passwordless/otp` grant), where it draws the sign-in
    /// screen itself. Off by default: the hosted pages are where a browser is bound to its sign-in.
    pub api_login: bool,
    /// Whether a magic link opened on another device can approve the sign-in waiting in the
    /// browser that asked for it, once the number shown there is typed in. On by default: people
    /// read mail on their phone and sign in on their laptop, and the number makes approval deliberate.
    pub cross_device_approval: bool,
    /// Whether the client may call the admin API (`/api/admin/v1`): the `client_credentials` grant
    /// gives it a token with the `admin` scope. Off by default; only `ostiary client create
    /// --admin-api` turns it on, never dynamic registration.
    pub admin_api: bool,
    /// Whether users who signed in with a code or link are offered a passkey before they return
    /// to the application ("not now" is remembered on the device for 30 days). On by default.
    pub passkey_offer: bool,
    /// Which of the operator's hooks this client's sign-ins go through.
    pub hooks: ClientHooks,
    /// When set, `/userinfo` answers this client with a JWT signed with this algorithm
    /// (`application/jwt`, OIDC Core §5.3.2) instead of JSON (registration's
    /// `userinfo_signed_response_alg`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userinfo_signed_response_alg: Option<SigningAlg>,
    /// The region (ISO 3166-1 alpha-2, `FR`) a number typed without its country code is read in
    /// on this client's login page; else the deployment's `sms.default_region`, else the region
    /// the browser's language names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_region: Option<String>,
    /// `private_key_jwt` (OIDC Core §9, RFC 7523 §2.2): the client authenticates at the token
    /// endpoint with a JWT signed by one of its own keys, and holds no secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key_jwt: Option<PrivateKeyJwt>,
    /// `client_secret_jwt` (OIDC Core §9): the client authenticates with a JWT it MACs with its
    /// secret, which the server keeps sealed beside its hash (`Client::secret_sealed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_jwt: Option<ClientSecretJwt>,
    /// Request objects (OIDC Core §6, RFC 9101): how the client signs them, and where it may
    /// publish them (`request_uris`). None: signed with the keys it authenticates with, never
    /// `none`, and no `request_uri`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_objects: Option<RequestObjects>,
    /// Whether the client's authorization requests must be pushed first (RFC 9126 §6
    /// `require_pushed_authorization_requests`): `/authorize` then takes only a pushed request's
    /// `request_uri`. Off by default.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub require_pushed_authorization_requests: bool,
    /// Front-Channel Logout 1.0 §2 (`frontchannel_logout_uri`): the client's page that ends its
    /// own session, loaded with `iss` and `sid` in an iframe of the provider's signed-out page.
    /// Same scheme, host and port as one of its redirect URIs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frontchannel_logout_uri: Option<String>,
    /// Back-Channel Logout 1.0 §2.2 (`backchannel_logout_uri`): where the provider POSTs a logout
    /// token when a session the client was signed in through ends. Every token carries `sid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// Pairwise subjects (OIDC Core §8.1): this client's users get a `sub` of its sector's own.
    /// None: the public `sub`, the user's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pairwise: Option<Pairwise>,
    /// Whether the client may trade a user's access token, issued to any client, for one of its
    /// own that acts for the user (RFC 8693 token exchange, with an `act` claim naming it). Off by
    /// default; only the admin API turns it on (`settings.token_exchange`), never registration.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub token_exchange: bool,
    /// RFC 9449 §5.2 (`dpop_bound_access_tokens`): the client always proves a DPoP key at the token
    /// endpoint, and a token request without a proof is refused. Off by default.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dpop_bound_access_tokens: bool,
    /// Whether the client may use the Device Authorization Grant (RFC 8628): a device that shows
    /// a code the user types at `/device`. Off by default (the flow lends itself to phishing, RFC
    /// 8628 §5.4); turned on by the operator or by registering its grant type.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub device_grant: bool,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            refresh_tokens: RefreshPolicy::default(),
            login_methods: default_login_methods(),
            branding: Branding::default(),
            step_up: StepUp::default(),
            api_login: false,
            cross_device_approval: true,
            admin_api: false,
            passkey_offer: true,
            hooks: ClientHooks::default(),
            userinfo_signed_response_alg: None,
            phone_region: None,
            private_key_jwt: None,
            client_secret_jwt: None,
            request_objects: None,
            require_pushed_authorization_requests: false,
            frontchannel_logout_uri: None,
            backchannel_logout_uri: None,
            pairwise: None,
            token_exchange: false,
            dpop_bound_access_tokens: false,
            device_grant: false,
        }
    }
}

impl ClientSettings {
    /// The catalog keys of the login page's introduction and of its email button, for the
    /// channels it offers (`email_on`, `sms_on`): one rule for the hosted page and the console's
    /// preview of it.
    pub fn login_texts(&self, email_on: bool, sms_on: bool) -> (&'static str, &'static str) {
        let intro = match (email_on, sms_on) {
            (true, true) => "login_intro_both",
            (false, true) => "login_intro_sms",
            // The client offers only texts, and no SMS provider is configured: say so, not an empty form.
            (false, false) => "sms_off",
            _ if self.allows(LoginMethod::EmailCode) && self.allows(LoginMethod::EmailLink) => {
                "login_intro_email_code_link"
            }
            _ if self.allows(LoginMethod::EmailCode) => "login_intro_email_code",
            _ => "login_intro_email_link",
        };
        let submit = if self.allows(LoginMethod::EmailCode) { "email_submit_code" } else { "email_submit_link" };
        (intro, submit)
    }

    pub fn allows(&self, method: LoginMethod) -> bool {
        self.login_methods.contains(&method)
    }

    /// Whether email sign-in is offered at all (by code, by link, or both).
    pub fn email(&self) -> bool {
        self.allows(LoginMethod::EmailCode) || self.allows(LoginMethod::EmailLink)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_policy_decides_by_scope() {
        assert!(RefreshPolicy::OfflineAccess.issues_for(&crate::Scope::parse("openid offline_access")));
        assert!(!RefreshPolicy::OfflineAccess.issues_for(&crate::Scope::parse("openid email")));
        assert!(RefreshPolicy::Always.issues_for(&crate::Scope::parse("openid")));
        assert!(!RefreshPolicy::Never.issues_for(&crate::Scope::parse("openid offline_access")));
        assert_eq!(RefreshPolicy::parse("always"), Some(RefreshPolicy::Always));
        assert_eq!(RefreshPolicy::parse("sometimes"), None);
    }

    #[test]
    fn login_methods_default_to_email_code_and_link() {
        let s = ClientSettings::default();
        assert!(s.allows(LoginMethod::EmailCode) && s.allows(LoginMethod::EmailLink));
        assert!(!s.allows(LoginMethod::SmsCode));
        assert_eq!(LoginMethod::parse("sms_code"), Some(LoginMethod::SmsCode));
        let s: ClientSettings = serde_json::from_str(r#"{"login_methods":["sms_code"]}"#).unwrap();
        assert!(!s.email() && s.allows(LoginMethod::SmsCode));
    }

    #[test]
    fn settings_default_missing_fields_and_refuse_unknown_ones() {
        let s: ClientSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(s, ClientSettings::default());
        assert!(serde_json::from_str::<ClientSettings>(r#"{"refresh_token":"always"}"#).is_err());
    }
}
