//! Attempts are spent before they are judged (issue 9, item 6): a code's attempt, the IP's failure
//! budgets and step-up's failure budget are taken atomically before a comparison, so N parallel
//! guesses get exactly as many comparisons as the cap allows. Each test counts what only a
//! comparison could have caused.

use authorization_server::Alg;
use domain::{ClientSettings, Clock, StepUp, StepUpPolicy, WithoutFactor};
use passwordless_connection::storage::ChallengeStore;
use testkit::{Db, TestApp, both_backends, csrf_of, location, spawn_app_with};

use crate::oidc::authorize_url;
use crate::unique_email;

fn wrong(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}

/// Fires `n` submissions of `code` at once on `code_page`; returns their statuses.
async fn parallel(browser: &testkit::Browser, code_page: &str, code: &str, n: usize) -> Vec<u16> {
    let csrf = csrf_of(&browser.get(code_page).await.text().await.unwrap());
    let form = [("csrf", csrf.as_str()), ("code", code)];
    let posts = (0..n).map(|_| browser.post_form(code_page, &form));
    futures_util::future::join_all(posts).await.iter().map(|r| r.status().as_u16()).collect()
}

async fn app(db: Db, adjust: impl FnOnce(&mut ostiary::config::Settings)) -> TestApp {
    spawn_app_with(db, |s| {
        s.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        adjust(s);
    })
    .await
}

both_backends!(parallel_guesses_get_no_more_comparisons_than_the_code_allows, |db: Db| async move {
    // Three attempts per code; four failures from one IP against one account would block it.
    let app = app(db, |s| {
        s.passwordless.max_attempts = 3;
        s.passwordless.limits.failures_per_ip_per_account = 4;
    })
    .await;
    let client = app.register_client(false, Alg::RS256).await;
    let browser = app.browser_behind_proxy("203.0.113.70");
    let email = unique_email();
    let code_page = app.start_login(&browser, &authorize_url(&app, &client, &[]), &email).await;
    let code = app.message_to(&email).await.code();
    let statuses = parallel(&browser, &code_page, &wrong(&code), 30).await;
    assert!(statuses.iter().all(|s| *s == 400), "{statuses:?}");
    // Exactly three comparisons were made: three failures counted against the IP, under the four
    // that would have blocked it. Comparing first and counting after made thirty.
    let now = app.clock.now();
    assert!(app.store.active_blocks(now).await.unwrap().is_empty(), "only three wrong codes were judged");
});

both_backends!(parallel_guesses_get_no_more_comparisons_than_the_ip_budget_allows, |db: Db| async move {
    // Plenty of attempts per code; five failures from one IP against one account block it.
    let app = app(db, |s| {
        s.passwordless.max_attempts = 100;
        s.passwordless.limits.failures_per_ip_per_account = 5;
    })
    .await;
    let client = app.register_client(false, Alg::RS256).await;
    let browser = app.browser_behind_proxy("203.0.113.71");
    let email = unique_email();
    let code_page = app.start_login(&browser, &authorize_url(&app, &client, &[]), &email).await;
    let code = app.message_to(&email).await.code();
    let statuses = parallel(&browser, &code_page, &wrong(&code), 30).await;
    let judged = statuses.iter().filter(|s| **s == 400).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((judged, refused), (5, 25), "five comparisons, then the IP is blocked: {statuses:?}");
    let interaction = domain::InteractionId::parse(code_page.split('/').nth(2).unwrap()).unwrap();
    let challenge = app.store.latest_challenge(&interaction).await.unwrap().unwrap();
    assert!(challenge.attempts <= 30, "{}", challenge.attempts);
    let blocks = app.store.active_blocks(app.clock.now()).await.unwrap();
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    // The right code is not judged either now: the IP is blocked for this account.
    assert_eq!(app.submit_code(&browser, &code_page, &code).await.status(), 429);
});

both_backends!(a_right_code_gives_back_the_failure_it_was_charged, |db: Db| async move {
    let app = app(db, |s| s.passwordless.limits.failures_per_ip_per_account = 2).await;
    let client = app.register_client(false, Alg::RS256).await;
    let email = unique_email();
    // Signing in again and again from one IP with right codes never nears the failure budget.
    for _ in 0..4 {
        let browser = app.browser_behind_proxy("203.0.113.72");
        app.sign_in(&browser, &authorize_url(&app, &client, &[]), &email).await;
    }
    assert!(app.store.active_blocks(app.clock.now()).await.unwrap().is_empty());
});

both_backends!(once_the_second_factor_budget_is_spent_not_even_the_right_code_is_judged, |db: Db| async move {
    let app = app(db, |s| s.step_up.max_failures_per_hour = 3).await;
    let settings = ClientSettings {
        step_up: StepUp { policy: StepUpPolicy::Always, without_factor: WithoutFactor::Enroll },
        ..Default::default()
    };
    let client = app.register_client_with(false, Alg::RS256, settings).await;
    let email = unique_email();
    // Enrol an authenticator in a first sign-in.
    let browser = app.browser();
    let step_up = crate::stepup::first_factor(&app, &browser, &authorize_url(&app, &client, &[]), &email).await;
    let (authenticator, _, _) = crate::stepup::enrol(&app, &browser, &step_up).await;
    // A second sign-in: two wrong codes use up the budget of three (the enrolment had a wrong one)...
    app.clock.advance(61);
    let browser = app.browser();
    let step_up = crate::stepup::first_factor(&app, &browser, &authorize_url(&app, &client, &[]), &email).await;
    let html = browser.get(&step_up).await.text().await.unwrap();
    let csrf = csrf_of(&html);
    let path = format!("{step_up}/totp");
    for _ in 0..2 {
        let resp = browser.post_form(&path, &[("csrf", csrf.as_str()), ("code", "000000")]).await;
        assert_eq!(resp.status(), 400);
    }
    // ...so the right code is not even compared: the budget is taken before the comparison.
    // (Comparing first, it used to sign in.)
    let right = authenticator.code_at(domain::Clock::now(&app.clock));
    let resp = browser.post_form(&path, &[("csrf", csrf.as_str()), ("code", right.as_str())]).await;
    assert_eq!(resp.status(), 303);
    let resume = location(&resp);
    let back = url::Url::parse(&location(&browser.get(&resume).await)).unwrap();
    assert_eq!(testkit::query_param(&back, "error").as_deref(), Some("access_denied"));
});
