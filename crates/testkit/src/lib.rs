//! Test helpers: [`spawn_app`] starts a real Ostiary on port 0 with a fresh database (a SQLite
//! file, or a new PostgreSQL database on the server named by `OSTIARY_TEST_DATABASE_URL`), a fake
//! clock and the dev outbox; [`Browser`] is a cookie-keeping HTTP client that follows nothing by
//! itself; [`TestApp::sign_in`] drives the hosted pages like a person would.
#![forbid(unsafe_code)]

pub mod providers;
mod tls;

pub use tls::TestCertificate;

use std::sync::Arc;
use std::time::Duration;

use authorization_server::Alg;
use authorization_server::clients::{NewClient, new_client};
use domain::{Clock, FakeClock, MasterKey};
use ostiary::config::Settings;
use serde::Deserialize;
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
    /// One client for API calls (outbox, token, userinfo): building a client loads the TLS roots.
    pub api: reqwest::Client,
    dir: std::path::PathBuf,
    pg_database: Option<(String, String)>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ostiary-test-{}", domain::secret::random_token(9)));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The PostgreSQL server tests may create databases on. `make test` sets it (the machine's server,
/// or a throwaway cluster it starts); nothing else is touched.
pub fn postgres_admin_url() -> String {
    std::env::var("OSTIARY_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!("OSTIARY_TEST_DATABASE_URL is not set. Run `make test`, which starts a throwaway PostgreSQL and Redis, or point it at a server you may create databases on.")
    })
}

pub fn redis_url() -> Option<String> {
    std::env::var("OSTIARY_TEST_REDIS_URL").ok().filter(|s| !s.is_empty())
}

fn create_postgres_database(admin: &str) -> (String, String) {
    use diesel::{Connection, RunQueryDsl};
    let name = format!("ostiary_test_{}", domain::secret::random_token(9).to_lowercase().replace(['-', '_'], "x"));
    let mut conn = diesel::PgConnection::establish(admin).expect("connect to OSTIARY_TEST_DATABASE_URL");
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).expect("create test database");
    let mut url = url::Url::parse(admin).expect("OSTIARY_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    (url.to_string(), name)
}

/// A fresh PostgreSQL database on the server of `OSTIARY_TEST_DATABASE_URL`, dropped with the guard.
pub struct PostgresDatabase {
    pub url: String,
    name: String,
}

impl PostgresDatabase {
    pub async fn create() -> Self {
        let admin = postgres_admin_url();
        let (url, name) =
            tokio::task::spawn_blocking(move || create_postgres_database(&admin)).await.expect("create db");
        Self { url, name }
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let (admin, name) = (postgres_admin_url(), self.name.clone());
        let _ = std::thread::spawn(move || {
            use diesel::{Connection, RunQueryDsl};
            if let Ok(mut conn) = diesel::PgConnection::establish(&admin) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn);
            }
        })
        .join();
    }
}

/// Settings every test starts from; `adjust` changes them before the app is built.
pub async fn spawn_app(db: Db) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

fn database_url(url: String) -> ostiary::config::DatabaseUrl {
    ostiary::config::DatabaseUrl::new(url).expect("a database URL")
}

pub async fn spawn_app_with(db: Db, adjust: impl FnOnce(&mut Settings)) -> TestApp {
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
    // New-sign-in emails would sit among the codes tests read from the outbox; step-up tests turn
    // them on.
    settings.step_up.notify_new_sign_ins = false;
    settings.database.pool_size = 10;
    let mut pg_database = None;
    match db {
        Db::Sqlite => settings.database.url = database_url(dir.join("ostiary.db").display().to_string()),
        Db::Postgres => {
            let admin = postgres_admin_url();
            let (url, name) =
                tokio::task::spawn_blocking(move || create_postgres_database(&admin)).await.expect("create db");
            settings.database.url = database_url(url);
            pg_database = Some((postgres_admin_url(), name));
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
        api,
        dir,
        pg_database,
        server,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some((admin, name)) = self.pg_database.take() {
            // The pool may still hold connections: FORCE ends them (PostgreSQL 13+).
            let _ = std::thread::spawn(move || {
                use diesel::{Connection, RunQueryDsl};
                if let Ok(mut conn) = diesel::PgConnection::establish(&admin) {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn);
                }
            })
            .join();
        }
    }
}

/// Where test clients ask to be sent after logout.
pub const POST_LOGOUT_REDIRECT_URI: &str = "http://127.0.0.1:9/logged-out";

/// A registered relying party.
#[derive(Clone, Debug)]
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct OutboxMessage {
    pub id: String,
    pub channel: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub created_at: String,
}

impl OutboxMessage {
    /// The 6-digit code in the message.
    pub fn code(&self) -> String {
        self.text
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .expect("the message carries a 6-digit code")
            .to_owned()
    }

    /// The magic link in the message.
    pub fn link(&self) -> String {
        self.text
            .split_whitespace()
            .find(|w| w.contains("/login/link/"))
            .expect("the message carries a link")
            .to_owned()
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") { path.to_owned() } else { format!("{}{}", self.base, path) }
    }

