//! Snapshots of the emails as sent (issue 16): the sign-in email (code and link) and the email to
//! an unknown address when sign-ups are closed, text and HTML, in English and French, read from
//! the outbox after a real sign-in started on the hosted pages. What changes from run to run (the
//! code, the link's token, the server's address, the time) is replaced by fixed words first.
//!
//! A change to a template or a text fails here until the snapshot is renewed on purpose:
//! `OSTIARY_UPDATE_SNAPSHOTS=1 cargo nextest run -E 'test(/email_snapshots/)'`, then review the diff
//! of `crates/server/tests/api/snapshots/email/`.

use std::path::PathBuf;

use authorization_server::Alg;
use domain::Clock;
use testkit::{Db, OutboxMessage, TestApp, location};

use crate::oidc::authorize_url;

fn snapshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/api/snapshots/email")
}

/// `text` with each variable part replaced, in plain text and as Tera escapes it in HTML.
fn normalise(app: &TestApp, message: &OutboxMessage, text: &str) -> String {
    let mut pairs = vec![(app.base.clone(), "https://id.example".to_owned())];
    if text.contains("/login/link/") || text.contains("&#x2F;login&#x2F;link&#x2F;") {
        let link = message.link();
        let token = link.rsplit('/').next().unwrap().to_owned();
        pairs.push((token, "LINK-TOKEN".into()));
    }
    if message.text.split(|c: char| !c.is_ascii_digit()).any(|w| w.len() == 6) {
        pairs.push((message.code(), "123456".into()));
    }
    let at = domain::clock::for_people(app.clock.now(), None);
    pairs.push((at, "2026-01-02 03:04:05 UTC".into()));
    let mut out = text.to_owned();
    for (from, to) in pairs {
        out = out.replace(&from, &to).replace(&from.replace('/', "&#x2F;"), &to.replace('/', "&#x2F;"));
    }
    out
}

/// Compares `actual` with the snapshot `name`, or writes it when asked to.
fn check(name: &str, actual: &str) {
    let path = snapshot_dir().join(name);
    if std::env::var_os("OSTIARY_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(snapshot_dir()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; write it with OSTIARY_UPDATE_SNAPSHOTS=1", path.display()));
    assert!(
        expected == actual,
        "{} differs from what was sent; if the change is meant, renew it with OSTIARY_UPDATE_SNAPSHOTS=1.\n\
         --- expected\n{expected}\n--- sent\n{actual}",
        path.display()
    );
}

/// Starts a sign-in for `email` in `lang` and snapshots the email it sent as `{name}.{lang}`.
async fn snapshot(app: &TestApp, client: &testkit::TestClient, lang: &str, email: &str, name: &str) {
    let browser = app.browser();
    let login = location(&browser.get(&authorize_url(app, client, &[("ui_locales", lang)])).await);
    assert_eq!(app.submit_login(&browser, &login, ("email", email)).await.status(), 303);
    let message = app.message_to(email).await;
    let html = message.html.clone().expect("an HTML body");
    check(&format!("{name}.{lang}.subject.txt"), &normalise(app, &message, &message.subject));
    check(&format!("{name}.{lang}.txt"), &normalise(app, &message, &message.text));
    check(&format!("{name}.{lang}.html"), &normalise(app, &message, &html));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_emails_match_their_snapshots() {
    let app = testkit::spawn_app(Db::Sqlite).await;
    let client = app.register_client(false, Alg::RS256).await;
    for lang in ["en", "fr"] {
        snapshot(&app, &client, lang, &format!("ann.{lang}@example.com"), "sign_in").await;
    }
    let closed = testkit::spawn_app_with(Db::Sqlite, |s| s.passwordless.signups_enabled = false).await;
    let client = closed.register_client(false, Alg::RS256).await;
    for lang in ["en", "fr"] {
        snapshot(&closed, &client, lang, &format!("nobody.{lang}@example.com"), "no_account").await;
    }
}

// Issue 16: times in an email are in the user's time zone when the account has one (its
// `zoneinfo`), else in UTC, saying which.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_times_are_in_the_users_time_zone_or_clearly_utc() {
    let app = testkit::spawn_app(Db::Sqlite).await;
    let client = app.register_client(false, Alg::RS256).await;
    let tokyo = "kenji@example.com";
    let user = app.store.create_user(&domain::EmailAddress::parse(tokyo).unwrap(), app.clock.now()).await.unwrap();
    let mut profile = domain::Profile::default();
    profile.set("zoneinfo", Some("Asia/Tokyo")).unwrap();
    let update = store::users::UserUpdate { profile: Some(profile), ..Default::default() };
    app.store.update_user(&user.id, update, app.clock.now()).await.unwrap();
    for (email, expected) in [
        (tokyo, domain::clock::for_people(app.clock.now(), Some("Asia/Tokyo"))),
        ("nobody-yet@example.com", domain::clock::for_people(app.clock.now(), None)),
    ] {
        let browser = app.browser();
        let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
        assert_eq!(app.submit_login(&browser, &login, ("email", email)).await.status(), 303);
        let message = app.message_to(email).await;
        assert!(message.text.contains(&expected), "{expected:?} in {}", message.text);
        assert!(message.html.unwrap().contains(&expected.replace('/', "&#x2F;")), "{expected}");
    }
    assert!(domain::clock::for_people(app.clock.now(), Some("Asia/Tokyo")).ends_with(" Asia/Tokyo"));
}
