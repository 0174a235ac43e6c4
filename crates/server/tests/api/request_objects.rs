//! Request objects (OIDC Core §6, RFC 9101): the authorization request as a JWT, by value
//! (`request`) or by a registered reference (`request_uri`), signed with the client's keys, or
//! unsigned only for a client registered with `none`. oidctest: OP-request-Unsigned,
//! OP-request_uri-Unsigned, OP-request_uri-Sig, OP-request-Sig.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::Clock;
use serde_json::{Value, json};
use testkit::{Db, TestApp, TestClient, both_backends, location, query_param};

use crate::client_auth::{ClientKey, register, registering_app};
use crate::oidc::{CHALLENGE, exchange};
use crate::{jwt_parts, unique_email};

const REDIRECT_URI: &str = "https://app.example/cb";

/// The claims of a good request object for `client`: the whole request, state `st-obj`.
fn object(app: &TestApp, client: &str) -> Value {
    let now = app.clock.now();
    json!({
        "iss": client, "aud": app.base, "exp": now + 300, "iat": now,
        "client_id": client, "response_type": "code", "redirect_uri": REDIRECT_URI,
        "scope": "openid", "state": "st-obj", "nonce": "n-obj",
        "code_challenge": CHALLENGE, "code_challenge_method": "S256",
        "claims": { "id_token": { "email": { "essential": true } } },
    })
}

/// An unsigned JWT (RFC 7519 §6).
fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
    format!("{header}.{}.", URL_SAFE_NO_PAD.encode(claims.to_string()))
}

/// `/authorize` with only what OIDC Core §6.1 requires outside the object, plus `extra`.
fn url_with(app: &TestApp, client: &str, extra: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid");
    url.query_pairs_mut().extend_pairs(extra.iter());
    url.to_string()
}

/// Signs in through `url` and checks the request the object carried was the one answered.
async fn signs_in_with_the_object(app: &TestApp, client: &TestClient, url: &str) {
    let email = unique_email();
    let back = app.sign_in(&app.browser(), url, &email).await;
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-obj"), "{back}");
    let tokens = exchange(app, client, &back).await;
    let id = jwt_parts(tokens["id_token"].as_str().unwrap()).1;
    assert_eq!(id["nonce"], "n-obj");
    assert_eq!(id["email"], email.as_str(), "the object's claims request: {id}");
}

/// The error an authorization request with a refused object gets at the client's redirect URI.
async fn refused(app: &TestApp, url: &str) -> String {
    let resp = app.browser().get(url).await;
    assert_eq!(resp.status(), 303, "{url}");
    let back = url::Url::parse(&location(&resp)).expect("a redirect to the client");
    assert!(back.as_str().starts_with(REDIRECT_URI), "{back}");
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-outer"));
    assert!(query_param(&back, "code").is_none());
    query_param(&back, "error").unwrap()
}

