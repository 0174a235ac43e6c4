//! Issue 15, OpenID Connect Back-Channel Logout 1.0 (oidctest OP-BackChannel-Discovery and the
//! back-channel logout plan): when a session ends, each client signed in through it that
//! registered a `backchannel_logout_uri` gets a signed logout token, delivered durably with retries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use authorization_server::Alg;
use domain::ClientSettings;
use serde_json::{Value, json};
use testkit::{Db, TestApp, TestClient, both_backends};

use crate::oidc::{authorize_url, exchange};
use crate::{jwt_parts, unique_email};

const REGISTRATION_TOKEN: &str = "initial-access-token-0123456789abcdef";

/// What the clients' back ends saw, and what they answer.
#[derive(Default)]
struct Receiver {
    /// Per path: the statuses to answer, in order; 200 once they run out.
    answers: HashMap<String, Vec<u16>>,
    /// Per POST: (path, content type, logout_token).
    got: Vec<(String, String, String)>,
}

type Shared = Arc<Mutex<Receiver>>;

async fn receive(
    path: web::Path<String>,
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
    state: web::Data<Shared>,
) -> HttpResponse {
    let path = path.into_inner();
    let kind = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let mut s = state.lock().unwrap();
    s.got.push((path.clone(), kind, form.get("logout_token").cloned().unwrap_or_default()));
    let status = s.answers.get_mut(&path).filter(|a| !a.is_empty()).map(|a| a.remove(0)).unwrap_or(200);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

fn receiver() -> (String, Shared) {
    let state: Shared = Arc::default();
    let data = web::Data::new(state.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || App::new().app_data(data.clone()).route("/{path}", web::post().to(receive)))
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}"), state)
}

/// Waits (up to 30 s) until the receiver has seen `n` POSTs; returns them.
async fn until_got(state: &Shared, n: usize) -> Vec<(String, String, String)> {
    for _ in 0..600 {
        let got = state.lock().unwrap().got.clone();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("expected {n} logout POSTs, saw {:?}", state.lock().unwrap().got);
}

/// The claims of a logout token, once its signature verifies with the published keys (§2.6).
async fn verified(app: &TestApp, token: &str, client_id: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let jwks: jsonwebtoken::jwk::JwkSet =
        app.api.get(app.url("/jwks.json")).send().await.unwrap().json().await.unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("the token's kid is published");
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[client_id]);
    validation.set_issuer(&[&app.base]);
    // The test's clock is not the machine's: expiry is checked below against `iat`.
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["iss", "aud", "sub", "iat", "exp"]);
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation).expect("a valid signature").claims;
    assert_eq!(claims["events"], json!({ "http://schemas.openid.net/event/backchannel-logout": {} }));
    assert!(claims.get("nonce").is_none(), "§2.4: a logout token has no nonce");
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16), "{claims}");
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!((1..=120).contains(&lifetime), "{claims}");
    claims
}

async fn app(db: Db) -> TestApp {
    testkit::spawn_app_with(db, |s| s.oidc.registration_token = Some(domain::Secret::new(REGISTRATION_TOKEN.into())))
        .await
}

