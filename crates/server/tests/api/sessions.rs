//! Sessions and prompts (OIDC Core §3.1.2.1): single sign-on, `prompt=none|login`, `max_age`,
//! `id_token_hint`, and parameters that must never cause errors.

use authorization_server::Alg;
use testkit::{Browser, Db, TestApp, TestClient, both_backends, location, query_param, spawn_app};

use crate::oidc::{authorize_url, exchange};
use crate::{jwt_parts, unique_email};

/// Signs `browser` in and returns the ID token claims.
async fn signed_in(app: &TestApp, client: &TestClient, browser: &Browser, email: &str) -> (serde_json::Value, String) {
    let back = app.sign_in(browser, &authorize_url(app, client, &[("prompt", "login")]), email).await;
    let tokens = exchange(app, client, &back).await;
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();
    (jwt_parts(&id_token).1, id_token)
}

/// `/authorize` that must answer at once with a code; returns the ID token claims.
async fn silent(app: &TestApp, client: &TestClient, browser: &Browser, extra: &[(&str, &str)]) -> serde_json::Value {
    let resp = browser.get(&authorize_url(app, client, extra)).await;
    assert_eq!(resp.status(), 303);
    let back = url::Url::parse(&location(&resp)).expect("a redirect to the client, not to the login page");
    assert!(back.as_str().starts_with(&client.redirect_uri), "{back}");
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-123"));
    assert_eq!(query_param(&back, "iss").as_deref(), Some(app.base.as_str()));
    jwt_parts(exchange(app, client, &back).await["id_token"].as_str().unwrap()).1
}

async fn redirect_error(app: &TestApp, client: &TestClient, browser: &Browser, extra: &[(&str, &str)]) -> String {
    let resp = browser.get(&authorize_url(app, client, extra)).await;
    assert_eq!(resp.status(), 303);
    let back = url::Url::parse(&location(&resp)).expect("a redirect to the client");
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-123"));
    assert_eq!(query_param(&back, "iss").as_deref(), Some(app.base.as_str()));
    query_param(&back, "error").expect("an error")
}

both_backends!(a_signed_in_browser_skips_the_login_page, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let browser = app.browser();
    let (first, _) = signed_in(&app, &client, &browser, &unique_email()).await;
    app.clock.advance(5);
    // display, ui_locales, claims_locales, acr_values and unknown parameters never cause errors.
    let extra = [
        ("display", "popup"),
        ("ui_locales", "de fr"),
        ("claims_locales", "de"),
        ("acr_values", "urn:ostiary:acr:single-factor"),
        ("x-unknown", "1"),
    ];
    let again = silent(&app, &client, &browser, &extra).await;
    assert_eq!(again["sub"], first["sub"]);
    assert_eq!(again["sid"], first["sid"], "the same session");
    assert_eq!(again["auth_time"], first["auth_time"], "no new authentication happened");
    // Another app in the same browser gets the same user without a login page too.
    let other = app.register_client(true, Alg::ES256).await;
    assert_eq!(silent(&app, &other, &browser, &[]).await["sub"], first["sub"]);
    // A different browser is not signed in.
    let resp = app.browser().get(&authorize_url(&app, &client, &[])).await;
    assert!(location(&resp).starts_with("/login/"));
});

both_backends!(prompt_none_answers_with_a_code_or_login_required, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let browser = app.browser();
    assert_eq!(redirect_error(&app, &client, &browser, &[("prompt", "none")]).await, "login_required");
    let (first, _) = signed_in(&app, &client, &browser, &unique_email()).await;
    let again = silent(&app, &client, &browser, &[("prompt", "none")]).await;
    assert_eq!(again["sub"], first["sub"]);
});

both_backends!(prompt_login_forces_a_fresh_login_and_a_later_auth_time, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let browser = app.browser();
    let email = unique_email();
    let (first, _) = signed_in(&app, &client, &browser, &email).await;
    app.clock.advance(30);
    let resp = browser.get(&authorize_url(&app, &client, &[("prompt", "login")])).await;
    assert!(location(&resp).starts_with("/login/"), "prompt=login shows the login page despite the session");
    let (second, _) = signed_in(&app, &client, &browser, &email).await;
    assert_eq!(second["sub"], first["sub"]);
    assert!(second["auth_time"].as_i64().unwrap() >= first["auth_time"].as_i64().unwrap() + 30);
    assert_ne!(second["sid"], first["sid"], "a new login starts a new session");
});

