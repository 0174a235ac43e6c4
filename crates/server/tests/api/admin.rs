//! The admin API (`/api/admin/v1`): who may call it, and users found, created and changed with
//! ETags, on both backends.

use authorization_server::Alg;
use domain::audit::AuditKind;
use serde_json::{Value, json};
use testkit::{Db, TestApp, TestClient, both_backends, spawn_app};

use crate::oidc::{authorize_url, exchange};
use crate::{unique_email, unique_phone};

const USERS: &str = "/api/admin/v1/users";

fn admin_settings() -> domain::ClientSettings {
    domain::ClientSettings { admin_api: true, ..Default::default() }
}

pub async fn client_token(app: &TestApp, client: &TestClient, scope: Option<&str>) -> reqwest::Response {
    let mut params = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        params.push(("scope", scope));
    }
    app.token_request(&params, Some((&client.id, client.secret.as_deref().unwrap()))).await
}

/// An admin API client and its `admin` token.
pub async fn admin_token(app: &TestApp) -> (TestClient, String) {
    let client = app.register_client_with(false, Alg::RS256, admin_settings()).await;
    let resp = client_token(app, &client, Some("admin")).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["scope"], "admin", "{body}");
    (client, body["access_token"].as_str().unwrap().to_owned())
}

async fn call(app: &TestApp, method: reqwest::Method, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
    let req = app.api.request(method, app.url(path));
    match token {
        Some(t) => req.bearer_auth(t),
        None => req,
    }
}

