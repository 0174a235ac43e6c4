//! `[delivery]` in `config/default.toml`, as read: the provider chains of each channel and each
//! provider's settings. [`DeliverySettings::validate`] keeps the rules that relate several keys,
//! and [`DeliverySettings::build`] makes the chains.

use std::sync::Arc;

use domain::settings::readable_file;
use domain::{Clock, Secret};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use super::smtp::{DkimSettings, SmtpConfig, SmtpSender, SmtpTls};
use super::{Chain, Delivery, Provider, gateway, mandrill, sendgrid, ses, twilio};

/// The providers that can carry email.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailProvider {
    /// The development outbox (`/dev/outbox`).
    Outbox,
    Smtp,
    Sendgrid,
    Mandrill,
    Ses,
}

impl EmailProvider {
    pub fn name(self) -> &'static str {
        match self {
            EmailProvider::Outbox => "outbox",
            EmailProvider::Smtp => "smtp",
            EmailProvider::Sendgrid => "sendgrid",
            EmailProvider::Mandrill => "mandrill",
            EmailProvider::Ses => "ses",
        }
    }
}

/// The providers that can carry text messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsProvider {
    Outbox,
    Twilio,
    Gateway,
}

impl SmsProvider {
    pub fn name(self) -> &'static str {
        match self {
            SmsProvider::Outbox => "outbox",
            SmsProvider::Twilio => "twilio",
            SmsProvider::Gateway => "gateway",
        }
    }
}

