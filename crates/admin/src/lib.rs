//! Ostiary's administration: the admin JSON API (`/api/admin/v1`), the admin console (`/admin`)
//! and the account page where people manage their own account (`/account`). It imports none of
//! the protocol crates: it declares the storage it needs ([`storage`], implemented by `store`) and asks the
//! authorization server what a bearer token stands for through [`domain::ports::AccessTokens`].
#![forbid(unsafe_code)]

pub mod account;
pub mod api;
mod audit;
pub mod console;
pub mod paths;
mod profile_form;
pub mod storage;

use std::sync::Arc;

use actix_web::web;
use domain::Clock;
use web_layer::Endpoint;

/// Everything the admin endpoints need, built once at start-up.
pub struct Admin {
    pub store: Arc<dyn storage::AdminStorage>,
    pub tokens: Arc<dyn domain::ports::AccessTokens>,
    pub clock: Arc<dyn Clock>,
    /// Tells an account's owner at the address or number it is leaving (the connection's messages).
    pub notices: Arc<dyn domain::ports::AccountNotices>,
    /// Hashes the client secrets the API makes.
    pub hasher: domain::KeyedHasher,
    /// Seals the secrets of `client_secret_jwt` clients, which the server must read back.
    pub client_secrets: domain::secret::Sealer,
    /// Who is signed in on a browser (the authorization server's sessions), for the console.
    pub sessions: Arc<dyn domain::ports::BrowserSessions>,
    pub settings: AdminSettings,
    /// The issuer URL, for the console client's redirect URI.
    pub issuer: String,
    pub tera: Arc<tera::Tera>,
    pub catalog: Arc<domain::i18n::Catalog>,
    /// Second factors, for the account page (step-up's).
    pub authenticators: Arc<dyn domain::ports::Authenticators>,
    /// The provider's product name (pages, messages, authenticator apps).
    pub product_name: String,
    /// The passkeys, when the issuer has a host name: the account page manages its owner's, the
    /// console a user's.
    pub passkeys: Option<Arc<passkeys::Passkeys>>,
    /// The labels of `[hooks.clients.LABEL]`, which the console offers a client to choose.
    pub hook_labels: Vec<String>,
}

/// `[admin]` in `config/default.toml`, as read.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// The oldest login the console accepts, in seconds (5 minutes to 7 days).
    #[serde(deserialize_with = "domain::settings::within::<_, _, 300, 604800>")]
    pub max_session_age: i64,
}

