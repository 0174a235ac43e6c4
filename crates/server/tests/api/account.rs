//! The account page: people manage their own account after signing in through the hosted login.
//! An address or number changes only with a code sent to the new one and a recent login; the
//! old one hears of it with a link that undoes it; sessions, second factors, my data, deleting.

use authorization_server::Alg;
use domain::Clock;
use domain::audit::AuditKind;
use testkit::{Browser, Db, TestApp, both_backends, csrf_of, location};

use crate::unique_email;

/// A browser signed in to `/account` as `email` (a new account, signed in just now).
async fn signed_in(app: &TestApp, email: &str) -> Browser {
    signed_in_from(app, email, app.browser(), "/account").await
}

async fn signed_in_from(app: &TestApp, email: &str, browser: Browser, start: &str) -> Browser {
    let resp = browser.get(start).await;
    assert_eq!(resp.status(), 303, "off to sign in");
    let authorize = location(&resp);
    let url = url::Url::parse(&app.url(&authorize)).unwrap();
    assert_eq!(url.path(), "/authorize");
    assert_eq!(testkit::query_param(&url, "client_id").as_deref(), Some("account"));
    let back = app.sign_in(&browser, &authorize, email).await;
    assert_eq!(back.path(), "/account/callback");
    let resp = browser.get(&format!("{}?{}", back.path(), back.query().unwrap())).await;
    assert_eq!(resp.status(), 303);
    assert!(location(&resp).starts_with(url::Url::parse(&app.url(start)).unwrap().path()), "{}", location(&resp));
    browser
}

async fn user(app: &TestApp, email: &str) -> Option<domain::User> {
    app.store.user_by_email(&domain::EmailAddress::parse(email).unwrap()).await.unwrap()
}

/// Posts a page's form (its CSRF token added) and returns the answer.
async fn post(browser: &Browser, page: &str, action: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let html = browser.get(page).await.text().await.unwrap();
    let csrf = csrf_of(&html);
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    browser.post_form(action, &form).await
}

both_backends!(
    an_owner_changes_their_email_with_a_code_to_the_new_address_and_the_old_one_can_undo_it,
    |db: Db| async move {
        let app = spawn(db).await;
        let (old, new) = (unique_email(), unique_email());
        let browser = signed_in(&app, &old).await;
        let home = browser.get("/account").await;
        assert_eq!(home.status(), 200);
        assert!(home.text().await.unwrap().contains(&old));

        // The new address gets a code; nothing changes until it comes back.
        let resp = post(&browser, "/account/email", "/account/email", &[("value", &new)]).await;
        assert_eq!(resp.status(), 200);
        assert!(resp.text().await.unwrap().contains("id=\"code-sent\""));
        assert_eq!(user(&app, &old).await.unwrap().email.unwrap().as_str(), old);
        let message = app.message_to(&new).await;
        assert!(message.subject.contains("confirmation code"), "{}", message.subject);
        let wrong = post(&browser, "/account", "/account/email/confirm", &[("code", "000000")]).await;
        assert_eq!(wrong.status(), 400);
        let resp = post(&browser, "/account", "/account/email/confirm", &[("code", &message.code())]).await;
        assert_eq!(resp.status(), 200);
        assert!(resp.text().await.unwrap().contains("Email address changed"));
        let changed = user(&app, &new).await.expect("the account has the new address");
        assert!(changed.email_verified);
        assert!(user(&app, &old).await.is_none());
        // The code works once.
        let again = post(&browser, "/account", "/account/email/confirm", &[("code", &message.code())]).await;
        assert_eq!(again.status(), 400);

        // The old address is told, with a link that puts it back and signs everyone out.
        let notice = app.message_to(&old).await;
        assert!(notice.text.contains(&new), "{}", notice.text);
        let undo =
            notice.text.split_whitespace().find(|w| w.contains("/account/undo/")).expect("an undo link").to_owned();
        let stranger = app.browser();
        let page = stranger.get(&undo).await;
        assert_eq!(page.status(), 200, "opening the link changes nothing");
        assert!(user(&app, &new).await.is_some());
        let html = page.text().await.unwrap();
        let path = url::Url::parse(&undo).unwrap().path().to_owned();
        let resp = stranger.post_form(&path, &[("csrf", &csrf_of(&html))]).await;
        assert_eq!(resp.status(), 200);
        let restored = user(&app, &old).await.expect("the old address is back");
        assert!(restored.email_verified && restored.id == changed.id);
        assert_eq!(browser.get("/account").await.status(), 303, "whoever changed it is signed out");
        let twice = stranger.post_form(&path, &[("csrf", &csrf_of(&html))]).await;
        assert_eq!(twice.status(), 404, "a link works once");

        let kinds: Vec<AuditKind> = app.store.audit_of(&changed.id, 20).await.unwrap().iter().map(|e| e.kind).collect();
        assert!(
            kinds.contains(&AuditKind::AccountUpdated) && kinds.contains(&AuditKind::AccountContactRestored),
            "{kinds:?}"
        );
    }
);