    /// A fresh browser: its own cookies, never following redirects by itself.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.base, None)
    }

    /// A browser whose requests carry `X-Forwarded-For: ip`, as if relayed by a proxy.
    pub fn browser_behind_proxy(&self, ip: &str) -> Browser {
        Browser::new(&self.base, Some(ip))
    }

    /// A fresh browser whose requests say `Accept-Language: lang`.
    pub fn browser_speaking(&self, lang: &str) -> Browser {
        Browser::build_with(&self.base, None, Some(lang), Arc::new(reqwest::cookie::Jar::default()))
    }

    /// The same browser (its cookies) seen from another client IP: a laptop on another network.
    pub fn same_browser_from(&self, browser: &Browser, ip: &str) -> Browser {
        Browser::build(&self.base, Some(ip), Arc::clone(&browser.jar))
    }
}

impl Browser {
    /// A browser for the server at `base`; with `forwarded_for`, every request says it was
    /// relayed for that client IP (believed only from trusted proxies).
    pub fn new(base: &str, forwarded_for: Option<&str>) -> Browser {
        Browser::build(base, forwarded_for, Arc::new(reqwest::cookie::Jar::default()))
    }

    fn build(base: &str, forwarded_for: Option<&str>, jar: Arc<reqwest::cookie::Jar>) -> Browser {
        Browser::build_with(base, forwarded_for, None, jar)
    }

    fn build_with(
        base: &str,
        forwarded_for: Option<&str>,
        language: Option<&str>,
        jar: Arc<reqwest::cookie::Jar>,
    ) -> Browser {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(ip) = forwarded_for {
            headers.insert("x-forwarded-for", ip.parse().expect("header value"));
        }
        if let Some(lang) = language {
            headers.insert("accept-language", lang.parse().expect("header value"));
        }
        Browser {
            client: reqwest::Client::builder()
                .default_headers(headers)
                // Tests speak plain http: no trust store to load for every simulated browser.
                .tls_certs_only([])
                .cookie_provider(Arc::clone(&jar))
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            base: base.to_owned(),
            jar,
        }
    }
}

impl TestApp {
    pub async fn register_client(&self, public: bool, alg: Alg) -> TestClient {
        self.register_client_with(public, alg, Default::default()).await
    }

    /// A client with its own policy (`domain::ClientSettings`).
    pub async fn register_client_with(&self, public: bool, alg: Alg, settings: domain::ClientSettings) -> TestClient {
        let redirect_uri = "http://127.0.0.1:9/callback".to_owned();
        let (client, secret) = new_client(
            NewClient {
                name: "Test app".into(),
                redirect_uris: vec![redirect_uri.clone()],
                post_logout_redirect_uris: vec![POST_LOGOUT_REDIRECT_URI.to_owned()],
                public,
                id_token_alg: alg,
                native: false,
                settings,
            },
            &self.master.hasher(),
            self.clock.now(),
        )
        .expect("valid client");
        self.store.insert_client(&client).await.expect("insert client");
        TestClient { id: client.id.to_string(), secret, redirect_uri }
    }

    pub async fn outbox(&self) -> Vec<OutboxMessage> {
        self.api.get(self.url("/dev/outbox.json")).send().await.expect("outbox").json().await.expect("outbox json")
    }

