//! `private_key_jwt` (OIDC Core §9, RFC 7523): clients that sign in to the token endpoint with
//! their own keys, registered inline (`jwks`) or published at a `jwks_uri`. oidctest:
//! OP-Registration-jwks, OP-Registration-jwks_uri, OP-Rotation-RP-Sig.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::Clock;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use testkit::{Db, TestApp, TestClient, both_backends, query_param};

use crate::oidc::{VERIFIER, authorize_url};
use crate::unique_email;

const REGISTRATION_TOKEN: &str = "initial-access-token-0123456789abcdef";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client's P-256 signing key: the private part signs, the JWK is what it registers.
pub(crate) struct ClientKey {
    kid: String,
    pkcs8: Vec<u8>,
    pub(crate) jwk: Value,
}

impl ClientKey {
    pub(crate) fn new(kid: &str) -> Self {
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
        // The uncompressed point: 0x04, then x and y (SEC 1 §2.3.3).
        let point = pair.public_key().as_ref().to_vec();
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        ClientKey { kid: kid.into(), pkcs8: doc.as_ref().to_vec(), jwk }
    }

    pub(crate) fn sign(&self, claims: &Value) -> String {
        let header = Header { kid: Some(self.kid.clone()), ..Header::new(Algorithm::ES256) };
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&self.pkcs8)).unwrap()
    }
}

/// The claims of a good assertion for `client` at `app`, issued at `now`.
fn claims(app: &TestApp, client: &str, jti: &str) -> Value {
    let now = app.clock.now();
    json!({ "iss": client, "sub": client, "aud": app.url("/token"), "jti": jti, "iat": now, "exp": now + 300 })
}

