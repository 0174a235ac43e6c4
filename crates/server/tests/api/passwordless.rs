//! The passwordless connection: challenges, limits, links, enumeration, CSRF, cookies.

use authorization_server::Alg;
use passwordless_connection::storage::ChallengeStore;
use testkit::{Db, TestApp, both_backends, csrf_of, location, spawn_app, spawn_app_with};

use crate::oidc::authorize_url;
use crate::unique_email;

/// Starts a login in a new browser; returns (browser, code page path, email).
async fn started(app: &TestApp) -> (testkit::Browser, String, String) {
    let client = app.register_client(false, Alg::RS256).await;
    let browser = app.browser();
    let email = unique_email();
    let code_page = app.start_login(&browser, &authorize_url(app, &client, &[]), &email).await;
    (browser, code_page, email)
}

fn wrong(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}

both_backends!(three_wrong_codes_end_the_challenge, |db: Db| async move {
    let app = spawn_app(db).await;
    let (browser, code_page, email) = started(&app).await;
    let code = app.message_to(&email).await.code();
    for left in [2, 1] {
        let resp = app.submit_code(&browser, &code_page, &wrong(&code)).await;
        assert_eq!(resp.status(), 400);
        let text = resp.text().await.unwrap();
        assert!(text.contains(&format!("You have {left} more")), "{text}");
    }
    let resp = app.submit_code(&browser, &code_page, &wrong(&code)).await;
    assert_eq!(resp.status(), 400);
    let dead = resp.text().await.unwrap();
    assert!(dead.contains("can no longer be used"));
    // The right code no longer works.
    let resp = app.submit_code(&browser, &code_page, &code).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
    // Issue 16: "Send a new code" sends one to the same address, and the new code signs in.
    assert!(dead.contains("name=\"email\" value=\"") && dead.contains("?use=email"), "{dead}");
    let login = code_page.trim_end_matches("/code").to_owned();
    let seen = app.message_ids_to(&email).await;
    app.clock.advance(61);
    let form = [("csrf", testkit::csrf_of(&dead)), ("email", email.clone())];
    let resp = browser.post_form(&login, &form.each_ref().map(|(k, v)| (*k, v.as_str()))).await;
    assert_eq!((resp.status().as_u16(), location(&resp)), (303, code_page.clone()));
    let fresh = app.new_message_to(&email, &seen).await.code();
    assert_eq!(app.submit_code(&browser, &code_page, &fresh).await.status(), 303);
});

both_backends!(thirty_parallel_wrong_guesses_leave_the_counter_at_the_cap, |db: Db| async move {
    let app = spawn_app(db).await;
    let (browser, code_page, email) = started(&app).await;
    let code = app.message_to(&email).await.code();
    let csrf = csrf_of(&browser.get(&code_page).await.text().await.unwrap());
    let guess = wrong(&code);
    let form = [("csrf", csrf.as_str()), ("code", guess.as_str())];
    let posts = (0..30).map(|_| browser.post_form(&code_page, &form));
    futures_util::future::join_all(posts).await;
    let interaction = domain::InteractionId::parse(code_page.split('/').nth(2).unwrap()).unwrap();
    let challenge = app.store.latest_challenge(&interaction).await.unwrap().unwrap();
    assert_eq!(challenge.attempts, challenge.max_attempts, "the attempt counter stops exactly at the cap");
});

both_backends!(only_the_newest_challenge_for_an_address_is_valid, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let email = unique_email();
    let first_browser = app.browser();
    let first_page = app.start_login(&first_browser, &authorize_url(&app, &client, &[]), &email).await;
    let first = app.message_to(&email).await;
    let second_browser = app.browser();
    let second_page = app.start_login(&second_browser, &authorize_url(&app, &client, &[]), &email).await;
    let second = app.new_message_to(&email, std::slice::from_ref(&first.id)).await;
    let resp = app.submit_code(&first_browser, &first_page, &first.code()).await;
    assert_eq!(resp.status(), 400, "the older code was superseded");
    let resp = app.submit_code(&second_browser, &second_page, &second.code()).await;
    assert_eq!(resp.status(), 303);
});

