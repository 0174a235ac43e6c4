//! OIDC Core §5.4: the scopes `profile`, `email`, `address` and `phone` release their standard
//! claims, at `/userinfo` and in the ID token, and nothing beyond what was granted.

use authorization_server::Alg;
use domain::{Clock, EmailAddress, PhoneNumber, Profile};
use store::users::UserUpdate;
use testkit::{Db, TestApp, TestClient, both_backends, location, query_param, spawn_app};

use crate::oidc::{authorize_url, authorize_url_with, exchange};
use crate::{jwt_parts, unique_email};

/// A user with a full profile, an address and a verified phone number.
async fn known_user(app: &TestApp) -> String {
    let email = unique_email();
    let user = app.store.create_user(&EmailAddress::parse(&email).unwrap(), app.clock.now()).await.unwrap();
    let mut profile = Profile::default();
    for (k, v) in [
        ("name", "Ann Lee"),
        ("given_name", "Ann"),
        ("family_name", "Lee"),
        ("picture", "https://cdn.example/ann.png"),
        ("birthdate", "0000-04-01"),
        ("locale", "fr-FR"),
        ("zoneinfo", "Europe/Paris"),
        ("address.locality", "Lyon"),
        ("address.country", "FR"),
    ] {
        profile.set(k, Some(v)).unwrap();
    }
    let update = UserUpdate {
        profile: Some(profile),
        phone: Some(Some(PhoneNumber::parse("+33612345678", None).unwrap())),
        phone_verified: Some(true),
        ..Default::default()
    };
    app.store.update_user(&user.id, update, app.clock.now()).await.unwrap();
    email
}

/// Signs `email` in with `scope` and `extra` parameters; returns the token response.
async fn tokens_for(app: &TestApp, email: &str, scope: &str, extra: &[(&str, &str)]) -> serde_json::Value {
    let client = never_steps_up(app).await;
    let url = authorize_url_with(app, &client, &["scope"], &[&[("scope", scope)], extra].concat());
    let back = app.sign_in(&app.browser(), &url, email).await;
    let mut tokens = exchange(app, &client, &back).await;
    tokens["client_secret"] = client.secret.unwrap().into();
    tokens["client_id"] = client.id.into();
    tokens
}

/// A client that never asks for step-up: the user's verified phone is a second factor, and
/// step-up is not what these tests are about.
async fn never_steps_up(app: &TestApp) -> TestClient {
    let never = domain::ClientSettings {
        step_up: domain::StepUp { policy: domain::StepUpPolicy::Never, ..Default::default() },
        ..Default::default()
    };
    app.register_client_with(false, Alg::ES256, never).await
}

