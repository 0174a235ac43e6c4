//! The composition root: configuration, the HTTP application, background tasks and the CLI's
//! building blocks. It holds no protocol logic: each crate mounts its own routes.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod demo;
mod listener;
pub mod middleware;
mod outbox;
pub mod rp;
mod templates;

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpResponse, web};
use anyhow::{Context, anyhow};
use authorization_server::{AuthorizationServer, AuthorizationServerConfig, Keys};
use domain::{Clock, MasterKey, SystemClock};
use passwordless_connection::{
    Alerts, ChannelConfig, Delivery, Limits, PasswordlessConfig, PasswordlessConnection, SmsPolicy, SmtpConfig,
    SmtpSender, SmtpTls,
};
use store::Store;
use store::counters::Limiter;

use crate::config::Settings;
use crate::middleware::{BrowserContext, CorsOrigins, browser_context, security_headers};

/// The master key: from configuration, or in development from `data_dir/master.key`, generated
/// on first start.
pub fn master_key(settings: &Settings) -> anyhow::Result<MasterKey> {
    if !settings.secrets.master_key.is_empty() {
        return MasterKey::from_base64(&settings.secrets.master_key).map_err(|e| anyhow!("secrets.master_key: {e}"));
    }
    let path = settings.data_dir().join("master.key");
    if let Some(key) = read_master_key(&path)? {
        return Ok(key);
    }
    std::fs::create_dir_all(settings.data_dir())
        .with_context(|| format!("cannot create {}", settings.data_dir().display()))?;
    let key = MasterKey::generate();
    match write_private(&path, &key.to_base64()) {
        Ok(()) => {
            eprintln!(
                "Generated a development master key in {} (keep it: it unlocks the signing keys).",
                path.display()
            );
            Ok(key)
        }
        // Another process starting at the same moment wrote its key first: use that one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_master_key(&path)?.ok_or_else(|| anyhow!("{} appeared empty", path.display()))
        }
        Err(e) => Err(anyhow!("cannot write {}: {e}", path.display())),
    }
}

/// The key in `path`, if there is one. An empty file is none: only a crash between creating and
/// writing the file could leave it (as versions before the atomic write could), and no data can
/// have been sealed with a key that was never written.
fn read_master_key(path: &Path) -> anyhow::Result<Option<MasterKey>> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => {
            eprintln!("{} is empty (an interrupted first start); a new key replaces it.", path.display());
            std::fs::remove_file(path).with_context(|| format!("cannot remove the empty {}", path.display()))?;
            Ok(None)
        }
        Ok(text) => MasterKey::from_base64(&text).map(Some).map_err(|e| anyhow!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow!("cannot read {}: {e}", path.display())),
    }
}

/// Creates `path` holding `text` (mode 0600) so that it either exists whole or not at all: the
/// text goes to a temporary file that is flushed to disk, then linked into place (failing with
/// `AlreadyExists` rather than replacing a file another process made), and the directory is
/// flushed so the new name survives a crash.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.tmp", domain::secret::random_token(6)));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let written = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    written?;
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Opens the database (and migrates it when configured to).
pub fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::connect(&settings.database.url, settings.database.pool_size).map_err(|e| anyhow!("{e}"))?;
    if settings.database.auto_migrate {
        let applied = store.migrate().map_err(|e| anyhow!("database migration failed: {e}"))?;
        if applied > 0 {
            tracing::info!(applied, "applied database migrations");
        }
    }
    Ok(store)
}

pub fn authorization_config(settings: &Settings) -> AuthorizationServerConfig {
    let o = &settings.oidc;
    AuthorizationServerConfig {
        issuer: settings.server.issuer.clone(),
        code_ttl: o.code_ttl,
        id_token_ttl: o.id_token_ttl,
        access_token_ttl: o.access_token_ttl,
        refresh_token_ttl: o.refresh_token_ttl,
        interaction_ttl: o.interaction_ttl,
        session_ttl: o.session_ttl,
        key_rotation_period: o.key_rotation_days * 86_400,
        interactions_per_ip_per_hour: o.interactions_per_ip_per_hour,
        registration_token: (!o.registration_token.is_empty())
            .then(|| domain::Secret::new(o.registration_token.clone())),
    }
}