both_backends!(a_change_of_address_needs_a_recent_login_and_never_says_whose_an_address_is, |db: Db| async move {
    // The default limit of one message a minute per address.
    let app = testkit::spawn_app_with(db, |s| s.passwordless.limits.sends_per_destination_per_minute = 1).await;
    let (email, someone_else) = (unique_email(), unique_email());
    app.store.create_user(&domain::EmailAddress::parse(&someone_else).unwrap(), 0).await.unwrap();
    let browser = signed_in(&app, &email).await;
    // An address another account has: the page reads the same, and no code goes anywhere.
    let seen = app.message_ids_to(&someone_else).await;
    let resp = post(&browser, "/account/email", "/account/email", &[("value", &someone_else)]).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("id=\"code-sent\""));
    assert_eq!(app.message_ids_to(&someone_else).await, seen, "no code to an address someone else holds");
    // The send limits count it all the same: asking again at once is refused alike for a free
    // address and for a held one.
    let free = unique_email();
    post(&browser, "/account/email", "/account/email", &[("value", &free)]).await;
    let again_free = post(&browser, "/account/email", "/account/email", &[("value", &free)]).await.status();
    let again_held = post(&browser, "/account/email", "/account/email", &[("value", &someone_else)]).await.status();
    assert_eq!(again_free, 429);
    assert_eq!(again_held, again_free);
    // A code for it exists, but nobody has it: a guess is wrong exactly as for a free address.
    let guess = post(&browser, "/account", "/account/email/confirm", &[("code", "123456")]).await;
    assert_eq!(guess.status(), 400);
    // Not an address: said so.
    let bad = post(&browser, "/account/email", "/account/email", &[("value", "not an address")]).await;
    assert_eq!(bad.status(), 400);

    // Ten minutes later the overview still opens, but a change first signs in again.
    app.clock.advance(601);
    assert_eq!(browser.get("/account").await.status(), 200);
    let resp = browser.get("/account/email").await;
    assert_eq!(resp.status(), 303);
    let authorize = url::Url::parse(&app.url(&location(&resp))).unwrap();
    assert_eq!(testkit::query_param(&authorize, "max_age").as_deref(), Some("600"));
    let html = browser.get("/account").await.text().await.unwrap();
    let stale = browser.post_form("/account/email", &[("csrf", &csrf_of(&html)), ("value", &unique_email())]).await;
    assert_eq!(stale.status(), 303, "a stale login cannot ask for a code either");
    // Signing in again comes back to the change.
    let back = app.sign_in(&browser, authorize.as_str(), &email).await;
    let resp = browser.get(&format!("{}?{}", back.path(), back.query().unwrap())).await;
    assert_eq!(location(&resp), "/account/email");
    assert_eq!(browser.get("/account/email").await.status(), 200);
});

