//! Negative protocol tests: each asserts the exact RFC response.

use authorization_server::Alg;
use testkit::{Db, TestApp, TestClient, both_backends, location, query_param, spawn_app, spawn_app_with};

use crate::oidc::{CHALLENGE, PKCE, VERIFIER, authorize_url, authorize_url_with, exchange, redeem};
use crate::unique_email;

async fn token_error(resp: reqwest::Response) -> (u16, String, serde_json::Value) {
    let status = resp.status().as_u16();
    let www = resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let body: serde_json::Value = resp.json().await.expect("RFC 6749 §5.2 JSON");
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(!description.contains(['\r', '\n', '\t']), "error_description must not contain CR/LF/TAB");
    (status, www, body)
}

/// Signs in and returns the redirect back to the client.
async fn signed_in_redirect(app: &TestApp, client: &TestClient, extra: &[(&str, &str)]) -> url::Url {
    let browser = app.browser();
    app.sign_in(&browser, &authorize_url(app, client, extra), &unique_email()).await
}

fn redirect_error(resp: &reqwest::Response) -> (String, url::Url) {
    assert_eq!(resp.status(), 303);
    let back = url::Url::parse(&location(resp)).unwrap();
    (query_param(&back, "error").expect("error parameter"), back)
}

both_backends!(redirect_uri_mutations_never_redirect, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let registered = client.redirect_uri.clone(); // http://127.0.0.1:9/callback
    let mutations = [
        format!("{registered}/"),
        registered.replace("callback", "CALLBACK"),
        registered.replace("http://", "HTTP://"),
        format!("{registered}?extra=1"),
        format!("{registered}#fragment"),
        registered.replace(":9/", ":10/"),
        registered.replace("http://127.0.0.1:9", "http://localhost:9"),
        "https://evil.example/callback".to_owned(),
    ];
    let browser = app.browser();
    for uri in mutations {
        let url = authorize_url_with(&app, &client, &["redirect_uri"], &[("redirect_uri", &uri)]);
        let resp = browser.get(url.as_str()).await;
        assert_eq!(resp.status(), 400, "{uri} must get an error page");
        assert!(resp.headers().get("location").is_none(), "{uri} must never be redirected to");
    }
    // An unknown client and a missing redirect URI get the page too.
    let resp = browser.get(&authorize_url(&app, &TestClient { id: "nope".into(), ..client.clone() }, &[])).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
});

both_backends!(errors_after_the_redirect_uri_is_verified_carry_state_and_iss, |db: Db| async move {
    let app = spawn_app(db).await;
    let confidential = app.register_client(false, Alg::RS256).await;
    let public = app.register_client(true, Alg::RS256).await;
    let browser = app.browser();
    type Case<'a> = (&'a TestClient, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (&confidential, vec![("response_type", "token")], "unsupported_response_type"),
        (&confidential, vec![("response_type", "code id_token")], "unsupported_response_type"),
        (&confidential, vec![("response_type", "id_token")], "unsupported_response_type"),
        (&confidential, vec![("response_type", "id_token token")], "unsupported_response_type"),
        (&confidential, vec![("response_mode", "fragment")], "invalid_request"),
        (&confidential, vec![("scope", "email")], "invalid_scope"),
        (&confidential, vec![("code_challenge_method", "plain")], "invalid_request"),
        (&confidential, vec![("request", "eyJhbGciOiJub25lIn0.e30.")], "invalid_request_object"),
        (&confidential, vec![("request_uri", "https://rp.example/req")], "invalid_request_uri"),
        (&confidential, vec![("prompt", "none")], "login_required"),
        (&confidential, vec![("max_age", "-1")], "invalid_request"),
    ];
    for (client, overrides, expected) in cases {
        let keys: Vec<&str> = overrides.iter().map(|(k, _)| *k).collect();
        let url = authorize_url_with(&app, client, &keys, &overrides);
        let resp = browser.get(url.as_str()).await;
        let (error, back) = redirect_error(&resp);
        assert_eq!(error, expected, "for {overrides:?}");
        assert!(back.as_str().starts_with(&client.redirect_uri));
        assert_eq!(query_param(&back, "state").as_deref(), Some("st-123"));
        assert_eq!(query_param(&back, "iss").as_deref(), Some(app.base.as_str()));
    }
    // A public client must use PKCE.
    let url = authorize_url_with(&app, &public, &PKCE, &[]);
    let (error, _) = redirect_error(&browser.get(url.as_str()).await);
    assert_eq!(error, "invalid_request");
});