async fn send(req: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let resp = req.send().await.unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    let text = resp.text().await.unwrap();
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn create(app: &TestApp, token: &str, body: Value) -> (u16, reqwest::header::HeaderMap, Value) {
    send(call(app, reqwest::Method::POST, USERS, Some(token)).await.json(&body)).await
}

async fn patch(app: &TestApp, token: &str, id: &str, if_match: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = call(app, reqwest::Method::PATCH, &format!("{USERS}/{id}"), Some(token)).await.json(&body);
    if let Some(tag) = if_match {
        req = req.header("If-Match", tag);
    }
    let (status, _, body) = send(req).await;
    (status, body)
}

/// Every route, each with a body it would accept from an admin.
fn routes(id: &str) -> Vec<(reqwest::Method, String, Option<Value>)> {
    vec![
        (reqwest::Method::GET, USERS.to_owned(), None),
        (reqwest::Method::POST, USERS.to_owned(), Some(json!({ "email": unique_email() }))),
        (reqwest::Method::GET, format!("{USERS}/{id}"), None),
        (reqwest::Method::PATCH, format!("{USERS}/{id}"), Some(json!({ "profile": { "name": "Mallory" } }))),
        (reqwest::Method::DELETE, format!("{USERS}/{id}"), None),
        (reqwest::Method::POST, format!("{USERS}/{id}/block"), Some(json!({}))),
        (reqwest::Method::POST, format!("{USERS}/{id}/unblock"), None),
        (reqwest::Method::GET, format!("{USERS}/{id}/sessions"), None),
        (reqwest::Method::GET, format!("{USERS}/{id}/events"), None),
        (reqwest::Method::DELETE, "/api/admin/v1/sessions/some-session".to_owned(), None),
        (reqwest::Method::GET, "/api/admin/v1/blocks".to_owned(), None),
        (reqwest::Method::DELETE, "/api/admin/v1/blocks/some-block".to_owned(), None),
        (reqwest::Method::GET, "/api/admin/v1/audit".to_owned(), None),
        (reqwest::Method::GET, "/api/admin/v1/clients".to_owned(), None),
        (reqwest::Method::GET, format!("{USERS}/{id}/links"), None),
        (reqwest::Method::POST, format!("{USERS}/{id}/factors/reset"), None),
        (reqwest::Method::POST, format!("{USERS}/{id}/links"), Some(json!({ "user_id": id }))),
        (reqwest::Method::DELETE, format!("{USERS}/{id}/links/{id}"), None),
        (reqwest::Method::GET, format!("{USERS}/export"), None),
        (reqwest::Method::POST, format!("{USERS}/import"), Some(json!([{ "email": unique_email() }]))),
        (
            reqwest::Method::POST,
            "/api/admin/v1/clients".to_owned(),
            Some(json!({ "name": "X", "redirect_uris": ["https://x.example/cb"] })),
        ),
        (reqwest::Method::GET, "/api/admin/v1/clients/some-client".to_owned(), None),
        (reqwest::Method::PATCH, "/api/admin/v1/clients/some-client".to_owned(), Some(json!({ "name": "Y" }))),
        (reqwest::Method::DELETE, "/api/admin/v1/clients/some-client".to_owned(), None),
        (reqwest::Method::POST, "/api/admin/v1/clients/some-client/secret".to_owned(), None),
    ]
}

both_backends!(only_an_admin_token_of_an_admin_client_opens_the_admin_api, |db: Db| async move {
    let app = spawn_app(db).await;
    let email = unique_email();
    let user = app.store.create_user(&domain::EmailAddress::parse(&email).unwrap(), 0).await.unwrap();
    // A client without the admin API cannot get the scope; without a scope its token is not enough.
    let plain = app.register_client(false, Alg::RS256).await;
    let refused: Value = client_token(&app, &plain, Some("admin")).await.json().await.unwrap();
    assert_eq!(refused["error"], "invalid_scope");
    let plain_token: Value = client_token(&app, &plain, None).await.json().await.unwrap();
    let plain_token = plain_token["access_token"].as_str().unwrap().to_owned();
    // A user's own access token, from a sign-in.
    let back = app.sign_in(&app.browser(), &authorize_url(&app, &plain, &[]), &unique_email()).await;
    let user_token = exchange(&app, &plain, &back).await["access_token"].as_str().unwrap().to_owned();
    // An admin client's token without asking for the scope.
    let (admin_client, _) = admin_token(&app).await;
    let unscoped: Value = client_token(&app, &admin_client, None).await.json().await.unwrap();
    let unscoped = unscoped["access_token"].as_str().unwrap().to_owned();
    for (method, path, body) in routes(user.id.as_str()) {
        let attempt = |token: Option<String>| {
            let (method, path, body) = (method.clone(), path.clone(), body.clone());
            let app = &app;
            async move {
                let mut req = call(app, method, &path, token.as_deref()).await.header("If-Match", "\"1\"");
                if let Some(b) = body {
                    req = req.json(&b);
                }
                send(req).await
            }
        };
        let (status, headers, body) = attempt(None).await;
        assert_eq!(status, 401, "{method} {path}: {body}");
        assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Bearer"), "{method} {path}");
        let (status, headers, _) = attempt(Some("not-a-token".into())).await;
        assert_eq!(status, 401, "{method} {path}");
        assert!(headers["www-authenticate"].to_str().unwrap().contains("invalid_token"));
        for token in [&plain_token, &user_token, &unscoped] {
            let (status, headers, body) = attempt(Some(token.clone())).await;
            assert_eq!(status, 403, "{method} {path}: {body}");
            assert!(headers["www-authenticate"].to_str().unwrap().contains("insufficient_scope"));
            // Nothing about any account in a refusal.
            let text = body.to_string();
            assert!(
                !text.contains(&email) && !text.contains(user.id.as_str()) && body.get("users").is_none(),
                "{text}"
            );
            assert_eq!(body["error"], "insufficient_scope");
        }
    }
    // Disabling an admin client (from another one) stops its live tokens at once.
    let (first, first_token) = admin_token(&app).await;
    let (_, second_token) = admin_token(&app).await;
    let disable = app
        .api
        .patch(app.url(&format!("/api/admin/v1/clients/{}", first.id)))
        .bearer_auth(&second_token)
        .header("If-Match", "*")
        .json(&json!({ "disabled": true }));
    assert_eq!(disable.send().await.unwrap().status(), 200);
    assert_eq!(
        send(call(&app, reqwest::Method::GET, USERS, Some(&first_token)).await).await.0,
        401,
        "its tokens are revoked"
    );
    // Turning the admin API off for a client takes effect on its live tokens at once.
    let (admin_client, token) = admin_token(&app).await;
    let (status, _, _) = send(call(&app, reqwest::Method::GET, USERS, Some(&token)).await).await;
    assert_eq!(status, 200);
    let mut stored = app.store.client(&domain::ClientId::parse(&admin_client.id).unwrap()).await.unwrap().unwrap();
    stored.settings.admin_api = false;
    app.store.upsert_client(&stored).await.unwrap();
    let (status, _, _) = send(call(&app, reqwest::Method::GET, USERS, Some(&token)).await).await;
    assert_eq!(status, 403);
});

both_backends!(admins_create_find_read_and_change_users_and_every_change_is_audited, |db: Db| async move {
    let app = spawn_app(db).await;
    let (admin_client, token) = admin_token(&app).await;
    let marker = domain::secret::random_token(6).to_lowercase().replace(['-', '_'], "x");
    let email = format!("ann.{marker}@example.com");
    let (status, headers, ann) = create(&app, &token, json!({ "email": email, "profile": { "name": "Ann" } })).await;
    assert_eq!(status, 201, "{ann}");
    let id = ann["id"].as_str().unwrap().to_owned();
    assert_eq!(headers["location"], format!("{USERS}/{id}").as_str());
    assert_eq!(headers["etag"], "\"1\"");
    assert_eq!((ann["email"].as_str(), ann["email_verified"].as_bool()), (Some(email.as_str()), Some(false)));
    assert_eq!((ann["version"].as_i64(), ann["is_admin"].as_bool()), (Some(1), Some(false)));
    assert_eq!(ann["profile"]["name"], "Ann");
    assert!(ann["phone_number"].is_null() && ann["created_at"].is_i64());

    // Refusals name their field.
    let (status, _, body) = create(&app, &token, json!({ "email": email.to_uppercase() })).await;
    assert_eq!((status, body["error"].as_str(), body["field"].as_str()), (409, Some("conflict"), Some("email")));
    let (status, _, body) = create(&app, &token, json!({ "email": "not an address" })).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("email")), "{body}");
    let (status, _, body) = create(&app, &token, json!({ "email": unique_email(), "password": "x" })).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("password")), "{body}");
    let (status, _, body) = create(&app, &token, json!({ "profile": { "name": "Nobody" } })).await;
    assert_eq!(status, 422, "{body}");
    let (status, _, body) = create(&app, &token, json!({ "email": unique_email(), "profile": { "shoe": "9" } })).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("profile.shoe")), "{body}");
    let raw = call(&app, reqwest::Method::POST, USERS, Some(&token)).await;
    let (status, _, body) = send(raw.header("Content-Type", "application/json").body("{\"email\":")).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    let raw = call(&app, reqwest::Method::POST, USERS, Some(&token)).await;
    let (status, _, _) = send(raw.form(&[("email", unique_email())])).await;
    assert_eq!(status, 415);
    let raw = call(&app, reqwest::Method::POST, USERS, Some(&token)).await;
    let huge = json!({ "email": unique_email(), "profile": { "name": "x".repeat(70_000) } });
    let (status, _, body) = send(raw.json(&huge)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");

    // Read, and find by part of the address, by number and by id.
    let (status, headers, read) =
        send(call(&app, reqwest::Method::GET, &format!("{USERS}/{id}"), Some(&token)).await).await;
    assert_eq!((status, &read), (200, &ann));
    assert_eq!(headers["etag"], "\"1\"");
    assert_eq!(headers["cache-control"], "no-store");
    let (status, _, _) = send(call(&app, reqwest::Method::GET, &format!("{USERS}/nobody"), Some(&token)).await).await;
    assert_eq!(status, 404);
    let phone = unique_phone();
    let (_, _, bob) = create(
        &app,
        &token,
        json!({ "email": format!("bob.{marker}@example.com"), "phone_number": phone, "phone_verified": true, "reason": "met in person" }),
    )
    .await;
    let (_, _, cy) = create(&app, &token, json!({ "email": format!("cy.{marker}@example.com") })).await;
    let find = |q: String| {
        let app = &app;
        let token = &token;
        async move {
            let (status, _, body) =
                send(call(app, reqwest::Method::GET, &format!("{USERS}?{q}"), Some(token)).await).await;
            assert_eq!(status, 200, "{body}");
            body
        }
    };
    let ids = |body: &Value| {
        body["users"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    let all = find(format!("q={marker}")).await;
    let mut expected = vec![id.clone(), bob["id"].as_str().unwrap().to_owned(), cy["id"].as_str().unwrap().to_owned()];
    expected.sort();
    assert_eq!(ids(&all), expected);
    assert!(all["next_cursor"].is_null());
    let first = find(format!("q={marker}&limit=2")).await;
    assert_eq!(ids(&first), expected[..2]);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = find(format!("q={marker}&limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&second), expected[2..]);
    assert!(second["next_cursor"].is_null());
    assert_eq!(
        ids(&find(format!("q={}", phone.trim_start_matches('+'))).await),
        vec![bob["id"].as_str().unwrap().to_owned()]
    );
    assert_eq!(ids(&find(format!("q={id}")).await), vec![id.clone()]);
    assert!(ids(&find("q=%25".into()).await).is_empty(), "a LIKE wildcard is a literal");
    let (status, _, body) =
        send(call(&app, reqwest::Method::GET, &format!("{USERS}?limit=0"), Some(&token)).await).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("limit")));

    // Changes need the version they were made from.
    let change = json!({ "profile": { "name": "Ann Lee", "locale": "fr-FR" }, "phone_number": unique_phone(), "is_admin": true });
    assert_eq!(patch(&app, &token, &id, None, change.clone()).await.0, 428);
    assert_eq!(patch(&app, &token, &id, Some("\"7\""), change.clone()).await.0, 412);
    assert_eq!(patch(&app, &token, &id, Some("W/\"1\""), change.clone()).await.0, 412, "If-Match compares strongly");
    let (status, after) = patch(&app, &token, &id, Some("\"1\""), change.clone()).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!((after["version"].as_i64(), after["is_admin"].as_bool()), (Some(2), Some(true)));
    assert_eq!(
        (after["profile"]["name"].as_str(), after["profile"]["locale"].as_str()),
        (Some("Ann Lee"), Some("fr-FR"))
    );
    assert_eq!(after["phone_verified"], false, "a new number is unverified unless the admin says so");
    // A second admin who read version 1 cannot overwrite the first one's change.
    let (status, body) =
        patch(&app, &token, &id, Some("\"1\""), json!({ "profile": { "name": "Someone else" } })).await;
    assert_eq!((status, body["error"].as_str()), (412, Some("precondition_failed")));
    let current = &body["current"];
    assert_eq!(
        (current["version"].as_i64(), current["profile"]["name"].as_str()),
        (Some(2), Some("Ann Lee")),
        "both versions"
    );
    let stored = app.store.user(&domain::UserId::parse(&id).unwrap()).await.unwrap().unwrap();
    assert_eq!(serde_json::to_value(&stored.profile).unwrap()["name"], "Ann Lee");
    // Unique contacts, and an account keeps one.
    let (status, body) = patch(&app, &token, &id, Some("\"2\""), json!({ "phone_number": phone })).await;
    assert_eq!((status, body["field"].as_str()), (409, Some("phone_number")), "{body}");
    let (status, body) = patch(&app, &token, &id, Some("*"), json!({ "email": null, "phone_number": null })).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("email")), "{body}");
    let unchanged = app.store.user(&domain::UserId::parse(&id).unwrap()).await.unwrap().unwrap();
    assert_eq!(
        (unchanged.version, unchanged.email.is_some(), unchanged.phone.is_some()),
        (2, true, true),
        "refusals change nothing"
    );

    // Who did what, from where, before and after.
    let audit = app.store.audit_of(&domain::UserId::parse(&id).unwrap(), 10).await.unwrap();
    let kinds: Vec<AuditKind> = audit.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![AuditKind::AdminUserUpdated, AuditKind::AdminUserCreated]);
    let updated = &audit[0].detail;
    assert_eq!(updated["actor"], json!({ "type": "client", "client_id": admin_client.id }));
    assert_eq!(updated["ip"], "127.0.0.1");
    assert_eq!((updated["before"]["version"].as_i64(), updated["after"]["version"].as_i64()), (Some(1), Some(2)));
    assert_eq!(updated["before"]["profile"]["name"], "Ann");
    assert_eq!(audit[1].detail["after"]["email"], email.as_str());
});

