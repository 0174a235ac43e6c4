//! How a user authenticated: `amr` (RFC 8176) and `acr` (OIDC Core §2) values, and `auth_time`.

use serde::{Deserialize, Serialize};

/// Authentication Method Reference values from the IANA registry created by RFC 8176 §6.1.
/// Only values Ostiary can honestly claim are listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Amr {
    /// One-time password (RFC 8176 §2): the emailed code, or the single-use magic link.
    Otp,
    /// Confirmation by text message to a phone (RFC 8176 §2).
    Sms,
    /// Multiple-factor authentication (RFC 8176 §2), set only after a passed step-up.
    Mfa,
}

impl Amr {
    pub fn as_str(self) -> &'static str {
        match self {
            Amr::Otp => "otp",
            Amr::Sms => "sms",
            Amr::Mfa => "mfa",
        }
    }
}

/// Authentication Context Class Reference: how much assurance the login gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Acr {
    /// One factor: possession of the mailbox or phone.
    #[serde(rename = "urn:ostiary:acr:single-factor")]
    SingleFactor,
    /// Two factors (used by step-up, issue 5). The PAPE value is what RPs already request.
    #[serde(rename = "http://schemas.openid.net/pape/policies/2007/06/multi-factor")]
    MultiFactor,
}

impl Acr {
    pub const ALL: [Acr; 2] = [Acr::SingleFactor, Acr::MultiFactor];

    pub fn as_str(self) -> &'static str {
        match self {
            Acr::SingleFactor => "urn:ostiary:acr:single-factor",
            Acr::MultiFactor => "http://schemas.openid.net/pape/policies/2007/06/multi-factor",
        }
    }
}

/// Seconds since the Unix epoch at which the user last actively authenticated (OIDC Core §2 `auth_time`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AuthTime(pub i64);