both_backends!(a_challenge_expires, |db: Db| async move {
    let app = spawn_app(db).await;
    let (browser, code_page, email) = started(&app).await;
    let code = app.message_to(&email).await.code();
    app.clock.advance(app.settings.passwordless.email.ttl + 1);
    let resp = app.submit_code(&browser, &code_page, &code).await;
    assert_eq!(resp.status(), 400);
});

both_backends!(fifty_concurrent_correct_codes_make_exactly_one_session, |db: Db| async move {
    let app = spawn_app(db).await;
    let (browser, code_page, email) = started(&app).await;
    let code = app.message_to(&email).await.code();
    let csrf = csrf_of(&browser.get(&code_page).await.text().await.unwrap());
    let form = [("csrf", csrf.as_str()), ("code", code.as_str())];
    let posts = (0..50).map(|_| browser.post_form(&code_page, &form));
    let responses = futures_util::future::join_all(posts).await;
    let winners: Vec<String> = responses.iter().filter(|r| r.status() == 303).map(location).collect();
    assert_eq!(winners.len(), 1, "exactly one submission wins");
    for resume in winners {
        app.resume(&browser, &resume).await;
    }
    let user = app.store.user_by_email(&domain::EmailAddress::parse(&email).unwrap()).await.unwrap().unwrap();
    assert_eq!(app.store.count_sessions(&user.id).await.unwrap(), 1);
});

both_backends!(codes_and_links_are_stored_only_as_keyed_hashes, |db: Db| async move {
    let app = spawn_app(db).await;
    let (_browser, code_page, email) = started(&app).await;
    let message = app.message_to(&email).await;
    let interaction = domain::InteractionId::parse(code_page.split('/').nth(2).unwrap()).unwrap();
    let challenge = app.store.latest_challenge(&interaction).await.unwrap().unwrap();
    assert_eq!(challenge.code_hash.len(), 32);
    assert_eq!(challenge.link_hash.len(), 32);
    assert_ne!(challenge.code_hash, message.code().into_bytes());
    let token = message.link().rsplit('/').next().unwrap().to_owned();
    assert_ne!(challenge.link_hash, token.into_bytes());
});

both_backends!(scanners_fetching_a_magic_link_do_not_spend_it, |db: Db| async move {
    let app = spawn_app(db).await;
    let (browser, _code_page, email) = started(&app).await;
    let link = app.message_to(&email).await.link();
    let http = reqwest::Client::new();
    // A mail scanner: no cookies, GET and HEAD.
    assert_eq!(http.head(&link).send().await.unwrap().status(), 200);
    assert_eq!(http.get(&link).send().await.unwrap().status(), 200);
    // The user's own browser can still use it, exactly once.
    let page = browser.get(&link).await.text().await.unwrap();
    assert!(page.contains("Continue signing in"));
    let token = link.rsplit('/').next().unwrap();
    let csrf = csrf_of(&page);
    let resp = browser.post_form("/login/link", &[("csrf", csrf.as_str()), ("token", token)]).await;
    assert_eq!(resp.status(), 303);
    assert!(location(&resp).starts_with("/step-up/"));
    let again = browser.post_form("/login/link", &[("csrf", csrf.as_str()), ("token", token)]).await;
    assert_eq!(again.status(), 400, "a link works once");
});

both_backends!(a_magic_link_opened_in_another_browser_offers_approval_and_spends_nothing, |db: Db| async move {
    let app = spawn_app(db).await;
    let (browser, code_page, email) = started(&app).await;
    let message = app.message_to(&email).await;
    let other = app.browser();
    let page = other.get(&message.link()).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Approve sign-in to Test app on your other device?"), "{html}");
    assert!(!html.contains("action=\"/login/link\""), "no form to spend the link from there, only to approve");
    // Posting the token from the other browser (with that browser's own CSRF token) is refused too.
    let token = message.link().rsplit('/').next().unwrap().to_owned();
    let other_client = app.register_client(false, Alg::RS256).await;
    let other_login = location(&other.get(&authorize_url(&app, &other_client, &[])).await);
    let other_csrf = csrf_of(&other.get(&other_login).await.text().await.unwrap());
    let resp = other.post_form("/login/link", &[("csrf", other_csrf.as_str()), ("token", token.as_str())]).await;
    assert_ne!(resp.status(), 303);
    // The code still works in the starting browser.
    assert_eq!(app.submit_code(&browser, &code_page, &message.code()).await.status(), 303);
});

