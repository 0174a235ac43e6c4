//! The Device Authorization Grant (RFC 8628): a device gets codes, the user types the user code at
//! `/device` in a browser, signs in on the hosted pages and allows or denies the device, which
//! polls the token endpoint. A real client library (openid-client) drives one device; raw HTTP
//! checks the answers of every state and the refusals.

use std::process::Stdio;

use authorization_server::Alg;
use domain::ClientSettings;
use serde_json::{Value, json};
use testkit::{Browser, Db, TestApp, TestClient, both_backends, csrf_of, location, spawn_app};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::unique_email;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn device_client(app: &TestApp) -> TestClient {
    app.register_client_with(true, Alg::ES256, ClientSettings { device_grant: true, ..Default::default() }).await
}

/// `POST /device_authorization` for a public client.
async fn start(app: &TestApp, client: &TestClient, scope: &str) -> reqwest::Response {
    let form = [("client_id", client.id.as_str()), ("scope", scope)];
    app.api.post(app.url("/device_authorization")).form(&form).send().await.unwrap()
}

/// One poll of the token endpoint: the status and the JSON.
async fn poll(app: &TestApp, client: &TestClient, device_code: &str) -> (u16, Value) {
    let form = [("grant_type", GRANT), ("device_code", device_code), ("client_id", client.id.as_str())];
    let resp = app.api.post(app.url("/token")).form(&form).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// Follows the browser's redirects from `path` until a page answers; returns its path and HTML.
async fn follow(browser: &Browser, path: &str) -> (String, u16, String) {
    let mut path = path.to_owned();
    for _ in 0..5 {
        let resp = browser.get(&path).await;
        if resp.status() != 303 {
            let status = resp.status().as_u16();
            return (path, status, resp.text().await.unwrap());
        }
        path = location(&resp);
    }
    panic!("too many redirects from {path}");
}

/// Types `user_code` at /device in `browser` and signs in as `email`; returns the question page
/// (its path and HTML).
async fn sign_in_at_device(app: &TestApp, browser: &Browser, user_code: &str, email: &str) -> (String, String) {
    let page = browser.get(&format!("/device?user_code={user_code}")).await.text().await.unwrap();
    assert!(page.contains(&format!("value=\"{user_code}\"")), "the code is filled in: {page}");
    // Typed as people do: lower case, without the dash.
    let typed = user_code.replace('-', "").to_lowercase();
    let resp = browser.post_form("/device", &[("csrf", &csrf_of(&page)), ("user_code", &typed)]).await;
    assert_eq!(resp.status(), 303, "{:?}", resp.text().await);
    let login = location(&resp);
    assert!(login.starts_with("/login/"), "{login}");
    let seen = app.message_ids_to(email).await;
    let resp = app.submit_login(browser, &login, ("email", email)).await;
    let code_page = location(&resp);
    let code = app.new_message_to(email, &seen).await.code();
    let resp = app.submit_code(browser, &code_page, &code).await;
    assert_eq!(resp.status(), 303);
    let (path, status, html) = follow(browser, &location(&resp)).await;
    assert_eq!(status, 200, "{html}");
    assert!(path.starts_with("/authorize/resume/"), "{path}");
    (path, html)
}

// openid-client v6 (scripts/test-deps.sh installs it) is the device: it asks for codes, polls as
// the library does, with DPoP, and reads /userinfo once the user allowed it in a browser.
both_backends!(openid_client_signs_a_device_in_once_the_user_allows_it, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = device_client(&app).await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/interop/openid-client");
    let mut node = tokio::process::Command::new("node")
        .arg("device.mjs")
        .current_dir(dir)
        .env("ISSUER", &app.base)
        .env("CLIENT_ID", &client.id)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (scripts/test-deps.sh installs openid-client)");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let device: Value = serde_json::from_str(&lines.next_line().await.unwrap().expect("the codes")).unwrap();
    let user_code = device["user_code"].as_str().unwrap_or_else(|| panic!("{device}")).to_owned();
    let email = unique_email();
    let browser = app.browser();
    let (question, html) = sign_in_at_device(&app, &browser, &user_code, &email).await;
    assert!(html.contains("id=\"device-allow\"") && html.contains(&email), "{html}");
    let resp = browser.post_form(&question, &[("csrf", &csrf_of(&html)), ("choice", "allow")]).await;
    assert_eq!(resp.status(), 200);
    // The library waits `interval` real seconds between polls; the server's clock follows faster.
    let clock = app.clock.clone();
    let ticking = tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            clock.advance(3);
        }
    });
    let out: Value = serde_json::from_str(&lines.next_line().await.unwrap().expect("the result")).unwrap();
    ticking.abort();
    assert!(out["error"].is_null(), "{out}");
    assert_eq!(out["token_type"], "dpop", "{out}");
    assert_eq!(out["userinfo"]["email"], email.as_str());
    assert!(node.wait().await.unwrap().success());
});