both_backends!(a_signed_request_object_carries_the_request_and_a_bad_one_is_refused, |db: Db| async move {
    let app = registering_app(db).await;
    let meta: Value =
        app.api.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(meta["request_parameter_supported"], true);
    assert_eq!(meta["request_uri_parameter_supported"], true);
    assert_eq!(meta["require_request_uri_registration"], true);
    let algs = meta["request_object_signing_alg_values_supported"].as_array().unwrap();
    assert!(algs.contains(&json!("ES256")) && algs.contains(&json!("none")), "{algs:?}");

    // A client that authenticates with its secret registers keys for its request objects.
    let key = ClientKey::new("ro-1");
    let (status, reg) = register(
        &app,
        json!({ "redirect_uris": [REDIRECT_URI], "jwks": { "keys": [key.jwk] }, "request_object_signing_alg": "ES256" }),
    )
    .await;
    assert_eq!(status, 201, "{reg}");
    assert_eq!(reg["request_object_signing_alg"], "ES256");
    assert_eq!(reg["jwks"]["keys"][0]["kid"], "ro-1");
    let id = reg["client_id"].as_str().unwrap().to_owned();
    let client = TestClient {
        id: id.clone(),
        secret: Some(reg["client_secret"].as_str().unwrap().into()),
        redirect_uri: REDIRECT_URI.into(),
    };
    let good = key.sign(&object(&app, &id));
    signs_in_with_the_object(&app, &client, &url_with(&app, &id, &[("request", &good)])).await;

    // Each refusal goes back to the redirect URI the parameters name, with their state.
    let outer = |request: &str| {
        url_with(&app, &id, &[("request", request), ("redirect_uri", REDIRECT_URI), ("state", "st-outer")])
    };
    let changed = |f: &dyn Fn(&mut Value)| {
        let mut claims = object(&app, &id);
        f(&mut claims);
        claims
    };
    let cases = [
        ("another key", ClientKey::new("ro-1").sign(&object(&app, &id))),
        ("unsigned, not registered", unsigned(&object(&app, &id))),
        ("not a JWT", "not-a-jwt".to_owned()),
        ("another iss", key.sign(&changed(&|c| c["iss"] = json!("someone-else")))),
        ("another aud", key.sign(&changed(&|c| c["aud"] = json!("https://other.example")))),
        ("expired", key.sign(&changed(&|c| c["exp"] = json!(app.clock.now() - 3600)))),
        ("another client_id", key.sign(&changed(&|c| c["client_id"] = json!("someone-else")))),
        ("another response_type", key.sign(&changed(&|c| c["response_type"] = json!("token")))),
        ("a nested request_uri", key.sign(&changed(&|c| c["request_uri"] = json!("https://x.example/r")))),
    ];
    for (why, request) in &cases {
        assert_eq!(refused(&app, &outer(request)).await, "invalid_request_object", "{why}");
    }
    // The object's own checks still apply to what it carries: a redirect URI it changes must be
    // registered, and it is then a page, not a redirect.
    let elsewhere = key.sign(&changed(&|c| c["redirect_uri"] = json!("https://evil.example/cb")));
    let resp = app.browser().get(&url_with(&app, &id, &[("request", &elsewhere)])).await;
    assert_eq!(resp.status(), 400);
    // Without a redirect URI outside the object, a refused object is a page too.
    let resp = app.browser().get(&url_with(&app, &id, &[("request", "not-a-jwt")])).await;
    assert_eq!(resp.status(), 400);
    // `request` and `request_uri` together are malformed.
    let both = url_with(
        &app,
        &id,
        &[
            ("request", &good),
            ("request_uri", "https://x.example/r"),
            ("redirect_uri", REDIRECT_URI),
            ("state", "st-outer"),
        ],
    );
    assert_eq!(refused(&app, &both).await, "invalid_request");
});

/// A client's request-object server: the JWT it publishes, and how often it was fetched.
#[derive(Default)]
struct Published {
    jwt: Mutex<String>,
    fetches: Mutex<u32>,
}

async fn request_object(state: web::Data<Arc<Published>>) -> HttpResponse {
    *state.fetches.lock().unwrap() += 1;
    HttpResponse::Ok().content_type("application/oauth-authz-req+jwt").body(state.jwt.lock().unwrap().clone())
}

async fn object_server() -> (String, Arc<Published>) {
    let state = Arc::new(Published::default());
    let data = web::Data::new(Arc::clone(&state));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server =
        HttpServer::new(move || App::new().app_data(data.clone()).route("/req", web::get().to(request_object)))
            .workers(1)
            .listen(listener)
            .unwrap()
            .run();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}/req"), state)
}

