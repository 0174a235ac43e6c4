//! Issue 15, the optional OpenID Connect features the conformance suite probes: signed UserInfo
//! (OP-UserInfo-RS256, OP-UserInfo-sig-any) and the registration metadata shown to users
//! (`logo_uri`, `client_uri`, `policy_uri`, `tos_uri`).

use authorization_server::Alg;
use domain::ClientSettings;
use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{AccessToken, ClientId, ClientSecret, IssuerUrl};
use testkit::{Db, TestApp, TestClient, both_backends, location, oidc_http};

use crate::oidc::{authorize_url, exchange};
use crate::{jwt_parts, unique_email};

const REGISTRATION_TOKEN: &str = "initial-access-token-0123456789abcdef";

/// An app that takes dynamic registrations.
pub(crate) async fn app(db: Db) -> TestApp {
    testkit::spawn_app_with(db, |s| s.oidc.registration_token = Some(domain::Secret::new(REGISTRATION_TOKEN.into())))
        .await
}

/// `POST /register` with the initial access token.
pub(crate) async fn register(app: &TestApp, body: serde_json::Value) -> (u16, serde_json::Value) {
    let resp = app.api.post(app.url("/register")).bearer_auth(REGISTRATION_TOKEN).json(&body).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(serde_json::Value::Null))
}

/// Signs a new user in with `client`; returns the token response.
async fn tokens(app: &TestApp, client: &TestClient) -> serde_json::Value {
    let back = app.sign_in(&app.browser(), &authorize_url(app, client, &[]), &unique_email()).await;
    exchange(app, client, &back).await
}

async fn userinfo(app: &TestApp, access_token: &str) -> reqwest::Response {
    app.api.get(app.url("/userinfo")).bearer_auth(access_token).send().await.unwrap()
}

both_backends!(userinfo_is_a_signed_jwt_for_a_client_that_registered_for_one, |db: Db| async move {
    let app = app(db).await;
    let meta: serde_json::Value =
        app.api.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(meta["userinfo_signing_alg_values_supported"], serde_json::json!(["RS256", "ES256", "EdDSA"]));

    // OP-UserInfo-RS256: registered through `/register`, checked by the `openidconnect` crate,
    // which verifies the signature against the JWKS and the `iss` and `aud` claims.
    let (status, reg) = register(
        &app,
        serde_json::json!({ "redirect_uris": ["https://app.example/cb"], "userinfo_signed_response_alg": "RS256" }),
    )
    .await;
    assert_eq!(status, 201, "{reg}");
    assert_eq!(reg["userinfo_signed_response_alg"], "RS256");
    let client = TestClient {
        id: reg["client_id"].as_str().unwrap().into(),
        secret: Some(reg["client_secret"].as_str().unwrap().into()),
        redirect_uri: "https://app.example/cb".into(),
    };
    let tokens = tokens(&app, &client).await;
    let access_token = tokens["access_token"].as_str().unwrap();
    let (_, id_claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
    let http = oidc_http();
    let provider =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http).await.unwrap();
    let rp = CoreClient::from_provider_metadata(
        provider,
        ClientId::new(client.id.clone()),
        client.secret.clone().map(ClientSecret::new),
    );
    let claims: CoreUserInfoClaims = rp
        .user_info(AccessToken::new(access_token.into()), None)
        .unwrap()
        .require_signed_response(true)
        .request_async(&http)
        .await
        .expect("a signed userinfo response that verifies");
    assert_eq!(claims.subject().as_str(), id_claims["sub"]);
    assert!(claims.email().is_some(), "the email scope's claims are in it");
    let resp = userinfo(&app, access_token).await;
    assert_eq!(resp.headers()["content-type"], "application/jwt");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let (header, body) = jwt_parts(&resp.text().await.unwrap());
    assert_eq!((header["alg"].as_str(), header["typ"].as_str()), (Some("RS256"), Some("JWT")));
    assert_eq!((body["iss"].as_str(), body["aud"].as_str()), (Some(app.base.as_str()), Some(client.id.as_str())));

    // OP-UserInfo-sig-any: another algorithm, set on the client's record.
    let settings = ClientSettings { userinfo_signed_response_alg: Some(Alg::ES256), ..Default::default() };
    let es = app.register_client_with(false, Alg::RS256, settings).await;
    let resp = userinfo(&app, tokens_for(&app, &es).await.as_str()).await;
    assert_eq!(resp.headers()["content-type"], "application/jwt");
    let signed = resp.text().await.unwrap();
    let (header, body) = jwt_parts(&signed);
    assert_eq!(header["alg"], "ES256");
    let jwks: serde_json::Value = app.api.get(app.url("/jwks.json")).send().await.unwrap().json().await.unwrap();
    assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == header["kid"] && k["alg"] == "ES256"));
    assert_eq!(body["aud"], es.id.as_str());
    // It is no ID token: as an id_token_hint it is refused (it has no exp or iat).
    let resp = app.browser().get(&authorize_url(&app, &es, &[("id_token_hint", &signed)])).await;
    let back = url::Url::parse(&location(&resp)).unwrap();
    assert_eq!(testkit::query_param(&back, "error").as_deref(), Some("invalid_request"), "{back}");

    // A client that asked for nothing gets JSON, as before.
    let plain = app.register_client(false, Alg::RS256).await;
    let resp = userinfo(&app, tokens_for(&app, &plain).await.as_str()).await;
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    assert!(resp.json::<serde_json::Value>().await.unwrap()["sub"].is_string());

    // An unknown algorithm is refused at registration.
    let (status, error) = register(
        &app,
        serde_json::json!({ "redirect_uris": ["https://app.example/cb"], "userinfo_signed_response_alg": "HS256" }),
    )
    .await;
    assert_eq!((status, error["error"].as_str()), (400, Some("invalid_client_metadata")), "{error}");
});

