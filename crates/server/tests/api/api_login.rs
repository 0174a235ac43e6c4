//! The passwordless API obeys the same rules as the hosted pages: it is off unless the client turns
//! it on (`api_login`), and the OTP grant runs step-up's decision, so it never issues tokens the
//! hosted pages would have refused (issue 9, item 2).

use authorization_server::Alg;
use domain::{ClientSettings, StepUp, StepUpPolicy, WithoutFactor};
use testkit::{Db, TestApp, TestClient, both_backends, csrf_of, spawn_app_with};

use crate::{api_methods, unique_email};

pub const OTP_GRANT: &str = "http://auth0.com/oauth/grant-type/passwordless/otp";

/// An app that trusts 127.0.0.1 as a proxy (so each call can say which client IP it relays) and
/// sends new-sign-in emails.
async fn app(db: Db) -> TestApp {
    spawn_app_with(db, |s| {
        s.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        s.step_up.notify_new_sign_ins = true;
    })
    .await
}

fn with_step_up(policy: StepUpPolicy, without_factor: WithoutFactor) -> ClientSettings {
    ClientSettings { step_up: StepUp { policy, without_factor }, ..api_methods() }
}

/// `POST /passwordless/start` for an emailed code, relayed for `ip`.
pub async fn start_code(app: &TestApp, client: &TestClient, email: &str, ip: &str) -> reqwest::Response {
    let body = serde_json::json!({
        "client_id": client.id, "client_secret": client.secret, "connection": "email", "email": email, "send": "code",
    });
    app.api.post(app.url("/passwordless/start")).header("x-forwarded-for", ip).json(&body).send().await.unwrap()
}

/// The OTP grant for `email` with `otp`, relayed for `ip`.
pub async fn otp_grant(app: &TestApp, client: &TestClient, email: &str, otp: &str, ip: &str) -> reqwest::Response {
    let form = [
        ("grant_type", OTP_GRANT),
        ("realm", "email"),
        ("username", email),
        ("otp", otp),
        ("scope", "openid offline_access"),
        ("client_id", client.id.as_str()),
        ("client_secret", client.secret.as_deref().unwrap_or_default()),
    ];
    app.api.post(app.url("/oauth/token")).header("x-forwarded-for", ip).form(&form).send().await.unwrap()
}

/// A whole API sign-in from `ip`: a code sent by the API, then the OTP grant's answer.
pub async fn api_sign_in(app: &TestApp, client: &TestClient, email: &str, ip: &str) -> reqwest::Response {
    let seen = app.message_ids_to(email).await;
    assert_eq!(start_code(app, client, email, ip).await.status(), 200);
    let code = app
        .messages_to(email)
        .await
        .into_iter()
        .find(|m| !seen.contains(&m.id) && m.subject.contains("sign-in code"))
        .unwrap_or(app.new_message_to(email, &seen).await)
        .code();
    otp_grant(app, client, email, &code, ip).await
}

both_backends!(the_passwordless_api_is_off_until_the_client_turns_it_on, |db: Db| async move {
    let app = app(db).await;
    let hosted_only = ClientSettings { api_login: false, ..api_methods() };
    let client = app.register_client_with(false, Alg::RS256, hosted_only).await;
    let email = unique_email();
    let resp = start_code(&app, &client, &email, "198.51.100.7").await;
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap()["error"], "unauthorized_client");
    assert!(app.messages_to(&email).await.is_empty(), "nothing is sent");
    let resp = otp_grant(&app, &client, &email, "123456", "198.51.100.7").await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap()["error"], "unauthorized_client");
    // Turned on, the same calls sign in.
    let id = domain::ClientId::parse(&client.id).unwrap();
    let mut record = app.store.client(&id).await.unwrap().unwrap();
    record.settings.api_login = true;
    app.store.upsert_client(&record).await.unwrap();
    let resp = api_sign_in(&app, &client, &email, "198.51.100.7").await;
    assert_eq!(resp.status(), 200);
    assert!(resp.json::<serde_json::Value>().await.unwrap()["id_token"].is_string());
});

