//! Configuration: `config/default.toml` (compiled in, documents every key), then the file given
//! with `--config`, then `OSTIARY__SECTION__KEY` environment variables. Every problem is reported
//! at once with its key's name, and the server refuses to start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

pub const DEFAULTS: &str = include_str!("../../../config/default.toml");

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub secrets: SecretSettings,
    pub oidc: OidcSettings,
    pub passwordless: PasswordlessSettings,
    pub delivery: DeliverySettings,
    pub step_up: StepUpSettings,
    pub demo: DemoSettings,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepUpSettings {
    /// A MaxMind-format country database; empty: the embedded registry data.
    pub geoip_mmdb: String,
    pub impossible_travel_kmh: f64,
    pub device_cookie_days: i64,
    pub max_failures_per_hour: u64,
    pub notify_new_sign_ins: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub profile: String,
    pub bind: String,
    pub issuer: String,
    pub data_dir: String,
    pub trusted_proxies: Vec<String>,
    /// The header the trusted proxies write the client's address in: `x-forwarded-for` or `forwarded`.
    pub forwarded_header: String,
    /// PEM certificate chain and private key: when both are set Ostiary serves HTTPS itself.
    pub tls_cert: String,
    pub tls_key: String,
    pub log: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub pool_size: u32,
    pub auto_migrate: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub url: String,
    pub key_prefix: String,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSettings {
    pub master_key: String,
}

impl std::fmt::Debug for SecretSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretSettings([redacted])")
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    pub code_ttl: i64,
    pub id_token_ttl: i64,
    pub access_token_ttl: i64,
    pub refresh_token_ttl: i64,
    pub interaction_ttl: i64,
    pub session_ttl: i64,
    pub key_rotation_days: i64,
    pub registration_token: String,
    pub interactions_per_ip_per_hour: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordlessSettings {
    pub product_name: String,
    pub email_subject: String,
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
    pub code_length: usize,
    pub ttl: i64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    pub code_length: usize,
    pub ttl: i64,
    pub default_region: String,
    pub allowed_countries: Vec<String>,
    pub prefix_digits: usize,
    pub sends_per_prefix_per_hour: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub starts_per_ip_per_hour: u64,
    pub sends_per_destination_per_minute: u64,
    pub sends_per_destination_per_hour: u64,
    pub failures_per_ip_per_account: u64,
    pub failures_per_ip_per_day: u64,
    pub global_failures_per_hour: u64,
    pub block_seconds: i64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    pub owner_email: String,
    pub sms_ratio_min_sent: u64,
    pub sms_ratio_threshold: f64,
}

/// Delivery providers per channel, in order: the first is the primary, the rest are failovers.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    pub email: Vec<String>,
    pub sms: Vec<String>,
    /// The sender of every email, e.g. "Example Login <login@example.com>".
    pub email_from: String,
    pub smtp: SmtpSettings,
    pub sendgrid: ApiKeySettings,
    pub mandrill: ApiKeySettings,
    pub ses: SesSettings,
    pub twilio: TwilioSettings,
    pub gateway: GatewaySettings,
}