async fn register(app: &TestApp, body: Value) -> (u16, Value) {
    let resp = app.api.post(app.url("/register")).bearer_auth(REGISTRATION_TOKEN).json(&body).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

fn with_back_channel(uri: String) -> ClientSettings {
    ClientSettings { backchannel_logout_uri: Some(uri), ..Default::default() }
}

both_backends!(an_ended_session_sends_each_client_a_signed_logout_token_until_it_is_taken, |db: Db| async move {
    let app = app(db).await;
    let (base, state) = receiver();
    let meta: Value =
        app.api.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (&meta["backchannel_logout_supported"], &meta["backchannel_logout_session_supported"]),
        (&json!(true), &json!(true))
    );
    for bad in ["https://app.example/bc#here", "ftp://app.example/bc", "/bc"] {
        let (status, refused) =
            register(&app, json!({ "redirect_uris": ["https://app.example/cb"], "backchannel_logout_uri": bad })).await;
        assert_eq!((status, refused["error"].as_str()), (400, Some("invalid_client_metadata")), "{bad}: {refused}");
    }
    let (status, reg) = register(
        &app,
        json!({ "redirect_uris": ["https://app.example/cb"], "backchannel_logout_uri": format!("{base}/a"),
                "backchannel_logout_session_required": true }),
    )
    .await;
    assert_eq!(status, 201, "{reg}");
    assert_eq!(
        (reg["backchannel_logout_uri"].as_str(), &reg["backchannel_logout_session_required"]),
        (Some(format!("{base}/a").as_str()), &json!(true))
    );
    let a = TestClient {
        id: reg["client_id"].as_str().unwrap().into(),
        secret: Some(reg["client_secret"].as_str().unwrap().into()),
        redirect_uri: "https://app.example/cb".into(),
    };
    // B's back end is down for its first attempt; C has no back-channel endpoint.
    let b = app.register_client_with(false, Alg::ES256, with_back_channel(format!("{base}/b"))).await;
    let c = app.register_client(false, Alg::RS256).await;
    state.lock().unwrap().answers.insert("b".into(), vec![503]);

    let browser = app.browser();
    let back = app.sign_in(&browser, &authorize_url(&app, &a, &[]), &unique_email()).await;
    let id_token = exchange(&app, &a, &back).await["id_token"].as_str().unwrap().to_owned();
    let (_, id_claims) = jwt_parts(&id_token);
    for other in [&b, &c] {
        assert_eq!(browser.get(&authorize_url(&app, other, &[])).await.status(), 303, "single sign-on");
    }
    assert!(state.lock().unwrap().got.is_empty(), "nothing is sent while the session lives");
    let mut logout = url::Url::parse(&app.url("/logout")).unwrap();
    logout.query_pairs_mut().append_pair("id_token_hint", &id_token);
    let resp = browser.get(logout.as_str()).await;
    assert!(resp.status().is_success() || resp.status().is_redirection(), "{}", resp.status());

    // A at once; B's first attempt fails, and it is tried again once due, with the same token id.
    let got = until_got(&state, 2).await;
    let first_b = got.iter().find(|g| g.0 == "b").unwrap().2.clone();
    let a_token = &got.iter().find(|g| g.0 == "a").unwrap().2;
    for (path, kind, _) in &got {
        assert_eq!(kind, "application/x-www-form-urlencoded", "{path}");
    }
    let a_claims = verified(&app, a_token, &a.id).await;
    assert_eq!((&a_claims["sub"], &a_claims["sid"]), (&id_claims["sub"], &id_claims["sid"]));
    // B's failure is recorded after B answered: the clock moves on only once it is, or the retry
    // would be scheduled from the later time.
    let sid = id_claims["sid"].as_str().unwrap();
    for _ in 0..600 {
        let notices = app.store.logout_notices(sid).await.unwrap();
        if notices.iter().any(|n| n.0 == b.id && n.2.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.clock.advance(11);
    let got = until_got(&state, 3).await;
    assert_eq!(got.iter().filter(|g| g.0 == "b").count(), 2);
    let b_claims = verified(&app, &got[2].2, &b.id).await;
    assert_eq!(b_claims["jti"], verified(&app, &first_b, &b.id).await["jti"], "a retry carries the same jti");
    assert_ne!(b_claims["jti"], a_claims["jti"]);
    assert_eq!(jsonwebtoken::decode_header(&got[2].2).unwrap().alg, jsonwebtoken::Algorithm::ES256, "as its ID tokens");
    for _ in 0..100 {
        if app.store.logout_notices(sid).await.unwrap().iter().all(|n| n.1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let notices = app.store.logout_notices(sid).await.unwrap();
    assert_eq!(notices.len(), 2, "one per client with an endpoint: {notices:?}");
    assert!(notices.iter().all(|(_, settled, error)| *settled && error.is_none()), "{notices:?}");
    // Nothing more is sent.
    app.clock.advance(3_600);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(state.lock().unwrap().got.len(), 3);
});

both_backends!(blocking_a_user_tells_their_clients_and_a_refusal_is_not_sent_again, |db: Db| async move {
    let app = app(db).await;
    let (base, state) = receiver();
    let rp = app.register_client_with(false, Alg::RS256, with_back_channel(format!("{base}/rp"))).await;
    let refusing = app.register_client_with(false, Alg::RS256, with_back_channel(format!("{base}/no"))).await;
    state.lock().unwrap().answers.insert("no".into(), vec![400, 400]);
    let browser = app.browser();
    let back = app.sign_in(&browser, &authorize_url(&app, &rp, &[]), &unique_email()).await;
    let id_token = exchange(&app, &rp, &back).await["id_token"].as_str().unwrap().to_owned();
    let (_, id_claims) = jwt_parts(&id_token);
    assert_eq!(browser.get(&authorize_url(&app, &refusing, &[])).await.status(), 303);

    let (_, token) = crate::admin::admin_token(&app).await;
    let sub = id_claims["sub"].as_str().unwrap();
    let resp = app
        .api
        .post(app.url(&format!("/api/admin/v1/users/{sub}/block")))
        .bearer_auth(&token)
        .json(&json!({ "reason": "stolen phone" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got = until_got(&state, 2).await;
    let rp_token = &got.iter().find(|g| g.0 == "rp").expect("the client is told").2;
    assert_eq!(verified(&app, rp_token, &rp.id).await["sid"], id_claims["sid"]);
    // The client that answered 400 is not sent the token again (§2.8: its logout failed there).
    app.clock.advance(3_600);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(state.lock().unwrap().got.iter().filter(|g| g.0 == "no").count(), 1);
    let notices = app.store.logout_notices(id_claims["sid"].as_str().unwrap()).await.unwrap();
    let refused = notices.iter().find(|n| n.0 == refusing.id).unwrap();
    assert!(refused.1 && refused.2.as_deref() == Some("the client answered HTTP 400"), "{notices:?}");
});
