//! Everything the application is made of, built once from the settings: the store, the signing
//! keys, the three protocol crates wired to each other through their ports, the browser context
//! the middleware needs, the demo app, and the background tasks.

use std::sync::Arc;

use actix_web::web;
use anyhow::anyhow;
use authorization_server::{AuthorizationServer, Keys};
use domain::{Clock, KeyedHasher, MasterKey};
use passwordless_connection::PasswordlessConnection;
use step_up::StepUpService;
use store::Store;
use store::counters::Limiter;

use crate::config::Settings;
use crate::middleware::{BrowserContext, CorsOrigins};
use crate::tasks::{spawn_key_maintenance, spawn_purge, spawn_webhooks};
use crate::{demo, templates};

/// Opens the database (and migrates it when configured to).
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let db = &settings.database;
    let store = Store::connect(db.url.as_str(), db.pool_size).map_err(|e| anyhow!("{e}"))?;
    if db.auto_migrate {
        let applied = store.migrate().map_err(|e| anyhow!("database migration failed: {e}"))?;
        if applied > 0 {
            tracing::info!(applied, "applied database migrations");
        }
    }
    // Events are written wherever the store is used (the CLI's changes too), for the endpoints
    // configured.
    store
        .route_events(hooks::webhooks::routes(&settings.webhooks))
        .await
        .map_err(|e| anyhow!("cannot note the webhook endpoints: {e}"))?;
    Ok(store)
}

/// The parts shared by every crate.
struct Shared {
    store: Store,
    master: MasterKey,
    hasher: KeyedHasher,
    clock: Arc<dyn Clock>,
    tera: Arc<tera::Tera>,
    catalog: Arc<domain::i18n::Catalog>,
    limiter: Arc<dyn domain::counters::Counters>,
    /// The same counters, for the readiness check.
    counters: Arc<Limiter>,
    geo: Arc<step_up::Geo>,
    outbox_ready: Arc<tokio::sync::Notify>,
}

impl Shared {
    async fn build(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let store = open_store(settings).await?;
        let master = crate::keyfile::master_key(settings)?;
        let geo = match &settings.step_up.geoip_mmdb {
            None => step_up::Geo::Embedded,
            Some(path) => step_up::Geo::open(path).map_err(|e| anyhow!("step_up.geoip_mmdb: {e}"))?,
        };
        let limiter = match &settings.redis.url {
            None => Limiter::in_process(),
            Some(url) => Limiter::redis(url.as_str(), &settings.redis.key_prefix)
                .await
                .map_err(|e| anyhow!("redis.url: cannot connect: {e}"))?,
        };
        let counters = Arc::new(limiter);
        Ok(Shared {
            hasher: master.hasher(),
            store,
            master,
            clock,
            tera: Arc::new(templates::load().map_err(|e| anyhow!("templates: {e:?}"))?),
            catalog: Arc::new(templates::catalog().map_err(|e| anyhow!("templates/i18n: {e}"))?),
            limiter: Arc::clone(&counters) as Arc<dyn domain::counters::Counters>,
            counters,
            geo: Arc::new(geo),
            outbox_ready: Arc::new(tokio::sync::Notify::new()),
        })
    }
}

