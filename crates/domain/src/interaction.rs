//! The interaction is the only thing the protocol crates share: the authorization server opens one
//! when a login is needed, a connection (and later step-up) completes it with a [`LoginResult`], and
//! the authorization server resumes it once to issue the code.

use serde::{Deserialize, Serialize};

use crate::{Acr, Amr, AuthTime, ClientId, ClientSettings, InteractionId, UserId};

/// How an interaction was opened, which decides who may continue it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InteractionKind {
    /// A browser at `/authorize`, bound to it from the start.
    Hosted,
    /// A magic link sent by the passwordless API with `authParams`: it belongs to no browser until
    /// the first one that continues the link, and ends at the client's redirect URI.
    ApiLink,
    /// A code sent by the passwordless API: never resumed by a browser, only redeemed at the
    /// token endpoint with the OTP grant.
    ApiCode,
}

impl InteractionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InteractionKind::Hosted => "hosted",
            InteractionKind::ApiLink => "api_link",
            InteractionKind::ApiCode => "api_code",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "hosted" => Some(InteractionKind::Hosted),
            "api_link" => Some(InteractionKind::ApiLink),
            "api_code" => Some(InteractionKind::ApiCode),
            _ => None,
        }
    }
}

/// Why a sign-in was refused (the detail, such as the policy's reasons, is in the audit log).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    /// The user pressed "Cancel".
    Cancelled,
    /// The client's step-up policy refused the sign-in (no second factor, or a blocked device).
    Policy,
    /// Too many wrong second-factor codes for the account.
    TooManyWrongCodes,
    /// The client's network was blocked while it proved the second factor.
    BlockedNetwork,
}

impl DenyReason {
    /// The `error_description` of the client's `access_denied` (RFC 6749 §4.1.2.1): what happened,
    /// for the client's developer, never the policy's detail (that is in the audit log).
    pub fn description(self) -> &'static str {
        match self {
            DenyReason::Cancelled => "the user cancelled the sign-in",
            DenyReason::Policy => "the sign-in was not allowed",
            DenyReason::TooManyWrongCodes => "the sign-in was refused after too many wrong codes",
            DenyReason::BlockedNetwork => "the sign-in was refused: the network is blocked",
        }
    }
}

/// What a connection may know about a pending login.
#[derive(Clone, Debug)]
pub struct Interaction {
    pub id: InteractionId,
    pub kind: InteractionKind,
    pub client_id: ClientId,
    pub client_name: String,
    /// The client's policy: which sign-in methods to offer, its branding.
    pub client_settings: ClientSettings,
    /// The verified redirect URI (none for a code sent through the API, which no browser resumes);
    /// pages add its origin to CSP `form-action` because browsers apply that directive to the
    /// redirects that follow a form submission.
    pub redirect_uri: Option<String>,
    pub login_hint: Option<String>,
    /// `ui_locales` of the authorization request (OIDC Core §3.1.2.1), space-separated.
    pub ui_locales: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    /// The `acr` values the login must reach (one of them), as the authorization server decided:
    /// the essential ones of the `claims` parameter (OIDC Core §5.5.1.1), or `acr_values` when it
    /// asks only for multi-factor. Empty: no demand.
    pub requested_acr: Vec<crate::Acr>,
    /// How the user proved who they are so far (the connection's result), waiting for step-up.
    pub first_factor: Option<LoginResult>,
    /// Set when step-up refused the sign-in; the client gets `access_denied`.
    pub denied: Option<DenyReason>,
    /// Keyed hash of the browser cookie of the browser that owns the login: the one that started it,
    /// or for a link sent through the API the first one that continued it; none before that, and
    /// never for a code sent through the API.
    pub browser_hash: Option<Vec<u8>>,
    pub result: Option<LoginResult>,
}

impl Interaction {
    /// Whether only a multi-factor login meets the demand: it names the multi-factor `acr` and not
    /// the single-factor one.
    pub fn demands_mfa(&self) -> bool {
        let has = |acr: crate::Acr| self.requested_acr.contains(&acr);
        has(crate::Acr::MultiFactor) && !has(crate::Acr::SingleFactor)
    }
}

/// The outcome of a completed login, handed back to the authorization server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResult {
    pub user_id: UserId,
    pub amr: Vec<Amr>,
    pub acr: Acr,
    pub auth_time: AuthTime,
}

impl LoginResult {
    /// A login by one factor alone (a code, a link), proved at `now` as `amr` says.
    pub fn single_factor(user_id: UserId, amr: crate::Amr, now: i64) -> LoginResult {
        LoginResult { user_id, amr: vec![amr], acr: crate::Acr::SingleFactor, auth_time: AuthTime(now) }
    }
}