async fn tokens_for(app: &TestApp, client: &TestClient) -> String {
    tokens(app, client).await["access_token"].as_str().unwrap().to_owned()
}

both_backends!(registered_logo_and_links_are_returned_and_shown_at_sign_in, |db: Db| async move {
    let app = app(db).await;
    let (status, reg) = register(
        &app,
        serde_json::json!({
            "redirect_uris": ["https://shop.example/cb"],
            "client_name": "Shop",
            "logo_uri": "https://cdn.shop.example/logo.png",
            "client_uri": "https://shop.example/",
            "policy_uri": "https://shop.example/privacy",
            "tos_uri": "https://shop.example/terms",
        }),
    )
    .await;
    assert_eq!(status, 201, "{reg}");
    // RFC 7591 §3.2.1: the registered metadata comes back.
    for (key, value) in [
        ("logo_uri", "https://cdn.shop.example/logo.png"),
        ("client_uri", "https://shop.example/"),
        ("policy_uri", "https://shop.example/privacy"),
        ("tos_uri", "https://shop.example/terms"),
    ] {
        assert_eq!(reg[key], value, "{key}");
    }
    let client = TestClient {
        id: reg["client_id"].as_str().unwrap().into(),
        secret: Some(reg["client_secret"].as_str().unwrap().into()),
        redirect_uri: "https://shop.example/cb".into(),
    };
    let browser = app.browser();
    let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
    let resp = browser.get(&login).await;
    // The logo is loaded from its own origin only, allowed by the page's CSP.
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("img-src 'self' data: https://cdn.shop.example;"), "{csp}");
    let html = resp.text().await.unwrap().replace("&#x2F;", "/");
    assert!(html.contains("src=\"https://cdn.shop.example/logo.png\""), "{html}");
    for (href, text) in [
        ("https://shop.example/", "About Shop"),
        ("https://shop.example/privacy", "Privacy policy"),
        ("https://shop.example/terms", "Terms of service"),
    ] {
        let link = format!("<a href=\"{href}\" target=\"_blank\" rel=\"noopener noreferrer\">{text}</a>");
        assert!(html.contains(&link), "{link} in {html}");
    }
    // A client without them shows no links.
    let plain = app.register_client(false, Alg::RS256).await;
    let login = location(&browser.get(&authorize_url(&app, &plain, &[])).await);
    assert!(!browser.get(&login).await.text().await.unwrap().contains("id=\"client-links\""));

    // Each must be an https URL: a script URL or a plain-http image never reaches a page.
    for (key, value) in [
        ("policy_uri", "javascript:alert(1)"),
        ("tos_uri", "data:text/html,hi"),
        ("logo_uri", "http://cdn.shop.example/logo.png"),
        ("client_uri", "https://shop.example/\"onmouseover=\"x"),
    ] {
        let mut body = serde_json::json!({ "redirect_uris": ["https://shop.example/cb"] });
        body[key] = serde_json::json!(value);
        let (status, error) = register(&app, body).await;
        assert_eq!((status, error["error"].as_str()), (400, Some("invalid_client_metadata")), "{key}");
        assert!(error["error_description"].as_str().unwrap().starts_with(key), "{error}");
    }
});

