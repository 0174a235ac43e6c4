//! Issue 15, token exchange (RFC 8693): a service an operator allows it trades a user's access
//! token, issued to another client, for one of its own that acts for the user.

use authorization_server::Alg;
use domain::{ClientSettings, Pairwise};
use serde_json::Value;
use testkit::{Db, TestApp, TestClient, both_backends};

use crate::oidc::{authorize_url, exchange};
use crate::{jwt_parts, unique_email};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// `POST /token` with the token-exchange grant for `subject`, plus `extra`, as `client`.
async fn trade(app: &TestApp, client: &TestClient, subject: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![("grant_type", GRANT), ("subject_token", subject), ("subject_token_type", ACCESS_TOKEN)];
    form.extend_from_slice(extra);
    let resp = app.token_request(&form, Some((client.id.as_str(), client.secret.as_deref().unwrap()))).await;
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

both_backends!(an_allowed_service_trades_a_users_token_for_one_that_acts_for_them, |db: Db| async move {
    let app = testkit::spawn_app(db).await;
    let meta: Value =
        app.api.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert!(meta["grant_types_supported"].as_array().unwrap().iter().any(|g| g == GRANT), "{meta}");
    let frontend = app.register_client(false, Alg::RS256).await;
    // The service sees its users under pairwise subjects: the new token names the user its way.
    let pairwise = Some(Pairwise { sector: "api.example".into(), sector_identifier_uri: None });
    let service = app
        .register_client_with(
            false,
            Alg::ES256,
            ClientSettings { token_exchange: true, pairwise, ..Default::default() },
        )
        .await;
    let email = unique_email();
    let back = app.sign_in(&app.browser(), &authorize_url(&app, &frontend, &[]), &email).await;
    let user_token = exchange(&app, &frontend, &back).await["access_token"].as_str().unwrap().to_owned();
    let (_, subject_claims) = jwt_parts(&user_token);

    let (status, body) = trade(&app, &service, &user_token, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["issued_token_type"].as_str(), body["token_type"].as_str()), (Some(ACCESS_TOKEN), Some("Bearer")));
    assert_eq!(body["scope"], "openid email");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none(), "{body}");
    let token = body["access_token"].as_str().unwrap();
    let (_, claims) = jwt_parts(token);
    assert_eq!(claims["client_id"], service.id.as_str());
    assert_eq!(claims["act"], serde_json::json!({ "sub": service.id }), "RFC 8693 §4.1");
    let sub = claims["sub"].as_str().unwrap();
    assert!(sub != subject_claims["sub"] && sub.len() == 43, "the service's pairwise sub: {claims}");
    assert!(claims["exp"].as_i64() <= subject_claims["exp"].as_i64(), "never outlives its subject token");
    // The new token works where the user's did, for the same user.
    let info: Value = app.api.get(app.url("/userinfo")).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    assert_eq!((info["sub"].as_str(), info["email"].as_str()), (Some(sub), Some(email.as_str())), "{info}");
    let secret = service.secret.as_deref().unwrap();
    let inspected: Value = app
        .api
        .post(app.url("/introspect"))
        .basic_auth(&service.id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(inspected["active"], true, "{inspected}");

    // Less scope may be asked for, never more.
    let (status, body) = trade(&app, &service, &user_token, &[("scope", "openid")]).await;
    assert_eq!((status, body["scope"].as_str()), (200, Some("openid")), "{body}");
    let (status, body) = trade(&app, &service, &user_token, &[("scope", "openid profile")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));
    // Traded on again, the earlier actor nests inside (§4.1).
    let (status, body) = trade(&app, &service, token, &[]).await;
    assert_eq!(status, 200, "{body}");
    let (_, chained) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(chained["act"], serde_json::json!({ "sub": service.id, "act": { "sub": service.id } }));

    // Refusals: a client not allowed; not a live access token of ours; other token types; another
    // audience; an actor token.
    let (status, body) = trade(&app, &frontend, &user_token, &[]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")));
    let (status, body) = trade(&app, &service, "not-a-token", &[]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    let refusals: [(&[(&str, &str)], &str); 3] = [
        (&[("requested_token_type", "urn:ietf:params:oauth:token-type:id_token")], "invalid_request"),
        (&[("audience", "https://elsewhere.example")], "invalid_target"),
        (&[("actor_token", "x"), ("actor_token_type", ACCESS_TOKEN)], "invalid_request"),
    ];
    for (extra, error) in refusals {
        let (status, body) = trade(&app, &service, &user_token, extra).await;
        assert_eq!((status, body["error"].as_str()), (400, Some(error)), "{extra:?}");
    }
    let form = [("grant_type", GRANT), ("subject_token", user_token.as_str()), ("subject_token_type", "urn:x")];
    let resp = app.token_request(&form, Some((service.id.as_str(), secret))).await;
    assert_eq!(resp.status(), 400);
    // A revoked subject token trades for nothing.
    let revoked = app
        .api
        .post(app.url("/revoke"))
        .basic_auth(&frontend.id, frontend.secret.as_deref())
        .form(&[("token", user_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let (status, body) = trade(&app, &service, &user_token, &[]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
});
