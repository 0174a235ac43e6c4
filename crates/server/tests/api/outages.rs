//! PostgreSQL or Redis stopping mid-run. Requests that need the missing service fail closed with
//! 503 (never 500, never a panic), nothing is sent or half-written, and once the service is back
//! everything works again without restarting Ostiary. Each test runs its own PostgreSQL cluster or
//! `redis-server` on a spare port, so that it can stop and start it.

use std::time::{Duration, Instant};

use authorization_server::Alg;
use reqwest::StatusCode;
use testkit::{Browser, Db, TestApp, ThrowawayPostgres, ThrowawayRedis, csrf_of, location, query_param};

use crate::oidc::{authorize_url, authorize_url_with, exchange};
use crate::{api_methods, unique_email};

async fn readyz(app: &TestApp) -> (StatusCode, serde_json::Value) {
    let resp = app.api.get(app.url("/readyz")).send().await.unwrap();
    (resp.status(), resp.json().await.unwrap())
}

/// Polls `/readyz` (every 50 ms, at most 20 s) until it is 200; returns how long that took.
async fn recovery_time(app: &TestApp) -> Duration {
    let started = Instant::now();
    while readyz(app).await.0 != StatusCode::OK {
        assert!(started.elapsed() < Duration::from_secs(20), "not ready 20 s after the service came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

/// A refusal because a service is away: 503, told when to come back, with no detail of ours.
async fn assert_unavailable(resp: reqwest::Response, what: &str) -> String {
    let (status, retry) = (resp.status(), resp.headers().get("retry-after").cloned());
    let body = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
    assert!(retry.is_some(), "{what} says when to try again");
    for detail in ["diesel", "redis", "Connection refused", "127.0.0.1:"] {
        assert!(!body.contains(detail), "{what} shows {detail:?}: {body}");
    }
    body
}

/// Opens a hosted sign-in in `browser`: the login page's path and its CSRF token.
async fn open_login(app: &TestApp, browser: &Browser, client: &testkit::TestClient) -> (String, String) {
    let resp = browser.get(&authorize_url(app, client, &[])).await;
    assert_eq!(resp.status(), 303);
    let login = location(&resp);
    let csrf = csrf_of(&browser.get(&login).await.text().await.unwrap());
    (login, csrf)
}

/// Starts a sign-in in a fresh browser up to the code page: the browser, the page's path, its CSRF
/// token and the code that was sent.
async fn wait_for_code(app: &TestApp, client: &testkit::TestClient) -> (Browser, String, String, String) {
    let (browser, email) = (app.browser(), unique_email());
    let code_page = app.start_login(&browser, &authorize_url(app, client, &[]), &email).await;
    let code = app.message_to(&email).await.code();
    let csrf = csrf_of(&browser.get(&code_page).await.text().await.unwrap());
    (browser, code_page, csrf, code)
}

/// A full hosted sign-in (with a refresh token) and code exchange, then `/userinfo` with the
/// access token.
async fn sign_in_fully(app: &TestApp, client: &testkit::TestClient) -> serde_json::Value {
    let email = unique_email();
    let url = authorize_url_with(app, client, &["scope"], &[("scope", "openid email offline_access")]);
    let back = app.sign_in(&app.browser(), &url, &email).await;
    let tokens = exchange(app, client, &back).await;
    let access = tokens["access_token"].as_str().unwrap();
    let info = app.api.get(app.url("/userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(info.status(), 200);
    assert_eq!(info.json::<serde_json::Value>().await.unwrap()["email"], email.as_str());
    tokens
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_fails_closed_and_recovers_without_a_restart() {
    let mut redis = ThrowawayRedis::start();
    let url = redis.url();
    let app = testkit::spawn_app_with(Db::Postgres, |s| {
        s.redis.url = Some(ostiary::config::RedisUrl::new(url).unwrap());
        s.redis.key_prefix = format!("outage-{}", domain::secret::random_token(6));
    })
    .await;
    let client = app.register_client_with(false, Alg::RS256, api_methods()).await;
    // Before the outage: tokens, a sign-in waiting for its code, another at the login page.
    let tokens = sign_in_fully(&app, &client).await;
    let (waiting, code_page, code_csrf, code) = wait_for_code(&app, &client).await;
    let type_code = || async { waiting.post_form(&code_page, &[("csrf", &code_csrf), ("code", &code)]).await };
    let at_login = app.browser();
    let (login, csrf) = open_login(&app, &at_login, &client).await;

    redis.stop();
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["database"], "ok", "{body}");
    assert!(["unavailable", "timeout"].contains(&body["counters"].as_str().unwrap()), "{body}");
    // Nothing is sent while the send limits cannot be counted: not through the API…
    let api_email = unique_email();
    let start = serde_json::json!({ "client_id": client.id, "client_secret": client.secret,
        "connection": "email", "email": api_email, "send": "code" });
    let resp = app.api.post(app.url("/passwordless/start")).json(&start).send().await.unwrap();
    assert!(assert_unavailable(resp, "/passwordless/start").await.contains("temporarily_unavailable"));
    // …nor from the login page;
    let page_email = unique_email();
    let resp = at_login.post_form(&login, &[("csrf", &csrf), ("email", &page_email)]).await;
    assert_unavailable(resp, "the login form").await;
    // and a new sign-in, whose budget per network cannot be counted, goes back to the client.
    let resp = app.browser().get(&authorize_url(&app, &client, &[])).await;
    assert_eq!(resp.status(), 303);
    let back = url::Url::parse(&location(&resp)).unwrap();
    assert_eq!(query_param(&back, "error").as_deref(), Some("temporarily_unavailable"), "{back}");
    // A right code is refused too: the IP's failure budget cannot be checked.
    let resp = type_code().await;
    assert_unavailable(resp, "the code form").await;
    for to in [&api_email, &page_email] {
        assert!(app.messages_to(to).await.is_empty(), "a message to {to} was queued during the outage");
    }
    // What no limit guards goes on: refreshing tokens, and /userinfo with them.
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())];
    let resp = app.token_request(&refresh, Some((&client.id, client.secret.as_deref().unwrap()))).await;
    let refreshed: serde_json::Value = resp.json().await.unwrap();
    let access = refreshed["access_token"].as_str().unwrap_or_else(|| panic!("{refreshed}"));
    let info = app.api.get(app.url("/userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(info.status(), 200);

    redis.start_again();
    let took = recovery_time(&app).await;
    println!("Redis outage: ready again {took:?} after Redis came back");
    assert!(took < Duration::from_secs(10), "{took:?}");
    // The code refused during the outage was not spent, and the login page works again.
    finish_interrupted(&app, &waiting, type_code().await, &at_login, (&login, &csrf), &page_email).await;
    let resp = app.api.post(app.url("/passwordless/start")).json(&start).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    sign_in_fully(&app, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_answers_503_and_recovers_without_a_restart() {
    let mut pg = ThrowawayPostgres::start();
    let app = testkit::spawn_app_on(&pg.url(), |_| {}).await;
    let client = app.register_client_with(false, Alg::RS256, api_methods()).await;
    // Before the outage: tokens, a sign-in waiting for its code, another at the login page.
    let tokens = sign_in_fully(&app, &client).await;
    let (access, refresh) = (tokens["access_token"].as_str().unwrap(), tokens["refresh_token"].as_str().unwrap());
    let (waiting, code_page, code_csrf, code) = wait_for_code(&app, &client).await;
    let type_code = || async { waiting.post_form(&code_page, &[("csrf", &code_csrf), ("code", &code)]).await };
    // What the waiting code page polls (for a link approved on another device).
    let status = code_page.replace("/code", "/status");
    let polled = || async { waiting.get(&status).await };
    assert_eq!(polled().await.json::<serde_json::Value>().await.unwrap()["state"], "waiting");
    let at_login = app.browser();
    let (login, csrf) = open_login(&app, &at_login, &client).await;
    let basic = (client.id.as_str(), client.secret.as_deref().unwrap());

    pg.stop();
    let outage = Instant::now();
    // Keys and metadata are served from memory.
    let jwks = app.api.get(app.url("/jwks.json")).send().await.unwrap();
    assert_eq!(jwks.status(), 200);
    assert!(!jwks.json::<serde_json::Value>().await.unwrap()["keys"].as_array().unwrap().is_empty());
    let discovery = app.api.get(app.url("/.well-known/openid-configuration")).send().await.unwrap();
    assert_eq!(discovery.status(), 200);
    // Everything that needs the database waits for the pool, then answers 503; at once.
    let page_email = unique_email();
    let (ready, refreshed, userinfo, login_form, typed, authorize) = tokio::join!(
        readyz(&app),
        async { app.token_request(&[("grant_type", "refresh_token"), ("refresh_token", refresh)], Some(basic)).await },
        async { app.api.get(app.url("/userinfo")).bearer_auth(access).send().await.unwrap() },
        async { at_login.post_form(&login, &[("csrf", &csrf), ("email", &page_email)]).await },
        type_code(),
        async { app.browser().get(&authorize_url(&app, &client, &[])).await },
    );
    let (status, body) = ready;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(["unavailable", "timeout"].contains(&body["database"].as_str().unwrap()), "{body}");
    assert_eq!(body["counters"], "ok", "{body}");
    let token_error: serde_json::Value =
        serde_json::from_str(&assert_unavailable(refreshed, "the token endpoint").await).unwrap();
    assert_eq!(token_error["error"], "temporarily_unavailable", "{token_error}");
    let userinfo_error: serde_json::Value =
        serde_json::from_str(&assert_unavailable(userinfo, "/userinfo").await).unwrap();
    assert_eq!(userinfo_error["error"], "temporarily_unavailable", "{userinfo_error}");
    assert_unavailable(login_form, "the login form").await;
    assert_unavailable(typed, "the code form").await;
    assert_unavailable(authorize, "/authorize").await;
    println!("PostgreSQL outage: the refusals took {:?}", outage.elapsed());
    // The waiting page is told the database is away, not that its sign-in expired: it polls on.
    let body = assert_unavailable(polled().await, "the code page's status").await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["state"], "unavailable", "{body}");

    pg.start_again();
    let took = recovery_time(&app).await;
    println!("PostgreSQL outage: ready again {took:?} after PostgreSQL came back");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(polled().await.json::<serde_json::Value>().await.unwrap()["state"], "waiting");
    // Nothing the outage interrupted was half done: the refresh token and the code still work.
    let resp = app.token_request(&[("grant_type", "refresh_token"), ("refresh_token", refresh)], Some(basic)).await;
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    finish_interrupted(&app, &waiting, type_code().await, &at_login, (&login, &csrf), &page_email).await;
    sign_in_fully(&app, &client).await;
}

/// What an outage refused goes through once the service is back: the code typed again (it was not
/// spent) resumes its sign-in, and the login form sends its message.
async fn finish_interrupted(
    app: &TestApp,
    waiting: &Browser,
    typed: reqwest::Response,
    at_login: &Browser,
    (login, csrf): (&str, &str),
    email: &str,
) {
    assert_eq!(typed.status(), 303, "{:?}", typed.text().await);
    app.resume(waiting, &location(&typed)).await;
    let resp = at_login.post_form(login, &[("csrf", csrf), ("email", email)]).await;
    assert_eq!(resp.status(), 303);
    app.message_to(email).await;
}
