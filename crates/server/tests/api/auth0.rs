//! The Auth0-compatible passwordless API: `POST /passwordless/start` and the `passwordless/otp`
//! grant at `POST /oauth/token`, driven by Auth0's own Node SDK over HTTPS, plus what the SDK does
//! not cover (magic links through the API, limits, enumeration).

use authorization_server::Alg;
use testkit::{Db, TestApp, TestClient, both_backends, csrf_of, location, query_param, spawn_app, spawn_app_with};

use crate::oidc::CHALLENGE;
use crate::{api_methods, unique_email};

// Auth0's SDK for Node (npm `auth0` v4, installed by scripts/test-deps.sh) against a local
// Ostiary over HTTPS, with the issuer written as the SDK expects: `https://DOMAIN/`.
both_backends!(auth0s_node_sdk_signs_in_by_email_and_by_sms, |db: Db| async move {
    let tls = testkit::TestCertificate::create("DNS:localhost,IP:127.0.0.1");
    let (c, k) = (tls.cert.display().to_string(), tls.key.display().to_string());
    let app = spawn_app_with(db, move |s| {
        s.server.tls_cert = Some(c.into());
        s.server.tls_key = Some(k.into());
        s.server.issuer = domain::Issuer::parse(&format!(
            "{}/",
            s.server.issuer.as_str().replace("http://127.0.0.1", "https://localhost")
        ))
        .unwrap();
    })
    .await;
    let client = app.register_client_with(false, Alg::RS256, api_methods()).await;
    let domain = app.base.trim_start_matches("https://").trim_end_matches('/').to_owned();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/interop/auth0");
    let out = tokio::process::Command::new("node")
        .args(["--test", "passwordless.test.mjs"])
        .current_dir(dir)
        .env("OSTIARY_DOMAIN", &domain)
        .env("CLIENT_ID", &client.id)
        .env("CLIENT_SECRET", client.secret.as_deref().unwrap())
        .env("NODE_EXTRA_CA_CERTS", &tls.ca)
        .output()
        .await
        .expect("node runs (scripts/test-deps.sh installs the auth0 package)");
    assert!(
        out.status.success(),
        "the auth0 SDK tests failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("# pass 3"), "{}", String::from_utf8_lossy(&out.stdout));
});

async fn start(app: &TestApp, body: serde_json::Value) -> reqwest::Response {
    app.api.post(app.url("/passwordless/start")).json(&body).send().await.unwrap()
}

fn start_body(client: &TestClient, email: &str) -> serde_json::Value {
    serde_json::json!({
        "client_id": client.id, "client_secret": client.secret, "connection": "email", "email": email, "send": "code",
    })
}

both_backends!(the_api_answers_known_and_unknown_addresses_alike_and_keeps_the_limits, |db: Db| async move {
    let app = spawn_app_with(db, |s| s.passwordless.limits.sends_per_destination_per_minute = 1).await;
    let client = app.register_client_with(false, Alg::RS256, api_methods()).await;
    let known = unique_email();
    app.store.create_user(&domain::EmailAddress::parse(&known).unwrap(), 0).await.unwrap();
    let mut answers = Vec::new();
    for email in [&known, &unique_email()] {
        let resp = start(&app, start_body(&client, email)).await;
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = resp.json().await.unwrap();
        answers.push(body.as_object().unwrap().keys().cloned().collect::<Vec<_>>());
        assert_eq!(body["email_verified"], false, "nothing tells whether the address has an account");
    }
    assert_eq!(answers[0], answers[1]);
    // The same limits as the hosted pages: one message per address per minute.
    let resp = start(&app, start_body(&client, &known)).await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get("retry-after").is_some());
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap()["error"], "too_many_requests");
    // Only JSON, only enabled methods, only this client's secret.
    let form =
        app.api.post(app.url("/passwordless/start")).form(&[("client_id", client.id.as_str())]).send().await.unwrap();
    assert_eq!(form.status(), 415);
    let email_only = app
        .register_client_with(false, Alg::RS256, domain::ClientSettings { api_login: true, ..Default::default() })
        .await;
    let sms = serde_json::json!({
        "client_id": email_only.id, "client_secret": email_only.secret, "connection": "sms", "phone_number": "+447400123456",
    });
    assert_eq!(start(&app, sms).await.json::<serde_json::Value>().await.unwrap()["error"], "bad.connection");
    let mut stolen = start_body(&client, &unique_email());
    stolen["client_secret"] = serde_json::json!(email_only.secret);
    assert_eq!(start(&app, stolen).await.status(), 401);
});