both_backends!(a_blocked_user_loses_every_token_and_cannot_sign_in_until_unblocked, |db: Db| async move {
    let app = spawn_app(db).await;
    let (_, token) = admin_token(&app).await;
    let rp = app.register_client(false, Alg::RS256).await;
    let email = unique_email();
    let url = crate::oidc::authorize_url_with(&app, &rp, &["scope"], &[("scope", "openid email offline_access")]);
    let browser = app.browser();
    let back = app.sign_in(&browser, &url, &email).await;
    let tokens = exchange(&app, &rp, &back).await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let user = app.store.user_by_email(&domain::EmailAddress::parse(&email).unwrap()).await.unwrap().unwrap();

    let path = format!("{USERS}/{}/block", user.id);
    let req =
        call(&app, reqwest::Method::POST, &path, Some(&token)).await.json(&json!({ "reason": "fraud report 42" }));
    let (status, _, blocked) = send(req).await;
    assert_eq!(status, 200, "{blocked}");
    assert_eq!((blocked["blocked"].as_bool(), blocked["blocked_at"].is_i64()), (Some(true), true));
    // Every token of the account is dead at once.
    let params = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
    let resp = app.token_request(&params, Some((&rp.id, rp.secret.as_deref().unwrap()))).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let userinfo = app.api.get(app.url("/userinfo")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(userinfo.status(), 401);
    // The session is gone, and a new sign-in is refused with a page that says why, after the code.
    let seen = app.message_ids_to(&email).await;
    let code_page = app.start_login(&browser, &url, &email).await;
    let code = app.new_message_to(&email, &seen).await.code();
    let refused = app.submit_code(&browser, &code_page, &code).await;
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("This account is blocked"));
    let audit = app.store.audit_of(&user.id, 1).await.unwrap();
    assert_eq!(audit[0].kind, AuditKind::AdminUserBlocked);
    assert_eq!(audit[0].detail["reason"], "fraud report 42");
    assert!(audit[0].detail["sessions_ended"].as_u64().unwrap() >= 1, "{}", audit[0].detail);
    assert!(audit[0].detail["grants_revoked"].as_u64().unwrap() >= 1, "{}", audit[0].detail);
    let req = call(&app, reqwest::Method::POST, &path, Some(&token)).await.json(&json!({ "reason": "a\nb" }));
    assert_eq!(send(req).await.0, 422, "a reason is one line");

    let unblock = format!("{USERS}/{}/unblock", user.id);
    let (status, _, unblocked) = send(call(&app, reqwest::Method::POST, &unblock, Some(&token)).await).await;
    assert_eq!((status, unblocked["blocked"].as_bool()), (200, Some(false)), "{unblocked}");
    let back = app.sign_in(&app.browser(), &url, &email).await;
    assert!(exchange(&app, &rp, &back).await["refresh_token"].is_string(), "signed in again");
    let (status, _, _) =
        send(call(&app, reqwest::Method::POST, &format!("{USERS}/nobody/block"), Some(&token)).await).await;
    assert_eq!(status, 404);
});

