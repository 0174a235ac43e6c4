//! Email and SMS sign-in: the hosted login pages, challenges with a code (and, by email, a magic
//! link), verification, abuse protection, and delivery through a durable queue. Completes the
//! authorization server's interaction with a [`domain::LoginResult`] without knowing anything else
//! about OAuth.
#![forbid(unsafe_code)]

mod abuse;
mod api;
mod challenge;
pub mod delivery;
mod first_factor;
mod messages;
mod notices;
mod pages;
pub mod paths;
mod second;
mod settings;
pub mod storage;

use std::sync::Arc;

use actix_web::web;
use domain::i18n::Catalog;
use domain::secret::Sealer;
use domain::{Clock, EmailAddress, KeyedHasher};
use web_layer::Endpoint;

pub use api::OtpGate;
pub use challenge::VerifyError;
pub use delivery::Delivery;
pub use delivery::smtp::{DkimSettings, SmtpConfig, SmtpSender, SmtpTls};
pub use delivery::{
    ApiKeySettings, DeliverySettings, DkimAlgorithm, EmailProvider, GatewaySettings, SesSettings, SmsProvider,
    SmtpSettings, TwilioSettings,
};
pub use notices::Notices;
pub use settings::{AlertSettings, ChannelSettings, LimitSettings, PasswordlessSettings, SmsSettings};

/// One channel's codes (`[passwordless.email]`, `[passwordless.sms]`).
#[derive(Clone, Debug)]
pub struct ChannelConfig {
    pub code_length: usize,
    /// Seconds a code (and link) stays valid; at most 600.
    pub ttl: i64,
}

/// Where text messages may go, and how fast (SMS pumping defence).
#[derive(Clone, Debug)]
pub struct SmsPolicy {
    /// Whether any SMS provider is configured; without one, SMS sign-in is not offered.
    pub available: bool,
    /// ISO 3166-1 alpha-2 region for numbers typed without `+` (e.g. `GB`); empty: `+` required.
    pub default_region: Option<String>,
    /// Regions numbers may belong to; `*` allows every region.
    pub allowed_countries: Vec<String>,
    /// Leading digits of an E.164 number (after `+`) that make up a "prefix" for velocity limits.
    pub prefix_digits: usize,
    pub sends_per_prefix_per_hour: u64,
}

impl SmsPolicy {
    pub fn allows_region(&self, region: &str) -> bool {
        self.allowed_countries.iter().any(|c| c == "*" || c.eq_ignore_ascii_case(region))
    }
}

/// Every abuse limit (`[passwordless.limits]`); windows are fixed and counted by the `Counters`.
#[derive(Clone, Debug)]
pub struct Limits {
    pub starts_per_ip_per_hour: u64,
    /// Messages to one destination per minute (1 means: one message, then wait 60 s).
    pub sends_per_destination_per_minute: u64,
    pub sends_per_destination_per_hour: u64,
    /// Wrong codes from one IP against one account (in 24 h) before that IP is blocked for it.
    pub failures_per_ip_per_account: u64,
    /// Wrong codes from one IP against all accounts in 24 h before the IP is blocked for all.
    pub failures_per_ip_per_day: u64,
    /// Wrong codes across the whole service per hour before the owner is alerted.
    pub global_failures_per_hour: u64,
    /// How long a block lasts, seconds.
    pub block_seconds: i64,
}

/// Operator alerts (`[passwordless.alerts]`).
#[derive(Clone, Debug)]
pub struct Alerts {
    /// Who is emailed when an IP is blocked or a failure budget is crossed.
    pub owner_email: Option<EmailAddress>,
    /// SMS sent in an hour before the sent-to-verified ratio is judged.
    pub sms_ratio_min_sent: u64,
    /// Alert when fewer than this share of texts sent in the hour led to a sign-in.
    pub sms_ratio_threshold: f64,
}

/// The connection's part of the configuration (`[passwordless]` in `config/default.toml`).
#[derive(Clone, Debug)]
pub struct PasswordlessConfig {
    /// Public base URL for magic links (the issuer).
    pub public_url: String,
    pub product_name: String,
    /// Replaces the sign-in email's subject in every language; `{client}` and `{product}` are filled in.
    pub email_subject: Option<String>,
    pub email: ChannelConfig,
    pub sms: ChannelConfig,
    /// Wrong codes that end a challenge.
    pub max_attempts: i32,
    /// Whether the first sign-in with an unknown address or number creates the account.
    pub signups_enabled: bool,
    pub sms_policy: SmsPolicy,
    pub limits: Limits,
    pub alerts: Alerts,
}