/// Providers that can carry each channel.
pub const EMAIL_PROVIDERS: [&str; 5] = ["outbox", "smtp", "sendgrid", "mandrill", "ses"];
pub const SMS_PROVIDERS: [&str; 3] = ["outbox", "twilio", "gateway"];

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: String,
    pub username: String,
    pub password: domain::Secret,
    /// DKIM signing: all three set, or none.
    pub dkim_domain: String,
    pub dkim_selector: String,
    pub dkim_key_file: String,
    /// `rsa` (a PKCS#1 PEM key) or `ed25519` (the base64 of the 32-byte seed).
    pub dkim_algorithm: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySettings {
    pub api_key: domain::Secret,
    pub base_url: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SesSettings {
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: domain::Secret,
    /// Empty: `https://email.{region}.amazonaws.com`.
    pub base_url: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioSettings {
    pub account_sid: String,
    /// An API key SID (`SK…`) to authenticate with; empty: the Account SID and its auth token.
    pub api_key_sid: String,
    /// The API key's secret, or the account's auth token.
    pub auth_token: domain::Secret,
    /// A sender number (E.164) or alphanumeric sender id; or leave empty and set the service.
    pub from: String,
    pub messaging_service_sid: String,
    pub base_url: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    pub url: String,
    /// The HMAC key the gateway checks `X-Ostiary-Signature` with (at least 32 characters).
    pub secret: domain::Secret,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoSettings {
    pub enabled: bool,
}

/// Everything wrong with a configuration, one line per key.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<String>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "the configuration has {} problem(s):", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}
impl std::error::Error for ConfigErrors {}

impl Settings {
    /// Defaults, then `file`, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigErrors> {
        let mut fig = Figment::from(Toml::string(DEFAULTS));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigErrors(vec![format!("--config {}: no such file", path.display())]));
            }
            fig = fig.merge(Toml::file(path));
        }
        Self::from_figment(fig.merge(Env::prefixed("OSTIARY__").split("__")))
    }

    pub fn from_figment(fig: Figment) -> Result<Self, ConfigErrors> {
        let settings: Settings = fig.extract().map_err(|err| {
            ConfigErrors(
                err.into_iter()
                    .map(|e| {
                        let key = e.path.join(".");
                        let source = e.metadata.as_ref().map(|m| m.name.to_string()).unwrap_or_default();
                        if key.is_empty() {
                            format!("{} ({source})", e.kind)
                        } else {
                            format!("{key}: {} ({source})", e.kind)
                        }
                    })
                    .collect(),
            )
        })?;
        let problems = settings.validate();
        if problems.is_empty() { Ok(settings) } else { Err(ConfigErrors(problems)) }
    }

    /// The built-in defaults alone (no file, no environment).
    pub fn defaults() -> Result<Self, ConfigErrors> {
        Self::from_figment(Figment::from(Toml::string(DEFAULTS)))
    }

    pub fn is_production(&self) -> bool {
        self.server.profile == "production"
    }

    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        let s = self;
        if !["development", "production"].contains(&s.server.profile.as_str()) {
            p.push(format!("server.profile: {:?} is not `development` or `production`", s.server.profile));
        }
        if s.server.bind.parse::<SocketAddr>().is_err() {
            p.push(format!("server.bind: {:?} is not an address like 127.0.0.1:8080", s.server.bind));
        }
        match url::Url::parse(&s.server.issuer) {
            Ok(u) if u.query().is_some() || u.fragment().is_some() => {
                p.push("server.issuer: must not have a query or fragment (OIDC Discovery §3)".into())
            }
            // Endpoints are served at the root of the host; a path prefix would advertise URLs that do not exist.
            Ok(u) if u.path() != "/" => {
                p.push(format!("server.issuer: {:?} must not have a path (a trailing `/` is allowed)", s.server.issuer))
            }
            // Cookies and HSTS look at the issuer's scheme as written; it must be lower case.
            Ok(_) if !(s.server.issuer.starts_with("https://") || s.server.issuer.starts_with("http://")) => p.push(
                format!("server.issuer: {:?} must start with https:// (or http:// in development)", s.server.issuer),
            ),
            Ok(u) if u.scheme() == "https" => {}
            Ok(u) if u.scheme() == "http" && !s.is_production() => {}
            Ok(_) => p.push(format!("server.issuer: {:?} must be an https URL in production", s.server.issuer)),
            Err(e) => p.push(format!("server.issuer: {:?} is not a URL ({e})", s.server.issuer)),
        }
        match (s.server.tls_cert.is_empty(), s.server.tls_key.is_empty()) {
            (true, true) => {}
            (false, false) => {
                for (key, path) in [("server.tls_cert", &s.server.tls_cert), ("server.tls_key", &s.server.tls_key)] {
                    if !Path::new(path).is_file() {
                        p.push(format!("{key}: {path:?} is not a readable file"));
                    }
                }
            }
            _ => p.push("server.tls_cert / server.tls_key: set both (to serve HTTPS) or neither".into()),
        }
        for proxy in &s.server.trusted_proxies {
            if parse_net(proxy).is_none() {
                p.push(format!("server.trusted_proxies: {proxy:?} is not an IP address or CIDR range"));
            }
        }
        if crate::middleware::ForwardedHeader::parse(&s.server.forwarded_header).is_none() {
            p.push(format!(
                "server.forwarded_header: {:?} is not `x-forwarded-for` or `forwarded`",
                s.server.forwarded_header
            ));
        }
        if let Err(e) = store::Backend::from_url(&s.database.url) {
            p.push(format!("database.url: {e}"));
        }
        if s.database.pool_size == 0 || s.database.pool_size > 200 {
            p.push("database.pool_size: must be between 1 and 200".into());
        }
        if !(s.redis.url.is_empty() || s.redis.url.starts_with("redis://") || s.redis.url.starts_with("rediss://")) {
            p.push("redis.url: must be empty or start with redis:// or rediss://".into());
        }
        if !s.secrets.master_key.is_empty() && domain::MasterKey::from_base64(&s.secrets.master_key).is_err() {
            p.push(
                "secrets.master_key: must be 32 bytes, base64-encoded (generate one with `openssl rand -base64 32`)"
                    .into(),
            );
        }
        if s.secrets.master_key.is_empty() && s.is_production() {
            p.push("secrets.master_key: is required in production (set OSTIARY__SECRETS__MASTER_KEY)".into());
        }
        let range = |p: &mut Vec<String>, key: &str, v: i64, lo: i64, hi: i64| {
            if v < lo || v > hi {
                p.push(format!("{key}: {v} is outside {lo}..={hi}"));
            }
        };
        range(&mut p, "oidc.code_ttl", s.oidc.code_ttl, 1, 600);
        range(&mut p, "oidc.id_token_ttl", s.oidc.id_token_ttl, 60, 86_400);
        range(&mut p, "oidc.access_token_ttl", s.oidc.access_token_ttl, 60, 86_400);
        range(&mut p, "oidc.refresh_token_ttl", s.oidc.refresh_token_ttl, 300, 31_536_000);
        range(&mut p, "oidc.interaction_ttl", s.oidc.interaction_ttl, 60, 86_400);
        range(&mut p, "oidc.session_ttl", s.oidc.session_ttl, 60, 31_536_000);
        if !s.oidc.registration_token.is_empty() && s.oidc.registration_token.len() < 32 {
            p.push(
                "oidc.registration_token: must be at least 32 characters (or empty to turn registration off)".into(),
            );
        }
        range(&mut p, "oidc.key_rotation_days", s.oidc.key_rotation_days, 0, 3650);
        if s.oidc.interactions_per_ip_per_hour == 0 {
            p.push("oidc.interactions_per_ip_per_hour: must be at least 1".into());
        }
        s.passwordless.validate(s.oidc.interaction_ttl, &mut p);
        s.delivery.validate(s.is_production(), &mut p);
        let u = &s.step_up;
        if !u.geoip_mmdb.is_empty() && !Path::new(&u.geoip_mmdb).is_file() {
            p.push(format!("step_up.geoip_mmdb: {:?} is not a readable file", u.geoip_mmdb));
        }
        if !(100.0..=20_000.0).contains(&u.impossible_travel_kmh) {
            p.push("step_up.impossible_travel_kmh: must be between 100 and 20000".into());
        }
        range(&mut p, "step_up.device_cookie_days", u.device_cookie_days, 1, 800);
        if u.max_failures_per_hour == 0 {
            p.push("step_up.max_failures_per_hour: must be at least 1".into());
        }
        if s.demo.enabled && s.is_production() {
            p.push("demo.enabled: the demo app is for development and is refused in production".into());
        }
        p
    }

    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from(&self.server.data_dir)
    }
}