both_backends!(max_age_requires_a_recent_authentication, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let browser = app.browser();
    let (first, _) = signed_in(&app, &client, &browser, &unique_email()).await;
    app.clock.advance(100);
    // Recent enough: reused, and auth_time is present (OIDC Core §3.1.2.1 requires it under max_age).
    let fresh = silent(&app, &client, &browser, &[("max_age", "3600")]).await;
    assert_eq!(fresh["auth_time"], first["auth_time"]);
    // Too old: log in again, or login_required under prompt=none.
    let resp = browser.get(&authorize_url(&app, &client, &[("max_age", "60")])).await;
    assert!(location(&resp).starts_with("/login/"));
    assert_eq!(
        redirect_error(&app, &client, &browser, &[("max_age", "60"), ("prompt", "none")]).await,
        "login_required"
    );
    assert_eq!(
        redirect_error(&app, &client, &browser, &[("max_age", "0"), ("prompt", "none")]).await,
        "login_required"
    );
});

both_backends!(id_token_hint_names_the_expected_user, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let ann = app.browser();
    let (ann_claims, ann_token) = signed_in(&app, &client, &ann, &unique_email()).await;
    let bob = app.browser();
    signed_in(&app, &client, &bob, &unique_email()).await;
    let same = silent(&app, &client, &ann, &[("prompt", "none"), ("id_token_hint", ann_token.as_str())]).await;
    assert_eq!(same["sub"], ann_claims["sub"], "id_token_hint with prompt=none returns the same sub");
    // Bob's browser is signed in, but not as the hinted user.
    assert_eq!(
        redirect_error(&app, &client, &bob, &[("prompt", "none"), ("id_token_hint", ann_token.as_str())]).await,
        "login_required"
    );
    // An expired hint still names the user.
    app.clock.advance(app.settings.oidc.id_token_ttl + 10);
    assert_eq!(
        silent(&app, &client, &ann, &[("prompt", "none"), ("id_token_hint", ann_token.as_str())]).await["sub"],
        ann_claims["sub"]
    );
    // A forged or foreign hint is refused.
    let forged = format!("{}x", &ann_token[..ann_token.len() - 1]);
    assert_eq!(
        redirect_error(&app, &client, &ann, &[("prompt", "none"), ("id_token_hint", forged.as_str())]).await,
        "invalid_request"
    );
});

both_backends!(login_hint_prefills_the_email_field, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let browser = app.browser();
    let resp = browser.get(&authorize_url(&app, &client, &[("login_hint", "ann@example.com")])).await;
    let page = browser.get(&location(&resp)).await.text().await.unwrap();
    assert!(page.contains(r#"value="ann@example.com""#), "{page}");
});

/// The auto-submitting form of `response_mode=form_post`: (form action, fields).
async fn form_post_response(resp: reqwest::Response) -> (String, std::collections::HashMap<String, String>, String) {
    assert_eq!(resp.status(), 200, "form_post answers with a page, not a redirect");
    assert!(resp.headers().get("location").is_none());
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let html = resp.text().await.unwrap();
    let action = html.split("action=\"").nth(1).unwrap().split('"').next().unwrap().replace("&#x2F;", "/");
    let mut fields = std::collections::HashMap::new();
    for input in html.split("<input type=\"hidden\" ").skip(1) {
        let name = input.split("name=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        let value = input
            .split("value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .replace("&#x2F;", "/")
            .replace("&amp;", "&");
        fields.insert(name, value);
    }
    assert!(html.contains("/static/form_post.js"), "the page submits itself");
    (action, fields, csp)
}

both_backends!(response_mode_form_post_posts_the_response_with_nothing_in_the_url, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let browser = app.browser();
    // An error before any login (prompt=none without a session) is posted too.
    let resp = browser.get(&authorize_url(&app, &client, &[("response_mode", "form_post"), ("prompt", "none")])).await;
    let (action, fields, _) = form_post_response(resp).await;
    assert_eq!(action, client.redirect_uri);
    assert_eq!(fields["error"], "login_required");
    assert_eq!(fields["state"], "st-123");
    // A full login ends with the code posted, not redirected.
    let url = authorize_url(&app, &client, &[("response_mode", "form_post")]);
    let email = unique_email();
    let code_page = app.start_login(&browser, &url, &email).await;
    let code = app.message_to(&email).await.code();
    let step_up = location(&app.submit_code(&browser, &code_page, &code).await);
    let resume = location(&browser.get(&step_up).await);
    let (action, fields, csp) = form_post_response(browser.get(&resume).await).await;
    assert_eq!(action, client.redirect_uri);
    assert_eq!(fields["iss"], app.base);
    assert!(csp.contains("form-action 'self' http://127.0.0.1:9"), "{csp}");
    let back = url::Url::parse_with_params(&client.redirect_uri, [("code", fields["code"].as_str())]).unwrap();
    exchange(&app, &client, &back).await;
    // And single sign-on answers the same way.
    let (_, fields, _) = form_post_response(browser.get(&url).await).await;
    assert!(fields.contains_key("code"));
});

both_backends!(rp_initiated_logout_with_an_id_token_hint_ends_the_session, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let browser = app.browser();
    let (_, id_token) = signed_in(&app, &client, &browser, &unique_email()).await;
    let meta: serde_json::Value =
        app.api.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(meta["end_session_endpoint"], app.url("/logout"));
    let mut url = url::Url::parse(&app.url("/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", testkit::POST_LOGOUT_REDIRECT_URI)
        .append_pair("state", "bye-1");
    let resp = browser.get(url.as_str()).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), format!("{}?state=bye-1", testkit::POST_LOGOUT_REDIRECT_URI));
    // The session (and its sid) is over: no more single sign-on.
    assert_eq!(redirect_error(&app, &client, &browser, &[("prompt", "none")]).await, "login_required");
});