both_backends!(a_request_uri_is_fetched_only_when_registered_and_none_only_when_chosen, |db: Db| async move {
    let app = registering_app(db).await;
    let (uri, published) = object_server().await;
    let (status, reg) = register(
        &app,
        json!({ "redirect_uris": [REDIRECT_URI], "request_object_signing_alg": "none", "request_uris": [uri] }),
    )
    .await;
    assert_eq!(status, 201, "{reg}");
    assert_eq!((reg["request_object_signing_alg"].as_str(), &reg["request_uris"]), (Some("none"), &json!([uri])));
    let id = reg["client_id"].as_str().unwrap().to_owned();
    let client = TestClient {
        id: id.clone(),
        secret: Some(reg["client_secret"].as_str().unwrap().into()),
        redirect_uri: REDIRECT_URI.into(),
    };
    // Unsigned, by reference; a fragment names a version of the object and is not sent.
    *published.jwt.lock().unwrap() = unsigned(&object(&app, &id));
    let by_reference = format!("{uri}#v1");
    signs_in_with_the_object(&app, &client, &url_with(&app, &id, &[("request_uri", &by_reference)])).await;
    // Unsigned, by value, too: the client chose none.
    let by_value = unsigned(&object(&app, &id));
    signs_in_with_the_object(&app, &client, &url_with(&app, &id, &[("request", &by_value)])).await;
    let fetched = *published.fetches.lock().unwrap();
    assert_eq!(fetched, 1);

    let outer = |extra: (&'static str, &str)| {
        url_with(&app, &id, &[extra, ("redirect_uri", REDIRECT_URI), ("state", "st-outer")])
    };
    // A URI the client did not register is never fetched.
    let unregistered = uri.replace("/req", "/other");
    assert_eq!(refused(&app, &outer(("request_uri", &unregistered))).await, "invalid_request_uri");
    assert_eq!(*published.fetches.lock().unwrap(), fetched);
    // Signed with a key the client never registered, against its choice of none.
    let signed = ClientKey::new("stray").sign(&object(&app, &id));
    assert_eq!(refused(&app, &outer(("request", &signed))).await, "invalid_request_object");
});

both_backends!(registration_refuses_request_object_metadata_it_cannot_honour, |db: Db| async move {
    let app = registering_app(db).await;
    let cases = [
        ("an unknown alg", json!({ "request_object_signing_alg": "XS999" })),
        ("an HMAC without client_secret_jwt", json!({ "request_object_signing_alg": "HS256" })),
        ("a request_uri that is no URL", json!({ "request_uris": ["not a url"] })),
        ("a private key in jwks", {
            let mut jwk = ClientKey::new("k").jwk;
            jwk["d"] = json!("AAAA");
            json!({ "jwks": { "keys": [jwk] } })
        }),
    ];
    for (why, extra) in cases {
        let mut body = json!({ "redirect_uris": [REDIRECT_URI] });
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let (status, answer) = register(&app, body).await;
        assert_eq!((status, answer["error"].as_str()), (400, Some("invalid_client_metadata")), "{why}: {answer}");
    }
    // A client_secret_jwt client may MAC its request objects with its secret.
    let body = json!({
        "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "client_secret_jwt",
        "request_object_signing_alg": "HS256",
    });
    let (status, reg) = register(&app, body).await;
    assert_eq!(status, 201, "{reg}");
    let id = reg["client_id"].as_str().unwrap().to_owned();
    let secret = reg["client_secret"].as_str().unwrap();
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    let maced =
        jsonwebtoken::encode(&header, &object(&app, &id), &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()))
            .unwrap();
    let client = TestClient { id: id.clone(), secret: Some(secret.into()), redirect_uri: REDIRECT_URI.into() };
    signs_in_with_the_object(&app, &client, &url_with(&app, &id, &[("request", &maced)])).await;
});