both_backends!(encryption_that_is_not_offered_is_refused_not_ignored, |db: Db| async move {
    // Registration §2: an encrypted answer asked for is refused rather than sent in the clear.
    let app = app(db).await;
    for extra in [
        serde_json::json!({ "userinfo_encrypted_response_alg": "RSA-OAEP" }),
        serde_json::json!({ "id_token_encrypted_response_alg": "RSA-OAEP" }),
    ] {
        let mut body = serde_json::json!({ "redirect_uris": ["https://app.example/cb"] });
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let (status, error) = register(&app, body).await;
        assert_eq!((status, error["error"].as_str()), (400, Some("invalid_client_metadata")), "{extra}");
    }
    let body = serde_json::json!({ "redirect_uris": ["https://app.example/cb"], "subject_type": "public" });
    assert_eq!(register(&app, body).await.0, 201);
});

// oidctest OP-nonce-NoReq-code, OP-UserInfo-Header and OP-Response-Missing: the code flow without a
// `nonce` signs in (its ID token then has none), `POST /userinfo` takes the bearer header, and an
// authorization request without `response_type` goes back to the client as `invalid_request`.
both_backends!(the_code_flow_needs_no_nonce_and_userinfo_takes_a_posted_header, |db: Db| async move {
    let app = app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let url = crate::oidc::authorize_url_with(&app, &client, &["nonce"], &[]);
    let back = app.sign_in(&app.browser(), &url, &unique_email()).await;
    let tokens = exchange(&app, &client, &back).await;
    let (_, id) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert!(id.get("nonce").is_none(), "{id}");
    let access = tokens["access_token"].as_str().unwrap();
    let posted = app.api.post(app.url("/userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(posted.status(), 200);
    let claims: serde_json::Value = posted.json().await.unwrap();
    assert_eq!(claims["sub"], id["sub"]);

    let missing = crate::oidc::authorize_url_with(&app, &client, &["response_type"], &[]);
    let resp = app.browser().get(&missing).await;
    assert_eq!(resp.status(), 303);
    let back = url::Url::parse(&location(&resp)).unwrap();
    assert!(back.as_str().starts_with(&client.redirect_uri), "{back}");
    assert_eq!(testkit::query_param(&back, "error").as_deref(), Some("invalid_request"));
    assert_eq!(testkit::query_param(&back, "state").as_deref(), Some("st-123"));
});

// OpenID Connect Front-Channel Logout 1.0: a client registers the page that ends its own session;
// when the user signs out at the provider, the signed-out page loads it, with `iss` and `sid`, in
// an iframe its CSP allows, and then goes on to the registered post-logout address.
both_backends!(front_channel_logout_loads_each_clients_logout_page_with_iss_and_sid, |db: Db| async move {
    let app = app(db).await;
    let meta: serde_json::Value =
        app.api.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (&meta["frontchannel_logout_supported"], &meta["frontchannel_logout_session_supported"]),
        (&true.into(), &true.into())
    );
    let (status, refused) = register(
        &app,
        serde_json::json!({ "redirect_uris": ["https://app.example/cb"], "frontchannel_logout_uri": "https://elsewhere.example/fc" }),
    )
    .await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("invalid_client_metadata")), "{refused}");
    let (status, reg) = register(
        &app,
        serde_json::json!({
            "redirect_uris": ["https://app.example/cb"], "post_logout_redirect_uris": ["https://app.example/bye"],
            "frontchannel_logout_uri": "https://app.example/fc-logout?v=1", "frontchannel_logout_session_required": true,
        }),
    )
    .await;
    assert_eq!(status, 201, "{reg}");
    assert_eq!(reg["frontchannel_logout_uri"], "https://app.example/fc-logout?v=1");
    assert_eq!(reg["frontchannel_logout_session_required"], true);
    let client = TestClient {
        id: reg["client_id"].as_str().unwrap().into(),
        secret: Some(reg["client_secret"].as_str().unwrap().into()),
        redirect_uri: "https://app.example/cb".into(),
    };
    // Signed in to that client, and to one without a front-channel page, in one browser.
    let browser = app.browser();
    let back = app.sign_in(&browser, &authorize_url(&app, &client, &[]), &unique_email()).await;
    let id_token = exchange(&app, &client, &back).await["id_token"].as_str().unwrap().to_owned();
    let sid = jwt_parts(&id_token).1["sid"].as_str().unwrap().to_owned();
    let other = app.register_client(false, Alg::RS256).await;
    let resp = browser.get(&authorize_url(&app, &other, &[])).await;
    assert_eq!(resp.status(), 303, "single sign-on to the other client");

    let mut logout = url::Url::parse(&app.url("/logout")).unwrap();
    logout
        .query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", "https://app.example/bye")
        .append_pair("state", "s1");
    let resp = browser.get(logout.as_str()).await;
    assert_eq!(resp.status(), 200, "a page that loads the logout iframes first");
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-src https://app.example;"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let body = resp.text().await.unwrap();
    let mut frame = url::Url::parse("https://app.example/fc-logout?v=1").unwrap();
    frame.query_pairs_mut().append_pair("iss", &app.base).append_pair("sid", &sid);
    let escaped = |u: &str| u.replace('&', "&amp;").replace('/', "&#x2F;");
    assert!(body.contains(&format!("src=\"{}\"", escaped(frame.as_str()))), "{body}");
    assert_eq!(body.matches("<iframe").count(), 1, "only the client with a front-channel page");
    let onward = escaped("https://app.example/bye?state=s1");
    assert!(body.contains(&format!("url={onward}")) && body.contains(&format!("href=\"{onward}\"")), "{body}");
    // The session ended.
    let resp = browser.get(&authorize_url(&app, &client, &[("prompt", "none")])).await;
    let back = url::Url::parse(&location(&resp)).unwrap();
    assert_eq!(testkit::query_param(&back, "error").as_deref(), Some("login_required"));
});

