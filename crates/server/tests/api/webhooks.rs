//! Event webhooks: events reach each endpoint that wants them, signed, with one id for every
//! attempt; a failing endpoint is retried, then disabled, and an admin enables it and replays an
//! event; a node killed mid-delivery loses nothing; two nodes deliver each event once.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use domain::events::EventType;
use domain::{Clock, MasterKey};
use serde_json::{Value, json};
use testkit::{Db, PostgresDatabase, TestApp, both_backends, spawn_app_with};

use crate::admin::admin_token;
use crate::unique_email;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One request the receiver saw.
#[derive(Clone, Debug)]
struct Seen {
    endpoint: String,
    id: String,
    body: Value,
    verified: bool,
    /// Whether it was answered 2xx.
    accepted: bool,
}

#[derive(Default)]
struct Receiver {
    /// The status to answer with (200 when 0).
    status: u16,
    /// Hold each request this long, then answer 503.
    hang_ms: u64,
    /// Requests that arrived (answered or not yet).
    arrived: usize,
    seen: Vec<Seen>,
}

type Shared = Arc<Mutex<Receiver>>;

async fn receive(req: HttpRequest, body: web::Bytes, state: web::Data<Shared>) -> HttpResponse {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let secret = hooks::SigningSecret::parse(SECRET).unwrap();
    let ts: i64 = header("webhook-timestamp").parse().unwrap_or_default();
    let id = header("webhook-id");
    let verified = secret.verify(&id, ts, &body, &header("webhook-signature"), ts, 300);
    let hang = {
        let mut s = state.lock().unwrap();
        s.arrived += 1;
        s.hang_ms
    };
    tokio::time::sleep(Duration::from_millis(hang)).await;
    let mut s = state.lock().unwrap();
    let status = match (hang, s.status) {
        (1.., _) => 503,
        (_, 0) => 200,
        (_, status) => status,
    };
    let endpoint = req.match_info().get("endpoint").unwrap_or_default().to_owned();
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.seen.push(Seen { endpoint, id, body, verified, accepted: status < 300 });
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

/// A receiver at `http://127.0.0.1:PORT/{endpoint}`.
fn receiver() -> (String, Shared) {
    let state: Shared = Arc::default();
    let data = web::Data::new(state.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server =
        HttpServer::new(move || App::new().app_data(data.clone()).route("/{endpoint}", web::post().to(receive)))
            .workers(2)
            .listen(listener)
            .unwrap()
            .run();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}"), state)
}

fn endpoint(url: &str, events: &[&str], disable_after_minutes: i64) -> hooks::webhooks::WebhookSettings {
    serde_json::from_value(json!({
        "url": url, "secret": SECRET, "events": events, "timeout_ms": 1000,
        "disable_after_minutes": disable_after_minutes,
    }))
    .unwrap()
}

fn seen(state: &Shared) -> Vec<Seen> {
    state.lock().unwrap().seen.clone()
}

/// Waits (up to 30 s) until `done` holds of what the receiver saw.
async fn until(state: &Shared, what: &str, done: impl Fn(&[Seen]) -> bool) -> Vec<Seen> {
    for _ in 0..600 {
        let all = seen(state);
        if done(&all) {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: the receiver saw {:#?}", seen(state));
}

fn types_at(all: &[Seen], endpoint: &str) -> Vec<String> {
    all.iter().filter(|s| s.endpoint == endpoint).map(|s| s.body["type"].as_str().unwrap_or("?").to_owned()).collect()
}

both_backends!(events_reach_each_endpoint_that_wants_them_signed_once, |db: Db| async move {
    let (base, state) = receiver();
    let app = spawn_app_with(db, |s| {
        s.webhooks.insert("everything".into(), endpoint(&format!("{base}/everything"), &[], 60));
        s.webhooks.insert("users".into(), endpoint(&format!("{base}/users"), &["user.created", "user.blocked"], 60));
    })
    .await;
    let email = unique_email();
    let client = app.register_client(false, authorization_server::Alg::RS256).await;
    let url = crate::oidc::authorize_url(&app, &client, &[]);
    app.sign_in(&app.browser(), &url, &email).await;
    let all = until(&state, "a sign-up and a sign-in", |all| {
        let everything = types_at(all, "everything");
        everything.contains(&"user.created".into()) && everything.contains(&"sign_in.succeeded".into())
    })
    .await;
    let created = all.iter().find(|s| s.endpoint == "everything" && s.body["type"] == "user.created").unwrap();
    assert_eq!(created.body["data"]["detail"]["email"], email.as_str());
    assert_eq!(created.body["data"]["source"], "sign_up");
    let user_id = created.body["data"]["user_id"].as_str().unwrap().to_owned();
    // An admin blocks the account: `user.blocked` and `admin.action` to one, only the block to the other.
    let (_, token) = admin_token(&app).await;
    let resp = app
        .api
        .post(app.url(&format!("/api/admin/v1/users/{user_id}/block")))
        .bearer_auth(&token)
        .json(&json!({"reason": "testing"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let all = until(&state, "the block", |all| {
        types_at(all, "everything").contains(&"admin.action".into()) && types_at(all, "users").len() == 2
    })
    .await;
    assert_eq!(types_at(&all, "users"), ["user.created", "user.blocked"]);
    for s in &all {
        crate::assert_schema("event.json", &s.body);
        assert!(s.verified, "a signed request: {s:?}");
        assert_eq!(s.body["id"], s.id.as_str(), "the body's id is the webhook-id");
        assert!(s.id.starts_with("evt_"));
    }
    // Each event to each endpoint once (nothing failed).
    let pairs: HashSet<_> = all.iter().map(|s| (s.endpoint.clone(), s.id.clone())).collect();
    assert_eq!(pairs.len(), all.len(), "{all:#?}");
    // The user.created an endpoint got is the same event (same id) the other got.
    let ids_of = |e: &str, t: &str| -> Vec<String> {
        all.iter().filter(|s| s.endpoint == e && s.body["type"] == t).map(|s| s.id.clone()).collect()
    };
    assert_eq!(ids_of("everything", "user.created"), ids_of("users", "user.created"));
    // Erased: user.deleted goes out, and the events kept for admins no longer say who it was.
    let resp =
        app.api.delete(app.url(&format!("/api/admin/v1/users/{user_id}"))).bearer_auth(&token).send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    until(&state, "the erasure", |all| types_at(all, "everything").contains(&"user.deleted".into())).await;
    let events: Value = app
        .api
        .get(app.url("/api/admin/v1/events?type=user.created&limit=200"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mine =
        events["events"].as_array().unwrap().iter().find(|e| e["payload"]["data"]["user_id"] == user_id.as_str());
    let mine = mine.expect("the sign-up's event is still listed");
    assert_eq!(mine["payload"]["data"]["detail"], json!({"erased": true}), "{mine}");
    assert!(!events.to_string().contains(&email), "the address is gone from the outbox");
});

/// Polls (up to 30 s) an admin API page until `done` holds of it.
async fn admin_until(app: &TestApp, token: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut body = Value::Null;
    for _ in 0..600 {
        let status;
        (status, body) = admin_api(app, token, reqwest::Method::GET, path).await;
        assert_eq!(status, 200, "{path}: {body}");
        if done(&body) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} never got there: {body}");
}

/// Waits until the one event's first delivery has its next attempt at `at`: the worker recorded
/// the failure of the attempt the receiver answered (`retry_delay` after it).
async fn recorded_until(app: &TestApp, token: &str, at: i64) {
    admin_until(app, token, "/api/admin/v1/events", |p| p["events"][0]["deliveries"][0]["next_attempt_at"] == at).await;
}

async fn admin_api(app: &TestApp, token: &str, method: reqwest::Method, path: &str) -> (u16, Value) {
    let resp = app.api.request(method, app.url(path)).bearer_auth(token).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

both_backends!(a_failing_endpoint_is_retried_disabled_enabled_and_replayed, |db: Db| async move {
    let (base, state) = receiver();
    state.lock().unwrap().status = 500;
    let app = spawn_app_with(db, |s| {
        s.webhooks.insert("crm".into(), endpoint(&format!("{base}/crm"), &["user.updated"], 1));
    })
    .await;
    let (_, token) = admin_token(&app).await;
    let now = app.clock.now();
    app.store.emit(EventType::UserUpdated, None, json!({"n": 1}), now).await.unwrap();
    let first = until(&state, "the first attempt", |all| !all.is_empty()).await;
    let id = first[0].id.clone();
    // The receiver answers before the worker records the failure: wait for the record.
    let body =
        admin_until(&app, &token, "/api/admin/v1/webhooks", |b| b["endpoints"][0]["last_error"].is_string()).await;
    let crm = &body["endpoints"][0];
    assert_eq!(crm["name"], "crm");
    assert_eq!(crm["failing_since"], now);
    assert_eq!(crm["disabled_at"], Value::Null);
    assert_eq!(crm["waiting"], 1);
    assert!(crm["last_error"].as_str().unwrap().contains("500"), "{crm}");
    // Tried again after the back-off, not before.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(seen(&state).len(), 1);
    app.clock.advance(10);
    until(&state, "the second attempt", |all| all.len() == 2).await;
    // Recorded, with the next attempt a minute later (`retry_delay`), before the clock moves on: a
    // failure recorded after it would be scheduled from the later time.
    recorded_until(&app, &token, now + 10 + 60).await;
    // Failing for longer than a minute: disabled on the next failure, and then left alone.
    app.clock.advance(120);
    until(&state, "the third attempt", |all| all.len() == 3).await;
    let body =
        admin_until(&app, &token, "/api/admin/v1/webhooks", |b| !b["endpoints"][0]["disabled_at"].is_null()).await;
    assert_eq!(body["endpoints"][0]["disabled_at"], now + 130, "{body}");
    app.clock.advance(86_400);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(seen(&state).len(), 3, "a disabled endpoint gets nothing");
    // Enabled again: what waited goes out at once.
    state.lock().unwrap().status = 200;
    let (_, token) = admin_token(&app).await;
    let (status, body) = admin_api(&app, &token, reqwest::Method::POST, "/api/admin/v1/webhooks/crm/enable").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["disabled_at"], Value::Null);
    let all = until(&state, "the delivery after enabling", |all| all.iter().any(|s| s.accepted)).await;
    assert!(all.iter().all(|s| s.id == id && s.verified), "every attempt carries the event's id: {all:#?}");
    // The event as admins see it (once the worker has recorded the delivery), then replayed with the same id.
    let page = admin_until(&app, &token, "/api/admin/v1/events?type=user.updated", |p| {
        p["events"][0]["deliveries"][0]["delivered_at"].is_i64()
    })
    .await;
    assert_eq!(page["events"][0]["id"], id.as_str());
    // Three failures, then the delivery after enabling (the back-off starts again, the count goes on).
    assert_eq!(page["events"][0]["deliveries"][0]["attempts"], 4);
    assert!(page["events"][0]["deliveries"][0]["delivered_at"].is_i64(), "{page}");
    let (status, body) =
        admin_api(&app, &token, reqwest::Method::POST, &format!("/api/admin/v1/events/{id}/replay")).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["endpoints"], json!(["crm"]));
    let all = until(&state, "the replay", |all| all.iter().filter(|s| s.accepted).count() == 2).await;
    assert_eq!(all.last().unwrap().id, id);
    assert_eq!(all.last().unwrap().body, all[0].body, "a replay sends the same body");
    let (status, _) = admin_api(&app, &token, reqwest::Method::POST, "/api/admin/v1/events/evt_nothing/replay").await;
    assert_eq!(status, 404);
    let (status, _) = admin_api(&app, &token, reqwest::Method::POST, "/api/admin/v1/webhooks/nobody/enable").await;
    assert_eq!(status, 404);
    let (status, _) = admin_api(&app, &token, reqwest::Method::GET, "/api/admin/v1/events?type=user.exploded").await;
    assert_eq!(status, 422);
    // Both admin actions are in the audit log.
    let (_, audit) = admin_api(&app, &token, reqwest::Method::GET, "/api/admin/v1/audit?kind=admin.webhooks").await;
    let actions: Vec<_> = audit["entries"].as_array().unwrap().iter().map(|e| e["detail"]["action"].clone()).collect();
    assert_eq!(actions, [json!("replayed"), json!("enabled")]);
});

/// A running `ostiary serve`; killed (SIGKILL) on drop.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A node on `db` delivering to `url` (`[webhooks.crm]`).
async fn node(db: &str, key: &MasterKey, url: &str) -> Node {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_ostiary"))
        .arg("serve")
        .env_remove("RUST_LOG")
        .env("OSTIARY__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("OSTIARY__SERVER__ISSUER", format!("http://127.0.0.1:{port}"))
        .env("OSTIARY__SERVER__LOG", "error")
        .env("OSTIARY__SERVER__DATA_DIR", std::env::temp_dir().join("ostiary-webhooks"))
        .env("OSTIARY__DATABASE__URL", db)
        .env("OSTIARY__SECRETS__MASTER_KEY", key.to_base64())
        .env("OSTIARY__DEMO__ENABLED", "false")
        .env("OSTIARY__WEBHOOKS__CRM__URL", url)
        .env("OSTIARY__WEBHOOKS__CRM__SECRET", SECRET)
        .env("OSTIARY__WEBHOOKS__CRM__TIMEOUT_MS", "1000")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the ostiary binary starts");
    let node = Node(child);
    for _ in 0..300 {
        if reqwest::get(format!("http://127.0.0.1:{port}/health")).await.is_ok_and(|r| r.status() == 200) {
            return node;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the node on port {port} did not start");
}

/// Events written as Ostiary writes them (with their deliveries to `crm`), from a store of the
/// test's own on the nodes' database.
async fn write_events(db: &str, n: usize) {
    let store = store::Store::connect(db, 2).unwrap();
    store.migrate().unwrap();
    let route = domain::events::Route { endpoint: "crm".into(), types: vec![] };
    store.route_events(vec![route]).await.unwrap();
    let now = domain::SystemClock.now();
    for i in 0..n {
        store.emit(EventType::UserUpdated, None, json!({ "n": i }), now).await.unwrap();
    }
}

/// Every request's id and body per id: duplicates must carry the same body.
fn by_id(all: &[Seen]) -> HashMap<String, Vec<Value>> {
    let mut out: HashMap<String, Vec<Value>> = HashMap::new();
    for s in all {
        assert!(s.verified, "{s:?}");
        out.entry(s.id.clone()).or_default().push(s.body.clone());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_delivery_loses_nothing_and_repeats_the_same_id() {
    let db = PostgresDatabase::create().await;
    let key = MasterKey::generate();
    let (base, state) = receiver();
    // The first attempts hang past the node's death.
    state.lock().unwrap().hang_ms = 3000;
    let url = format!("{base}/crm");
    let first = node(&db.url, &key, &url).await;
    write_events(&db.url, 5).await;
    // Killed (SIGKILL) while deliveries are in flight.
    for _ in 0..400 {
        if state.lock().unwrap().arrived > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(state.lock().unwrap().arrived > 0, "the first node never delivered");
    drop(first);
    state.lock().unwrap().hang_ms = 0;
    let _second = node(&db.url, &key, &url).await;
    let all = until(&state, "every event after the restart", |all| {
        all.iter().filter(|s| s.accepted).map(|s| s.id.clone()).collect::<HashSet<_>>().len() == 5
    })
    .await;
    for (id, bodies) in by_id(&all) {
        assert!(bodies.iter().all(|b| b == &bodies[0] && b["id"] == id.as_str()), "{id}: {bodies:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_deliver_each_event_once() {
    let db = PostgresDatabase::create().await;
    let key = MasterKey::generate();
    let (base, state) = receiver();
    let url = format!("{base}/crm");
    let _a = node(&db.url, &key, &url).await;
    let _b = node(&db.url, &key, &url).await;
    write_events(&db.url, 60).await;
    let all = until(&state, "every event", |all| all.len() >= 60).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let all = if seen(&state).len() > all.len() { seen(&state) } else { all };
    let ids = by_id(&all);
    assert_eq!(ids.len(), 60);
    assert!(ids.values().all(|bodies| bodies.len() == 1), "an event delivered twice: {all:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_endpoints_and_events_and_replays_and_enables() {
    let (base, state) = receiver();
    state.lock().unwrap().status = 500;
    let app = spawn_app_with(Db::Sqlite, |s| {
        s.webhooks.insert("crm".into(), endpoint(&format!("{base}/crm"), &["user.deleted"], 1));
    })
    .await;
    let (browser, _) = crate::admin_console::console_admin(&app).await;
    let now = app.clock.now();
    app.store.emit(EventType::UserDeleted, None, json!({"n": 1}), now).await.unwrap();
    let (_, token) = admin_token(&app).await;
    until(&state, "the first attempt", |all| !all.is_empty()).await;
    // Each failure is recorded after the receiver answers: the clock moves on only once it is, or
    // the next attempt would be scheduled from the later time.
    recorded_until(&app, &token, now + 5).await;
    app.clock.advance(10);
    until(&state, "the second attempt", |all| all.len() == 2).await;
    recorded_until(&app, &token, now + 10 + 60).await;
    app.clock.advance(120);
    until(&state, "the third attempt, which disables it", |all| all.len() == 3).await;
    admin_until(&app, &token, "/api/admin/v1/webhooks", |b| !b["endpoints"][0]["disabled_at"].is_null()).await;
    let html = browser.get("/admin/webhooks").await.text().await.unwrap();
    assert!(html.contains("crm") && html.contains("Disabled since") && html.contains("HTTP 500"), "{html}");
    assert!(html.contains("user.deleted") && html.contains("not delivered yet"), "{html}");
    let csrf = testkit::csrf_of(&html);
    // A form without its CSRF token does nothing.
    let refused = browser.post_form("/admin/webhooks/crm/enable", &[]).await;
    assert_eq!(refused.status(), 403);
    state.lock().unwrap().status = 200;
    let enabled = browser.post_form("/admin/webhooks/crm/enable", &[("csrf", &csrf)]).await;
    assert_eq!(enabled.status(), 303);
    let all = until(&state, "the delivery after enabling", |all| all.iter().any(|s| s.accepted)).await;
    let html = browser.get("/admin/webhooks").await.text().await.unwrap();
    assert!(html.contains("Healthy") && html.contains("delivered"), "{html}");
    let replayed = browser.post_form(&format!("/admin/events/{}/replay", all[0].id), &[("csrf", &csrf)]).await;
    assert_eq!(replayed.status(), 303);
    let again = until(&state, "the replay", |all| all.iter().filter(|s| s.accepted).count() == 2).await;
    assert_eq!(again.last().unwrap().id, all[0].id);
    let missing = browser.post_form("/admin/events/evt_nothing/replay", &[("csrf", &csrf)]).await;
    assert_eq!(missing.status(), 404);
}
