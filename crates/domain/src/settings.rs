//! What configuration deserialises into, checked as it is read: each crate's settings use these,
//! so a value out of range or of the wrong form is refused with its key's name (figment adds the
//! key), and `validate()` is left with the rules that relate several keys.

use std::path::PathBuf;

use serde::de::{Error, IntoDeserializer};
use serde::{Deserialize, Deserializer};

/// A number within `LO..=HI` (`#[serde(deserialize_with = "within::<_, _, 1, 600>")]`).
pub fn within<'de, D, T, const LO: i64, const HI: i64>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Copy + TryInto<i64> + std::fmt::Display,
{
    let value = T::deserialize(d)?;
    match value.try_into() {
        Ok(n) if (LO..=HI).contains(&n) => Ok(value),
        _ => Err(D::Error::custom(format!("{value} is outside {LO}..={HI}"))),
    }
}

/// A name an operator gives in the configuration and refers to elsewhere (a webhook endpoint, a
/// client's hooks): letters, digits, `-` and `_`, 1 to 64 of them.
pub fn is_label(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A count that must be at least 1 (a limit of 0 would refuse everything).
pub fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match u64::deserialize(d)? {
        0 => Err(D::Error::custom("must be at least 1")),
        n => Ok(n),
    }
}

/// A value written as a string, where the empty string means none.
pub fn optional<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let text = String::deserialize(d)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    T::deserialize(text.into_deserializer()).map(Some)
}

/// A file that must exist and be readable, or the empty string for none.
pub fn readable_file<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() {
        return Ok(None);
    }
    let path = PathBuf::from(&text);
    match std::fs::File::open(&path) {
        Ok(_) if path.is_file() => Ok(Some(path)),
        _ => Err(D::Error::custom(format!("{text:?} is not a readable file"))),
    }
}

/// A secret of at least 32 characters (a shared token or an HMAC key), or the empty string for
/// none.
pub fn optional_long_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<crate::Secret>, D::Error> {
    let text = String::deserialize(d)?;
    match text.len() {
        0 => Ok(None),
        1..32 => Err(D::Error::custom("must be at least 32 characters (or empty)")),
        _ => Ok(Some(crate::Secret::new(text))),
    }
}

/// The issuer identifier (OIDC Core §2, Discovery §3): an `https://` URL (or `http://` in
/// development) with a host and no path, query or fragment, written with a lower-case scheme.
/// Kept exactly as configured: OIDC Discovery §4.3 compares issuers as strings.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Issuer(String);

impl Issuer {
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL ({e})"))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err("must not have a query or fragment (OIDC Discovery §3)".into());
        }
        // Endpoints are served at the root of the host; a path prefix would advertise URLs that do
        // not exist.
        if url.path() != "/" {
            return Err(format!("{text:?} must not have a path (a trailing `/` is allowed)"));
        }
        // Cookies and HSTS look at the scheme as written; it must be lower case.
        if !(text.starts_with("https://") || text.starts_with("http://")) || url.host().is_none() {
            return Err(format!("{text:?} must start with https:// (or http:// in development)"));
        }
        Ok(Issuer(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }
}

impl TryFrom<String> for Issuer {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Issuer::parse(&text)
    }
}

impl std::fmt::Display for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Sample {
        #[serde(deserialize_with = "within::<_, _, 1, 600>")]
        ttl: i64,
        #[serde(deserialize_with = "optional")]
        owner: Option<crate::EmailAddress>,
        #[serde(deserialize_with = "optional_long_secret")]
        token: Option<crate::Secret>,
    }

    fn sample(json: &str) -> Result<Sample, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn values_are_checked_as_they_are_read() {
        let ok = sample(r#"{"ttl": 60, "owner": "", "token": ""}"#).unwrap();
        assert_eq!((ok.ttl, ok.owner, ok.token), (60, None, None));
        assert!(sample(r#"{"ttl": 0, "owner": "", "token": ""}"#).unwrap_err().contains("outside 1..=600"));
        assert!(sample(r#"{"ttl": 6, "owner": "not mail", "token": ""}"#).is_err());
        assert!(sample(r#"{"ttl": 6, "owner": "", "token": "short"}"#).unwrap_err().contains("32 characters"));
        let long = "x".repeat(32);
        let with = sample(&format!(r#"{{"ttl": 6, "owner": "ann@example.com", "token": "{long}"}}"#)).unwrap();
        assert_eq!(with.owner.unwrap().as_str(), "ann@example.com");
        assert!(!format!("{:?}", with.token).contains(&long), "secrets are never printed");
    }

    #[test]
    fn issuers_are_bare_origins_with_a_lower_case_scheme() {
        assert!(Issuer::parse("https://id.example.com").is_ok());
        assert!(Issuer::parse("https://id.example.com/").is_ok());
        for bad in [
            "https://id.example.com/tenant",
            "HTTPS://id.example.com",
            "https://id.example.com?x=1",
            "id.example.com",
            "ftp://x",
        ] {
            assert!(Issuer::parse(bad).is_err(), "{bad}");
        }
    }
}
