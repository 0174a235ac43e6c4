//! Email (and, with issue 4, SMS) sign-in: the hosted login pages, challenges with a code and a
//! magic link, verification, and delivery through a durable queue. Completes the authorization
//! server's interaction with a [`domain::LoginResult`] without knowing anything else about OAuth.
#![forbid(unsafe_code)]

mod challenge;
pub mod delivery;
mod pages;

use std::sync::Arc;

use actix_web::web;
use domain::secret::Sealer;
use domain::{Clock, KeyedHasher};
use store::Store;
use store::counters::Limiter;

pub use challenge::VerifyError;
pub use delivery::Delivery;
pub use delivery::smtp::{DkimSettings, SmtpConfig, SmtpSender, SmtpTls};

/// The connection's part of the configuration (`[passwordless]` in `config/default.toml`).
#[derive(Clone, Debug)]
pub struct PasswordlessConfig {
    /// Public base URL for magic links (the issuer).
    pub public_url: String,
    pub product_name: String,
    /// Seconds a challenge lives.
    pub challenge_ttl: i64,
    /// Wrong codes that end a challenge.
    pub max_attempts: i32,
    pub code_length: usize,
    /// Whether the first sign-in with an unknown address creates the account.
    pub signups_enabled: bool,
    /// `start` requests allowed per client IP per hour.
    pub starts_per_ip_per_hour: u64,
}

pub struct PasswordlessConnection {
    pub config: PasswordlessConfig,
    pub store: Store,
    pub hasher: KeyedHasher,
    /// Seals message bodies in the queue: they carry codes and links.
    pub sealer: Sealer,
    pub clock: Arc<dyn Clock>,
    pub tera: Arc<tera::Tera>,
    pub limiter: Arc<Limiter>,
    /// Wakes the delivery worker when a message is queued.
    pub outbox_ready: Arc<tokio::sync::Notify>,
}

impl PasswordlessConnection {
    /// Mounts the login pages. The caller registers `web::Data<PasswordlessConnection>`.
    pub fn routes(cfg: &mut web::ServiceConfig) {
        // Mail scanners probe links with HEAD as well as GET; neither spends anything.
        cfg.route("/login/link/{token}", web::get().to(pages::link_page))
            .route("/login/link/{token}", web::head().to(pages::link_page))
            .route("/login/link", web::post().to(pages::link_submit))
            .route("/login/{interaction}", web::get().to(pages::login_page))
            .route("/login/{interaction}", web::post().to(pages::start))
            .route("/login/{interaction}/code", web::get().to(pages::code_page))
            .route("/login/{interaction}/code", web::post().to(pages::code_submit));
    }
}