impl PasswordlessSettings {
    fn validate(&self, interaction_ttl: i64, p: &mut Vec<String>) {
        let range = |p: &mut Vec<String>, key: &str, v: i64, lo: i64, hi: i64| {
            if v < lo || v > hi {
                p.push(format!("passwordless.{key}: {v} is outside {lo}..={hi}"));
            }
        };
        range(p, "max_attempts", i64::from(self.max_attempts), 1, 10);
        for (name, code_length, ttl) in
            [("email", self.email.code_length, self.email.ttl), ("sms", self.sms.code_length, self.sms.ttl)]
        {
            range(p, &format!("{name}.code_length"), code_length as i64, 6, 10);
            // A code lives at most 10 minutes.
            range(p, &format!("{name}.ttl"), ttl, 30, 600);
            if ttl >= interaction_ttl {
                p.push(format!("passwordless.{name}.ttl: must be shorter than oidc.interaction_ttl"));
            }
        }
        let s = &self.sms;
        if !s.default_region.is_empty() && !domain::phone::is_region(&s.default_region) {
            p.push(format!(
                "passwordless.sms.default_region: {:?} is not a region code like GB or US",
                s.default_region
            ));
        }
        for c in &s.allowed_countries {
            if c != "*" && !domain::phone::is_region(c) {
                p.push(format!("passwordless.sms.allowed_countries: {c:?} is not a region code like GB, or \"*\""));
            }
        }
        if s.allowed_countries.is_empty() {
            p.push("passwordless.sms.allowed_countries: list at least one region, or [\"*\"] for all".into());
        }
        range(p, "sms.prefix_digits", s.prefix_digits as i64, 3, 12);
        let l = &self.limits;
        for (key, v) in [
            ("limits.starts_per_ip_per_hour", l.starts_per_ip_per_hour),
            ("limits.sends_per_destination_per_minute", l.sends_per_destination_per_minute),
            ("limits.sends_per_destination_per_hour", l.sends_per_destination_per_hour),
            ("limits.failures_per_ip_per_account", l.failures_per_ip_per_account),
            ("limits.failures_per_ip_per_day", l.failures_per_ip_per_day),
            ("limits.global_failures_per_hour", l.global_failures_per_hour),
            ("sms.sends_per_prefix_per_hour", s.sends_per_prefix_per_hour),
        ] {
            if v == 0 {
                p.push(format!("passwordless.{key}: must be at least 1"));
            }
        }
        range(p, "limits.block_seconds", l.block_seconds, 60, 30 * 86_400);
        let a = &self.alerts;
        if !a.owner_email.is_empty() && domain::EmailAddress::parse(&a.owner_email).is_err() {
            p.push(format!("passwordless.alerts.owner_email: {:?} is not an email address", a.owner_email));
        }
        if a.sms_ratio_min_sent == 0 {
            p.push("passwordless.alerts.sms_ratio_min_sent: must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&a.sms_ratio_threshold) {
            p.push("passwordless.alerts.sms_ratio_threshold: must be between 0 and 1".into());
        }
    }
}

impl DeliverySettings {
    fn validate(&self, production: bool, p: &mut Vec<String>) {
        let d = self;
        for (key, list, known) in
            [("delivery.email", &d.email, &EMAIL_PROVIDERS[..]), ("delivery.sms", &d.sms, &SMS_PROVIDERS[..])]
        {
            for (i, name) in list.iter().enumerate() {
                if !known.contains(&name.as_str()) {
                    p.push(format!("{key}: {name:?} is not one of {}", known.join(", ")));
                } else if list[..i].contains(name) {
                    p.push(format!("{key}: {name:?} is listed twice"));
                }
            }
            if production && list.iter().any(|n| n == "outbox") {
                p.push(format!(
                    "{key}: `outbox` keeps messages on this machine and is refused in production; name a real provider"
                ));
            }
        }
        if d.email.is_empty() {
            p.push("delivery.email: name at least one provider (sign-in codes are sent by email)".into());
        }
        let uses = |name: &str| d.email.iter().chain(&d.sms).any(|n| n == name);
        if d.email.iter().any(|n| n != "outbox") && d.email_from.parse::<lettre::message::Mailbox>().is_err() {
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
        if uses("smtp") {
            let s = &d.smtp;
            required(p, "smtp", "host", s.host.is_empty());
            if !["tls", "starttls", "none"].contains(&s.tls.as_str()) {
                p.push("delivery.smtp.tls: must be `tls`, `starttls` or `none`".into());
            }
            let dkim = [&s.dkim_domain, &s.dkim_selector, &s.dkim_key_file];
            if dkim.iter().any(|v| !v.is_empty()) && dkim.iter().any(|v| v.is_empty()) {
                p.push("delivery.smtp.dkim_domain / dkim_selector / dkim_key_file: set all three (to sign with DKIM) or none".into());
            }
            if !s.dkim_key_file.is_empty() && !Path::new(&s.dkim_key_file).is_file() {
                p.push(format!("delivery.smtp.dkim_key_file: {:?} is not a readable file", s.dkim_key_file));
            }
            if !["rsa", "ed25519"].contains(&s.dkim_algorithm.as_str()) {
                p.push("delivery.smtp.dkim_algorithm: must be `rsa` or `ed25519`".into());
            }
        }
        for (name, settings) in [("sendgrid", &d.sendgrid), ("mandrill", &d.mandrill)] {
            if uses(name) {
                required(p, name, "api_key", settings.api_key.is_empty());
                https(p, &format!("delivery.{name}.base_url"), &settings.base_url);
            }
        }
        if uses("ses") {
            required(p, "ses", "region", d.ses.region.is_empty());
            required(p, "ses", "access_key_id", d.ses.access_key_id.is_empty());
            required(p, "ses", "secret_access_key", d.ses.secret_access_key.is_empty());
            if !d.ses.region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                p.push(format!("delivery.ses.region: {:?} is not a region name like eu-west-1", d.ses.region));
            }
            if !d.ses.base_url.is_empty() {
                https(p, "delivery.ses.base_url", &d.ses.base_url);
            }
        }
        if uses("twilio") {
            let t = &d.twilio;
            required(p, "twilio", "account_sid", t.account_sid.is_empty());
            required(p, "twilio", "auth_token", t.auth_token.is_empty());
            if t.from.is_empty() == t.messaging_service_sid.is_empty() {
                p.push("delivery.twilio.from / messaging_service_sid: set exactly one".into());
            }
            if !t.account_sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
                p.push("delivery.twilio.account_sid: must be letters and digits (AC…)".into());
            }
            https(p, "delivery.twilio.base_url", &t.base_url);
        }
        if uses("gateway") {
            required(p, "gateway", "url", d.gateway.url.is_empty());
            if !d.gateway.url.is_empty() {
                https(p, "delivery.gateway.url", &d.gateway.url);
            }
            if d.gateway.secret.expose().len() < 32 {
                p.push("delivery.gateway.secret: must be at least 32 characters".into());
            }
        }
    }
}