async fn userinfo(app: &TestApp, access_token: &str) -> serde_json::Value {
    let resp = app.api.get(app.url("/userinfo")).bearer_auth(access_token).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// Signs `email` in with `scope`; returns (ID token claims, userinfo response).
async fn claims_for(app: &TestApp, email: &str, scope: &str) -> (serde_json::Value, serde_json::Value) {
    let tokens = tokens_for(app, email, scope, &[]).await;
    let (_, id_claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
    (id_claims, userinfo(app, tokens["access_token"].as_str().unwrap()).await)
}

/// The names of `claims`' members, sorted.
fn names(claims: &serde_json::Value) -> Vec<String> {
    let mut keys: Vec<String> = claims.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

both_backends!(each_scope_releases_its_standard_claims, |db: Db| async move {
    let app = spawn_app(db).await;
    let email = known_user(&app).await;
    let (id, info) = claims_for(&app, &email, "openid profile email address phone").await;
    for claims in [&id, &info] {
        assert_eq!(claims["name"], "Ann Lee", "{claims}");
        assert_eq!(claims["given_name"], "Ann");
        assert_eq!(claims["family_name"], "Lee");
        assert_eq!(claims["picture"], "https://cdn.example/ann.png");
        assert_eq!(claims["birthdate"], "0000-04-01");
        assert_eq!(claims["locale"], "fr-FR");
        assert_eq!(claims["zoneinfo"], "Europe/Paris");
        assert!(claims["updated_at"].as_i64().unwrap() > 0);
        assert_eq!(claims["email"], email.as_str());
        assert_eq!(claims["email_verified"], true);
        assert_eq!(claims["address"], serde_json::json!({ "locality": "Lyon", "country": "FR" }));
        assert_eq!(claims["phone_number"], "+33612345678");
        assert_eq!(claims["phone_number_verified"], true);
        assert!(claims.get("nickname").is_none(), "claims without a value are left out");
    }
    assert_eq!(id["sub"], info["sub"]);
});

both_backends!(claims_of_scopes_not_granted_are_never_released, |db: Db| async move {
    let app = spawn_app(db).await;
    let email = known_user(&app).await;
    let (id, info) = claims_for(&app, &email, "openid").await;
    for claims in [&id, &info] {
        for claim in ["name", "email", "address", "phone_number", "updated_at", "locale"] {
            assert!(claims.get(claim).is_none(), "{claim} released without its scope: {claims}");
        }
    }
    assert_eq!(info.as_object().unwrap().len(), 1, "only sub: {info}");
    let (_, info) = claims_for(&app, &email, "openid phone").await;
    assert_eq!(names(&info), ["phone_number", "phone_number_verified", "sub"]);
});

both_backends!(discovery_lists_the_claim_scopes_and_their_claims, |db: Db| async move {
    let app = spawn_app(db).await;
    let meta: serde_json::Value =
        app.api.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    for scope in ["openid", "profile", "email", "address", "phone", "offline_access"] {
        assert!(meta["scopes_supported"].as_array().unwrap().iter().any(|s| s == scope), "{scope}");
    }
    let acr: Vec<&str> = meta["acr_values_supported"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(
        acr,
        ["urn:ostiary:acr:single-factor", "http://schemas.openid.net/pape/policies/2007/06/multi-factor"],
        "the multi-factor value step-up gives"
    );
    for claim in ["name", "birthdate", "updated_at", "address", "phone_number", "phone_number_verified"] {
        assert!(meta["claims_supported"].as_array().unwrap().iter().any(|s| s == claim), "{claim}");
    }
    assert_eq!(meta["claims_parameter_supported"], true);
});

// OIDC Core §5.5 (oidctest OP-claims-essential): single claims asked for by name, for userinfo and
// for the ID token, each released only where it was asked for, whatever the scope, and again at
// every refresh of the grant.
both_backends!(the_claims_parameter_releases_single_claims_where_they_are_asked_for, |db: Db| async move {
    let app = spawn_app(db).await;
    let email = known_user(&app).await;
    let request = r#"{
        "userinfo": {"name": {"essential": true}, "email": null, "x-shoe-size": {"essential": true}},
        "id_token": {"phone_number": {"essential": true, "value": "+15550000000"}, "locale": null,
                     "auth_time": {"essential": true}, "nickname": {"essential": true}}
    }"#;
    let tokens = tokens_for(&app, &email, "openid offline_access", &[("claims", request)]).await;
    let check = |id: &serde_json::Value, info: &serde_json::Value| {
        // The user's own value, not the one asked for: `value` does not change what is true.
        assert_eq!(id["phone_number"], "+33612345678", "{id}");
        assert_eq!(id["locale"], "fr-FR");
        assert!(id["auth_time"].as_i64().is_some());
        for absent in ["name", "email", "nickname", "email_verified"] {
            assert!(id.get(absent).is_none(), "{absent} in the ID token: {id}");
        }
        // An essential claim the user has no value for (nickname), or that is not a claim here
        // (x-shoe-size), is left out without an error (§5.5.1).
        assert_eq!(names(info), ["email", "name", "sub"], "{info}");
        assert_eq!(info["email"], email.as_str());
        assert_eq!(info["name"], "Ann Lee");
    };
    let id = jwt_parts(tokens["id_token"].as_str().unwrap()).1;
    let info = userinfo(&app, tokens["access_token"].as_str().unwrap()).await;
    check(&id, &info);
    // The grant keeps the request: a refreshed ID token and access token release the same claims.
    let client = (tokens["client_id"].as_str().unwrap(), tokens["client_secret"].as_str().unwrap());
    let resp = app
        .token_request(
            &[("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())],
            Some(client),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let refreshed: serde_json::Value = resp.json().await.unwrap();
    let id = jwt_parts(refreshed["id_token"].as_str().unwrap()).1;
    check(&id, &userinfo(&app, refreshed["access_token"].as_str().unwrap()).await);
    // The claims add to the scope's, and the scope's still go to both.
    let tokens = tokens_for(&app, &email, "openid email", &[("claims", r#"{"id_token": {"name": null}}"#)]).await;
    let id = jwt_parts(tokens["id_token"].as_str().unwrap()).1;
    assert_eq!((&id["name"], &id["email"]), (&"Ann Lee".into(), &email.as_str().into()), "{id}");
    let info = userinfo(&app, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(names(&info), ["email", "email_verified", "sub"], "{info}");
});

// OIDC Core §5.5.1: "If the sub value is requested with a specific value for the ID Token, the
// Authorization Server MUST only send a positive response if the End-User identified by that sub
// value has an active session … or has been Authenticated as a result of the request."
both_backends!(a_sub_value_in_the_claims_parameter_names_the_only_user_who_may_answer, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = never_steps_up(&app).await;
    let ann = unique_email();
    let browser = app.browser();
    let back = app.sign_in(&browser, &authorize_url(&app, &client, &[]), &ann).await;
    let ann_sub = jwt_parts(exchange(&app, &client, &back).await["id_token"].as_str().unwrap()).1["sub"].clone();
    let for_ann = format!(r#"{{"id_token": {{"sub": {{"value": {ann_sub}}}}}}}"#);
    let for_someone_else = r#"{"id_token": {"sub": {"value": "someone-else"}}}"#;
    // Ann's session answers a request for Ann at once.
    let resp = browser.get(&authorize_url(&app, &client, &[("claims", for_ann.as_str()), ("prompt", "none")])).await;
    let back = url::Url::parse(&location(&resp)).unwrap();
    let id = jwt_parts(exchange(&app, &client, &back).await["id_token"].as_str().unwrap()).1;
    assert_eq!(id["sub"], ann_sub);
    // It does not answer for someone else: under prompt=none that is login_required, and a login
    // as Ann (not the user named) gets no code.
    let resp = browser.get(&authorize_url(&app, &client, &[("claims", for_someone_else), ("prompt", "none")])).await;
    let back = url::Url::parse(&location(&resp)).unwrap();
    assert_eq!(query_param(&back, "error").as_deref(), Some("login_required"), "{back}");
    let url = authorize_url(&app, &client, &[("claims", for_someone_else)]);
    let back = app.sign_in(&app.browser(), &url, &ann).await;
    assert_eq!(query_param(&back, "error").as_deref(), Some("login_required"), "{back}");
    assert!(query_param(&back, "code").is_none());
});

// OIDC Core §5.5: a claims parameter that is not a JSON claims request is `invalid_request`, sent
// back to the client with `state`.
both_backends!(a_malformed_claims_parameter_is_an_invalid_request, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = never_steps_up(&app).await;
    let browser = app.browser();
    for bad in [
        "[]",
        r#"{"userinfo": ["email"]}"#,
        r#"{"userinfo": {"email": true}}"#,
        r#"{"id_token": {"email": {"essential": "yes"}}}"#,
        r#"{"id_token": {"acr": {"essential": true, "values": "urn:ostiary:acr:single-factor"}}}"#,
        r#"{"id_token": {"sub": {"value": 42}}}"#,
    ] {
        let resp = browser.get(&authorize_url(&app, &client, &[("claims", bad)])).await;
        assert_eq!(resp.status(), 303, "{bad}");
        let back = url::Url::parse(&location(&resp)).expect("a redirect to the client");
        assert_eq!(query_param(&back, "error").as_deref(), Some("invalid_request"), "{bad}");
        assert_eq!(query_param(&back, "state").as_deref(), Some("st-123"));
    }
    // Members this provider does not understand are ignored (§5.5), not refused.
    let extension = r#"{"userinfo": {"email": {"essential": true, "purpose": "receipts"}}, "x-ext": 1}"#;
    let resp = browser.get(&authorize_url(&app, &client, &[("claims", extension)])).await;
    assert_eq!(resp.status(), 303);
    assert!(location(&resp).starts_with("/login/"), "{}", location(&resp));
});
