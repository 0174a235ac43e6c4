//! What tests do with a running app: register clients, read the outbox, sign in like a person.

use std::sync::Arc;
use std::time::Duration;

use authorization_server::Alg;
use authorization_server::clients::{NewClient, new_client};
use domain::Clock;
use serde::Deserialize;

use crate::{Browser, TestApp, csrf_of, location};

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