/// `POST /par` as `client` (HTTP Basic) with `form`: the status and the JSON answer.
async fn push(app: &TestApp, client: &TestClient, form: &[(&str, &str)]) -> (u16, Value) {
    let resp =
        app.api.post(app.url("/par")).basic_auth(&client.id, client.secret.as_deref()).form(form).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

/// The parameters of a good authorization request, as pushed.
fn pushed_request() -> Vec<(&'static str, &'static str)> {
    vec![
        ("response_type", "code"),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid"),
        ("state", "st-obj"),
        ("nonce", "n-obj"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("claims", r#"{"id_token": {"email": {"essential": true}}}"#),
    ]
}

// RFC 9126: a pushed request is checked when pushed, kept under a one-time request_uri for a
// minute, and used only by its client; a client registered with
// require_pushed_authorization_requests sends nothing else.
both_backends!(pushed_requests_are_checked_kept_and_used_once, |db: Db| async move {
    let app = registering_app(db).await;
    let meta: Value =
        app.api.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(meta["pushed_authorization_request_endpoint"], app.url("/par"));
    assert_eq!(meta["require_pushed_authorization_requests"], false);
    let (status, reg) =
        register(&app, json!({ "redirect_uris": [REDIRECT_URI], "require_pushed_authorization_requests": true })).await;
    assert_eq!(status, 201, "{reg}");
    assert_eq!(reg["require_pushed_authorization_requests"], true);
    let id = reg["client_id"].as_str().unwrap().to_owned();
    let client = TestClient {
        id: id.clone(),
        secret: Some(reg["client_secret"].as_str().unwrap().into()),
        redirect_uri: REDIRECT_URI.into(),
    };

    let (status, answer) = push(&app, &client, &pushed_request()).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["expires_in"], 60);
    let request_uri = answer["request_uri"].as_str().unwrap().to_owned();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"), "{request_uri}");
    let by_reference = url_with(&app, &id, &[("request_uri", &request_uri)]);
    signs_in_with_the_object(&app, &client, &by_reference).await;
    // Used once: the same request_uri again is refused.
    let again =
        url_with(&app, &id, &[("request_uri", &request_uri), ("redirect_uri", REDIRECT_URI), ("state", "st-outer")]);
    assert_eq!(refused(&app, &again).await, "invalid_request_uri");
    // This client sends only pushed requests.
    let direct = url_with(
        &app,
        &id,
        &[
            ("redirect_uri", REDIRECT_URI),
            ("state", "st-outer"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    assert_eq!(refused(&app, &direct).await, "invalid_request");

    // Another client cannot use it, and that does not spend it; a minute later nobody can.
    let (_, answer) = push(&app, &client, &pushed_request()).await;
    let request_uri = answer["request_uri"].as_str().unwrap().to_owned();
    let stranger = app.register_client(false, authorization_server::Alg::RS256).await;
    let resp = app.browser().get(&url_with(&app, &stranger.id, &[("request_uri", &request_uri)])).await;
    assert_eq!(resp.status(), 400);
    signs_in_with_the_object(&app, &client, &url_with(&app, &id, &[("request_uri", &request_uri)])).await;
    let (_, answer) = push(&app, &client, &pushed_request()).await;
    app.clock.advance(61);
    let late = url_with(
        &app,
        &id,
        &[
            ("request_uri", answer["request_uri"].as_str().unwrap()),
            ("redirect_uri", REDIRECT_URI),
            ("state", "st-outer"),
        ],
    );
    assert_eq!(refused(&app, &late).await, "invalid_request_uri");

    // Every check of /authorize runs when the request is pushed, answered as JSON.
    let with = |name: &'static str, value: &'static str| {
        let mut form = pushed_request();
        form.retain(|(k, _)| *k != name);
        form.push((name, value));
        form
    };
    let cases = [
        ("an unregistered redirect URI", with("redirect_uri", "https://evil.example/cb"), "invalid_request"),
        ("no openid", with("scope", "email"), "invalid_scope"),
        ("a reference", with("request_uri", "https://x.example/r"), "invalid_request"),
        ("a bad claims request", with("claims", "[]"), "invalid_request"),
        ("a bad request object", with("request", "not-a-jwt"), "invalid_request_object"),
    ];
    for (why, form, error) in cases {
        let (status, answer) = push(&app, &client, &form).await;
        assert_eq!((status, answer["error"].as_str()), (400, Some(error)), "{why}: {answer}");
    }
    let wrong = TestClient { secret: Some("wrong".into()), ..client.clone() };
    let (status, answer) = push(&app, &wrong, &pushed_request()).await;
    assert_eq!((status, answer["error"].as_str()), (401, Some("invalid_client")), "{answer}");
});
