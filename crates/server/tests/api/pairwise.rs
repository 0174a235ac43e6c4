//! Issue 15, pairwise subjects (OpenID Connect Core §8.1, Registration §5): oidctest
//! OP-Registration-Sector-Bad, and what `oidcc-registration-sector-uri` checks.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use testkit::{Db, TestApp, TestClient, both_backends, location, query_param};

use crate::certification::{app, register};
use crate::oidc::{authorize_url, exchange};
use crate::{jwt_parts, unique_email};

/// Serves whatever document is set, at `/sector.json`, on a local port.
fn sector_server() -> (String, Arc<Mutex<Value>>) {
    let document = Arc::new(Mutex::new(Value::Null));
    let data = web::Data::new(Arc::clone(&document));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let serve = |doc: web::Data<Arc<Mutex<Value>>>| async move { HttpResponse::Ok().json(&*doc.lock().unwrap()) };
    let server = HttpServer::new(move || App::new().app_data(data.clone()).route("/sector.json", web::get().to(serve)))
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}/sector.json"), document)
}

/// Registers a confidential client; returns it (at its first redirect URI) and the registration.
async fn client(app: &TestApp, body: Value) -> (TestClient, Value) {
    let (status, reg) = register(app, body.clone()).await;
    assert_eq!(status, 201, "{body}: {reg}");
    let client = TestClient {
        id: reg["client_id"].as_str().unwrap().into(),
        secret: Some(reg["client_secret"].as_str().unwrap().into()),
        redirect_uri: body["redirect_uris"][0].as_str().unwrap().into(),
    };
    (client, reg)
}

/// The `sub` of the ID token, the access token, `/userinfo` and introspection, for `email`
/// signing in to `client` in `browser`; asserts they agree. Returns it and the ID token.
async fn subject(app: &TestApp, browser: &testkit::Browser, client: &TestClient, email: &str) -> (String, String) {
    let back = app.sign_in(browser, &authorize_url(app, client, &[]), email).await;
    let tokens = exchange(app, client, &back).await;
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();
    let access = tokens["access_token"].as_str().unwrap();
    let sub = jwt_parts(&id_token).1["sub"].as_str().unwrap().to_owned();
    assert_eq!(jwt_parts(access).1["sub"], sub.as_str(), "the access token names the same sub");
    let info: Value = app.api.get(app.url("/userinfo")).bearer_auth(access).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["sub"], sub.as_str(), "{info}");
    assert_eq!(info["email"], email, "the user's claims come with it");
    let secret = client.secret.as_deref().unwrap();
    let resp = app.api.post(app.url("/introspect")).basic_auth(&client.id, Some(secret)).form(&[("token", access)]);
    let inspected: Value = resp.send().await.unwrap().json().await.unwrap();
    assert_eq!((inspected["active"].as_bool(), inspected["sub"].as_str()), (Some(true), Some(sub.as_str())));
    (sub, id_token)
}