both_backends!(admins_see_and_end_sessions_and_read_the_sign_in_history, |db: Db| async move {
    let app = spawn_app(db).await;
    let (_, token) = admin_token(&app).await;
    let rp = app.register_client(false, Alg::RS256).await;
    let email = unique_email();
    let url = authorize_url(&app, &rp, &[]);
    let first = exchange(&app, &rp, &app.sign_in(&app.browser(), &url, &email).await).await;
    let second = exchange(&app, &rp, &app.sign_in(&app.browser(), &url, &email).await).await;
    let sid =
        |tokens: &Value| crate::jwt_parts(tokens["id_token"].as_str().unwrap()).1["sid"].as_str().unwrap().to_owned();
    let user = app.store.user_by_email(&domain::EmailAddress::parse(&email).unwrap()).await.unwrap().unwrap();
    let sessions_path = format!("{USERS}/{}/sessions", user.id);

    let (status, _, listed) = send(call(&app, reqwest::Method::GET, &sessions_path, Some(&token)).await).await;
    assert_eq!(status, 200, "{listed}");
    let sids: Vec<&str> = listed["sessions"].as_array().unwrap().iter().map(|s| s["sid"].as_str().unwrap()).collect();
    assert_eq!(sids.len(), 2, "{listed}");
    assert!(sids.contains(&sid(&first).as_str()) && sids.contains(&sid(&second).as_str()));
    assert_eq!(listed["sessions"][0]["amr"], json!(["otp"]));

    // Ending one signs the user out there: its grants without offline_access are revoked.
    let end = format!("/api/admin/v1/sessions/{}", sid(&first));
    let (status, _, _) = send(call(&app, reqwest::Method::DELETE, &end, Some(&token)).await).await;
    assert_eq!(status, 204);
    let userinfo = |access: String| {
        let app = &app;
        async move { app.api.get(app.url("/userinfo")).bearer_auth(access).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(userinfo(first["access_token"].as_str().unwrap().to_owned()).await, 401);
    assert_eq!(userinfo(second["access_token"].as_str().unwrap().to_owned()).await, 200, "the other session lives");
    let (_, _, listed) = send(call(&app, reqwest::Method::GET, &sessions_path, Some(&token)).await).await;
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 1);
    let (status, _, _) = send(call(&app, reqwest::Method::DELETE, &end, Some(&token)).await).await;
    assert_eq!(status, 404, "already ended");
    let audit = app.store.audit_of(&user.id, 1).await.unwrap();
    assert_eq!(
        (audit[0].kind, audit[0].detail["sid"].as_str()),
        (AuditKind::AdminSessionEnded, Some(sid(&first).as_str()))
    );

    // The history: each sign-in with its client, place, device and step-up's reasons.
    let events_path = format!("{USERS}/{}/events", user.id);
    let (status, _, events) = send(call(&app, reqwest::Method::GET, &events_path, Some(&token)).await).await;
    assert_eq!(status, 200, "{events}");
    let events = events["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 2);
    for e in &events {
        assert_eq!(e["client_id"], rp.id.as_str());
        assert_eq!(
            (e["ip"].as_str(), e["acr"].is_string(), e["reasons"].is_array()),
            (Some("127.0.0.1"), true, true),
            "{e}"
        );
    }
    assert!(events[0]["at"].as_i64() >= events[1]["at"].as_i64(), "newest first");
    let (status, _, one) =
        send(call(&app, reqwest::Method::GET, &format!("{events_path}?limit=1"), Some(&token)).await).await;
    assert_eq!((status, one["events"].as_array().unwrap().len()), (200, 1));
    let (status, _, _) =
        send(call(&app, reqwest::Method::GET, &format!("{events_path}?limit=1000"), Some(&token)).await).await;
    assert_eq!(status, 422);
});

both_backends!(an_erased_user_leaves_only_an_anonymised_audit_trail, |db: Db| async move {
    let app = spawn_app(db).await;
    let (_, token) = admin_token(&app).await;
    let rp = app.register_client(false, Alg::RS256).await;
    let email = unique_email();
    let url = crate::oidc::authorize_url_with(&app, &rp, &["scope"], &[("scope", "openid email offline_access")]);
    let tokens = exchange(&app, &rp, &app.sign_in(&app.browser(), &url, &email).await).await;
    let user = app.store.user_by_email(&domain::EmailAddress::parse(&email).unwrap()).await.unwrap().unwrap();
    let path = format!("{USERS}/{}", user.id);
    let (status, _) = patch(&app, &token, user.id.as_str(), Some("*"), json!({ "profile": { "name": "Erin" } })).await;
    assert_eq!(status, 200);

    let (status, _, _) = send(call(&app, reqwest::Method::DELETE, &path, Some(&token)).await).await;
    assert_eq!(status, 204);
    let (status, _, _) = send(call(&app, reqwest::Method::GET, &path, Some(&token)).await).await;
    assert_eq!(status, 404);
    let (status, _, _) = send(call(&app, reqwest::Method::DELETE, &path, Some(&token)).await).await;
    assert_eq!(status, 404, "already gone");
    let params = [("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())];
    let resp = app.token_request(&params, Some((&rp.id, rp.secret.as_deref().unwrap()))).await;
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_grant");
    // The trail stays, with who acted and what was decided, and nothing personal.
    let audit = app.store.audit_of(&user.id, 50).await.unwrap();
    assert_eq!(audit[0].kind, AuditKind::AdminUserErased);
    assert!(audit.iter().any(|e| e.kind == AuditKind::AdminUserUpdated && e.detail["actor"].is_object()));
    for entry in &audit[1..] {
        assert_eq!(entry.detail["erased"], true, "{:?}", entry);
        let text = entry.detail.to_string();
        assert!(!text.contains(&email) && !text.contains("Erin") && !text.contains("127.0.0.1"), "{text}");
    }
    // The address can sign up again, as someone new.
    let _ = exchange(&app, &rp, &app.sign_in(&app.browser(), &url, &email).await).await;
    let again = app.store.user_by_email(&domain::EmailAddress::parse(&email).unwrap()).await.unwrap().unwrap();
    assert_ne!(again.id, user.id);
});

both_backends!(admins_lift_ip_blocks_and_page_through_the_audit_log, |db: Db| async move {
    use domain::Clock;
    use passwordless_connection::storage::{BlockScope, BlockStore, NewBlock};
    let app = spawn_app(db).await;
    let (admin_client, token) = admin_token(&app).await;
    let now = app.clock.now();
    let new = |ip: &str| NewBlock {
        ip: ip.into(),
        scope: BlockScope::AllAccounts,
        reason: "too many wrong codes".into(),
        unblock_hash: None,
        created_at: now,
        expires_at: now + 3600,
    };
    let id = BlockStore::insert_block(&app.store, new("192.0.2.7")).await.unwrap().unwrap();
    let (status, _, listed) = send(call(&app, reqwest::Method::GET, "/api/admin/v1/blocks", Some(&token)).await).await;
    assert_eq!(status, 200);
    let block = listed["blocks"].as_array().unwrap().iter().find(|b| b["id"] == id.as_str()).unwrap().clone();
    assert_eq!((block["ip"].as_str(), block["all_accounts"].as_bool()), (Some("192.0.2.7"), Some(true)));
    let lift = format!("/api/admin/v1/blocks/{id}");
    assert_eq!(send(call(&app, reqwest::Method::DELETE, &lift, Some(&token)).await).await.0, 204);
    assert!(!BlockStore::is_blocked(&app.store, "192.0.2.7", "", app.clock.now()).await.unwrap());
    assert_eq!(send(call(&app, reqwest::Method::DELETE, &lift, Some(&token)).await).await.0, 404);

    // The audit log: newest first, filtered, a page at a time.
    let mut created = Vec::new();
    for _ in 0..3 {
        created
            .push(create(&app, &token, json!({ "email": unique_email() })).await.2["id"].as_str().unwrap().to_owned());
    }
    let page = |q: String| {
        let (app, token) = (&app, &token);
        async move { send(call(app, reqwest::Method::GET, &format!("/api/admin/v1/audit?{q}"), Some(token)).await).await }
    };
    let (status, _, lifted) = page("kind=admin.block_lifted".into()).await;
    assert_eq!(status, 200, "{lifted}");
    assert_eq!(lifted["entries"][0]["detail"]["block"], id.as_str());
    let mine = format!("kind=admin.user_created&actor={}", admin_client.id);
    let (_, _, first) = page(format!("{mine}&limit=2")).await;
    let users = |p: &Value| {
        p["entries"].as_array().unwrap().iter().map(|e| e["user_id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(users(&first), vec![created[2].clone(), created[1].clone()]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, _, second) = page(format!("{mine}&limit=2&cursor={cursor}")).await;
    assert_eq!(users(&second), vec![created[0].clone()]);
    assert!(second["next_cursor"].is_null());
    let (_, _, one) = page(format!("user={}", created[1])).await;
    assert_eq!(users(&one), vec![created[1].clone()]);
    let (_, _, none) = page(format!("{mine}&since={}", now + 10_000)).await;
    assert!(none["entries"].as_array().unwrap().is_empty());
    let (status, _, body) = page("kind=made.up".into()).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("kind")));
    // The log cannot be edited through the API.
    let resp = app.api.delete(app.url("/api/admin/v1/audit")).bearer_auth(&token).send().await.unwrap();
    assert!(resp.status() == 404 || resp.status() == 405, "{}", resp.status());
});

both_backends!(
    a_changed_address_is_vouched_for_with_a_reason_or_verified_by_a_code_and_the_old_one_is_told,
    |db: Db| async move {
        let app = spawn_app(db).await;
        let (_, token) = admin_token(&app).await;
        let (old, vouched, coded) = (unique_email(), unique_email(), unique_email());
        let (_, _, user) =
            create(&app, &token, json!({ "email": old, "email_verified": true, "reason": "migrated" })).await;
        let id = user["id"].as_str().unwrap().to_owned();
        let (status, body) =
            patch(&app, &token, &id, Some("*"), json!({ "email": vouched, "email_verified": true })).await;
        assert_eq!((status, body["field"].as_str()), (422, Some("reason")), "an admin's word needs a reason");
        let change = json!({ "email": vouched, "email_verified": true, "reason": "verified by phone, ticket 7" });
        let (status, after) = patch(&app, &token, &id, Some("*"), change).await;
        assert_eq!((status, after["email_verified"].as_bool()), (200, Some(true)), "{after}");
        let notice = app.message_to(&old).await;
        assert!(notice.subject.contains("sign-in address changed"), "{}", notice.subject);
        assert!(notice.text.contains(&vouched), "{}", notice.text);
        let audit = app.store.audit_of(&domain::UserId::parse(&id).unwrap(), 1).await.unwrap();
        assert_eq!(audit[0].detail["reason"], "verified by phone, ticket 7");

        // Without the admin's word, the new address is unverified until a code sent to it is used.
        let (status, after) = patch(&app, &token, &id, Some("*"), json!({ "email": coded })).await;
        assert_eq!((status, after["email_verified"].as_bool()), (200, Some(false)));
        assert!(app.message_to(&vouched).await.text.contains(&coded), "the address it left is told");
        let rp = app.register_client(false, Alg::RS256).await;
        let tokens =
            exchange(&app, &rp, &app.sign_in(&app.browser(), &authorize_url(&app, &rp, &[]), &coded).await).await;
        let claims = crate::jwt_parts(tokens["id_token"].as_str().unwrap()).1;
        assert_eq!((claims["sub"].as_str(), claims["email_verified"].as_bool()), (Some(id.as_str()), Some(true)));
    }
);