/// The provider chains of both channels, in the configured order (primary first).
fn delivery(settings: &Settings, clock: &Arc<dyn Clock>) -> anyhow::Result<Delivery> {
    use passwordless_connection::delivery::{Chain, Provider, gateway, mandrill, sendgrid, ses, twilio};
    let d = &settings.delivery;
    let http = passwordless_connection::delivery::providers::http_client().map_err(|e| anyhow!("delivery: {e}"))?;
    let from = || -> anyhow::Result<lettre::message::Mailbox> {
        d.email_from.parse().map_err(|e| anyhow!("delivery.email_from: {e}"))
    };
    let provider = |name: &str| -> anyhow::Result<Provider> {
        Ok(match name {
            "outbox" => Provider::Outbox,
            "smtp" => {
                let s = &d.smtp;
                let tls = match s.tls.as_str() {
                    "tls" => SmtpTls::Tls,
                    "none" => SmtpTls::None,
                    _ => SmtpTls::StartTls,
                };
                let dkim = if s.dkim_key_file.is_empty() {
                    None
                } else {
                    let key = std::fs::read_to_string(&s.dkim_key_file)
                        .with_context(|| format!("delivery.smtp.dkim_key_file: cannot read {}", s.dkim_key_file))?;
                    Some(passwordless_connection::DkimSettings {
                        domain: s.dkim_domain.clone(),
                        selector: s.dkim_selector.clone(),
                        key: domain::Secret::new(key.trim().to_owned()),
                        ed25519: s.dkim_algorithm == "ed25519",
                    })
                };
                Provider::Smtp(Box::new(
                    SmtpSender::new(&SmtpConfig {
                        host: s.host.clone(),
                        port: s.port,
                        tls,
                        username: (!s.username.is_empty()).then(|| s.username.clone()),
                        password: (!s.password.is_empty()).then(|| s.password.clone()),
                        from: from()?,
                        dkim,
                    })
                    .map_err(|e| anyhow!("delivery.smtp: {e}"))?,
                ))
            }
            "sendgrid" => Provider::SendGrid(sendgrid::SendGridSender::new(
                &d.sendgrid.base_url,
                d.sendgrid.api_key.clone(),
                from()?,
                http.clone(),
            )),
            "mandrill" => Provider::Mandrill(mandrill::MandrillSender::new(
                &d.mandrill.base_url,
                d.mandrill.api_key.clone(),
                from()?,
                http.clone(),
            )),
            "ses" => Provider::Ses(ses::SesSender::new(
                &d.ses.region,
                &d.ses.base_url,
                &d.ses.access_key_id,
                d.ses.secret_access_key.clone(),
                from()?,
                http.clone(),
            )),
            "twilio" => {
                let t = &d.twilio;
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
            "gateway" => Provider::Gateway(Box::new(gateway::GatewaySender::new(
                &d.gateway.url,
                &d.gateway.secret,
                Arc::clone(clock),
                http.clone(),
            ))),
            other => return Err(anyhow!("delivery: unknown provider {other:?}")),
        })
    };
    let chain = |names: &[String]| -> anyhow::Result<Chain> {
        Ok(Chain(names.iter().map(|n| provider(n)).collect::<Result<_, _>>()?))
    };
    Ok(Delivery { email: chain(&d.email)?, sms: chain(&d.sms)? })
}

/// The connection's settings, from `[passwordless]`.
pub fn passwordless_config(settings: &Settings, sms_available: bool) -> PasswordlessConfig {
    let p = &settings.passwordless;
    let l = &p.limits;
    PasswordlessConfig {
        public_url: settings.server.issuer.clone(),
        product_name: p.product_name.clone(),
        email_subject: (!p.email_subject.trim().is_empty()).then(|| p.email_subject.trim().to_owned()),
        email: ChannelConfig { code_length: p.email.code_length, ttl: p.email.ttl },
        sms: ChannelConfig { code_length: p.sms.code_length, ttl: p.sms.ttl },
        max_attempts: p.max_attempts,
        signups_enabled: p.signups_enabled,
        sms_policy: SmsPolicy {
            available: sms_available,
            default_region: (!p.sms.default_region.is_empty()).then(|| p.sms.default_region.to_ascii_uppercase()),
            allowed_countries: p.sms.allowed_countries.clone(),
            prefix_digits: p.sms.prefix_digits,
            sends_per_prefix_per_hour: p.sms.sends_per_prefix_per_hour,
        },
        limits: Limits {
            starts_per_ip_per_hour: l.starts_per_ip_per_hour,
            sends_per_destination_per_minute: l.sends_per_destination_per_minute,
            sends_per_destination_per_hour: l.sends_per_destination_per_hour,
            failures_per_ip_per_account: l.failures_per_ip_per_account,
            failures_per_ip_per_day: l.failures_per_ip_per_day,
            global_failures_per_hour: l.global_failures_per_hour,
            block_seconds: l.block_seconds,
        },
        alerts: Alerts {
            owner_email: domain::EmailAddress::parse(&p.alerts.owner_email).ok(),
            sms_ratio_min_sent: p.alerts.sms_ratio_min_sent,
            sms_ratio_threshold: p.alerts.sms_ratio_threshold,
        },
    }
}

/// The rustls configuration when `server.tls_cert` and `server.tls_key` are set.
fn tls_config(settings: &Settings) -> anyhow::Result<Option<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (cert, key) = (&settings.server.tls_cert, &settings.server.tls_key);
    if cert.is_empty() || key.is_empty() {
        return Ok(None);
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| anyhow!("server.tls_cert: {cert:?} is not a PEM certificate chain: {e}"))?;
    if chain.is_empty() {
        return Err(anyhow!("server.tls_cert: {cert:?} holds no certificate"));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow!("server.tls_key: {key:?} is not a PEM private key: {e}"))?;
    let config =
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| anyhow!("TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| anyhow!("server.tls_cert / server.tls_key: the key does not fit the certificate: {e}"))?;
    Ok(Some(config))
}

/// A running server and what tests need to know about it.
pub struct Application {
    pub port: u16,
    pub store: Store,
    pub keys: Arc<Keys>,
    server: Server,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Builds everything and binds. With `listener`, that socket is used (tests bind port 0 first,
    /// so the issuer can name the port).
    pub async fn build(
        settings: Settings,
        listener: Option<TcpListener>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let listener = match listener {
            Some(l) => l,
            None => TcpListener::bind(&settings.server.bind)
                .with_context(|| format!("cannot listen on {} (server.bind)", settings.server.bind))?,
        };
        let port = listener.local_addr()?.port();
        let tls = tls_config(&settings)?;
        let store = open_store(&settings)?;
        let master = master_key(&settings)?;
        let hasher = master.hasher();
        let tera = Arc::new(templates::load().map_err(|e| anyhow!("templates: {e:?}"))?);
        let geo = Arc::new(if settings.step_up.geoip_mmdb.is_empty() {
            step_up::Geo::Embedded
        } else {
            step_up::Geo::open(&settings.step_up.geoip_mmdb).map_err(|e| anyhow!("step_up.geoip_mmdb: {e}"))?
        });

        let catalog = Arc::new(templates::catalog().map_err(|e| anyhow!("templates/i18n: {e}"))?);
        let keys = Arc::new(
            Keys::load(Arc::new(store.clone()), master.sealer(), clock.now())
                .await
                .map_err(|e| anyhow!("signing keys: {e}"))?,
        );
        let limiter: Arc<dyn domain::counters::Counters> = Arc::new(if settings.redis.url.is_empty() {
            Limiter::in_process()
        } else {
            Limiter::redis(&settings.redis.url, &settings.redis.key_prefix)
                .await
                .map_err(|e| anyhow!("redis.url: cannot connect: {e}"))?
        });
        let as_config = authorization_config(&settings);
        let rotation_period = as_config.key_rotation_period;
        let authorization = web::Data::new(
            AuthorizationServer::new(
                as_config,
                Arc::new(store.clone()),
                Arc::clone(&keys),
                hasher.clone(),
                Arc::clone(&clock),
                Arc::clone(&tera),
                Arc::clone(&catalog),
                Arc::clone(&limiter),
            )
            .map_err(|e| anyhow!("server.issuer: {e}"))?,
        );
        let outbox_ready = Arc::new(tokio::sync::Notify::new());
        let delivery = Arc::new(delivery(&settings, &clock)?);
        let connection = web::Data::new(PasswordlessConnection {
            config: passwordless_config(&settings, !delivery.sms.is_empty()),
            store: Arc::new(store.clone()),
            hasher: hasher.clone(),
            sealer: master.message_sealer(),
            clock: Arc::clone(&clock),
            tera: Arc::clone(&tera),
            catalog: Arc::clone(&catalog),
            limiter: Arc::clone(&limiter),
            outbox_ready: Arc::clone(&outbox_ready),
            starter: authorization.clone().into_inner(),
        });
        // The OTP grant checks codes the connection sent (the two crates meet only through these ports).
        let gate = Arc::new(passwordless_connection::OtpGate(connection.clone().into_inner()));
        let step_up = web::Data::new(step_up::StepUpService {
            config: step_up::StepUpConfig {
                public_url: settings.server.issuer.clone(),
                product_name: settings.passwordless.product_name.clone(),
                impossible_travel_kmh: settings.step_up.impossible_travel_kmh,
                device_cookie_ttl: settings.step_up.device_cookie_days * 86_400,
                max_failures_per_hour: settings.step_up.max_failures_per_hour,
                notify_new_sign_ins: settings.step_up.notify_new_sign_ins,
                https: settings.server.issuer.starts_with("https://"),
            },
            store: Arc::new(store.clone()),
            hasher: hasher.clone(),
            message_sealer: master.message_sealer(),
            factor_sealer: master.factor_sealer(),
            clock: Arc::clone(&clock),
            tera: Arc::clone(&tera),
            catalog: Arc::clone(&catalog),
            limiter: Arc::clone(&limiter),
            geo: Arc::clone(&geo),
            codes: gate.clone(),
            outbox_ready: Arc::clone(&outbox_ready),
        });
        authorization.set_api_login(authorization_server::ApiLogin {
            otp: gate,
            step_up: Arc::new(step_up::ApiGate(step_up.clone().into_inner())),
        });
        let outbox_enabled = delivery.uses_outbox();
        let https = settings.server.issuer.starts_with("https://");
        let browser = web::Data::new(BrowserContext {
            hasher: hasher.clone(),
            https,
            origin: web_layer::origin_of(&settings.server.issuer).unwrap_or_default(),
            kinds: endpoint_kinds()?,
            trusted_proxies: settings.server.trusted_proxies.iter().filter_map(|p| config::parse_net(p)).collect(),
            forwarded_header: middleware::ForwardedHeader::parse(&settings.server.forwarded_header)
                .unwrap_or(middleware::ForwardedHeader::XForwardedFor),
            geo: Arc::clone(&geo),
            tera: Arc::clone(&tera),
            catalog: Arc::clone(&catalog),
        });
        let demo = if settings.demo.enabled {
            Some(web::Data::new(register_demo(&settings, &store, &hasher, &tera, clock.now()).await?))
        } else {
            None
        };

        let mut tasks = vec![passwordless_connection::delivery::spawn_worker(
            Arc::new(store.clone()),
            delivery,
            master.message_sealer(),
            Arc::clone(&clock),
            outbox_ready,
        )];
        tasks.push(spawn_key_maintenance(Arc::clone(&keys), Arc::clone(&clock), rotation_period));
        tasks.push(spawn_purge(store.clone(), Arc::clone(&clock), retention(&settings)));

        let store_data = web::Data::new(store.clone());
        let sealer_data = web::Data::new(master.message_sealer());
        let cors_origins = Arc::new(CorsOrigins::new(store.clone(), endpoint_kinds()?));
        let tera_data = web::Data::new(Arc::clone(&tera));
        let catalog_data = web::Data::new(Arc::clone(&catalog));
        let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(2);
        let server = listener::serve(listener, tls, workers, move || {
            let mut app = App::new()
                .app_data(authorization.clone())
                .app_data(connection.clone())
                .app_data(step_up.clone())
                .app_data(store_data.clone())
                .app_data(sealer_data.clone())
                .app_data(web::Data::from(Arc::clone(&cors_origins)))
                .app_data(tera_data.clone())
                .app_data(catalog_data.clone())
                .app_data(browser.clone())
                .app_data(web::FormConfig::default().limit(16 * 1024).error_handler(|err, req| {
                    let page = match (
                        req.app_data::<web::Data<Arc<tera::Tera>>>(),
                        req.app_data::<web::Data<Arc<domain::i18n::Catalog>>>(),
                    ) {
                        (Some(tera), Some(catalog)) => templates::message_page(
                            tera,
                            catalog,
                            req,
                            actix_web::http::StatusCode::BAD_REQUEST,
                            templates::ServerPage::FormMalformed,
                        ),
                        _ => HttpResponse::BadRequest().finish(),
                    };
                    actix_web::error::InternalError::from_response(err, page).into()
                }))
                .app_data(web::PayloadConfig::new(64 * 1024))
                .configure(AuthorizationServer::routes)
                .configure(PasswordlessConnection::routes)
                .configure(step_up::StepUpService::routes)
                .route("/static/{file}", web::get().to(static_file))
                .route("/health", web::get().to(health))
                .route("/health", web::head().to(health))
                .route(&format!("{}{{status}}", listener::REFUSED_PATH), web::get().to(refused));
            if outbox_enabled {
                app = app
                    .route("/dev/outbox", web::get().to(outbox::outbox_page))
                    .route("/dev/outbox.json", web::get().to(outbox::outbox_json));
            }
            if let Some(demo) = &demo {
                app = app
                    .app_data(demo.clone())
                    .configure(demo::Demo::routes)
                    .route("/", web::get().to(|| async { web_layer::see_other("/demo") }));
            }
            app.default_service(web::to(not_found))
                .wrap(from_fn(browser_context))
                .wrap(middleware::cors(Arc::clone(&cors_origins)))
                .wrap(from_fn(middleware::refresh_cors_origins))
                .wrap(security_headers(https))
                .wrap(from_fn(access_log))
        })?;
        Ok(Self { port, store, keys, server, tasks })
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        for t in self.tasks {
            t.abort();
        }
        result
    }
}

/// The kind of every route of the three protocol crates, from which CSRF and CORS follow.
fn endpoint_kinds() -> anyhow::Result<web_layer::EndpointKinds> {
    let endpoints = AuthorizationServer::endpoints()
        .into_iter()
        .chain(PasswordlessConnection::endpoints())
        .chain(step_up::StepUpService::endpoints());
    web_layer::EndpointKinds::of(endpoints).map_err(|e| anyhow!("routes: {e}"))
}

/// Registers (or re-registers) the demo client with a fresh secret held only in memory.
async fn register_demo(
    settings: &Settings,
    store: &Store,
    hasher: &domain::KeyedHasher,
    tera: &Arc<tera::Tera>,
    now: i64,
) -> anyhow::Result<demo::Demo> {
    let secret = domain::secret::random_token(32);
    let issuer = settings.server.issuer.clone();
    let client = store::clients::Client {
        id: domain::ClientId::parse(demo::DEMO_CLIENT_ID).ok_or_else(|| anyhow!("demo client id"))?,
        name: "Ostiary demo app".into(),
        secret_hash: Some(authorization_server::clients::hash_secret(hasher, &secret)),
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
    };
    store.upsert_client(&client).await.map_err(|e| anyhow!("demo client: {e}"))?;
    Ok(demo::Demo::new(issuer, secret, Arc::clone(tera)))
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

/// Deletes expired rows every ten minutes.
fn spawn_purge(store: Store, clock: Arc<dyn Clock>, keep: store::purge::Retention) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            match store.purge_expired(clock.now(), keep).await {
                Ok(0) => {}
                Ok(rows) => tracing::info!(rows, "purged expired rows"),
                Err(e) => tracing::error!(error = %e, "purging expired rows failed"),
            }
        }
    })
}

