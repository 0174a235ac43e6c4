//! `[passwordless]` in `config/default.toml`, as read: each value is checked as it is
//! deserialised; [`PasswordlessSettings::validate`] keeps the rule that relates it to `[oidc]`.

use domain::settings::{at_least_one, optional, within};
use domain::{EmailAddress, Issuer};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use crate::{Alerts, ChannelConfig, Limits, PasswordlessConfig, SmsPolicy};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordlessSettings {
    pub product_name: String,
    /// Replaces the sign-in email's subject; empty: the catalog's.
    pub email_subject: String,
    #[serde(deserialize_with = "within::<_, _, 1, 10>")]
    pub max_attempts: i32,
    pub signups_enabled: bool,
    pub email: ChannelSettings,
    pub sms: SmsSettings,
    pub limits: LimitSettings,
    pub alerts: AlertSettings,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSettings {
    #[serde(deserialize_with = "within::<_, _, 6, 10>")]
    pub code_length: usize,
    /// A code lives at most 10 minutes.
    #[serde(deserialize_with = "within::<_, _, 30, 600>")]
    pub ttl: i64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    #[serde(deserialize_with = "within::<_, _, 6, 10>")]
    pub code_length: usize,
    #[serde(deserialize_with = "within::<_, _, 30, 600>")]
    pub ttl: i64,
    /// The region of numbers typed without `+` (GB, US…); empty: `+` required.
    #[serde(deserialize_with = "region")]
    pub default_region: Option<String>,
    /// Regions numbers may belong to; `*` allows every region.
    #[serde(deserialize_with = "regions")]
    pub allowed_countries: Vec<String>,
    #[serde(deserialize_with = "within::<_, _, 3, 12>")]
    pub prefix_digits: usize,
    #[serde(deserialize_with = "at_least_one")]
    pub sends_per_prefix_per_hour: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    #[serde(deserialize_with = "at_least_one")]
    pub starts_per_ip_per_hour: u64,
    #[serde(deserialize_with = "at_least_one")]
    pub sends_per_destination_per_minute: u64,
    #[serde(deserialize_with = "at_least_one")]
    pub sends_per_destination_per_hour: u64,
    #[serde(deserialize_with = "at_least_one")]
    pub failures_per_ip_per_account: u64,
    #[serde(deserialize_with = "at_least_one")]
    pub failures_per_ip_per_day: u64,
    #[serde(deserialize_with = "at_least_one")]
    pub global_failures_per_hour: u64,
    #[serde(deserialize_with = "within::<_, _, 60, 2_592_000>")]
    pub block_seconds: i64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    #[serde(deserialize_with = "optional")]
    pub owner_email: Option<EmailAddress>,
    #[serde(deserialize_with = "at_least_one")]
    pub sms_ratio_min_sent: u64,
    #[serde(deserialize_with = "share")]
    pub sms_ratio_threshold: f64,
}

/// A region code like GB, upper-cased; the empty string for none.
fn region<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    match text.as_str() {
        "" => Ok(None),
        code if domain::phone::is_region(code) => Ok(Some(code.to_ascii_uppercase())),
        code => Err(D::Error::custom(format!("{code:?} is not a region code like GB or US"))),
    }
}

/// At least one region code, or `*` for all.
fn regions<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let list = Vec::<String>::deserialize(d)?;
    if list.is_empty() {
        return Err(D::Error::custom("list at least one region, or [\"*\"] for all"));
    }
    match list.iter().find(|c| *c != "*" && !domain::phone::is_region(c)) {
        Some(bad) => Err(D::Error::custom(format!("{bad:?} is not a region code like GB, or \"*\""))),
        None => Ok(list),
    }
}

/// A share, between 0 and 1.
fn share<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match f64::deserialize(d)? {
        v if (0.0..=1.0).contains(&v) => Ok(v),
        v => Err(D::Error::custom(format!("{v} is not between 0 and 1"))),
    }
}

impl PasswordlessSettings {
    /// The connection's configuration: links under `public_url`; SMS offered when a provider is.
    pub fn config(&self, public_url: &Issuer, sms_available: bool) -> PasswordlessConfig {
        let (l, s) = (&self.limits, &self.sms);
        PasswordlessConfig {
            public_url: public_url.to_string(),
            product_name: self.product_name.clone(),
            email_subject: Some(self.email_subject.trim().to_owned()).filter(|s| !s.is_empty()),
            email: ChannelConfig { code_length: self.email.code_length, ttl: self.email.ttl },
            sms: ChannelConfig { code_length: s.code_length, ttl: s.ttl },
            max_attempts: self.max_attempts,
            signups_enabled: self.signups_enabled,
            sms_policy: SmsPolicy {
                available: sms_available,
                default_region: s.default_region.clone(),
                allowed_countries: s.allowed_countries.clone(),
                prefix_digits: s.prefix_digits,
                sends_per_prefix_per_hour: s.sends_per_prefix_per_hour,
            },
            limits: Limits {
                starts_per_ip_per_hour: l.starts_per_ip_per_hour,
                sends_per_destination_per_minute: l.sends_per_destination_per_minute,
                sends_per_destination_per_hour: l.sends_per_destination_per_hour,
                failures_per_ip_per_account: l.failures_per_ip_per_account,
                failures_per_ip_per_day: l.failures_per_ip_per_day,
                global_failures_per_hour: l.global_failures_per_hour,
                block_seconds: l.block_seconds,
            },
            alerts: Alerts {
                owner_email: self.alerts.owner_email.clone(),
                sms_ratio_min_sent: self.alerts.sms_ratio_min_sent,
                sms_ratio_threshold: self.alerts.sms_ratio_threshold,
            },
        }
    }

    /// Rules across sections: a code must expire before the sign-in it belongs to.
    pub fn validate(&self, interaction_ttl: i64, problems: &mut Vec<String>) {
        for (name, ttl) in [("email", self.email.ttl), ("sms", self.sms.ttl)] {
            if ttl >= interaction_ttl {
                problems.push(format!("passwordless.{name}.ttl: must be shorter than oidc.interaction_ttl"));
            }
        }
    }
}