/// The application's services, ready to be served.
pub struct Services {
    pub store: Store,
    pub keys: Arc<Keys>,
    pub authorization: web::Data<AuthorizationServer>,
    pub connection: web::Data<PasswordlessConnection>,
    pub step_up: web::Data<StepUpService>,
    pub admin: web::Data<admin::Admin>,
    pub browser: web::Data<BrowserContext>,
    pub cors_origins: Arc<CorsOrigins>,
    pub demo: Option<web::Data<demo::Demo>>,
    pub tera: Arc<tera::Tera>,
    pub catalog: Arc<domain::i18n::Catalog>,
    pub message_sealer: domain::secret::Sealer,
    /// Whether a channel delivers to the development outbox (`/dev/outbox` is mounted).
    pub outbox: bool,
    pub https: bool,
    /// What `/readyz` checks; and where `/metrics` is served when not on the main listener.
    pub readiness: web::Data<crate::ops::Readiness>,
    pub metrics_bind: Option<std::net::SocketAddr>,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// The three protocol crates, wired to each other through their ports.
struct Crates {
    authorization: web::Data<AuthorizationServer>,
    connection: web::Data<PasswordlessConnection>,
    step_up: web::Data<StepUpService>,
    delivery: Arc<passwordless_connection::Delivery>,
    passkeys: Option<Arc<passkeys::Passkeys>>,
    /// The delivery worker's end of the connection's hand-off.
    handed: tokio::sync::mpsc::Receiver<passwordless_connection::delivery::Handed>,
}

impl Crates {
    async fn build(settings: &Settings, s: &Shared, keys: &Arc<Keys>) -> anyhow::Result<Self> {
        let issuer = &settings.server.issuer;
        let authorization = authorization_server(settings, s, keys)?;
        let delivery = settings.delivery.build(&s.clock, settings.hooks.send_message.as_ref());
        let delivery = Arc::new(delivery.map_err(|e| anyhow!("{e}"))?);
        let passkeys = crate::webauthn::passkeys_for(settings, &s.store, &s.clock)?;
        let hooks = Arc::new(settings.hooks.build().map_err(|e| anyhow!("{e}"))?);
        let (handoff, handed) = passwordless_connection::delivery::Handoff::new();
        let connection = web::Data::new(PasswordlessConnection {
            config: settings.passwordless.config(issuer, !delivery.sms.is_empty()),
            store: Arc::new(s.store.clone()),
            hasher: s.hasher.clone(),
            sealer: s.master.message_sealer(),
            clock: Arc::clone(&s.clock),
            tera: Arc::clone(&s.tera),
            catalog: Arc::clone(&s.catalog),
            limiter: Arc::clone(&s.limiter),
            outbox_ready: Arc::clone(&s.outbox_ready),
            handoff,
            starter: authorization.clone().into_inner(),
            passkeys: passkeys.clone(),
            hooks: Arc::clone(&hooks),
        });
        // The OTP grant checks codes the connection sent (the two crates meet only through these ports).
        let gate = Arc::new(passwordless_connection::OtpGate(connection.clone().into_inner()));
        let step_up = web::Data::new(StepUpService {
            config: settings.step_up.config(issuer, &settings.passwordless.product_name),
            store: Arc::new(s.store.clone()),
            hasher: s.hasher.clone(),
            message_sealer: s.master.message_sealer(),
            factor_sealer: s.master.factor_sealer(),
            clock: Arc::clone(&s.clock),
            tera: Arc::clone(&s.tera),
            catalog: Arc::clone(&s.catalog),
            limiter: Arc::clone(&s.limiter),
            geo: Arc::clone(&s.geo),
            codes: gate.clone(),
            outbox_ready: Arc::clone(&s.outbox_ready),
            passkeys: passkeys.clone(),
            notices: Arc::new(passwordless_connection::Notices(connection.clone().into_inner())),
            hooks: Arc::clone(&hooks),
        });
        authorization.set_hooks(hooks);
        authorization.set_api_login(authorization_server::ApiLogin {
            otp: gate,
            step_up: Arc::new(step_up::ApiGate(step_up.clone().into_inner())),
        });
        Ok(Crates { authorization, connection, step_up, delivery, passkeys, handed })
    }
}

impl Services {
    pub async fn build(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let s = Shared::build(settings, clock).await?;
        let issuer = &settings.server.issuer;
        let keys = Arc::new(
            Keys::load(Arc::new(s.store.clone()), s.master.sealer(), s.clock.now())
                .await
                .map_err(|e| anyhow!("signing keys: {e}"))?,
        );
        let Crates { authorization, connection, step_up, delivery, passkeys, handed } =
            Crates::build(settings, &s, &keys).await?;
        // The admin API reads bearer tokens through the authorization server, which signs them.
        let admin = web::Data::new(admin::Admin {
            store: Arc::new(s.store.clone()),
            tokens: authorization.clone().into_inner(),
            notices: Arc::new(passwordless_connection::Notices(connection.clone().into_inner())),
            clock: Arc::clone(&s.clock),
            hasher: s.hasher.clone(),
            client_secrets: s.master.client_secret_sealer(),
            sessions: authorization.clone().into_inner(),
            settings: settings.admin.clone(),
            issuer: issuer.to_string(),
            tera: Arc::clone(&s.tera),
            catalog: Arc::clone(&s.catalog),
            authenticators: Arc::new(step_up::AccountFactors(step_up.clone().into_inner())),
            product_name: settings.passwordless.product_name.clone(),
            passkeys,
            hook_labels: settings.hooks.clients.keys().cloned().collect(),
        });
        register_console(settings, &s.store, s.clock.now()).await?;
        register_account(settings, &s.store, s.clock.now()).await?;
        let kinds = endpoint_kinds()?;
        let browser = web::Data::new(BrowserContext {
            hasher: s.hasher.clone(),
            https: issuer.is_https(),
            origin: web_layer::origin_of(issuer.as_str()).unwrap_or_default(),
            kinds: kinds.clone(),
            trusted_proxies: settings.server.trusted_proxies.clone(),
            forwarded_header: settings.server.forwarded_header,
            geo: Arc::clone(&s.geo),
            tera: Arc::clone(&s.tera),
            catalog: Arc::clone(&s.catalog),
        });
        let demo = match settings.demo.enabled {
            true => Some(web::Data::new(
                register_demo(settings, &s.store, &s.hasher, &s.tera, &s.catalog, s.clock.now()).await?,
            )),
            false => None,
        };
        let mut tasks = vec![
            passwordless_connection::delivery::spawn_worker(
                Arc::new(s.store.clone()),
                Arc::clone(&delivery),
                s.master.message_sealer(),
                Arc::clone(&s.clock),
                Arc::clone(&s.outbox_ready),
                handed,
            ),
            spawn_key_maintenance(Arc::clone(&keys), Arc::clone(&s.clock), authorization.config.key_rotation_period),
            spawn_purge(s.store.clone(), Arc::clone(&s.clock), retention(settings)),
            crate::ops::spawn_upkeep(crate::ops::metrics()),
            authorization_server::backchannel::spawn_worker(authorization.clone()),
        ];
        tasks.extend(spawn_webhooks(settings, &s.store, &s.clock)?);
        let readiness = web::Data::new(crate::ops::Readiness { store: s.store.clone(), limiter: s.counters });
        Ok(Services {
            readiness,
            cors_origins: Arc::new(CorsOrigins::new(s.store.clone(), kinds)),
            store: s.store,
            keys,
            authorization,
            connection,
            step_up,
            admin,
            browser,
            demo,
            tera: s.tera,
            catalog: s.catalog,
            message_sealer: s.master.message_sealer(),
            outbox: delivery.uses_outbox(),
            https: issuer.is_https(),
            metrics_bind: settings.server.metrics_bind,
            tasks,
        })
    }
}

/// The routes of the three protocol crates and of `admin`, in one list: mounted at once
/// (`web_layer::mount`), and the kinds CSRF and CORS follow from.
pub(crate) fn endpoints() -> Vec<web_layer::Endpoint> {
    AuthorizationServer::endpoints()
        .into_iter()
        .chain(PasswordlessConnection::endpoints())
        .chain(StepUpService::endpoints())
        .chain(admin::Admin::endpoints())
        .collect()
}

/// The kind of every route of [`endpoints`].
fn endpoint_kinds() -> anyhow::Result<web_layer::EndpointKinds> {
    web_layer::EndpointKinds::of(endpoints()).map_err(|e| anyhow!("routes: {e}"))
}

/// Registers (or re-registers) the demo client with a fresh secret held only in memory.
async fn register_demo(
    settings: &Settings,
    store: &Store,
    hasher: &KeyedHasher,
    tera: &Arc<tera::Tera>,
    catalog: &Arc<domain::i18n::Catalog>,
    now: i64,
) -> anyhow::Result<demo::Demo> {
    let secret = domain::secret::random_token(32);
    let issuer = settings.server.issuer.to_string();
    let client = domain::Client {
        id: domain::ClientId::parse(demo::DEMO_CLIENT_ID).ok_or_else(|| anyhow!("demo client id"))?,
        name: "Ostiary demo app".into(),
        secret_hash: Some(authorization_server::clients::hash_secret(hasher, &secret)),
        secret_sealed: None,
        is_public: false,
        redirect_uris: vec![demo::Demo::redirect_uri(&issuer)],
        post_logout_redirect_uris: vec![format!("{}/demo", issuer.trim_end_matches('/'))],
        id_token_alg: domain::SigningAlg::RS256,
        created_at: now,
        application_type: domain::ApplicationType::Web,
        // The demo offers every sign-in method, so a newcomer can try texts through the dev outbox,
        // and the passwordless API (its secret is printed by nothing: it lives in this process).
        settings: domain::ClientSettings {
            login_methods: domain::LoginMethod::ALL.to_vec(),
            api_login: true,
            ..Default::default()
        },
        previous_secret: None,
        disabled_at: None,
        version: 1,
    };
    store.upsert_client(&client).await.map_err(|e| anyhow!("demo client: {e}"))?;
    Ok(demo::Demo::new(issuer, secret, Arc::clone(tera), Arc::clone(catalog)))
}

/// Registers (or re-registers) the admin console's client: public (PKCE), back to `/admin/callback`,
/// and an admin without a second factor sets one up at once.
async fn register_console(settings: &Settings, store: &Store, now: i64) -> anyhow::Result<()> {
    let client = domain::Client {
        id: domain::ClientId::parse(admin::console::CONSOLE_CLIENT_ID).ok_or_else(|| anyhow!("console client id"))?,
        name: "Ostiary administration".into(),
        secret_hash: None,
        secret_sealed: None,
        is_public: true,
        redirect_uris: vec![admin::console::callback_uri(settings.server.issuer.as_str())],
        post_logout_redirect_uris: vec![],
        id_token_alg: domain::SigningAlg::RS256,
        created_at: now,
        application_type: domain::ApplicationType::Web,
        settings: domain::ClientSettings {
            refresh_tokens: domain::RefreshPolicy::Never,
            step_up: domain::StepUp {
                policy: domain::StepUpPolicy::Always,
                without_factor: domain::WithoutFactor::Enroll,
            },
            ..Default::default()
        },
        previous_secret: None,
        disabled_at: None,
        version: 1,
    };
    store.upsert_client(&client).await.map_err(|e| anyhow!("admin console client: {e}"))
}

/// The account page's client: the server's own public client, registered at every start, with
/// the step-up policy every client has by default.
async fn register_account(settings: &Settings, store: &Store, now: i64) -> anyhow::Result<()> {
    let client = domain::Client {
        id: domain::ClientId::parse(admin::account::ACCOUNT_CLIENT_ID).ok_or_else(|| anyhow!("account client id"))?,
        name: "Your account".into(),
        secret_hash: None,
        secret_sealed: None,
        is_public: true,
        redirect_uris: vec![admin::account::callback_uri(settings.server.issuer.as_str())],
        post_logout_redirect_uris: vec![],
        id_token_alg: domain::SigningAlg::RS256,
        created_at: now,
        application_type: domain::ApplicationType::Web,
        settings: domain::ClientSettings { refresh_tokens: domain::RefreshPolicy::Never, ..Default::default() },
        previous_secret: None,
        disabled_at: None,
        version: 1,
    };
    store.upsert_client(&client).await.map_err(|e| anyhow!("account page client: {e}"))
}

/// The authorization server, before the other crates are wired to it.
fn authorization_server(
    settings: &Settings,
    s: &Shared,
    keys: &Arc<Keys>,
) -> anyhow::Result<web::Data<AuthorizationServer>> {
    let server = AuthorizationServer::new(
        settings.oidc.config(&settings.server.issuer, settings.is_production()),
        Arc::new(s.store.clone()),
        Arc::clone(keys),
        s.hasher.clone(),
        Arc::clone(&s.clock),
        Arc::clone(&s.tera),
        Arc::clone(&s.catalog),
        Arc::clone(&s.limiter),
        s.master.client_secret_sealer(),
    );
    Ok(web::Data::new(server.map_err(|e| anyhow!("server.issuer: {e}"))?))
}

/// What the purge keeps: codes while their tokens live, delivered messages and history for a week.
pub fn retention(settings: &Settings) -> store::purge::Retention {
    let o = &settings.oidc;
    // A code row carries its grant's revocation, so it lives as long as anything issued from it.
    let codes = o.refresh_token_ttl + o.id_token_ttl.max(o.access_token_ttl);
    // The sign-in history outlives the device cookies it is compared with, and at least a year.
    let security = (settings.step_up.device_cookie_days * 86_400).max(365 * 86_400);
    store::purge::Retention { codes, messages: 7 * 86_400, history: 7 * 86_400, security }
}
