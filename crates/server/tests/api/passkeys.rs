//! Passkeys through the hosted pages and the real store, with webauthn-rs's software
//! authenticator in place of the browser's: the offer after a sign-in by code, the usernameless
//! sign-in that is multi-factor on its own, and refusals answered with the login page, never a
//! 5xx. (Every refusal's rule is tested in `crates/passkeys`; in Chromium, `tests/browser`.)

use authorization_server::Alg;
use domain::audit::AuditKind;
use serde_json::{Value, json};
use testkit::{Browser, Db, TestApp, TestClient, both_backends, csrf_of, location, spawn_app, spawn_app_with};
use webauthn_authenticator_rs::AuthenticatorBackend;
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, PublicKeyCredential, RequestChallengeResponse, Url, WebauthnAuthenticator,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::oidc::{authorize_url, exchange};
use crate::stepup::first_factor;
use crate::{jwt_parts, unique_email};

const MFA: &str = "http://schemas.openid.net/pape/policies/2007/06/multi-factor";

/// An app whose issuer is `http://localhost:PORT`: browsers refuse IP addresses as a passkey's
/// relying party, and so does Ostiary.
async fn app(db: Db) -> TestApp {
    spawn_app_with(db, |s| {
        let issuer = s.server.issuer.to_string().replace("127.0.0.1", "localhost");
        s.server.issuer = domain::Issuer::parse(&issuer).expect("issuer");
    })
    .await
}

fn origin(app: &TestApp) -> Url {
    Url::parse(&app.base).expect("origin")
}

/// Posts a page's form for JSON options; the page's CSRF token goes with it.
async fn options(browser: &Browser, page: &str, options: &str) -> Value {
    let html = browser.get(page).await.text().await.expect("page");
    let resp = browser.post_form(options, &[("csrf", &csrf_of(&html))]).await;
    assert_eq!(resp.status(), 200, "options of {options}");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    resp.json().await.expect("options JSON")
}

