//! Revocation (RFC 7009), introspection (RFC 7662) and the client_credentials grant (RFC 6749 §4.4).

use authorization_server::Alg;
use testkit::{Db, TestApp, TestClient, both_backends, spawn_app};

use crate::oidc::{authorize_url, authorize_url_with, exchange};
use crate::unique_email;

async fn offline_tokens(app: &TestApp, client: &TestClient) -> serde_json::Value {
    let url = authorize_url_with(app, client, &["scope"], &[("scope", "openid email offline_access")]);
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
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap()["error"], "invalid_grant");
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

const REGISTRATION_TOKEN: &str = "initial-access-token-0123456789abcdef";

async fn register(app: &TestApp, token: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let resp = app.api.post(app.url("/register")).bearer_auth(token).json(&body).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(serde_json::Value::Null))
}

both_backends!(dynamic_registration_needs_the_initial_token_and_strict_redirect_uris, |db: Db| async move {
    // Off unless configured.
    let off = spawn_app(db).await;
    assert_eq!(
        register(&off, REGISTRATION_TOKEN, serde_json::json!({ "redirect_uris": ["https://a.example/cb"] })).await.0,
        404
    );
    let meta: serde_json::Value =
        off.api.get(off.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert!(meta.get("registration_endpoint").is_none());
    drop(off);

    let app = testkit::spawn_app_with(db, |s| {
        s.oidc.registration_token = Some(domain::Secret::new(REGISTRATION_TOKEN.into()))
    })
    .await;
    let meta: serde_json::Value =
        app.api.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(meta["registration_endpoint"], app.url("/register"));
    assert_eq!(register(&app, "wrong", serde_json::json!({ "redirect_uris": ["https://a.example/cb"] })).await.0, 401);
    for (uris, native) in [
        (vec!["http://a.example/cb"], false),
        (vec!["http://127.0.0.1/cb"], false),
        (vec!["https://a.example/cb#f"], false),
        (vec!["http://localhost:8000/cb"], true),
    ] {
        let body =
            serde_json::json!({ "redirect_uris": uris, "application_type": if native { "native" } else { "web" } });
        let (status, error) = register(&app, REGISTRATION_TOKEN, body).await;
        assert_eq!((status, error["error"].as_str()), (400, Some("invalid_redirect_uri")), "{uris:?}");
    }
    let resp = app
        .api
        .post(app.url("/register"))
        .bearer_auth(REGISTRATION_TOKEN)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap()["error"], "invalid_client_metadata");

    // A web client registers and signs a user in.
    let (status, web) = register(
        &app,
        REGISTRATION_TOKEN,
        serde_json::json!({
            "redirect_uris": ["https://app.example/cb"], "client_name": "Shop", "id_token_signed_response_alg": "ES256"
        }),
    )
    .await;
    assert_eq!(status, 201, "{web}");
    assert_eq!(web["client_secret_expires_at"], 0);
    let client = TestClient {
        id: web["client_id"].as_str().unwrap().into(),
        secret: Some(web["client_secret"].as_str().unwrap().into()),
        redirect_uri: "https://app.example/cb".into(),
    };
    let back = app.sign_in(&app.browser(), &authorize_url(&app, &client, &[]), &unique_email()).await;
    let tokens = exchange(&app, &client, &back).await;
    assert_eq!(crate::jwt_parts(tokens["id_token"].as_str().unwrap()).0["alg"], "ES256");

    // A native app with a loopback redirect URI: any port at run time (RFC 8252 §7.3).
    let (status, native) = register(&app, REGISTRATION_TOKEN, serde_json::json!({
        "redirect_uris": ["http://127.0.0.1/callback"], "application_type": "native", "token_endpoint_auth_method": "none"
    }))
    .await;
    assert_eq!(status, 201, "{native}");
    assert!(native.get("client_secret").is_none());
    let app_client = TestClient {
        id: native["client_id"].as_str().unwrap().into(),
        secret: None,
        redirect_uri: "http://127.0.0.1:51004/callback".into(),
    };
    let resp = app.browser().get(&authorize_url(&app, &app_client, &[])).await;
    assert_eq!(resp.status(), 303);
    assert!(testkit::location(&resp).starts_with("/login/"), "any loopback port is accepted for a native app");
    let elsewhere = TestClient { redirect_uri: "http://127.0.0.1:51004/other".into(), ..app_client };
    assert_eq!(
        app.browser().get(&authorize_url(&app, &elsewhere, &[])).await.status(),
        400,
        "but only the registered path"
    );
});

/// Revocation is final (issue 9, item 5).
mod finality {
    use authorization_server::Alg;
    use testkit::{Db, TestApp, TestClient, both_backends, csrf_of, query_param, spawn_app};

    use crate::oidc::{VERIFIER, authorize_url, authorize_url_with, exchange, redeem};
    use crate::unique_email;

    async fn refresh(app: &TestApp, client: &TestClient, token: &str) -> reqwest::Response {
        app.token_request(
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
            Some((&client.id, client.secret.as_deref().unwrap())),
        )
        .await
    }

    async fn revoke(app: &TestApp, client: &TestClient, token: &str) -> reqwest::Response {
        app.api
            .post(app.url("/revoke"))
            .basic_auth(&client.id, client.secret.as_deref())
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
    }

