//! End to end with the `openidconnect` crate as the relying party: discovery → authorization URL
//! with PKCE and nonce → hosted pages over HTTP → code from the outbox → token exchange → ID token
//! verified against the JWKS → userinfo.

use authorization_server::Alg;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use testkit::{Db, TestApp, TestClient, both_backends, oidc_http, query_param, spawn_app};

use crate::{jwt_parts, unique_email};

enum Via {
    Code,
    Link,
}

/// Signs in through the RP library and returns the raw ID token and access token.
async fn rp_sign_in(app: &TestApp, client: &TestClient, alg: Alg, via: Via) -> (String, String, String) {
    let http = oidc_http();
    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http)
        .await
        .expect("discovery");
    let rp = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(client.id.clone()),
        client.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(client.redirect_uri.clone()).unwrap());
    let (challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state, nonce) = rp
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_extra_param("unknown_parameter", "is ignored")
        .add_extra_param("ui_locales", "fr")
        .set_pkce_challenge(challenge)
        .url();
    let browser = app.browser();
    let email = unique_email();
    let back = match via {
        Via::Code => app.sign_in(&browser, auth_url.as_str(), &email).await,
        Via::Link => app.sign_in_with_link(&browser, auth_url.as_str(), &email).await,
    };
    assert!(back.as_str().starts_with(&client.redirect_uri), "{back}");
    assert_eq!(query_param(&back, "state").as_deref(), Some(state.secret().as_str()));
    assert_eq!(query_param(&back, "iss").as_deref(), Some(app.base.as_str()), "RFC 9207 iss");
    let code = query_param(&back, "code").expect("code");

    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(pkce_verifier)
        .request_async(&http)
        .await
        .expect("token exchange");
    let id_token = tokens.id_token().expect("id token");
    let verifier = rp.id_token_verifier().set_allowed_algs(vec![authorization_server::keys::core_alg(alg)]);
    let claims = id_token.claims(&verifier, &nonce).expect("the ID token verifies against the JWKS");
    assert_eq!(claims.email().map(|e| e.as_str()), Some(email.as_str()));
    assert_eq!(claims.email_verified(), Some(true));
    assert!(claims.auth_time().is_some());
    let amr: Vec<&str> = claims.auth_method_refs().unwrap().iter().map(|a| a.as_str()).collect();
    assert_eq!(amr, ["otp"], "amr says honestly how the user signed in (RFC 8176)");
    assert_eq!(claims.auth_context_ref().map(|a| a.as_str()), Some("urn:ostiary:acr:single-factor"));
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash), "at_hash");

    let userinfo: CoreUserInfoClaims =
        rp.user_info(tokens.access_token().clone(), None).unwrap().request_async(&http).await.expect("userinfo");
    assert_eq!(userinfo.subject(), claims.subject());
    assert_eq!(userinfo.email().map(|e| e.as_str()), Some(email.as_str()));

    let raw = id_token.to_string();
    (raw, tokens.access_token().secret().clone(), email)
}

both_backends!(code_login_with_an_oidc_library, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let (id_token, access_token, _) = rp_sign_in(&app, &client, Alg::RS256, Via::Code).await;
    let (header, claims) = jwt_parts(&id_token);
    assert_eq!(header["alg"], "RS256");
    let jwks: serde_json::Value = reqwest::get(app.url("/jwks.json")).await.unwrap().json().await.unwrap();
    assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == header["kid"]), "kid is in the JWKS");
    for claim in ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "acr", "at_hash", "sid"] {
        assert!(claims.get(claim).is_some(), "ID token lacks {claim}: {claims}");
    }
    let (at_header, at_claims) = jwt_parts(&access_token);
    assert_eq!(at_header["typ"], "at+jwt", "RFC 9068 access token");
    assert_eq!(at_header["alg"], "ES256", "access tokens are ES256 by default");
    assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == at_header["kid"]), "its kid is in the JWKS");
    assert_eq!(at_claims["client_id"], client.id.as_str());
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_take_the_configured_algorithm() {
    let app = testkit::spawn_app_with(Db::Sqlite, |s| s.oidc.access_token_alg = Alg::RS256).await;
    let client = app.register_client(false, Alg::ES256).await;
    let (_, access_token, _) = rp_sign_in(&app, &client, Alg::ES256, Via::Code).await;
    assert_eq!(jwt_parts(&access_token).0["alg"], "RS256");
    let info = app.api.get(app.url("/userinfo")).bearer_auth(&access_token).send().await.unwrap();
    assert_eq!(info.status(), 200);
}

