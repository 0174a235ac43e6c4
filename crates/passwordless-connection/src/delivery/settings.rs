//! `[delivery]` in `config/default.toml`, as read: the provider chains of each channel and each
//! provider's settings. [`DeliverySettings::validate`] keeps the rules that relate several keys,
//! and [`DeliverySettings::build`] makes the chains.

use std::sync::Arc;

use domain::settings::readable_file;
use domain::{Clock, Secret};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use lettre::message::Mailbox;

use super::gateway::GatewaySettings;
use super::smtp::{DkimSettings, SmtpConfig, SmtpSender, SmtpTls};
use super::twilio::TwilioSettings;
use super::{Chain, Delivery, Provider, gateway, hook, mandrill, sendgrid, ses, twilio};

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
    /// The operator's own sender, `[hooks.send_message]`.
    Hook,
}

impl EmailProvider {
    pub fn name(self) -> &'static str {
        match self {
            EmailProvider::Outbox => "outbox",
            EmailProvider::Smtp => "smtp",
            EmailProvider::Sendgrid => "sendgrid",
            EmailProvider::Mandrill => "mandrill",
            EmailProvider::Ses => "ses",
            EmailProvider::Hook => "hook",
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
    /// The operator's own sender, `[hooks.send_message]`.
    Hook,
}

impl SmsProvider {
    pub fn name(self) -> &'static str {
        match self {
            SmsProvider::Outbox => "outbox",
            SmsProvider::Twilio => "twilio",
            SmsProvider::Gateway => "gateway",
            SmsProvider::Hook => "hook",
        }
    }
}

/// Delivery providers per channel, in order: the first is the primary, the rest are failovers.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    #[serde(deserialize_with = "once_each")]
    pub email: Vec<EmailProvider>,
    #[serde(deserialize_with = "once_each")]
    pub sms: Vec<SmsProvider>,
    /// The sender of every email, e.g. "Example Login <login@example.com>"; empty for none.
    #[serde(deserialize_with = "mailbox")]
    pub email_from: Option<Mailbox>,
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
    #[serde(deserialize_with = "http_url")]
    pub base_url: url::Url,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SesSettings {
    #[serde(deserialize_with = "aws_region")]
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// Empty: `https://email.{region}.amazonaws.com`.
    #[serde(deserialize_with = "optional_http_url")]
    pub base_url: Option<url::Url>,
}

/// A chain names each provider once.
fn once_each<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    let list = Vec::<T>::deserialize(d)?;
    match list.iter().enumerate().find(|(i, p)| list[..*i].contains(p)) {
        Some((_, twice)) => Err(D::Error::custom(format!("{twice:?} is listed twice"))),
        None => Ok(list),
    }
}

/// A mailbox like "Example Login <login@example.com>", or the empty string for none.
fn mailbox<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Mailbox>, D::Error> {
    let text = String::deserialize(d)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| D::Error::custom(format!("{text:?} is not an address like \"Example Login <login@example.com>\"")))
}

/// An `http://` or `https://` URL (whether plain http is allowed depends on the profile).
pub(super) fn http_url<'de, D: Deserializer<'de>>(d: D) -> Result<url::Url, D::Error> {
    let text = String::deserialize(d)?;
    match url::Url::parse(&text) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => Ok(u),
        _ => Err(D::Error::custom(format!("{text:?} is not an https:// URL"))),
    }
}

/// An `http(s)://` URL, or the empty string for none.
pub(super) fn optional_http_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<url::Url>, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() {
        return Ok(None);
    }
    http_url(serde::de::IntoDeserializer::<D::Error>::into_deserializer(text)).map(Some)
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