/// An IP address or CIDR range.
pub fn parse_net(text: &str) -> Option<ipnet::IpNet> {
    text.parse::<ipnet::IpNet>().ok().or_else(|| text.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(toml: &str) -> Result<Settings, ConfigErrors> {
        Settings::from_figment(Figment::from(Toml::string(DEFAULTS)).merge(Toml::string(toml)))
    }

    #[test]
    fn defaults_are_valid() {
        with("").unwrap();
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let errs =
            with("[server]\nbind = \"nope\"\nissuer = \"ftp://x\"\n[database]\nurl = \"mysql://db\"\n").unwrap_err().0;
        let text = errs.join("\n");
        assert!(text.contains("server.bind"), "{text}");
        assert!(text.contains("server.issuer"), "{text}");
        assert!(text.contains("database.url"), "{text}");
    }

    #[test]
    fn type_errors_name_the_key() {
        let errs = with("[oidc]\ncode_ttl = \"soon\"\n").unwrap_err().0;
        assert!(errs[0].starts_with("oidc.code_ttl"), "{errs:?}");
    }

    #[test]
    fn production_refuses_the_outbox_the_demo_and_plain_http() {
        let text = with("[server]\nprofile = \"production\"\n").unwrap_err().0.join("\n");
        for key in ["delivery.email", "demo.enabled", "server.issuer", "secrets.master_key"] {
            assert!(text.contains(key), "{key} missing in {text}");
        }
    }

    #[test]
    fn issuers_must_be_a_bare_origin_with_a_lower_case_scheme() {
        assert!(
            with("[server]\nissuer = \"https://id.example.com/\"\n").is_ok(),
            "a trailing slash is kept as written"
        );
        for bad in
            ["https://id.example.com/tenant", "HTTPS://id.example.com", "https://id.example.com?x=1", "id.example.com"]
        {
            let errs = with(&format!("[server]\nissuer = \"{bad}\"\n")).unwrap_err().0.join("\n");
            assert!(errs.contains("server.issuer"), "{bad}: {errs}");
        }
    }

    #[test]
    fn tls_needs_both_a_certificate_and_a_key_that_exist() {
        let text = with("[server]\ntls_cert = \"/nonexistent/cert.pem\"\n").unwrap_err().0.join("\n");
        assert!(text.contains("server.tls_cert / server.tls_key"), "{text}");
        let text = with("[server]\ntls_cert = \"/nonexistent/c.pem\"\ntls_key = \"/nonexistent/k.pem\"\n")
            .unwrap_err()
            .0
            .join("\n");
        assert!(text.contains("server.tls_cert") && text.contains("server.tls_key"), "{text}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(with("[server]\nbnid = \"x\"\n").is_err());
    }
}