both_backends!(magic_link_login_with_an_oidc_library, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    rp_sign_in(&app, &client, Alg::RS256, Via::Link).await;
});

both_backends!(public_client_with_pkce_and_es256_id_tokens, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(true, Alg::ES256).await;
    let (id_token, _, _) = rp_sign_in(&app, &client, Alg::ES256, Via::Code).await;
    assert_eq!(jwt_parts(&id_token).0["alg"], "ES256");
});

both_backends!(eddsa_id_tokens_verify, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::EdDSA).await;
    let (id_token, _, _) = rp_sign_in(&app, &client, Alg::EdDSA, Via::Code).await;
    assert_eq!(jwt_parts(&id_token).0["alg"], "EdDSA");
});

both_backends!(sub_is_stable_and_opaque_across_logins, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let email = unique_email();
    let mut subs = Vec::new();
    for _ in 0..2 {
        let browser = app.browser();
        let url = authorize_url(&app, &client, &[]);
        let back = app.sign_in(&browser, &url, &email).await;
        let tokens = exchange(&app, &client, &back).await;
        subs.push(jwt_parts(tokens["id_token"].as_str().unwrap()).1["sub"].clone());
    }
    assert_eq!(subs[0], subs[1]);
    assert!(!subs[0].as_str().unwrap().contains('@'), "sub must not reveal the address");
});

both_backends!(rotated_keys_stay_published_until_their_tokens_expire, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let (old_token, _, _) = rp_sign_in(&app, &client, Alg::RS256, Via::Code).await;
    let old_kid = jwt_parts(&old_token).0["kid"].clone();
    let now = domain::Clock::now(&app.clock);
    app.keys.rotate(now).await.expect("rotate");

    let jwks: serde_json::Value = reqwest::get(app.url("/jwks.json")).await.unwrap().json().await.unwrap();
    let kids: Vec<String> =
        jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kids.len(), 6, "three new keys and three retired ones: {kids:?}");
    let mut unique = kids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), kids.len(), "kids are unique");
    assert!(kids.iter().any(|k| *k == old_kid), "the old key is still published");

    // A token signed before the rotation still verifies against the JWKS served after it.
    let http = oidc_http();
    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http).await.unwrap();
    let rp = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(client.id.clone()),
        client.secret.clone().map(ClientSecret::new),
    );
    let parsed: openidconnect::core::CoreIdToken = old_token.parse().unwrap();
    parsed.claims(&rp.id_token_verifier(), |_: Option<&Nonce>| Ok(())).expect("old token verifies after rotation");

    // The new keys are published ahead: until they start signing, the old key still signs.
    let (still_old, _, _) = rp_sign_in(&app, &client, Alg::RS256, Via::Code).await;
    assert_eq!(jwt_parts(&still_old).0["kid"], old_kid);
    app.clock.advance(authorization_server::keys::PUBLISH_AHEAD);
    let (new_token, _, _) = rp_sign_in(&app, &client, Alg::RS256, Via::Code).await;
    let new_kid = jwt_parts(&new_token).0["kid"].clone();
    assert_ne!(new_kid, old_kid);
    assert!(kids.iter().any(|k| *k == new_kid), "the signing key was published before it signed");

    // Once every token the old key signed has expired, it leaves the JWKS.
    app.clock.advance(app.settings.oidc.id_token_ttl.max(app.settings.oidc.access_token_ttl) + 301);
    let jwks: serde_json::Value = reqwest::get(app.url("/jwks.json")).await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 3);
});

/// An authorization URL for `client` with a fixed PKCE pair (verifier [`VERIFIER`]) plus `extra` parameters.
pub fn authorize_url(app: &TestApp, client: &TestClient, extra: &[(&str, &str)]) -> String {
    authorize_url_on(&app.base, client, extra)
}

/// [`authorize_url`] at the server `base`.
pub fn authorize_url_on(base: &str, client: &TestClient, extra: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&format!("{base}/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.id)
        .append_pair("redirect_uri", &client.redirect_uri)
        .append_pair("scope", "openid email")
        .append_pair("state", "st-123")
        .append_pair("nonce", "n-456")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        url.query_pairs_mut().append_pair(k, v);
    }
    url.to_string()
}

/// [`authorize_url`] without the parameters named in `drop`, then with `add`.
pub fn authorize_url_with(app: &TestApp, client: &TestClient, drop: &[&str], add: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&authorize_url(app, client, &[])).unwrap();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !drop.contains(&k.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(kept).extend_pairs(add.iter());
    url.to_string()
}

/// The PKCE parameters of [`authorize_url`], for requests that must go without them.
pub const PKCE: [&str; 2] = ["code_challenge", "code_challenge_method"];