/// A passkey made with `authenticator` after a sign-in by code: the account's user handle (from
/// the creation options) and the redirect back to the client.
async fn earn(app: &TestApp, client: &TestClient, authenticator: &mut SoftPasskey, email: &str) -> (Vec<u8>, url::Url) {
    let browser = app.browser();
    let step_up = first_factor(app, &browser, &authorize_url(app, client, &[]), email).await;
    let resp = browser.get(&step_up).await;
    assert_eq!(resp.status(), 303);
    let offer = location(&resp);
    assert!(offer.ends_with("/passkey"), "a passkey is offered after a code: {offer}");
    let mut o = options(&browser, &offer, &format!("{offer}/options")).await;
    assert_eq!(o["publicKey"]["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(o["publicKey"]["authenticatorSelection"]["userVerification"], "required");
    let handle = o["publicKey"]["user"]["id"].as_str().expect("user handle").to_owned();
    // The software authenticator keeps no resident keys, so it is not asked for one.
    o["publicKey"]["authenticatorSelection"]["requireResidentKey"] = json!(false);
    o["publicKey"]["authenticatorSelection"]["residentKey"] = json!("discouraged");
    let o: CreationChallengeResponse = serde_json::from_value(o).expect("creation options");
    let made = authenticator.do_registration(origin(app), o).expect("registration");
    let html = browser.get(&offer).await.text().await.expect("offer page");
    assert!(html.contains("id=\"passkey-enroll\"") && html.contains("id=\"passkey-skip\""), "{html}");
    let credential = serde_json::to_string(&made).expect("json");
    let resp = browser.post_form(&offer, &[("csrf", &csrf_of(&html)), ("credential", &credential)]).await;
    assert_eq!(resp.status(), 303);
    let back = app.resume(&browser, &location(&resp)).await;
    use base64::Engine;
    (base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(handle).expect("base64url"), back)
}

/// A usernameless sign-in's answer for the login page `login`: options from the page, answered by
/// `authenticator` (told which credential, as a browser would find its resident key), with the
/// account's user handle, as a resident key's answer carries it.
async fn answer(
    app: &TestApp,
    browser: &Browser,
    login: &str,
    authenticator: &mut SoftPasskey,
    credential_id: &[u8],
    handle: &[u8],
) -> String {
    answer_as(browser, login, (authenticator, credential_id, handle), |_| {}, origin(app)).await
}

/// [`answer`], with the options edited and the client data's origin chosen, as a hostile or
/// broken client would.
async fn answer_as(
    browser: &Browser,
    login: &str,
    (authenticator, credential_id, handle): (&mut SoftPasskey, &[u8], &[u8]),
    edit: impl FnOnce(&mut Value),
    origin: Url,
) -> String {
    use base64::Engine;
    let mut o = options(browser, login, &format!("{login}/passkey/options")).await;
    assert_eq!(o["publicKey"]["allowCredentials"], json!([]), "usernameless: no credentials named");
    assert_eq!(o["mediation"], "conditional");
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(credential_id);
    o["publicKey"]["allowCredentials"] = json!([{"type": "public-key", "id": id}]);
    edit(&mut o);
    let o: RequestChallengeResponse = serde_json::from_value(o).expect("request options");
    let mut signed: PublicKeyCredential = authenticator.perform_auth(origin, o.public_key, 60_000).expect("assertion");
    signed.response.user_handle = Some(handle.to_vec());
    serde_json::to_string(&signed).expect("json")
}

both_backends!(a_passkey_earned_after_a_code_signs_in_alone_as_multi_factor, |db: Db| async move {
    let app = app(db).await;
    let client = app.register_client_with(false, Alg::RS256, Default::default()).await;
    let email = unique_email();
    let mut authenticator = SoftPasskey::new(true);
    let (handle, back) = earn(&app, &client, &mut authenticator, &email).await;
    let tokens = exchange(&app, &client, &back).await;
    let (_, claims) = jwt_parts(tokens["id_token"].as_str().expect("id token"));
    assert_eq!(claims["amr"], json!(["otp"]), "that sign-in was by code");
    let told = app.messages_to(&email).await;
    assert!(told.iter().any(|m| m.subject.contains("passkey was added")), "the owner is told");
    let user = app.store.user_by_email(&domain::EmailAddress::parse(&email).unwrap()).await.unwrap().unwrap();
    let audit = app.store.audit_of(&user.id, 50).await.unwrap();
    assert!(audit.iter().any(|e| e.kind == AuditKind::PasskeyAdded), "{audit:?}");
    let credential_id = {
        let passkeys = <store::Store as passkeys::PasskeyStore>::passkeys(&app.store, &user.id).await.unwrap();
        assert_eq!(passkeys.len(), 1);
        passkeys[0].credential_id.clone()
    };

    // A new browser, an application demanding multi-factor: the passkey alone, no address, no code.
    let browser = app.browser();
    let resp = browser.get(&authorize_url(&app, &client, &[("acr_values", MFA)])).await;
    let login = location(&resp);
    let html = browser.get(&login).await.text().await.expect("login page");
    assert!(html.contains("id=\"passkey-sign-in\"") && html.contains("email webauthn"), "{html}");
    let signed = answer(&app, &browser, &login, &mut authenticator, &credential_id, &handle).await;
    let resp =
        browser.post_form(&format!("{login}/passkey"), &[("csrf", &csrf_of(&html)), ("credential", &signed)]).await;
    assert_eq!(resp.status(), 303);
    let back = app.resume(&browser, &location(&resp)).await;
    let tokens = exchange(&app, &client, &back).await;
    let (_, claims) = jwt_parts(tokens["id_token"].as_str().expect("id token"));
    assert_eq!(claims["sub"], user.id.as_str());
    assert_eq!(claims["acr"], MFA);
    assert_eq!(claims["amr"], json!(["hwk", "user", "mfa"]), "a device-bound passkey with user verification");

    // The same answer again, in another sign-in (whose options hold another challenge): refused
    // with the login page, and audited.
    let browser = app.browser();
    let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
    options(&browser, &login, &format!("{login}/passkey/options")).await;
    let html = browser.get(&login).await.text().await.expect("login page");
    let resp =
        browser.post_form(&format!("{login}/passkey"), &[("csrf", &csrf_of(&html)), ("credential", &signed)]).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("did not sign you in"));
    let audit = app.store.audit_of(&user.id, 50).await.unwrap();
    assert!(audit.iter().any(|e| e.kind == AuditKind::PasskeyRefused), "{audit:?}");
});

both_backends!(hostile_passkey_answers_get_the_login_page_never_a_5xx, |db: Db| async move {
    let app = app(db).await;
    let client = app.register_client_with(false, Alg::RS256, Default::default()).await;
    let browser = app.browser();
    let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
    let html = browser.get(&login).await.text().await.expect("login page");
    let csrf = csrf_of(&html);
    let big = "x".repeat(20_000);
    for garbage in ["", "null", "{\"id\":1}", "[]", "{\"rawId\":\"%%%\"}"] {
        options(&browser, &login, &format!("{login}/passkey/options")).await;
        let resp = browser.post_form(&format!("{login}/passkey"), &[("csrf", &csrf), ("credential", garbage)]).await;
        assert_eq!(resp.status(), 400, "{garbage}");
    }
    // No options asked for: nothing to answer.
    let resp = browser.post_form(&format!("{login}/passkey"), &[("csrf", &csrf), ("credential", "{}")]).await;
    assert_eq!(resp.status(), 400);
    let resp = browser.post_form(&format!("{login}/passkey"), &[("csrf", &csrf), ("credential", &big)]).await;
    assert_eq!(resp.status(), 413);
    // Without the CSRF token, no options.
    let resp = browser.post_form(&format!("{login}/passkey/options"), &[]).await;
    assert_eq!(resp.status(), 403);
    // Another browser cannot use this sign-in's passkey endpoints, even with a token of its own.
    let other = app.browser();
    let own_login = location(&other.get(&authorize_url(&app, &client, &[])).await);
    let own_csrf = csrf_of(&other.get(&own_login).await.text().await.expect("login page"));
    let resp = other.post_form(&format!("{login}/passkey/options"), &[("csrf", &own_csrf)]).await;
    assert_eq!(resp.status(), 403);

    // An IP blocked for every account signs in to none, with a passkey either.
    use domain::Clock;
    use passwordless_connection::storage::{BlockScope, BlockStore, NewBlock};
    let now = app.clock.now();
    let block = NewBlock {
        ip: "127.0.0.1".into(),
        scope: BlockScope::AllAccounts,
        reason: "test".into(),
        unblock_hash: None,
        created_at: now,
        expires_at: now + 3600,
    };
    BlockStore::insert_block(&app.store, block).await.unwrap();
    options(&browser, &login, &format!("{login}/passkey/options")).await;
    let resp = browser.post_form(&format!("{login}/passkey"), &[("csrf", &csrf), ("credential", "{}")]).await;
    assert_eq!(resp.status(), 429);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_that_is_an_ip_address_offers_no_passkeys() {
    let app = spawn_app(Db::Sqlite).await;
    let client = app.register_client_with(false, Alg::RS256, Default::default()).await;
    let browser = app.browser();
    let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
    let html = browser.get(&login).await.text().await.expect("login page");
    assert!(!html.contains("passkey-sign-in") && !html.contains("webauthn"), "{html}");
    let resp = browser.post_form(&format!("{login}/passkey/options"), &[("csrf", &csrf_of(&html))]).await;
    assert_eq!(resp.status(), 404);
    // And a sign-in by code goes straight back to the application: no offer.
    let back = app.sign_in(&browser, &authorize_url(&app, &client, &[]), &unique_email()).await;
    assert!(back.as_str().starts_with(&client.redirect_uri), "{back}");
}

both_backends!(a_passkey_is_the_first_second_factor_and_admins_can_remove_it, |db: Db| async move {
    use domain::{ClientSettings, StepUp, StepUpPolicy, WithoutFactor};
    let app = app(db).await;
    let plain = app.register_client_with(false, Alg::RS256, Default::default()).await;
    let strict = ClientSettings {
        step_up: StepUp { policy: StepUpPolicy::Always, without_factor: WithoutFactor::Deny },
        ..Default::default()
    };
    let strict = app.register_client_with(false, Alg::RS256, strict).await;
    let email = unique_email();
    let mut authenticator = SoftPasskey::new(true);
    let (handle, _) = earn(&app, &plain, &mut authenticator, &email).await;

    // A sign-in by code to a client that always asks for a second factor: the passkey is offered
    // first, and proves it.
    let browser = app.browser();
    let step_up = first_factor(&app, &browser, &authorize_url(&app, &strict, &[]), &email).await;
    let resp = browser.get(&step_up).await;
    assert_eq!(resp.status(), 200, "step-up asks for a factor");
    let html = resp.text().await.unwrap();
    let (key, totp) = (html.find("id=\"passkey-step-up\"").expect("the passkey"), html.find("id=\"totp\""));
    assert!(totp.is_none_or(|t| key < t), "the passkey comes first");
    let o = options(&browser, &step_up, &format!("{step_up}/key/options")).await;
    assert_eq!(o["publicKey"]["userVerification"], "required");
    let o: RequestChallengeResponse = serde_json::from_value(o).expect("request options");
    let signed = authenticator.do_authentication(origin(&app), o).expect("assertion");
    let signed = serde_json::to_string(&signed).unwrap();
    let resp =
        browser.post_form(&format!("{step_up}/key"), &[("csrf", &csrf_of(&html)), ("credential", &signed)]).await;
    assert_eq!(resp.status(), 303);
    let next = location(&resp);
    assert!(next.starts_with("/authorize/resume/"), "no passkey offer to someone who just used one: {next}");
    let back = app.resume(&browser, &next).await;
    let tokens = exchange(&app, &strict, &back).await;
    let (_, claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["acr"], MFA);
    assert_eq!(claims["amr"], json!(["otp", "hwk", "user", "mfa"]));

    // The admin API lists it and removes it; the owner is told; it no longer signs in.
    let (_, token) = crate::admin::admin_token(&app).await;
    let user = app.store.user_by_email(&domain::EmailAddress::parse(&email).unwrap()).await.unwrap().unwrap();
    let list = format!("/api/admin/v1/users/{}/passkeys", user.id);
    let body: Value = app.api.get(app.url(&list)).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    let passkeys = body["passkeys"].as_array().expect("a list").clone();
    assert_eq!(passkeys.len(), 1, "{body}");
    assert_eq!((passkeys[0]["synced"].clone(), passkeys[0]["last_used_at"].is_i64()), (json!(false), true));
    let one = format!("{list}/{}", passkeys[0]["id"].as_str().unwrap());
    assert_eq!(app.api.delete(app.url(&one)).send().await.unwrap().status(), 401, "only with a token");
    assert_eq!(app.api.delete(app.url(&one)).bearer_auth(&token).send().await.unwrap().status(), 204);
    assert_eq!(app.api.delete(app.url(&one)).bearer_auth(&token).send().await.unwrap().status(), 404);
    assert!(app.messages_to(&email).await.iter().any(|m| m.subject.contains("passkey was removed")));
    let audit = app.store.audit_of(&user.id, 50).await.unwrap();
    assert!(audit.iter().any(|e| e.kind == AuditKind::PasskeyRemoved), "{audit:?}");

    let browser = app.browser();
    let login = location(&browser.get(&authorize_url(&app, &plain, &[])).await);
    let html = browser.get(&login).await.text().await.unwrap();
    let credential_id = serde_json::from_str::<Value>(&signed).unwrap()["rawId"].as_str().unwrap().to_owned();
    use base64::Engine;
    let credential_id = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(credential_id).unwrap();
    let signed = answer(&app, &browser, &login, &mut authenticator, &credential_id, &handle).await;
    let resp =
        browser.post_form(&format!("{login}/passkey"), &[("csrf", &csrf_of(&html)), ("credential", &signed)]).await;
    assert_eq!(resp.status(), 400, "a removed passkey signs in no more");
});

both_backends!(an_admin_sees_and_removes_a_users_passkey_in_the_console, |db: Db| async move {
    let app = app(db).await;
    let client = app.register_client_with(false, Alg::RS256, Default::default()).await;
    let email = unique_email();
    earn(&app, &client, &mut SoftPasskey::new(true), &email).await;
    let user = app.store.user_by_email(&domain::EmailAddress::parse(&email).unwrap()).await.unwrap().unwrap();
    let (browser, admin) = crate::admin_console::console_admin(&app).await;
    let path = format!("/admin/users/{}", user.id);
    let html = browser.get(&path).await.text().await.unwrap();
    assert!(html.contains("id=\"passkeys\"") && html.contains("remove-passkey"), "{html}");
    let id = <store::Store as passkeys::PasskeyStore>::passkeys(&app.store, &user.id).await.unwrap()[0].id.clone();
    let resp = browser.post_form(&format!("{path}/passkeys/{id}/remove"), &[("csrf", &csrf_of(&html))]).await;
    assert_eq!((resp.status().as_u16(), location(&resp)), (303, path.clone()));
    assert!(<store::Store as passkeys::PasskeyStore>::passkeys(&app.store, &user.id).await.unwrap().is_empty());
    let me = app.store.user_by_email(&domain::EmailAddress::parse(&admin).unwrap()).await.unwrap().unwrap();
    let audit = app.store.audit_of(&user.id, 5).await.unwrap();
    let removed = audit.iter().find(|e| e.kind == AuditKind::PasskeyRemoved).expect("audited");
    assert_eq!(removed.detail["actor"], me.id.as_str(), "{removed:?}");
    // Gone already: 404, nothing else removed.
    let resp = browser.post_form(&format!("{path}/passkeys/{id}/remove"), &[("csrf", &csrf_of(&html))]).await;
    assert_eq!(resp.status(), 404);
});

/// Two nodes on one PostgreSQL database, as behind a load balancer: the options come from one, the
/// answer goes to the other. Every ceremony is in the database, so either can finish it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ceremony_begun_on_one_node_finishes_on_another() {
    let db = testkit::PostgresDatabase::create().await;
    let key = domain::MasterKey::generate();
    let localhost = |s: &mut ostiary::config::Settings| {
        let issuer = s.server.issuer.to_string().replace("127.0.0.1", "localhost");
        s.server.issuer = domain::Issuer::parse(&issuer).expect("issuer");
    };
    let a = testkit::spawn_app_on(&db.url, |s| {
        s.secrets.master_key = Some(key.clone());
        localhost(s);
    })
    .await;
    let issuer = a.settings.server.issuer.clone();
    let b = testkit::spawn_app_on(&db.url, |s| {
        s.secrets.master_key = Some(key.clone());
        s.server.issuer = issuer.clone();
    })
    .await;
    let b_url = |path: &str| format!("http://localhost:{}{path}", b.settings.server.bind.port());

    let client = a.register_client_with(false, Alg::RS256, Default::default()).await;
    let email = unique_email();
    let mut authenticator = SoftPasskey::new(true);
    let (handle, _) = earn(&a, &client, &mut authenticator, &email).await;
    let user = a.store.user_by_email(&domain::EmailAddress::parse(&email).unwrap()).await.unwrap().unwrap();
    let id =
        <store::Store as passkeys::PasskeyStore>::passkeys(&a.store, &user.id).await.unwrap()[0].credential_id.clone();

    let browser = a.browser();
    let login = location(&browser.get(&authorize_url(&a, &client, &[])).await);
    let html = browser.get(&login).await.text().await.unwrap();
    let signed = answer(&a, &browser, &login, &mut authenticator, &id, &handle).await;
    let resp = browser
        .post_form(&b_url(&format!("{login}/passkey")), &[("csrf", &csrf_of(&html)), ("credential", &signed)])
        .await;
    assert_eq!(resp.status(), 303, "node B finishes what node A began");
    let step_up = location(&resp);
    let resp = browser.get(&b_url(&step_up)).await;
    assert_eq!(resp.status(), 303);
    let back = a.resume(&browser, &location(&resp)).await;
    assert!(testkit::query_param(&back, "code").is_some(), "{back}");
    // (The client's secret was hashed under the test's own key, not the nodes' shared one: the
    // sign-in is read from the audit log instead of a token.)
    let audit = a.store.audit_of(&user.id, 10).await.unwrap();
    let signed_in = audit.iter().find(|e| e.kind == AuditKind::SignedIn).expect("signed in");
    assert_eq!(signed_in.detail["amr"], json!(["hwk", "user", "mfa"]), "{signed_in:?}");
}

both_backends!(each_refusal_over_http_is_the_login_page_and_an_audit_entry, |db: Db| async move {
    let app = app(db).await;
    let client = app.register_client_with(false, Alg::RS256, Default::default()).await;
    let email = unique_email();
    let mut authenticator = SoftPasskey::new(true);
    let (handle, _) = earn(&app, &client, &mut authenticator, &email).await;
    let user = app.store.user_by_email(&domain::EmailAddress::parse(&email).unwrap()).await.unwrap().unwrap();
    let id = <store::Store as passkeys::PasskeyStore>::passkeys(&app.store, &user.id).await.unwrap()[0]
        .credential_id
        .clone();
    let evil = Url::parse("http://localhost.evil.test").unwrap();
    type Edit = fn(&mut Value);
    let uv_off: Edit = |o| o["publicKey"]["userVerification"] = json!("discouraged");
    let other_rp: Edit = |o| o["publicKey"]["rpId"] = json!("example.org");
    let unchanged: Edit = |_| {};
    let cases =
        [("wrong_origin", unchanged, true), ("no_user_verification", uv_off, false), ("wrong_rp_id", other_rp, false)];
    for (refusal, edit, evil_origin) in cases {
        let browser = app.browser();
        let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
        let html = browser.get(&login).await.text().await.unwrap();
        let from = if evil_origin { evil.clone() } else { origin(&app) };
        let signed = answer_as(&browser, &login, (&mut authenticator, &id, &handle), edit, from).await;
        let resp =
            browser.post_form(&format!("{login}/passkey"), &[("csrf", &csrf_of(&html)), ("credential", &signed)]).await;
        assert_eq!(resp.status(), 400, "{refusal}");
        let audit = app.store.audit_of(&user.id, 1).await.unwrap();
        assert_eq!((audit[0].kind, audit[0].detail["refusal"].as_str()), (AuditKind::PasskeyRefused, Some(refusal)));
    }

    // A cloned authenticator: two answers signed in turn, the later one used first; the earlier
    // one's counter has gone back.
    let (x, y) = (app.browser(), app.browser());
    let login_x = location(&x.get(&authorize_url(&app, &client, &[])).await);
    let login_y = location(&y.get(&authorize_url(&app, &client, &[])).await);
    let (html_x, html_y) = (x.get(&login_x).await.text().await.unwrap(), y.get(&login_y).await.text().await.unwrap());
    let earlier = answer(&app, &x, &login_x, &mut authenticator, &id, &handle).await;
    let later = answer(&app, &y, &login_y, &mut authenticator, &id, &handle).await;
    let resp = y.post_form(&format!("{login_y}/passkey"), &[("csrf", &csrf_of(&html_y)), ("credential", &later)]).await;
    assert_eq!(resp.status(), 303);
    let resp =
        x.post_form(&format!("{login_x}/passkey"), &[("csrf", &csrf_of(&html_x)), ("credential", &earlier)]).await;
    assert_eq!(resp.status(), 400);
    let audit = app.store.audit_of(&user.id, 1).await.unwrap();
    assert_eq!(audit[0].detail["refusal"], "counter_went_back", "{:?}", audit[0]);
});