both_backends!(a_login_resumes_only_in_the_browser_that_started_it, |db: Db| async move {
    let app = spawn_app(db).await;
    let (browser, code_page, email) = started(&app).await;
    let code = app.message_to(&email).await.code();
    let resp = app.submit_code(&browser, &code_page, &code).await;
    let resume = location(&resp);
    let thief = app.browser();
    assert_eq!(thief.get(&resume).await.status(), 403);
    app.resume(&browser, &resume).await;
    assert_eq!(browser.get(&resume).await.status(), 400, "resume works once");
});

both_backends!(known_and_unknown_addresses_get_the_same_bytes, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let known = unique_email();
    app.sign_in(&app.browser(), &authorize_url(&app, &client, &[]), &known).await;
    // One interaction, so the two answers can be compared byte for byte.
    let browser = app.browser();
    let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
    let csrf = csrf_of(&browser.get(&login).await.text().await.unwrap());
    let mut answers = Vec::new();
    for email in [known.clone(), unique_email()] {
        let resp = browser.post_form(&login, &[("csrf", csrf.as_str()), ("email", email.as_str())]).await;
        let status = resp.status();
        let mut headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            // The date and the request id differ on every response, for everyone alike.
            .filter(|(k, _)| !["date", "x-request-id"].contains(&k.as_str()))
            .map(|(k, v)| {
                // actix-cors lists the exposed headers in a per-worker hash order: compare them as a set.
                let mut parts: Vec<&str> = v.to_str().unwrap().split(", ").collect();
                if k == "access-control-expose-headers" {
                    parts.sort();
                }
                (k.to_string(), parts.join(", "))
            })
            .collect();
        headers.sort();
        answers.push((status, headers, resp.bytes().await.unwrap()));
    }
    assert_eq!(answers[0], answers[1]);
});

both_backends!(with_sign_ups_off_an_unknown_address_gets_no_account_and_the_same_page, |db: Db| async move {
    let app = spawn_app_with(db, |s| s.passwordless.signups_enabled = false).await;
    let (browser, code_page, email) = started(&app).await;
    let message = app.message_to(&email).await;
    assert!(message.text.contains("no account uses it"), "{}", message.text);
    assert!(!message.text.contains("/login/link/"));
    let resp = app.submit_code(&browser, &code_page, "000000").await;
    assert_eq!(resp.status(), 400);
    assert!(app.store.user_by_email(&domain::EmailAddress::parse(&email).unwrap()).await.unwrap().is_none());
});

both_backends!(first_sign_in_creates_the_user_when_sign_ups_are_on, |db: Db| async move {
    let app = spawn_app(db).await;
    let (browser, code_page, email) = started(&app).await;
    let code = app.message_to(&email).await.code();
    assert_eq!(app.submit_code(&browser, &code_page, &code).await.status(), 303);
    let user =
        app.store.user_by_email(&domain::EmailAddress::parse(&email).unwrap()).await.unwrap().expect("user created");
    assert!(user.email_verified);
});