// Every answer of the poll (RFC 8628 §3.5) in order: pending, too fast, pending, then the tokens
// once allowed, and a second redemption refused (and it revokes what the first one got).
both_backends!(a_device_polls_until_the_user_allows_it_then_gets_tokens_once, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = device_client(&app).await;
    let resp = start(&app, &client, "openid email offline_access").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let codes: Value = resp.json().await.unwrap();
    let user_code = codes["user_code"].as_str().unwrap();
    assert!(
        user_code.len() == 9
            && user_code.as_bytes()[4] == b'-'
            && user_code.chars().all(|c| c == '-' || c.is_ascii_uppercase()),
        "{user_code}"
    );
    assert_eq!(codes["verification_uri"], app.url("/device"));
    assert_eq!(codes["verification_uri_complete"], format!("{}?user_code={user_code}", app.url("/device")));
    assert_eq!((codes["expires_in"].clone(), codes["interval"].clone()), (json!(600), json!(5)));
    let device_code = codes["device_code"].as_str().unwrap();
    assert_eq!(poll(&app, &client, device_code).await.1["error"], "authorization_pending");
    assert_eq!(poll(&app, &client, device_code).await.1["error"], "slow_down");
    app.clock.advance(5);
    assert_eq!(poll(&app, &client, device_code).await.1["error"], "authorization_pending");

    let email = unique_email();
    let browser = app.browser();
    let (question, html) = sign_in_at_device(&app, &browser, user_code, &email).await;
    assert!(html.contains("Test app") && html.contains(&email), "the app and the account are named: {html}");
    app.clock.advance(5);
    assert_eq!(poll(&app, &client, device_code).await.1["error"], "authorization_pending", "not allowed yet");
    let resp = browser.post_form(&question, &[("csrf", &csrf_of(&html)), ("choice", "allow")]).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("Your device is signed in"));
    app.clock.advance(5);
    let (status, tokens) = poll(&app, &client, device_code).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["id_token"].is_string() && tokens["refresh_token"].is_string(), "{tokens}");
    assert_eq!(crate::jwt_parts(tokens["id_token"].as_str().unwrap()).1["aud"], json!([client.id]));
    let access = tokens["access_token"].as_str().unwrap();
    let userinfo = app.api.get(app.url("/userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(userinfo.json::<Value>().await.unwrap()["email"], email.as_str());
    // Once: a second redemption is a replay, which revokes the grant.
    app.clock.advance(5);
    let (status, again) = poll(&app, &client, device_code).await;
    assert_eq!((status, again["error"].clone()), (400, json!("invalid_grant")));
    assert_eq!(app.api.get(app.url("/userinfo")).bearer_auth(access).send().await.unwrap().status(), 401);
    // The browser that allowed it is signed in: the question's page was the end of a sign-in.
    let again = browser.post_form(&question, &[("csrf", &csrf_of(&html)), ("choice", "allow")]).await;
    assert_ne!(again.status(), 200, "the question is answered once");
});

