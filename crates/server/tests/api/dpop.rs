//! DPoP (RFC 9449): tokens bound to a key the client proves with each request. A real client
//! library (openid-client) drives the whole flow; raw HTTP checks each refusal of §4.3, the
//! bindings of the code (§10), the access token (§6, §7) and a public client's refresh token (§5),
//! and the nonces (§8).

use std::process::Stdio;

use authorization_server::Alg;
use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::Clock;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use testkit::{Db, TestApp, TestClient, both_backends, query_param, spawn_app, spawn_app_with};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::oidc::{VERIFIER, authorize_url};
use crate::{jwt_parts, unique_email};

/// A client's DPoP key (P-256): it signs proofs, and carries its public JWK in each.
struct DpopKey {
    pkcs8: Vec<u8>,
    jwk: Value,
}

impl DpopKey {
    fn new() -> Self {
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let jwk = json!({
            "kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        DpopKey { pkcs8: doc.as_ref().to_vec(), jwk }
    }

    /// RFC 7638 §3: SHA-256 of the required members, in lexicographic order, without spaces.
    fn jkt(&self) -> String {
        let j = &self.jwk;
        let canonical = format!(
            r#"{{"crv":"{}","kty":"{}","x":"{}","y":"{}"}}"#,
            j["crv"].as_str().unwrap(),
            j["kty"].as_str().unwrap(),
            j["x"].as_str().unwrap(),
            j["y"].as_str().unwrap()
        );
        URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
    }

    /// A proof with these claims and header JWK, typed `typ`.
    fn sign(&self, typ: &str, jwk: &Value, claims: &Value) -> String {
        let header = Header {
            typ: Some(typ.into()),
            jwk: Some(serde_json::from_value(jwk.clone()).unwrap()),
            ..Header::new(Algorithm::ES256)
        };
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&self.pkcs8)).unwrap()
    }

    /// A JWT with exactly this header (members jsonwebtoken's `Header` would drop included).
    fn sign_raw(&self, header: &Value, claims: &Value) -> String {
        let message =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &EncodingKey::from_ec_der(&self.pkcs8), Algorithm::ES256)
                .unwrap();
        format!("{message}.{signature}")
    }

    /// A good proof for `method` at `app`'s `path`, naming `token` (`ath`) when given.
    fn proof(&self, app: &TestApp, method: &str, path: &str, token: Option<&str>, nonce: Option<&str>) -> String {
        self.sign("dpop+jwt", &self.jwk, &claims(app, method, path, token, nonce))
    }
}

fn claims(app: &TestApp, method: &str, path: &str, token: Option<&str>, nonce: Option<&str>) -> Value {
    let mut c = json!({
        "jti": URL_SAFE_NO_PAD.encode(rand::random::<[u8; 12]>()),
        "htm": method, "htu": app.url(path), "iat": app.clock.now(),
    });
    if let Some(token) = token {
        c["ath"] = json!(URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes())));
    }
    if let Some(nonce) = nonce {
        c["nonce"] = json!(nonce);
    }
    c
}

/// A token request with a DPoP header (or none).
async fn token(app: &TestApp, client: &TestClient, params: &[(&str, &str)], proof: Option<&str>) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = params.to_vec();
    let mut req = app.api.post(app.url("/token"));
    match client.secret.as_deref() {
        Some(secret) => req = req.basic_auth(&client.id, Some(secret)),
        None => form.push(("client_id", client.id.as_str())),
    }
    if let Some(proof) = proof {
        req = req.header("DPoP", proof);
    }
    req.form(&form).send().await.unwrap()
}

/// `/userinfo` with `Authorization: {scheme} {token}` and a DPoP header (or none).
async fn userinfo(app: &TestApp, scheme: &str, token: &str, proof: Option<&str>) -> reqwest::Response {
    let mut req = app.api.get(app.url("/userinfo")).header("Authorization", format!("{scheme} {token}"));
    if let Some(proof) = proof {
        req = req.header("DPoP", proof);
    }
    req.send().await.unwrap()
}

async fn error_of(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    (status, resp.json::<Value>().await.unwrap()["error"].as_str().unwrap_or_default().to_owned())
}