/// Presents `code` (issued for `client`'s redirect URI, with [`VERIFIER`]) at the token endpoint,
/// authenticating as `caller`.
pub async fn redeem(app: &TestApp, client: &TestClient, caller: &TestClient, code: &str) -> reqwest::Response {
    app.token_request(
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &client.redirect_uri),
            ("code_verifier", VERIFIER),
        ],
        Some((&caller.id, caller.secret.as_deref().unwrap())),
    )
    .await
}

/// RFC 7636 Appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Exchanges the code in `back` with the fixed verifier; asserts success and returns the JSON.
pub async fn exchange(app: &TestApp, client: &TestClient, back: &url::Url) -> serde_json::Value {
    let code = query_param(back, "code").expect("code in redirect");
    let mut params = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("code_verifier", VERIFIER),
    ];
    if client.secret.is_none() {
        params.push(("client_id", client.id.as_str()));
    }
    let resp = app.token_request(&params, client.secret.as_deref().map(|s| (client.id.as_str(), s))).await;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

// The demo app signs in end to end through the provider (it is what `make run` shows a newcomer).
both_backends!(the_demo_app_signs_in_and_shows_verified_claims, |db: Db| async move {
    let app = testkit::spawn_app_with(db, |s| s.demo.enabled = true).await;
    let browser = app.browser();
    // Reached by another host name, the demo first moves to the issuer's.
    let other_host = app.base.replace("127.0.0.1", "localhost");
    let resp = browser.get(&format!("{other_host}/demo")).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(testkit::location(&resp), format!("{}/demo", app.base));
    let resp = browser.get("/demo/login").await;
    assert_eq!(resp.status(), 303);
    let authorize = testkit::location(&resp);
    let email = unique_email();
    let back = app.sign_in(&browser, &authorize, &email).await;
    let resp = browser.get(back.as_str()).await;
    assert_eq!(resp.status(), 303, "the callback verifies and redirects");
    let page = browser.get("/demo").await.text().await.unwrap();
    assert!(page.contains("id=\"claims\"") && page.contains(&email), "{page}");
    // The page shows how to try the passwordless API with the demo client, and the calls work.
    let command = page.split("<pre>").nth(1).unwrap().split("</pre>").next().unwrap();
    let command = command.replace("&quot;", "\"").replace("&#x27;", "'").replace("&#x2F;", "/");
    let start = command.split("-d '").nth(1).unwrap().trim_end_matches('\'').replace("you@example.com", &email);
    let resp = app
        .api
        .post(app.url("/passwordless/start"))
        .header("content-type", "application/json")
        .body(start)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    // Signing out of the demo ends the provider's session too (RP-initiated logout, no question:
    // the ID token names this browser's session), and comes back to the demo.
    let out = browser.post_form("/demo/logout", &[("csrf", &testkit::csrf_of(&page))]).await;
    assert_eq!(out.status(), 303);
    let logout = testkit::location(&out);
    assert!(logout.starts_with(&app.url("/logout?id_token_hint=")), "{logout}");
    let back = browser.get(&logout).await;
    assert_eq!(testkit::location(&back), app.url("/demo"));
    let authorize = testkit::location(&browser.get("/demo/login").await);
    let login = browser.get(&authorize).await;
    assert!(testkit::location(&login).starts_with("/login/"), "signed out: the login page again");
    // "Ask for a second factor" asks for multi-factor.
    let mfa = testkit::location(&browser.get("/demo/login?mfa=on").await);
    let acr = testkit::query_param(&url::Url::parse(&mfa).unwrap(), "acr_values");
    assert_eq!(acr.as_deref(), Some(domain::Acr::MultiFactor.as_str()));
});

// Interoperability with a second, independent OIDC client library: Python's authlib.
both_backends!(a_python_authlib_relying_party_signs_in, |db: Db| async move {
    let app = testkit::spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let email = unique_email();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/interop/authlib_login.py");
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .env("OSTIARY_URL", &app.base)
        .env("CLIENT_ID", &client.id)
        .env("CLIENT_SECRET", client.secret.as_deref().unwrap())
        .env("REDIRECT_URI", &client.redirect_uri)
        .env("EMAIL", &email)
        .output()
        .await
        .expect("python3 runs (authlib and requests are installed by scripts/test-deps.sh)");
    assert!(out.status.success(), "authlib sign-in failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON from the script");
    assert_eq!(result["id_token"]["email"], email.as_str());
    assert_eq!(result["userinfo"]["email"], email.as_str());
    assert_eq!(result["id_token"]["amr"], serde_json::json!(["otp"]));
});
