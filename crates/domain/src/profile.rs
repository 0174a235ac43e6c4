//! What a user's account says about them beyond the sign-in address: the standard claims of OIDC
//! Core §5.1 that the scopes `profile` and `address` release (§5.4). Each value is checked when it
//! is set, so stored profiles are always well formed.

use serde::{Deserialize, Serialize};

/// OIDC Core §5.1 `address` (§5.1.1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

impl Address {
    fn is_empty(&self) -> bool {
        *self == Address::default()
    }
}

/// The `profile` scope's claims (OIDC Core §5.4) plus `address`. `updated_at` is kept by the store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthdate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zoneinfo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileError {
    #[error("{0:?} is not a profile claim; use one of: {keys}", keys = Profile::KEYS.join(", "))]
    UnknownKey(String),
    #[error("{0}: the value is longer than 255 characters or holds control characters")]
    Malformed(&'static str),
    #[error("{0}: must be an absolute https:// or http:// URL")]
    NotAUrl(&'static str),
    #[error("birthdate: must be YYYY-MM-DD, 0000-MM-DD (year withheld) or YYYY (OIDC Core §5.1)")]
    Birthdate,
    #[error("locale: must be a BCP 47 language tag such as en-US or fr (OIDC Core §5.1)")]
    Locale,
    #[error("zoneinfo: must be a time zone database name such as Europe/Paris (OIDC Core §5.1)")]
    Zoneinfo,
}

impl Profile {
    /// Every key [`Profile::set`] accepts, in OIDC Core §5.1 order.
    pub const KEYS: [&'static str; 19] = [
        "name",
        "given_name",
        "family_name",
        "middle_name",
        "nickname",
        "preferred_username",
        "profile",
        "picture",
        "website",
        "gender",
        "birthdate",
        "zoneinfo",
        "locale",
        "address.formatted",
        "address.street_address",
        "address.locality",
        "address.region",
        "address.postal_code",
        "address.country",
    ];

    /// Sets (or with `None` removes) one claim after checking its value.
    pub fn set(&mut self, key: &str, value: Option<&str>) -> Result<(), ProfileError> {
        let name =
            Self::KEYS.iter().copied().find(|k| *k == key).ok_or_else(|| ProfileError::UnknownKey(key.into()))?;
        let value = value.map(str::trim).filter(|v| !v.is_empty());
        if let Some(v) = value {
            check_value(name, v)?;
        }
        let value = value.map(str::to_owned);
        let mut address = self.address.take().unwrap_or_default();
        let slot = match name {
            "name" => &mut self.name,
            "given_name" => &mut self.given_name,
            "family_name" => &mut self.family_name,
            "middle_name" => &mut self.middle_name,
            "nickname" => &mut self.nickname,
            "preferred_username" => &mut self.preferred_username,
            "profile" => &mut self.profile,
            "picture" => &mut self.picture,
            "website" => &mut self.website,
            "gender" => &mut self.gender,
            "birthdate" => &mut self.birthdate,
            "zoneinfo" => &mut self.zoneinfo,
            "locale" => &mut self.locale,
            "address.formatted" => &mut address.formatted,
            "address.street_address" => &mut address.street_address,
            "address.locality" => &mut address.locality,
            "address.region" => &mut address.region,
            "address.postal_code" => &mut address.postal_code,
            _ => &mut address.country,
        };
        *slot = value;
        self.address = (!address.is_empty()).then_some(address);
        Ok(())
    }

    /// Checks every value of a profile read from outside (a JSON document), as [`Profile::set`] would.
    pub fn validate(&self) -> Result<(), ProfileError> {
        let mut copy = Profile::default();
        let json = serde_json::to_value(self).map_err(|_| ProfileError::Malformed("profile"))?;
        for key in Self::KEYS {
            let value = match key.split_once('.') {
                Some((outer, inner)) => &json[outer][inner],
                None => &json[key],
            };
            if let Some(v) = value.as_str() {
                copy.set(key, Some(v))?;
            }
        }
        Ok(())
    }
}

fn check_value(key: &'static str, v: &str) -> Result<(), ProfileError> {
    if v.chars().count() > 255 || v.chars().any(|c| c.is_control() && !(key == "address.formatted" && c == '\n')) {
        return Err(ProfileError::Malformed(key));
    }
    match key {
        "profile" | "picture" | "website" => match url::Url::parse(v) {
            Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => Ok(()),
            _ => Err(ProfileError::NotAUrl(key)),
        },
        "birthdate" => birthdate_ok(v).then_some(()).ok_or(ProfileError::Birthdate),
        "locale" => locale_ok(v).then_some(()).ok_or(ProfileError::Locale),
        "zoneinfo" => zoneinfo_ok(v).then_some(()).ok_or(ProfileError::Zoneinfo),
        _ => Ok(()),
    }
}

/// OIDC Core §5.1 `birthdate`: ISO 8601 `YYYY-MM-DD`, `0000-MM-DD` when the year is withheld, or `YYYY`.
fn birthdate_ok(v: &str) -> bool {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    match v.split('-').collect::<Vec<_>>().as_slice() {
        [y] => digits(y, 4),
        [y, m, d] if digits(y, 4) && digits(m, 2) && digits(d, 2) => {
            let (m, d): (u32, u32) = (m.parse().unwrap_or(0), d.parse().unwrap_or(0));
            (1..=12).contains(&m) && (1..=31).contains(&d)
        }
        _ => false,
    }
}

/// A BCP 47 tag in the simple form OIDC uses (`en`, `en-US`, `zh-Hant-TW`): alphanumeric subtags
/// of 1..8 characters, the first alphabetic.
fn locale_ok(v: &str) -> bool {
    let mut parts = v.split(['-', '_']);
    let first_ok =
        parts.next().is_some_and(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    first_ok && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A zoneinfo name: `Area/Location` (or `UTC`), letters, digits, `_`, `-`, `+` and `/`.
fn zoneinfo_ok(v: &str) -> bool {
    v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-+/".contains(&b)) && !v.starts_with('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_and_clearing_claims_keeps_the_address_tidy() {
        let mut p = Profile::default();
        p.set("name", Some("Ann Lee")).unwrap();
        p.set("address.locality", Some("Paris")).unwrap();
        assert_eq!(p.address.as_ref().and_then(|a| a.locality.as_deref()), Some("Paris"));
        p.set("address.locality", None).unwrap();
        assert_eq!(p.address, None, "an empty address is no address");
        p.set("name", Some("  ")).unwrap();
        assert_eq!(p.name, None, "blank clears");
    }

    #[test]
    fn values_are_checked_against_oidc_core_5_1() {
        let mut p = Profile::default();
        assert_eq!(p.set("nick", Some("x")), Err(ProfileError::UnknownKey("nick".into())));
        assert_eq!(p.set("picture", Some("javascript:alert(1)")), Err(ProfileError::NotAUrl("picture")));
        assert!(p.set("picture", Some("https://cdn.example/ann.png")).is_ok());
        for ok in ["1990-02-28", "0000-12-24", "1990"] {
            assert!(p.set("birthdate", Some(ok)).is_ok(), "{ok}");
        }
        for bad in ["1990-13-01", "90-01-01", "yesterday"] {
            assert_eq!(p.set("birthdate", Some(bad)), Err(ProfileError::Birthdate), "{bad}");
        }
        assert!(p.set("locale", Some("fr-CA")).is_ok());
        assert_eq!(p.set("locale", Some("<script>")), Err(ProfileError::Locale));
        assert!(p.set("zoneinfo", Some("America/Los_Angeles")).is_ok());
        assert_eq!(p.set("zoneinfo", Some("../../etc")), Err(ProfileError::Zoneinfo));
        assert_eq!(p.set("name", Some("a\u{0}b")), Err(ProfileError::Malformed("name")));
        assert_eq!(p.set("name", Some(&"x".repeat(256))), Err(ProfileError::Malformed("name")));
    }

    #[test]
    fn deserialised_profiles_refuse_unknown_fields_and_validate() {
        assert!(serde_json::from_str::<Profile>(r#"{"name":"A","password":"x"}"#).is_err());
        let p: Profile = serde_json::from_str(r#"{"website":"ftp://x"}"#).unwrap();
        assert_eq!(p.validate(), Err(ProfileError::NotAUrl("website")));
    }
}