both_backends!(a_replayed_code_is_refused_and_revokes_its_tokens, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let back = signed_in_redirect(&app, &client, &[]).await;
    let tokens = exchange(&app, &client, &back).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let userinfo = |token: String| {
        let url = app.url("/userinfo");
        async move { reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap() }
    };
    assert_eq!(userinfo(access.clone()).await.status(), 200);

    let code = query_param(&back, "code").unwrap();
    let replay = redeem(&app, &client, &client, &code).await;
    let (status, _, body) = token_error(replay).await;
    assert_eq!((status, body["error"].as_str().unwrap()), (400, "invalid_grant"));
    let resp = userinfo(access).await;
    assert_eq!(resp.status(), 401, "tokens issued from a replayed code are revoked");
    assert!(resp.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
});

both_backends!(twenty_parallel_redemptions_give_exactly_one_success, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let back = signed_in_redirect(&app, &client, &[]).await;
    let code = query_param(&back, "code").unwrap();
    let params = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("code_verifier", VERIFIER),
    ];
    let attempts = (0..20).map(|_| app.token_request(&params, Some((&client.id, client.secret.as_deref().unwrap()))));
    let statuses: Vec<u16> =
        futures_util::future::join_all(attempts).await.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 19, "{statuses:?}");
});

both_backends!(pkce_is_enforced_at_the_token_endpoint, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let basic = Some((client.id.as_str(), client.secret.as_deref().unwrap()));
    let wrong_verifier = "x".repeat(43);
    for (verifier, label) in [
        (None, "missing verifier"),
        (Some(wrong_verifier.as_str()), "wrong verifier"),
        (Some(CHALLENGE), "the challenge sent as if plain"),
    ] {
        let back = signed_in_redirect(&app, &client, &[]).await;
        let code = query_param(&back, "code").unwrap();
        let mut params = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", client.redirect_uri.as_str()),
        ];
        if let Some(v) = verifier {
            params.push(("code_verifier", v));
        }
        let (status, _, body) = token_error(app.token_request(&params, basic).await).await;
        assert_eq!((status, body["error"].as_str().unwrap()), (400, "invalid_grant"), "{label}");
    }
    // Downgrade: no challenge at /authorize, a verifier at /token (RFC 9700 §2.1.1).
    let url = authorize_url_with(&app, &client, &PKCE, &[]);
    let back = app.sign_in(&app.browser(), url.as_str(), &unique_email()).await;
    let code = query_param(&back, "code").unwrap();
    let (status, _, body) = token_error(redeem(&app, &client, &client, &code).await).await;
    assert_eq!((status, body["error"].as_str().unwrap()), (400, "invalid_grant"));
});

both_backends!(client_authentication_failures_are_401_invalid_client, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let back = signed_in_redirect(&app, &client, &[]).await;
    let code = query_param(&back, "code").unwrap();
    let params = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("code_verifier", VERIFIER),
    ];
    let (status, www, body) = token_error(app.token_request(&params, Some((&client.id, "wrong-secret"))).await).await;
    assert_eq!((status, body["error"].as_str().unwrap()), (401, "invalid_client"));
    assert!(www.starts_with("Basic"), "RFC 6749 §5.2: WWW-Authenticate on 401");
    // client_secret_post with a wrong secret, and no authentication at all.
    let mut post = params.to_vec();
    post.extend([("client_id", client.id.as_str()), ("client_secret", "wrong")]);
    let (status, _, body) = token_error(app.token_request(&post, None).await).await;
    assert_eq!((status, body["error"].as_str().unwrap()), (401, "invalid_client"));
    let (status, _, _) = token_error(app.token_request(&params, None).await).await;
    assert_eq!(status, 401);
    // client_secret_post with the right secret works (and the code was not spent by the failures).
    let mut post = params.to_vec();
    post.extend([("client_id", client.id.as_str()), ("client_secret", client.secret.as_deref().unwrap())]);
    assert_eq!(app.token_request(&post, None).await.status(), 200);
});