impl Admin {
    /// The admin API's endpoints: called by an operator's scripts with a bearer token, never by a
    /// browser with cookies, so back-channel (no CSRF token, no CORS). The caller registers
    /// `web::Data<Admin>`.
    pub fn endpoints() -> Vec<Endpoint> {
        let operations = api::spec::operations().into_iter().map(|op| Endpoint::backchannel(op.path, op.route));
        let console = [
            Endpoint::page(paths::CONSOLE, web::get().to(console::home)),
            Endpoint::page(paths::CONSOLE_CALLBACK, web::get().to(console::callback)),
            Endpoint::page(paths::CONSOLE_USERS, web::get().to(console::users::list)),
            Endpoint::page(paths::CONSOLE_USERS, web::post().to(console::lifecycle::create)),
            Endpoint::page(paths::CONSOLE_USER, web::get().to(console::users::show)),
            Endpoint::page(paths::CONSOLE_USER, web::post().to(console::users::save)),
            Endpoint::page(paths::CONSOLE_USER_BLOCK, web::post().to(console::users::block)),
            Endpoint::page(paths::CONSOLE_USER_UNBLOCK, web::post().to(console::users::unblock)),
            Endpoint::page(paths::CONSOLE_FACTORS_RESET, web::post().to(console::users::reset_factors)),
            Endpoint::page(paths::CONSOLE_USER_ERASE, web::post().to(console::lifecycle::erase)),
            Endpoint::page(paths::CONSOLE_USER_LINKS, web::post().to(console::lifecycle::link)),
            Endpoint::page(paths::CONSOLE_USER_UNLINK, web::post().to(console::lifecycle::unlink)),
            Endpoint::page(paths::CONSOLE_USER_PASSKEY_REMOVE, web::post().to(console::users::remove_passkey)),
            Endpoint::page(paths::CONSOLE_ACTIVITY, web::get().to(console::activity::activity)),
            Endpoint::page(paths::CONSOLE_END_SESSION, web::post().to(console::activity::end)),
            Endpoint::page(paths::CONSOLE_SECURITY, web::get().to(console::security::security)),
            Endpoint::page(paths::CONSOLE_LIFT, web::post().to(console::security::lift)),
            Endpoint::page(paths::CONSOLE_WEBHOOKS, web::get().to(console::webhooks::webhooks)),
            Endpoint::page(paths::CONSOLE_WEBHOOK_ENABLE, web::post().to(console::webhooks::enable)),
            Endpoint::page(paths::CONSOLE_EVENT_REPLAY, web::post().to(console::webhooks::replay)),
            Endpoint::page(paths::CONSOLE_AUDIT, web::get().to(console::security::audit)),
            Endpoint::page(paths::CONSOLE_CLIENTS, web::get().to(console::clients::list)),
            Endpoint::page(paths::CONSOLE_CLIENTS, web::post().to(console::clients::create)),
            Endpoint::page(paths::CONSOLE_CLIENT, web::get().to(console::clients::show)),
            Endpoint::page(paths::CONSOLE_CLIENT, web::post().to(console::clients::save)),
            Endpoint::page(paths::CONSOLE_CLIENT_SECRET, web::post().to(console::clients::rotate)),
            Endpoint::page(paths::CONSOLE_CLIENT_STATUS, web::post().to(console::clients::status)),
            Endpoint::page(paths::CONSOLE_CLIENT_PREVIEW, web::get().to(console::clients::preview)),
        ];
        // Registered before the `{field}` patterns, which would otherwise take these names.
        let account = [
            Endpoint::page(paths::ACCOUNT, web::get().to(account::home::show)),
            Endpoint::page(paths::ACCOUNT_CALLBACK, web::get().to(account::callback)),
            Endpoint::page(paths::ACCOUNT_PROFILE, web::post().to(account::home::save_profile)),
            Endpoint::page(paths::ACCOUNT_END_ALL, web::post().to(account::home::end_all)),
            Endpoint::page(paths::ACCOUNT_SESSION_END, web::post().to(account::home::end_session)),
            Endpoint::page(paths::ACCOUNT_DATA, web::get().to(account::home::download)),
            Endpoint::page(paths::ACCOUNT_AUTHENTICATOR, web::get().to(account::factors::start)),
            Endpoint::page(paths::ACCOUNT_AUTHENTICATOR, web::post().to(account::factors::confirm)),
            Endpoint::page(paths::ACCOUNT_AUTHENTICATOR_REMOVE, web::post().to(account::factors::remove)),
            Endpoint::page(paths::ACCOUNT_RECOVERY_CODES, web::post().to(account::factors::renew)),
            Endpoint::page(paths::ACCOUNT_PASSKEYS, web::get().to(account::passkeys::prepare)),
            Endpoint::page(paths::ACCOUNT_PASSKEYS, web::post().to(account::passkeys::add)),
            Endpoint::page(paths::ACCOUNT_PASSKEY_OPTIONS, web::post().to(account::passkeys::options)),
            Endpoint::page(paths::ACCOUNT_PASSKEY_RENAME, web::post().to(account::passkeys::rename)),
            Endpoint::page(paths::ACCOUNT_PASSKEY_REMOVE, web::post().to(account::passkeys::remove)),
            Endpoint::page(paths::ACCOUNT_DELETE, web::get().to(account::leave::start)),
            Endpoint::page(paths::ACCOUNT_DELETE, web::post().to(account::leave::delete)),
            Endpoint::page(paths::ACCOUNT_DELETE_CODE, web::post().to(account::leave::send)),
            Endpoint::page(paths::ACCOUNT_UNDO, web::get().to(account::contact::undo_page)),
            Endpoint::page(paths::ACCOUNT_UNDO, web::post().to(account::contact::undo)),
            Endpoint::page(paths::ACCOUNT_CONTACT, web::get().to(account::contact::start)),
            Endpoint::page(paths::ACCOUNT_CONTACT, web::post().to(account::contact::send)),
            Endpoint::page(paths::ACCOUNT_CONTACT_CONFIRM, web::post().to(account::contact::confirm)),
        ];
        operations
            .chain([Endpoint::backchannel(paths::OPENAPI, web::get().to(api::spec::openapi))])
            .chain(console)
            .chain(account)
            .collect()
    }
}
