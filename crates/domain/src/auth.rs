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
    /// Multiple-factor authentication (RFC 8176 §2): after a passed step-up, or a passkey with
    /// user verification.
    Mfa,
    /// Proof of possession of a hardware-secured key (RFC 8176 §2): a device-bound passkey.
    Hwk,
    /// Proof of possession of a software-secured key (RFC 8176 §2): a synced passkey, whose
    /// private key leaves the hardware to reach the user's other devices.
    Swk,
    /// A user presence test (RFC 8176 §2): the authenticator's user verification, by PIN or
    /// biometric (which one, it does not say).
    User,
}

impl Amr {
    pub fn as_str(self) -> &'static str {
        match self {
            Amr::Otp => "otp",
            Amr::Sms => "sms",
            Amr::Mfa => "mfa",
            Amr::Hwk => "hwk",
            Amr::Swk => "swk",
            Amr::User => "user",
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

    pub fn parse(text: &str) -> Option<Self> {
        Acr::ALL.into_iter().find(|a| a.as_str() == text)
    }

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

/// An OAuth scope (RFC 6749 §3.3): a set of space-separated tokens, kept in the order given and
/// without repeats. Only tokens of the `scope-token` grammar (printable ASCII but `"` and `\`)
/// are kept.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Scope(Vec<String>);

impl Scope {
    /// The tokens of a space-separated scope string; empty tokens and repeats are dropped.
    pub fn parse(text: &str) -> Self {
        Self::from_tokens(text.split(' '))
    }

    pub fn from_tokens<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Self {
        let mut kept: Vec<String> = Vec::new();
        for t in tokens {
            let valid = !t.is_empty() && t.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\');
            if valid && !kept.iter().any(|k| k == t) {
                kept.push(t.to_owned());
            }
        }
        Self(kept)
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every token of `self` is in `other`.
    pub fn is_subset_of(&self, other: &Scope) -> bool {
        self.iter().all(|t| other.contains(t))
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// A scope is written as its space-separated string; a list of its tokens is read too.
impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Text(String),
            Tokens(Vec<String>),
        }
        Ok(match Written::deserialize(d)? {
            Written::Text(text) => Scope::parse(&text),
            Written::Tokens(tokens) => Scope::from_tokens(tokens.iter().map(String::as_str)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_keep_order_and_drop_repeats_and_bad_tokens() {
        let s = Scope::parse("openid  email openid bad\"token profile");
        assert_eq!(s.to_string(), "openid email profile");
        assert!(s.contains("email") && !s.contains("bad\"token"));
        assert!(Scope::parse("openid").is_subset_of(&s));
        assert!(!Scope::parse("openid address").is_subset_of(&s));
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"openid email profile\"");
        assert_eq!(serde_json::from_str::<Scope>("[\"openid\",\"email\"]").unwrap(), Scope::parse("openid email"));
    }
}