both_backends!(logout_without_a_hint_asks_first_and_never_redirects_to_unregistered_uris, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let browser = app.browser();
    signed_in(&app, &client, &browser, &unique_email()).await;
    // An unregistered post_logout_redirect_uri: a page, no redirect, nothing ended.
    let mut url = url::Url::parse(&app.url("/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", &client.id)
        .append_pair("post_logout_redirect_uri", "https://evil.example/");
    let resp = browser.get(url.as_str()).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
    silent(&app, &client, &browser, &[("prompt", "none")]).await;
    // No hint: a link alone cannot sign anyone out; the user confirms.
    let mut url = url::Url::parse(&app.url("/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", &client.id)
        .append_pair("post_logout_redirect_uri", testkit::POST_LOGOUT_REDIRECT_URI)
        .append_pair("state", "s2");
    let page = browser.get(url.as_str()).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign out?"), "{html}");
    silent(&app, &client, &browser, &[("prompt", "none")]).await;
    let csrf = testkit::csrf_of(&html);
    let form = [
        ("csrf", csrf.as_str()),
        ("client_id", client.id.as_str()),
        ("post_logout_redirect_uri", testkit::POST_LOGOUT_REDIRECT_URI),
        ("state", "s2"),
    ];
    assert_eq!(
        browser.post_form("/logout/confirm", &form[1..]).await.status(),
        403,
        "confirmation needs the CSRF token"
    );
    let resp = browser.post_form("/logout/confirm", &form).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), format!("{}?state=s2", testkit::POST_LOGOUT_REDIRECT_URI));
    assert_eq!(redirect_error(&app, &client, &browser, &[("prompt", "none")]).await, "login_required");
    // Signed out without a way back requested: the page links back to the application.
    signed_in(&app, &client, &browser, &unique_email()).await;
    let mut url = url::Url::parse(&app.url("/logout")).unwrap();
    url.query_pairs_mut().append_pair("client_id", &client.id);
    let html = browser.get(url.as_str()).await.text().await.unwrap();
    let form = [("csrf", testkit::csrf_of(&html)), ("client_id", client.id.clone())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let resp = browser.post_form("/logout/confirm", &form).await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("You are signed out"), "{html}");
    // (Tera escapes `/` in attributes; a browser reads `&#x2F;` as `/`.)
    let back = format!("<a id=\"back\" href=\"{}\">Back to ", testkit::POST_LOGOUT_REDIRECT_URI);
    assert!(html.replace("&#x2F;", "/").contains(&back), "{html}");
    // A hint for one client with client_id of another is refused.
    let other = app.register_client(false, Alg::RS256).await;
    let (_, token) = signed_in(&app, &client, &browser, &unique_email()).await;
    let mut url = url::Url::parse(&app.url("/logout")).unwrap();
    url.query_pairs_mut().append_pair("id_token_hint", &token).append_pair("client_id", &other.id);
    assert_eq!(browser.get(url.as_str()).await.status(), 400);
});