both_backends!(every_form_requires_this_browsers_csrf_token, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let browser = app.browser();
    let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
    let csrf = csrf_of(&browser.get(&login).await.text().await.unwrap());
    let email = unique_email();
    assert_eq!(browser.post_form(&login, &[("email", email.as_str())]).await.status(), 403, "missing token");
    assert_eq!(
        browser.post_form(&login, &[("csrf", "forged"), ("email", email.as_str())]).await.status(),
        403,
        "wrong token"
    );
    // Another browser's valid token is not this browser's token.
    let other = app.browser();
    let other_login = location(&other.get(&authorize_url(&app, &client, &[])).await);
    let other_csrf = csrf_of(&other.get(&other_login).await.text().await.unwrap());
    assert_eq!(
        browser.post_form(&login, &[("csrf", other_csrf.as_str()), ("email", email.as_str())]).await.status(),
        403,
        "another browser's token"
    );
    let cross = browser
        .client
        .post(app.url(&login))
        .header("origin", "https://evil.example")
        .form(&[("csrf", csrf.as_str()), ("email", email.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403, "another origin");
    let cross = browser
        .client
        .post(app.url(&login))
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf", csrf.as_str()), ("email", email.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403, "a cross-site post");
    assert_eq!(browser.post_form(&login, &[("csrf", csrf.as_str()), ("email", email.as_str())]).await.status(), 303);
    // Only the accepted post queued a message (the queue is written before the answer).
    let queued = app.store.recent_messages(100).await.unwrap();
    assert_eq!(queued.iter().filter(|m| m.recipient == email).count(), 1, "refused posts sent nothing");
});

both_backends!(session_cookies_are_fresh_opaque_and_httponly, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let browser = app.browser();
    let email = unique_email();
    let mut values = Vec::new();
    for _ in 0..2 {
        let seen = app.message_ids_to(&email).await;
        // prompt=login: the second round must log in again rather than reuse the session.
        let code_page = app.start_login(&browser, &authorize_url(&app, &client, &[("prompt", "login")]), &email).await;
        let message = app.new_message_to(&email, &seen).await;
        let resp = app.submit_code(&browser, &code_page, &message.code()).await;
        let step_up = browser.get(&location(&resp)).await;
        let resume = browser.get(&location(&step_up)).await;
        assert_eq!(resume.status(), 303);
        let cookie = resume
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|c| c.starts_with("ostiary-session="))
            .expect("session cookie");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
            "{cookie}"
        );
        let value = cookie.split(';').next().unwrap().trim_start_matches("ostiary-session=").to_owned();
        assert!(value.len() >= 22, "at least 128 bits");
        values.push(value);
    }
    assert_ne!(values[0], values[1], "a new session id on every login");
});