both_backends!(the_otp_grant_refuses_what_the_client_policy_refuses, |db: Db| async move {
    let app = app(db).await;
    let strict =
        app.register_client_with(false, Alg::RS256, with_step_up(StepUpPolicy::Always, WithoutFactor::Deny)).await;
    let email = unique_email();
    let resp = api_sign_in(&app, &strict, &email, "198.51.100.7").await;
    assert_eq!(resp.status(), 403);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "access_denied", "{body}");
    assert!(
        body.get("access_token").is_none() && body.get("refresh_token").is_none() && body.get("id_token").is_none()
    );
    // The refusal is in the audit log, with the API named.
    let user = app.store.user_by_email(&domain::EmailAddress::parse(&email).unwrap()).await.unwrap().unwrap();
    let audit = app.store.audit_of(&user.id, 10).await.unwrap();
    let denied = |e: &domain::audit::AuditEvent| {
        e.kind == domain::audit::AuditKind::StepUpDenied && e.detail.to_string().contains("\"api\"")
    };
    assert!(audit.iter().any(denied), "{audit:?}");
    // A client that never asks for a second factor gets its tokens.
    let relaxed =
        app.register_client_with(false, Alg::RS256, with_step_up(StepUpPolicy::Never, WithoutFactor::Deny)).await;
    let resp = api_sign_in(&app, &relaxed, &email, "198.51.100.7").await;
    assert_eq!(resp.status(), 200);
    let tokens: serde_json::Value = resp.json().await.unwrap();
    assert!(tokens["access_token"].is_string() && tokens["refresh_token"].is_string());
});

both_backends!(the_otp_grant_answers_mfa_required_when_a_factor_is_needed, |db: Db| async move {
    let app = app(db).await;
    let client =
        app.register_client_with(false, Alg::RS256, with_step_up(StepUpPolicy::Always, WithoutFactor::Allow)).await;
    let email = unique_email();
    // The user has a second factor: a verified phone (a code on the other channel).
    let user = app.store.create_user(&domain::EmailAddress::parse(&email).unwrap(), 0).await.unwrap();
    let update = store::users::UserUpdate {
        profile: None,
        phone: Some(Some(domain::PhoneNumber::parse(&crate::unique_phone(), None).unwrap())),
        phone_verified: Some(true),
        ..Default::default()
    };
    app.store.update_user(&user.id, update, 0).await.unwrap();
    let resp = api_sign_in(&app, &client, &email, "198.51.100.7").await;
    assert_eq!(resp.status(), 403);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "mfa_required", "{body}");
    assert!(body.get("access_token").is_none());
    // The default policy (risky): an API sign-in has no device to recognise, so it is risky too.
    let risky = app.register_client_with(false, Alg::RS256, api_methods()).await;
    let resp = api_sign_in(&app, &risky, &email, "198.51.100.7").await;
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap()["error"], "mfa_required");
});

both_backends!(this_wasnt_me_on_an_api_sign_in_blocks_the_app_from_that_network, |db: Db| async move {
    let app = app(db).await;
    let client = app.register_client_with(false, Alg::RS256, api_methods()).await;
    let email = unique_email();
    // The first sign-in has nothing to compare with; the second is let through without a factor
    // (the user has none, the policy allows it) and the owner is told, with a "This wasn't me" link.
    assert_eq!(api_sign_in(&app, &client, &email, "198.51.100.7").await.status(), 200);
    let seen = app.message_ids_to(&email).await;
    let resp = api_sign_in(&app, &client, &email, "198.51.100.7").await;
    assert_eq!(resp.status(), 200);
    let refresh = resp.json::<serde_json::Value>().await.unwrap()["refresh_token"].as_str().unwrap().to_owned();
    let notice = loop {
        let m = app.new_message_to(&email, &seen).await;
        if m.text.contains("/not-me/") {
            break m;
        }
    };
    // The app names the device; this one sends no User-Agent, so the app's name stands alone.
    assert!(notice.text.contains("from 198.51.100.7, on Test app."), "{}", notice.text);
    let link = notice.text.split_whitespace().find(|w| w.contains("/not-me/")).unwrap().to_owned();
    let owner = app.browser();
    let html = owner.get(&link).await.text().await.unwrap();
    let token = link.rsplit('/').next().unwrap();
    assert_eq!(owner.post_form("/not-me", &[("csrf", &csrf_of(&html)), ("token", token)]).await.status(), 200);
    // Its tokens are gone, and the app is refused from that network, as a blocked device is.
    let refreshed = app
        .token_request(
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            Some((&client.id, client.secret.as_deref().unwrap())),
        )
        .await;
    assert_eq!(refreshed.status(), 400);
    let resp = api_sign_in(&app, &client, &email, "198.51.100.7").await;
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap()["error"], "access_denied");
    // From another network the account can still sign in.
    assert_eq!(api_sign_in(&app, &client, &email, "192.0.2.44").await.status(), 200);
});

/// Sends a magic link through the API for `email`, ending at `client`'s redirect URI; returns the link.
async fn api_link(app: &TestApp, client: &TestClient, email: &str) -> String {
    let auth_params = serde_json::json!({
        "redirect_uri": client.redirect_uri, "scope": "openid email", "state": "api",
        "code_challenge": crate::oidc::CHALLENGE, "code_challenge_method": "S256",
    });
    let body = serde_json::json!({
        "client_id": client.id, "client_secret": client.secret, "connection": "email", "email": email,
        "send": "link", "authParams": auth_params,
    });
    let seen = app.message_ids_to(email).await;
    let resp = app.api.post(app.url("/passwordless/start")).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    app.new_message_to(email, &seen).await.link()
}