fn www_authenticate(resp: &reqwest::Response) -> String {
    resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

// openid-client v6 (scripts/test-deps.sh installs it): a public client pushes its request with a
// proof, redeems the code, reads /userinfo and refreshes, answering the server's nonces itself.
both_backends!(openid_client_gets_and_uses_dpop_bound_tokens, |db: Db| async move {
    let app = spawn_app_with(db, |s| s.oidc.dpop_nonce = true).await;
    let client = app.register_client(true, Alg::ES256).await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/interop/openid-client");
    let mut node = tokio::process::Command::new("node")
        .arg("dpop.mjs")
        .current_dir(dir)
        .env("ISSUER", &app.base)
        .env("CLIENT_ID", &client.id)
        .env("REDIRECT_URI", &client.redirect_uri)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (scripts/test-deps.sh installs openid-client)");
    let mut stdin = node.stdin.take().unwrap();
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next_line().await.unwrap().expect("the authorize URL")).unwrap();
    let authorize = first["authorize"].as_str().unwrap_or_else(|| panic!("{first}"));
    assert!(authorize.contains("request_uri="), "a pushed request: {authorize}");
    let email = unique_email();
    let back = app.sign_in(&app.browser(), authorize, &email).await;
    stdin.write_all(format!("{back}\n").as_bytes()).await.unwrap();
    let out: Value = serde_json::from_str(&lines.next_line().await.unwrap().expect("the result")).unwrap();
    assert!(out["error"].is_null(), "{out}");
    assert_eq!(out["token_type"], "dpop", "{out}");
    assert_eq!(out["refreshed_token_type"], "dpop", "{out}");
    assert_eq!(out["userinfo"]["email"], email.as_str());
    assert_eq!(out["userinfo_after_refresh"]["email"], email.as_str());
    let access = out["access_token"].as_str().unwrap();
    let jkt = jwt_parts(access).1["cnf"]["jkt"].as_str().unwrap().to_owned();
    assert_eq!(jwt_parts(out["refreshed_access_token"].as_str().unwrap()).1["cnf"]["jkt"], jkt.as_str());
    // The token alone, as a bearer token, is refused (§7.2); so is the public client's refresh
    // token without a proof of the key (§5).
    let resp = userinfo(&app, "Bearer", access, None).await;
    assert_eq!(resp.status(), 401);
    assert!(www_authenticate(&resp).contains("invalid_token"), "{}", www_authenticate(&resp));
    let refresh = out["refresh_token"].as_str().unwrap();
    let resp = token(&app, &client, &[("grant_type", "refresh_token"), ("refresh_token", refresh)], None).await;
    assert_eq!(error_of(resp).await, (400, "invalid_dpop_proof".into()));
    assert!(node.wait().await.unwrap().success());
});

// §10: `dpop_jkt` binds the code; §6-7: the access token carries `cnf.jkt` and is used with a
// proof of its key naming it (`ath`), once per proof; §5: a public client's refresh token too.
both_backends!(a_code_access_token_and_refresh_token_are_bound_to_the_key, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(true, Alg::ES256).await;
    let (key, other) = (DpopKey::new(), DpopKey::new());
    let jkt = key.jkt();
    let url = crate::oidc::authorize_url_with(
        &app,
        &client,
        &["scope"],
        &[("scope", "openid email offline_access"), ("dpop_jkt", &jkt)],
    );
    let back = app.sign_in(&app.browser(), &url, &unique_email()).await;
    let code = query_param(&back, "code").unwrap();
    let redeem = redeem(&code, &client);
    // Without a proof, or with another key's, the code is refused and not spent.
    assert_eq!(error_of(token(&app, &client, &redeem, None).await).await, (400, "invalid_dpop_proof".into()));
    let wrong = other.proof(&app, "POST", "/token", None, None);
    assert_eq!(error_of(token(&app, &client, &redeem, Some(&wrong)).await).await, (400, "invalid_dpop_proof".into()));
    let resp = token(&app, &client, &redeem, Some(&key.proof(&app, "POST", "/token", None, None))).await;
    assert_eq!(resp.status(), 200);
    let tokens: Value = resp.json().await.unwrap();
    assert_eq!(tokens["token_type"], "DPoP");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(jwt_parts(access).1["cnf"]["jkt"], jkt.as_str(), "RFC 9449 §6.1");

    // /userinfo: the DPoP scheme and a proof of the key that names the token.
    let resp = userinfo(&app, "Bearer", access, None).await;
    assert_eq!(resp.status(), 401, "a bound token is no bearer token");
    let resp = userinfo(&app, "DPoP", access, None).await;
    assert_eq!(resp.status(), 401);
    assert!(www_authenticate(&resp).starts_with("DPoP error=\"invalid_dpop_proof\""), "{}", www_authenticate(&resp));
    let without_ath = key.proof(&app, "GET", "/userinfo", None, None);
    assert_eq!(userinfo(&app, "DPoP", access, Some(&without_ath)).await.status(), 401);
    let by_other = other.proof(&app, "GET", "/userinfo", Some(access), None);
    assert_eq!(userinfo(&app, "DPoP", access, Some(&by_other)).await.status(), 401);
    let good = key.proof(&app, "GET", "/userinfo", Some(access), None);
    let resp = userinfo(&app, "DPoP", access, Some(&good)).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.json::<Value>().await.unwrap()["sub"].is_string());
    let resp = userinfo(&app, "DPoP", access, Some(&good)).await;
    assert_eq!(resp.status(), 401, "a proof is good once (§11.1)");

    // The public client's refresh token is bound too.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let rotate = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    assert_eq!(error_of(token(&app, &client, &rotate, None).await).await, (400, "invalid_dpop_proof".into()));
    let wrong = other.proof(&app, "POST", "/token", None, None);
    assert_eq!(error_of(token(&app, &client, &rotate, Some(&wrong)).await).await, (400, "invalid_dpop_proof".into()));
    let resp = token(&app, &client, &rotate, Some(&key.proof(&app, "POST", "/token", None, None))).await;
    assert_eq!(resp.status(), 200, "the refusals spent nothing");
    let rotated: Value = resp.json().await.unwrap();
    assert_eq!(rotated["token_type"], "DPoP");
    let next = rotated["refresh_token"].as_str().unwrap();
    let rotate = [("grant_type", "refresh_token"), ("refresh_token", next)];
    let resp = token(&app, &client, &rotate, Some(&other.proof(&app, "POST", "/token", None, None))).await;
    assert_eq!(error_of(resp).await, (400, "invalid_dpop_proof".into()), "the successor keeps the binding");

    // A malformed `dpop_jkt` goes back to the client.
    let resp = app.browser().get(&authorize_url(&app, &client, &[("dpop_jkt", "not-a-thumbprint")])).await;
    let back = url::Url::parse(&testkit::location(&resp)).unwrap();
    assert_eq!(query_param(&back, "error").as_deref(), Some("invalid_request"));
});