    /// Waits (up to 10 s) for the delivery worker to have handled a message to `to`; newest first.
    pub async fn message_to(&self, to: &str) -> OutboxMessage {
        for _ in 0..2000 {
            if let Some(m) = self.outbox().await.into_iter().find(|m| m.to == to) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("no message to {to} arrived in the outbox");
    }

    /// Waits for a message to `to` whose id is not in `seen`.
    pub async fn new_message_to(&self, to: &str, seen: &[String]) -> OutboxMessage {
        for _ in 0..2000 {
            if let Some(m) = self.messages_to(to).await.into_iter().find(|m| !seen.contains(&m.id)) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("no new message to {to} arrived in the outbox");
    }

    /// Ids of the messages to `to` so far.
    pub async fn message_ids_to(&self, to: &str) -> Vec<String> {
        self.messages_to(to).await.into_iter().map(|m| m.id).collect()
    }

    /// How many messages to `to` are in the outbox.
    pub async fn messages_to(&self, to: &str) -> Vec<OutboxMessage> {
        self.outbox().await.into_iter().filter(|m| m.to == to).collect()
    }

    /// Follows `/authorize…` to the login page and submits `email`; returns the code page's path.
    pub async fn start_login(&self, browser: &Browser, authorize_url: &str, email: &str) -> String {
        self.start_login_with(browser, authorize_url, ("email", email)).await
    }

    /// [`TestApp::start_login`] with another field: `("phone", "+44…")` signs in by text.
    pub async fn start_login_with(&self, browser: &Browser, authorize_url: &str, field: (&str, &str)) -> String {
        let resp = browser.get(authorize_url).await;
        assert_eq!(resp.status(), 303, "authorize should send the browser to the login page");
        let login = location(&resp);
        assert!(login.starts_with("/login/"), "unexpected login location {login}");
        let resp = self.submit_login(browser, &login, field).await;
        assert_eq!(resp.status(), 303, "submitting {} should redirect to the code page", field.0);
        location(&resp)
    }

    /// Submits the login form at `login` (a `/login/{interaction}` path) with one field.
    pub async fn submit_login(&self, browser: &Browser, login: &str, field: (&str, &str)) -> reqwest::Response {
        let page = browser.get(login).await;
        assert_eq!(page.status(), 200);
        let csrf = csrf_of(&page.text().await.expect("login page"));
        browser.post_form(login, &[("csrf", &csrf), field]).await
    }

    /// Types `code` on the code page; returns the response (303 to resume on success).
    pub async fn submit_code(&self, browser: &Browser, code_page: &str, code: &str) -> reqwest::Response {
        let page = browser.get(code_page).await;
        let csrf = csrf_of(&page.text().await.expect("code page"));
        browser.post_form(code_page, &[("csrf", &csrf), ("code", code)]).await
    }

    /// The whole login with the emailed code; returns the URL the provider sent the browser back to.
    pub async fn sign_in(&self, browser: &Browser, authorize_url: &str, email: &str) -> url::Url {
        let seen = self.message_ids_to(email).await;
        let code_page = self.start_login(browser, authorize_url, email).await;
        let code = self.new_message_to(email, &seen).await.code();
        let resp = self.submit_code(browser, &code_page, &code).await;
        assert_eq!(resp.status(), 303, "a correct code should redirect");
        self.resume(browser, &location(&resp)).await
    }

    /// The whole login with the magic link, opened in the same browser; returns the redirect to the client.
    pub async fn sign_in_with_link(&self, browser: &Browser, authorize_url: &str, email: &str) -> url::Url {
        let seen = self.message_ids_to(email).await;
        self.start_login(browser, authorize_url, email).await;
        let link = self.new_message_to(email, &seen).await.link();
        let page = browser.get(&link).await;
        assert_eq!(page.status(), 200, "the link page should show");
        let html = page.text().await.expect("link page");
        assert!(html.contains("action=\"/login/link\""), "the link page offers to continue: {html}");
        let token = link.rsplit('/').next().expect("token").to_owned();
        let resp = browser.post_form("/login/link", &[("csrf", &csrf_of(&html)), ("token", &token)]).await;
        assert_eq!(resp.status(), 303, "continuing should redirect");
        self.resume(browser, &location(&resp)).await
    }

    /// Follows step-up (when it asks for nothing more) and the resume redirect; returns the
    /// redirect to the client.
    pub async fn resume(&self, browser: &Browser, path: &str) -> url::Url {
        let mut path = path.to_owned();
        if path.starts_with("/step-up/") {
            let resp = browser.get(&path).await;
            assert_eq!(resp.status(), 303, "step-up asked for more: {:?}", resp.text().await);
            path = location(&resp);
        }
        assert!(path.starts_with("/authorize/resume/"), "unexpected {path}");
        let resp = browser.get(&path).await;
        assert_eq!(resp.status(), 303);
        url::Url::parse(&location(&resp)).expect("absolute redirect to the client")
    }

    /// `POST /token` with form parameters and optional HTTP Basic credentials.
    pub async fn token_request(&self, params: &[(&str, &str)], basic: Option<(&str, &str)>) -> reqwest::Response {
        let mut req = self.api.post(self.url("/token")).form(params);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(enc(id), Some(enc(secret)));
        }
        req.send().await.expect("token request")
    }
}

/// RFC 6749 §2.3.1: client id and secret are form-urlencoded before HTTP Basic.
fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub struct Browser {
    pub client: reqwest::Client,
    base: String,
    jar: Arc<reqwest::cookie::Jar>,
}

impl Browser {
    fn url(&self, path: &str) -> String {
        if path.starts_with("http") { path.to_owned() } else { format!("{}{}", self.base, path) }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client.post(self.url(path)).form(form).send().await.expect("POST")
    }
}

pub fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location header on a {} response", resp.status()))
        .to_str()
        .expect("ascii location")
        .to_owned()
}

/// The CSRF token of the first form on a page.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).unwrap_or_else(|| panic!("no csrf field in page: {html}")) + marker.len();
    html[start..].split('"').next().expect("csrf value").to_owned()
}

/// A query parameter of a URL.
pub fn query_param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// openidconnect's HTTP client over reqwest (the demo app's glue).
pub fn oidc_http() -> impl Fn(
    openidconnect::HttpRequest,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<openidconnect::HttpResponse, reqwest::Error>>>,
> {
    let client = ostiary::rp::back_channel_client();
    move |req| {
        let client = client.clone();
        Box::pin(async move { ostiary::rp::http_call(&client, req).await })
    }
}
