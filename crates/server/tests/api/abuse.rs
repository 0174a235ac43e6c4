//! Abuse protection: send limits per destination, resends of the same code, IP blocks after wrong
//! codes (per account and across accounts) with the owner's alert and the user's unblock link,
//! the global failure budget, SMS pumping alerts, and trusted-proxy client IPs.

use authorization_server::Alg;
use passwordless_connection::storage::BlockScope;
use testkit::{Browser, Db, TestApp, TestClient, both_backends, location, spawn_app_with};

use crate::oidc::authorize_url;
use crate::{all_methods, unique_email, unique_phone};

const OWNER: &str = "owner@example.com";

fn wrong(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}

/// An app whose limits are the defaults, behind a trusted proxy at 127.0.0.1 (so each test browser
/// can speak for its own client IP), with alerts going to [`OWNER`].
async fn guarded(db: Db, adjust: impl FnOnce(&mut ostiary::config::Settings)) -> TestApp {
    spawn_app_with(db, |s| {
        s.passwordless.limits = ostiary::config::Settings::defaults().unwrap().passwordless.limits;
        s.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        s.passwordless.alerts.owner_email = Some(domain::EmailAddress::parse(OWNER).unwrap());
        adjust(s);
    })
    .await
}

/// Posts the resend form of `code_page`.
async fn resend(browser: &Browser, code_page: &str) -> reqwest::Response {
    let html = browser.get(code_page).await.text().await.unwrap();
    let csrf = testkit::csrf_of(html.split("id=\"resend-form\"").nth(1).unwrap());
    browser.post_form(&code_page.replace("/code", "/resend"), &[("csrf", &csrf)]).await
}

both_backends!(one_message_per_destination_per_minute_and_five_per_hour, |db: Db| async move {
    // Codes live ten minutes here, so five messages a minute apart all fit in one challenge.
    let app = guarded(db, |s| s.passwordless.email.ttl = 600).await;
    let client = app.register_client(false, Alg::RS256).await;
    let browser = app.browser_behind_proxy("198.51.100.7");
    let email = unique_email();
    let code_page = app.start_login(&browser, &authorize_url(&app, &client, &[]), &email).await;
    let first = app.message_to(&email).await;
    // The code page counts down before "send again"; asking sooner gets 429 and the same page.
    let page = browser.get(&code_page).await.text().await.unwrap();
    assert!(page.contains("data-seconds=\"60\"") || page.contains("data-seconds=\"59\""), "{page}");
    let resp = resend(&browser, &code_page).await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() <= 60);
    assert!(resp.text().await.unwrap().contains("You can ask for another one in"));
    // A minute later the resend goes out: the same code, so the one being typed still works.
    for sent in 2..=5 {
        app.clock.advance(61);
        let resp = resend(&browser, &code_page).await;
        assert_eq!(resp.status(), 303, "message {sent}");
        assert!(location(&resp).ends_with("/code?resent=1"));
        let again = app.new_message_to(&email, &app.message_ids_to(&email).await[1..]).await;
        assert_eq!(again.code(), first.code(), "a resend repeats the code");
    }
    app.clock.advance(61);
    let resp = resend(&browser, &code_page).await;
    assert_eq!(resp.status(), 429, "the sixth message in an hour waits");
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 60 && retry <= 3600, "{retry}");
    assert_eq!(app.messages_to(&email).await.len(), 5);
    // The first code still signs in.
    assert_eq!(app.submit_code(&browser, &code_page, &first.code()).await.status(), 303);
});