pub(crate) async fn register(app: &TestApp, body: Value) -> (u16, Value) {
    let resp = app.api.post(app.url("/register")).bearer_auth(REGISTRATION_TOKEN).json(&body).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn registering_app(db: Db) -> TestApp {
    testkit::spawn_app_with(db, |s| s.oidc.registration_token = Some(domain::Secret::new(REGISTRATION_TOKEN.into())))
        .await
}

/// A fresh code for `client`, from a sign-in in a new browser.
async fn code_for(app: &TestApp, client: &str) -> String {
    let test_client = TestClient { id: client.into(), secret: None, redirect_uri: "https://app.example/cb".into() };
    let back = app.sign_in(&app.browser(), &authorize_url(app, &test_client, &[]), &unique_email()).await;
    query_param(&back, "code").unwrap()
}

/// `POST /token` exchanging `code` with `auth` (the client authentication parameters).
async fn redeem(app: &TestApp, code: &str, auth: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", "https://app.example/cb"),
        ("code_verifier", VERIFIER),
    ];
    form.extend_from_slice(auth);
    let resp = app.api.post(app.url("/token")).form(&form).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

fn assertion(jwt: &str) -> [(&'static str, &str); 2] {
    [("client_assertion_type", JWT_BEARER), ("client_assertion", jwt)]
}

both_backends!(private_key_jwt_with_registered_keys_signs_in_and_each_assertion_counts_once, |db: Db| async move {
    let app = registering_app(db).await;
    let meta: Value =
        app.api.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert!(meta["token_endpoint_auth_methods_supported"].as_array().unwrap().contains(&json!("private_key_jwt")));
    let algs = meta["token_endpoint_auth_signing_alg_values_supported"].as_array().unwrap();
    assert!(algs.contains(&json!("ES256")) && algs.contains(&json!("RS256")), "{algs:?}");
    assert!(!algs.contains(&json!("none")), "{algs:?}");

    let key = ClientKey::new("k1");
    let (status, reg) = register(
        &app,
        json!({
            "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt",
            "jwks": { "keys": [key.jwk] }, "token_endpoint_auth_signing_alg": "ES256",
        }),
    )
    .await;
    assert_eq!(status, 201, "{reg}");
    assert_eq!(reg["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(reg["token_endpoint_auth_signing_alg"], "ES256");
    assert_eq!(reg["jwks"]["keys"][0]["kid"], "k1");
    assert!(reg.get("client_secret").is_none(), "a key client holds no secret: {reg}");
    let id = reg["client_id"].as_str().unwrap().to_owned();

    // A signed assertion authenticates the client; its tokens come back.
    let code = code_for(&app, &id).await;
    let first = key.sign(&claims(&app, &id, "jti-1"));
    let (status, tokens) = redeem(&app, &code, &assertion(&first)).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["id_token"].is_string() && tokens["access_token"].is_string());
    // The `client_id` may be sent beside it, and must then be the assertion's `sub`.
    let code = code_for(&app, &id).await;
    let second = key.sign(&claims(&app, &id, "jti-2"));
    let with_id = [assertion(&second).as_slice(), &[("client_id", id.as_str())]].concat();
    assert_eq!(redeem(&app, &code, &with_id).await.0, 200);

    // Each refusal is 401 invalid_client (RFC 6749 §5.2), and spends nothing: the code still works.
    let code = code_for(&app, &id).await;
    let now = app.clock.now();
    let other_key = ClientKey::new("k1");
    let refused = [
        ("replayed", first.clone()),
        ("another key", other_key.sign(&claims(&app, &id, "jti-3"))),
        ("aud elsewhere", key.sign(&json!({ "iss": id, "sub": id, "aud": "https://rp.example", "jti": "a", "exp": now + 60 }))),
        ("expired", key.sign(&json!({ "iss": id, "sub": id, "aud": app.url("/token"), "jti": "b", "exp": now - 120 }))),
        ("too long", key.sign(&json!({ "iss": id, "sub": id, "aud": app.url("/token"), "jti": "c", "exp": now + 7200 }))),
        ("no jti", key.sign(&json!({ "iss": id, "sub": id, "aud": app.url("/token"), "exp": now + 60 }))),
        ("not yet", key.sign(&json!({ "iss": id, "sub": id, "aud": app.url("/token"), "jti": "d", "nbf": now + 600, "exp": now + 900 }))),
        ("iss not the client", key.sign(&json!({ "iss": "someone", "sub": id, "aud": app.url("/token"), "jti": "e", "exp": now + 60 }))),
        ("unsigned", format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#), URL_SAFE_NO_PAD.encode(claims(&app, &id, "f").to_string()))),
        ("an HMAC", jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(&app, &id, "g"), &EncodingKey::from_secret(b"k")).unwrap()),
        ("garbage", "not.a.jwt".into()),
    ];
    for (why, jwt) in refused {
        let (status, body) = redeem(&app, &code, &assertion(&jwt)).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{why}: {body}");
    }
    // Mixed methods, or a wrong assertion type, are refused too.
    let fresh = key.sign(&claims(&app, &id, "jti-4"));
    let with_secret = [assertion(&fresh).as_slice(), &[("client_secret", "x")]].concat();
    assert_eq!(redeem(&app, &code, &with_secret).await.1["error"], "invalid_request");
    let other_id = [assertion(&fresh).as_slice(), &[("client_id", "someone-else")]].concat();
    assert_eq!(redeem(&app, &code, &other_id).await.1["error"], "invalid_client");
    let saml = [
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"),
        ("client_assertion", fresh.as_str()),
    ];
    assert_eq!(redeem(&app, &code, &saml).await.1["error"], "invalid_client");
    // A key client has no secret to present.
    assert_eq!(
        redeem(&app, &code, &[("client_id", id.as_str()), ("client_secret", "")]).await.1["error"],
        "invalid_client"
    );
    // None of that spent the code or the fresh assertion.
    assert_eq!(redeem(&app, &code, &assertion(&fresh)).await.0, 200);
});

both_backends!(registration_refuses_unusable_keys, |db: Db| async move {
    let app = registering_app(db).await;
    let key = ClientKey::new("k1");
    let base = |extra: Value| {
        let mut body =
            json!({ "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt" });
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let mut private = key.jwk.clone();
    private["d"] = json!("c2VjcmV0");
    for (why, body) in [
        ("no keys", base(json!({}))),
        ("both", base(json!({ "jwks": { "keys": [key.jwk] }, "jwks_uri": "https://rp.example/jwks" }))),
        ("a private key", base(json!({ "jwks": { "keys": [private] } }))),
        ("a symmetric key", base(json!({ "jwks": { "keys": [{ "kty": "oct", "k": "c2VjcmV0" }] } }))),
        ("not a set", base(json!({ "jwks": [key.jwk] }))),
        ("an HMAC alg", base(json!({ "jwks": { "keys": [key.jwk] }, "token_endpoint_auth_signing_alg": "HS256" }))),
        // Keys without private_key_jwt serve request objects (request_objects.rs).
        (
            "a private key without private_key_jwt",
            json!({ "redirect_uris": ["https://app.example/cb"], "jwks": { "keys": [private] } }),
        ),
    ] {
        let (status, body) = register(&app, body).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_client_metadata")), "{why}: {body}");
    }
});

/// A client's key server: the set it publishes, and how often it was fetched.
#[derive(Default)]
struct Published {
    keys: Mutex<Vec<Value>>,
    fetches: Mutex<u32>,
}

async fn jwks(state: web::Data<Arc<Published>>) -> HttpResponse {
    *state.fetches.lock().unwrap() += 1;
    HttpResponse::Ok().json(json!({ "keys": *state.keys.lock().unwrap() }))
}

async fn key_server() -> (String, Arc<Published>) {
    let state = Arc::new(Published::default());
    let data = web::Data::new(Arc::clone(&state));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || App::new().app_data(data.clone()).route("/jwks", web::get().to(jwks)))
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}/jwks"), state)
}

both_backends!(a_jwks_uri_is_cached_and_fetched_again_when_the_client_rotates, |db: Db| async move {
    let app = registering_app(db).await;
    let (uri, published) = key_server().await;
    let old = ClientKey::new("2026-01");
    published.keys.lock().unwrap().push(old.jwk.clone());
    let (status, reg) =
        register(&app, json!({ "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": uri })).await;
    assert_eq!(status, 201, "{reg}");
    assert_eq!(reg["jwks_uri"], uri.as_str());
    let id = reg["client_id"].as_str().unwrap().to_owned();

    // The first assertion fetches the set; the next one uses the cache.
    for jti in ["a", "b"] {
        let code = code_for(&app, &id).await;
        assert_eq!(redeem(&app, &code, &assertion(&old.sign(&claims(&app, &id, jti)))).await.0, 200);
    }
    assert_eq!(*published.fetches.lock().unwrap(), 1, "cached");

    // The client rotates: an assertion naming the new key makes the server fetch the set again.
    let new = ClientKey::new("2026-02");
    *published.keys.lock().unwrap() = vec![new.jwk.clone()];
    app.clock.advance(30);
    let code = code_for(&app, &id).await;
    let (status, body) = redeem(&app, &code, &assertion(&new.sign(&claims(&app, &id, "c")))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(*published.fetches.lock().unwrap(), 2);
    // Unknown keys cannot make it fetch at will: within the gap, a stranger's kid is refused unfetched.
    let stranger = ClientKey::new("nobody");
    let code = code_for(&app, &id).await;
    assert_eq!(redeem(&app, &code, &assertion(&stranger.sign(&claims(&app, &id, "d")))).await.0, 401);
    assert_eq!(*published.fetches.lock().unwrap(), 2, "no fetch within the gap");
    // The old key is gone from the set: once the cache is stale, it no longer authenticates.
    app.clock.advance(600);
    let code = code_for(&app, &id).await;
    assert_eq!(redeem(&app, &code, &assertion(&old.sign(&claims(&app, &id, "e")))).await.0, 401);
    assert_eq!(redeem(&app, &code, &assertion(&new.sign(&claims(&app, &id, "f")))).await.0, 200);
});

both_backends!(a_jwks_uri_inside_the_network_is_refused_unless_allowed, |db: Db| async move {
    let app = testkit::spawn_app_with(db, |s| {
        s.oidc.registration_token = Some(domain::Secret::new(REGISTRATION_TOKEN.into()));
        s.oidc.fetch_private_addresses = false;
    })
    .await;
    let (uri, published) = key_server().await;
    // An address written in the URL is refused at registration.
    let (status, body) =
        register(&app, json!({ "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": uri })).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_client_metadata")), "{body}");
    // A name is checked on the addresses it resolves to, when the keys are fetched.
    let by_name = uri.replace("127.0.0.1", "localhost");
    let (status, reg) =
        register(&app, json!({ "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": by_name })).await;
    assert_eq!(status, 201, "{reg}");
    let id = reg["client_id"].as_str().unwrap().to_owned();
    let key = ClientKey::new("k");
    published.keys.lock().unwrap().push(key.jwk.clone());
    let code = code_for(&app, &id).await;
    let (status, body) = redeem(&app, &code, &assertion(&key.sign(&claims(&app, &id, "a")))).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    assert_eq!(*published.fetches.lock().unwrap(), 0, "nothing inside the network was reached");
});

// A second, independent implementation of RFC 7523: Python's authlib registers itself with its
// own key and signs its client assertions (OP-Registration-jwks).
both_backends!(a_python_authlib_client_signs_in_with_private_key_jwt, |db: Db| async move {
    let app = registering_app(db).await;
    let email = unique_email();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/interop/authlib_login.py");
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .env("OSTIARY_URL", &app.base)
        .env("REGISTRATION_TOKEN", REGISTRATION_TOKEN)
        .env("REDIRECT_URI", "https://app.example/cb")
        .env("EMAIL", &email)
        .output()
        .await
        .expect("python3 runs (authlib and requests are installed by scripts/test-deps.sh)");
    assert!(out.status.success(), "authlib sign-in failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let result: Value = serde_json::from_slice(&out.stdout).expect("JSON from the script");
    assert_eq!(result["id_token"]["email"], email.as_str());
    assert_eq!(result["userinfo"]["email"], email.as_str());
});

/// A `client_secret_jwt` assertion for `client`, MACed with `secret`.
fn maced(app: &TestApp, client: &str, secret: &str, alg: Algorithm, jti: &str) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::encode(&Header::new(alg), &claims(app, client, jti), &key).unwrap()
}

/// `client_credentials` authenticated with `jwt` alone: the status.
async fn machine_token(app: &TestApp, jwt: &str) -> u16 {
    let form = [("grant_type", "client_credentials"), ("client_assertion_type", JWT_BEARER), ("client_assertion", jwt)];
    app.api.post(app.url("/token")).form(&form).send().await.unwrap().status().as_u16()
}

both_backends!(
    client_secret_jwt_macs_assertions_with_the_secret_and_a_rotation_keeps_the_old_one_a_while,
    |db: Db| async move {
        let app = registering_app(db).await;
        let meta: Value =
            app.api.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        assert!(
            meta["token_endpoint_auth_methods_supported"].as_array().unwrap().contains(&json!("client_secret_jwt"))
        );
        assert!(meta["token_endpoint_auth_signing_alg_values_supported"].as_array().unwrap().contains(&json!("HS256")));
        let (status, reg) = register(
            &app,
            json!({
                "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "client_secret_jwt",
                "token_endpoint_auth_signing_alg": "HS256",
            }),
        )
        .await;
        assert_eq!(status, 201, "{reg}");
        assert_eq!(
            (reg["token_endpoint_auth_method"].as_str(), reg["token_endpoint_auth_signing_alg"].as_str()),
            (Some("client_secret_jwt"), Some("HS256"))
        );
        let id = reg["client_id"].as_str().unwrap().to_owned();
        let secret = reg["client_secret"].as_str().unwrap().to_owned();

        // The code grant and client_credentials both take the MACed assertion.
        let code = code_for(&app, &id).await;
        let (status, tokens) = redeem(&app, &code, &assertion(&maced(&app, &id, &secret, Algorithm::HS256, "a"))).await;
        assert_eq!(status, 200, "{tokens}");
        assert_eq!(machine_token(&app, &maced(&app, &id, &secret, Algorithm::HS256, "b")).await, 200);
        // Refused: a replay, another secret, another HMAC than the registered one, a signature.
        for (why, jwt) in [
            ("replayed", maced(&app, &id, &secret, Algorithm::HS256, "b")),
            ("another secret", maced(&app, &id, "not-the-secret", Algorithm::HS256, "c")),
            ("HS512 for HS256", maced(&app, &id, &secret, Algorithm::HS512, "d")),
            ("a key's signature", ClientKey::new("k").sign(&claims(&app, &id, "e"))),
        ] {
            assert_eq!(machine_token(&app, &jwt).await, 401, "{why}");
        }

        // An admin rotates the secret with a minute's grace: both MAC, then only the new one.
        let (_, admin) = crate::admin::admin_token(&app).await;
        let resp = app
            .api
            .post(app.url(&format!("/api/admin/v1/clients/{id}/secret")))
            .bearer_auth(&admin)
            .json(&json!({ "grace_seconds": 60 }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let rotated = resp.json::<Value>().await.unwrap()["client_secret"].as_str().unwrap().to_owned();
        assert_eq!(
            machine_token(&app, &maced(&app, &id, &secret, Algorithm::HS256, "f")).await,
            200,
            "the old one, within the grace"
        );
        assert_eq!(machine_token(&app, &maced(&app, &id, &rotated, Algorithm::HS256, "g")).await, 200);
        app.clock.advance(61);
        assert_eq!(machine_token(&app, &maced(&app, &id, &secret, Algorithm::HS256, "h")).await, 401, "grace over");
        assert_eq!(machine_token(&app, &maced(&app, &id, &rotated, Algorithm::HS256, "i")).await, 200);
    }
);