    both_backends!(a_stranger_holding_a_code_cannot_burn_it, |db: Db| async move {
        let app = spawn_app(db).await;
        let client = app.register_client(false, Alg::RS256).await;
        let stranger = app.register_client(false, Alg::RS256).await;
        let back = app.sign_in(&app.browser(), &authorize_url(&app, &client, &[]), &unique_email()).await;
        let code = query_param(&back, "code").unwrap();
        // Another client, a wrong redirect URI, a wrong PKCE verifier: each refused, nothing spent.
        assert_eq!(redeem(&app, &client, &stranger, &code).await.status(), 400);
        let wrong_uri = app
            .token_request(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", "http://127.0.0.1:9/other"),
                    ("code_verifier", VERIFIER),
                ],
                Some((&client.id, client.secret.as_deref().unwrap())),
            )
            .await;
        assert_eq!(wrong_uri.status(), 400);
        let wrong_verifier = app
            .token_request(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", client.redirect_uri.as_str()),
                    ("code_verifier", &VERIFIER.replace('d', "e")),
                ],
                Some((&client.id, client.secret.as_deref().unwrap())),
            )
            .await;
        assert_eq!(wrong_verifier.status(), 400);
        // The rightful client still redeems it.
        exchange(&app, &client, &back).await;
    });

    both_backends!(a_revoked_grant_never_yields_a_redeemed_code, |db: Db| async move {
        let app = spawn_app(db).await;
        let client = app.register_client(false, Alg::RS256).await;
        let browser = app.browser();
        let back = app.sign_in(&browser, &authorize_url(&app, &client, &[]), &unique_email()).await;
        // The user signs out before the client exchanges the code: the session's grant (not for
        // offline access) is revoked with it.
        let page = browser.get("/logout").await.text().await.unwrap();
        let resp = browser.post_form("/logout/confirm", &[("csrf", &csrf_of(&page))]).await;
        assert_eq!(resp.status(), 200);
        let code = query_param(&back, "code").unwrap();
        let resp = redeem(&app, &client, &client, &code).await;
        assert_eq!(resp.status(), 400);
        assert_eq!(resp.json::<serde_json::Value>().await.unwrap()["error"], "invalid_grant");
    });

    // Many rounds of a token being refreshed several times at once while it is revoked. Whatever
    // the interleaving, once everything has answered nothing issued from the grant is alive.
    both_backends!(refreshes_racing_a_revocation_leave_nothing_alive, |db: Db| async move {
        let app = spawn_app(db).await;
        let client = app.register_client(false, Alg::RS256).await;
        let mut issued = 0;
        for _ in 0..12 {
            let url = authorize_url_with(&app, &client, &["scope"], &[("scope", "openid offline_access")]);
            let back = app.sign_in(&app.browser(), &url, &unique_email()).await;
            let tokens = exchange(&app, &client, &back).await;
            let token = tokens["refresh_token"].as_str().unwrap().to_owned();
            let refreshes = futures_util::future::join_all((0..6).map(|_| refresh(&app, &client, &token)));
            let (answers, revoked) = tokio::join!(refreshes, revoke(&app, &client, &token));
            assert_eq!(revoked.status(), 200);
            for answer in answers {
                if answer.status() != 200 {
                    // The revocation, or a concurrent refresh, won: the refusal is the grant's.
                    let status = answer.status();
                    let body: serde_json::Value = answer.json().await.unwrap();
                    assert_eq!((status.as_u16(), body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
                    continue;
                }
                issued += 1;
                let body: serde_json::Value = answer.json().await.unwrap();
                let successor = body["refresh_token"].as_str().unwrap();
                let again = refresh(&app, &client, successor).await;
                assert_eq!(again.status(), 400, "a successor outlived the revocation");
                assert_eq!(again.json::<serde_json::Value>().await.unwrap()["error"], "invalid_grant");
                let access = body["access_token"].as_str().unwrap();
                let userinfo = app.api.get(app.url("/userinfo")).bearer_auth(access).send().await.unwrap();
                assert_eq!(userinfo.status(), 401);
            }
        }
        // (How many refreshes got in before their revocation varies; each one was checked.)
        let _ = issued;
    });
}

// Names reach email subjects and text messages (issue 9): a name with a line break or an invisible
// bidirectional override is refused at registration, by the CLI's checks and in branding.
both_backends!(names_with_control_characters_are_refused_before_they_reach_a_message, |db: Db| async move {
    let app = testkit::spawn_app_with(db, |s| {
        s.oidc.registration_token = Some(domain::Secret::new(REGISTRATION_TOKEN.into()))
    })
    .await;
    for name in ["Shop\r\nBcc: everyone@example.com", "Shop\u{202E}moc.live", "Tab\tbed"] {
        let body = serde_json::json!({ "redirect_uris": ["https://app.example/cb"], "client_name": name });
        let (status, error) = register(&app, REGISTRATION_TOKEN, body).await;
        assert_eq!((status, error["error"].as_str()), (400, Some("invalid_client_metadata")), "{name:?}");
    }
    let new = |name: &str| authorization_server::clients::NewClient {
        name: name.into(),
        redirect_uris: vec!["https://app.example/cb".into()],
        post_logout_redirect_uris: vec![],
        public: false,
        id_token_alg: Alg::RS256,
        native: false,
        settings: Default::default(),
    };
    let hasher = app.master.hasher();
    assert!(authorization_server::clients::new_client(new("Shop\r\nX: y"), &hasher, 0).is_err());
    assert!(authorization_server::clients::new_client(new("Shop"), &hasher, 0).is_ok());
    let branding = domain::Branding { product_name: Some("Shop\nX".into()), ..Default::default() };
    assert!(branding.validate().is_err());
});
