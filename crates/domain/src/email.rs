//! Email addresses, parsed once so an invalid one cannot exist.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EmailError {
    #[error("enter an email address")]
    Empty,
    #[error("that email address is too long")]
    TooLong,
    #[error("that does not look like an email address")]
    Invalid,
}

impl EmailAddress {
    /// Trims and lower-cases the address so `Ann@Example.com` and `ann@example.com` are one account.
    /// RFC 5321 §4.5.3.1.3 bounds a path at 256 octets, so an address is at most 254.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > 254 {
            return Err(EmailError::TooLong);
        }
        let lowered = trimmed.to_lowercase();
        // Display names ("Ann <ann@x>"), comments and quoted local parts are refused: a login
        // address is a bare addr-spec (RFC 5322 §3.4.1) without the rarely used special forms.
        if lowered.chars().any(|c| c.is_whitespace() || c.is_control() || "<>\"(),;:[]\\".contains(c)) {
            return Err(EmailError::Invalid);
        }
        let parsed: email_address::EmailAddress = lowered.parse().map_err(|_| EmailError::Invalid)?;
        if !parsed.domain().contains('.') {
            return Err(EmailError::Invalid);
        }
        Ok(Self(lowered))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = EmailError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

impl std::fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalised_to_lower_case() {
        let email = EmailAddress::parse("  Ann@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "ann@example.com");
    }

    #[test]
    fn garbage_and_display_names_are_refused() {
        for bad in ["", "   ", "ann", "ann@", "@example.com", "Ann <ann@example.com>", "ann@localhost", "a@b@c.com"] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(EmailAddress::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn deserialising_cannot_skip_the_parse() {
        assert!(serde_json::from_str::<EmailAddress>("\"not-an-address\"").is_err());
        let ok: EmailAddress = serde_json::from_str("\"X@Y.org\"").unwrap();
        assert_eq!(ok.as_str(), "x@y.org");
    }
}