both_backends!(a_code_sent_through_the_hosted_pages_is_not_redeemable_through_the_api, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client_with(false, Alg::RS256, api_methods()).await;
    let email = unique_email();
    app.start_login(&app.browser(), &crate::oidc::authorize_url(&app, &client, &[]), &email).await;
    let code = app.message_to(&email).await.code();
    let resp = app
        .token_request(
            &[
                ("grant_type", "http://auth0.com/oauth/grant-type/passwordless/otp"),
                ("realm", "email"),
                ("username", &email),
                ("otp", &code),
            ],
            Some((&client.id, client.secret.as_deref().unwrap())),
        )
        .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap()["error"], "invalid_grant");
});

both_backends!(a_magic_link_sent_through_the_api_ends_at_the_redirect_uri_with_a_code, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client_with(false, Alg::RS256, api_methods()).await;
    let email = unique_email();
    let auth_params = serde_json::json!({
        "redirect_uri": client.redirect_uri, "scope": "openid email", "state": "xyz", "response_type": "code",
        "code_challenge": CHALLENGE, "code_challenge_method": "S256",
    });
    let body = serde_json::json!({
        "client_id": client.id, "client_secret": client.secret, "connection": "email", "email": email,
        "send": "link", "authParams": auth_params,
    });
    let resp = start(&app, body.clone()).await;
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    let message = app.message_to(&email).await;
    assert!(
        !message.text.split_whitespace().any(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit())),
        "link only"
    );
    // Whichever browser opens the link first continues the sign-in, and only that one.
    let browser = app.browser();
    let page = browser.get(&message.link()).await.text().await.unwrap();
    let token = message.link().rsplit('/').next().unwrap().to_owned();
    let resp = browser.post_form("/login/link", &[("csrf", &csrf_of(&page)), ("token", &token)]).await;
    assert_eq!(resp.status(), 303);
    let back = app.resume(&browser, &location(&resp)).await;
    assert_eq!(query_param(&back, "state").as_deref(), Some("xyz"));
    let tokens = crate::oidc::exchange(&app, &client, &back).await;
    assert!(tokens["id_token"].is_string());
    // Bad authParams are refused before anything is sent.
    let mut bad = body;
    bad["authParams"]["redirect_uri"] = serde_json::json!("https://evil.example/cb");
    bad["email"] = serde_json::json!(unique_email());
    let resp = start(&app, bad.clone()).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap()["error"], "invalid_request");
    assert!(app.messages_to(bad["email"].as_str().unwrap()).await.is_empty());
});

// Auth0's Authentication API takes JSON at /oauth/token, and its documentation shows it
// (issue 9): the same rules as a form. /token stays form-only (RFC 6749 §3.2).
both_backends!(the_otp_grant_takes_a_json_body_at_oauth_token, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client_with(false, Alg::RS256, api_methods()).await;
    let email = unique_email();
    assert_eq!(start(&app, start_body(&client, &email)).await.status(), 200);
    let code = app.message_to(&email).await.code();
    let body = serde_json::json!({
        "grant_type": "http://auth0.com/oauth/grant-type/passwordless/otp", "realm": "email",
        "username": email, "otp": code, "scope": "openid", "client_id": client.id, "client_secret": client.secret,
    });
    let resp = app.api.post(app.url("/token")).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap()["error"], "invalid_request");
    // A repeated member is refused, as a repeated form parameter is.
    let repeated = format!("{{\"grant_type\":\"x\",\"grant_type\":\"y\",\"client_id\":\"{}\"}}", client.id);
    let resp = app
        .api
        .post(app.url("/oauth/token"))
        .header("content-type", "application/json")
        .body(repeated)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap()["error"], "invalid_request");
    let resp = app.api.post(app.url("/oauth/token")).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.json::<serde_json::Value>().await.unwrap()["id_token"].is_string());
});
