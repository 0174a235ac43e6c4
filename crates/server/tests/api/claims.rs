//! OIDC Core §5.4: the scopes `profile`, `email`, `address` and `phone` release their standard
//! claims, at `/userinfo` and in the ID token, and nothing beyond what was granted.

use authorization_server::Alg;
use domain::{Clock, EmailAddress, PhoneNumber, Profile};
use store::users::UserUpdate;
use testkit::{Db, TestApp, both_backends, spawn_app};

use crate::oidc::{authorize_url_with, exchange};
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

/// Signs `email` in with `scope`; returns (ID token claims, userinfo response).
async fn claims_for(app: &TestApp, email: &str, scope: &str) -> (serde_json::Value, serde_json::Value) {
    // The user's verified phone is a second factor; step-up is not what this test is about.
    let never = domain::ClientSettings {
        step_up: domain::StepUp { policy: domain::StepUpPolicy::Never, ..Default::default() },
        ..Default::default()
    };
    let client = app.register_client_with(false, Alg::ES256, never).await;
    let url = authorize_url_with(app, &client, &["scope"], &[("scope", scope)]);
    let back = app.sign_in(&app.browser(), &url, email).await;
    let tokens = exchange(app, &client, &back).await;
    let (_, id_claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
    let userinfo: serde_json::Value = app
        .api
        .get(app.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (id_claims, userinfo)
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
    let mut keys: Vec<&String> = info.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["phone_number", "phone_number_verified", "sub"]);
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
});