both_backends!(owners_edit_their_profile_see_and_end_sessions_and_download_their_data, |db: Db| async move {
    let app = spawn(db).await;
    let email = unique_email();
    let browser = signed_in(&app, &email).await;
    let other = signed_in(&app, &email).await;
    let me = user(&app, &email).await.unwrap();

    let html = browser.get("/account").await.text().await.unwrap();
    let version = me.version.to_string();
    let form = [("csrf", csrf_of(&html)), ("version", version.clone()), ("name", "Ada Lovelace".into())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let resp = browser.post_form("/account/profile", &form).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(user(&app, &email).await.unwrap().profile.name.as_deref(), Some("Ada Lovelace"));
    // The same form again, made from the old version: nothing is overwritten.
    let stale = browser.post_form("/account/profile", &form).await;
    assert_eq!(stale.status(), 409);

    // Both sessions are listed; ending the other one signs that browser out only.
    let html = browser.get("/account").await.text().await.unwrap().replace("&#x2F;", "/");
    let ends: Vec<&str> = html
        .split("action=\"/account/sessions/")
        .skip(1)
        .map(|s| s.split('/').next().unwrap())
        .filter(|s| !s.contains('"'))
        .collect();
    assert_eq!(ends.len(), 2, "{html}");
    assert_eq!(live(&app, &me.id).await, 2);
    let resp = browser.post_form(&format!("/account/sessions/{}/end", ends[0]), &[("csrf", &csrf_of(&html))]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(live(&app, &me.id).await, 1);
    let statuses = [browser.get("/account").await.status().as_u16(), other.get("/account").await.status().as_u16()];
    assert!(statuses.contains(&200) && statuses.contains(&303), "one browser signed out: {statuses:?}");
    let still_in = if statuses[0] == 200 { &browser } else { &other };
    // A session id that is not one of mine ends nothing.
    let html = still_in.get("/account").await.text().await.unwrap();
    let resp = still_in.post_form("/account/sessions/someone-elses/end", &[("csrf", &csrf_of(&html))]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(live(&app, &me.id).await, 1);

    // My data, as JSON.
    let data = still_in.get("/account/data").await;
    assert_eq!(data.status(), 200);
    assert!(data.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let json: serde_json::Value = data.json().await.unwrap();
    assert_eq!(json["account"]["email"], email.as_str());
    assert_eq!(json["account"]["profile"]["name"], "Ada Lovelace");
    assert!(json["sessions"].as_array().unwrap().len() == 1 && json["sign_ins"].is_array());

    // Sign out everywhere.
    let html = still_in.get("/account").await.text().await.unwrap();
    let resp = still_in.post_form("/account/sessions/end", &[("csrf", &csrf_of(&html))]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(live(&app, &me.id).await, 0);
    assert_eq!(still_in.get("/account").await.status(), 303);
});

both_backends!(owners_set_up_and_remove_an_authenticator_app_and_renew_recovery_codes, |db: Db| async move {
    let app = spawn(db).await;
    let email = unique_email();
    let browser = signed_in(&app, &email).await;
    let page = browser.get("/account/authenticator").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let secret: String = html.split("id=\"totp-secret\">").nth(1).unwrap().split('<').next().unwrap().replace(' ', "");
    assert!(html.contains("id=\"totp-open\" href=\"otpauth:&#x2F;&#x2F;totp&#x2F;"), "a link for a phone: {html}");
    assert!(html.contains(&format!("secret={secret}")), "the link holds the same key");
    let totp = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(&secret).unwrap())
        .with_account_name("test")
        .build()
        .unwrap();
    let ticket = html.split("name=\"ticket\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let csrf = csrf_of(&html);
    let wrong =
        browser.post_form("/account/authenticator", &[("csrf", &csrf), ("ticket", &ticket), ("code", "000000")]).await;
    assert_eq!(wrong.status(), 400);
    assert!(wrong.text().await.unwrap().contains(&secret.chars().take(4).collect::<String>()), "the same key again");
    let code = totp.generate(app.clock.now() as u64).to_string();
    let resp =
        browser.post_form("/account/authenticator", &[("csrf", &csrf), ("ticket", &ticket), ("code", &code)]).await;
    assert_eq!(resp.status(), 200);
    let codes = resp.text().await.unwrap().matches("<li><code>").count();
    assert_eq!(codes, 10);
    let home = browser.get("/account").await.text().await.unwrap();
    assert!(home.contains("id=\"authenticator-on\"") && home.contains("left: 10"), "{home}");

    let resp = browser.post_form("/account/recovery-codes", &[("csrf", &csrf_of(&home))]).await;
    assert_eq!(resp.status(), 200);
    let renewed: Vec<String> = resp
        .text()
        .await
        .unwrap()
        .split("<li><code>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap().to_owned())
        .collect();
    assert_eq!(renewed.len(), 10);

    let resp = browser.post_form("/account/authenticator/remove", &[("csrf", &csrf_of(&home))]).await;
    assert_eq!(resp.status(), 200);
    let home = browser.get("/account").await.text().await.unwrap();
    assert!(home.contains("id=\"authenticator-off\""), "{home}");
    let me = user(&app, &email).await.unwrap();
    let kinds: Vec<AuditKind> = app.store.audit_of(&me.id, 20).await.unwrap().iter().map(|e| e.kind).collect();
    for kind in [AuditKind::FactorEnrolled, AuditKind::AccountRecoveryCodesRenewed, AuditKind::AccountFactorsRemoved] {
        assert!(kinds.contains(&kind), "{kind:?} in {kinds:?}");
    }
});

both_backends!(an_owner_deletes_their_account_with_a_fresh_code, |db: Db| async move {
    let app = spawn(db).await;
    let email = unique_email();
    let browser = signed_in(&app, &email).await;
    let id = user(&app, &email).await.unwrap().id;
    let seen = app.message_ids_to(&email).await;
    let resp = post(&browser, "/account/delete", "/account/delete/code", &[]).await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    let code = app.new_message_to(&email, &seen).await.code();
    let wrong = browser.post_form("/account/delete", &[("csrf", &csrf_of(&html)), ("code", "000000")]).await;
    assert_eq!(wrong.status(), 400);
    assert!(user(&app, &email).await.is_some());
    let resp = browser.post_form("/account/delete", &[("csrf", &csrf_of(&html)), ("code", &code)]).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("Your account is deleted"));
    assert!(user(&app, &email).await.is_none());
    let kinds: Vec<AuditKind> = app.store.audit_of(&id, 20).await.unwrap().iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&AuditKind::AccountDeleted), "{kinds:?}");
    assert_eq!(browser.get("/account").await.status(), 303, "signed out");
});

both_backends!(the_account_page_speaks_french_wears_the_clients_branding_and_checks_csrf, |db: Db| async move {
    let app = spawn(db).await;
    let email = unique_email();
    let branding = domain::Branding { product_name: Some("Acme Cloud".into()), ..Default::default() };
    let settings = domain::ClientSettings { branding, ..Default::default() };
    let client = app.register_client_with(false, Alg::RS256, settings).await;
    let french = app.browser_speaking("fr");
    let browser = signed_in_from(&app, &email, french, &format!("/account?client_id={}", client.id)).await;
    let html =
        browser.get(&format!("/account?client_id={}", client.id)).await.text().await.unwrap().replace("&#x2F;", "/");
    assert!(html.contains("Votre compte") && html.contains("Acme Cloud"), "{html}");
    assert!(html.contains(&format!("/account/email?client_id={}", client.id)), "links keep the branding");
    // Every form is checked for its CSRF token.
    for action in ["/account/profile", "/account/email", "/account/sessions/end", "/account/delete/code"] {
        let resp = browser.post_form(action, &[("value", "x"), ("version", "1")]).await;
        assert_eq!(resp.status(), 403, "{action} without a CSRF token");
    }
});

/// The account's live sessions.
async fn live(app: &TestApp, id: &domain::UserId) -> usize {
    use admin::storage::SessionDirectory;
    app.store.sessions_of(id, app.clock.now()).await.unwrap().len()
}

async fn spawn(db: Db) -> TestApp {
    testkit::spawn_app(db).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_texted_account_code_ends_with_the_webotp_line() {
    let app = spawn(Db::Sqlite).await;
    let browser = signed_in(&app, &unique_email()).await;
    let number = "+33612345678";
    let resp = post(&browser, "/account/phone", "/account/phone", &[("value", number)]).await;
    assert_eq!(resp.status(), 200);
    let text = app.message_to(number).await;
    // WebOTP (https://wicg.github.io/sms-one-time-codes/): the last line binds the code to our host.
    assert!(text.text.ends_with(&format!("\n@127.0.0.1 #{}", text.code())), "{}", text.text);
}
