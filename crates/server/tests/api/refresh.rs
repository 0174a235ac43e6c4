//! Refresh tokens (RFC 6749 §6, RFC 9700 §4.14): rotation, reuse detection revoking the family,
//! the reuse leeway, client binding, no scope escalation, absolute lifetime.

use authorization_server::Alg;
use testkit::{Db, TestApp, TestClient, both_backends, query_param, spawn_app};

use crate::oidc::{authorize_url_with, exchange, redeem};
use crate::unique_email;

async fn offline_tokens(app: &TestApp, client: &TestClient, scope: &str) -> serde_json::Value {
    let url = authorize_url_with(app, client, &["scope"], &[("scope", scope)]);
    let back = app.sign_in(&app.browser(), &url, &unique_email()).await;
    exchange(app, client, &back).await
}

async fn refresh(app: &TestApp, client: &TestClient, token: &str, scope: Option<&str>) -> (u16, serde_json::Value) {
    let mut params = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(scope) = scope {
        params.push(("scope", scope));
    }
    let resp = app.token_request(&params, Some((&client.id, client.secret.as_deref().unwrap()))).await;
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn userinfo_status(app: &TestApp, token: &str) -> u16 {
    app.api.get(app.url("/userinfo")).bearer_auth(token).send().await.unwrap().status().as_u16()
}

both_backends!(refresh_tokens_rotate_and_reuse_revokes_the_family, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let first = offline_tokens(&app, &client, "openid email offline_access").await;
    let r1 = first["refresh_token"].as_str().expect("offline_access yields a refresh token").to_owned();
    let (status, second) = refresh(&app, &client, &r1, None).await;
    assert_eq!(status, 200, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2, "rotated on every use");
    assert!(second["id_token"].is_string());
    assert_eq!(userinfo_status(&app, second["access_token"].as_str().unwrap()).await, 200);
    // The spent token comes back after the reuse leeway: reuse. The whole family and its access
    // tokens are revoked.
    app.clock.advance(app.settings.oidc.refresh_reuse_leeway + 1);
    let (status, body) = refresh(&app, &client, &r1, None).await;
    assert_eq!((status, body["error"].as_str().unwrap()), (400, "invalid_grant"));
    let (status, body) = refresh(&app, &client, &r2, None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "the successor died with the family");
    assert_eq!(userinfo_status(&app, second["access_token"].as_str().unwrap()).await, 401);
    assert_eq!(userinfo_status(&app, first["access_token"].as_str().unwrap()).await, 401);
});

both_backends!(a_retry_within_the_reuse_leeway_replaces_the_unused_successor, |db: Db| async move {
    let app = spawn_app(db).await;
    assert!(app.settings.oidc.refresh_reuse_leeway >= 2, "the default leeway is on");
    let client = app.register_client(false, Alg::RS256).await;
    let first = offline_tokens(&app, &client, "openid offline_access").await;
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    let (_, lost) = refresh(&app, &client, &r1, None).await;
    let r2 = lost["refresh_token"].as_str().unwrap().to_owned();
    // The client never got r2 (say the server was killed after its commit) and retries with r1.
    app.clock.advance(1);
    let (status, retried) = refresh(&app, &client, &r1, None).await;
    assert_eq!(status, 200, "{retried}");
    let r3 = retried["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r3, r2);
    // The family keeps one live token: r2 was replaced (refused, without revoking anything).
    let (status, body) = refresh(&app, &client, &r2, None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(userinfo_status(&app, retried["access_token"].as_str().unwrap()).await, 200, "nothing revoked");
    let (status, next) = refresh(&app, &client, &r3, None).await;
    assert_eq!(status, 200, "{next}");
    // r3's successor was used: presenting r3 again, even within the leeway, is reuse and revokes.
    let r4 = next["refresh_token"].as_str().unwrap().to_owned();
    let (_, _r5) = refresh(&app, &client, &r4, None).await;
    let (status, _) = refresh(&app, &client, &r3, None).await;
    assert_eq!(status, 400);
    assert_eq!(userinfo_status(&app, next["access_token"].as_str().unwrap()).await, 401, "the family was revoked");

    // Concurrent presentations of one token: every answer succeeds, and exactly one of the tokens
    // they return still works afterwards; the family never forks.
    let tokens = offline_tokens(&app, &client, "openid offline_access").await;
    let r = tokens["refresh_token"].as_str().unwrap().to_owned();
    let answers = futures_util::future::join_all((0..5).map(|_| refresh(&app, &client, &r, None))).await;
    assert!(answers.iter().all(|(status, _)| *status == 200), "{answers:?}");
    let mut alive = 0;
    for (_, body) in &answers {
        alive += usize::from(refresh(&app, &client, body["refresh_token"].as_str().unwrap(), None).await.0 == 200);
    }
    assert_eq!(alive, 1, "one live token per family");

    // After the leeway, a retry is reuse even though the successor is unused.
    let tokens = offline_tokens(&app, &client, "openid offline_access").await;
    let r = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (_, unused) = refresh(&app, &client, &r, None).await;
    app.clock.advance(app.settings.oidc.refresh_reuse_leeway + 1);
    assert_eq!(refresh(&app, &client, &r, None).await.0, 400);
    assert_eq!(refresh(&app, &client, unused["refresh_token"].as_str().unwrap(), None).await.0, 400, "revoked");
});

both_backends!(refresh_tokens_are_bound_to_their_client_and_scope, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let other = app.register_client(false, Alg::RS256).await;
    let tokens = offline_tokens(&app, &client, "openid offline_access").await;
    let r1 = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = refresh(&app, &client, &r1, Some("openid offline_access email")).await;
    assert_eq!((status, body["error"].as_str().unwrap()), (400, "invalid_scope"), "no scope escalation");
    // The refused request spent nothing: the same token still works, for a narrower scope.
    let (status, narrower) = refresh(&app, &client, &r1, Some("openid")).await;
    assert_eq!(status, 200);
    assert_eq!(narrower["scope"], "openid");
    // The successor keeps the grant's scope (RFC 6749 §6).
    let (status, again) = refresh(&app, &client, narrower["refresh_token"].as_str().unwrap(), None).await;
    assert_eq!((status, again["scope"].as_str().unwrap()), (200, "openid offline_access"));
    // Another client cannot use it, and its attempt spends nothing.
    let tokens = offline_tokens(&app, &client, "openid offline_access").await;
    let r = tokens["refresh_token"].as_str().unwrap().to_owned();
    let resp = app
        .token_request(
            &[("grant_type", "refresh_token"), ("refresh_token", &r)],
            Some((&other.id, other.secret.as_deref().unwrap())),
        )
        .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap()["error"], "invalid_grant", "bound to its client");
    assert_eq!(refresh(&app, &client, &r, None).await.0, 200);
    // Without offline_access there is no refresh token.
    let plain = offline_tokens(&app, &client, "openid email").await;
    assert!(plain.get("refresh_token").is_none());
});