both_backends!(an_expired_code_is_refused, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let back = signed_in_redirect(&app, &client, &[]).await;
    app.clock.advance(app.settings.oidc.code_ttl + 1);
    let code = query_param(&back, "code").unwrap();
    let (status, _, body) = token_error(redeem(&app, &client, &client, &code).await).await;
    assert_eq!((status, body["error"].as_str().unwrap()), (400, "invalid_grant"));
});

both_backends!(the_code_is_bound_to_its_redirect_uri_and_grant_type, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let basic = Some((client.id.as_str(), client.secret.as_deref().unwrap()));
    let back = signed_in_redirect(&app, &client, &[]).await;
    let code = query_param(&back, "code").unwrap();
    let (_, _, body) = token_error(
        app.token_request(&[("grant_type", "password"), ("username", "a"), ("password", "b")], basic).await,
    )
    .await;
    assert_eq!(body["error"], "unsupported_grant_type");
    let (_, _, body) = token_error(
        app.token_request(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:9/other"),
                ("code_verifier", VERIFIER),
            ],
            basic,
        )
        .await,
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");
    // Garbage and oversized input get RFC errors, not 500s.
    let huge = "a".repeat(10_000);
    let (status, _, body) =
        token_error(app.token_request(&[("grant_type", "authorization_code"), ("code", &huge)], basic).await).await;
    assert_eq!((status, body["error"].as_str().unwrap()), (400, "invalid_grant"));
    let resp = reqwest::Client::new()
        .post(app.url("/token"))
        .body("{\"json\":true}")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap()["error"], "invalid_request");
});

