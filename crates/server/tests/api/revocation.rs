//! Revocation (RFC 7009), introspection (RFC 7662) and the client_credentials grant (RFC 6749 §4.4).

use authorization_server::Alg;
use testkit::{Db, TestApp, TestClient, both_backends, spawn_app};

use crate::oidc::{authorize_url, exchange};
use crate::unique_email;

async fn offline_tokens(app: &TestApp, client: &TestClient) -> serde_json::Value {
    let url = authorize_url(app, client, &[]).replace("scope=openid+email", "scope=openid+email+offline_access");
    let back = app.sign_in(&app.browser(), &url, &unique_email()).await;
    exchange(app, client, &back).await
}

async fn post(app: &TestApp, path: &str, client: &TestClient, params: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let mut req = app.api.post(app.url(path)).form(params);
    if let Some(secret) = &client.secret {
        req = req.basic_auth(&client.id, Some(secret));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

async fn userinfo_status(app: &TestApp, token: &str) -> u16 {
    app.api.get(app.url("/userinfo")).bearer_auth(token).send().await.unwrap().status().as_u16()
}

both_backends!(introspection_describes_live_tokens_to_their_client_only, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let other = app.register_client(false, Alg::RS256).await;
    let tokens = offline_tokens(&app, &client).await;
    let access = tokens["access_token"].as_str().unwrap();
    let (status, info) = post(&app, "/introspect", &client, &[("token", access)]).await;
    assert_eq!(status, 200);
    assert_eq!(info["active"], true);
    assert_eq!(info["client_id"], client.id.as_str());
    assert_eq!(info["scope"], "openid email offline_access");
    let (_, info) = post(&app, "/introspect", &client, &[("token", tokens["refresh_token"].as_str().unwrap())]).await;
    assert_eq!((info["active"].as_bool(), info["token_type"].as_str()), (Some(true), Some("refresh_token")));
    for token in [access, "garbage", tokens["id_token"].as_str().unwrap()] {
        let who = if token == access { &other } else { &client };
        let (_, info) = post(&app, "/introspect", who, &[("token", token)]).await;
        assert_eq!(info, serde_json::json!({ "active": false }), "{token:.20}");
    }
    // Public clients may not introspect; bad credentials are invalid_client.
    let public = app.register_client(true, Alg::RS256).await;
    let (status, body) = post(&app, "/introspect", &public, &[("token", access), ("client_id", &public.id)]).await;
    assert_eq!((status, body["error"].as_str().unwrap()), (401, "invalid_client"));
    let wrong = TestClient { secret: Some("wrong".into()), ..client.clone() };
    assert_eq!(post(&app, "/introspect", &wrong, &[("token", access)]).await.0, 401);
});

both_backends!(revoking_tokens_ends_them, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let other = app.register_client(false, Alg::RS256).await;
    let tokens = offline_tokens(&app, &client).await;
    let access = tokens["access_token"].as_str().unwrap();
    // Another client's revocation is answered 200 and changes nothing (RFC 7009 §2.2 reveals nothing).
    assert_eq!(post(&app, "/revoke", &other, &[("token", access)]).await.0, 200);
    assert_eq!(userinfo_status(&app, access).await, 200);
    assert_eq!(post(&app, "/revoke", &client, &[("token", access), ("token_type_hint", "access_token")]).await.0, 200);
    assert_eq!(userinfo_status(&app, access).await, 401);
    assert_eq!(post(&app, "/revoke", &client, &[("token", "not-a-token")]).await.0, 200);
    assert_eq!(
        post(&app, "/revoke", &client, &[("token", access), ("token_type_hint", "saml")]).await.1["error"],
        "unsupported_token_type"
    );
    // Revoking a refresh token revokes its grant: its access tokens die too.
    let tokens = offline_tokens(&app, &client).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(post(&app, "/revoke", &client, &[("token", tokens["refresh_token"].as_str().unwrap())]).await.0, 200);
    assert_eq!(userinfo_status(&app, access).await, 401);
    let resp = app
        .token_request(
            &[("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())],
            Some((&client.id, client.secret.as_deref().unwrap())),
        )
        .await;
    assert_eq!(resp.status(), 400);
});

both_backends!(client_credentials_is_for_confidential_clients, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let resp = app
        .token_request(&[("grant_type", "client_credentials")], Some((&client.id, client.secret.as_deref().unwrap())))
        .await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body.get("id_token").is_none() && body.get("refresh_token").is_none(), "{body}");
    let access = body["access_token"].as_str().unwrap();
    let claims = crate::jwt_parts(access).1;
    assert_eq!(claims["sub"], client.id.as_str());
    let (_, info) = post(&app, "/introspect", &client, &[("token", access)]).await;
    assert_eq!(info["active"], true);
    assert_eq!(userinfo_status(&app, access).await, 401, "no user behind it");
    let public = app.register_client(true, Alg::RS256).await;
    let resp = app.token_request(&[("grant_type", "client_credentials"), ("client_id", &public.id)], None).await;
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client");
    let resp = app
        .token_request(
            &[("grant_type", "client_credentials"), ("scope", "openid")],
            Some((&client.id, client.secret.as_deref().unwrap())),
        )
        .await;
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap()["error"], "invalid_scope");
});
