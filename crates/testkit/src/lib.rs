//! Test helpers: [`spawn_app`] starts a real Ostiary on port 0 with a fresh database (a SQLite
//! file, or a new PostgreSQL database on the server named by `OSTIARY_TEST_DATABASE_URL`), a fake
//! clock and the dev outbox; [`Browser`] is a cookie-keeping HTTP client that follows nothing by
//! itself; [`TestApp::sign_in`] drives the hosted pages like a person would.
#![forbid(unsafe_code)]

mod browser;
mod flows;
mod postgres;
pub mod providers;
mod services;
mod tls;

pub use browser::{Browser, csrf_of, location, oidc_http, query_param};
pub use flows::{OutboxMessage, POST_LOGOUT_REDIRECT_URI, TestClient};
pub use postgres::{PostgresDatabase, postgres_admin_url, redis_url};
pub use services::{ThrowawayPostgres, ThrowawayRedis};
pub use tls::TestCertificate;

use std::sync::Arc;

use domain::{FakeClock, MasterKey};
use ostiary::config::Settings;
use store::Store;

/// Which backend a test runs on. `Postgres` also uses Redis for counters when
/// `OSTIARY_TEST_REDIS_URL` is set: it stands for the multi-node configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Runs a test body once per backend: `both_backends!(name, |db| async move { … })` defines
/// `name_sqlite` and `name_postgres`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)($crate::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)($crate::Db::Postgres).await
            }
        }
    };
}

pub struct TestApp {
    /// The issuer: `http://127.0.0.1:PORT`.
    pub base: String,
    pub store: Store,
    pub clock: FakeClock,
    pub master: MasterKey,
    pub settings: Settings,
    pub keys: Arc<authorization_server::Keys>,
    /// The metrics listener's port, when `server.metrics_bind` was set.
    pub metrics_port: Option<u16>,
    /// One client for API calls (outbox, token, userinfo): building a client loads the TLS roots.
    pub api: reqwest::Client,
    dir: std::path::PathBuf,
    /// Dropped with the app (after the server stops).
    _database: Option<PostgresDatabase>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ostiary-test-{}", domain::secret::random_token(9)));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Settings every test starts from; `adjust` changes them before the app is built.
pub async fn spawn_app(db: Db) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

fn database_url(url: String) -> ostiary::config::DatabaseUrl {
    ostiary::config::DatabaseUrl::new(url).expect("a database URL")
}

/// An app on a database the test runs itself (a [`ThrowawayPostgres`]'s URL), with in-process
/// counters unless `adjust` names a Redis.
pub async fn spawn_app_on(database: &str, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(Db::Sqlite, |settings| {
        settings.database.url = database_url(database.to_owned());
        adjust(settings);
    })
    .await
}

pub async fn spawn_app_with(db: Db, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    // `OSTIARY_TEST_LOG=debug` (a tracing filter) shows the server's log with a test's output.
    if let Ok(filter) = std::env::var("OSTIARY_TEST_LOG") {
        let filter = tracing_subscriber::EnvFilter::new(filter);
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let port = listener.local_addr().expect("local addr").port();
    let dir = temp_dir();
    let master = MasterKey::generate();
    let mut settings = Settings::defaults().expect("defaults are valid");
    settings.server.bind = ([127, 0, 0, 1], port).into();
    settings.server.issuer = domain::Issuer::parse(&format!("http://127.0.0.1:{port}")).expect("issuer");
    settings.server.data_dir = dir.clone();
    settings.server.log = "warn".into();
    settings.secrets.master_key = Some(master.clone());
    settings.demo.enabled = false;
    // Limits stay out of the way of tests that sign in often; the limit tests set their own.
    settings.passwordless.limits.starts_per_ip_per_hour = 10_000;
    settings.passwordless.limits.sends_per_destination_per_minute = 10_000;
    settings.passwordless.limits.sends_per_destination_per_hour = 10_000;
    settings.oidc.interactions_per_ip_per_hour = 10_000;
    // Clients in tests publish their keys on 127.0.0.1.
    settings.oidc.fetch_private_addresses = true;
    // New-sign-in emails would sit among the codes tests read from the outbox; step-up tests turn
    // them on.
    settings.step_up.notify_new_sign_ins = false;
    settings.database.pool_size = 10;
    let mut database = None;
    match db {
        Db::Sqlite => settings.database.url = database_url(dir.join("ostiary.db").display().to_string()),
        Db::Postgres => {
            let created = PostgresDatabase::create().await;
            settings.database.url = database_url(created.url.clone());
            database = Some(created);
            if let Some(redis) = redis_url() {
                settings.redis.url = Some(ostiary::config::RedisUrl::new(redis).expect("a redis:// URL"));
                settings.redis.key_prefix = format!("ostiary-test-{}", domain::secret::random_token(9));
            }
        }
    }
    adjust(&mut settings);
    let clock = FakeClock::starting_now();
    let app = ostiary::Application::build(settings.clone(), Some(listener), Arc::new(clock.clone()))
        .await
        .expect("the application starts");
    let store = app.store.clone();
    let keys = Arc::clone(&app.keys);
    let metrics_port = app.metrics_port;
    let server = tokio::spawn(app.run_until_stopped());
    let api = reqwest::Client::builder()
        .tls_certs_only([])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    TestApp {
        base: settings.server.issuer.to_string(),
        store,
        clock,
        master,
        settings,
        keys,
        metrics_port,
        api,
        dir,
        _database: database,
        server,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