// OpenID Connect Session Management 1.0 (oidctest OP-Session-discovery, OP-Endsession-Discovery):
// discovery names the `check_session_iframe` beside the `end_session_endpoint`; each code comes with
// a `session_state` that hashes the client, its origin, the browser-state cookie and a salt (§3);
// the iframe may be framed by any origin; logging out empties the browser state.
both_backends!(session_state_matches_the_browser_state_until_logout, |db: Db| async move {
    let app = app(db).await;
    let meta: serde_json::Value =
        app.api.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(meta["check_session_iframe"], app.url("/session/check"));
    assert_eq!(meta["end_session_endpoint"], app.url("/logout"));
    let frame = app.api.get(app.url("/session/check")).send().await.unwrap();
    assert_eq!(frame.status(), 200);
    let csp = frame.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-ancestors *") && csp.contains("script-src 'self'"), "{csp}");
    assert!(frame.text().await.unwrap().contains("src=\"/static/check_session.js\""));
    let script = app.api.get(app.url("/static/check_session.js")).send().await.unwrap();
    assert!(script.text().await.unwrap().contains("unchanged"));

    let client = app.register_client(false, Alg::RS256).await;
    let browser = app.browser();
    let back = app.sign_in(&browser, &authorize_url(&app, &client, &[]), &unique_email()).await;
    let expected = |back: &url::Url, state: &str| {
        let session_state = testkit::query_param(back, "session_state").expect("session_state");
        let (_, salt) = session_state.split_once('.').unwrap();
        let text = format!("{} http://127.0.0.1:9 {state} {salt}", client.id);
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        (session_state.clone(), format!("{hex}.{salt}"))
    };
    let state = browser.cookie("ostiary-bs").expect("the browser-state cookie");
    let (given, computed) = expected(&back, &state);
    assert_eq!(given, computed);
    // Single sign-on: a new salt, the same browser state.
    let resp = browser.get(&authorize_url(&app, &client, &[("prompt", "none")])).await;
    let again = url::Url::parse(&location(&resp)).unwrap();
    let (given_again, computed_again) = expected(&again, &state);
    assert_eq!(given_again, computed_again);
    assert_ne!(given_again, given, "salted");
    // Another session in another browser has another state.
    let other = app.browser();
    app.sign_in(&other, &authorize_url(&app, &client, &[]), &unique_email()).await;
    assert_ne!(other.cookie("ostiary-bs").unwrap(), state);
    // Logout clears it: the session_state the client holds no longer matches.
    let id_token = exchange(&app, &client, &back).await["id_token"].as_str().unwrap().to_owned();
    let mut logout = url::Url::parse(&app.url("/logout")).unwrap();
    logout.query_pairs_mut().append_pair("id_token_hint", &id_token);
    assert_eq!(browser.get(logout.as_str()).await.status(), 200, "signed out");
    assert_eq!(browser.cookie("ostiary-bs").filter(|v| !v.is_empty()), None);
});