both_backends!(a_second_send_within_the_minute_counts_down_and_leads_back, |db: Db| async move {
    let app = guarded(db, |_| {}).await;
    let client = app.register_client(false, Alg::RS256).await;
    let browser = app.browser_behind_proxy("198.51.100.8");
    let email = unique_email();
    let code_page = app.start_login(&browser, &authorize_url(&app, &client, &[]), &email).await;
    // The same address again on the login page, within the minute: "Please wait a moment".
    let login = code_page.strip_suffix("/code").unwrap().to_owned();
    let resp = app.submit_login(&browser, &login, ("email", &email)).await;
    assert_eq!(resp.status(), 429);
    let page = resp.text().await.unwrap();
    assert!(page.contains("Please wait a moment") && page.contains("role=\"timer\" data-countdown=\""), "{page}");
    let seconds: u64 = page.split("data-countdown=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
    assert!((1..=60).contains(&seconds), "{seconds}");
    assert!(page.contains("data-done=\"You can ask for another one now.\""), "{page}");
    // No dead end: a link back to the login page, where another address can be typed.
    let back = page.split("id=\"back\" href=\"").nth(1).unwrap().split('"').next().unwrap().replace("&#x2F;", "/");
    assert_eq!(back, login);
    assert_eq!(browser.get(&back).await.status(), 200);
    assert_eq!(app.messages_to(&email).await.len(), 1, "nothing more was sent");
});

/// Starts a sign-in for `email` from `browser` and types `n` wrong codes (restarting when a
/// challenge is used up); returns the statuses of the wrong submissions.
async fn wrong_codes(app: &TestApp, client: &TestClient, browser: &Browser, email: &str, n: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    while statuses.len() < n {
        let seen = app.message_ids_to(email).await;
        let code_page = app.start_login(browser, &authorize_url(app, client, &[]), email).await;
        let code = app.new_message_to(email, &seen).await.code();
        for _ in 0..3 {
            if statuses.len() == n {
                break;
            }
            statuses.push(app.submit_code(browser, &code_page, &wrong(&code)).await.status().as_u16());
        }
    }
    statuses
}

both_backends!(ten_wrong_codes_from_one_ip_block_it_for_that_account_only, |db: Db| async move {
    let app = guarded(db, |s| {
        s.passwordless.limits.sends_per_destination_per_minute = 1000;
        s.passwordless.limits.sends_per_destination_per_hour = 1000;
    })
    .await;
    let client = app.register_client(false, Alg::RS256).await;
    let victim = unique_email();
    // The victim has an account (so the unblock email has somewhere to go).
    app.sign_in(&app.browser_behind_proxy("192.0.2.1"), &authorize_url(&app, &client, &[]), &victim).await;
    let attacker = app.browser_behind_proxy("203.0.113.66");
    let statuses = wrong_codes(&app, &client, &attacker, &victim, 10).await;
    assert!(statuses.iter().all(|s| *s == 400), "{statuses:?}");
    // Blocked for that account: no new message, no more guesses.
    let resp = app
        .submit_login(&attacker, &location(&attacker.get(&authorize_url(&app, &client, &[])).await), ("email", &victim))
        .await;
    assert_eq!(resp.status(), 429);
    assert!(resp.text().await.unwrap().contains("Too many wrong codes"));
    let blocks = app.store.active_blocks(domain::Clock::now(&app.clock)).await.unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!((blocks[0].ip.as_str(), blocks[0].scope.describe()), ("203.0.113.66", "one account"));
    // The same IP can still sign in to another account; the real user elsewhere is unaffected.
    app.sign_in(&attacker, &authorize_url(&app, &client, &[]), &unique_email()).await;
    app.sign_in(&app.browser_behind_proxy("192.0.2.1"), &authorize_url(&app, &client, &[]), &victim).await;
    // The owner was told; the victim got a link that lifts the block (a GET only shows a button).
    let alert = app.message_to(OWNER).await;
    assert!(alert.subject.contains("Blocked 203.0.113.66 for one account"), "{}", alert.subject);
    let unblock = app
        .messages_to(&victim)
        .await
        .into_iter()
        .find(|m| m.subject.contains("were paused"))
        .expect("the victim is told, with an unblock link");
    assert!(unblock.text.contains("203.0.113.66"));
    let link = unblock.text.split_whitespace().find(|w| w.contains("/unblock/")).unwrap().to_owned();
    let owner_browser = app.browser();
    let page = owner_browser.get(&link).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert_eq!(app.store.active_blocks(domain::Clock::now(&app.clock)).await.unwrap().len(), 1, "GET lifts nothing");
    let token = link.rsplit('/').next().unwrap();
    let resp = owner_browser.post_form("/unblock", &[("csrf", &testkit::csrf_of(&html)), ("token", token)]).await;
    assert_eq!(resp.status(), 200);
    assert!(app.store.active_blocks(domain::Clock::now(&app.clock)).await.unwrap().is_empty());
    let attacker_again = app.browser_behind_proxy("203.0.113.66");
    app.start_login(&attacker_again, &authorize_url(&app, &client, &[]), &victim).await;
});

both_backends!(wrong_codes_across_accounts_block_the_ip_for_all, |db: Db| async move {
    let app = guarded(db, |s| s.passwordless.limits.failures_per_ip_per_day = 4).await;
    let client = app.register_client(false, Alg::RS256).await;
    let attacker = app.browser_behind_proxy("203.0.113.99");
    wrong_codes(&app, &client, &attacker, &unique_email(), 2).await;
    wrong_codes(&app, &client, &attacker, &unique_email(), 2).await;
    let login = location(&attacker.get(&authorize_url(&app, &client, &[])).await);
    let resp = app.submit_login(&attacker, &login, ("email", &unique_email())).await;
    assert_eq!(resp.status(), 429, "blocked for every account");
    let blocks = app.store.active_blocks(domain::Clock::now(&app.clock)).await.unwrap();
    assert!(blocks.iter().any(|b| b.ip == "203.0.113.99" && b.scope == BlockScope::AllAccounts), "{blocks:?}");
    assert!(app.message_to(OWNER).await.subject.contains("for every account"));
    // Other IPs are unaffected.
    app.start_login(&app.browser_behind_proxy("192.0.2.50"), &authorize_url(&app, &client, &[]), &unique_email()).await;
});

both_backends!(crossing_the_global_failure_budget_alerts_the_owner_once, |db: Db| async move {
    let app = guarded(db, |s| s.passwordless.limits.global_failures_per_hour = 2).await;
    let client = app.register_client(false, Alg::RS256).await;
    for ip in ["203.0.113.1", "203.0.113.2"] {
        wrong_codes(&app, &client, &app.browser_behind_proxy(ip), &unique_email(), 2).await;
    }
    let alerts = app.messages_to(OWNER).await;
    let budget: Vec<_> = alerts.iter().filter(|m| m.subject.contains("failure budget")).collect();
    assert_eq!(budget.len(), 1, "one alert an hour, not one per failure: {alerts:?}");
    // The admin console's "recent failures and alerts" reads them from the audit log.
    use admin::storage::Oversight;
    let query =
        admin::storage::AuditQuery { kind: Some(domain::audit::AuditKind::Alert), limit: 10, ..Default::default() };
    let logged = app.store.audit_page(&query).await.unwrap();
    assert!(logged.iter().any(|r| r.event.detail.to_string().contains("failure budget")), "{logged:?}");
});

both_backends!(a_spoofed_x_forwarded_for_from_an_untrusted_peer_changes_nothing, |db: Db| async move {
    let app = spawn_app_with(db, |s| {
        s.passwordless.limits.starts_per_ip_per_hour = 2;
        s.server.trusted_proxies = vec![];
    })
    .await;
    let client = app.register_client(false, Alg::RS256).await;
    for ip in ["198.51.100.1", "198.51.100.2"] {
        app.start_login(&app.browser_behind_proxy(ip), &authorize_url(&app, &client, &[]), &unique_email()).await;
    }
    // A third "address" is the same peer: still limited.
    let browser = app.browser_behind_proxy("198.51.100.3");
    let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
    assert_eq!(app.submit_login(&browser, &login, ("email", &unique_email())).await.status(), 429);
});

both_backends!(texts_that_nobody_uses_raise_the_sms_pumping_alert, |db: Db| async move {
    let app = guarded(db, |s| {
        s.passwordless.alerts.sms_ratio_min_sent = 3;
        s.passwordless.alerts.sms_ratio_threshold = 0.5;
    })
    .await;
    let client = app.register_client_with(false, Alg::RS256, all_methods()).await;
    for i in 0..3 {
        let browser = app.browser_behind_proxy(&format!("198.51.100.{}", 10 + i));
        let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
        assert_eq!(app.submit_login(&browser, &login, ("phone", &unique_phone())).await.status(), 303);
    }
    let alert = app.message_to(OWNER).await;
    assert!(alert.subject.contains("Text messages are not being used"), "{}", alert.subject);
    assert!(alert.text.contains("3 sign-in texts were sent this hour but only 0"), "{}", alert.text);
});

/// Sixty API starts from one client behind a proxy that appends to X-Forwarded-For, each call
/// carrying its own `Forwarded: for=…` (the attack found in review): `hops` says what the proxy
/// appended each time. Returns how many were refused.
async fn starts_refused(app: &TestApp, client: &TestClient, hops: impl Fn(usize) -> (String, String)) -> usize {
    let mut refused = 0;
    for i in 0..60 {
        let (xff, forwarded) = hops(i);
        let body = serde_json::json!({
            "client_id": client.id, "client_secret": client.secret, "connection": "email",
            "email": unique_email(), "send": "code",
        });
        let resp = app
            .api
            .post(app.url("/passwordless/start"))
            .header("x-forwarded-for", xff)
            .header("forwarded", forwarded)
            .json(&body)
            .send()
            .await
            .unwrap();
        match resp.status().as_u16() {
            200 => {}
            429 => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    refused
}

both_backends!(a_client_cannot_pick_its_ip_with_the_header_the_proxy_does_not_write, |db: Db| async move {
    let app = guarded(db, |_| {}).await;
    let client = app.register_client_with(false, Alg::RS256, crate::api_methods()).await;
    // The proxy writes X-Forwarded-For (the default); the client's own Forwarded headers are ignored.
    let refused = starts_refused(&app, &client, |i| ("198.51.100.7".into(), format!("for=192.0.2.{i}"))).await;
    assert_eq!(refused, 10, "50 starts an hour from one IP, whatever Forwarded says");
    // Behind a proxy that writes Forwarded, a client's X-Forwarded-For is ignored instead.
    let app = guarded(db, |s| s.server.forwarded_header = ostiary::middleware::ForwardedHeader::Forwarded).await;
    let client = app.register_client_with(false, Alg::RS256, crate::api_methods()).await;
    let refused = starts_refused(&app, &client, |i| (format!("192.0.2.{i}"), "for=198.51.100.7".into())).await;
    assert_eq!(refused, 10);
});

both_backends!(ipv6_clients_are_limited_by_their_slash_64_and_mapped_addresses_are_one, |db: Db| async move {
    let app = guarded(db, |_| {}).await;
    let client = app.register_client_with(false, Alg::RS256, crate::api_methods()).await;
    // Sixty addresses of one /64: one client rotating its interface id.
    let refused = starts_refused(&app, &client, |i| (format!("2001:db8:7:7::{:x}", i + 1), String::new())).await;
    assert_eq!(refused, 10, "one /64 is one client");
    // An IPv4 client written as an IPv4-mapped IPv6 address is the same client.
    let refused = starts_refused(&app, &client, |i| {
        let ip = if i % 2 == 0 { "203.0.113.5".to_owned() } else { "::ffff:203.0.113.5".to_owned() };
        (ip, String::new())
    })
    .await;
    assert_eq!(refused, 10, "::ffff:203.0.113.5 is 203.0.113.5");
    // Another /64 is another client.
    let refused = starts_refused(&app, &client, |i| (format!("2001:db8:7:8::{:x}", i + 1), String::new())).await;
    assert_eq!(refused, 10);
});