impl PasswordlessConfig {
    pub fn channel(&self, channel: domain::Channel) -> &ChannelConfig {
        match channel {
            domain::Channel::Email => &self.email,
            domain::Channel::Sms => &self.sms,
        }
    }
}

pub struct PasswordlessConnection {
    pub config: PasswordlessConfig,
    /// Everything the connection keeps (`storage`), implemented by the `store` crate.
    pub store: Arc<dyn storage::PasswordlessStorage>,
    pub hasher: KeyedHasher,
    /// Seals message bodies in the queue: they carry codes and links.
    pub sealer: Sealer,
    pub clock: Arc<dyn Clock>,
    pub tera: Arc<tera::Tera>,
    pub catalog: Arc<Catalog>,
    pub limiter: Arc<dyn domain::counters::Counters>,
    /// Wakes the delivery worker when a message is queued.
    pub outbox_ready: Arc<tokio::sync::Notify>,
    /// Hands a sign-in's message straight to this node's delivery worker.
    pub handoff: delivery::Handoff,
    /// Opens interactions for magic links sent through the API (the authorization server).
    pub starter: Arc<dyn domain::ports::InteractionStarter>,
    /// Signing in with a passkey, when the issuer has a host name (browsers refuse an IP address
    /// as the relying party's id).
    pub passkeys: Option<Arc<passkeys::Passkeys>>,
    /// The operator's hooks: `before_user_created` (the deployment's, or the client's choice).
    pub hooks: Arc<hooks::Hooks>,
}

/// Every catalog key the connection's error pages use.
pub fn error_text_keys() -> Vec<String> {
    pages::PageError::KEYS.iter().flat_map(|k| [format!("{k}_title"), format!("{k}_text")]).collect()
}

impl PasswordlessConnection {
    /// The region a number typed without its country code is read in, as configured: the
    /// client's `phone_region`, else the deployment's `sms.default_region` (the login page then
    /// also asks the browser's languages).
    pub(crate) fn phone_region<'a>(&'a self, settings: &'a domain::ClientSettings) -> Option<&'a str> {
        settings.phone_region.as_deref().or(self.config.sms_policy.default_region.as_deref())
    }

    /// The login pages and the API, each with its kind. The caller registers
    /// `web::Data<PasswordlessConnection>`.
    pub fn endpoints() -> Vec<Endpoint> {
        vec![
            // Mail scanners probe links with HEAD as well as GET; neither spends anything.
            Endpoint::page(paths::LINK, web::get().to(pages::link_page)),
            Endpoint::page(paths::LINK, web::head().to(pages::link_page)),
            Endpoint::page(paths::LINK_SUBMIT, web::post().to(pages::link_submit)),
            Endpoint::page(paths::LINK_APPROVE, web::post().to(pages::link_approve)),
            Endpoint::page(web_layer::paths::LOGIN, web::get().to(pages::login_page)),
            Endpoint::page(web_layer::paths::LOGIN, web::post().to(pages::start)),
            Endpoint::page(paths::PASSKEY_OPTIONS, web::post().to(pages::passkey_options)),
            Endpoint::page(paths::PASSKEY, web::post().to(pages::passkey_submit)),
            Endpoint::page(paths::CODE, web::get().to(pages::code_page)),
            Endpoint::page(paths::CODE, web::post().to(pages::code_submit)),
            Endpoint::page(paths::RESEND, web::post().to(pages::resend)),
            Endpoint::page(paths::STATUS, web::get().to(pages::status)),
            Endpoint::page(paths::APPROVED, web::post().to(pages::approved)),
            Endpoint::page(paths::UNBLOCK, web::get().to(pages::unblock_page)),
            Endpoint::page(paths::UNBLOCK, web::head().to(pages::unblock_page)),
            Endpoint::page(paths::UNBLOCK_SUBMIT, web::post().to(pages::unblock_submit)),
            Endpoint::page(paths::BRAND, web::get().to(pages::brand_css)),
            Endpoint::api(paths::START, web::post().to(api::start)),
        ]
    }
}
