//! The OAuth 2.0 / OpenID Connect provider: discovery, JWKS, `/authorize`, `/token`, `/userinfo`;
//! clients, codes, sessions, signing keys, token minting. It never imports another protocol crate:
//! logins are handed over through the [`domain::Interaction`], and everything it keeps is declared
//! in [`storage`].
#![forbid(unsafe_code)]

pub mod assertion;
pub mod authorize;
pub mod backchannel;
mod before_token;
pub mod check_session;
pub mod claims;
pub mod clients;
mod config;
pub mod device;
pub mod discovery;
mod dpop;
pub mod errors;
pub mod fetch;
mod inspect;
pub mod jwt;
pub mod keys;
mod logout;
mod mint;
mod pages;
mod par;
pub mod params;
pub mod paths;
mod registration;
mod request_object;
mod revocation;
mod session;
mod starter;
pub mod storage;
mod subject;
pub mod token;
mod userinfo;

use std::sync::Arc;

use actix_web::web;
use domain::{Clock, KeyedHasher};
use web_layer::Endpoint;

pub use claims::ClaimsRequest;
pub use config::{AuthorizationServerConfig, OidcSettings};
pub use keys::{Alg, Keys};
pub use logout::LogoutError;
pub use pages::PageError;

/// Everything the endpoints need, built once at start-up.
pub struct AuthorizationServer {
    pub config: AuthorizationServerConfig,
    /// Everything the server keeps (`storage`), implemented by the `store` crate.
    pub store: Arc<dyn storage::AuthorizationStorage>,
    pub keys: Arc<Keys>,
    pub hasher: KeyedHasher,
    pub clock: Arc<dyn Clock>,
    pub tera: Arc<tera::Tera>,
    /// The texts of the few pages the protocol shows.
    pub catalog: Arc<domain::i18n::Catalog>,
    /// Counts interactions started per client IP.
    pub limiter: Arc<dyn domain::counters::Counters>,
    /// The discovery document, serialised once (it changes only with the configuration).
    metadata: actix_web::web::Bytes,
    /// What the passwordless OTP grant needs from the other crates; set once at start-up.
    api_login: std::sync::OnceLock<ApiLogin>,
    /// The operator's hooks (`before_token`, the deployment's or a client's); set once at start-up.
    pub(crate) hooks: std::sync::OnceLock<Arc<hooks::Hooks>>,
    /// The clients `/userinfo` answers (a signed or a JSON answer, which `sub`), remembered for a while.
    userinfo_clients: userinfo::Clients,
    /// The public keys of `private_key_jwt` clients that publish them at a `jwks_uri`.
    pub(crate) client_keys: assertion::ClientKeys,
    /// Seals and opens the secrets of `client_secret_jwt` clients.
    pub(crate) client_secrets: domain::secret::Sealer,
}

/// The passwordless OTP grant's two ports: the connection checks the code, step-up decides whether
/// the sign-in may have tokens (as it would on the hosted pages).
pub struct ApiLogin {
    pub otp: Arc<dyn domain::ports::OtpVerifier>,
    pub step_up: Arc<dyn domain::ports::ApiStepUp>,
}

/// Entry points for `cargo fuzz` (see `fuzz/`): the parsers of hostile input, without a server.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing {
    use std::sync::LazyLock;

    use crate::keys::{KeyRing, generate_key};

    /// `/authorize`'s parameters, for a public and a confidential client.
    pub fn authorize_parameters(raw: &[u8]) {
        for public in [true, false] {
            let client = domain::Client {
                id: domain::ClientId::parse("fuzz").expect("id"),
                name: "fuzz".into(),
                secret_hash: None,
                secret_sealed: None,
                is_public: public,
                redirect_uris: vec!["https://rp.example/cb".into(), "http://127.0.0.1/cb".into()],
                post_logout_redirect_uris: vec![],
                id_token_alg: domain::SigningAlg::RS256,
                created_at: 0,
                application_type: if public { domain::ApplicationType::Native } else { domain::ApplicationType::Web },
                settings: Default::default(),
                previous_secret: None,
                disabled_at: None,
                version: 1,
            };
            crate::authorize::fuzz_parameters(&client, raw);
        }
    }

    /// `jwt::verify`, against a ring of one key of each algorithm.
    pub fn jwt_verify(raw: &[u8]) {
        static RING: LazyLock<KeyRing> = LazyLock::new(|| {
            let sealer = domain::MasterKey::generate().sealer();
            let stored = crate::Alg::ALL.iter().map(|a| generate_key(*a, &sealer, 0).expect("key")).collect();
            KeyRing::open(stored, &sealer).expect("ring")
        });
        let token = String::from_utf8_lossy(raw);
        for typ in ["JWT", "at+jwt"] {
            assert!(
                crate::jwt::verify::<serde_json::Value>(&RING, &token, typ, 0, 60).is_none(),
                "a stranger verified"
            );
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn the_fuzz_entry_points_take_anything() {
            for raw in [
                &b""[..],
                b"client_id=fuzz&redirect_uri=https%3A%2F%2Frp.example%2Fcb&scope=openid&response_type=code",
                b"\xff\x00%%",
                b"a.b.c",
            ] {
                super::authorize_parameters(raw);
                super::jwt_verify(raw);
            }
        }
    }
}