impl DeliverySettings {
    fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.email.iter().map(|p| p.name()).chain(self.sms.iter().map(|p| p.name()))
    }

    /// Whether a chain names the provider `name`.
    pub fn uses(&self, name: &str) -> bool {
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
        if production && d.uses_outbox() {
            p.push(
                "delivery.email / delivery.sms: `outbox` keeps messages on this machine and is refused in production; name a real provider"
                    .into(),
            );
        }
        if d.email.is_empty() {
            p.push("delivery.email: name at least one provider (sign-in codes are sent by email)".into());
        }
        if d.email.iter().any(|n| !matches!(n, EmailProvider::Outbox | EmailProvider::Hook)) && d.email_from.is_none() {
            p.push("delivery.email_from: is required when a provider but `outbox` or `hook` sends email".into());
        }
        let required = |p: &mut Vec<String>, provider: &str, key: &str, empty: bool| {
            if empty {
                p.push(format!("delivery.{provider}.{key}: is required when `{provider}` is a delivery provider"));
            }
        };
        // Plain http only outside production.
        let https = |p: &mut Vec<String>, key: &str, url: &url::Url| {
            if production && url.scheme() != "https" {
                p.push(format!("{key}: {:?} must be an https:// URL in production", url.as_str()));
            }
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
            if let Some(url) = &d.ses.base_url {
                https(p, "delivery.ses.base_url", url);
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
            required(p, "gateway", "url", d.gateway.url.is_none());
            required(p, "gateway", "secret", d.gateway.secret.is_none());
            if let Some(url) = &d.gateway.url {
                https(p, "delivery.gateway.url", url);
            }
        }
    }

    /// The provider chains of both channels, in the configured order (primary first);
    /// `send_message` is the hook the provider `hook` sends through.
    pub fn build(
        &self,
        clock: &Arc<dyn Clock>,
        send_message: Option<&hooks::HookSettings>,
    ) -> Result<Delivery, String> {
        let http = crate::delivery::providers::http_client().map_err(|e| format!("delivery: {e}"))?;
        let hook = |channel| hook::provider(send_message, channel, clock, &http);
        let email = self.email.iter().map(|p| self.email_provider(*p, &http, &hook)).collect::<Result<_, _>>()?;
        let sms = self.sms.iter().map(|p| self.sms_provider(*p, clock, &http, &hook)).collect::<Result<_, _>>()?;
        Ok(Delivery { email: Chain(email), sms: Chain(sms) })
    }

    fn from(&self) -> Result<Mailbox, String> {
        self.email_from.clone().ok_or_else(|| "delivery.email_from: is required".to_owned())
    }

    fn email_provider(
        &self,
        provider: EmailProvider,
        http: &reqwest::Client,
        hook: &hook::Build,
    ) -> Result<Provider, String> {
        let (sendgrid, mandrill, ses) = (&self.sendgrid, &self.mandrill, &self.ses);
        Ok(match provider {
            EmailProvider::Outbox => Provider::Outbox,
            EmailProvider::Hook => hook(domain::Channel::Email)?,
            EmailProvider::Smtp => Provider::Smtp(Box::new(self.smtp()?)),
            EmailProvider::Sendgrid => Provider::SendGrid(sendgrid::SendGridSender::new(
                sendgrid.base_url.as_str(),
                sendgrid.api_key.clone(),
                self.from()?,
                http.clone(),
            )),
            EmailProvider::Mandrill => Provider::Mandrill(mandrill::MandrillSender::new(
                mandrill.base_url.as_str(),
                mandrill.api_key.clone(),
                self.from()?,
                http.clone(),
            )),
            EmailProvider::Ses => Provider::Ses(ses::SesSender::new(
                &ses.region,
                ses.base_url.as_ref().map_or("", |u| u.as_str()),
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
        hook: &hook::Build,
    ) -> Result<Provider, String> {
        Ok(match provider {
            SmsProvider::Outbox => Provider::Outbox,
            SmsProvider::Hook => hook(domain::Channel::Sms)?,
            SmsProvider::Twilio => {
                let t = &self.twilio;
                let sender = if t.from.is_empty() {
                    twilio::TwilioFrom::MessagingService(t.messaging_service_sid.clone())
                } else {
                    twilio::TwilioFrom::From(t.from.clone())
                };
                Provider::Twilio(twilio::TwilioSender::new(
                    t.base_url.as_str(),
                    &t.account_sid,
                    &t.api_key_sid,
                    t.auth_token.clone(),
                    sender,
                    http.clone(),
                ))
            }
            SmsProvider::Gateway => {
                let secret = self.gateway.secret.clone().ok_or("delivery.gateway.secret: is required")?;
                let url = self.gateway.url.as_ref().ok_or("delivery.gateway.url: is required")?;
                Provider::Gateway(Box::new(gateway::GatewaySender::new(
                    url.as_str(),
                    &secret,
                    Arc::clone(clock),
                    http.clone(),
                )))
            }
        })
    }
}