both_backends!(an_essential_acr_is_honoured_or_the_request_fails, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let browser = app.browser();
    let mfa = r#"{"id_token":{"acr":{"essential":true,"values":["http://schemas.openid.net/pape/policies/2007/06/multi-factor"]}}}"#;
    let unknown = r#"{"id_token":{"acr":{"essential":true,"values":["urn:example:acr:retina-scan"]}}}"#;
    // Never a weaker acr passed off as the requested one: a value this provider cannot give fails
    // before any login (the multi-factor one is met by step-up: tests in stepup.rs).
    assert_eq!(
        redirect_error(&app, &client, &browser, &[("claims", unknown)]).await,
        "unmet_authentication_requirements"
    );
    assert_eq!(redirect_error(&app, &client, &browser, &[("claims", "{not json")]).await, "invalid_request");
    // A demand the login meets succeeds and says so.
    let single = r#"{"id_token":{"acr":{"essential":true,"values":["urn:ostiary:acr:single-factor","http://schemas.openid.net/pape/policies/2007/06/multi-factor"]}}}"#;
    let back = app.sign_in(&browser, &authorize_url(&app, &client, &[("claims", single)]), &unique_email()).await;
    let claims = jwt_parts(exchange(&app, &client, &back).await["id_token"].as_str().unwrap()).1;
    assert_eq!(claims["acr"], "urn:ostiary:acr:single-factor");
    // A signed-in single-factor session is held to the same rule: a multi-factor demand sends the
    // browser to step-up, not to the client with a weaker acr; under prompt=none it is
    // interaction_required.
    let resp = browser.get(&authorize_url(&app, &client, &[("claims", mfa)])).await;
    assert!(location(&resp).starts_with("/step-up/"), "{}", location(&resp));
    assert_eq!(
        redirect_error(&app, &client, &browser, &[("claims", mfa), ("prompt", "none")]).await,
        "interaction_required"
    );
    // Voluntary requests (non-essential claims, acr_values that accept single-factor) never fail.
    let voluntary =
        r#"{"id_token":{"acr":{"values":["http://schemas.openid.net/pape/policies/2007/06/multi-factor"]}}}"#;
    let either = "http://schemas.openid.net/pape/policies/2007/06/multi-factor urn:ostiary:acr:single-factor";
    silent(&app, &client, &browser, &[("claims", voluntary), ("acr_values", either)]).await;
});

both_backends!(an_id_token_hint_for_another_session_cannot_sign_a_visitor_out, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let attacker = app.browser();
    let (_, attacker_token) = signed_in(&app, &client, &attacker, &unique_email()).await;
    let victim = app.browser();
    signed_in(&app, &client, &victim, &unique_email()).await;
    // A page makes the victim's browser open logout with the attacker's own ID token.
    let mut url = url::Url::parse(&app.url("/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", &attacker_token)
        .append_pair("post_logout_redirect_uri", testkit::POST_LOGOUT_REDIRECT_URI);
    let resp = victim.get(url.as_str()).await;
    assert_eq!(resp.status(), 200, "the victim is asked, not signed out");
    assert!(resp.text().await.unwrap().contains("Sign out?"));
    silent(&app, &client, &victim, &[("prompt", "none")]).await;
    silent(&app, &client, &attacker, &[("prompt", "none")]).await;
});

// OIDC Core §3.1.2.2: when the client names the expected user with `id_token_hint`, a login as
// someone else does not return a code for them (issue 9).
both_backends!(a_login_as_another_user_than_the_hint_names_is_refused, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let ann = unique_email();
    let (ann_claims, ann_token) = signed_in(&app, &client, &app.browser(), &ann).await;
    // A browser with no session is asked to sign in; Bob does.
    let browser = app.browser();
    let url = authorize_url(&app, &client, &[("id_token_hint", ann_token.as_str())]);
    let back = app.sign_in(&browser, &url, &unique_email()).await;
    assert_eq!(query_param(&back, "error").as_deref(), Some("login_required"), "{back}");
    assert!(query_param(&back, "code").is_none());
    // Ann signing in there gets her code.
    let back = app.sign_in(&app.browser(), &url, &ann).await;
    let claims = jwt_parts(exchange(&app, &client, &back).await["id_token"].as_str().unwrap()).1;
    assert_eq!(claims["sub"], ann_claims["sub"]);
});
