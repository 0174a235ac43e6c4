//! Configuration: `config/default.toml` (compiled in, documents every key), then the file given
//! with `--config`, then `OSTIARY__SECTION__KEY` environment variables. Each crate owns its
//! section's typed settings, checked as they are read (`[oidc]`: the authorization server;
//! `[passwordless]` and `[delivery]`: the connection; `[step_up]`: step-up); the server owns the
//! rest. Every problem is reported at once with its key's name, and the server refuses to start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use authorization_server::OidcSettings;
use domain::settings::{optional, readable_file, within};
use domain::{Issuer, MasterKey};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use passwordless_connection::{DeliverySettings, PasswordlessSettings};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use step_up::StepUpSettings;

use crate::middleware::ForwardedHeader;

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
    pub admin: admin::AdminSettings,
    pub demo: DemoSettings,
    #[serde(default)]
    pub hooks: hooks::HooksSettings,
    /// `[webhooks.NAME]`: the endpoints events are delivered to.
    #[serde(default)]
    pub webhooks: hooks::webhooks::WebhooksSettings,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Development,
    Production,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub profile: Profile,
    pub bind: SocketAddr,
    pub issuer: Issuer,
    pub data_dir: PathBuf,
    /// Proxies whose forwarding header is believed: IP addresses or CIDR ranges.
    #[serde(deserialize_with = "networks")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The header the trusted proxies write the client's address in.
    pub forwarded_header: ForwardedHeader,
    /// PEM certificate chain and private key: when both are set Ostiary serves HTTPS itself.
    #[serde(deserialize_with = "readable_file")]
    pub tls_cert: Option<PathBuf>,
    #[serde(deserialize_with = "readable_file")]
    pub tls_key: Option<PathBuf>,
    pub log: String,
    pub log_format: crate::ops::LogFormat,
    /// Where `/metrics` is served instead of the main listener (with `/healthz` and `/readyz`).
    #[serde(deserialize_with = "domain::settings::optional")]
    pub metrics_bind: Option<SocketAddr>,
}

/// IP addresses or CIDR ranges.
fn networks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|text| {
            parse_net(text).ok_or_else(|| D::Error::custom(format!("{text:?} is not an IP address or CIDR range")))
        })
        .collect()
}