// A denial, an expiry, wrong codes at /device, another client's device code, and clients that may
// not use the grant.
both_backends!(a_device_is_refused_when_denied_expired_or_not_allowed, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = device_client(&app).await;
    // Denied by the user.
    let codes: Value = start(&app, &client, "openid").await.json().await.unwrap();
    let browser = app.browser();
    let (question, html) =
        sign_in_at_device(&app, &browser, codes["user_code"].as_str().unwrap(), &unique_email()).await;
    let resp = browser.post_form(&question, &[("csrf", &csrf_of(&html)), ("choice", "deny")]).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("The device was not signed in"));
    assert_eq!(poll(&app, &client, codes["device_code"].as_str().unwrap()).await.1["error"], "access_denied");

    // Expired: the device hears so, and its code is no longer taken at /device.
    let codes: Value = start(&app, &client, "openid").await.json().await.unwrap();
    app.clock.advance(601);
    assert_eq!(poll(&app, &client, codes["device_code"].as_str().unwrap()).await.1["error"], "expired_token");
    let page = browser.get("/device").await.text().await.unwrap();
    let user_code = codes["user_code"].as_str().unwrap();
    let resp = browser.post_form("/device", &[("csrf", &csrf_of(&page)), ("user_code", user_code)]).await;
    assert_eq!(resp.status(), 400);
    let html = resp.text().await.unwrap();
    assert!(html.contains("That code is not valid") && html.contains("aria-invalid=\"true\""), "{html}");
    // Nonsense and unknown codes are refused the same way.
    for typed in ["hello", "BCDF-GHJK", &"Z".repeat(400)] {
        let resp = browser.post_form("/device", &[("csrf", &csrf_of(&page)), ("user_code", typed)]).await;
        assert_eq!(resp.status(), 400, "{typed}");
    }

    // Another client's device code is no code at all.
    let codes: Value = start(&app, &client, "openid").await.json().await.unwrap();
    let other = device_client(&app).await;
    assert_eq!(poll(&app, &other, codes["device_code"].as_str().unwrap()).await.1["error"], "invalid_grant");
    assert_eq!(poll(&app, &client, "not-a-device-code").await.1["error"], "invalid_grant");

    // A client that was not allowed the grant (the default), at either end; a scope without openid.
    let plain = app.register_client(true, Alg::ES256).await;
    let resp = start(&app, &plain, "openid").await;
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "unauthorized_client");
    assert_eq!(poll(&app, &plain, "anything").await.1["error"], "unauthorized_client");
    assert_eq!(start(&app, &client, "email").await.json::<Value>().await.unwrap()["error"], "invalid_scope");

    // Discovery names the endpoint and the grant.
    let meta: Value =
        app.api.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(meta["device_authorization_endpoint"], app.url("/device_authorization"));
    assert!(meta["grant_types_supported"].as_array().unwrap().contains(&json!(GRANT)));
});

// Wrong codes at /device are limited per network: a user code cannot be guessed.
both_backends!(wrong_codes_at_the_device_page_are_limited, |db: Db| async move {
    let app = spawn_app(db).await;
    let browser = app.browser();
    let page = browser.get("/device").await.text().await.unwrap();
    let csrf = csrf_of(&page);
    for _ in 0..20 {
        let resp = browser.post_form("/device", &[("csrf", csrf.as_str()), ("user_code", "BCDF-GHJK")]).await;
        assert_eq!(resp.status(), 400);
    }
    // Even a right code waits now.
    let client = device_client(&app).await;
    let codes: Value = start(&app, &client, "openid").await.json().await.unwrap();
    let user_code = codes["user_code"].as_str().unwrap();
    let resp = browser.post_form("/device", &[("csrf", csrf.as_str()), ("user_code", user_code)]).await;
    assert_eq!(resp.status(), 429);
    app.clock.advance(3601);
    let codes: Value = start(&app, &client, "openid").await.json().await.unwrap();
    let user_code = codes["user_code"].as_str().unwrap();
    let resp = browser.post_form("/device", &[("csrf", csrf.as_str()), ("user_code", user_code)]).await;
    assert_eq!(resp.status(), 303, "an hour later");
});