both_backends!(userinfo_requires_a_valid_bearer_token, |db: Db| async move {
    let app = spawn_app(db).await;
    let http = reqwest::Client::new();
    let resp = http.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    let resp = http.get(app.url("/userinfo")).bearer_auth("not.a.jwt").send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let client = app.register_client(false, Alg::RS256).await;
    let tokens = exchange(&app, &client, &signed_in_redirect(&app, &client, &[]).await).await;
    let token = tokens["access_token"].as_str().unwrap();
    // RFC 6750 §2.2: form body.
    let resp = http.post(app.url("/userinfo")).form(&[("access_token", token)]).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // An ID token is not an access token.
    let resp = http.get(app.url("/userinfo")).bearer_auth(tokens["id_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    // Expired.
    app.clock.advance(app.settings.oidc.access_token_ttl + 1);
    assert_eq!(http.get(app.url("/userinfo")).bearer_auth(token).send().await.unwrap().status(), 401);
});

both_backends!(discovery_lists_exactly_what_is_supported, |db: Db| async move {
    let app = spawn_app(db).await;
    let meta: serde_json::Value =
        reqwest::get(app.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert_eq!(meta["issuer"], app.base.as_str());
    assert_eq!(meta["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    assert_eq!(meta["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(meta["id_token_signing_alg_values_supported"], serde_json::json!(["RS256", "ES256", "EdDSA"]));
    for endpoint in ["authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"] {
        assert!(meta[endpoint].as_str().unwrap().starts_with(&app.base), "{endpoint} under the issuer");
    }
});

both_backends!(authorize_accepts_post_and_binds_codes_to_their_client, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let other = app.register_client(false, Alg::RS256).await;
    // OIDC Core §3.1.2.1: the authorization request may be a form POST.
    let url = url::Url::parse(&authorize_url(&app, &client, &[])).unwrap();
    let form: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let browser = app.browser();
    let resp = browser.client.post(app.url("/authorize")).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert!(location(&resp).starts_with("/login/"));
    // A code issued to one client is refused to another, even with the right redirect URI.
    let back = signed_in_redirect(&app, &client, &[]).await;
    let code = query_param(&back, "code").unwrap();
    let (status, _, body) = token_error(redeem(&app, &client, &other, &code).await).await;
    assert_eq!((status, body["error"].as_str().unwrap()), (400, "invalid_grant"));
});

both_backends!(email_claims_only_under_the_email_scope, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let url = authorize_url_with(&app, &client, &["scope"], &[("scope", "openid")]);
    let back = app.sign_in(&app.browser(), url.as_str(), &unique_email()).await;
    let tokens = exchange(&app, &client, &back).await;
    let claims = crate::jwt_parts(tokens["id_token"].as_str().unwrap()).1;
    assert!(claims.get("email").is_none(), "{claims}");
    let info: serde_json::Value = reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(info.get("email").is_none() && info["sub"] == claims["sub"], "{info}");
});

both_backends!(https_issuers_get_host_prefixed_secure_cookies, |db: Db| async move {
    let app = spawn_app_with(db, |s| {
        s.server.issuer = domain::Issuer::parse(&s.server.issuer.as_str().replace("http://", "https://")).unwrap()
    })
    .await;
    let client = app.register_client(false, Alg::RS256).await;
    let resp = app.browser().get(&authorize_url(&app, &client, &[]).replace("https://", "http://")).await;
    assert_eq!(resp.status(), 303);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("__Host-ostiary-browser=") && cookie.contains("Secure") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(resp.headers().contains_key("strict-transport-security"));
});

// An application's call (an API or back-channel endpoint) gets no browser cookie: it is no browser.
both_backends!(applications_calls_get_no_browser_cookie, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let http = reqwest::Client::new();
    let token = http
        .post(app.url("/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("grant_type", "authorization_code"), ("code", "nope"), ("redirect_uri", &client.redirect_uri)])
        .send()
        .await
        .unwrap();
    assert!(!token.headers().contains_key("set-cookie"), "{:?}", token.headers());
    assert_eq!(token_error(token).await.2["error"], "invalid_grant");
    let revoke = http.post(app.url("/revoke")).form(&[("token", "nope")]).send().await.unwrap();
    assert!(!revoke.headers().contains_key("set-cookie"), "{:?}", revoke.headers());
    let discovery = http.get(app.url("/.well-known/openid-configuration")).send().await.unwrap();
    assert!(!discovery.headers().contains_key("set-cookie"));
    // A browser's first visit to a page does get one.
    let resp = app.browser().get(&authorize_url(&app, &client, &[])).await;
    assert!(resp.headers()["set-cookie"].to_str().unwrap().starts_with("ostiary-browser="));
});

// Malformed, oversized and hostile input gets a 4xx (or the normal page), never a 5xx or a hang.
both_backends!(hostile_input_never_causes_a_server_error, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let browser = app.browser();
    let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
    let csrf = testkit::csrf_of(&browser.get(&login).await.text().await.unwrap());
    let long = "A".repeat(70_000);
    let nasty = [
        "%00",
        "%FF%FE",
        "'; DROP TABLE users; --",
        "<script>alert(1)</script>",
        "../../etc/passwd",
        "\u{202e}",
        long.as_str(),
    ];
    let mut checked = 0;
    for bad in nasty {
        // URLs are capped at 8 KB (what a client can send at all); bodies carry the full size.
        let enc: String = url::form_urlencoded::byte_serialize(&bad.as_bytes()[..bad.len().min(2000)]).collect();
        let gets = [
            format!("/authorize?client_id={enc}&redirect_uri={enc}&response_type=code&scope=openid"),
            format!("/authorize?{enc}={enc}"),
            format!("/login/{enc}"),
            format!("/login/{enc}/code"),
            format!("/login/link/{enc}"),
            format!("/authorize/resume/{enc}"),
            format!("/{enc}"),
        ];
        for path in gets {
            let status = browser.get(&path).await.status().as_u16();
            assert!(status < 500, "GET {} gave {status}", &path[..path.len().min(80)]);
            checked += 1;
        }
        let posts: [(&str, Vec<(&str, &str)>); 5] = [
            (login.as_str(), vec![("csrf", csrf.as_str()), ("email", bad)]),
            (login.as_str(), vec![("csrf", csrf.as_str())]),
            ("/login/link", vec![("csrf", csrf.as_str()), ("token", bad)]),
            ("/token", vec![("grant_type", bad), ("code", bad), ("client_id", bad)]),
            ("/userinfo", vec![("access_token", bad)]),
        ];
        for (path, form) in posts {
            let status = browser.post_form(path, &form).await.status().as_u16();
            assert!(status < 500, "POST {path} with {:?}… gave {status}", &bad[..bad.len().min(20)]);
            checked += 1;
        }
        let status = reqwest::Client::new()
            .get(app.url("/userinfo"))
            .header("authorization", format!("Bearer {}", &bad[..bad.len().min(8000)].replace(['\0', '\u{202e}'], "")))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert!(status < 500);
        let basic = reqwest::Client::new()
            .post(app.url("/token"))
            .header("authorization", "Basic %%%not-base64")
            .form(&[("grant_type", "authorization_code")])
            .send()
            .await
            .unwrap();
        assert_eq!(basic.status(), 401);
    }
    assert!(checked > 50);
});

both_backends!(cors_only_for_registered_web_origins_and_never_on_authorize, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(true, Alg::RS256).await; // redirect URI http://127.0.0.1:9/callback
    let registered = "http://127.0.0.1:9";
    let http = &app.api;
    for path in ["/jwks.json", "/.well-known/openid-configuration", "/userinfo"] {
        let resp = http.get(app.url(path)).header("origin", registered).send().await.unwrap();
        assert_eq!(
            resp.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap()),
            Some(registered),
            "{path}"
        );
        let resp = http.get(app.url(path)).header("origin", "https://evil.example").send().await.unwrap();
        assert!(resp.headers().get("access-control-allow-origin").is_none(), "{path}");
    }
    // A preflight for the token endpoint.
    let pre = http
        .request(reqwest::Method::OPTIONS, app.url("/token"))
        .header("origin", registered)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    // Fetch §3.2.3: a preflight succeeds with any ok status (200–299).
    assert!(pre.status().is_success(), "{}", pre.status());
    assert!(pre.headers()["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    let pre = http
        .request(reqwest::Method::OPTIONS, app.url("/token"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(pre.headers().get("access-control-allow-origin").is_none());
    // Never on /authorize.
    let resp =
        app.browser().client.get(authorize_url(&app, &client, &[])).header("origin", registered).send().await.unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
});

// With `server.tls_cert` and `server.tls_key`, Ostiary serves HTTPS itself (rustls).
both_backends!(https_is_served_when_a_certificate_is_configured, |db: Db| async move {
    let tls = testkit::TestCertificate::create("IP:127.0.0.1");
    let (cert, key, ca) = (tls.cert.clone(), tls.key.clone(), tls.ca.clone());
    let (c, k) = (cert.display().to_string(), key.display().to_string());
    let app = spawn_app_with(db, move |s| {
        s.server.tls_cert = Some(c.into());
        s.server.tls_key = Some(k.into());
        s.server.issuer = domain::Issuer::parse(&s.server.issuer.as_str().replace("http://", "https://")).unwrap();
    })
    .await;
    let trusted = reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap();
    let https = reqwest::Client::builder().tls_certs_only([trusted]).build().unwrap();
    let resp =
        https.get(format!("{}/.well-known/openid-configuration", app.base)).send().await.expect("an https answer");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("strict-transport-security"));
    let meta: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(meta["issuer"], app.base.as_str());
    assert!(app.base.starts_with("https://"));
    assert_eq!(https.get(format!("{}/jwks.json", app.base)).send().await.unwrap().status(), 200);
    // Plain http to the TLS port gets no answer from the application.
    let plain = app.api.get(app.base.replace("https://", "http://") + "/jwks.json").send().await;
    assert!(plain.is_err(), "plain http got an HTTP answer: {plain:?}");
});

// Anonymous storage growth (issue 9, item 8): every value /authorize would store is capped, and
// interactions are limited per client IP.
both_backends!(oversized_authorization_parameters_are_refused_before_anything_is_stored, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let long = "a".repeat(3000);
    let claims = format!("{{\"id_token\":{{\"email\":{{\"essential\":true,\"x\":\"{}\"}}}}}}", "b".repeat(5000));
    for (name, value) in [
        ("acr_values", long.as_str()),
        ("ui_locales", long.as_str()),
        ("login_hint", long.as_str()),
        ("claims_locales", long.as_str()),
        ("claims", claims.as_str()),
    ] {
        let resp = app.browser().get(&authorize_url(&app, &client, &[(name, value)])).await;
        assert_eq!(resp.status(), 400, "{name} of {} bytes", value.len());
    }
    // Within the caps the same parameters are fine.
    let resp = app.browser().get(&authorize_url(&app, &client, &[("acr_values", "urn:x urn:y")])).await;
    assert_eq!(resp.status(), 303);
});

both_backends!(interactions_are_limited_per_client_ip, |db: Db| async move {
    let app = testkit::spawn_app_with(db, |s| {
        s.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        s.oidc.interactions_per_ip_per_hour = 3;
    })
    .await;
    let client = app.register_client(false, Alg::RS256).await;
    let from = |ip: &str| app.browser_behind_proxy(ip);
    for _ in 0..3 {
        let resp = from("198.51.100.20").get(&authorize_url(&app, &client, &[])).await;
        assert!(location(&resp).starts_with("/login/"));
    }
    let resp = from("198.51.100.20").get(&authorize_url(&app, &client, &[])).await;
    let back = url::Url::parse(&location(&resp)).unwrap();
    assert_eq!(query_param(&back, "error").as_deref(), Some("temporarily_unavailable"));
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-123"));
    // Another client IP is not affected.
    let resp = from("198.51.100.21").get(&authorize_url(&app, &client, &[])).await;
    assert!(location(&resp).starts_with("/login/"));
});

// A compressed request body gets each endpoint's own answer, never a decoder's (issue 9): no
// request body is decoded, and an encoded one is refused in the endpoint's protocol.
both_backends!(compressed_bodies_get_each_endpoints_own_answer, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let post = |path: &str, content_type: &str| {
        app.api
            .post(app.url(path))
            .header("content-type", content_type)
            .header("content-encoding", "gzip")
            .body("grant_type=refresh_token")
            .basic_auth(&client.id, client.secret.as_deref())
    };
    for path in ["/token", "/oauth/token", "/revoke", "/introspect"] {
        let resp = post(path, "application/x-www-form-urlencoded").send().await.unwrap();
        assert_eq!(resp.status(), 400, "{path}");
        assert_eq!(resp.headers()["cache-control"], "no-store", "{path}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{path}: {body}");
    }
    let resp = post("/userinfo", "application/x-www-form-urlencoded").send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().contains_key("www-authenticate"));
    let resp = post("/passwordless/start", "application/json").send().await.unwrap();
    assert_eq!(resp.status(), 415);
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap()["error"], "invalid_request");
    let resp = post("/authorize", "application/x-www-form-urlencoded").send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let resp = post("/logout", "application/x-www-form-urlencoded").send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("<h1>"));
    // A form page of a browser: the form is refused with a page, before any handler.
    let browser = app.browser();
    let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
    let resp = browser
        .client
        .post(app.url(&login))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("content-encoding", "gzip")
        .body("email=a%40example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    assert!(resp.headers().contains_key("content-security-policy"));
});