// §4.3: every check of a proof, at the token endpoint (a confidential client's own token).
both_backends!(proofs_are_refused_unless_every_check_of_rfc_9449_passes, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::ES256).await;
    let key = DpopKey::new();
    let grant = [("grant_type", "client_credentials")];
    let good = || claims(&app, "POST", "/token", None, None);
    let with = |k: &str, v: Value| {
        let mut c = good();
        c[k] = v;
        c
    };
    let mut private = key.jwk.clone();
    private["d"] = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
    let now = app.clock.now();
    let hs256 = jsonwebtoken::encode(
        &Header { typ: Some("dpop+jwt".into()), ..Header::new(Algorithm::HS256) },
        &good(),
        &EncodingKey::from_secret(b"secret"),
    )
    .unwrap();
    let signed_by_other = DpopKey::new().sign("dpop+jwt", &key.jwk, &good());
    let missing_jti = {
        let mut c = good();
        c.as_object_mut().unwrap().remove("jti");
        c
    };
    let bad = [
        ("typ JWT", key.sign("JWT", &key.jwk, &good())),
        ("an HMAC", hs256),
        (
            "a private key in the header",
            key.sign_raw(&json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": private }), &good()),
        ),
        ("a signature by another key", signed_by_other),
        ("htm GET", key.sign("dpop+jwt", &key.jwk, &with("htm", json!("GET")))),
        ("htu of another endpoint", key.sign("dpop+jwt", &key.jwk, &with("htu", json!(app.url("/userinfo"))))),
        ("iat an hour ago", key.sign("dpop+jwt", &key.jwk, &with("iat", json!(now - 3600)))),
        ("iat in 10 minutes", key.sign("dpop+jwt", &key.jwk, &with("iat", json!(now + 600)))),
        ("no jti", key.sign("dpop+jwt", &key.jwk, &missing_jti)),
        ("not a JWT", "not.a.jwt".into()),
    ];
    for (what, proof) in bad {
        let resp = token(&app, &client, &grant, Some(&proof)).await;
        assert_eq!(error_of(resp).await, (400, "invalid_dpop_proof".into()), "{what}");
    }
    // Two DPoP headers.
    let (a, b) = (key.proof(&app, "POST", "/token", None, None), key.proof(&app, "POST", "/token", None, None));
    let secret = client.secret.as_deref().unwrap();
    let resp = app
        .api
        .post(app.url("/token"))
        .basic_auth(&client.id, Some(secret))
        .header("DPoP", a)
        .header("DPoP", b)
        .form(&grant)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(resp).await, (400, "invalid_dpop_proof".into()), "two proofs");
    // A good proof, with the URL written differently (§4.3 check 9 ignores query and fragment).
    let mut c = good();
    c["htu"] = json!(format!("{}?x=1#y", app.url("/token")));
    // Signed the same way as the private-key case above, which shows that case failed for its key.
    let proof = key.sign_raw(&json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk }), &c);
    let resp = token(&app, &client, &grant, Some(&proof)).await;
    assert_eq!(resp.status(), 200);
    let issued: Value = resp.json().await.unwrap();
    assert_eq!(issued["token_type"], "DPoP");
    // Introspection tells a resource server the key (§6.2).
    let access = issued["access_token"].as_str().unwrap();
    let resp = app
        .api
        .post(app.url("/introspect"))
        .basic_auth(&client.id, Some(secret))
        .form(&[("token", access)])
        .send()
        .await
        .unwrap();
    let info: Value = resp.json().await.unwrap();
    assert_eq!((info["active"].clone(), info["token_type"].clone()), (json!(true), json!("DPoP")));
    assert_eq!(info["cnf"]["jkt"], key.jkt().as_str());
    // The same proof again: replayed (§11.1).
    let resp = token(&app, &client, &grant, Some(&proof)).await;
    assert_eq!(error_of(resp).await, (400, "invalid_dpop_proof".into()), "a proof is good once");
    // Without a proof, a bearer token as before.
    let resp = token(&app, &client, &grant, None).await;
    assert_eq!(resp.json::<Value>().await.unwrap()["token_type"], "Bearer");
    // Discovery says which algorithms a proof may use (§5.1).
    let meta: Value =
        app.api.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    let algs = meta["dpop_signing_alg_values_supported"].as_array().unwrap();
    assert!(algs.contains(&json!("ES256")) && !algs.contains(&json!("HS256")) && !algs.contains(&json!("none")));
});