// Registering the grant type turns the grant on (it is off otherwise).
both_backends!(registering_the_device_grant_turns_it_on, |db: Db| async move {
    let app = crate::client_auth::registering_app(db).await;
    let (status, registered) = crate::client_auth::register(
        &app,
        json!({ "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", GRANT] }),
    )
    .await;
    assert_eq!(status, 201, "{registered}");
    assert!(registered["grant_types"].as_array().unwrap().contains(&json!(GRANT)));
    let client = TestClient {
        id: registered["client_id"].as_str().unwrap().into(),
        secret: None,
        redirect_uri: "https://app.example/cb".into(),
    };
    assert_eq!(start(&app, &client, "openid").await.status(), 200);
});

// Allowing a device in a browser already signed in as the same user ends nothing of theirs: the
// tokens of the application they signed in to still work, and the device's grant is its own. A
// second answer to the question (a second tab) changes nothing.
both_backends!(allowing_a_device_keeps_the_users_other_sign_ins, |db: Db| async move {
    let app = spawn_app(db).await;
    let web = app.register_client(false, Alg::RS256).await;
    let browser = app.browser();
    let email = unique_email();
    let back = app.sign_in(&browser, &crate::oidc::authorize_url(&app, &web, &[]), &email).await;
    let web_tokens = crate::oidc::exchange(&app, &web, &back).await;
    let web_access = web_tokens["access_token"].as_str().unwrap().to_owned();

    let client = device_client(&app).await;
    let codes: Value = start(&app, &client, "openid email").await.json().await.unwrap();
    let page = browser.get(&format!("/device?user_code={}", codes["user_code"].as_str().unwrap())).await;
    let page = page.text().await.unwrap();
    let typed = codes["user_code"].as_str().unwrap();
    let resp = browser.post_form("/device", &[("csrf", &csrf_of(&page)), ("user_code", typed)]).await;
    // Signed in already: straight on (through step-up) to the question, naming this account.
    let (asked, html) = question(follow(&browser, &location(&resp)).await);
    assert!(html.contains(&email), "{html}");
    let resp = browser.post_form(&asked, &[("csrf", &csrf_of(&html)), ("choice", "allow")]).await;
    assert_eq!(resp.status(), 200);
    let again = browser.post_form(&asked, &[("csrf", &csrf_of(&html)), ("choice", "deny")]).await;
    assert_ne!(again.status(), 200, "answered once");
    assert!(!again.text().await.unwrap().contains("was not signed in"));
    app.clock.advance(5);
    let (status, tokens) = poll(&app, &client, codes["device_code"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{tokens}");
    let userinfo = |token: String| {
        let app = &app;
        async move { app.api.get(app.url("/userinfo")).bearer_auth(token).send().await.unwrap().status() }
    };
    assert_eq!(userinfo(web_access.clone()).await, 200, "the other application's sign-in goes on");
    // Signing out of the browser ends the web sign-in, not the device's.
    let device_access = tokens["access_token"].as_str().unwrap().to_owned();
    let logout = browser.get("/logout").await.text().await.unwrap();
    browser.post_form("/logout/confirm", &[("csrf", &csrf_of(&logout))]).await;
    assert_eq!(userinfo(web_access).await, 401);
    assert_eq!(userinfo(device_access).await, 200, "the device's grant is its own");
});

/// The "Allow the device?" page that `follow` reached: its path and HTML.
fn question((path, status, html): (String, u16, String)) -> (String, String) {
    assert_eq!(status, 200, "{html}");
    assert!(path.starts_with("/authorize/resume/") && html.contains("id=\"device-allow\""), "{path}: {html}");
    (path, html)
}