/// Sends `raw` on a fresh connection and returns everything the server answers.
async fn raw_exchange(app: &TestApp, raw: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let port = url::Url::parse(&app.base).unwrap().port().unwrap();
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    // A head too large for the server may be answered before all of it is written.
    let _ = stream.write_all(raw).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

// The server's own refusals of malformed requests carry the headers every response promises
// (issue 9): they come from the application, not from the HTTP parser.
both_backends!(malformed_requests_are_refused_with_every_security_header, |db: Db| async move {
    let app = spawn_app(db).await;
    let long_uri = format!("GET /authorize?x={} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(70_000));
    let big_header = format!("GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n", "b".repeat(140_000));
    let cases: [(&str, &[u8], &str); 5] = [
        ("a broken request line", b"GARBAGE\r\n\r\n", "400"),
        ("a bad header", b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n", "400"),
        (
            "two Content-Lengths",
            b"POST /token HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            "400",
        ),
        ("a URI over 64 KB", long_uri.as_bytes(), "414"),
        ("a head over the buffer", big_header.as_bytes(), "431"),
    ];
    for (what, raw, status) in cases {
        let answer = raw_exchange(&app, raw).await;
        let head = answer.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
        assert!(head.starts_with(&format!("http/1.1 {status}")), "{what}: {head}");
        for header in [
            "content-security-policy:",
            "frame-ancestors 'none'",
            "referrer-policy: no-referrer",
            "x-content-type-options: nosniff",
        ] {
            assert!(head.contains(header), "{what}: no {header} in {head}");
        }
    }
    // A good request before a bad one on the same connection is answered as usual first.
    let answer = raw_exchange(&app, b"GET /health HTTP/1.1\r\nHost: a\r\n\r\nGARBAGE\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("HTTP/1.1 400"), "{answer}");
});