/// An IP address or CIDR range.
pub fn parse_net(text: &str) -> Option<ipnet::IpNet> {
    text.parse::<ipnet::IpNet>().ok().or_else(|| text.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: DatabaseUrl,
    #[serde(deserialize_with = "within::<_, _, 1, 200>")]
    pub pool_size: u32,
    pub auto_migrate: bool,
}

/// A SQLite file path or a `postgres://` URL. `Debug` hides the password.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Result<Self, String> {
        let url = url.into();
        store::Backend::from_url(&url)?;
        Ok(DatabaseUrl(url))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DatabaseUrl {
    type Error = String;

    fn try_from(url: String) -> Result<Self, String> {
        DatabaseUrl::new(url)
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match store::Backend::from_url(&self.0) {
            Ok(backend) => f.write_str(&backend.describe()),
            Err(_) => f.write_str("[invalid]"),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// Empty: counters in this process (one node).
    #[serde(deserialize_with = "optional")]
    pub url: Option<RedisUrl>,
    pub key_prefix: String,
}

/// A `redis://` or `rediss://` URL. `Debug` hides it (it may hold a password).
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct RedisUrl(String);

impl RedisUrl {
    pub fn new(url: impl Into<String>) -> Result<Self, String> {
        let url = url.into();
        if url.starts_with("redis://") || url.starts_with("rediss://") {
            Ok(RedisUrl(url))
        } else {
            Err("must be empty or start with redis:// or rediss://".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RedisUrl {
    type Error = String;

    fn try_from(url: String) -> Result<Self, String> {
        RedisUrl::new(url)
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisUrl([redacted])")
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSettings {
    /// 32 bytes, base64; empty: in development, `data_dir/master.key`. `Debug` never shows it.
    #[serde(deserialize_with = "master_key")]
    pub master_key: Option<MasterKey>,
}

fn master_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<MasterKey>, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() {
        return Ok(None);
    }
    MasterKey::from_base64(&text)
        .map(Some)
        .map_err(|_| D::Error::custom("must be 32 bytes, base64-encoded (generate one with `openssl rand -base64 32`)"))
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

/// One problem of an extraction, with its key's name and where the value came from.
fn describe(e: &figment::Error) -> String {
    use figment::error::Kind;
    let mut key = e.path.join(".");
    let what = match &e.kind {
        Kind::InvalidType(actual, expected) => format!("{actual} is not {}", in_words(expected)),
        Kind::UnknownField(name, known) => {
            key = unknown_key_path(e, name).join(".");
            match known.is_empty() {
                true => "there is no such setting".to_owned(),
                false => format!("there is no such setting here (a typo?); the settings here are {}", known.join(", ")),
            }
        }
        kind => kind.to_string(),
    };
    let source = e.metadata.as_ref().map(|m| format!(" ({})", m.name)).unwrap_or_default();
    if key.is_empty() { format!("{what}{source}") } else { format!("{key}: {what}{source}") }
}

/// What a setting expects, in words rather than Rust's type names (`usize`).
fn in_words(expected: &str) -> String {
    match expected {
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number, 0 or more".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" => "true or false".into(),
        other => other.into(),
    }
}

/// The full path of an unknown key: figment names the table it is in, serde the key.
fn unknown_key_path(e: &figment::Error, name: &str) -> Vec<String> {
    let mut path = e.path.clone();
    if path.last().map(String::as_str) != Some(name) {
        path.push(name.to_owned());
    }
    path
}

/// The settings without the key at `path`, so that reading can go on past an unknown key and
/// find the other problems. (What is read from there on no longer names its source file.)
fn without_key(fig: &Figment, path: &[String]) -> Option<Figment> {
    use figment::value::{Dict, Value};
    let mut dict: Dict = fig.extract().ok()?;
    let (last, parents) = path.split_last()?;
    let mut at = &mut dict;
    for parent in parents {
        at = match at.get_mut(parent)? {
            Value::Dict(_, inner) => inner,
            _ => return None,
        };
    }
    at.remove(last)?;
    Some(Figment::from(Serialized::defaults(dict)))
}

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

    /// Reads the settings. Deserialising stops at the first bad value, so each bad value is
    /// noted and replaced by its default, and the reading starts again, until every problem is
    /// known; then the rules across keys are checked.
    pub fn from_figment(mut fig: Figment) -> Result<Self, ConfigErrors> {
        let defaults = Figment::from(Toml::string(DEFAULTS));
        let mut problems = Vec::new();
        // Keys given a value that could not be read: set, though not usable.
        let mut unreadable = Vec::new();
        let settings = loop {
            let err = match fig.extract::<Settings>() {
                Ok(settings) => break Some(settings),
                Err(err) => err,
            };
            let mut replaced = false;
            for e in err {
                problems.push(describe(&e));
                // An unknown key is left out, and the reading goes on without it.
                if let figment::error::Kind::UnknownField(name, _) = &e.kind {
                    if let Some(without) = without_key(&fig, &unknown_key_path(&e, name)) {
                        fig = without;
                        replaced = true;
                    }
                    continue;
                }
                let key = e.path.join(".");
                if let (false, Ok(default)) = (key.is_empty(), defaults.find_value(&key)) {
                    fig = fig.merge(Serialized::global(&key, default));
                    unreadable.push(key);
                    replaced = true;
                }
            }
            // A problem with nothing to stand in for it: nothing more can be read.
            if !replaced || problems.len() > 100 {
                break None;
            }
        };
        if let Some(settings) = &settings {
            problems.extend(settings.validate(&unreadable));
        }
        match settings {
            Some(settings) if problems.is_empty() => Ok(settings),
            _ => Err(ConfigErrors(problems)),
        }
    }

    /// The built-in defaults alone (no file, no environment).
    pub fn defaults() -> Result<Self, ConfigErrors> {
        Self::from_figment(Figment::from(Toml::string(DEFAULTS)))
    }

    pub fn is_production(&self) -> bool {
        self.server.profile == Profile::Production
    }

    /// The rules that relate several keys (each value alone was checked as it was read).
    /// `unreadable`: keys that were set to a value that could not be read.
    fn validate(&self, unreadable: &[String]) -> Vec<String> {
        let mut p = Vec::new();
        let s = self;
        let set = |key: &str, value: bool| value || unreadable.iter().any(|k| k == key);
        if s.is_production() && !s.server.issuer.is_https() {
            p.push(format!("server.issuer: {:?} must be an https URL in production", s.server.issuer.as_str()));
        }
        if set("server.tls_cert", s.server.tls_cert.is_some()) != set("server.tls_key", s.server.tls_key.is_some()) {
            p.push("server.tls_cert / server.tls_key: set both (to serve HTTPS) or neither".into());
        }
        if s.secrets.master_key.is_none() && s.is_production() {
            p.push("secrets.master_key: is required in production (set OSTIARY__SECRETS__MASTER_KEY)".into());
        }
        s.passwordless.validate(s.oidc.interaction_ttl, &mut p);
        s.delivery.validate(s.is_production(), &mut p);
        s.hooks.validate(s.is_production(), &mut p);
        hooks::webhooks::validate(&s.webhooks, s.is_production(), &mut p);
        if s.delivery.uses("hook") && s.hooks.send_message.is_none() {
            p.push(
                "delivery.email / delivery.sms: the provider `hook` sends through [hooks.send_message]; configure it"
                    .into(),
            );
        }
        if s.demo.enabled && s.is_production() {
            p.push("demo.enabled: the demo app is for development and is refused in production".into());
        }
        p
    }

    pub fn data_dir(&self) -> PathBuf {
        self.server.data_dir.clone()
    }
}

#[cfg(test)]
mod tests;