/// Reloads keys every minute (rotations by the CLI or another node) and rotates when due.
fn spawn_key_maintenance(keys: Arc<Keys>, clock: Arc<dyn Clock>, period: i64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        tick.tick().await;
        loop {
            tick.tick().await;
            match keys.rotate_if_due(clock.now(), period).await {
                Ok(true) => {
                    tracing::info!("signing keys rotated (automatic rotation period reached)")
                }
                Ok(false) => {
                    if let Err(e) = keys.reload().await {
                        tracing::error!(error = %e, "signing keys could not be reloaded");
                    }
                }
                Err(e) => tracing::error!(error = %e, "signing key rotation failed"),
            }
        }
    })
}

/// Liveness for load balancers (GET or HEAD).
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// The files of `static/`, compiled into the binary.
async fn static_file(path: web::Path<String>) -> HttpResponse {
    let (content_type, body) = match path.as_str() {
        "ostiary.css" => ("text/css; charset=utf-8", include_str!("../../../static/ostiary.css")),
        "form_post.js" => ("text/javascript; charset=utf-8", include_str!("../../../static/form_post.js")),
        "login.js" => ("text/javascript; charset=utf-8", include_str!("../../../static/login.js")),
        "ostiary.js" => ("text/javascript; charset=utf-8", include_str!("../../../static/ostiary.js")),
        "widget.js" => ("text/javascript; charset=utf-8", include_str!("../../../static/widget.js")),
        _ => return HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("not found"),
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}

/// A request head the HTTP/1 guard refused (see `listener`): its status, and a page that says so.
async fn refused(
    req: actix_web::HttpRequest,
    path: web::Path<u16>,
    tera: web::Data<Arc<tera::Tera>>,
    catalog: web::Data<Arc<domain::i18n::Catalog>>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let status = match *path {
        414 => StatusCode::URI_TOO_LONG,
        431 => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    templates::message_page(&tera, &catalog, &req, status, templates::ServerPage::Malformed)
}

async fn not_found(
    req: actix_web::HttpRequest,
    tera: web::Data<Arc<tera::Tera>>,
    catalog: web::Data<Arc<domain::i18n::Catalog>>,
) -> HttpResponse {
    templates::message_page(
        &tera,
        &catalog,
        &req,
        actix_web::http::StatusCode::NOT_FOUND,
        templates::ServerPage::NotFound,
    )
}

/// One log line per request. It names the route pattern, never the path: paths can carry
/// magic-link tokens and interaction ids.
async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let res = next.call(req).await?;
    let route = res.request().match_pattern().unwrap_or_else(|| "(unmatched)".into());
    let status = res.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::error!(%method, route, status, ms, "request");
    } else {
        tracing::info!(%method, route, status, ms, "request");
    }
    Ok(res)
}

/// The default clock for `serve`.
pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_in(dir: &Path) -> Settings {
        let mut s = Settings::defaults().unwrap();
        s.server.data_dir = dir.display().to_string();
        s
    }

    fn temp_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ostiary-key-{}", domain::secret::random_token(9)));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn an_empty_master_key_file_left_by_a_crash_is_replaced() {
        let dir = temp_dir();
        std::fs::write(dir.join("master.key"), "").unwrap();
        let key = master_key(&settings_in(&dir)).unwrap();
        let again = master_key(&settings_in(&dir)).unwrap();
        assert_eq!(key.to_base64(), again.to_base64(), "written whole, read back");
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left: {leftovers:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn processes_starting_together_end_up_with_one_key() {
        let dir = temp_dir();
        let keys: Vec<String> = (0..8)
            .map(|_| {
                let s = settings_in(&dir);
                std::thread::spawn(move || master_key(&s).unwrap().to_base64())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
        assert_eq!(std::fs::read_to_string(dir.join("master.key")).unwrap(), keys[0]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