both_backends!(pages_send_csp_frame_ancestors_none_and_no_referrer, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let browser = app.browser();
    let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
    for path in [login.as_str(), "/no-such-page", "/dev/outbox"] {
        let resp = browser.get(path).await;
        let csp = resp.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(resp.headers()["referrer-policy"], "no-referrer", "{path}");
    }
    let page = browser.get(&login).await.text().await.unwrap();
    assert!(page.contains(r#"type="email" autocomplete="email""#), "platform conventions on the email field");
    assert!(page.contains(r#"<label for="email">"#));
});

// Issue 16: the outbox page lists each link of a message as a link to click.
both_backends!(the_dev_outbox_shows_each_link_as_a_link_to_click, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let email = unique_email();
    app.start_login(&app.browser(), &authorize_url(&app, &client, &[]), &email).await;
    let link = app.new_message_to(&email, &[]).await.link();
    let page = app.browser().get("/dev/outbox").await.text().await.unwrap();
    let escaped = link.replace('&', "&amp;").replace('/', "&#x2F;");
    assert!(page.contains(&format!("<a href=\"{escaped}\">{escaped}</a>")), "{page}");
});

both_backends!(too_many_starts_from_one_ip_get_429_with_retry_after, |db: Db| async move {
    let app = spawn_app_with(db, |s| s.passwordless.limits.starts_per_ip_per_hour = 2).await;
    let client = app.register_client(false, Alg::RS256).await;
    for _ in 0..2 {
        app.start_login(&app.browser(), &authorize_url(&app, &client, &[]), &unique_email()).await;
    }
    let browser = app.browser();
    let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
    let csrf = csrf_of(&browser.get(&login).await.text().await.unwrap());
    let email = unique_email();
    let resp = browser.post_form(&login, &[("csrf", csrf.as_str()), ("email", email.as_str())]).await;
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 3600);
    assert!(resp.text().await.unwrap().contains("Try again in"));
    // A message is queued in the transaction that creates its challenge, before the answer: the
    // queue itself shows that nothing was sent (or will be) over the limit.
    let queued = app.store.recent_messages(100).await.unwrap();
    assert!(queued.iter().all(|m| m.recipient != email), "nothing was queued over the limit");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_fails_closed_with_503() {
    // A Redis of this test's own, stopped after the app connected.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut redis = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server is installed (scripts/test-deps.sh)");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let app = spawn_app_with(Db::Sqlite, |s| {
        s.redis.url = Some(ostiary::config::RedisUrl::new(format!("redis://127.0.0.1:{port}")).unwrap())
    })
    .await;
    let client = app.register_client(false, Alg::RS256).await;
    let started_browser = app.browser();
    let first = unique_email();
    let code_page = app.start_login(&started_browser, &authorize_url(&app, &client, &[]), &first).await;
    let code = app.message_to(&first).await.code();
    let browser = app.browser();
    let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
    let csrf = csrf_of(&browser.get(&login).await.text().await.unwrap());
    redis.kill().unwrap();
    redis.wait().unwrap();
    let email = unique_email();
    let resp = browser.post_form(&login, &[("csrf", csrf.as_str()), ("email", email.as_str())]).await;
    assert_eq!(resp.status(), 503, "a limit that cannot be checked is not skipped");
    assert!(app.messages_to(&email).await.is_empty());
    // A wrong code cannot be counted against the IP's failure budget: verification fails closed too.
    let resp = app.submit_code(&started_browser, &code_page, &wrong(&code)).await;
    assert_eq!(resp.status(), 503, "guessing is not allowed while failures cannot be counted");
}

both_backends!(expired_rows_are_purged_and_live_ones_kept, |db: Db| async move {
    let app = spawn_app(db).await;
    let (browser, code_page, email) = started(&app).await;
    let code = app.message_to(&email).await.code();
    let interaction = domain::InteractionId::parse(code_page.split('/').nth(2).unwrap()).unwrap();
    let keep = ostiary::retention(&app.settings);
    let now = domain::Clock::now(&app.clock);
    assert_eq!(app.store.purge_expired(now, keep).await.unwrap(), 0, "nothing live is purged");
    assert!(app.store.interaction(&interaction).await.unwrap().is_some());
    let later = now + app.settings.oidc.interaction_ttl + keep.history + 1;
    assert!(app.store.purge_expired(later, keep).await.unwrap() >= 2);
    assert!(app.store.interaction(&interaction).await.unwrap().is_none());
    assert!(app.store.latest_challenge(&interaction).await.unwrap().is_none());
    let _ = (browser, code);
});

both_backends!(queued_message_bodies_are_sealed_at_rest, |db: Db| async move {
    let app = spawn_app(db).await;
    let (_browser, _page, email) = started(&app).await;
    let code = app.message_to(&email).await.code();
    let stored = app.store.recent_messages(10).await.unwrap();
    let mine = stored.iter().find(|m| m.recipient == email).expect("queued message");
    let body = mine.text_body.as_deref().expect("the dev outbox keeps the sealed body");
    assert!(!body.contains(&code) && !body.contains("/login/link/"), "the body is not in clear");
});

both_backends!(switching_address_retires_the_first_addresss_code_and_link, |db: Db| async move {
    let app = spawn_app(db).await;
    let (browser, code_page, first_email) = started(&app).await;
    let first = app.message_to(&first_email).await;
    // "Use another address" on the same sign-in.
    let login = code_page.trim_end_matches("/code").to_owned();
    let csrf = csrf_of(&browser.get(&login).await.text().await.unwrap());
    let second_email = unique_email();
    assert_eq!(
        browser.post_form(&login, &[("csrf", csrf.as_str()), ("email", second_email.as_str())]).await.status(),
        303
    );
    let second = app.message_to(&second_email).await;
    let page = browser.get(&first.link()).await;
    let status = page.status();
    assert_eq!(status, 400, "the first address's link is retired: {}", page.text().await.unwrap());
    assert_eq!(app.submit_code(&browser, &code_page, &first.code()).await.status(), 400);
    assert_eq!(app.submit_code(&browser, &code_page, &second.code()).await.status(), 303);
});

// Issue 16: a sign-in that expired says so in its client's branding, with a way back to the
// application's home page.
both_backends!(an_expired_sign_in_leads_back_to_the_application, |db: Db| async move {
    let app = spawn_app(db).await;
    let branding = domain::Branding {
        product_name: Some("Acme ID".into()),
        client_url: Some("https://acme.example/".into()),
        ..Default::default()
    };
    let client =
        app.register_client_with(false, Alg::RS256, domain::ClientSettings { branding, ..Default::default() }).await;
    let browser = app.browser();
    let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
    app.clock.advance(app.settings.oidc.interaction_ttl + 1);
    let resp = browser.get(&login).await;
    assert_eq!(resp.status(), 400);
    let html = resp.text().await.unwrap().replace("&#x2F;", "/");
    assert!(html.contains("Acme ID") && html.contains("expired"), "{html}");
    assert!(html.contains("<a id=\"back\" href=\"https://acme.example/\">Back to the application</a>"), "{html}");
});

// A code posted before any was sent: the page says so and leads back to the form (never a 500).
both_backends!(a_code_posted_before_any_was_sent_leads_back_to_the_form, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let browser = app.browser();
    let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
    let csrf = csrf_of(&browser.get(&login).await.text().await.unwrap());
    let resp = browser.post_form(&format!("{login}/code"), &[("csrf", csrf.as_str()), ("code", "123456")]).await;
    assert_eq!(resp.status(), 400);
    let page = resp.text().await.unwrap().replace("&#x2F;", "/");
    assert!(page.contains("can no longer be used") && page.contains(&format!("href=\"{login}\"")), "{page}");
});