both_backends!(each_sector_sees_its_own_sub_for_the_same_user, |db: Db| async move {
    let app = app(db).await;
    let meta: Value =
        app.api.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(meta["subject_types_supported"], json!(["public", "pairwise"]));

    // Two clients on one host share a sector; a third names its sector by a document listing its
    // redirect URIs on two hosts; a fourth keeps public subjects.
    let (a1, reg) =
        client(&app, json!({ "redirect_uris": ["https://a.example/cb"], "subject_type": "pairwise" })).await;
    assert_eq!(reg["subject_type"], "pairwise");
    assert!(reg.get("sector_identifier_uri").is_none(), "{reg}");
    let (a2, _) =
        client(&app, json!({ "redirect_uris": ["https://a.example/other"], "subject_type": "pairwise" })).await;
    let (sector_uri, document) = sector_server();
    *document.lock().unwrap() = json!(["https://b.example/cb", "https://b2.example/cb", "https://b.example/unused"]);
    let body = json!({ "redirect_uris": ["https://b.example/cb", "https://b2.example/cb"], "subject_type": "pairwise",
        "sector_identifier_uri": sector_uri });
    let (b, reg) = client(&app, body).await;
    assert_eq!(
        (reg["subject_type"].as_str(), reg["sector_identifier_uri"].as_str()),
        (Some("pairwise"), Some(sector_uri.as_str()))
    );
    let (public, reg) = client(&app, json!({ "redirect_uris": ["https://p.example/cb"] })).await;
    assert_eq!(reg["subject_type"], "public");

    let email = unique_email();
    let browser = app.browser();
    let (sub_a1, id_token_a1) = subject(&app, &browser, &a1, &email).await;
    let (sub_a2, _) = subject(&app, &app.browser(), &a2, &email).await;
    let (sub_b, _) = subject(&app, &app.browser(), &b, &email).await;
    let (sub_public, _) = subject(&app, &app.browser(), &public, &email).await;
    assert_eq!(sub_a1, sub_a2, "one sector, one sub");
    assert_ne!(sub_a1, sub_b, "another sector, another sub");
    assert!(sub_a1.len() == 43 && sub_b.len() == 43, "{sub_a1} {sub_b}");
    assert!(![&sub_a1, &sub_b].contains(&&sub_public), "a pairwise sub is not the public one");
    let (other_user, _) = subject(&app, &app.browser(), &a1, &unique_email()).await;
    assert_ne!(other_user, sub_a1, "another user, another sub");

    // The client's ID token names its user as a hint (OIDC Core §3.1.2.1): with the pairwise sub,
    // the browser's session is the one named, and single sign-on answers at once.
    let hinted = authorize_url(&app, &a1, &[("prompt", "none"), ("id_token_hint", &id_token_a1)]);
    let resp = browser.get(&hinted).await;
    let back = url::Url::parse(&location(&resp)).unwrap();
    assert!(query_param(&back, "code").is_some(), "{back}");
    let (_, other_token) = subject(&app, &app.browser(), &a1, &unique_email()).await;
    let resp = browser.get(&authorize_url(&app, &a1, &[("prompt", "none"), ("id_token_hint", &other_token)])).await;
    let back = url::Url::parse(&location(&resp)).unwrap();
    assert_eq!(query_param(&back, "error").as_deref(), Some("login_required"), "another user's hint");
});

both_backends!(a_sector_identifier_uri_must_list_every_redirect_uri, |db: Db| async move {
    // OP-Registration-Sector-Bad: a document that leaves a redirect URI out refuses the registration.
    let app = app(db).await;
    let (sector_uri, document) = sector_server();
    *document.lock().unwrap() = json!(["https://b.example/cb"]);
    let uris = json!(["https://b.example/cb", "https://c.example/cb"]);
    for subject_type in [json!("pairwise"), Value::Null] {
        let body = json!({ "redirect_uris": uris, "subject_type": subject_type, "sector_identifier_uri": sector_uri });
        let (status, error) = register(&app, body).await;
        assert_eq!((status, error["error"].as_str()), (400, Some("invalid_client_metadata")), "{error}");
        assert!(error["error_description"].as_str().unwrap().contains("https://c.example/cb"), "{error}");
    }
    // Not a list of URIs; not a URL that may be fetched; several hosts and no document; a type
    // that does not exist.
    *document.lock().unwrap() = json!({ "redirect_uris": ["https://b.example/cb"] });
    let refused = [
        json!({ "redirect_uris": ["https://b.example/cb"], "subject_type": "pairwise", "sector_identifier_uri": sector_uri }),
        json!({ "redirect_uris": ["https://b.example/cb"], "subject_type": "pairwise", "sector_identifier_uri": "ftp://b.example/s" }),
        json!({ "redirect_uris": uris, "subject_type": "pairwise" }),
        json!({ "redirect_uris": ["http://127.0.0.1/cb"], "application_type": "native", "subject_type": "pairwise" }),
        json!({ "redirect_uris": ["https://b.example/cb"], "subject_type": "secret" }),
    ];
    for body in refused {
        let (status, error) = register(&app, body.clone()).await;
        assert_eq!((status, error["error"].as_str()), (400, Some("invalid_client_metadata")), "{body}: {error}");
    }
    // Once the document lists them all, the same registration is taken.
    *document.lock().unwrap() = json!(["https://b.example/cb", "https://c.example/cb"]);
    let body = json!({ "redirect_uris": uris, "subject_type": "pairwise", "sector_identifier_uri": sector_uri });
    assert_eq!(register(&app, body).await.0, 201);
});