/// Delivery providers per channel, in order: the first is the primary, the rest are failovers.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    pub email: Vec<EmailProvider>,
    pub sms: Vec<SmsProvider>,
    /// The sender of every email, e.g. "Example Login <login@example.com>".
    pub email_from: String,
    pub smtp: SmtpSettings,
    pub sendgrid: ApiKeySettings,
    pub mandrill: ApiKeySettings,
    pub ses: SesSettings,
    pub twilio: TwilioSettings,
    pub gateway: GatewaySettings,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DkimAlgorithm {
    /// A PKCS#1 PEM key.
    Rsa,
    /// The base64 of the 32-byte seed (RFC 8463).
    Ed25519,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: String,
    pub password: Secret,
    /// DKIM signing: all three set, or none.
    pub dkim_domain: String,
    pub dkim_selector: String,
    #[serde(deserialize_with = "readable_file")]
    pub dkim_key_file: Option<std::path::PathBuf>,
    pub dkim_algorithm: DkimAlgorithm,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySettings {
    pub api_key: Secret,
    pub base_url: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SesSettings {
    #[serde(deserialize_with = "aws_region")]
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// Empty: `https://email.{region}.amazonaws.com`.
    pub base_url: String,
}

/// An AWS region name like eu-west-1 (or empty).
fn aws_region<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    if text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        Ok(text)
    } else {
        Err(D::Error::custom(format!("{text:?} is not a region name like eu-west-1")))
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioSettings {
    #[serde(deserialize_with = "alphanumeric")]
    pub account_sid: String,
    /// An API key SID (`SK…`) to authenticate with; empty: the Account SID and its auth token.
    pub api_key_sid: String,
    /// The API key's secret, or the account's auth token.
    pub auth_token: Secret,
    /// A sender number (E.164) or alphanumeric sender id; or leave empty and set the service.
    pub from: String,
    pub messaging_service_sid: String,
    pub base_url: String,
}

/// Letters and digits only (a Twilio SID like AC…), or empty.
fn alphanumeric<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    if text.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(text)
    } else {
        Err(D::Error::custom("must be letters and digits (AC…)"))
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    pub url: String,
    /// The HMAC key the gateway checks `X-Ostiary-Signature` with (at least 32 characters).
    #[serde(deserialize_with = "domain::settings::optional_long_secret")]
    pub secret: Option<Secret>,
}

impl DeliverySettings {
    fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.email.iter().map(|p| p.name()).chain(self.sms.iter().map(|p| p.name()))
    }

    fn uses(&self, name: &str) -> bool {
        self.names().any(|n| n == name)
    }

    /// Whether any channel keeps its messages in the development outbox.
    pub fn uses_outbox(&self) -> bool {
        self.uses("outbox")
    }

    /// The rules that relate several keys: a provider in a chain needs its settings, a chain names
    /// each provider once, and production sends real messages over https.
    pub fn validate(&self, production: bool, p: &mut Vec<String>) {
        let d = self;
        let email: Vec<&str> = d.email.iter().map(|p| p.name()).collect();
        let sms: Vec<&str> = d.sms.iter().map(|p| p.name()).collect();
        for (key, names) in [("delivery.email", email), ("delivery.sms", sms)] {
            if let Some((_, name)) = names.iter().enumerate().find(|(i, n)| names[..*i].contains(n)) {
                p.push(format!("{key}: {name:?} is listed twice"));
            }
            if production && names.contains(&"outbox") {
                p.push(format!(
                    "{key}: `outbox` keeps messages on this machine and is refused in production; name a real provider"
                ));
            }
        }
        if d.email.is_empty() {
            p.push("delivery.email: name at least one provider (sign-in codes are sent by email)".into());
        }
        if d.email.iter().any(|n| *n != EmailProvider::Outbox)
            && d.email_from.parse::<lettre::message::Mailbox>().is_err()
        {
            p.push(format!(
                "delivery.email_from: {:?} is not an address like \"Example Login <login@example.com>\"",
                d.email_from
            ));
        }
        let required = |p: &mut Vec<String>, provider: &str, key: &str, empty: bool| {
            if empty {
                p.push(format!("delivery.{provider}.{key}: is required when `{provider}` is a delivery provider"));
            }
        };
        let https = |p: &mut Vec<String>, key: &str, url: &str| match url::Url::parse(url) {
            Ok(u) if u.scheme() == "https" || (!production && u.scheme() == "http") => {}
            _ => p.push(format!("{key}: {url:?} must be an https:// URL (http:// only in development)")),
        };
        if d.uses("smtp") {
            let s = &d.smtp;
            required(p, "smtp", "host", s.host.is_empty());
            let dkim = [s.dkim_domain.is_empty(), s.dkim_selector.is_empty(), s.dkim_key_file.is_none()];
            if dkim.iter().any(|empty| !empty) && dkim.iter().any(|empty| *empty) {
                p.push("delivery.smtp.dkim_domain / dkim_selector / dkim_key_file: set all three (to sign with DKIM) or none".into());
            }
        }
        for (name, settings) in [("sendgrid", &d.sendgrid), ("mandrill", &d.mandrill)] {
            if d.uses(name) {
                required(p, name, "api_key", settings.api_key.is_empty());
                https(p, &format!("delivery.{name}.base_url"), &settings.base_url);
            }
        }
        if d.uses("ses") {
            required(p, "ses", "region", d.ses.region.is_empty());
            required(p, "ses", "access_key_id", d.ses.access_key_id.is_empty());
            required(p, "ses", "secret_access_key", d.ses.secret_access_key.is_empty());
            if !d.ses.base_url.is_empty() {
                https(p, "delivery.ses.base_url", &d.ses.base_url);
            }
        }
        if d.uses("twilio") {
            let t = &d.twilio;
            required(p, "twilio", "account_sid", t.account_sid.is_empty());
            required(p, "twilio", "auth_token", t.auth_token.is_empty());
            if t.from.is_empty() == t.messaging_service_sid.is_empty() {
                p.push("delivery.twilio.from / messaging_service_sid: set exactly one".into());
            }
            https(p, "delivery.twilio.base_url", &t.base_url);
        }
        if d.uses("gateway") {
            required(p, "gateway", "url", d.gateway.url.is_empty());
            required(p, "gateway", "secret", d.gateway.secret.is_none());
            if !d.gateway.url.is_empty() {
                https(p, "delivery.gateway.url", &d.gateway.url);
            }
        }
    }

    /// The provider chains of both channels, in the configured order (primary first).
    pub fn build(&self, clock: &Arc<dyn Clock>) -> Result<Delivery, String> {
        let http = crate::delivery::providers::http_client().map_err(|e| format!("delivery: {e}"))?;
        let email = self.email.iter().map(|p| self.email_provider(*p, &http)).collect::<Result<_, _>>()?;
        let sms = self.sms.iter().map(|p| self.sms_provider(*p, clock, &http)).collect::<Result<_, _>>()?;
        Ok(Delivery { email: Chain(email), sms: Chain(sms) })
    }

    fn from(&self) -> Result<lettre::message::Mailbox, String> {
        self.email_from.parse().map_err(|e| format!("delivery.email_from: {e}"))
    }

    fn email_provider(&self, provider: EmailProvider, http: &reqwest::Client) -> Result<Provider, String> {
        let (sendgrid, mandrill, ses) = (&self.sendgrid, &self.mandrill, &self.ses);
        Ok(match provider {
            EmailProvider::Outbox => Provider::Outbox,
            EmailProvider::Smtp => Provider::Smtp(Box::new(self.smtp()?)),
            EmailProvider::Sendgrid => Provider::SendGrid(sendgrid::SendGridSender::new(
                &sendgrid.base_url,
                sendgrid.api_key.clone(),
                self.from()?,
                http.clone(),
            )),
            EmailProvider::Mandrill => Provider::Mandrill(mandrill::MandrillSender::new(
                &mandrill.base_url,
                mandrill.api_key.clone(),
                self.from()?,
                http.clone(),
            )),
            EmailProvider::Ses => Provider::Ses(ses::SesSender::new(
                &ses.region,
                &ses.base_url,
                &ses.access_key_id,
                ses.secret_access_key.clone(),
                self.from()?,
                http.clone(),
            )),
        })
    }

    fn smtp(&self) -> Result<SmtpSender, String> {
        let s = &self.smtp;
        let dkim = match &s.dkim_key_file {
            None => None,
            Some(path) => {
                let key = std::fs::read_to_string(path)
                    .map_err(|e| format!("delivery.smtp.dkim_key_file: cannot read {}: {e}", path.display()))?;
                Some(DkimSettings {
                    domain: s.dkim_domain.clone(),
                    selector: s.dkim_selector.clone(),
                    key: Secret::new(key.trim().to_owned()),
                    ed25519: s.dkim_algorithm == DkimAlgorithm::Ed25519,
                })
            }
        };
        SmtpSender::new(&SmtpConfig {
            host: s.host.clone(),
            port: s.port,
            tls: s.tls,
            username: Some(s.username.clone()).filter(|u| !u.is_empty()),
            password: Some(s.password.clone()).filter(|p| !p.is_empty()),
            from: self.from()?,
            dkim,
        })
        .map_err(|e| format!("delivery.smtp: {e}"))
    }

    fn sms_provider(
        &self,
        provider: SmsProvider,
        clock: &Arc<dyn Clock>,
        http: &reqwest::Client,
    ) -> Result<Provider, String> {
        Ok(match provider {
            SmsProvider::Outbox => Provider::Outbox,
            SmsProvider::Twilio => {
                let t = &self.twilio;
                let sender = if t.from.is_empty() {
                    twilio::TwilioFrom::MessagingService(t.messaging_service_sid.clone())
                } else {
                    twilio::TwilioFrom::From(t.from.clone())
                };
                Provider::Twilio(twilio::TwilioSender::new(
                    &t.base_url,
                    &t.account_sid,
                    &t.api_key_sid,
                    t.auth_token.clone(),
                    sender,
                    http.clone(),
                ))
            }
            SmsProvider::Gateway => {
                let secret = self.gateway.secret.clone().ok_or("delivery.gateway.secret: is required")?;
                Provider::Gateway(Box::new(gateway::GatewaySender::new(
                    &self.gateway.url,
                    &secret,
                    Arc::clone(clock),
                    http.clone(),
                )))
            }
        })
    }
}