// §8: with `oidc.dpop_nonce`, a proof without the server's nonce gets `use_dpop_nonce` and the
// nonce; one with it passes; a nonce stays good 5 to 10 minutes.
both_backends!(with_nonces_on_a_proof_must_carry_a_fresh_one, |db: Db| async move {
    let app = spawn_app_with(db, |s| s.oidc.dpop_nonce = true).await;
    let client = app.register_client(false, Alg::ES256).await;
    let key = DpopKey::new();
    let grant = [("grant_type", "client_credentials")];
    let resp = token(&app, &client, &grant, Some(&key.proof(&app, "POST", "/token", None, None))).await;
    let nonce = resp.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert_eq!(error_of(resp).await, (400, "use_dpop_nonce".into()));
    let forged = key.proof(&app, "POST", "/token", None, Some("1.AAAAAAAAAAAAAAAAAAAAAA"));
    assert_eq!(error_of(token(&app, &client, &grant, Some(&forged)).await).await, (400, "use_dpop_nonce".into()));
    let resp = token(&app, &client, &grant, Some(&key.proof(&app, "POST", "/token", None, Some(&nonce)))).await;
    assert_eq!(resp.status(), 200);
    let access = resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    // The resource side says the same in its header (§9).
    let user = app.register_client(false, Alg::ES256).await;
    let back = app.sign_in(&app.browser(), &authorize_url(&app, &user, &[]), &unique_email()).await;
    let code = query_param(&back, "code").unwrap();
    let redeem = redeem(&code, &user);
    let resp = token(&app, &user, &redeem, Some(&key.proof(&app, "POST", "/token", None, Some(&nonce)))).await;
    let user_access = resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let resp =
        userinfo(&app, "DPoP", &user_access, Some(&key.proof(&app, "GET", "/userinfo", Some(&user_access), None)))
            .await;
    assert_eq!(resp.status(), 401);
    assert!(www_authenticate(&resp).starts_with("DPoP error=\"use_dpop_nonce\""), "{}", www_authenticate(&resp));
    assert!(resp.headers().get("dpop-nonce").is_some());
    let proof = key.proof(&app, "GET", "/userinfo", Some(&user_access), Some(&nonce));
    assert_eq!(userinfo(&app, "DPoP", &user_access, Some(&proof)).await.status(), 200);
    assert!(!access.is_empty());
    // Eleven minutes on, the nonce is stale.
    app.clock.advance(660);
    let resp = token(&app, &client, &grant, Some(&key.proof(&app, "POST", "/token", None, Some(&nonce)))).await;
    assert_eq!(error_of(resp).await, (400, "use_dpop_nonce".into()));
});