// Late-bound sign-ins (issue 9, item 7): a link sent by the API binds to whichever browser opens
// it first, so that browser is told which account it signs in, and an existing session of another
// account is never replaced without asking (login CSRF).
both_backends!(a_link_sent_by_the_api_names_its_account_and_never_silently_switches_accounts, |db: Db| async move {
    let app = app(db).await;
    let client = app.register_client_with(false, Alg::RS256, api_methods()).await;
    // The visitor is signed in as themselves.
    let visitor = app.browser();
    let own = unique_email();
    app.sign_in(&visitor, &crate::oidc::authorize_url(&app, &client, &[]), &own).await;
    // Someone sends them a link of the sender's own account.
    let sender = unique_email();
    let link = api_link(&app, &client, &sender).await;
    let page = visitor.get(&link).await.text().await.unwrap();
    assert!(page.contains("id=\"link-account\"") && page.contains(&sender), "the account is named: {page}");
    let token = link.rsplit('/').next().unwrap();
    let resp = visitor.post_form("/login/link", &[("csrf", &csrf_of(&page)), ("token", token)]).await;
    let resume = testkit::location(&resp);
    let resp = visitor.get(&testkit::location(&visitor.get(&resume).await)).await;
    // Not a redirect with a code: a question, naming both accounts.
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"switch-account\"") && html.contains(&own) && html.contains(&sender), "{html}");
    let path = html.split("action=\"").nth(1).unwrap().split('"').next().unwrap().replace("&#x2F;", "/");
    // Staying keeps the visitor's own session; the client hears access_denied.
    let resp = visitor.post_form(&path, &[("csrf", &csrf_of(&html)), ("choice", "stay")]).await;
    assert_eq!(resp.status(), 303);
    let back = url::Url::parse(&testkit::location(&resp)).unwrap();
    assert_eq!(testkit::query_param(&back, "error").as_deref(), Some("access_denied"));
    let silent = visitor.get(&crate::oidc::authorize_url(&app, &client, &[("prompt", "none")])).await;
    let back = url::Url::parse(&testkit::location(&silent)).unwrap();
    let tokens = crate::oidc::exchange(&app, &client, &back).await;
    let claims = crate::jwt_parts(tokens["id_token"].as_str().unwrap()).1;
    assert_eq!(claims["email"], own.as_str(), "still the visitor's own account");
    // Choosing to switch signs in as the link's account.
    let link = api_link(&app, &client, &sender).await;
    let page = visitor.get(&link).await.text().await.unwrap();
    let token = link.rsplit('/').next().unwrap();
    let resp = visitor.post_form("/login/link", &[("csrf", &csrf_of(&page)), ("token", token)]).await;
    let resume = testkit::location(&visitor.get(&testkit::location(&resp)).await);
    let html = visitor.get(&resume).await.text().await.unwrap();
    let resp = visitor.post_form(&resume, &[("csrf", &csrf_of(&html)), ("choice", "switch")]).await;
    let back = url::Url::parse(&testkit::location(&resp)).unwrap();
    let tokens = crate::oidc::exchange(&app, &client, &back).await;
    assert_eq!(crate::jwt_parts(tokens["id_token"].as_str().unwrap()).1["email"], sender.as_str());
});

both_backends!(the_api_reads_a_national_number_in_the_clients_region, |db: Db| async move {
    let app = app(db).await;
    let settings =
        ClientSettings { phone_region: Some("GB".into()), ..with_step_up(StepUpPolicy::Never, WithoutFactor::Allow) };
    let client = app.register_client_with(false, Alg::RS256, settings).await;
    let phone = crate::unique_phone();
    let national = format!("0{}", &phone[3..]);
    let body = serde_json::json!({
        "client_id": client.id, "client_secret": client.secret, "connection": "sms", "phone_number": national,
    });
    let resp = app.api.post(app.url("/passwordless/start")).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let code = app.message_to(&phone).await.code();
    let form = [
        ("grant_type", OTP_GRANT),
        ("realm", "sms"),
        ("username", national.as_str()),
        ("otp", code.as_str()),
        ("scope", "openid"),
        ("client_id", client.id.as_str()),
        ("client_secret", client.secret.as_deref().unwrap_or_default()),
    ];
    let resp = app.api.post(app.url("/oauth/token")).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), 200, "the same number, typed the same way: {}", resp.text().await.unwrap());
    // Another client, without a region (and none for the deployment), needs the country code.
    let plain = app.register_client_with(false, Alg::RS256, api_methods()).await;
    let body = serde_json::json!({
        "client_id": plain.id, "client_secret": plain.secret, "connection": "sms", "phone_number": national,
    });
    let resp = app.api.post(app.url("/passwordless/start")).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 400);
});