/// Every catalog key the protocol's error pages use.
pub fn error_text_keys() -> Vec<String> {
    let pages = PageError::KEYS.iter().flat_map(|k| [format!("{k}_title"), format!("{k}_text")]);
    pages.chain(LogoutError::KEYS.iter().map(|k| k.to_string())).collect()
}

impl AuthorizationServer {
    #[allow(clippy::too_many_arguments)] // each a part built once at start-up
    pub fn new(
        config: AuthorizationServerConfig,
        store: Arc<dyn storage::AuthorizationStorage>,
        keys: Arc<Keys>,
        hasher: KeyedHasher,
        clock: Arc<dyn Clock>,
        tera: Arc<tera::Tera>,
        catalog: Arc<domain::i18n::Catalog>,
        limiter: Arc<dyn domain::counters::Counters>,
        client_secrets: domain::secret::Sealer,
    ) -> Result<Self, String> {
        let client_keys = assertion::ClientKeys::new(fetch::Fetcher::new(config.fetch));
        let mut srv = Self {
            config,
            store,
            keys,
            hasher,
            clock,
            tera,
            catalog,
            limiter,
            metadata: actix_web::web::Bytes::new(),
            api_login: std::sync::OnceLock::new(),
            hooks: std::sync::OnceLock::new(),
            userinfo_clients: userinfo::Clients::default(),
            client_keys,
            client_secrets,
        };
        srv.metadata = serde_json::to_vec(&discovery::metadata(&srv)?).map_err(|e| e.to_string())?.into();
        Ok(srv)
    }

    /// Enables the passwordless OTP grant: the connection that sent the codes checks them, and
    /// step-up decides.
    pub fn set_api_login(&self, ports: ApiLogin) {
        let _ = self.api_login.set(ports);
    }

    /// Sets the operator's hooks (once, at start-up).
    pub fn set_hooks(&self, hooks: Arc<hooks::Hooks>) {
        let _ = self.hooks.set(hooks);
    }

    /// The protocol endpoints, each with its kind. The caller registers
    /// `web::Data<AuthorizationServer>`.
    pub fn endpoints() -> Vec<Endpoint> {
        vec![
            Endpoint::api(paths::DISCOVERY, web::get().to(discovery::openid_configuration)),
            Endpoint::api(paths::JWKS, web::get().to(discovery::jwks)),
            // Auth0's paths, for applications and SDKs moving over (the auth0 SDKs fetch these).
            Endpoint::api(paths::JWKS_AUTH0, web::get().to(discovery::jwks)),
            Endpoint::api(paths::OAUTH_TOKEN, web::post().to(token::token)),
            // A navigation (never a fetch); its POST form comes cross-site from the client's page.
            Endpoint::cross_site(paths::AUTHORIZE, web::get().to(authorize::authorize_get)),
            Endpoint::cross_site(paths::AUTHORIZE, web::post().to(authorize::authorize_post)),
            Endpoint::page(web_layer::paths::RESUME, web::get().to(authorize::resume)),
            Endpoint::page(web_layer::paths::RESUME, web::post().to(authorize::resume_confirmed)),
            Endpoint::api(paths::TOKEN, web::post().to(token::token)),
            Endpoint::api(paths::PAR, web::post().to(par::push)),
            Endpoint::api(paths::DEVICE_AUTHORIZATION, web::post().to(device::device_authorization)),
            Endpoint::page(paths::DEVICE, web::get().to(device::pages::device_page)),
            Endpoint::page(paths::DEVICE, web::post().to(device::pages::device_submit)),
            Endpoint::api(paths::USERINFO, web::get().to(userinfo::userinfo)),
            Endpoint::api(paths::USERINFO, web::post().to(userinfo::userinfo)),
            Endpoint::backchannel(paths::REGISTER, web::post().to(registration::register)),
            Endpoint::backchannel(paths::REVOKE, web::post().to(revocation::revoke)),
            Endpoint::backchannel(paths::INTROSPECT, web::post().to(revocation::introspect)),
            // RP-initiated logout is a navigation from the client's page (RP-Initiated Logout §2).
            Endpoint::cross_site(paths::LOGOUT, web::get().to(logout::logout_get)),
            Endpoint::cross_site(paths::CHECK_SESSION, web::get().to(check_session::check_session_iframe)),
            Endpoint::cross_site(paths::LOGOUT, web::post().to(logout::logout_post)),
            Endpoint::page(paths::LOGOUT_CONFIRM, web::post().to(logout::logout_confirm)),
        ]
    }
}