// §10.1: a proof sent with a pushed request binds the code; §5.2: a client registered with
// `dpop_bound_access_tokens` must always send one.
both_backends!(a_pushed_request_binds_the_code_and_registration_can_require_dpop, |db: Db| async move {
    let app = crate::client_auth::registering_app(db).await;
    let key = DpopKey::new();
    let (status, registered) = crate::client_auth::register(
        &app,
        json!({ "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none", "dpop_bound_access_tokens": true }),
    )
    .await;
    assert_eq!(status, 201, "{registered}");
    assert_eq!(registered["dpop_bound_access_tokens"], true);
    let client = TestClient {
        id: registered["client_id"].as_str().unwrap().into(),
        secret: None,
        redirect_uri: "https://app.example/cb".into(),
    };
    let pushed = push(&app, &client, &key, None).await;
    assert_eq!(pushed.status(), 201);
    let request_uri = pushed.json::<Value>().await.unwrap()["request_uri"].as_str().unwrap().to_owned();
    let url = format!("{}/authorize?client_id={}&request_uri={}", app.base, client.id, urlencode(&request_uri));
    let back = app.sign_in(&app.browser(), &url, &unique_email()).await;
    let code = query_param(&back, "code").unwrap();
    let redeem = redeem(&code, &client);
    let other = DpopKey::new().proof(&app, "POST", "/token", None, None);
    assert_eq!(error_of(token(&app, &client, &redeem, Some(&other)).await).await, (400, "invalid_dpop_proof".into()));
    let resp = token(&app, &client, &redeem, Some(&key.proof(&app, "POST", "/token", None, None))).await;
    assert_eq!(resp.status(), 200);
    // A pushed `dpop_jkt` that names another key than the proof is refused.
    let pushed = push(&app, &client, &key, Some(&DpopKey::new().jkt())).await;
    assert_eq!(error_of(pushed).await, (400, "invalid_dpop_proof".into()));
    // Without a proof, this client gets nothing (here: a code it does not even have).
    let redeem = [("grant_type", "authorization_code"), ("code", "x"), ("redirect_uri", client.redirect_uri.as_str())];
    assert_eq!(error_of(token(&app, &client, &redeem, None).await).await, (400, "invalid_dpop_proof".into()));
});

/// The form that redeems `code` for `client` with the tests' PKCE verifier.
fn redeem<'a>(code: &'a str, client: &'a TestClient) -> [(&'static str, &'a str); 4] {
    [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("code_verifier", VERIFIER),
    ]
}

/// A pushed authorization request of `client`, with a proof of `key` (and a `dpop_jkt`, if given).
async fn push(app: &TestApp, client: &TestClient, key: &DpopKey, dpop_jkt: Option<&str>) -> reqwest::Response {
    let mut form = vec![
        ("client_id", client.id.as_str()),
        ("response_type", "code"),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("scope", "openid"),
        ("code_challenge", crate::oidc::CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    form.extend(dpop_jkt.map(|jkt| ("dpop_jkt", jkt)));
    let proof = key.proof(app, "POST", "/par", None, None);
    app.api.post(app.url("/par")).header("DPoP", proof).form(&form).send().await.unwrap()
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

// A DPoP-bound token is exchanged (RFC 8693) only with a proof of its own key: an exchange never
// turns it into a bearer token.
both_backends!(a_bound_token_is_exchanged_only_with_a_proof_of_its_key, |db: Db| async move {
    let app = spawn_app(db).await;
    let user = app.register_client(true, Alg::ES256).await;
    let service = app
        .register_client_with(false, Alg::ES256, domain::ClientSettings { token_exchange: true, ..Default::default() })
        .await;
    let key = DpopKey::new();
    let back = app.sign_in(&app.browser(), &authorize_url(&app, &user, &[]), &unique_email()).await;
    let code = query_param(&back, "code").unwrap();
    let redeem = redeem(&code, &user);
    let resp = token(&app, &user, &redeem, Some(&key.proof(&app, "POST", "/token", None, None))).await;
    let bound = resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let exchange = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("subject_token", bound.as_str()),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
    ];
    assert_eq!(error_of(token(&app, &service, &exchange, None).await).await, (400, "invalid_dpop_proof".into()));
    let other = DpopKey::new().proof(&app, "POST", "/token", None, None);
    assert_eq!(
        error_of(token(&app, &service, &exchange, Some(&other)).await).await,
        (400, "invalid_dpop_proof".into())
    );
    let resp = token(&app, &service, &exchange, Some(&key.proof(&app, "POST", "/token", None, None))).await;
    let exchanged: Value = resp.json().await.unwrap();
    assert_eq!(exchanged["token_type"], "DPoP", "{exchanged}");
    assert_eq!(jwt_parts(exchanged["access_token"].as_str().unwrap()).1["cnf"]["jkt"], key.jkt().as_str());
});
