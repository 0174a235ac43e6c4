//! Step-up: after the first factor, decide from risk signals, the request and the client's policy
//! whether a second factor is needed, and ask for one (an authenticator app, a recovery code, or a
//! code on the other channel). A passed step-up raises `acr` to multi-factor and adds to `amr`.
//!
//! It sits between the passwordless connection (which records the first factor on the interaction
//! and sends the browser to `/step-up/{interaction}`) and the authorization server (which resumes at
//! `/authorize/resume/{interaction}` once step-up completes the interaction, or answers
//! `access_denied` when step-up denied it). It never imports either crate: a code on the other
//! channel goes through `domain::ports::CodeChannel`.
#![forbid(unsafe_code)]

mod account;
mod api;
mod device;
mod flow;
pub mod geo;
mod notify;
pub mod paths;
pub mod policy;
pub mod storage;
pub mod totp;

pub use account::AccountFactors;

use std::sync::Arc;

use actix_web::web;
use domain::i18n::Catalog;
use domain::ports::CodeChannel;
use domain::secret::Sealer;
use domain::{Clock, KeyedHasher};
use web_layer::Endpoint;

pub use api::ApiGate;
pub use geo::Geo;

/// The `[step_up]` settings.
#[derive(Clone, Debug)]
pub struct StepUpConfig {
    /// The issuer, for links in messages.
    pub public_url: String,
    pub product_name: String,
    /// Two sign-ins further apart than this speed allows are impossible travel, km/h.
    pub impossible_travel_kmh: f64,
    /// How long the device cookie lives, seconds.
    pub device_cookie_ttl: i64,
    /// Wrong second-factor codes per account per hour before the sign-in is stopped.
    pub max_failures_per_hour: u64,
    /// Whether sign-ins from a new device or country email the account's owner.
    pub notify_new_sign_ins: bool,
    /// Cookies are `Secure` and `__Host-` prefixed under https.
    pub https: bool,
}

/// `[step_up]` in `config/default.toml`, as read: each value is checked here.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepUpSettings {
    /// A MaxMind-format country database; empty: the embedded registry data.
    #[serde(deserialize_with = "domain::settings::readable_file")]
    pub geoip_mmdb: Option<std::path::PathBuf>,
    #[serde(deserialize_with = "travel_speed")]
    pub impossible_travel_kmh: f64,
    #[serde(deserialize_with = "domain::settings::within::<_, _, 1, 800>")]
    pub device_cookie_days: i64,
    #[serde(deserialize_with = "domain::settings::at_least_one")]
    pub max_failures_per_hour: u64,
    pub notify_new_sign_ins: bool,
}

/// Between 100 and 20 000 km/h: a plane is not impossible travel; nothing on Earth is faster.
fn travel_speed<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    use serde::Deserialize;
    use serde::de::Error;
    match f64::deserialize(d)? {
        v if (100.0..=20_000.0).contains(&v) => Ok(v),
        v => Err(D::Error::custom(format!("{v} is not between 100 and 20000"))),
    }
}

impl StepUpSettings {
    /// Step-up's configuration: links under `public_url`, the operator's `product_name`.
    pub fn config(&self, public_url: &domain::Issuer, product_name: &str) -> StepUpConfig {
        StepUpConfig {
            public_url: public_url.to_string(),
            product_name: product_name.to_owned(),
            impossible_travel_kmh: self.impossible_travel_kmh,
            device_cookie_ttl: self.device_cookie_days * 86_400,
            max_failures_per_hour: self.max_failures_per_hour,
            notify_new_sign_ins: self.notify_new_sign_ins,
            https: public_url.is_https(),
        }
    }
}

pub struct StepUpService {
    pub config: StepUpConfig,
    /// Everything step-up keeps (`storage`), implemented by the `store` crate.
    pub store: Arc<dyn storage::StepUpStorage>,
    pub hasher: KeyedHasher,
    /// Seals queued message bodies.
    pub message_sealer: Sealer,
    /// Seals authenticator secrets at rest.
    pub factor_sealer: Sealer,
    pub clock: Arc<dyn Clock>,
    pub tera: Arc<tera::Tera>,
    pub catalog: Arc<Catalog>,
    pub limiter: Arc<dyn domain::counters::Counters>,
    pub geo: Arc<Geo>,
    /// Sends and checks a code on the other channel (the passwordless connection).
    pub codes: Arc<dyn CodeChannel>,
    /// Wakes the delivery worker when a message is queued.
    pub outbox_ready: Arc<tokio::sync::Notify>,
    /// The passkey ceremonies, when the issuer has a host name: the offer of one after a sign-in.
    pub passkeys: Option<Arc<passkeys::Passkeys>>,
    /// Tells an account's owner of a new passkey (the connection's messages).
    pub notices: Arc<dyn domain::ports::AccountNotices>,
    /// The operator's hooks: `after_first_factor` (the deployment's, or the client's choice).
    pub hooks: Arc<hooks::Hooks>,
}

/// Every catalog key step-up's error pages use.
pub fn error_text_keys() -> Vec<String> {
    flow::PageError::KEYS.iter().flat_map(|k| [format!("{k}_title"), format!("{k}_text")]).collect()
}

impl StepUpService {
    /// The step-up pages and the "This wasn't me" link, each with its kind. The caller registers
    /// `web::Data<StepUpService>`.
    pub fn endpoints() -> Vec<Endpoint> {
        vec![
            Endpoint::page(web_layer::paths::STEP_UP, web::get().to(flow::start)),
            Endpoint::page(paths::TOTP, web::post().to(flow::totp)),
            Endpoint::page(paths::SEND, web::post().to(flow::send)),
            Endpoint::page(paths::CODE, web::post().to(flow::code)),
            Endpoint::page(paths::ENROLL, web::get().to(flow::enroll_page)),
            Endpoint::page(paths::ENROLL, web::post().to(flow::enroll)),
            Endpoint::page(paths::CANCEL, web::post().to(flow::cancel)),
            Endpoint::page(paths::KEY_OPTIONS, web::post().to(flow::key_options)),
            Endpoint::page(paths::KEY, web::post().to(flow::key)),
            Endpoint::page(paths::PASSKEY, web::get().to(flow::offer)),
            Endpoint::page(paths::PASSKEY, web::post().to(flow::offer_created)),
            Endpoint::page(paths::PASSKEY_OPTIONS, web::post().to(flow::offer_options)),
            Endpoint::page(paths::PASSKEY_SKIP, web::post().to(flow::offer_skipped)),
            Endpoint::page(paths::NOT_ME, web::get().to(notify::not_me_page)),
            Endpoint::page(paths::NOT_ME, web::head().to(notify::not_me_page)),
            Endpoint::page(paths::NOT_ME_SUBMIT, web::post().to(notify::not_me)),
        ]
    }
}