both_backends!(refresh_tokens_have_an_absolute_lifetime, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let tokens = offline_tokens(&app, &client, "openid offline_access").await;
    let mut r = tokens["refresh_token"].as_str().unwrap().to_owned();
    // Rotating keeps the original deadline.
    for _ in 0..3 {
        app.clock.advance(app.settings.oidc.refresh_token_ttl / 4);
        let (status, next) = refresh(&app, &client, &r, None).await;
        assert_eq!(status, 200);
        r = next["refresh_token"].as_str().unwrap().to_owned();
    }
    app.clock.advance(app.settings.oidc.refresh_token_ttl / 4 + 1);
    let (status, body) = refresh(&app, &client, &r, None).await;
    assert_eq!((status, body["error"].as_str().unwrap()), (400, "invalid_grant"));
});

both_backends!(a_replayed_code_also_revokes_its_refresh_tokens, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let url = authorize_url_with(&app, &client, &["scope"], &[("scope", "openid offline_access")]);
    let back = app.sign_in(&app.browser(), url.as_str(), &unique_email()).await;
    let tokens = exchange(&app, &client, &back).await;
    let code = query_param(&back, "code").unwrap();
    let replay = redeem(&app, &client, &client, &code).await;
    assert_eq!(replay.status(), 400);
    assert_eq!(replay.json::<serde_json::Value>().await.unwrap()["error"], "invalid_grant");
    let (status, body) = refresh(&app, &client, tokens["refresh_token"].as_str().unwrap(), None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "the replay revoked the grant");
});

both_backends!(a_client_policy_decides_when_refresh_tokens_are_issued, |db: Db| async move {
    use domain::{ClientSettings, RefreshPolicy};
    let app = spawn_app(db).await;
    let policy = |refresh_tokens| ClientSettings { refresh_tokens, ..Default::default() };
    let always = app.register_client_with(false, Alg::RS256, policy(RefreshPolicy::Always)).await;
    let tokens = offline_tokens(&app, &always, "openid email").await;
    let token = tokens["refresh_token"].as_str().expect("`always` issues one without offline_access").to_owned();
    assert_eq!(tokens["scope"], "openid email");
    let (status, body) = refresh(&app, &always, &token, None).await;
    assert_eq!(status, 200, "{body}");

    let never = app.register_client_with(false, Alg::RS256, policy(RefreshPolicy::Never)).await;
    let tokens = offline_tokens(&app, &never, "openid offline_access").await;
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    assert_eq!(tokens["scope"], "openid", "offline_access is not granted under `never`");

    let default = app.register_client(false, Alg::RS256).await;
    let tokens = offline_tokens(&app, &default, "openid").await;
    assert!(tokens.get("refresh_token").is_none(), "by default only offline_access brings one");
});
