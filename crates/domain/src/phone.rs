//! Phone numbers, parsed once (libphonenumber's metadata, through the `phonenumber` crate) and kept
//! in E.164 form (ITU-T E.164: `+`, country code, national number), so one number is one account.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber {
    e164: String,
    /// ISO 3166-1 alpha-2 region of the number (`FR`, `US`), or `001` for non-geographic numbers.
    region: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PhoneError {
    #[error("enter a phone number")]
    Empty,
    #[error("that does not look like a phone number; include the country code, like +44 7400 123456")]
    Invalid,
    #[error("that phone number is not valid for its country; check the digits and the country code")]
    NotValid,
}

impl PhoneNumber {
    /// Parses what a person typed. Without a leading `+`, the number is read as a national number
    /// of `default_region` (an ISO 3166-1 alpha-2 code), when one is given.
    pub fn parse(raw: &str, default_region: Option<&str>) -> Result<Self, PhoneError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        if trimmed.len() > 40 || trimmed.chars().any(|c| c.is_control()) {
            return Err(PhoneError::Invalid);
        }
        let region = default_region.and_then(|r| r.to_ascii_uppercase().parse::<phonenumber::country::Id>().ok());
        let parsed = phonenumber::parse(region, trimmed).map_err(|_| PhoneError::Invalid)?;
        if !phonenumber::is_valid(&parsed) {
            return Err(PhoneError::NotValid);
        }
        let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
        let region = parsed.country().id().map(|id| format!("{id:?}")).unwrap_or_else(|| "001".into());
        Ok(Self { e164, region })
    }

    /// `+` and digits only.
    pub fn as_str(&self) -> &str {
        &self.e164
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// All but the country prefix and the last two digits hidden, for pages: `+44••••••••23`.
    pub fn masked(&self) -> String {
        let digits = self.e164.len().saturating_sub(1);
        let shown = 2.min(digits);
        let head = &self.e164[..1 + 2.min(digits - shown)];
        let tail = &self.e164[self.e164.len() - shown..];
        format!("{head}{}{tail}", "•".repeat(self.e164.len() - head.len() - shown))
    }
}

/// Whether `code` is an ISO 3166-1 alpha-2 region the phone metadata knows (`GB`, `us`).
pub fn is_region(code: &str) -> bool {
    code.len() == 2 && code.to_ascii_uppercase().parse::<phonenumber::country::Id>().is_ok()
}

/// The calling code of a region (`FR` → 33), when the phone metadata knows it.
pub fn calling_code(region: &str) -> Option<u16> {
    phonenumber::metadata::DATABASE.by_id(region.to_ascii_uppercase().as_str()).map(|m| m.country_code())
}

/// Every region the phone metadata knows, with its calling code, by region code: what the login
/// page's country selector offers. Made once.
pub fn regions() -> &'static [(String, u16)] {
    static REGIONS: std::sync::LazyLock<Vec<(String, u16)>> = std::sync::LazyLock::new(|| {
        let mut all: Vec<(String, u16)> = phonenumber::metadata::DATABASE
            .iter()
            .filter(|m| m.id().len() == 2 && m.id().bytes().all(|b| b.is_ascii_uppercase()))
            .map(|m| (m.id().to_owned(), m.country_code()))
            .collect();
        all.sort();
        all.dedup();
        all
    });
    &REGIONS
}

/// The region a language tag names (`fr-CA` → `CA`, `en-GB` → `GB`; `fr` names none), when the
/// phone metadata knows it (BCP 47: the region subtag is two letters after the language).
pub fn region_of_language(tag: &str) -> Option<String> {
    tag.trim().split(['-', '_']).skip(1).find(|p| p.len() == 2 && is_region(p)).map(|p| p.to_ascii_uppercase())
}

impl TryFrom<String> for PhoneNumber {
    type Error = PhoneError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value, None)
    }
}

impl From<PhoneNumber> for String {
    fn from(value: PhoneNumber) -> Self {
        value.e164
    }
}

impl std::fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.e164)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_country_selector_offers_every_region_once_with_its_code() {
        let regions = super::regions();
        assert!(regions.len() > 200, "{}", regions.len());
        assert!(regions.contains(&("GB".to_owned(), 44)) && regions.contains(&("FR".to_owned(), 33)));
        assert!(regions.windows(2).all(|w| w[0].0 < w[1].0), "sorted, one entry per region");
        assert!(regions.iter().all(|(id, _)| super::is_region(id)));
    }

    use super::*;

    #[test]
    fn numbers_are_normalised_to_e164() {
        let n = PhoneNumber::parse(" +44 7400 123456 ", None).unwrap();
        assert_eq!(n.as_str(), "+447400123456");
        assert_eq!(n.region(), "GB");
        let n = PhoneNumber::parse("06 12 34 56 78", Some("fr")).unwrap();
        assert_eq!(n.as_str(), "+33612345678");
        assert_eq!(n.region(), "FR");
        assert_eq!(PhoneNumber::parse("(201) 555-0123", Some("US")).unwrap().as_str(), "+12015550123");
    }

    #[test]
    fn garbage_and_invalid_numbers_are_refused() {
        assert_eq!(PhoneNumber::parse("", None), Err(PhoneError::Empty));
        assert_eq!(PhoneNumber::parse("call me", None), Err(PhoneError::Invalid));
        assert_eq!(PhoneNumber::parse("612345678", None), Err(PhoneError::Invalid), "no country to read it in");
        assert_eq!(PhoneNumber::parse("+33 12", None), Err(PhoneError::NotValid));
        assert!(PhoneNumber::parse(&"1".repeat(41), None).is_err());
    }

    #[test]
    fn masked_numbers_show_only_the_country_and_last_digits() {
        let n = PhoneNumber::parse("+447400123456", None).unwrap();
        assert_eq!(n.masked(), "+44••••••••56");
    }

    #[test]
    fn deserialising_cannot_skip_the_parse() {
        assert!(serde_json::from_str::<PhoneNumber>("\"12\"").is_err());
        let ok: PhoneNumber = serde_json::from_str("\"+44 7400 123456\"").unwrap();
        assert_eq!(ok.as_str(), "+447400123456");
    }
}