// Issue 16: a spent or replaced magic link is no dead end. In the browser that started, it leads
// back to the sign-in's login page (a new code can be asked for there); elsewhere, or once the
// sign-in is over, to the application's home page when the client registered one.
both_backends!(a_spent_link_leads_back_to_the_sign_in_or_the_application, |db: Db| async move {
    let app = spawn_app(db).await;
    let branding = domain::Branding { client_url: Some("https://acme.example/".into()), ..Default::default() };
    let client =
        app.register_client_with(false, Alg::RS256, domain::ClientSettings { branding, ..Default::default() }).await;
    let browser = app.browser();
    let email = unique_email();
    let code_page = app.start_login(&browser, &authorize_url(&app, &client, &[]), &email).await;
    let login = code_page.trim_end_matches("/code").to_owned();
    let first = app.message_to(&email).await;
    // A new code replaces the first: its link is dead, but the sign-in goes on from its login page.
    app.clock.advance(61);
    let csrf = csrf_of(&browser.get(&login).await.text().await.unwrap());
    assert_eq!(browser.post_form(&login, &[("csrf", csrf.as_str()), ("email", email.as_str())]).await.status(), 303);
    let back_to_login = format!("<a id=\"back\" href=\"{login}\">");
    let to_app = "<a id=\"back\" href=\"https://acme.example/\">Back to the application</a>";
    let resp = browser.get(&first.link()).await;
    assert_eq!(resp.status(), 400);
    let html = resp.text().await.unwrap().replace("&#x2F;", "/");
    assert!(html.contains("link_expired") && html.contains(&back_to_login), "{html}");
    // Another browser is not led into this browser's sign-in, only to the application.
    let elsewhere = app.browser().get(&first.link()).await.text().await.unwrap().replace("&#x2F;", "/");
    assert!(elsewhere.contains(to_app) && !elsewhere.contains(&back_to_login), "{elsewhere}");
    // Once the sign-in is over, a spent link leads to the application.
    let second = app.new_message_to(&email, std::slice::from_ref(&first.id)).await;
    assert_eq!(app.submit_code(&browser, &code_page, &second.code()).await.status(), 303);
    let spent = browser.get(&second.link()).await.text().await.unwrap().replace("&#x2F;", "/");
    assert!(spent.contains("link_expired") && spent.contains(to_app), "{spent}");
    // A token that was never issued has no sign-in to lead back to.
    let unknown = browser.get("/login/link/never-issued").await.text().await.unwrap();
    assert!(!unknown.contains("id=\"back\""), "{unknown}");
});
