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

/// Loads the numbering plans, once, on a thread of their own (about 70 ms and 7 MiB in a release
/// build): for a page that offers the phone field to call, so that the number typed into it does not
/// wait for them, while a server that no one has asked for a phone number does not hold them.
pub fn load_plans_soon() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let load = || {
            let _ = phonenumber::metadata::DATABASE.by_id("US");
        };
        // Without the thread, the first number parsed loads them: slower once, never wrong.
        let _ = std::thread::Builder::new().name("phone-plans".into()).spawn(load);
    });
}

/// The calling code of a region (`FR` → 33), when the phone metadata knows it.
pub fn calling_code(region: &str) -> Option<u16> {
    let (region, all) = (region.to_ascii_uppercase(), regions());
    all.binary_search_by(|(id, _)| id.as_str().cmp(&region)).ok().map(|at| all[at].1)
}

/// Every region the phone metadata knows, with its calling code, by region code: what the login
/// page's country selector offers. Read from [`REGIONS`], not from the numbering plans: those take
/// about 7 MiB once loaded, and a server that shows the selector but is never sent a phone number
/// need not hold them (a test checks the table against the plans).
pub fn regions() -> &'static [(String, u16)] {
    static PARSED: std::sync::LazyLock<Vec<(String, u16)>> = std::sync::LazyLock::new(|| {
        let entry = |e: &str| Some((e.get(..2)?.to_owned(), e.get(2..)?.parse().ok()?));
        REGIONS.split_whitespace().filter_map(entry).collect()
    });
    &PARSED
}

/// Each two-letter region of libphonenumber's metadata (`PhoneNumberMetadata.xml`) and its calling
/// code, in region order, as `phonenumber` 0.3.10+9.0.33 has them.
const REGIONS: &str = "\
AC247 AD376 AE971 AF93 AG1 AI1 AL355 AM374 AO244 AR54 AS1 AT43 AU61 AW297 AX358 AZ994 BA387 BB1 \
BD880 BE32 BF226 BG359 BH973 BI257 BJ229 BL590 BM1 BN673 BO591 BQ599 BR55 BS1 BT975 BW267 BY375 \
BZ501 CA1 CC61 CD243 CF236 CG242 CH41 CI225 CK682 CL56 CM237 CN86 CO57 CR506 CU53 CV238 CW599 CX61 \
CY357 CZ420 DE49 DJ253 DK45 DM1 DO1 DZ213 EC593 EE372 EG20 EH212 ER291 ES34 ET251 FI358 FJ679 FK500 \
FM691 FO298 FR33 GA241 GB44 GD1 GE995 GF594 GG44 GH233 GI350 GL299 GM220 GN224 GP590 GQ240 GR30 \
GT502 GU1 GW245 GY592 HK852 HN504 HR385 HT509 HU36 ID62 IE353 IL972 IM44 IN91 IO246 IQ964 IR98 IS354 \
IT39 JE44 JM1 JO962 JP81 KE254 KG996 KH855 KI686 KM269 KN1 KP850 KR82 KW965 KY1 KZ7 LA856 LB961 LC1 \
LI423 LK94 LR231 LS266 LT370 LU352 LV371 LY218 MA212 MC377 MD373 ME382 MF590 MG261 MH692 MK389 ML223 \
MM95 MN976 MO853 MP1 MQ596 MR222 MS1 MT356 MU230 MV960 MW265 MX52 MY60 MZ258 NA264 NC687 NE227 NF672 \
NG234 NI505 NL31 NO47 NP977 NR674 NU683 NZ64 OM968 PA507 PE51 PF689 PG675 PH63 PK92 PL48 PM508 PR1 \
PS970 PT351 PW680 PY595 QA974 RE262 RO40 RS381 RU7 RW250 SA966 SB677 SC248 SD249 SE46 SG65 SH290 \
SI386 SJ47 SK421 SL232 SM378 SN221 SO252 SR597 SS211 ST239 SV503 SX1 SY963 SZ268 TA290 TC1 TD235 \
TG228 TH66 TJ992 TK690 TL670 TM993 TN216 TO676 TR90 TT1 TV688 TW886 TZ255 UA380 UG256 US1 UY598 \
UZ998 VA39 VC1 VE58 VG1 VI1 VN84 VU678 WF681 WS685 XK383 YE967 YT262 ZA27 ZM260 ZW263";

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
        assert_eq!(
            (super::calling_code("fr"), super::calling_code("US"), super::calling_code("ZZ")),
            (Some(33), Some(1), None)
        );
    }

    #[test]
    fn the_region_table_is_the_numbering_plans_own() {
        let mut plans: Vec<(String, u16)> = phonenumber::metadata::DATABASE
            .iter()
            .filter(|m| m.id().len() == 2 && m.id().bytes().all(|b| b.is_ascii_uppercase()))
            .map(|m| (m.id().to_owned(), m.country_code()))
            .collect();
        plans.sort();
        plans.dedup();
        assert_eq!(
            super::regions(),
            plans.as_slice(),
            "phonenumber was upgraded: regenerate REGIONS from its metadata"
        );
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
