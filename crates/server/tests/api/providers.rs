//! The HTTP delivery providers against local stand-ins that check every request the way each
//! provider's API reference defines it (`testkit::providers`): SendGrid, Mandrill, Amazon SES,
//! Twilio and the signed SMS gateway; failover from a failing primary; final and retried failures.

use std::time::Duration;

use authorization_server::Alg;
use domain::Clock;
use testkit::providers::FakeProviders;
use testkit::{Db, TestApp, both_backends, spawn_app_with};

use crate::oidc::authorize_url;
use crate::unique_email;

/// An app whose email and SMS go through `email` and `sms` (provider names) at `fake`.
async fn app_with(db: Db, fake: &FakeProviders, email: &[&str], sms: &[&str]) -> TestApp {
    fn parse<T: serde::de::DeserializeOwned>(names: &[&str]) -> Vec<T> {
        names.iter().map(|n| serde_json::from_value(serde_json::Value::String(n.to_string())).unwrap()).collect()
    }
    let (email, sms) = (parse(email), parse(sms));
    spawn_app_with(db, |s| {
        fake.configure(s);
        s.delivery.email = email;
        s.delivery.sms = sms;
    })
    .await
}

/// The stored queue row of the newest message to `to`, once the worker has finished with it.
async fn settled(app: &TestApp, to: &str) -> store::messages::Message {
    for _ in 0..1000 {
        let found = app.store.recent_messages(50).await.unwrap().into_iter().find(|m| m.recipient == to);
        if let Some(m) = found.filter(|m| m.status == "sent" || m.status == "failed" || m.last_error.is_some()) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the message to {to} was never handled");
}

/// Queues a text message to `to` the way a sign-in would (sealed body), and wakes nothing: the
/// worker polls every second.
async fn queue_sms(app: &TestApp, to: &str, text: &str) {
    let id = domain::MessageId::sortable();
    let sealer = app.master.message_sealer();
    let message = store::messages::NewMessage {
        text_body: passwordless_connection::delivery::seal_body(&sealer, id.as_str(), text),
        html_body: None,
        leased_until: None,
        id,
        channel: domain::Channel::Sms,
        recipient: to.into(),
        subject: String::new(),
    };
    app.store.enqueue_message(message, app.clock.now()).await.unwrap();
}

both_backends!(each_email_provider_delivers_a_working_sign_in_code, |db: Db| async move {
    let fake = FakeProviders::start().await;
    for provider in ["sendgrid", "mandrill", "ses", "hook"] {
        let app = app_with(db, &fake, &[provider], &[]).await;
        let client = app.register_client(false, Alg::RS256).await;
        let browser = app.browser();
        let email = unique_email();
        let code_page = app.start_login(&browser, &authorize_url(&app, &client, &[]), &email).await;
        let m = fake.message_to(&email, 0).await;
        assert_eq!(m.provider, provider);
        assert_eq!(m.subject, "Your sign-in code for Test app");
        assert!(m.html.as_deref().is_some_and(|h| h.contains(&m.code(6))), "{provider}: the HTML part too");
        let resp = app.submit_code(&browser, &code_page, &m.code(6)).await;
        assert_eq!(resp.status(), 303, "{provider}: the delivered code signs in");
        let row = settled(&app, &email).await;
        assert_eq!((row.status.as_str(), row.provider.as_deref()), ("sent", Some(provider)));
        assert!(row.text_body.is_none(), "{provider}: the body is wiped once sent");
    }
    assert!(fake.refused().is_empty(), "requests broke an API's rules: {:?}", fake.refused());
});

both_backends!(each_sms_provider_delivers_a_text, |db: Db| async move {
    let fake = FakeProviders::start().await;
    for (provider, to) in [("twilio", "+447400123456"), ("gateway", "+33612345678"), ("hook", "+4915112345678")] {
        let app = app_with(db, &fake, &["outbox"], &[provider]).await;
        queue_sms(&app, to, "Your code is 123456").await;
        let m = fake.message_to(to, 0).await;
        assert_eq!((m.provider, m.text.as_str()), (provider, "Your code is 123456"));
        let row = settled(&app, to).await;
        assert_eq!((row.status.as_str(), row.provider.as_deref()), ("sent", Some(provider)));
    }
    assert!(fake.refused().is_empty(), "requests broke an API's rules: {:?}", fake.refused());
});

both_backends!(a_failing_primary_fails_over_to_the_secondary, |db: Db| async move {
    let fake = FakeProviders::start().await;
    let app = app_with(db, &fake, &["sendgrid", "mandrill"], &["twilio", "gateway"]).await;
    fake.fail_next("sendgrid", &[503]);
    fake.fail_next("twilio", &[500]);
    let client = app.register_client(false, Alg::RS256).await;
    let email = unique_email();
    app.start_login(&app.browser(), &authorize_url(&app, &client, &[]), &email).await;
    assert_eq!(fake.message_to(&email, 0).await.provider, "mandrill");
    let row = settled(&app, &email).await;
    assert_eq!((row.status.as_str(), row.provider.as_deref(), row.attempts), ("sent", Some("mandrill"), 1));

    queue_sms(&app, "+447400123456", "Your code is 654321").await;
    assert_eq!(fake.message_to("+447400123456", 0).await.provider, "gateway");
    assert_eq!(fake.received().len(), 2, "each message was sent once");
});

both_backends!(the_send_message_hook_takes_part_in_both_chains_with_failover, |db: Db| async move {
    let fake = FakeProviders::start().await;
    let app = app_with(db, &fake, &["hook", "sendgrid"], &["hook", "gateway"]).await;
    // The hook first; when it fails, the next provider.
    let client = app.register_client(false, Alg::RS256).await;
    let email = unique_email();
    app.start_login(&app.browser(), &authorize_url(&app, &client, &[]), &email).await;
    assert_eq!(fake.message_to(&email, 0).await.provider, "hook");
    fake.fail_next("hook", &[503]);
    let other = unique_email();
    app.start_login(&app.browser(), &authorize_url(&app, &client, &[]), &other).await;
    assert_eq!(fake.message_to(&other, 0).await.provider, "sendgrid");
    let row = settled(&app, &other).await;
    assert_eq!((row.status.as_str(), row.provider.as_deref()), ("sent", Some("sendgrid")));
    fake.fail_next("hook", &[500]);
    queue_sms(&app, "+447400123456", "Your code is 654321").await;
    assert_eq!(fake.message_to("+447400123456", 0).await.provider, "gateway");
    queue_sms(&app, "+447400123457", "Your code is 123456").await;
    let m = fake.message_to("+447400123457", 0).await;
    assert_eq!((m.provider, m.text.as_str(), m.subject.as_str()), ("hook", "Your code is 123456", ""));
    assert!(fake.refused().is_empty(), "requests broke the hook's rules: {:?}", fake.refused());
});

both_backends!(a_transient_failure_is_retried_and_a_final_one_is_not, |db: Db| async move {
    let fake = FakeProviders::start().await;
    let app = app_with(db, &fake, &["outbox"], &["twilio"]).await;
    fake.fail_next("twilio", &[503]);
    queue_sms(&app, "+447400123456", "first").await;
    let row = settled(&app, "+447400123456").await;
    assert_eq!(row.status, "queued", "a 503 is retried");
    assert!(row.last_error.as_deref().is_some_and(|e| e.contains("503")), "{:?}", row.last_error);
    app.clock.advance(5); // past the first backoff (4 s)
    let m = fake.message_to("+447400123456", 0).await;
    assert_eq!(m.text, "first");

    // A refusal no retry can fix (the gateway's 400-class answer to a bad signature) ends the message.
    let app = spawn_app_with(db, |s| {
        fake.configure(s);
        s.delivery.sms = vec![passwordless_connection::SmsProvider::Gateway];
        s.delivery.gateway.secret = Some(domain::Secret::new("a-different-secret-0123456789-abcdef".into()));
    })
    .await;
    queue_sms(&app, "+33612345678", "second").await;
    let row = settled(&app, "+33612345678").await;
    assert_eq!((row.status.as_str(), row.attempts), ("failed", 1), "{:?}", row.last_error);
    assert!(row.last_error.as_deref().is_some_and(|e| e.contains("gateway") && e.contains("401")));
    assert!(row.text_body.is_none(), "a failed message's body is wiped");
});
