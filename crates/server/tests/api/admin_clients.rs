//! The admin API's clients: registered, read, changed with ETags, secrets rotated with a grace
//! period, disabled and deleted, on both backends.

use authorization_server::Alg;
use domain::audit::AuditKind;
use serde_json::{Value, json};
use testkit::{Db, TestApp, TestClient, both_backends, spawn_app};

use crate::admin::admin_token;
use crate::oidc::{authorize_url, exchange};
use crate::unique_email;

const CLIENTS: &str = "/api/admin/v1/clients";

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = app.api.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

async fn secret_works(app: &TestApp, id: &str, secret: &str) -> bool {
    app.token_request(&[("grant_type", "client_credentials")], Some((id, secret))).await.status() == 200
}

both_backends!(admins_register_change_rotate_disable_and_delete_clients, |db: Db| async move {
    let app = spawn_app(db).await;
    let (_, token) = admin_token(&app).await;
    let new = json!({ "name": "Shop", "redirect_uris": ["https://shop.example/cb"], "settings": { "login_methods": ["email_code"] } });
    let (status, headers, shop) = send(&app, reqwest::Method::POST, CLIENTS, &token, Some(new)).await;
    assert_eq!(status, 201, "{shop}");
    let id = shop["client_id"].as_str().unwrap().to_owned();
    let first_secret = shop["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(headers["location"], format!("{CLIENTS}/{id}").as_str());
    assert_eq!((shop["version"].as_i64(), shop["disabled"].as_bool()), (Some(1), Some(false)));
    assert!(secret_works(&app, &id, &first_secret).await);

    // The same rules as registration and the CLI, each refusal naming its field.
    for (body, status, field) in [
        (json!({ "name": "No URI" }), 422, "redirect_uris"),
        (json!({ "name": "Bad", "redirect_uris": ["/relative"] }), 422, "redirect_uris"),
        (json!({ "name": "Two\nlines", "redirect_uris": ["https://a.example/cb"] }), 422, "name"),
        (
            json!({ "name": "Odd", "redirect_uris": ["https://a.example/cb"], "settings": { "shoe": 1 } }),
            422,
            "settings",
        ),
        (json!({ "name": "Admin", "settings": { "admin_api": true } }), 422, "settings.admin_api"),
    ] {
        let (got, _, answer) = send(&app, reqwest::Method::POST, CLIENTS, &token, Some(body.clone())).await;
        assert_eq!((got, answer["field"].as_str()), (status, Some(field)), "{body}: {answer}");
    }
    let (status, _, _) =
        send(&app, reqwest::Method::POST, CLIENTS, &token, Some(json!({ "name": "X", "secret": "mine" }))).await;
    assert_eq!(status, 400);

    // The console's own client is the server's: the API cannot change, rotate or delete it.
    let console = format!("{CLIENTS}/admin-console");
    let req = app.api.patch(app.url(&console)).bearer_auth(&token).header("If-Match", "*");
    assert_eq!(req.json(&json!({ "redirect_uris": ["https://evil.example/cb"] })).send().await.unwrap().status(), 409);
    assert_eq!(send(&app, reqwest::Method::DELETE, &console, &token, None).await.0, 409);
    let (_, _, listed) = send(&app, reqwest::Method::GET, CLIENTS, &token, None).await;
    assert!(listed["clients"].as_array().unwrap().iter().any(|c| c["client_id"] == id.as_str()));
    assert!(!listed.to_string().contains(&first_secret), "secrets are never listed");
    let path = format!("{CLIENTS}/{id}");
    let patched = |if_match: &'static str, body: Value| {
        let (app, token, path) = (&app, &token, &path);
        async move {
            let req = app.api.patch(app.url(path)).bearer_auth(token).header("If-Match", if_match).json(&body);
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (status, changed) =
        patched("\"1\"", json!({ "name": "Shop EU", "settings": { "branding": { "product_name": "Shop" } } })).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!((changed["name"].as_str(), changed["version"].as_i64()), (Some("Shop EU"), Some(2)));
    assert_eq!(changed["settings"]["login_methods"], json!(["email_code"]), "settings are merged");
    assert_eq!(changed["settings"]["branding"]["product_name"], "Shop");
    assert_eq!(patched("\"1\"", json!({ "name": "Lost update" })).await.0, 412);

    // Rotation: both secrets work through the grace period, then only the new one.
    let rotate = format!("{path}/secret");
    let (status, _, rotated) =
        send(&app, reqwest::Method::POST, &rotate, &token, Some(json!({ "grace_seconds": 60 }))).await;
    assert_eq!(status, 200, "{rotated}");
    let second_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    assert!(secret_works(&app, &id, &second_secret).await && secret_works(&app, &id, &first_secret).await);
    app.clock.advance(61);
    assert!(secret_works(&app, &id, &second_secret).await && !secret_works(&app, &id, &first_secret).await);
    let (status, _, _) = send(&app, reqwest::Method::POST, &rotate, &token, Some(json!({ "grace_seconds": -1 }))).await;
    assert_eq!(status, 422);

    // Disabling a client stops it at once: no authentication, no sign-in, no live token.
    let (status, _) = patched("*", json!({ "disabled": true })).await;
    assert_eq!(status, 200);
    assert!(!secret_works(&app, &id, &second_secret).await);
    let rp: TestClient = app.register_client(false, Alg::RS256).await;
    let tokens =
        exchange(&app, &rp, &app.sign_in(&app.browser(), &authorize_url(&app, &rp, &[]), &unique_email()).await).await;
    let rp_path = format!("{CLIENTS}/{}", rp.id);
    let req =
        app.api.patch(app.url(&rp_path)).bearer_auth(&token).header("If-Match", "*").json(&json!({ "disabled": true }));
    assert_eq!(req.send().await.unwrap().status(), 200);
    let userinfo =
        app.api.get(app.url("/userinfo")).bearer_auth(tokens["access_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(userinfo.status(), 401);
    assert_eq!(app.browser().get(&authorize_url(&app, &rp, &[])).await.status(), 400, "an error page, no redirect");

    let (status, _, _) = send(&app, reqwest::Method::DELETE, &path, &token, None).await;
    assert_eq!(status, 204);
    assert_eq!(send(&app, reqwest::Method::GET, &path, &token, None).await.0, 404);
    let audit = app.store.audit_of_client(&domain::ClientId::parse(&id).unwrap(), 20).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.detail["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["deleted", "disabled", "secret_rotated", "updated", "created"]);
    assert!(audit.iter().all(|e| e.kind == AuditKind::AdminClientChanged));
    let text = format!("{:?}", audit);
    assert!(!text.contains(&first_secret) && !text.contains(&second_secret), "secrets never reach the log");
});

both_backends!(users_export_as_json_lines_and_import_idempotently_from_either_format, |db: Db| async move {
    let app = spawn_app(db).await;
    let (_, token) = admin_token(&app).await;
    let known = unique_email();
    let (status, _, ann) = send(
        &app,
        reqwest::Method::POST,
        "/api/admin/v1/users",
        &token,
        Some(json!({ "email": known, "profile": { "name": "Ann" } })),
    )
    .await;
    assert_eq!(status, 201);
    let resp = app.api.get(app.url("/api/admin/v1/users/export")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let export = resp.text().await.unwrap();
    assert!(export.ends_with('\n'));
    let lines: Vec<Value> = export.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().any(|u| u["id"] == ann["id"] && u["profile"]["name"] == "Ann"));
    let import = |body: String, media: &'static str| {
        let (app, token) = (&app, &token);
        async move {
            let req =
                app.api.post(app.url("/api/admin/v1/users/import")).bearer_auth(token).header("Content-Type", media);
            let resp = req.body(body).send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // The export imports back as it is, changing nothing.
    let (status, report) = import(export.clone(), "application/x-ndjson").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (report["unchanged"].as_u64(), report["failed"].as_u64()),
        (Some(lines.len() as u64), Some(0)),
        "{report}"
    );

    // Auth0's export format, as an array: new users, a known one, a bad line.
    let (new_email, phone) = (unique_email(), crate::unique_phone());
    let auth0 = json!([
        { "user_id": "auth0|1", "email": new_email, "email_verified": true, "name": "Zoe Roe", "given_name": "Zoe", "user_metadata": { "plan": "pro" } },
        { "user_id": "auth0|2", "email": known.to_uppercase(), "nickname": "annie" },
        { "user_id": "auth0|3", "email": "not an address" },
        { "user_id": "sms|4", "phone_number": phone, "phone_verified": true },
    ]);
    let (status, report) = import(auth0.to_string(), "application/json").await;
    assert_eq!(status, 200, "{report}");
    let outcomes: Vec<&str> =
        report["results"].as_array().unwrap().iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["created", "updated", "failed", "created"], "{report}");
    assert_eq!(
        (report["results"][2]["line"].as_u64(), report["results"][2]["field"].as_str()),
        (Some(3), Some("email"))
    );
    assert_eq!(report["results"][1]["id"], ann["id"]);
    let zoe = app.store.user_by_email(&domain::EmailAddress::parse(&new_email).unwrap()).await.unwrap().unwrap();
    assert!(zoe.email_verified);
    let profile = serde_json::to_value(&zoe.profile).unwrap();
    assert_eq!((profile["name"].as_str(), profile["given_name"].as_str()), (Some("Zoe Roe"), Some("Zoe")));
    let ann_now = app.store.user_by_email(&domain::EmailAddress::parse(&known).unwrap()).await.unwrap().unwrap();
    let profile = serde_json::to_value(&ann_now.profile).unwrap();
    assert_eq!((profile["name"].as_str(), profile["nickname"].as_str()), (Some("Ann"), Some("annie")), "merged");
    // Idempotent: the same import again changes nothing.
    let (_, again) = import(auth0.to_string(), "application/json").await;
    let outcomes: Vec<&str> =
        again["results"].as_array().unwrap().iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["unchanged", "unchanged", "failed", "unchanged"], "{again}");
    assert_eq!(import("email=x".into(), "application/x-www-form-urlencoded").await.0, 415);
    let (_, _, exports) =
        send(&app, reqwest::Method::GET, "/api/admin/v1/audit?kind=admin.users_exported", &token, None).await;
    assert_eq!(exports["entries"].as_array().unwrap().len(), 1, "the export is audited");
});

both_backends!(linked_accounts_sign_in_as_one_until_unlinked, |db: Db| async move {
    let app = spawn_app(db).await;
    let (_, token) = admin_token(&app).await;
    let rp = app.register_client(false, Alg::RS256).await;
    let url = crate::oidc::authorize_url_with(&app, &rp, &["scope"], &[("scope", "openid email offline_access")]);
    let sub =
        |tokens: &Value| crate::jwt_parts(tokens["id_token"].as_str().unwrap()).1["sub"].as_str().unwrap().to_owned();
    // The user's work address signed in on its own before.
    let (personal, work) = (unique_email(), unique_email());
    let work_tokens = exchange(&app, &rp, &app.sign_in(&app.browser(), &url, &work).await).await;
    let work_id = sub(&work_tokens);
    let (_, _, primary) = send(
        &app,
        reqwest::Method::POST,
        "/api/admin/v1/users",
        &token,
        Some(json!({ "email": personal, "email_verified": true, "reason": "checked by support" })),
    )
    .await;
    let primary_id = primary["id"].as_str().unwrap().to_owned();
    let links = format!("/api/admin/v1/users/{primary_id}/links");

    let (status, _, linked) =
        send(&app, reqwest::Method::POST, &links, &token, Some(json!({ "user_id": work_id }))).await;
    assert_eq!(status, 200, "{linked}");
    assert_eq!(linked["links"][0]["id"], work_id.as_str());
    assert_eq!(linked["links"][0]["linked_to"], primary_id.as_str());
    // The work identity's own grants end; signing in with it now gives the primary's sub.
    let params = [("grant_type", "refresh_token"), ("refresh_token", work_tokens["refresh_token"].as_str().unwrap())];
    let resp = app.token_request(&params, Some((&rp.id, rp.secret.as_deref().unwrap()))).await;
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let via_work = exchange(&app, &rp, &app.sign_in(&app.browser(), &url, &work).await).await;
    assert_eq!(sub(&via_work), primary_id);
    let via_personal = exchange(&app, &rp, &app.sign_in(&app.browser(), &url, &personal).await).await;
    assert_eq!(sub(&via_personal), primary_id);
    // A blocked linked account stays blocked: its block is not hidden behind its primary.
    let block = format!("/api/admin/v1/users/{work_id}/block");
    assert_eq!(send(&app, reqwest::Method::POST, &block, &token, None).await.0, 200);
    let browser = app.browser();
    let seen = app.message_ids_to(&work).await;
    let code_page = app.start_login(&browser, &url, &work).await;
    let code = app.new_message_to(&work, &seen).await.code();
    assert_eq!(app.submit_code(&browser, &code_page, &code).await.status(), 403);
    let unblock = format!("/api/admin/v1/users/{work_id}/unblock");
    assert_eq!(send(&app, reqwest::Method::POST, &unblock, &token, None).await.0, 200);

    // Links are one level deep, and never to oneself or to nobody.
    let other =
        send(&app, reqwest::Method::POST, "/api/admin/v1/users", &token, Some(json!({ "email": unique_email() })))
            .await
            .2;
    let other_links = format!("/api/admin/v1/users/{}/links", other["id"].as_str().unwrap());
    for (body, status) in [
        (json!({ "user_id": primary_id }), 409),
        (json!({ "user_id": work_id }), 409),
        (json!({ "user_id": other["id"] }), 409),
        (json!({ "user_id": "nobody" }), 422),
    ] {
        assert_eq!(
            send(&app, reqwest::Method::POST, &other_links, &token, Some(body.clone())).await.0,
            status,
            "{body}"
        );
    }

    let unlink = format!("{links}/{work_id}");
    assert_eq!(send(&app, reqwest::Method::DELETE, &unlink, &token, None).await.0, 204);
    assert_eq!(send(&app, reqwest::Method::DELETE, &unlink, &token, None).await.0, 404);
    let again = exchange(&app, &rp, &app.sign_in(&app.browser(), &url, &work).await).await;
    assert_eq!(sub(&again), work_id, "its own account again");
    let audit = app.store.audit_of(&domain::UserId::parse(&primary_id).unwrap(), 10).await.unwrap();
    let linked: Vec<bool> = audit
        .iter()
        .filter(|e| e.kind == AuditKind::AdminAccountsLinked)
        .map(|e| e.detail["linked"].as_bool().unwrap())
        .collect();
    assert_eq!(linked, [false, true]);
});

// A client's own tokens (client credentials) have no grant and no stored row: disabling the client
// revokes every one issued until then, and enabling it again does not bring them back.
both_backends!(disabling_a_client_revokes_its_own_tokens_for_good, |db: Db| async move {
    let app = spawn_app(db).await;
    let (_, admin) = admin_token(&app).await;
    let (other, other_token) = admin_token(&app).await;
    let path = format!("{CLIENTS}/{}", other.id);
    assert_eq!(send(&app, reqwest::Method::GET, CLIENTS, &other_token, None).await.0, 200);
    app.clock.advance(5);
    let disable = |disabled: bool| {
        let req = app.api.patch(app.url(&path)).bearer_auth(&admin).header("If-Match", "*");
        async move { req.json(&json!({ "disabled": disabled })).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(disable(true).await, 200);
    assert_eq!(send(&app, reqwest::Method::GET, CLIENTS, &other_token, None).await.0, 401);
    app.clock.advance(5);
    assert_eq!(disable(false).await, 200);
    assert_eq!(send(&app, reqwest::Method::GET, CLIENTS, &other_token, None).await.0, 401, "still revoked");
    app.clock.advance(1);
    let fresh = crate::admin::client_token(&app, &other, Some("admin")).await.json::<Value>().await.unwrap();
    let fresh = fresh["access_token"].as_str().unwrap();
    assert_eq!(send(&app, reqwest::Method::GET, CLIENTS, fresh, None).await.0, 200, "a token issued since works");
    // Its own token, revoked alone (RFC 7009), stops; the admin's is untouched.
    let revoke =
        app.api.post(app.url("/revoke")).basic_auth(&other.id, other.secret.as_deref()).form(&[("token", fresh)]);
    assert_eq!(revoke.send().await.unwrap().status(), 200);
    assert_eq!(send(&app, reqwest::Method::GET, CLIENTS, fresh, None).await.0, 401);
    assert_eq!(send(&app, reqwest::Method::GET, CLIENTS, &admin, None).await.0, 200);
});
